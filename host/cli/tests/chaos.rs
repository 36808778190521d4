//! The chaos soak: Trace's delivery promise (at-least-once with idempotent
//! effects, fenced attempts) under random faults.
//!
//! A deployment as it runs in production — two `trace server`s on one
//! PostgreSQL behind a load balancer, three `trace worker`s, two `trace
//! delivery` processes, SQS and S3 on moto, a webhook receiver — runs the
//! example pipeline with its alerts over a range of blocks, once calmly and
//! once while a chaos loop `kill -9`s workers, servers, delivery processes
//! and the backfill command, and crashes PostgreSQL (immediate shutdown,
//! then a restart). A supervisor restarts what died, as an orchestrator
//! would; a backfill that died is run again, as its user would, and the
//! user backfills the next blocks while faults remain. Then, against a calm
//! run over the same blocks:
//! every published dataset holds exactly the calm run's rows, every alert
//! reached the receiver (once, after de-duplication by `webhook-id`), no
//! task is left open, no staged file is orphaned.
//!
//! `bash tests/chaos.sh` runs it with its report; `--long` for an hour.
//! Environment: `TRACE_CHAOS_LONG=1` (an hour of faults over a longer
//! range), `TRACE_CHAOS_SEED=N` (replay a run's choices),
//! `TRACE_CHAOS_FAULTS=N` (faults of each kind).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::webhooks::{receiver, Received};
use support::*;

const DATASETS: [&str; 2] = ["block_logs", "erc20_transfers"];

/// Lines of the report: written to the test's stderr as they happen (past
/// the harness's capture, so CI logs show them).
macro_rules! report {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

struct Settings {
    /// Blocks one backfill covers; the chaos run backfills one segment after
    /// another while faults remain, the calm run all of them at once.
    segment: u64,
    /// Faults of each kind to inject.
    per_kind: usize,
    /// Keep injecting (at least `per_kind` of each) until this much time passed.
    at_least: Duration,
    /// Random pause between faults.
    gap: (Duration, Duration),
    seed: u64,
}

impl Settings {
    fn from_env() -> Self {
        let seed = std::env::var("TRACE_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        let mut settings = if std::env::var("TRACE_CHAOS_LONG").is_ok_and(|v| v == "1") {
            Settings { segment: 100_000, per_kind: 200, at_least: Duration::from_secs(3600), gap: (Duration::from_secs(2), Duration::from_secs(8)), seed }
        } else {
            Settings { segment: 30_000, per_kind: 20, at_least: Duration::ZERO, gap: (Duration::from_millis(200), Duration::from_millis(800)), seed }
        };
        if let Some(n) = std::env::var("TRACE_CHAOS_FAULTS").ok().and_then(|s| s.parse().ok()) {
            settings.per_kind = n;
        }
        settings
    }
}

/// xorshift64*: enough randomness for choosing faults, replayable by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn between(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        lo + Duration::from_millis(self.next() % (hi - lo).as_millis().max(1) as u64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillWorker,
    KillServer,
    KillDelivery,
    KillBackfill,
    CrashPostgres,
}

const FAULTS: [Fault; 5] = [Fault::KillWorker, Fault::KillServer, Fault::KillDelivery, Fault::KillBackfill, Fault::CrashPostgres];

/// One supervised process: its name, how to start it, the running child,
/// and when to start it again after it died.
struct Slot {
    name: String,
    args: Vec<String>,
    proc: Option<Proc>,
    restart_at: Option<Instant>,
    starts: usize,
    kills: usize,
}

/// The deployment's processes and what they share.
struct Deployment {
    env: Vec<(&'static str, String)>,
    cache: PathBuf,
    logs: PathBuf,
    base: String,
    servers: Vec<Slot>,
    workers: Vec<Slot>,
    deliveries: Vec<Slot>,
    /// The user's backfill command; `None` once it finished successfully.
    backfill: Option<Slot>,
    /// Where the backfills so far end (they start at 0).
    backfilled: u64,
}

impl Slot {
    fn new(name: &str, args: Vec<String>) -> Self {
        Slot { name: name.to_owned(), args, proc: None, restart_at: Some(Instant::now()), starts: 0, kills: 0 }
    }

    fn start(&mut self, env: &[(&str, String)], cache: &Path, logs: &Path) {
        let log = File::options().create(true).append(true).open(logs.join(format!("{}.log", self.name))).unwrap();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let child = trace_cmd(&args, env, cache).stdout(log.try_clone().unwrap()).stderr(log).stdin(Stdio::null()).spawn().unwrap();
        self.proc = Some(Proc(child));
        self.restart_at = None;
        self.starts += 1;
    }

    fn alive(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| p.0.try_wait().unwrap().is_none())
    }

    fn kill(&mut self, restart_after: Duration) -> Option<u32> {
        let mut p = self.proc.take()?;
        let pid = p.0.id();
        p.0.kill().unwrap();
        p.0.wait().unwrap();
        self.restart_at = Some(Instant::now() + restart_after);
        self.kills += 1;
        Some(pid)
    }
}

impl Deployment {
    /// Backfill `blocks` more blocks after the last backfill's range.
    fn backfill_more(&mut self, blocks: u64) {
        let range = format!("{}..{}", self.backfilled, self.backfilled + blocks);
        let args = ["backfill", "chaos_pipeline", "blocks", "--range", &range, "--chunk", "1000", "--every", "2s"];
        self.backfill = Some(Slot::new("backfill", args.iter().map(|a| a.to_string()).collect()));
        self.backfilled += blocks;
    }

    /// Restart whatever died whose restart is due; returns whether the
    /// backfill has finished. A process that exited by itself (a server
    /// that could not reach its database at start) is restarted after a
    /// pause too.
    fn tend(&mut self, rng: &mut Rng) -> bool {
        let (env, cache, logs) = (&self.env, &self.cache, &self.logs);
        for slot in self.servers.iter_mut().chain(&mut self.workers).chain(&mut self.deliveries) {
            tend_slot(slot, env, cache, logs, rng);
        }
        if let Some(b) = &mut self.backfill {
            if let Some(status) = b.proc.as_mut().and_then(|p| p.0.try_wait().unwrap()) {
                b.proc = None;
                if status.success() {
                    self.backfill = None;
                    return true;
                }
                // It was killed (a database restart it waits out): its user
                // runs it again.
                b.restart_at = Some(Instant::now() + rng.between((Duration::from_millis(200), Duration::from_millis(1500))));
            }
            tend_slot(b, env, cache, logs, rng);
        }
        self.backfill.is_none()
    }
}

fn tend_slot(slot: &mut Slot, env: &[(&str, String)], cache: &Path, logs: &Path, rng: &mut Rng) {
    if slot.proc.as_mut().is_some_and(|p| p.0.try_wait().unwrap().is_some()) {
        slot.proc = None;
        slot.restart_at = Some(Instant::now() + rng.between((Duration::from_millis(200), Duration::from_millis(1000))));
    }
    if slot.proc.is_none() && slot.restart_at.is_some_and(|at| Instant::now() >= at) {
        slot.start(env, cache, logs);
    }
}

/// On a failing assertion, the tail of every process's log.
struct LogsOnPanic(PathBuf);

impl Drop for LogsOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let runs = std::fs::read_dir(&self.0).into_iter().flatten().flatten();
        for log in runs.flat_map(|run| std::fs::read_dir(run.path().join("logs")).into_iter().flatten().flatten()) {
            let text = std::fs::read_to_string(log.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            report!("--- {} (last lines)", log.path().display());
            for line in tail.iter().rev() {
                report!("{line}");
            }
        }
    }
}

/// What a run left behind, compared between the calm and the chaos run.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// Per dataset: rows, distinct rows and a hash over all of them.
    datasets: BTreeMap<String, String>,
    /// Every alert body the receiver accepted, without what differs between
    /// deployments (ids and times of routing).
    alerts: BTreeSet<String>,
}

struct Env<'a> {
    pg: &'a trace_testbed::RestartablePostgres,
    moto: &'a trace_testbed::Moto,
    dir: &'a Path,
}

/// Set up a deployment named `name` (its own database, queue and bucket)
/// and start its processes; returns it with an admin token.
async fn deploy(name: &str, e: &Env<'_>, blocks: u64) -> (Deployment, String, Arc<Mutex<Received>>) {
    let mut env = cluster_env(e.pg.database(name), "acme", &format!("chaos-{name}"), e.moto);
    env.extend([
        ("TRACE_STORAGE", format!("s3://chaos-{name}")),
        ("TRACE_SECRET_KEY", trace_secrets::SecretKey::generate().to_base64()),
        ("TRACE_LOG", "warn".to_owned()),
    ]);
    make_bucket(e.moto, &format!("chaos-{name}")).await;
    let cache = e.dir.join(name).join("cache");
    let logs = e.dir.join(name).join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    run_ok(&["user", "add", "root", "--role", "admin"], &env, &cache);
    let token = run_ok(&["token", "create", "root"], &env, &cache).trim().to_owned();
    run_ok(&["deploy", concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/dags/chaos.yaml")], &env, &cache);

    let ports: Vec<u16> = (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let base = support::balancer::balancer(ports.clone()).await;
    let owned = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let servers = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let listen = format!("127.0.0.1:{port}");
            Slot::new(&format!("server-{i}"), owned(&["server", "--listen", &listen, "--no-delivery", "--visibility", "5s", "--sweep-every", "2s"]))
        })
        .collect();
    let operators = operators().to_str().unwrap();
    let workers = (0..3)
        .map(|i| Slot::new(&format!("worker-{i}"), owned(&["worker", "--server", &base, "--operators", operators, "--concurrency", "2", "--visibility", "5s"])))
        .collect();
    let deliveries = (0..2).map(|i| Slot::new(&format!("delivery-{i}"), owned(&["delivery", "--name", &format!("sender-{i}"), "--timeout-secs", "2"]))).collect();
    let mut d = Deployment { env, cache, logs, base, servers, workers, deliveries, backfill: None, backfilled: 0 };
    d.backfill_more(blocks);
    let mut rng = Rng(1);
    for slot in d.servers.iter_mut().chain(&mut d.workers).chain(&mut d.deliveries) {
        tend_slot(slot, &d.env, &d.cache, &d.logs, &mut rng);
    }

    // Destinations at the receiver, with a secret we hold.
    let secret = trace_delivery::WebhookSecret::generate();
    let (url, received) = receiver(trace_delivery::WebhookSecret::parse(&secret.expose()).unwrap()).await;
    let http = reqwest::Client::new();
    for destination in ["ops", "pager"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = http.put(format!("{}/api/v1/destinations/{destination}", d.base)).bearer_auth(&token).json(&json!({ "url": url, "secret": secret.expose(), "per_minute": 60_000, "max_in_flight": 16 })).send().await;
            if r.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "setting destination {destination} failed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    (d, token, received)
}

/// How long a settled deployment must stay settled to count as quiet.
const STABLE_FOR: Duration = Duration::from_secs(8);

/// Wait until the backfill succeeded, every task completed and every
/// delivery was delivered, tending the processes meanwhile.
async fn quiesce(d: &mut Deployment, token: &str, rng: &mut Rng, limit: Duration) -> (Vec<Value>, Vec<Value>) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    let mut since: Option<(Instant, (usize, usize))> = None;
    loop {
        let finished = d.tend(rng);
        if finished {
            let get = |path: &str| http.get(format!("{}{path}", d.base)).bearer_auth(token).send();
            let tasks = match get("/api/v1/tasks?limit=1000").await {
                Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap().as_array().unwrap().clone(),
                _ => Vec::new(),
            };
            let deliveries = match get("/api/v1/deliveries?limit=1000").await {
                Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap().as_array().unwrap().clone(),
                _ => Vec::new(),
            };
            let failed: Vec<&Value> = tasks.iter().filter(|t| t["status"] == "failed").collect();
            assert!(failed.is_empty(), "tasks failed for good: {failed:?}");
            let open = tasks.iter().filter(|t| t["status"] != "completed").count();
            let undelivered = deliveries.iter().filter(|x| x["state"] != "delivered").count()
                + match get("/api/v1/deliveries?state=pending&limit=1").await {
                    Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap().as_array().map_or(1, Vec::len),
                    _ => 1,
                };
            let routes = tasks.iter().filter(|t| t["job"] == "route").count();
            last = format!("{} task(s), {open} not completed, {} deliveries, {undelivered} not delivered", tasks.len(), deliveries.len());
            let settled = !tasks.is_empty() && open == 0 && undelivered == 0 && routes > 0 && !deliveries.is_empty();
            // Settled, and still so once every buffer message a killed
            // server's sink held has come back (its visibility is 5 s).
            match (settled, &since) {
                (false, _) => since = None,
                (true, Some((at, n))) if *n == (tasks.len(), deliveries.len()) => {
                    if at.elapsed() >= STABLE_FOR {
                        return (tasks, deliveries);
                    }
                }
                (true, _) => since = Some((Instant::now(), (tasks.len(), deliveries.len()))),
            }
        }
        assert!(Instant::now() < deadline, "the deployment did not settle in {limit:?}: backfill finished={finished}; {last}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The run's datasets and alerts.
/// Tasks per job (one per event whatever the faults: events are idempotent).
fn tasks_per_job(tasks: &[Value]) -> BTreeMap<String, usize> {
    let mut per_job = BTreeMap::new();
    for t in tasks {
        *per_job.entry(t["job"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    per_job
}

async fn outcome(d: &Deployment, token: &str, received: &Mutex<Received>) -> Outcome {
    let mut datasets = BTreeMap::new();
    for name in DATASETS {
        let sql = format!("SELECT count(*) AS n, count(DISTINCT t) AS distinct_rows, sum(hash(t)) AS h FROM {name} AS t");
        let out = run_ok(&["query", "--server", &d.base, "--token", token, "--format", "csv", &sql], &d.env, &d.cache);
        datasets.insert(name.to_owned(), out.trim().to_owned());
    }
    let received = received.lock().unwrap();
    let alerts = received
        .accepted
        .iter()
        .map(|(_, body)| {
            let mut body = body.clone();
            for volatile in ["webhook_id", "routed_at"] {
                body.as_object_mut().unwrap().remove(volatile);
            }
            body.to_string()
        })
        .collect();
    Outcome { datasets, alerts }
}

fn stop_all(d: &mut Deployment) {
    for slot in d.servers.iter_mut().chain(&mut d.workers).chain(&mut d.deliveries) {
        if let Some(p) = &mut slot.proc {
            stop(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_survives_random_kills_and_database_crashes_with_exactly_the_calm_rows() {
    let settings = Settings::from_env();
    let dir = tempfile::tempdir().unwrap();
    let _logs = LogsOnPanic(dir.path().to_owned());
    let pg = trace_testbed::RestartablePostgres::new();
    let moto = trace_testbed::moto();
    let e = Env { pg: &pg, moto: &moto, dir: dir.path() };
    let mut rng = Rng(settings.seed | 1);
    report!("chaos soak: seed {} (TRACE_CHAOS_SEED to replay), {} fault(s) of each kind, backfills of {} blocks", settings.seed, settings.per_kind, settings.segment);

    // The chaos run.
    let started = Instant::now();
    let (mut d, token, received) = deploy("chaos", &e, settings.segment).await;
    let mut plan: Vec<Fault> = FAULTS.iter().flat_map(|f| std::iter::repeat_n(*f, settings.per_kind)).collect();
    for i in (1..plan.len()).rev() {
        plan.swap(i, rng.below(i + 1));
    }
    let mut injected: BTreeMap<Fault, usize> = BTreeMap::new();
    let mut pg_down = Duration::ZERO;
    let mut unavailable_seen = 0;
    while !plan.is_empty() || started.elapsed() < settings.at_least {
        // More work while faults remain: the user backfills the next blocks.
        if d.backfill.is_none() {
            d.backfill_more(settings.segment);
            report!("[{:>7.1}s] backfill of blocks {}..{} started", started.elapsed().as_secs_f64(), d.backfilled - settings.segment, d.backfilled);
        }
        let pause = rng.between(settings.gap);
        let until = Instant::now() + pause;
        while Instant::now() < until {
            d.tend(&mut rng);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let fault = match plan.pop() {
            Some(f) => f,
            None => FAULTS[rng.below(FAULTS.len())],
        };
        let at = started.elapsed().as_secs_f64();
        let restart_after = rng.between((Duration::from_millis(200), Duration::from_millis(1500)));
        let done = match fault {
            Fault::CrashPostgres => {
                tokio::task::block_in_place(|| pg.crash()).unwrap();
                let mut down = rng.between((Duration::from_millis(300), Duration::from_millis(2000)));
                if unavailable_seen == 0 {
                    // Once, down long enough for a user's request to give up
                    // waiting for a connection, and asked: the answer names it.
                    down = trace_store::ACQUIRE_TIMEOUT + Duration::from_secs(3);
                }
                let back = Instant::now() + down;
                while unavailable_seen == 0 && Instant::now() + trace_store::ACQUIRE_TIMEOUT < back {
                    let asked = reqwest::Client::new().get(format!("{}/api/v1/tasks", d.base)).bearer_auth(&token).timeout(trace_store::ACQUIRE_TIMEOUT * 2).send().await;
                    if let Ok(r) = asked {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        assert_eq!((status, body["code"].as_str()), (503, Some("database_unavailable")), "{body}");
                        unavailable_seen += 1;
                    }
                    d.tend(&mut rng);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(back.saturating_duration_since(Instant::now())).await;
                tokio::task::block_in_place(|| pg.start()).unwrap();
                pg_down += down;
                Some(format!("postgres: immediate shutdown, restarted after {:.1}s", down.as_secs_f64()))
            }
            Fault::KillBackfill => d.backfill.as_mut().filter(|b| b.proc.is_some()).and_then(|b| match b.alive() {
                true => b.kill(restart_after).map(|pid| format!("kill -9 backfill (pid {pid}); run again in {:.1}s", restart_after.as_secs_f64())),
                false => None,
            }),
            Fault::KillWorker | Fault::KillServer | Fault::KillDelivery => {
                let slots = match fault {
                    Fault::KillWorker => &mut d.workers,
                    Fault::KillServer => &mut d.servers,
                    _ => &mut d.deliveries,
                };
                let alive: Vec<usize> = (0..slots.len()).filter(|i| slots[*i].alive()).collect();
                match alive.is_empty() {
                    true => None,
                    false => {
                        let slot = &mut slots[alive[rng.below(alive.len())]];
                        slot.kill(restart_after).map(|pid| format!("kill -9 {} (pid {pid}); restart in {:.1}s", slot.name, restart_after.as_secs_f64()))
                    }
                }
            }
        };
        match done {
            Some(what) => {
                *injected.entry(fault).or_default() += 1;
                report!("[{at:>7.1}s] {what}");
            }
            // No target right now (a backfill between runs): the fault
            // goes back into the plan.
            None => plan.insert(0, fault),
        }
    }
    let faults_done = started.elapsed();
    let calming = Instant::now();
    let (tasks, deliveries) = quiesce(&mut d, &token, &mut rng, Duration::from_secs(240)).await;
    // Less the time it had to stay settled to count as quiet.
    let quiet = calming.elapsed().saturating_sub(STABLE_FOR);
    let total: usize = injected.values().sum();
    report!("chaos run: {total} fault(s) in {:.1}s: {injected:?}; postgres down {:.1}s in all", faults_done.as_secs_f64(), pg_down.as_secs_f64());
    report!("  quiesced {:.1}s after the last fault: {} task(s), {} deliveries", quiet.as_secs_f64(), tasks.len(), deliveries.len());
    let restarts: Vec<String> = d.servers.iter().chain(&d.workers).chain(&d.deliveries).map(|s| format!("{} {}", s.name, s.starts)).collect();
    report!("  process starts: {}", restarts.join(", "));
    // Nothing died but what was killed: workers ride out the control
    // plane's outages, servers and senders the database's (and wait for it
    // when they start during one).
    for slot in d.servers.iter().chain(&d.workers).chain(&d.deliveries) {
        assert_eq!(slot.starts, slot.kills + 1, "{} exited by itself {} time(s); see its log", slot.name, slot.starts - slot.kills - 1);
    }
    assert!(unavailable_seen > 0, "the API was never asked while the database was down");
    report!("  asked while postgres was down, the API answered 503 database_unavailable; no process exited but those killed");

    for fault in FAULTS {
        let n = injected.get(&fault).copied().unwrap_or(0);
        assert!(n >= settings.per_kind, "{fault:?}: {n} injected, {} planned", settings.per_kind);
    }
    // What users see of the faults: attempts that got no report are named
    // so, in the API and in `trace task ID`.
    let http = reqwest::Client::new();
    let (mut timed_out, mut duplicates, mut shown) = (0, 0, None);
    for t in tasks.iter().filter(|t| t["attempts"].as_i64().unwrap_or(0) > 1) {
        let id = t["id"].as_i64().unwrap();
        let detail: Value = http.get(format!("{}/api/v1/tasks/{id}", d.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        for a in detail["attempts"].as_array().unwrap() {
            let state = a["state"].as_str().unwrap_or_default();
            if state.starts_with("timed out: no report by its deadline") {
                timed_out += 1;
                shown.get_or_insert(id);
            }
            duplicates += a["duplicate_deliveries"].as_i64().unwrap_or(0);
        }
    }
    let id = shown.expect("no attempt timed out, though workers were killed mid-task");
    let printed = run_ok(&["task", &id.to_string()], &d.env, &d.cache);
    assert!(printed.contains(": timed out: no report by its deadline (its worker died or stalled, or could not reach the control plane)"), "{printed}");
    report!("  attempts seen as `timed out: no report by its deadline …`: {timed_out}; duplicate queue deliveries dropped: {duplicates}");
    let chaos_outcome = outcome(&d, &token, &received).await;
    for (name, figures) in &chaos_outcome.datasets {
        report!("  {name}: {}", figures.replace('\n', " | "));
    }
    // Every delivery reached the receiver; a redelivery (its sender killed
    // mid-send) carries the same webhook-id and the same body.
    {
        let r = received.lock().unwrap();
        assert_eq!(r.bad_signatures, 0);
        let mut bodies: BTreeMap<&str, &Value> = BTreeMap::new();
        for (id, body) in &r.accepted {
            if let Some(seen) = bodies.insert(id.as_str(), body) {
                assert_eq!(seen, body, "webhook {id} was sent twice with different bodies");
            }
        }
        let ids: BTreeSet<&str> = deliveries.iter().map(|x| x["webhook_id"].as_str().unwrap()).collect();
        let arrived: BTreeSet<&str> = bodies.keys().copied().collect();
        // The API lists the newest 1,000; the alerts' comparison with the
        // calm run below covers the rest.
        match deliveries.len() < 1000 {
            true => assert_eq!(arrived, ids, "every delivery arrived, and nothing else"),
            false => assert!(ids.is_subset(&arrived), "every delivery arrived"),
        }
        report!("  alerts: {} requests accepted, {} after de-duplication by webhook-id", r.accepted.len(), ids.len());
    }
    // No staged file left: the servers' janitors sweep every 2 s.
    let bucket = trace_storage::Storage::s3("chaos-chaos", &s3_config(&moto)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let staged = bucket.list(&trace_storage::paths::staging_prefix(1)).await.unwrap();
        if staged.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "staged files left behind: {staged:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let repair = run_ok(&["dataset", "repair", "--storage", "s3://chaos-chaos"], &d.env, &d.cache);
    assert!(repair.contains(", 0 missing") && repair.contains("staged files: 0 deleted"), "{repair}");
    report!("  storage: no staged file left; {}", repair.lines().next().unwrap_or_default());
    stop_all(&mut d);

    // The calm run: the same deployment over the same blocks, nothing
    // injected. It gets as long as the chaos run took for them (at least
    // 240 s): the long variant's range grows with its hour of faults, and
    // its calm run cannot be much faster than the machine's throughput.
    let calm_started = Instant::now();
    let calm_limit = started.elapsed().max(Duration::from_secs(240));
    let (mut calm, calm_token, calm_received) = deploy("calm", &e, d.backfilled).await;
    let (calm_tasks, calm_deliveries) = quiesce(&mut calm, &calm_token, &mut rng, calm_limit).await;
    let calm_outcome = outcome(&calm, &calm_token, &calm_received).await;
    stop_all(&mut calm);
    report!("calm run over blocks 0..{}: {} task(s), {} deliveries, settled in {:.1}s", d.backfilled, calm_tasks.len(), calm_deliveries.len(), calm_started.elapsed().as_secs_f64());
    for (name, figures) in &calm_outcome.datasets {
        report!("  {name}: {}", figures.replace('\n', " | "));
    }
    assert!(!calm_outcome.alerts.is_empty(), "the calm run raised alerts");
    report!("  tasks per job: chaos {:?}, calm {:?}", tasks_per_job(&tasks), tasks_per_job(&calm_tasks));
    assert_eq!(chaos_outcome.datasets, calm_outcome.datasets, "the datasets differ from the calm run's");
    // The API lists the newest 1,000 tasks.
    if tasks.len() < 1000 && calm_tasks.len() < 1000 {
        assert_eq!(tasks_per_job(&tasks), tasks_per_job(&calm_tasks), "one task per event");
    }
    assert_eq!(chaos_outcome.alerts, calm_outcome.alerts, "the alerts differ from the calm run's");
    report!("chaos soak: identical rows and alerts to the calm run");
}
