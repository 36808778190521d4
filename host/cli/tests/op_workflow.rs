//! The operator author's workflow through the `trace` binary, in each
//! language: `op new` scaffolds a project whose own test passes, `op build`
//! turns it into a component Trace accepts, `op run` runs it on a Parquet
//! file and the rows that come out are the ones the template keeps.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

fn trace(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        // The pinned builders, wherever this test's environment has them.
        .env("TRACE_TOOLS_DIR", trace_opkit::tools_dir())
        // A scaffolded Rust operator builds in a target directory of its own
        // that survives between runs (its dependencies compile once).
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffolded-operators"))
        .output()
        .expect("running trace")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn sample(dir: &Path) -> std::path::PathBuf {
    let schema = Arc::new(Schema::new(vec![
        Field::new("value", DataType::UInt64, false),
        Field::new("label", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from(vec![5, 10, 15, 3, 40])),
            Arc::new(StringArray::from(vec![Some("a"), Some("b"), None, Some("d"), Some("e")])),
        ],
    )
    .unwrap();
    let path = dir.join("sample.parquet");
    trace_batches::write_parquet(&path, &[trace_batches::encode_ipc(&[batch]).unwrap()]).unwrap();
    path
}

fn output_rows(path: &Path) -> (Vec<u64>, Vec<Option<String>>) {
    let mut source = trace_batches::ParquetSource::open(path, 1024).unwrap();
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    while let Some(ipc) = trace_core::BatchSource::next_batch(&mut source).unwrap() {
        for b in trace_batches::decode_ipc(&ipc).unwrap() {
            let v = b.column_by_name("value").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
            let l = b.column_by_name("label").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
            values.extend(v.values().iter().copied());
            labels.extend(l.iter().map(|s| s.map(str::to_owned)));
        }
    }
    (values, labels)
}

fn scaffold_build_and_run(lang: &str, own_test: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("keep_{lang}");
    let o = trace(&["op", "new", &name, "--lang", lang], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let project = dir.path().join(&name);
    assert!(text(&o).contains(&format!("created ./{name} ({lang} operator)")), "{}", text(&o));

    if lang == "rust" {
        // Built with the settings Trace's own operators use.
        let config = std::fs::read_to_string(project.join(".cargo/config.toml")).unwrap();
        assert!(config.contains("[target.wasm32-wasip2]") && config.contains("+simd128") && config.contains("-unroll-count=4"), "{config}");
    }
    let test = Command::new(own_test[0]).args(&own_test[1..]).current_dir(&project).output().unwrap();
    assert!(test.status.success(), "the scaffold's own test fails: {}", text(&test));

    let o = trace(&["op", "build", project.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("accepted as a transform operator"), "{}", text(&o));
    let wasm = project.join("build").join(format!("{name}.wasm"));
    assert!(wasm.is_file());

    let input = sample(dir.path());
    let o = trace(
        &["op", "run", wasm.to_str().unwrap(), "--input", input.to_str().unwrap(), "--config", r#"{"min": 10}"#, "--out-dir", "out"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("kept 3 of 5 rows"), "{}", text(&o));
    let (values, labels) = output_rows(&dir.path().join("out/output-0.parquet"));
    assert_eq!(values, vec![10, 15, 40], "{lang}");
    assert_eq!(labels, vec![Some("b".into()), None, Some("e".into())], "{lang}: nulls survive");
}

#[test]
fn a_new_javascript_operator_tests_builds_and_runs() {
    scaffold_build_and_run("js", &["node", "--test"]);
}

#[test]
fn a_new_python_operator_tests_builds_and_runs() {
    scaffold_build_and_run("python", &["python3", "-m", "unittest"]);
}

#[test]
fn a_new_rust_operator_builds_and_runs() {
    // Its own test is `cargo test`, natively; checked here on the logic only
    // by building the component (a native build would compile arrow again).
    scaffold_build_and_run("rust", &["true"]);
}

#[test]
fn op_new_and_op_build_refuse_bad_input_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let o = trace(&["op", "new", "Bad-Name", "--lang", "js"], dir.path());
    assert!(!o.status.success());
    assert!(text(&o).contains("operator name `Bad-Name` is not valid"), "{}", text(&o));

    let o = trace(&["op", "new", "fine", "--lang", "cobol"], dir.path());
    assert!(!o.status.success());
    assert!(text(&o).contains("cobol"), "{}", text(&o));

    assert!(trace(&["op", "new", "twice", "--lang", "js"], dir.path()).status.success());
    let o = trace(&["op", "new", "twice", "--lang", "python"], dir.path());
    assert!(text(&o).contains("already exists"), "{}", text(&o));

    let o = trace(&["op", "build", "."], dir.path());
    assert!(!o.status.success());
    assert!(text(&o).contains("is not an operator project"), "{}", text(&o));

    // A missing builder is named, with how to install it.
    let o = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["op", "build", "twice"])
        .current_dir(dir.path())
        .env("TRACE_TOOLS_DIR", dir.path().join("no-tools"))
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let said = text(&o);
    assert!(said.contains("componentize-qjs is not installed") && said.contains("install-tools.sh"), "{said}");
}
