//! Users, API tokens and the audit log.

use std::process::ExitCode;

use anyhow::bail;
use trace_store::{now_millis, Registry, Role};

use crate::target::{actor, block_on, open, org, org_or_create, Target};

/// `trace user add NAME --role ROLE` (creates the org if needed, so the first
/// admin can be made before any deploy).
pub fn add_user(t: &Target, name: &str, role: &str) -> anyhow::Result<ExitCode> {
    let role = Role::parse(role).map_err(anyhow::Error::msg)?;
    block_on(async {
        let db = open(t).await?;
        let now = now_millis();
        let org = org_or_create(&db, t, now).await?;
        db.create_user(org, name, role, &actor(), now).await?;
        println!("user `{name}` ({}) added to org `{}`", role.as_str(), t.org);
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace token create USER`: prints the token once.
pub fn create_token(t: &Target, user: &str, label: &str) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let Some(id) = db.user(org, user).await? else {
            bail!("org `{}` has no user `{user}` (add one with `trace user add`)", t.org);
        };
        let token = db.create_token(id, label, &actor(), now_millis()).await?;
        eprintln!("API token for `{user}` (shown once; only its hash is stored):");
        println!("{token}");
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace token revoke USER`
pub fn revoke_tokens(t: &Target, user: &str) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        let org = org(&db, t).await?;
        let Some(id) = db.user(org, user).await? else {
            bail!("org `{}` has no user `{user}`", t.org);
        };
        let n = db.revoke_tokens(id, &actor(), now_millis()).await?;
        println!("revoked {n} token(s) of `{user}`");
        Ok(ExitCode::SUCCESS)
    })
}

/// `trace audit`
pub fn audit(t: &Target, limit: u32) -> anyhow::Result<ExitCode> {
    block_on(async {
        let db = open(t).await?;
        for e in db.audit_tail(limit).await?.into_iter().rev() {
            println!("{:>14}  {:<20} {:<18} {}", e.at, e.actor, e.action, e.detail);
        }
        Ok(ExitCode::SUCCESS)
    })
}
