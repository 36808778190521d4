//! Alerts from the command line: destinations (webhook URL and a
//! write-only signing secret read from stdin), deliveries (list, show with
//! attempts, retry a failed one), and `trace delivery`, a Delivery Service
//! process of its own.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::watch;
use trace_delivery::{DeliveryConfig, DeliveryService, WebhookSecret};
use trace_store::{now_millis, Deliveries, DestinationSpec, DELIVERY_STATES};

use crate::target::{actor, block_on, open, org, Target};

/// Most bytes of a signing secret read from stdin.
const MAX_SECRET_INPUT: u64 = 1024;

#[derive(Debug, clap::Subcommand)]
pub enum DestinationCommand {
    /// Create or replace a webhook destination. The signing secret
    /// (`whsec_` and base64 of 24 to 64 bytes) is read from stdin, sealed
    /// with TRACE_SECRET_KEY and never shown again. With --generate, a new secret is made
    /// and printed once, for the receiver's configuration.
    Set {
        name: String,
        /// The webhook URL (http:// or https://).
        #[arg(long)]
        url: String,
        /// Make a new secret instead of reading one from stdin.
        #[arg(long)]
        generate: bool,
        /// Most webhooks to this destination in flight at once (per sender).
        #[arg(long, default_value_t = 4)]
        max_in_flight: u32,
        /// Most webhooks to this destination a minute (per sender).
        #[arg(long, default_value_t = 600)]
        per_minute: u32,
        #[command(flatten)]
        target: Target,
    },
    /// List destinations (never their secrets).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Remove a destination; deliveries routed to it then fail, named.
    Rm {
        name: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum DeliveriesCommand {
    /// The newest deliveries, optionally in one state.
    List {
        /// pending, delivered, failed or suppressed.
        #[arg(long, value_parser = DELIVERY_STATES)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        target: Target,
    },
    /// One delivery with every attempt: status code and the answer's start.
    Show {
        id: i64,
        #[command(flatten)]
        target: Target,
    },
    /// Send a failed delivery again, with a fresh retry schedule.
    Retry {
        id: i64,
        #[command(flatten)]
        target: Target,
    },
}

/// `trace delivery`: a Delivery Service process.
#[derive(Debug, clap::Args)]
pub struct DeliveryArgs {
    /// System database: `sqlite:PATH` or `postgres://…`.
    #[arg(long, env = "TRACE_DB", default_value = "sqlite:trace.db")]
    pub db: String,
    /// One attempt's time limit, in seconds (a lease lasts three of them).
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    /// Name in leases and attempt records [default: delivery-PID].
    #[arg(long)]
    pub name: Option<String>,
}

pub fn destination(command: DestinationCommand) -> anyhow::Result<ExitCode> {
    match command {
        DestinationCommand::Set { name, url, generate, max_in_flight, per_minute, target } => {
            trace_delivery::destination::check(&name, &url, max_in_flight, per_minute)?;
            let key = trace_secrets::SecretKey::from_env()?;
            let secret = if generate {
                WebhookSecret::generate()
            } else {
                let mut text = String::new();
                std::io::stdin().take(MAX_SECRET_INPUT).read_to_string(&mut text).context("reading the signing secret from stdin")?;
                WebhookSecret::parse(text.trim()).context("the signing secret read from stdin")?
            };
            block_on(async {
                let db = open(&target).await?;
                let org = org(&db, &target).await?;
                let sealed = trace_delivery::destination::seal_secret(&key, org, &name, &secret)?;
                let spec = DestinationSpec { name: &name, url: &url, secret: &sealed, max_in_flight, per_minute };
                db.set_destination(org, &spec, &actor(), now_millis()).await?;
                println!("destination `{name}` -> {url}");
                if generate {
                    println!("signing secret (shown once; configure your receiver with it): {}", secret.expose());
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        DestinationCommand::List { target } => block_on(async {
            let db = open(&target).await?;
            let org = org(&db, &target).await?;
            println!("{:<20} {:>9} {:>10}  url", "name", "in flight", "per minute");
            for d in db.destinations(org).await? {
                println!("{:<20} {:>9} {:>10}  {}", d.name, d.max_in_flight, d.per_minute, d.url);
            }
            Ok(ExitCode::SUCCESS)
        }),
        DestinationCommand::Rm { name, target } => block_on(async {
            let db = open(&target).await?;
            let org = org(&db, &target).await?;
            db.delete_destination(org, &name, &actor(), now_millis()).await?;
            println!("destination `{name}` removed");
            Ok(ExitCode::SUCCESS)
        }),
    }
}

fn when(ms: Option<i64>) -> String {
    ms.map_or("-".into(), |ms| {
        let secs = (ms - now_millis()) / 1000;
        if secs >= 0 { format!("in {secs}s") } else { format!("{}s ago", -secs) }
    })
}

pub fn deliveries(command: DeliveriesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeliveriesCommand::List { state, limit, target } => block_on(async {
            let db = open(&target).await?;
            let org = org(&db, &target).await?;
            println!("{:>8}  {:<10} {:<16} {:>8}  {:<9} {:<28} reason", "id", "state", "destination", "attempts", "next", "alert");
            for d in db.deliveries(org, state.as_deref(), limit).await? {
                println!(
                    "{:>8}  {:<10} {:<16} {:>8}  {:<9} {:<28} {}",
                    d.id, d.status, d.destination, d.attempts, when(d.next_attempt_at), d.alert_key, d.reason.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }),
        DeliveriesCommand::Show { id, target } => block_on(async {
            let db = open(&target).await?;
            let org = org(&db, &target).await?;
            let Some((d, attempts)) = db.delivery(org, id).await? else { bail!("delivery {id} does not exist in org `{}`", target.org) };
            println!("delivery {} ({}): {} to `{}`", d.id, d.webhook_id, d.status, d.destination);
            println!("alert {} ({}, event_time {}), routed by `{}`", d.alert_key, d.severity, d.event_time, d.writer_job);
            if let Some(r) = &d.reason {
                println!("reason: {r}");
            }
            if d.status == "pending" {
                println!("next attempt: {}", when(d.next_attempt_at));
            }
            for a in attempts {
                let status = a.status_code.map_or("-".to_owned(), |s| s.to_string());
                println!("  attempt {}: {} HTTP {status} in {} ms by {}: {}", a.attempt, a.outcome, a.duration_ms, a.sender, a.excerpt.unwrap_or_default());
            }
            Ok(ExitCode::SUCCESS)
        }),
        DeliveriesCommand::Retry { id, target } => block_on(async {
            let db = open(&target).await?;
            let org = org(&db, &target).await?;
            db.retry_delivery(org, id, &actor(), now_millis()).await?;
            println!("delivery {id}: pending again, due now");
            Ok(ExitCode::SUCCESS)
        }),
    }
}

pub fn delivery(args: DeliveryArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let db = Arc::new(crate::system_db::open_and_migrate(&args.db).await?);
        let name = args.name.unwrap_or_else(|| format!("delivery-{}", std::process::id()));
        let timeout = std::time::Duration::from_secs(args.timeout_secs.max(1));
        let config = DeliveryConfig { timeout, lease: timeout * 3, ..DeliveryConfig::new(name.clone()) };
        let key = Arc::new(trace_secrets::SecretKey::from_env().context("the Delivery Service opens destinations' signing secrets with it")?);
        let service = Arc::new(DeliveryService::new(db, key, config).context("starting the delivery service")?);
        let (stop, stopped) = watch::channel(false);
        let running = tokio::spawn(service.run(stopped));
        println!("trace delivery `{name}` running");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing a SIGTERM handler")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = stop.send(true);
        running.await.context("the delivery service panicked")?;
        eprintln!("trace delivery stopped");
        Ok(ExitCode::SUCCESS)
    })
}
