//! DAG files are user input: generated ones (arbitrary text, and valid
//! files cut, spliced and garbled) never panic the parser and never hang
//! it; each is a validated DAG or an error naming the file, with a line
//! that exists in it. A fixed number of cases, so CI time is bounded.

use proptest::prelude::*;

const VALID: [&str; 3] = [
    include_str!("../../../tests/dags/writes.yaml"),
    include_str!("../../../tests/dags/routed.yaml"),
    "name: erc20\nworker_pools:\n  ingest:\n    slots:\n      - env: { RPC_URL: \"https://node-1\" }\n        secret_env: { RPC_KEY: \"rpc/key-1\" }\njobs:\n  - name: blocks\n    kind: source\n    operator: operators/block_source.wasm\n    pool: ingest\n    scaling: { max_concurrency: 2 }\n    capabilities: [rpc]\n  - name: transfers\n    operator: transfers.wasm\n    inputs:\n      - from: { job: blocks, output: 0 }\n    config: { min_value: \"1000000\" }\npublish:\n  - { job: transfers, output_index: 0, dataset: erc20_transfers }\n",
];

/// An edit of a valid file: drop, repeat or replace a line, or put
/// arbitrary text somewhere.
#[derive(Debug, Clone)]
enum Edit {
    Drop(usize),
    Repeat(usize, usize),
    Replace(usize, String),
    Insert(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![
        "[ -~]{0,40}",
        Just("  - {".to_owned()),
        Just("    inputs: [[[[[[[[".to_owned()),
        Just("*anchor".to_owned()),
        Just("    scaling: { max_concurrency: 18446744073709551616 }".to_owned()),
        Just("    timeout: 99999999999999999999d".to_owned()),
        Just("  - name: \u{202e}evil".to_owned()),
        Just("publish: [{ job: x, output_index: -1, dataset: \"../../etc\" }]".to_owned()),
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Drop),
        (any::<usize>(), 1usize..50).prop_map(|(l, n)| Edit::Repeat(l, n)),
        (any::<usize>(), text.clone()).prop_map(|(l, t)| Edit::Replace(l, t)),
        (any::<usize>(), text).prop_map(|(l, t)| Edit::Insert(l, t)),
    ]
}

fn apply(base: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
    for e in edits {
        let at = |l: usize, n: usize| if n == 0 { 0 } else { l % n };
        match e {
            Edit::Drop(l) if !lines.is_empty() => {
                let i = at(*l, lines.len());
                lines.remove(i);
            }
            Edit::Repeat(l, n) if !lines.is_empty() => {
                let i = at(*l, lines.len());
                let line = lines[i].clone();
                for _ in 0..*n {
                    lines.insert(i, line.clone());
                }
            }
            Edit::Replace(l, t) if !lines.is_empty() => {
                let i = at(*l, lines.len());
                lines[i] = t.clone();
            }
            Edit::Insert(l, t) => {
                let i = at(*l, lines.len() + 1);
                lines.insert(i, t.clone());
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn check(text: &str) {
    let started = std::time::Instant::now();
    match trace_dag::parse("fuzzed.yaml", text) {
        Ok(dag) => assert!(!dag.jobs.is_empty(), "a DAG without jobs passed validation"),
        Err(e) => {
            assert_eq!(e.file, "fuzzed.yaml");
            assert!(!e.message.is_empty());
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "line {line} of a {}-line file: {e}", text.lines().count());
            }
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "parsing took {:?}", started.elapsed());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_parsed_or_refused(text in "\\PC{0,400}") {
        check(&text);
    }

    #[test]
    fn garbled_valid_files_are_parsed_or_refused(which in 0..VALID.len(), edits in prop::collection::vec(edit(), 1..6)) {
        check(&apply(VALID[which], &edits));
    }
}

/// The valid files themselves parse (so the edits start from real DAGs).
#[test]
fn the_seeds_are_valid() {
    for text in VALID {
        trace_dag::parse("seed.yaml", text).unwrap();
    }
}

/// Hostile shapes a generator rarely reaches: an alias bomb (each level
/// doubling the last) and nesting far deeper than any DAG. Both are refused
/// at once, without exhausting the stack or memory.
#[test]
fn alias_bombs_and_deep_nesting_are_refused_quickly() {
    let mut bomb = String::from("a0: &a0 [x, x]\n");
    for i in 1..40 {
        bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
    }
    bomb.push_str("name: bomb\njobs: *a39\n");
    let deep = format!("name: deep\njobs: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let indented: String = (0..2_000).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    let huge = format!("name: huge\n# {}\njobs: []\n", "x".repeat(trace_dag::MAX_DAG_BYTES));
    for text in [bomb, deep, indented, huge] {
        let started = std::time::Instant::now();
        let e = trace_dag::parse("hostile.yaml", &text).unwrap_err();
        assert!(e.message.contains("limit=") || e.line.is_some(), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}: {e}", started.elapsed());
    }
}
