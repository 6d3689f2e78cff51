//! `breakwater exchange`: share banks with partners over TAXII 2.1.

use crate::serve::DatabaseArgs;
use crate::UsageError;
use anyhow::Context;
use breakwater_core::{Signal, SignalKind};
use breakwater_server::exchange::{self, auth_from};
use breakwater_share::client::TaxiiClient;
use breakwater_store::{Feedback, Store};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Partner {
    /// The partner's TAXII API root, e.g. `https://partner.example/taxii2/api/`.
    #[arg(long)]
    url: String,
    /// An API key the partner issued to us.
    #[arg(long, env = "BREAKWATER_PARTNER_KEY", conflicts_with = "user")]
    key: Option<String>,
    /// HTTP Basic user (with --password) instead of a key.
    #[arg(long, requires = "password")]
    user: Option<String>,
    #[arg(long, env = "BREAKWATER_PARTNER_PASSWORD")]
    password: Option<String>,
}

impl Partner {
    fn credentials(&self) -> anyhow::Result<String> {
        match (&self.key, &self.user, &self.password) {
            (Some(k), _, _) => Ok(format!("key:{k}")),
            (None, Some(u), Some(p)) => Ok(format!("basic:{u}:{p}")),
            _ => Err(UsageError("give --key, or --user and --password".into()).into()),
        }
    }
}

#[derive(clap::Subcommand)]
pub enum ExchangeCommand {
    /// List the collections a partner shares with us.
    Collections {
        #[command(flatten)]
        partner: Partner,
    },
    /// Pull a partner's collection into a local bank now, and remember it as a feed that
    /// `serve` pulls on schedule. Without --url, pulls every feed of the organisation.
    Pull {
        #[arg(long)]
        org: i64,
        #[arg(long, requires_all = ["collection", "into"])]
        url: Option<String>,
        #[arg(long)]
        collection: Option<String>,
        /// The local bank the signals go to (created if missing, shared with nobody).
        #[arg(long)]
        into: Option<String>,
        #[arg(long, env = "BREAKWATER_PARTNER_KEY")]
        key: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Push one of our banks to a partner's collection.
    Push {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        bank: String,
        #[arg(long)]
        collection: String,
        #[command(flatten)]
        partner: Partner,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Write the lexicon's entries (terms, their category, kind, weight, language and
    /// sources) as a STIX 2.1 bundle of phrase indicators, for partners' detection.
    Lexicon {
        /// Our organisation's name, the indicators' owner.
        #[arg(long)]
        owner: String,
        /// Only this language's packs.
        #[arg(long)]
        lang: Option<String>,
        /// TLP of the bundle.
        #[arg(long, default_value = "green")]
        tlp: String,
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
    },
    /// Tell a partner what we think of one of its shared signals.
    Feedback {
        #[arg(long)]
        collection: String,
        /// The organisation that shared the signal (its STIX identity name).
        #[arg(long)]
        owner: String,
        kind: String,
        value: String,
        /// confirmed, false_positive or disputed.
        verdict: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        partner: Partner,
    },
}

pub fn run(data: Option<&std::path::Path>, cmd: ExchangeCommand) -> anyhow::Result<ExitCode> {
    if let ExchangeCommand::Lexicon {
        owner,
        lang,
        tlp,
        output,
    } = cmd
    {
        return lexicon(data, &owner, lang.as_deref(), &tlp, output.as_deref());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_async(cmd))
}

async fn org_store(db: &DatabaseArgs, org: i64) -> anyhow::Result<Store> {
    let store = db.open().await?;
    if store.organisation(org).await?.is_none() {
        return Err(UsageError(format!("there is no organisation {org}")).into());
    }
    Ok(store)
}

async fn run_async(cmd: ExchangeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ExchangeCommand::Collections { partner } => {
            let client = TaxiiClient::new(Some(auth_from(&partner.credentials()?)?));
            println!("id\tread\twrite\ttitle");
            for c in client.collections(&partner.url).await? {
                println!("{}\t{}\t{}\t{}", c.id, c.can_read, c.can_write, c.title);
            }
        }
        ExchangeCommand::Pull {
            org,
            url,
            collection,
            into,
            key,
            db,
        } => {
            let store = org_store(&db, org).await?;
            if let (Some(url), Some(collection), Some(into)) = (&url, &collection, &into) {
                let key = key.ok_or_else(|| UsageError("--url needs --key".into()))?;
                store
                    .upsert_feed(org, url, collection, into, &format!("key:{key}"))
                    .await?;
            }
            let feeds: Vec<_> = store
                .feeds()
                .await?
                .into_iter()
                .filter(|f| f.organisation_id == org)
                .filter(|f| url.as_ref().is_none_or(|u| *u == f.url))
                .filter(|f| collection.as_ref().is_none_or(|c| *c == f.collection))
                .collect();
            if feeds.is_empty() {
                return Err(UsageError(format!("organisation {org} has no feeds")).into());
            }
            let mut failed = false;
            for mut feed in feeds {
                match exchange::pull(&store, None, &mut feed).await {
                    Ok(r) => println!(
                        "{} {} → {}: {} objects in {} pages, {} added, {} updated, {} removed, {} our own skipped",
                        feed.url, feed.collection, feed.bank, r.objects, r.pages, r.added, r.updated, r.removed, r.own
                    ),
                    Err(e) => {
                        failed = true;
                        eprintln!("{} {}: {e}", feed.url, feed.collection);
                    }
                }
            }
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
        ExchangeCommand::Push {
            org,
            bank,
            collection,
            partner,
            db,
        } => {
            let store = org_store(&db, org).await?;
            let auth = auth_from(&partner.credentials()?)?;
            let status =
                exchange::push(&store, org, &bank, &partner.url, &collection, auth).await?;
            println!(
                "pushed {bank}: {} objects, {} accepted, {} refused",
                status.total_count, status.success_count, status.failure_count
            );
            for f in &status.failures {
                eprintln!("  {}: {}", f.id, f.message.as_deref().unwrap_or(""));
            }
            if status.failure_count > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        ExchangeCommand::Lexicon { .. } => unreachable!("handled without a runtime"),
        ExchangeCommand::Feedback {
            collection,
            owner,
            kind,
            value,
            verdict,
            note,
            partner,
        } => {
            let kind: SignalKind = kind.parse().map_err(|e| UsageError(format!("{e}")))?;
            let signal = Signal::parse(kind, &value).map_err(|e| UsageError(e.to_string()))?;
            let verdict: Feedback = verdict.parse().map_err(|_| {
                UsageError("verdict must be confirmed, false_positive or disputed".into())
            })?;
            let auth = auth_from(&partner.credentials()?)?;
            let status = exchange::send_feedback(
                &partner.url,
                &collection,
                auth,
                &owner,
                &signal,
                verdict,
                note.as_deref(),
            )
            .await?;
            if status.success_count == 1 {
                println!("feedback recorded by the partner");
            } else {
                let why = status
                    .failures
                    .first()
                    .and_then(|f| f.message.clone())
                    .unwrap_or_default();
                eprintln!("the partner refused the feedback: {why}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The lexicon as STIX: one phrase indicator per term, labelled with its language, pack and
/// indicator kind, with its category, and the pack's sources as provenance.
fn lexicon(
    data: Option<&std::path::Path>,
    owner: &str,
    lang: Option<&str>,
    tlp: &str,
    output: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use breakwater_share::stix::{bundle, to_objects};
    use breakwater_share::{SharedSignal, Timestamp, Tlp};
    let tlp: Tlp = tlp.parse().map_err(|e| UsageError(format!("{e}")))?;
    let dir = breakwater_pipeline::find_data_dir(data)?;
    let lexicon = breakwater_text::lexicon::Lexicon::load_dir(&dir.join("lexicons"))
        .with_context(|| format!("loading {}", dir.join("lexicons").display()))?;
    let packs = lexicon.packs();
    let now = Timestamp::now();
    let mut shared = Vec::new();
    for term in lexicon.terms() {
        let pack = &packs[term.pack];
        if lang.is_some_and(|l| l != pack.language) {
            continue;
        }
        let Ok(signal) = Signal::parse(SignalKind::Phrase, &term.term) else {
            continue;
        };
        let mut s = SharedSignal::new(signal, owner, tlp, now);
        s.category = term.category;
        s.source = (!pack.sources.is_empty()).then(|| pack.sources.join("; "));
        s.confidence = Some((term.weight.clamp(0.0, 1.0) * 100.0).round() as u8);
        s.labels = vec![
            "lexicon".into(),
            format!("lang:{}", pack.language),
            format!("pack:{}", pack.name),
            format!(
                "kind:{}",
                serde_json::to_value(term.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        ];
        shared.push(s);
    }
    if shared.is_empty() {
        return Err(UsageError(format!("no lexicon terms for language {lang:?}")).into());
    }
    let count = shared.len();
    let text = bundle(to_objects(&shared)).to_string();
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => println!("{text}"),
    }
    eprintln!("{count} lexicon terms as indicators");
    Ok(ExitCode::SUCCESS)
}
