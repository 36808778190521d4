//! `trace secret`: org secrets, write-only. A value is read from stdin,
//! sealed with the deployment's key (`TRACE_SECRET_KEY` or
//! `TRACE_SECRET_KEY_FILE`) and stored; nothing ever prints it back.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use trace_secrets::{SecretKey, MAX_VALUE_BYTES};
use trace_store::{now_millis, Secrets};

use crate::target::{actor, block_on, open, org, Target};

#[derive(Debug, clap::Subcommand)]
pub enum SecretCommand {
    /// Set secret NAME to the value read from stdin (trailing newline
    /// removed), sealed with TRACE_SECRET_KEY. DAG slots refer to it by
    /// name in `secret_env`.
    Set {
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the org's secrets: names and when they changed, never values.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Remove a secret (deploying a DAG that names it fails from then on).
    Rm {
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print a new random key for TRACE_SECRET_KEY (keep it like a password:
    /// without it no stored secret opens).
    NewKey,
}

fn read_value() -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    let mut value = zeroize::Zeroizing::new(Vec::new());
    std::io::stdin().take(MAX_VALUE_BYTES as u64 + 2).read_to_end(&mut value).context("reading the secret's value from stdin")?;
    while value.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        value.pop();
    }
    Ok(value)
}

pub fn run(command: SecretCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretCommand::Set { name, target } => {
            trace_secrets::check_name(&name)?;
            let key = SecretKey::from_env()?;
            let value = read_value()?;
            block_on(async {
                let db = open(&target).await?;
                let org = org(&db, &target).await?;
                let sealed = key.seal(org, &name, &value)?;
                db.set_secret(org, &name, &sealed, &actor(), now_millis()).await?;
                println!("secret `{name}` set ({} bytes)", value.len());
                Ok(ExitCode::SUCCESS)
            })
        }
        SecretCommand::List { target } => block_on(async {
            let db = open(&target).await?;
            let org = org(&db, &target).await?;
            println!("{:<40} updated", "name");
            for s in db.secrets(org).await? {
                println!("{:<40} {}", s.name, s.updated_at);
            }
            Ok(ExitCode::SUCCESS)
        }),
        SecretCommand::Rm { name, target } => block_on(async {
            let db = open(&target).await?;
            let org = org(&db, &target).await?;
            db.delete_secret(org, &name, &actor(), now_millis()).await?;
            println!("secret `{name}` removed");
            Ok(ExitCode::SUCCESS)
        }),
        SecretCommand::NewKey => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                eprintln!("a new key for {}; store it where the servers can read it:", trace_secrets::KEY_ENV);
            }
            println!("{}", SecretKey::generate().to_base64());
            Ok(ExitCode::SUCCESS)
        }
    }
}
