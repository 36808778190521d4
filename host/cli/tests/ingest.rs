//! Real ingest: anvil (a real Ethereum node) on 127.0.0.1 with the test
//! ERC-20 deployed and transfers made, a recording proxy in front of it
//! that checks each slot's key, `trace server` (PostgreSQL, SQS and S3 on
//! moto) and two `trace worker`s. `evm_source` backfills the chain over a
//! pool of two slots with different keys, and the ERC-20 UDF runs on its
//! logs. What was ingested must equal what the node says; each key must
//! stay with its own slot's tasks, within the concurrency asked for; a 429
//! is waited out; a refused key fails its tasks by name; and no key shows
//! up in logs, API answers, the audit log or `trace task`.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use support::*;
use trace_testbed::anvil::{quantity, TRANSFER_TOPIC};

const KEY_A: &str = "alpha-key-5f1c9e07d2";
const KEY_B: &str = "bravo-key-8e24b6a0c3";
const CHUNK: u64 = 10;

/// One request the proxy forwarded: whose key, when, which blocks.
#[derive(Debug, Clone)]
struct Seen {
    key: String,
    at: Instant,
    blocks: Vec<u64>,
}

#[derive(Default)]
struct Proxy {
    seen: Mutex<Vec<Seen>>,
    in_flight: Mutex<HashMap<String, usize>>,
    max_per_key: Mutex<usize>,
    max_total: Mutex<usize>,
    /// When key B was told 429 (once, on its first eth_getLogs).
    throttled_at: Mutex<Option<Instant>>,
    refused: Mutex<usize>,
}

fn blocks_in(call: &Value) -> Vec<u64> {
    let q = |v: &Value| v.as_str().and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok());
    match call["method"].as_str() {
        Some("eth_getBlockByNumber") => q(&call["params"][0]).into_iter().collect(),
        Some("eth_getLogs") => [q(&call["params"][0]["fromBlock"]), q(&call["params"][0]["toBlock"])].into_iter().flatten().collect(),
        _ => Vec::new(),
    }
}

/// A proxy at `/{key}` in front of anvil: the key must be one of the two
/// and match the bearer header; it records and forwards.
async fn proxy(anvil: String) -> (String, Arc<Proxy>) {
    let state = Arc::new(Proxy::default());
    let http = reqwest::Client::new();
    let app = axum::Router::new()
        .route(
            "/{key}",
            axum::routing::post(move |axum::extract::State(p): axum::extract::State<Arc<Proxy>>, axum::extract::Path(key): axum::extract::Path<String>, headers: HeaderMap, body: axum::body::Bytes| {
                let (http, anvil) = (http.clone(), anvil.clone());
                async move {
                    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    if ![KEY_A, KEY_B].contains(&key.as_str()) || bearer != format!("Bearer {key}") {
                        *p.refused.lock().unwrap() += 1;
                        return (StatusCode::UNAUTHORIZED, "unknown key").into_response();
                    }
                    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let calls = match &request { Value::Array(c) => c.clone(), one => vec![one.clone()] };
                    {
                        let mut flying = p.in_flight.lock().unwrap();
                        let mine = flying.entry(key.clone()).or_default();
                        *mine += 1;
                        let mine = *mine;
                        let total: usize = flying.values().sum();
                        let mut m = p.max_per_key.lock().unwrap();
                        *m = (*m).max(mine);
                        let mut t = p.max_total.lock().unwrap();
                        *t = (*t).max(total);
                    }
                    let throttle = key == KEY_B && calls.iter().any(|c| c["method"] == "eth_getLogs") && {
                        let mut at = p.throttled_at.lock().unwrap();
                        at.is_none() && at.replace(Instant::now()).is_none()
                    };
                    let answer = if throttle {
                        (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response()
                    } else {
                        p.seen.lock().unwrap().push(Seen { key: key.clone(), at: Instant::now(), blocks: calls.iter().flat_map(blocks_in).collect() });
                        let forwarded = http.post(&anvil).header("content-type", "application/json").body(body.to_vec()).send().await.unwrap();
                        let bytes = forwarded.bytes().await.unwrap();
                        ([("content-type", "application/json")], bytes).into_response()
                    };
                    *p.in_flight.lock().unwrap().get_mut(&key).unwrap() -= 1;
                    answer
                }
            }),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

fn dag(proxy: &str) -> String {
    format!(
        r#"name: chain
worker_pools:
  rpc:
    slots:
      - env: {{ RPC_URL: "{proxy}" }}
        secret_env: {{ RPC_KEY: node-a }}
      - env: {{ RPC_URL: "{proxy}" }}
        secret_env: {{ RPC_KEY: node-b }}
jobs:
  - name: ingest
    kind: source
    operator: op_evm_source.wasm
    outputs: 3
    pool: rpc
    scaling: {{ max_concurrency: 2 }}
    capabilities: [rpc]
    rpc:
      url: "${{RPC_URL}}/${{RPC_KEY}}"
      headers: {{ Authorization: "Bearer ${{RPC_KEY}}" }}
      methods: [eth_blockNumber, eth_chainId, eth_getBlockByNumber, eth_getLogs]
      max_in_flight: 1
      max_batch: 5
    max_attempts: 1
    config: {{ confirmations: 2, window: 5 }}
  - name: transfers
    operator: op_erc20_transfers.wasm
    inputs:
      - from: {{ job: ingest, output: 2 }}
publish:
  - {{ job: ingest, output_index: 0, dataset: blocks }}
  - {{ job: ingest, output_index: 1, dataset: transactions }}
  - {{ job: ingest, output_index: 2, dataset: logs }}
  - {{ job: transfers, output_index: 0, dataset: transfers }}
"#
    )
}

async fn query(http: &reqwest::Client, base: &str, token: &str, sql: &str) -> Vec<Value> {
    let r = http.post(format!("{base}/api/v1/query")).bearer_auth(token).json(&json!({ "sql": sql })).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{sql}: {body}");
    body["rows"].as_array().unwrap().clone()
}

fn hex_of(v: &Value) -> String {
    format!("0x{}", v.as_str().unwrap().to_ascii_lowercase())
}

async fn settle(http: &reqwest::Client, base: &str, token: &str, expect: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let tasks: Value = http.get(format!("{base}/api/v1/tasks?limit=1000")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        let tasks = tasks.as_array().unwrap().clone();
        if tasks.len() >= expect && tasks.iter().all(|t| t["status"] == "completed" || t["status"] == "failed") {
            return tasks;
        }
        assert!(Instant::now() < deadline, "the ingest did not settle: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_backfilled_over_two_keyed_slots_matches_the_node() {
    // The chain: the token, 12 transfers, 2 plain payments, then empty blocks.
    let node = trace_testbed::anvil();
    let accounts = node.accounts();
    let token = node.deploy_token(&accounts[0], 1_000_000_000_000_000_000_000);
    let mut made = Vec::new();
    for i in 0..12u128 {
        let (from, to) = (&accounts[0], &accounts[1 + (i as usize % 4)]);
        let amount = 1_000 + i * 7_919;
        made.push((node.transfer(&token, from, to, amount), to.to_ascii_lowercase(), amount));
    }
    node.pay(&accounts[2], &accounts[3], 5);
    node.pay(&accounts[3], &accounts[4], 6);
    node.mine(30);
    let head = node.block_number();
    let end = (head - 1) / CHUNK * CHUNK;
    assert!(end >= 40, "head {head}");

    let (proxy_url, seen) = proxy(node.endpoint()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let moto = trace_testbed::moto();
    let mut env = cluster_env(trace_testbed::database(), "acme", "ingest-test", &moto);
    env.extend([
        ("TRACE_STORAGE", "s3://trace-ingest".to_owned()),
        ("TRACE_SECRET_KEY", trace_secrets::SecretKey::generate().to_base64()),
        // Everything the processes log is searched for the keys below.
        ("TRACE_LOG", "debug".to_owned()),
    ]);
    make_bucket(&moto, "trace-ingest").await;
    run_ok(&["user", "add", "root", "--role", "admin"], &env, &cache);
    let root = run_ok(&["token", "create", "root"], &env, &cache).trim().to_owned();
    let logs_dir = dir.path().join("logs");
    std::fs::create_dir_all(&logs_dir).unwrap();
    let to_file = |name: &str| std::fs::File::create(logs_dir.join(name)).unwrap();
    let mut server = trace_cmd(&["server", "--listen", "127.0.0.1:0"], &env, &cache).stdout(std::process::Stdio::piped()).stderr(to_file("server.err")).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take().unwrap()), &mut line).unwrap();
    let _server = Proc(server);
    let base = line.trim().rsplit(' ').next().unwrap().to_owned();
    let http = reqwest::Client::new();

    for (name, value) in [("node-a", KEY_A), ("node-b", KEY_B)] {
        let r = http.put(format!("{base}/api/v1/secrets/{name}")).bearer_auth(&root).json(&json!({ "value": value })).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    }
    let r = http.post(format!("{base}/api/v1/dags")).bearer_auth(&root).body(dag(&proxy_url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let worker_args = ["worker", "--server", &base, "--operators", operators().to_str().unwrap(), "--concurrency", "2"];
    let _workers: Vec<Proc> = (0..2)
        .map(|i| Proc(trace_cmd(&worker_args, &env, &cache).stdout(to_file(&format!("worker{i}.out"))).stderr(to_file(&format!("worker{i}.err"))).spawn().unwrap()))
        .collect();

    let range = format!("0..{end}");
    let out = run_ok(&["backfill", "chain", "ingest", "--range", &range, "--chunk", &CHUNK.to_string(), "--every", "200ms"], &env, &cache);
    assert!(out.contains("all"), "{out}");
    let chunks = (end / CHUNK) as usize;
    let tasks = settle(&http, &base, &root, chunks * 2).await;
    assert!(tasks.iter().all(|t| t["status"] == "completed"), "{tasks:?}");

    // Blocks: every one, with the node's hashes.
    let rows = query(&http, &base, &root, "SELECT block_number, hex(block_hash) AS hash, hex(parent_hash) AS parent, timestamp, chain_id FROM blocks ORDER BY block_number").await;
    assert_eq!(rows.len() as u64, end);
    for (n, row) in rows.iter().enumerate() {
        let block = node.rpc("eth_getBlockByNumber", json!([format!("0x{n:x}"), false]));
        assert_eq!(row["block_number"], n as u64);
        assert_eq!(hex_of(&row["hash"]), block["hash"].as_str().unwrap(), "block {n}");
        assert_eq!(hex_of(&row["parent"]), block["parentHash"].as_str().unwrap());
        assert_eq!(row["timestamp"].as_u64(), Some(quantity(&block["timestamp"])));
        assert_eq!(row["chain_id"], 31337);
    }
    // Logs: the node's, field by field.
    let expected = node.rpc("eth_getLogs", json!([{ "fromBlock": "0x0", "toBlock": format!("0x{:x}", end - 1) }]));
    let expected = expected.as_array().unwrap();
    let rows = query(&http, &base, &root, "SELECT block_number, log_index, hex(transaction_hash) AS tx, hex(address) AS address, hex(topic0) AS t0, hex(topic1) AS t1, hex(topic2) AS t2, topic3 IS NULL AS no_t3, hex(data) AS data FROM logs ORDER BY block_number, log_index").await;
    assert_eq!(rows.len(), expected.len());
    assert_eq!(rows.len(), made.len() + 1, "the mint and the transfers");
    for (row, log) in rows.iter().zip(expected) {
        assert_eq!(row["block_number"].as_u64(), Some(quantity(&log["blockNumber"])));
        assert_eq!(row["log_index"].as_u64(), Some(quantity(&log["logIndex"])));
        assert_eq!(hex_of(&row["tx"]), log["transactionHash"].as_str().unwrap());
        assert_eq!(hex_of(&row["address"]), log["address"].as_str().unwrap().to_ascii_lowercase());
        assert_eq!(hex_of(&row["t0"]), TRANSFER_TOPIC);
        assert_eq!(hex_of(&row["t1"]), log["topics"][1].as_str().unwrap());
        assert_eq!(hex_of(&row["t2"]), log["topics"][2].as_str().unwrap());
        assert_eq!(row["no_t3"], true);
        assert_eq!(hex_of(&row["data"]), log["data"].as_str().unwrap());
    }
    // Transactions: one per transfer, payment and the deploy.
    let rows = query(&http, &base, &root, "SELECT count(*) AS n, count(to_address) AS with_to, sum(CASE WHEN value_string = '5' THEN 1 ELSE 0 END) AS fives FROM transactions").await;
    assert_eq!(rows[0], json!({ "n": made.len() + 3, "with_to": made.len() + 2, "fives": 1 }));
    // The UDF found exactly the transfers made, and the mint (DuckDB reads
    // the 76-digit decimal as a double: these values are exact in one).
    let rows = query(&http, &base, &root, "SELECT block_number, hex(\"to\") AS to_address, CAST(value AS VARCHAR) AS value FROM transfers WHERE hex(\"from\") <> '0000000000000000000000000000000000000000' ORDER BY block_number").await;
    let found: Vec<(u64, String, u128)> = rows.iter().map(|r| (r["block_number"].as_u64().unwrap(), hex_of(&r["to_address"]), r["value"].as_str().unwrap().trim_end_matches(".0").parse().unwrap())).collect();
    assert_eq!(found, made);

    // Each chunk's requests carried one key; both slots were used; never
    // more than one request per slot nor two in all at once.
    let seen_now = seen.seen.lock().unwrap().clone();
    let mut keys_of: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for s in &seen_now {
        for b in &s.blocks {
            keys_of.entry(b / CHUNK).or_default().insert(s.key.clone());
        }
    }
    assert_eq!(keys_of.len(), chunks);
    assert!(keys_of.values().all(|k| k.len() == 1), "one slot's key per task: {keys_of:?}");
    let used: BTreeSet<&String> = keys_of.values().flatten().collect();
    assert_eq!(used.len(), 2, "both slots worked: {keys_of:?}");
    assert_eq!(*seen.max_per_key.lock().unwrap(), 1, "max_in_flight: 1 per slot");
    assert!(*seen.max_total.lock().unwrap() <= 2, "max_concurrency: 2");
    // The 429 was waited out for its Retry-After.
    let throttled = seen.throttled_at.lock().unwrap().expect("key B was throttled once");
    let next = seen_now.iter().filter(|s| s.key == KEY_B && s.at > throttled).map(|s| s.at).min().unwrap();
    assert!(next - throttled >= Duration::from_millis(950), "retried after {:?}", next - throttled);

    // Live mode: `trace follow` triggers each chunk once it is two blocks
    // deep, as blocks arrive, and stops at --until.
    let until = end + 2 * CHUNK;
    let follower = trace_cmd(
        &["follow", "chain", "ingest", "--chunk", &CHUNK.to_string(), "--confirmations", "2", "--poll", "100ms", "--from", &end.to_string(), "--until", &until.to_string()],
        &env,
        &cache,
    )
    .stdout(std::process::Stdio::piped())
    .stderr(to_file("follow.err"))
    .spawn()
    .unwrap();
    let mut follower = Proc(follower);
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.block_number() < until + 2 {
        assert!(Instant::now() < deadline, "mining stalled");
        node.mine(3);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let child = &mut follower.0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "trace follow did not reach --until");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut printed = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut printed).unwrap();
    assert!(status.success(), "{printed}{}", std::fs::read_to_string(logs_dir.join("follow.err")).unwrap());
    let mut triggered_to = end;
    for line in printed.lines().filter(|l| l.contains(": triggered ")) {
        // "[   0.4s] head H: triggered S..E (n new chunk(s))"
        let head: u64 = line.split("head ").nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
        let range = line.split("triggered ").nth(1).unwrap().split(' ').next().unwrap();
        let (s, e) = range.split_once("..").unwrap();
        let (s, e): (u64, u64) = (s.parse().unwrap(), e.parse().unwrap());
        assert_eq!(s, triggered_to, "chunks follow on: {printed}");
        assert!(e <= head + 1 - 2, "{line}: the last block is two deep");
        triggered_to = e;
    }
    assert_eq!(triggered_to, until, "{printed}");
    let chunks = chunks + 2;
    let tasks = settle(&http, &base, &root, chunks * 2).await;
    assert!(tasks.iter().all(|t| t["status"] == "completed"), "{tasks:?}");
    let rows = query(&http, &base, &root, "SELECT count(*) AS n, count(DISTINCT block_number) AS d, max(block_number) AS last FROM blocks").await;
    assert_eq!(rows[0], json!({ "n": until, "d": until, "last": until - 1 }));
    // Run again, it resumes past what it triggered and adds nothing.
    let again = run_ok(&["follow", "chain", "ingest", "--chunk", &CHUNK.to_string(), "--confirmations", "2", "--until", &until.to_string()], &env, &cache);
    assert!(again.contains(&format!("from block {until}")) && !again.contains("triggered"), "{again}");

    // A slot whose key the node refuses fails its task, by name. Slot 0 is
    // leased first, so every task of this run lands on it.
    let r = http.put(format!("{base}/api/v1/secrets/node-a")).bearer_auth(&root).json(&json!({ "value": "revoked-key-00" })).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http.post(format!("{base}/api/v1/dags/chain/jobs/ingest/trigger")).bearer_auth(&root).json(&json!({ "run_id": "refused", "start": until, "end": until + 1 })).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let tasks = settle(&http, &base, &root, chunks * 2 + 1).await;
    let failed: Vec<&Value> = tasks.iter().filter(|t| t["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{tasks:?}");
    let id = failed[0]["id"].as_i64().unwrap();
    let detail = http.get(format!("{base}/api/v1/tasks/{id}")).bearer_auth(&root).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("the endpoint refused the credentials of worker slot 0 (HTTP 401 Unauthorized)"), "{detail}");
    assert!(*seen.refused.lock().unwrap() >= 1);

    // No key anywhere a user or operator can look.
    let mut places: Vec<(String, String)> = Vec::new();
    for path in ["/api/v1/secrets", "/api/v1/tasks?limit=1000", "/api/v1/datasets", "/api/v1/whoami"] {
        places.push((path.to_owned(), http.get(format!("{base}{path}")).bearer_auth(&root).send().await.unwrap().text().await.unwrap()));
    }
    for t in &tasks {
        let id = t["id"].as_i64().unwrap();
        let detail = http.get(format!("{base}/api/v1/tasks/{id}")).bearer_auth(&root).send().await.unwrap().text().await.unwrap();
        let shown = run_ok(&["task", &id.to_string()], &env, &cache);
        // What each attempt used came over the internal API with its report.
        if t["job"] == "ingest" && t["status"] == "completed" {
            let usage = &serde_json::from_str::<Value>(&detail).unwrap()["attempts"][0]["usage"];
            assert!(usage["rpc_requests"].as_u64().unwrap() >= 4 && usage["rpc_bytes"].as_u64().unwrap() > 0 && usage["output_rows"].as_u64().unwrap() >= CHUNK, "{detail}");
            assert!(shown.contains("    used: wall ") && shown.contains(" requests / "), "{shown}");
        }
        places.push((format!("task {id}"), detail));
        places.push((format!("trace task {id}"), shown));
    }
    let usage = run_ok(&["usage", "--since", "1h"], &env, &cache);
    assert!(usage.contains("chain") && usage.contains("ingest") && usage.contains("transfers"), "{usage}");
    places.push(("trace usage".into(), usage));
    places.push(("trace audit".into(), run_ok(&["audit", "--limit", "1000"], &env, &cache)));
    places.push(("trace secret list".into(), run_ok(&["secret", "list"], &env, &cache)));
    assert!(places.iter().any(|(_, text)| text.contains("node-a")), "the secret's name is shown");
    for entry in std::fs::read_dir(&logs_dir).unwrap() {
        let path = entry.unwrap().path();
        places.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
    }
    assert!(places.iter().any(|(p, text)| p.ends_with(".err") && text.contains("DEBUG")), "the logs were captured at debug level");
    for (place, text) in &places {
        for key in [KEY_A, KEY_B, "revoked-key-00"] {
            assert!(!text.contains(key), "{key} is in {place}");
        }
    }
}

/// The README's example, as a newcomer runs it: `examples/chain.py` makes a
/// chain on a node, `trace dev` ingests it with `examples/dags/chain.yaml`
/// (secrets from the environment, chunks in parallel over both slots), and
/// the UDF finds exactly the transfers the script made.
#[test]
fn the_chain_example_finds_the_transfers_its_script_made() {
    let node = trace_testbed::anvil();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let made = std::process::Command::new("python3")
        .arg(root.join("examples/chain.py"))
        .args(["--rpc", &node.endpoint(), "--transfers", "12", "--blocks", "20"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let made: Value = serde_json::from_slice(&made.stdout).unwrap();
    let head = made["head"].as_u64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(root.join("examples/dags/chain.yaml")).unwrap().replace("http://127.0.0.1:8545", &node.endpoint());
    let dag = dir.path().join("chain.yaml");
    std::fs::write(&dag, yaml).unwrap();
    let db = dir.path().join("chain.db");
    let env = vec![("K_A", "example-key-a".to_owned()), ("K_B", "example-key-b".to_owned())];
    let cache = dir.path().join("cache");
    let range = format!("0..{}", head - 1);
    let out = run_ok(
        &["dev", dag.to_str().unwrap(), "--operators", operators().to_str().unwrap(), "--range", &range, "--chunk", "10", "--secret", "node-a=K_A", "--secret", "node-b=K_B", "--database", db.to_str().unwrap()],
        &env,
        &cache,
    );
    assert!(out.contains("done: DAG `erc20_chain`") && !out.contains("failed"), "{out}");
    assert!(out.contains("metrics at http://127.0.0.1:") && out.contains("/metrics"), "trace dev says where its metrics are: {out}");
    let org = out.split("--org ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let sql = "SELECT block_number, lower(hex(\"to\")) AS recipient, value FROM erc20_transfers WHERE hex(\"from\") <> '0000000000000000000000000000000000000000' ORDER BY block_number";
    let found: Value = serde_json::from_str(&run_ok(&["query", "--db", &format!("sqlite:{}", db.display()), "--org", &org, "--format", "json", sql], &[], &cache)).unwrap();
    let found = found.as_array().unwrap();
    let expected = made["transfers"].as_array().unwrap();
    assert_eq!(found.len(), expected.len());
    for (row, t) in found.iter().zip(expected) {
        assert_eq!(row["block_number"], t[0]);
        assert_eq!(format!("0x{}", row["recipient"].as_str().unwrap()), t[1].as_str().unwrap());
        // DuckDB reads the 76-digit decimal as a double.
        let want: f64 = t[2].as_str().unwrap().parse().unwrap();
        assert!((row["value"].as_f64().unwrap() - want).abs() <= want * 1e-12, "{row} vs {t}");
    }
}
