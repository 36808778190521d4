//! Opening the system database for the long-running processes (`trace
//! server`, `trace delivery`): they wait for a database that is restarting
//! or not up yet, as an orchestrator starting everything at once needs,
//! rather than exiting.

use std::time::{Duration, Instant};

use anyhow::Context;
use trace_store::{Db, Store};

/// How long a starting process waits for its database before giving up.
pub const DB_WAIT: Duration = Duration::from_secs(60);

/// Open and migrate the system database at `url`, waiting up to
/// [`DB_WAIT`] while it is unreachable.
pub async fn open_and_migrate(url: &str) -> anyhow::Result<Db> {
    let started = Instant::now();
    let mut said = false;
    loop {
        let opened = match Db::open(url).await {
            Ok(db) => db.migrate().await.map(|()| db),
            Err(e) => Err(e),
        };
        match opened {
            Ok(db) => return Ok(db),
            Err(e) if e.is_unavailable() && started.elapsed() < DB_WAIT => {
                if !said {
                    eprintln!("waiting for the system database at {} (up to {}s): {e}", redacted(url), DB_WAIT.as_secs());
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("opening the system database {}", redacted(url))),
        }
    }
}

/// `url` with any password in it replaced, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redacted("postgres://app:s3cr:et@db.internal:5432/trace"), "postgres://app:***@db.internal:5432/trace");
        assert_eq!(redacted("postgres://app@db/trace"), "postgres://app@db/trace");
        assert_eq!(redacted("sqlite:trace.db"), "sqlite:trace.db");
    }
}
