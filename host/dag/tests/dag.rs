//! DAG files: a good one parses; each kind of mistake is rejected with a
//! message that says what is wrong and on which line.

use trace_dag::{materialization_hash, parse, Dag, DagError, InputSource};

const GOOD: &str = r#"name: erc20
worker_pools:
  ingest:
    slots:
      - env: { RPC_URL: "https://node-1" }
        secret_env: { RPC_KEY: "rpc/key-1" }
      - env: { RPC_URL: "https://node-2" }
        secret_env: { RPC_KEY: "rpc/key-2" }
jobs:
  - name: blocks
    kind: source
    operator: operators/block_source.wasm
    pool: ingest
    scaling: { max_concurrency: 8 }
    capabilities: [rpc]
  - name: windows
    operator: operators/range_aggregator.wasm
    inputs:
      - from: { job: blocks, output: 0 }
    config: { range_size: 10000 }
  - name: transfers
    operator: operators/erc20_transfers.wasm
    inputs:
      - from: { job: windows, output: 0 }
      - from: { dataset: token_list }
    config: { min_value: "1000000" }
    timeout: 30s
publish:
  - { job: transfers, output_index: 0, dataset: erc20_transfers }
"#;

fn good() -> Dag {
    parse("dag.yaml", GOOD).expect("the example DAG is valid")
}

fn rejected(text: &str) -> DagError {
    parse("dag.yaml", text).expect_err("the DAG must be rejected")
}

/// The good DAG with `from` replaced by `to` (which must occur).
fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from:?} not in the example");
    GOOD.replacen(from, to, 1)
}

#[test]
fn parses_a_valid_dag() {
    let dag = good();
    assert_eq!(dag.jobs.len(), 3);
    let transfers = dag.job("transfers").unwrap();
    assert_eq!(transfers.inputs[1].from, InputSource::Dataset { dataset: "token_list".into() });
    assert_eq!(dag.job("blocks").unwrap().effective_concurrency(&dag), 2, "min(8, pool of 2)");
    assert_eq!(transfers.effective_concurrency(&dag), 1);
    assert_eq!(transfers.max_attempts, 3, "default");
}

#[test]
fn rejects_unknown_keys_with_their_line() {
    let e = rejected(&edit("    timeout: 30s\n", "    timeout: 30s\n    retries: 5\n"));
    assert_eq!(e.line, Some(28), "{e}");
    assert!(e.message.contains("unknown field `retries`"), "{e}");
    assert!(e.to_string().starts_with("dag.yaml:28: "), "{e}");
}

#[test]
fn rejects_cycles() {
    let text = edit("      - from: { job: blocks, output: 0 }", "      - from: { job: transfers, output: 0 }");
    let text = text.replacen("    kind: source\n", "    kind: source\n    inputs:\n      - from: { job: windows, output: 0 }\n", 1);
    let e = rejected(&text);
    assert!(e.message.starts_with("jobs form a cycle: "), "{e}");
    assert!(e.message.contains("windows -> transfers -> windows"), "{e}");
    assert!(e.line.is_some());
}

#[test]
fn rejects_bad_dataset_names_on_the_publish_line() {
    let e = rejected(&edit("dataset: erc20_transfers", "dataset: ERC20-Transfers"));
    assert_eq!(e.line, Some(29), "{e}");
    assert!(e.message.contains("must match ^[a-z][a-z0-9_]{0,127}$"), "{e}");
}

#[test]
fn rejects_dangling_output_indexes() {
    let e = rejected(&edit("{ job: blocks, output: 0 }", "{ job: blocks, output: 2 }"));
    assert_eq!(e.message, "job `windows` input 0 reads output 2 of job `blocks`, which has 1 output(s)");
    assert_eq!(e.line, Some(16), "the line of job `windows`");
    let e = rejected(&edit("output_index: 0", "output_index: 1"));
    assert!(e.message.contains("names output 1 of job `transfers`, which has 1 output(s)"), "{e}");
}

#[test]
fn rejects_unknown_jobs_and_pools() {
    let e = rejected(&edit("{ job: blocks, output: 0 }", "{ job: blokcs, output: 0 }"));
    assert!(e.message.contains("reads job `blokcs`, which does not exist"), "{e}");
    let e = rejected(&edit("    pool: ingest\n", "    pool: egress\n"));
    assert!(e.message.contains("uses worker pool `egress`, which is not defined"), "{e}");
    assert_eq!(e.line, Some(10));
}

#[test]
fn rejects_a_second_producer_for_a_dataset() {
    let text = format!("{GOOD}  - {{ job: windows, output_index: 0, dataset: erc20_transfers }}\n");
    let e = rejected(&text);
    assert!(e.message.contains("published twice (by `transfers` and `windows`)"), "{e}");
}

#[test]
fn rejects_bulk_execution() {
    let e = rejected(&edit("    timeout: 30s\n", "    timeout: 30s\n    execution_strategy: Bulk\n"));
    assert!(e.message.contains("execution_strategy: Bulk is not supported"), "{e}");
    assert!(e.message.contains("range_aggregator"), "{e}");
    assert_eq!(e.line, Some(28));
}

#[test]
fn rejects_bad_limits_and_grants() {
    let e = rejected(&edit("max_concurrency: 8", "max_concurrency: 0"));
    assert!(e.message.contains("max_concurrency must be between 1 and 10000, got 0"), "{e}");
    let e = rejected(&edit("timeout: 30s", "timeout: soon"));
    assert!(e.message.contains("timeout: \"soon\" is not a duration"), "{e}");
    let e = rejected(&edit("    config: { range_size: 10000 }\n", "    config: { range_size: 10000 }\n    capabilities: [rpc]\n"));
    assert!(e.message.contains("rpc capability is granted only to `kind: source` jobs"), "{e}");
    let e = rejected(&edit("    config: { min_value: \"1000000\" }\n", "    config: { min_value: \"1000000\" }\n    update_strategy: append\n"));
    assert!(e.message.contains("needs a unique_key"), "{e}");
    let append = |key: &str| edit("    config: { min_value: \"1000000\" }\n", &format!("    config: {{ min_value: \"1000000\" }}\n    update_strategy: append\n    unique_key: {key}\n"));
    assert!(trace_dag::parse("dag.yaml", &append("[block_number, log_index]")).is_ok());
    let e = rejected(&append("[block_number, block_number]"));
    assert!(e.message.contains("unique_key names column `block_number` twice"), "{e}");
    let e = rejected(&append("[\"\"]"));
    assert!(e.message.contains("unique_key column 0 must have 1 to 256 characters, got 0"), "{e}");
    let many = format!("[{}]", (0..17).map(|i| format!("c{i}")).collect::<Vec<_>>().join(", "));
    let e = rejected(&append(&many));
    assert!(e.message.contains("unique_key has too many columns: got=17, limit=16"), "{e}");
    let e = rejected(&edit("operator: operators/range_aggregator.wasm", "operator: \"sha256:abc\""));
    assert!(e.message.contains("is not sha256: followed by 64 hex characters"), "{e}");
}

#[test]
fn rejects_duplicate_jobs_and_sourceless_transforms() {
    let e = rejected(&edit("  - name: windows", "  - name: blocks"));
    assert!(e.message.contains("job `blocks` is defined twice"), "{e}");
    let e = rejected(&edit("    kind: source\n", "").replacen("    capabilities: [rpc]\n", "", 1));
    assert!(e.message.contains("is a transform with no inputs"), "{e}");
}

#[test]
fn materialization_hash_ignores_execution_only_fields() {
    let base = good();
    let t = base.job("transfers").unwrap();
    let h = materialization_hash(t);
    let mut exec = t.clone();
    exec.timeout = "5m".into();
    exec.max_attempts = 9;
    exec.scaling.max_concurrency = 4;
    assert_eq!(materialization_hash(&exec), h);
    let mut edited = t.clone();
    edited.config = serde_json::json!({ "min_value": "2000000" });
    assert_ne!(materialization_hash(&edited), h);
    let reordered = parse("dag.yaml", &edit(r#"config: { min_value: "1000000" }"#, r#"config: { min_value: "1000000", b: 1, a: 2 }"#)).unwrap();
    let again = parse("dag.yaml", &edit(r#"config: { min_value: "1000000" }"#, r#"config: { a: 2, min_value: "1000000", b: 1 }"#)).unwrap();
    assert_eq!(materialization_hash(reordered.job("transfers").unwrap()), materialization_hash(again.job("transfers").unwrap()));
}

#[test]
fn rejects_counts_outside_their_bounds() {
    let e = rejected(&edit("    config: { range_size: 10000 }\n", "    config: { range_size: 10000 }\n    outputs: 0\n"));
    assert!(e.message.contains("outputs must be between 1 and 64, got 0"), "{e}");
    let e = rejected(&edit("    config: { range_size: 10000 }\n", "    config: { range_size: 10000 }\n    outputs: 65\n"));
    assert!(e.message.contains("outputs must be between 1 and 64, got 65"), "{e}");
    let e = rejected(&edit("    timeout: 30s\n", "    timeout: 30s\n    max_attempts: 101\n"));
    assert!(e.message.contains("max_attempts must be between 1 and 100, got 101"), "{e}");
    let no_slots = GOOD.replace(
        "    slots:\n      - env: { RPC_URL: \"https://node-1\" }\n        secret_env: { RPC_KEY: \"rpc/key-1\" }\n      - env: { RPC_URL: \"https://node-2\" }\n        secret_env: { RPC_KEY: \"rpc/key-2\" }\n",
        "    slots: []\n",
    );
    let e = rejected(&no_slots);
    assert!(e.message.contains("worker pool `ingest` must have between 1 and 10000 slots, has 0"), "{e}");
    assert_eq!(e.line, Some(3), "the pool's line");
}

#[test]
fn rejects_more_jobs_than_the_limit() {
    let mut text = String::from("name: big\njobs:\n");
    for i in 0..1_001 {
        text.push_str(&format!("  - name: j{i}\n    kind: source\n    operator: a.wasm\n"));
    }
    let e = rejected(&text);
    assert_eq!(e.message, "too many jobs: got=1001, limit=1000");
}

/// GOOD with the two detectors of the alert example writing one buffered
/// dataset, plus `extra` publish lines.
fn with_alerts(extra: &str) -> String {
    let jobs = "  - name: big\n    operator: d.wasm\n    inputs:\n      - from: { job: transfers, output: 0 }\n  - name: huge\n    operator: d.wasm\n    inputs:\n      - from: { job: transfers, output: 0 }\npublish:\n";
    let text = GOOD.replace("publish:\n", jobs);
    format!(
        "{text}  - {{ job: big, output_index: 0, dataset: alerts, storage: buffered, schema: alert_events }}\n  - {{ job: huge, output_index: 0, dataset: alerts, storage: buffered, schema: alert_events }}\n{extra}"
    )
}

#[test]
fn several_jobs_may_write_one_buffered_dataset_of_one_schema() {
    let dag = parse("dag.yaml", &with_alerts("")).unwrap();
    let schemas: Vec<_> = dag.publish.iter().filter(|p| p.is_buffered()).map(|p| p.table_schema().unwrap().unwrap()).collect();
    assert_eq!(schemas, vec![trace_dag::TableSchema::alert_events(); 2]);
    // A generic table: columns and a unique key of required columns.
    let own = "  - job: windows\n    output_index: 0\n    dataset: marks\n    storage: buffered\n    columns:\n      - { name: mark, type: text, required: true }\n      - { name: n, type: int64 }\n    unique_key: [mark]\n";
    let dag = parse("dag.yaml", &with_alerts(own)).unwrap();
    let marks = dag.publish.iter().find(|p| p.dataset == "marks").unwrap().table_schema().unwrap().unwrap();
    assert_eq!((marks.kind, marks.columns.len(), marks.unique_key.clone()), (trace_dag::TableKind::Rows, 2, vec!["mark".to_owned()]));
}

#[test]
fn rejects_buffered_datasets_that_do_not_declare_one_table() {
    let cases = [
        (with_alerts("").replacen("schema: alert_events }\n  - { job: huge", "schema: alert_deliveries }\n  - { job: huge", 1), "is declared twice with different schemas (by `big` and `huge`)"),
        (with_alerts("").replacen(", storage: buffered, schema: alert_events }\n  - { job: huge", " }\n  - { job: huge", 1), "a Parquet dataset has exactly one producer"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, storage: buffered }\n"), "a buffered dataset needs `schema:` or `columns:` with `unique_key:`"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, storage: buffered, schema: tweets }\n"), "schema \"tweets\" is not a platform schema"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, schema: alert_events }\n"), "are for `storage: buffered` datasets; `x` is Parquet"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, storage: buffered, schema: alert_events, unique_key: [a] }\n"), "fixes its columns and unique key"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, storage: buffered, columns: [{ name: a, type: text }], unique_key: [a] }\n"), "unique_key column `a` must be `required: true`"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, storage: buffered, columns: [{ name: a, type: text, required: true }], unique_key: [b] }\n"), "unique_key column `b` is not one of its columns"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, storage: buffered, columns: [{ name: \"a\\\"; DROP TABLE jobs; --\", type: text, required: true }], unique_key: [a] }\n"), "column name"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, storage: buffered, columns: [{ name: _seq, type: int64, required: true }], unique_key: [_seq] }\n"), "column name \"_seq\" must match"),
        (with_alerts("  - { job: windows, output_index: 0, dataset: x, storage: buffered, columns: [{ name: a, type: blob, required: true }], unique_key: [a] }\n"), "unknown variant `blob`"),
        (with_alerts("  - { job: big, output_index: 0, dataset: y, storage: buffered, schema: alert_events }\n"), "output 0 of job `big` is published more than once"),
    ];
    // At most 64 columns: the 65th is refused with the count.
    let columns: Vec<String> = (0..65).map(|i| format!("{{ name: c{i}, type: int64, required: true }}")).collect();
    let wide = with_alerts(&format!("  - {{ job: windows, output_index: 0, dataset: wide, storage: buffered, columns: [{}], unique_key: [c0] }}\n", columns.join(", ")));
    assert!(rejected(&wide).message.contains("a buffered dataset has 1 to 64 columns, got 65"), "{}", rejected(&wide));
    let narrow: Vec<String> = columns.into_iter().take(64).collect();
    parse("dag.yaml", &with_alerts(&format!("  - {{ job: windows, output_index: 0, dataset: wide, storage: buffered, columns: [{}], unique_key: [c0] }}\n", narrow.join(", ")))).unwrap();
    for (text, expected) in cases {
        let e = rejected(&text);
        assert!(e.message.contains(expected), "expected {expected:?}, got: {e}");
    }
}

/// The good DAG with an `rpc:` block on its source job.
fn with_rpc(block: &str) -> String {
    edit("    capabilities: [rpc]\n", &format!("    capabilities: [rpc]\n    rpc:\n{block}"))
}

#[test]
fn an_rpc_block_renders_from_every_slot_and_is_execution_only() {
    let dag = parse("dag.yaml", &with_rpc("      url: \"${RPC_URL}/v2/${RPC_KEY}\"\n      headers: { X-Api-Key: \"${RPC_KEY}\" }\n      methods: [eth_getLogs]\n      max_in_flight: 4\n")).unwrap();
    let rpc = dag.job("blocks").unwrap().rpc.clone().unwrap();
    assert_eq!((rpc.max_in_flight, rpc.max_batch, rpc.methods.len()), (4, 100, 1));
    assert_eq!(materialization_hash(dag.job("blocks").unwrap()), materialization_hash(good().job("blocks").unwrap()), "how the node is reached does not change what the job produces");
}

#[test]
fn rejects_rpc_blocks_that_cannot_render_or_break_bounds() {
    let e = rejected(&with_rpc("      url: \"${RPC_URL}/${API_TOKEN}\"\n"));
    assert!(e.to_string().contains("rpc refers to ${API_TOKEN}, which slot 0 of pool `ingest` does not define (env or secret_env)"), "{e}");
    assert_eq!(e.line, Some(10), "at the job: {e}");
    let e = rejected(&with_rpc("      url: \"ftp://node\"\n"));
    assert!(e.to_string().contains("must start with http:// or https://"), "{e}");
    let e = rejected(&with_rpc("      headers: { \"X Key\": \"${RPC_KEY}\" }\n"));
    assert!(e.to_string().contains("is not a header name"), "{e}");
    let e = rejected(&with_rpc("      max_in_flight: 0\n"));
    assert!(e.to_string().contains("rpc.max_in_flight must be between 1 and 256, got 0"), "{e}");
    let e = rejected(&with_rpc("      timeout: soon\n"));
    assert!(e.to_string().contains("rpc.timeout"), "{e}");
    let e = rejected(&with_rpc("      url: \"${RPC_URL}\"\n      nonsense: 1\n"));
    assert!(e.to_string().contains("nonsense"), "{e}");
    let e = rejected(&edit("    capabilities: [rpc]\n", "    rpc: { url: \"https://node\" }\n"));
    assert!(e.to_string().contains("an `rpc:` block needs `capabilities: [rpc]`"), "{e}");
    let e = rejected(&edit("    pool: ingest\n", "").replace("    capabilities: [rpc]\n", "    capabilities: [rpc]\n    rpc: {}\n"));
    assert!(e.to_string().contains("rpc refers to ${RPC_URL} but the job has no worker pool whose slots define it"), "{e}");
}
