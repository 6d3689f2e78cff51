//! `breakwater bank`: signal banks from the command line, on the service's database.

use crate::serve::DatabaseArgs;
use crate::UsageError;
use anyhow::Context;
use breakwater_core::{Category, MatchVerdict, Signal, SignalKind};
use breakwater_matcher::{parse_signal_file, FileFormat};
use breakwater_store::{BankPatch, NewBank, NewSignal, Store};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BankTarget {
    /// The organisation that owns the bank.
    #[arg(long)]
    org: i64,
    #[command(flatten)]
    db: DatabaseArgs,
}

#[derive(clap::Subcommand)]
pub enum BankCommand {
    /// Create a bank.
    Create {
        name: String,
        /// Label of its signals (e.g. smuggling_service).
        #[arg(long)]
        category: Option<String>,
        /// What a match means: review (default) or violating.
        #[arg(long, default_value = "review")]
        verdict: String,
        /// PDQ distance at or under which an image matches.
        #[arg(long, default_value_t = breakwater_store::DEFAULT_PDQ_THRESHOLD)]
        pdq_threshold: u32,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        target: BankTarget,
    },
    /// List the organisation's banks with their signal counts.
    List {
        #[command(flatten)]
        target: BankTarget,
    },
    /// Import signals from a CSV or JSON file (all or nothing).
    Import {
        name: String,
        file: PathBuf,
        /// The kind of every value of a header-less list (e.g. a file of MD5 hashes).
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        target: BankTarget,
    },
    /// Add one signal.
    Add {
        name: String,
        kind: String,
        value: String,
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[command(flatten)]
        target: BankTarget,
    },
    /// Remove one signal.
    Remove {
        name: String,
        kind: String,
        value: String,
        #[command(flatten)]
        target: BankTarget,
    },
    /// Which banks hold a signal.
    Lookup {
        kind: String,
        value: String,
        #[command(flatten)]
        target: BankTarget,
    },
    /// Enable or disable a bank.
    Enable {
        name: String,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        on: bool,
        #[command(flatten)]
        target: BankTarget,
    },
    /// Set who may pull a bank over TAXII and under which TLP.
    Share {
        name: String,
        /// Audience: `*`, `group:<name>`, `org:<id>`, comma-separated; `""` for nobody.
        #[arg(long = "with")]
        with: Option<String>,
        /// clear, green, amber, amber+strict or red.
        #[arg(long)]
        tlp: Option<String>,
        /// Partners' disputes after which a signal stops matching; 0: never.
        #[arg(long)]
        dispute_limit: Option<u32>,
        #[command(flatten)]
        target: BankTarget,
    },
    /// Put the organisation in a share group (banks shared with `group:<name>`).
    JoinGroup {
        group: String,
        #[command(flatten)]
        target: BankTarget,
    },
    /// Write a bank's signals as CSV (the import format) to stdout.
    Export {
        name: String,
        #[command(flatten)]
        target: BankTarget,
    },
}

const ACTOR: &str = "cli";

fn signal(kind: &str, value: &str) -> anyhow::Result<Signal> {
    let kind: SignalKind = kind.parse().map_err(|e| UsageError(format!("{e}")))?;
    Ok(Signal::parse(kind, value).map_err(|e| UsageError(e.to_string()))?)
}

fn category(c: Option<&str>) -> anyhow::Result<Option<Category>> {
    Ok(
        c.map(|c| c.parse::<Category>().map_err(|e| UsageError(e.to_string())))
            .transpose()?,
    )
}

pub fn run(cmd: BankCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_async(cmd))
}

async fn open(t: &BankTarget) -> anyhow::Result<(Store, i64)> {
    let store = t.db.open().await?;
    if store.organisation(t.org).await?.is_none() {
        return Err(UsageError(format!("there is no organisation {}", t.org)).into());
    }
    Ok((store, t.org))
}

async fn run_async(cmd: BankCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BankCommand::Create {
            name,
            category: c,
            verdict,
            pdq_threshold,
            description,
            target,
        } => {
            let verdict: MatchVerdict = verdict.parse().map_err(UsageError)?;
            let (store, org) = open(&target).await?;
            let new = NewBank {
                name,
                description,
                category: category(c.as_deref())?,
                verdict,
                pdq_threshold,
                expires_at: None,
                ..NewBank::named("")
            };
            let bank = store.create_bank(org, &new, ACTOR).await?;
            println!("created bank {} (id {})", bank.name, bank.id);
        }
        BankCommand::List { target } => {
            let (store, org) = open(&target).await?;
            let now = breakwater_store::now_ms();
            println!("name\tactive\tverdict\tpdq_threshold\tsignals");
            for bank in store.banks(org).await? {
                let counts = store.bank_counts(org, bank.id).await?;
                let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    bank.name,
                    bank.is_active(now),
                    bank.verdict.as_str(),
                    bank.pdq_threshold,
                    counts.join(",")
                );
            }
        }
        BankCommand::Import {
            name,
            file,
            kind,
            target,
        } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?;
            let kind = kind
                .map(|k| {
                    k.parse::<SignalKind>()
                        .map_err(|e| UsageError(e.to_string()))
                })
                .transpose()?;
            let records =
                parse_signal_file(&bytes, FileFormat::guess(&file.to_string_lossy()), kind)
                    .with_context(|| format!("reading {}", file.display()))?;
            let signals: Vec<NewSignal> = records
                .into_iter()
                .map(|r| NewSignal {
                    signal: r.signal,
                    category: r.category,
                    source: r.source,
                    note: r.note,
                    expires_at: r.expires_at,
                    origin: None,
                })
                .collect();
            let (store, org) = open(&target).await?;
            let mut added = 0;
            let mut updated = 0;
            for chunk in signals.chunks(breakwater_store::MAX_SIGNALS_PER_ADD) {
                let report = store.add_signals(org, &name, chunk, ACTOR).await?;
                added += report.added;
                updated += report.updated;
            }
            println!("{name}: {added} added, {updated} updated");
        }
        BankCommand::Add {
            name,
            kind,
            value,
            source,
            category: c,
            target,
        } => {
            let mut new = NewSignal::new(signal(&kind, &value)?);
            new.source = source;
            new.category = category(c.as_deref())?;
            let (store, org) = open(&target).await?;
            let report = store.add_signals(org, &name, &[new], ACTOR).await?;
            println!("{name}: {} added, {} updated", report.added, report.updated);
        }
        BankCommand::Remove {
            name,
            kind,
            value,
            target,
        } => {
            let s = signal(&kind, &value)?;
            let (store, org) = open(&target).await?;
            store.remove_signal(org, &name, &s, ACTOR).await?;
            println!("{name}: removed {s}");
        }
        BankCommand::Lookup {
            kind,
            value,
            target,
        } => {
            let s = signal(&kind, &value)?;
            let (store, org) = open(&target).await?;
            let banks = store.banks(org).await?;
            let found = store.lookup_signal(org, &s).await?;
            if found.is_empty() {
                println!("{s}: in no bank");
                return Ok(ExitCode::from(3));
            }
            for entry in found {
                let bank = banks.iter().find(|b| b.id == entry.bank_id);
                println!(
                    "{s}\t{}\t{}",
                    bank.map_or("?", |b| b.name.as_str()),
                    entry.source.as_deref().unwrap_or("")
                );
            }
        }
        BankCommand::Enable { name, on, target } => {
            let (store, org) = open(&target).await?;
            let patch = BankPatch {
                enabled: Some(on),
                ..BankPatch::default()
            };
            let bank = store.update_bank(org, &name, &patch, ACTOR).await?;
            println!("{}: enabled = {}", bank.name, bank.enabled);
        }
        BankCommand::Share {
            name,
            with,
            tlp,
            dispute_limit,
            target,
        } => {
            let (store, org) = open(&target).await?;
            let patch = BankPatch {
                share_with: with,
                tlp,
                dispute_limit,
                ..BankPatch::default()
            };
            let bank = store.update_bank(org, &name, &patch, ACTOR).await?;
            println!(
                "{}: TLP:{} shared with `{}`, dispute limit {}",
                bank.name,
                bank.tlp.to_uppercase(),
                bank.share_with,
                bank.dispute_limit
            );
        }
        BankCommand::JoinGroup { group, target } => {
            let (store, org) = open(&target).await?;
            store.join_group(org, &group).await?;
            println!("organisation {org} is in group {group}");
        }
        BankCommand::Export { name, target } => {
            let (store, org) = open(&target).await?;
            let bank = store
                .bank_by_name(org, &name)
                .await?
                .ok_or_else(|| UsageError(format!("there is no bank `{name}`")))?;
            let mut out = csv::Writer::from_writer(std::io::stdout().lock());
            out.write_record(["kind", "value", "category", "source", "note", "expires_at"])?;
            let mut cursor: Option<String> = None;
            loop {
                let page = store
                    .list_signals(org, bank.id, None, cursor.as_deref(), 1000)
                    .await?;
                for s in &page.items {
                    out.write_record([
                        s.kind.as_str(),
                        &s.value,
                        s.category.map_or("", |c| c.as_str()),
                        s.source.as_deref().unwrap_or(""),
                        s.note.as_deref().unwrap_or(""),
                        &s.expires_at.map(|t| t.to_string()).unwrap_or_default(),
                    ])?;
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
