//! The console in a real browser: Debian's headless Chromium, driven over
//! WebDriver (chromedriver), against the console and API served on
//! 127.0.0.1 over a SQLite system database. Sign in, see a failed task's
//! error, cut over a staged DAG version, see a dataset's versions, run a
//! query; a token of another org sees none of it, a viewer gets no buttons.
//!
//! `TRACE_SCREENSHOTS=DIR` saves a PNG of each main page there (the ones in
//! `docs/console/` were made so).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use trace_api::{public_router, PublicState};
use trace_store::*;

/// With markup in it: the pages must show it as text.
const FAILURE: &str = "node answered HTTP 500 for eth_getLogs at block 7 <script>alert(1)</script>";
/// What the failed attempt's operator logged (markup in it stays text).
const LOG: &str = "fetching blocks 0..8\nretrying block 7 <img src=x onerror=alert(2)>\ngiving up";

fn publishing(x: u32) -> String {
    format!("name: prod\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\n    max_attempts: 1\n    config: {{ x: \"{x}\" }}\npublish:\n  - {{ job: src, output_index: 0, dataset: facts }}\n")
}

struct Deployment {
    base: String,
    db: Arc<Db>,
    admin: String,
    viewer: String,
    outsider: String,
    failed_task: i64,
    _dir: tempfile::TempDir,
}

/// Two orgs; acme has a DAG with a staged version, a failed task (with
/// usage) and a dataset with one version per DAG version.
async fn deployment() -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let now = now_millis();
    let acme = db.create_org("acme", now).await.unwrap();
    let globex = db.create_org("globex", now).await.unwrap();
    let token = async |org, name: &str, role| {
        let user = db.create_user(org, name, role, "tester", now).await.unwrap();
        db.create_token(user, "t", "tester", now).await.unwrap()
    };
    let (admin, viewer, outsider) = (token(acme, "ann", Role::Admin).await, token(acme, "vic", Role::Viewer).await, token(globex, "zed", Role::Admin).await);
    let v1 = publishing(1);
    let deployed = db.deploy(acme, &trace_dag::parse("v1", &v1).unwrap(), &v1, "user:ann", now).await.unwrap();
    let v2 = publishing(2);
    db.stage(acme, &trace_dag::parse("v2", &v2).unwrap(), &v2, "user:ann", now).await.unwrap();
    let task = db.trigger(deployed.job("src"), "r1", Some((0, 10)), "user:ann", now).await.unwrap().tasks[0];
    let claim = db.claim(1, now_millis()).await.unwrap().pop().unwrap();
    assert_eq!(claim.task, task);
    let usage = AttemptUsage { wall_ms: 1_250, cpu_ms: 900, peak_memory_bytes: 48 << 20, rpc_requests: 12, log_bytes: LOG.len() as u64, ..Default::default() };
    let done = Completion {
        auth: AttemptAuth { task, attempt: claim.attempt, credential: claim.credential },
        outcome: Outcome::Failed { retryable: false, message: FAILURE.into() },
        events: vec![],
        state: vec![],
        partitions: vec![],
        usage: Some(usage),
        log: Some(LOG.into()),
    };
    db.complete_many(&[done], now_millis()).await.unwrap();
    assert_eq!(db.task(task).await.unwrap().status, TaskStatus::Failed);

    let objects = dir.path().join("objects");
    let storage = trace_storage::Storage::local(&objects).unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let query = trace_query::QueryService::new(db.clone(), storage.clone(), cache, trace_query::ServiceLimits::default()).unwrap();
    let state = Arc::new(PublicState::new(db.clone()).with_query(Some(Arc::new(query))).with_storage(Some(storage)));
    let app = public_router(state.clone()).merge(trace_console::console_router(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Deployment { base, db, admin, viewer, outsider, failed_task: task, _dir: dir }
}

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    /// chromedriver and the browsers it started are one process group:
    /// a failed test leaves no Chromium behind.
    fn drop(&mut self) {
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver is not installed: run tests/setup.sh (Debian's chromium and chromium-driver)");
    Driver { child, url: format!("http://127.0.0.1:{port}") }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,860", "--force-device-scale-factor=1"];
    caps.insert("goog:chromeOptions".into(), serde_json::json!({ "args": args }));
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&driver.url).await {
            Ok(c) => return c,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("starting headless Chromium through chromedriver: {e}"),
        }
    }
}

/// Click what navigates, and wait for the next page to replace this one.
async fn click(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    let started = Instant::now();
    while old.tag_name().await.is_ok() {
        assert!(started.elapsed() < Duration::from_secs(15), "clicking {css} loaded no new page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn text(c: &Client, css: &str) -> String {
    match c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => panic!("{css}: {e}\non {}:\n{}", c.current_url().await.unwrap(), c.source().await.unwrap()),
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    if let Ok(dir) = std::env::var("TRACE_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/console/login")).await.unwrap();
    c.find(Locator::Css("#token")).await.unwrap().send_keys(token).await.unwrap();
    click(c, "#signin").await;
}

async fn sign_out(c: &Client) {
    click(c, "#signout").await;
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_headless_chromium() {
    let d = deployment().await;
    let driver = chromedriver();
    let c = browser(&driver).await;
    let base = d.base.clone();

    // Not signed in: every page leads to the sign-in form; a bad token is refused.
    c.goto(&format!("{base}/console/tasks")).await.unwrap();
    assert_eq!(path(&c).await, "/console/login");
    screenshot(&c, "signin").await;
    sign_in(&c, &base, "trc_not_a_real_token").await;
    assert!(text(&c, "#signin-problem").await.contains("not valid"));

    // The admin sees the failed task and its error on the overview.
    sign_in(&c, &base, &d.admin).await;
    assert_eq!(path(&c).await, "/console");
    assert_eq!(text(&c, "#count-failed .n").await, "1");
    let failed = text(&c, "#failed").await;
    assert!(failed.contains(FAILURE) && failed.contains(&d.failed_task.to_string()), "{failed}");
    assert!(text(&c, "#who").await.starts_with("ann · admin"));
    screenshot(&c, "overview").await;

    // The task's page: the error, the attempt and what it used.
    click(&c, &format!("#failed a[href='/console/tasks/{}']", d.failed_task)).await;
    assert_eq!(text(&c, "#task-error").await, FAILURE);
    assert_eq!(text(&c, "#log-1").await, LOG, "the attempt's log, as text");
    let attempts = text(&c, "#attempts").await;
    assert!(attempts.contains("failed") && attempts.contains("48.0 MiB") && attempts.contains("1250 ms"), "{attempts}");
    screenshot(&c, "task").await;

    // Filtering the task list by state.
    c.goto(&format!("{base}/console/tasks?state=completed")).await.unwrap();
    assert!(text(&c, "#task-list").await.contains("none"));
    c.goto(&format!("{base}/console/tasks?state=failed&job=src&from=5&to=6")).await.unwrap();
    assert!(text(&c, "#task-list").await.contains(FAILURE));

    // Cut over the staged version from the DAGs page.
    c.goto(&format!("{base}/console/dags")).await.unwrap();
    assert!(text(&c, "#dag-prod-v2").await.contains("staged"));
    click(&c, "#cutover-prod-2").await;
    assert_eq!(path(&c).await, "/console/dags");
    assert!(text(&c, "#dag-prod-v2").await.contains("active"));
    assert!(text(&c, "#dag-prod-v1").await.contains("previous"));
    let states: Vec<_> = d.db.dag_versions(1).await.unwrap().into_iter().map(|v| (v.version, v.state)).collect();
    assert_eq!(states, vec![(2, VersionState::Active), (1, VersionState::Previous)], "the cutover reached the database");
    c.find(Locator::Css("#rollback-prod")).await.expect("a rollback button once a previous version exists");
    screenshot(&c, "dags").await;

    // The dataset: a version per DAG version, the new one active.
    c.goto(&format!("{base}/console/datasets")).await.unwrap();
    click(&c, "#datasets a[href='/console/datasets/facts']").await;
    let versions = text(&c, "#dataset-versions").await;
    let rows: Vec<&str> = versions.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{versions}");
    assert!(rows[0].contains(" 2 active ") && rows[1].contains(" 1 inactive "), "newest first: {versions}");
    screenshot(&c, "dataset").await;

    // A query through the Query Service, and a refused one beside its SQL.
    c.goto(&format!("{base}/console/query")).await.unwrap();
    let sql = c.find(Locator::Css("#sql")).await.unwrap();
    sql.clear().await.unwrap();
    sql.send_keys("SELECT 6 * 7 AS answer").await.unwrap();
    click(&c, "#run-query").await;
    assert!(text(&c, "#query-result").await.contains("42"));
    let sql = c.find(Locator::Css("#sql")).await.unwrap();
    sql.clear().await.unwrap();
    sql.send_keys("DROP TABLE facts").await.unwrap();
    click(&c, "#run-query").await;
    assert!(!text(&c, "#query-problem").await.is_empty());

    c.goto(&format!("{base}/console/usage")).await.unwrap();
    c.find(Locator::Css("#usage-chart rect.bar")).await.unwrap();
    assert!(text(&c, "#usage").await.contains("src"));
    screenshot(&c, "usage").await;
    sign_out(&c).await;
    assert_eq!(path(&c).await, "/console/login");

    // Another org's admin sees none of it; its ids read as missing.
    sign_in(&c, &base, &d.outsider).await;
    assert_eq!(text(&c, "#count-failed .n").await, "0");
    c.goto(&format!("{base}/console/tasks/{}", d.failed_task)).await.unwrap();
    assert!(text(&c, "#problem").await.contains("does not exist"));
    c.goto(&format!("{base}/console/datasets/facts")).await.unwrap();
    assert!(text(&c, "#problem").await.contains("does not exist"));
    c.goto(&format!("{base}/console/dags")).await.unwrap();
    assert!(!text(&c, "#dag-versions").await.contains("prod"));
    sign_out(&c).await;

    // A viewer of acme sees the versions but no button to switch them, and
    // not the private dataset.
    sign_in(&c, &base, &d.viewer).await;
    c.goto(&format!("{base}/console/dags")).await.unwrap();
    assert!(text(&c, "#dag-versions").await.contains("prod"));
    assert!(c.find(Locator::Css("#rollback-prod")).await.is_err(), "no rollback button for a viewer");
    c.goto(&format!("{base}/console/datasets")).await.unwrap();
    assert!(text(&c, "#datasets").await.contains("no dataset you may read"));
    c.close().await.unwrap();
}

/// A form post from another site is refused even with the cookie, and
/// every page forbids scripts and framing.
#[tokio::test]
async fn posts_from_other_origins_are_refused_and_pages_allow_no_script() {
    let d = deployment().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cookie = format!("trace_console={}", d.admin);
    let forged = http
        .post(format!("{}/console/dags/prod/cutover", d.base))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .form(&[("version", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(d.db.dag_versions(1).await.unwrap()[0].state, VersionState::Staged, "nothing changed");
    let page = http.get(format!("{}/console/dags", d.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"), "{csp}");
    assert!(page.text().await.unwrap().contains("Cut over to v2"));
    // Hostile text is escaped, not markup: the task error's script tag.
    let overview = http.get(format!("{}/console", d.base)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !overview.contains("<script>"), "{overview}");
    let login = http.post(format!("{}/console/login", d.base)).form(&[("token", "x".repeat(300))]).send().await.unwrap();
    assert_eq!(login.status(), 400, "an over-long token is refused with its bound");
    assert!(login.text().await.unwrap().contains("1 to 256"));
}
