//! `breakwater serve` and `breakwater admin`: the service and its first organisation.

use anyhow::Context;
use breakwater_core::Item;
use breakwater_server::{AppState, Metrics};
use breakwater_store::{OrgKind, Role, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct DatabaseArgs {
    /// Database: `postgres://…`, or a SQLite file; default: DATA_DIR/breakwater.db.
    #[arg(long, env = "BREAKWATER_DATABASE_URL")]
    database_url: Option<String>,
    /// Where the embedded database lives.
    #[arg(long, default_value = "breakwater-data", env = "BREAKWATER_DATA_DIR")]
    data_dir: PathBuf,
}

impl DatabaseArgs {
    fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| self.data_dir.join("breakwater.db").display().to_string())
    }

    async fn open(&self) -> anyhow::Result<Store> {
        let url = self.url();
        Store::open(&url)
            .await
            .with_context(|| format!("opening the database {}", redact(&url)))
    }
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "BREAKWATER_LISTEN")]
    listen: String,
    #[command(flatten)]
    db: DatabaseArgs,
    /// Seed a demo organisation, print its keys and ingest the bundled demo items.
    #[arg(long)]
    demo: bool,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn serve(data: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let data_dir = breakwater_pipeline::find_data_dir(data)?;
    let pipeline = Arc::new(crate::load_pipeline(Some(&data_dir))?);
    runtime()?.block_on(async move {
        let store = args.db.open().await?;
        if args.demo {
            seed_demo(&store, &pipeline, &data_dir, &args.listen).await?;
        }
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        eprintln!(
            "breakwater listening on http://{} ({} database)",
            listener.local_addr()?,
            if args.db.url().starts_with("postgres") {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        );
        // Actions reach platforms from the outbox, retried with backoff, on this node.
        tokio::spawn(
            breakwater_server::webhooks::WebhookSender::new(store.clone())
                .run(std::time::Duration::from_secs(1)),
        );
        let state = AppState {
            pipeline,
            store,
            metrics: Arc::new(Metrics::default()),
        };
        breakwater_server::serve(listener, state)
            .await
            .context("serving")?;
        eprintln!("breakwater stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn seed_demo(
    store: &Store,
    pipeline: &breakwater_pipeline::Pipeline,
    data_dir: &Path,
    listen: &str,
) -> anyhow::Result<()> {
    let org = store
        .create_organisation("Demo platform", OrgKind::Platform)
        .await?;
    let (_, admin) = store
        .create_key(org.id, Role::Admin, "demo admin", "demo")
        .await?;
    let (_, reviewer) = store
        .create_key(org.id, Role::Reviewer, "demo reviewer", "demo")
        .await?;
    let text = std::fs::read_to_string(data_dir.join("demo/items.jsonl"))
        .context("reading the demo items")?;
    let mut stored = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (item, _) = Item::from_json(serde_json::from_str(line)?)?;
        let assessment = pipeline.assess(&item);
        store.insert_item(org.id, &item, &assessment).await?;
        stored += 1;
    }
    println!("demo organisation {} with {stored} items", org.id);
    println!("admin key:    {admin}");
    println!("reviewer key: {reviewer}");
    println!("try: curl -s -H 'Authorization: Bearer {admin}' 'http://{listen}/v1/items?verdict=violating'");
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Create an organisation and print its id.
    CreateOrg {
        name: String,
        /// platform, government, international_organisation, ngo or research.
        #[arg(long)]
        kind: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Create an API key; the key is printed once and stored only as a hash.
    CreateKey {
        #[arg(long)]
        org: i64,
        /// admin, analyst, reviewer or ingest.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Check an organisation's audit log for edited or deleted entries.
    VerifyAudit {
        #[arg(long)]
        org: i64,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

pub fn admin(cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        match cmd {
            AdminCommand::CreateOrg { name, kind, db } => {
                let kind: OrgKind = kind.parse().map_err(|_| {
                    crate::UsageError(format!("unknown organisation kind `{kind}`"))
                })?;
                let org = db.open().await?.create_organisation(&name, kind).await?;
                println!("{}", org.id);
                Ok(ExitCode::SUCCESS)
            }
            AdminCommand::CreateKey {
                org,
                role,
                label,
                db,
            } => {
                let role: Role = role
                    .parse()
                    .map_err(|_| crate::UsageError(format!("unknown role `{role}`")))?;
                let (key, secret) = db
                    .open()
                    .await?
                    .create_key(org, role, &label, "cli")
                    .await?;
                eprintln!(
                    "key {} ({}) for organisation {org}; store it now, it is not shown again",
                    key.id,
                    role.as_str()
                );
                println!("{secret}");
                Ok(ExitCode::SUCCESS)
            }
            AdminCommand::VerifyAudit { org, db } => {
                match db.open().await?.verify_audit(org).await? {
                    Ok(n) => {
                        println!("audit log of organisation {org}: {n} entries, chain intact");
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(b) => {
                        println!(
                            "audit log of organisation {org} is BROKEN at row {}: {}",
                            b.row_id, b.reason
                        );
                        Ok(ExitCode::from(1))
                    }
                }
            }
        }
    })
}
