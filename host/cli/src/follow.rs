//! `trace follow`: live mode for a chain source. It asks the job's RPC
//! endpoint for the head (through the job's own `rpc:` settings and its
//! pool's first slot, with that slot's secrets opened here, on the host),
//! and triggers every full chunk whose last block is at least
//! `--confirmations` below it, as `follow-START-END` runs: the same command
//! again, or a restarted one, picks up where the furthest triggered chunk
//! ends and triggers nothing twice.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use trace_rpc::HttpRpc;
use trace_store::{now_millis, SlotLeases, Store};

use crate::target::{block_on, job_of, open, org, Target};

/// Most chunks one poll triggers (a follower far behind catches up over
/// several polls instead of one huge transaction).
pub const MAX_CHUNKS_PER_POLL: u64 = 1_000;
/// Largest confirmation depth.
pub const MAX_CONFIRMATIONS: u64 = 100_000;

#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// DAG name.
    pub dag: String,
    /// Source job name (it needs an `rpc:` block).
    pub job: String,
    /// Blocks per chunk (one source task each).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk: u64,
    /// Where to start when nothing was followed before [default: 0].
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Only chunks whose last block is at least this many blocks below the
    /// head are triggered (reorg safety; match the source's own setting).
    #[arg(long, default_value_t = 0)]
    pub confirmations: u64,
    /// Time between looks at the head.
    #[arg(long, default_value = "2s", value_parser = trace_core::units::parse_duration)]
    pub poll: Duration,
    /// Stop once chunks up to this block are triggered.
    #[arg(long)]
    pub until: Option<u64>,
    /// The JSON-RPC method that answers the head block number (hex).
    #[arg(long, default_value = "eth_blockNumber")]
    pub head_method: String,
    #[command(flatten)]
    pub target: Target,
}

/// The full chunks of `chunk` blocks from `next` that end at or before
/// `ready` (and `until`), at most [`MAX_CHUNKS_PER_POLL`].
pub fn due(next: u64, ready: u64, chunk: u64, until: Option<u64>) -> Vec<(u64, u64)> {
    let limit = until.map_or(ready, |u| u.min(ready));
    let mut out = Vec::new();
    let mut start = next;
    while start + chunk <= limit && (out.len() as u64) < MAX_CHUNKS_PER_POLL {
        out.push((start, start + chunk));
        start += chunk;
    }
    out
}

fn head_of(reply: &str) -> anyhow::Result<u64> {
    let text: String = serde_json::from_str(reply).context("the head is not a JSON string")?;
    u64::from_str_radix(text.trim_start_matches("0x"), 16).with_context(|| format!("the head {text:?} is not a hex quantity"))
}

pub fn run(args: FollowArgs) -> anyhow::Result<ExitCode> {
    if args.confirmations > MAX_CONFIRMATIONS {
        bail!("--confirmations must be at most {MAX_CONFIRMATIONS}, got {}", args.confirmations);
    }
    if !trace_protocol::rpc::is_method_name(&args.head_method) {
        bail!("--head-method {:?} is not a method name", args.head_method);
    }
    block_on(async {
        let db = open(&args.target).await?;
        let org = org(&db, &args.target).await?;
        let started = Instant::now();
        let job = job_of(&db, org, &args.target, &args.dag, &args.job, None).await?;
        let (settings, lease) = db.job_slot(job, 0).await?;
        let settings = settings.with_context(|| format!("job `{}` has no `rpc:` block to reach its endpoint with", args.job))?;
        let key = match lease.secrets.is_empty() {
            true => None,
            false => Some(trace_secrets::SecretKey::from_env().context("the job's slot names secrets, sealed with it")?),
        };
        let grant = lease.open(|org, name, sealed| trace_secrets::open_text(key.as_ref(), org, name, sealed)).map_err(anyhow::Error::msg)?;
        let rpc = HttpRpc::new(&settings, &grant, trace_rpc::http_client()?).context("the job's rpc settings")?;
        let mut next = db.followed_to(job).await?.map_or(args.from, |end| end.max(args.from));
        println!("following `{}.{}` from block {next} in chunks of {}, {} confirmation(s)", args.dag, args.job, args.chunk, args.confirmations);
        loop {
            let deadline = Instant::now() + Duration::from_secs(30);
            match rpc.call(&args.head_method, "[]", deadline).await.map_err(anyhow::Error::msg).and_then(|r| head_of(&r)) {
                Err(e) => eprintln!("[{:>7.1}s] the head is unknown for now: {e:#}", started.elapsed().as_secs_f64()),
                Ok(head) => {
                    // Blocks below `ready` are `confirmations` deep.
                    let ready = (head + 1).saturating_sub(args.confirmations);
                    let runs = due(next, ready, args.chunk, args.until);
                    if let Some(&(_, end)) = runs.last() {
                        // The active version's job, as of now (a cutover moves the follower along).
                        let job = job_of(&db, org, &args.target, &args.dag, &args.job, None).await?;
                        let named: Vec<(String, (u64, u64))> = runs.iter().map(|&(s, e)| (format!("follow-{s}-{e}"), (s, e))).collect();
                        let triggered = db.trigger_many(job, &named, &crate::target::actor(), now_millis()).await.context("triggering chunks")?;
                        let new = triggered.iter().filter(|i| !i.duplicate).count();
                        println!("[{:>7.1}s] head {head}: triggered {next}..{end} ({new} new chunk(s))", started.elapsed().as_secs_f64());
                        next = end;
                    }
                }
            }
            if args.until.is_some_and(|u| next + args.chunk > u) {
                println!("followed to block {next}; --until {} reached", args.until.unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            tokio::time::sleep(args.poll).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_deep_chunks_are_due() {
        assert_eq!(due(0, 25, 10, None), vec![(0, 10), (10, 20)]);
        assert_eq!(due(20, 25, 10, None), vec![]);
        assert_eq!(due(0, 100, 10, Some(35)), vec![(0, 10), (10, 20), (20, 30)]);
        assert_eq!(due(0, u64::MAX / 2, 1, None).len() as u64, MAX_CHUNKS_PER_POLL);
        assert_eq!(head_of("\"0x2a\"").unwrap(), 42);
        assert!(head_of("42").is_err());
    }
}
