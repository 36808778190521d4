//! Datasets: list them, their partitions, purge a version, repair files a
//! crash left staged; and pushing operator components to storage.

use std::process::ExitCode;

use anyhow::{bail, Context};
use trace_store::{now_millis, Lifecycle, Registry};

use crate::target::{actor, block_on, open, org, Target};

/// `trace datasets`
pub fn datasets(t: &Target) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        println!("{:<28} {:<36} {:<30} {:<36} read_roles", "dataset", "uuid", "producer", "version");
        for d in db.datasets(org).await? {
            println!(
                "{:<28} {:<36} {:<30} {:<36} {}",
                d.name,
                d.uuid,
                format!("{}.{}[{}]", d.dag, d.producer_job, d.output_index),
                d.version.as_deref().unwrap_or("-"),
                if d.read_roles.is_empty() { "(private)".to_owned() } else { d.read_roles.join(",") }
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace dataset partitions NAME`
pub fn partitions(t: &Target, dataset: &str) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        if !db.datasets(org).await?.iter().any(|d| d.name == dataset) {
            bail!("org `{}` has no dataset `{dataset}`", t.org);
        }
        let parts = db.partitions(org, dataset).await?;
        let (rows, bytes): (u64, u64) = parts.iter().fold((0, 0), |(r, b), p| (r + p.rows, b + p.bytes));
        println!("{:<24} {:>12} {:>12}  object", "partition", "rows", "bytes");
        for p in &parts {
            println!("{:<24} {:>12} {:>12}  {}", p.partition_key, p.rows, p.bytes, p.object_key);
        }
        println!("{} partition(s), {rows} row(s), {}", parts.len(), trace_core::units::human_bytes(bytes));
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace dataset purge NAME --version UUID --storage URL`
pub fn purge(t: &Target, dataset: &str, version: &str, storage: &str) -> anyhow::Result<ExitCode> {
    let storage = crate::distributed::open_storage(storage, "us-east-1")?;
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        // Registry first: once the rows are gone nothing reads the files.
        let purged = db.purge_version(org, dataset, version, &actor(), now_millis()).await?;
        let prefix = trace_storage::paths::version_prefix(org, &purged.dataset_uuid, &purged.version_uuid)?;
        let deleted = storage.delete_prefix(&prefix).await.with_context(|| format!("deleting the files under {prefix}"))?;
        println!(
            "purged `{dataset}` version {version}: {} partition(s) unregistered, {deleted} file(s) deleted from {}",
            purged.object_keys.len(),
            storage.location()
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace dataset repair --storage URL`: every committed file at its final
/// key, and staged files of attempts that died before committing deleted.
pub fn repair(t: &Target, storage: &str) -> anyhow::Result<ExitCode> {
    let storage = crate::distributed::open_storage(storage, "us-east-1")?;
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let swept = trace_control::janitor::sweep_org(&db, &storage, org).await.context("sweeping staged files")?;
        let files = db.partition_files(org).await?;
        let r = trace_control::outputs::repair(&storage, &files).await.context("checking partition files")?;
        println!(
            "{} partition file(s): {} in place, {} promoted from staging, {} missing",
            files.len(),
            r.in_place,
            r.promoted + swept.promoted,
            r.lost.len()
        );
        println!("staged files: {} deleted (their attempts died before committing), {} of running attempts kept", swept.deleted, swept.live);
        for lost in &r.lost {
            println!("  missing: {lost}");
        }
        Ok(if r.lost.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

/// `trace op push FILE --storage URL`
pub fn push_operator(file: &std::path::Path, storage: &str) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    // Refuse here what workers would refuse to load.
    let runtime = trace_sandbox::Runtime::new(trace_sandbox::RuntimeConfig::default()).map_err(|e| anyhow::anyhow!("starting the sandbox: {e}"))?;
    let world = [trace_sandbox::World::Transform, trace_sandbox::World::Source]
        .into_iter()
        .find(|w| runtime.load(&bytes, *w).is_ok());
    if world.is_none() {
        let why = runtime.load(&bytes, trace_sandbox::World::Source).err().map(|e| e.to_string()).unwrap_or_default();
        bail!("{} is not a component Trace accepts: {why}", file.display());
    }
    let storage = crate::distributed::open_storage(storage, "us-east-1")?;
    let digests = block_on(async { storage.put_operator(&bytes).await.context("storing the component") })?;
    println!("sha256:{}", digests.sha256);
    eprintln!("stored {} ({} bytes) in {}; blake3 {}", file.display(), bytes.len(), storage.location(), digests.blake3);
    Ok(ExitCode::SUCCESS)
}
