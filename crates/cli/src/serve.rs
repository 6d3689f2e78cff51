//! `breakwater serve`, `breakwater check-config`, `breakwater admin` and
//! `breakwater audit`: the service, its configuration and its first organisation.

use crate::config::{redact_url, Config, Flags};
use anyhow::Context;
use breakwater_core::Item;
use breakwater_server::webhooks::WebhookSender;
use breakwater_server::{AppState, Metrics};
use breakwater_store::{OrgKind, Role, Store};
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct DatabaseArgs {
    /// Configuration file (TOML); default: $BREAKWATER_CONFIG, or ./breakwater.toml if it
    /// exists.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database: `postgres://…`, or a SQLite file [env: BREAKWATER_DATABASE_URL; default:
    /// DATA_DIR/breakwater.db].
    #[arg(long)]
    database_url: Option<String>,
    /// Where the embedded database lives [env: BREAKWATER_DATA_DIR; default: breakwater-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl DatabaseArgs {
    /// The effective configuration: these flags over the environment over the file.
    fn config(&self, data: Option<&Path>, listen: Option<String>) -> anyhow::Result<Config> {
        let flags = Flags {
            config: self.config.clone(),
            listen,
            database_url: self.database_url.clone(),
            database_dir: self.data_dir.clone(),
            data_dir: data.map(Path::to_path_buf),
        };
        Ok(Config::load(&flags)?)
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Store> {
        open_store(&self.config(None, None)?).await
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = &config.database_url.value;
    Store::open(url)
        .await
        .with_context(|| format!("opening the database {}", redact_url(url)))
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [env: BREAKWATER_LISTEN; default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    #[command(flatten)]
    db: DatabaseArgs,
    /// Seed a demo organisation, print its keys and ingest the bundled demo items.
    #[arg(long)]
    demo: bool,
}

#[derive(clap::Args)]
pub struct CheckConfigArgs {
    /// Address to listen on, as for `serve`.
    #[arg(long)]
    listen: Option<String>,
    #[command(flatten)]
    db: DatabaseArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn serve(data: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.db.config(data, args.listen)?;
    let data_dir = breakwater_pipeline::find_data_dir(config.data_dir.value.as_deref())?;
    let pipeline = Arc::new(crate::load_pipeline(Some(&data_dir))?);
    runtime()?.block_on(async move {
        let store = open_store(&config).await?;
        let listen = &config.listen.value;
        if args.demo {
            seed_demo(&store, &pipeline, &data_dir, listen).await?;
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!(
            "breakwater listening on http://{} ({} database)",
            listener.local_addr()?,
            if config.is_postgres() {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        );
        if config.webhooks_enabled.value {
            // Actions reach platforms from the outbox, retried with backoff, on this node.
            let sender = WebhookSender::with_settings(store.clone(), config.sender_settings()?)?;
            tokio::spawn(sender.run(config.webhook_poll_interval.value));
        }
        let state = AppState {
            pipeline,
            store,
            metrics: Arc::new(Metrics::default()),
            banks: Default::default(),
            campaigns: Default::default(),
        };
        // Partners' collections this instance subscribed to (`breakwater exchange pull`).
        let every = std::env::var("BREAKWATER_EXCHANGE_INTERVAL_SECONDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(300)
            .max(1);
        tokio::spawn(breakwater_server::exchange::run_feeds(
            state.store.clone(),
            state.banks.clone(),
            std::time::Duration::from_secs(every),
        ));
        breakwater_server::serve_with(listener, state, config.server_options())
            .await
            .context("serving")?;
        eprintln!("breakwater stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// How long `check-config` waits for the database.
const CHECK_DATABASE_TIMEOUT: Duration = Duration::from_secs(15);

/// Prints the effective configuration (stdout, as TOML) and checks that the service could
/// start with it (stderr): the address resolves, the database answers, the data loads.
pub fn check_config(data: Option<&Path>, args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let config = match args.db.config(data, args.listen) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("breakwater: invalid configuration: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    match &config.file {
        Some(f) => println!("# effective configuration; file: {}", f.display()),
        None => println!("# effective configuration; no file (defaults and environment)"),
    }
    print!("{}", config.render());
    let mut problems = 0;
    let mut report = |what: &str, outcome: Result<String, String>| match outcome {
        Ok(detail) => eprintln!("ok    {what}: {detail}"),
        Err(detail) => {
            problems += 1;
            eprintln!("FAIL  {what}: {detail}");
        }
    };
    let listen = &config.listen.value;
    report(
        "listen address",
        match listen.to_socket_addrs() {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => Ok(format!("{listen} ({a})")),
                None => Err(format!("{listen} resolves to no address")),
            },
            Err(e) => Err(format!("{listen}: {e}")),
        },
    );
    report(
        "webhook TLS roots",
        config
            .sender_settings()
            .map_err(|e| e.to_string())
            .map(|s| match s.extra_roots.len() {
                0 => "the Mozilla roots".to_string(),
                n => format!("the Mozilla roots and {n} from webhooks.ca_file"),
            }),
    );
    report("database", runtime()?.block_on(check_database(&config)));
    report(
        "data directory",
        breakwater_pipeline::find_data_dir(config.data_dir.value.as_deref())
            .map_err(|e| format!("{e:#}"))
            .and_then(|dir| {
                crate::load_pipeline(Some(&dir))
                    .map(|_| format!("{} loads", dir.display()))
                    .map_err(|e| format!("{e:#}"))
            }),
    );
    if problems == 0 {
        eprintln!("configuration OK");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("configuration has {problems} problem(s)");
        Ok(ExitCode::from(1))
    }
}

/// Opens the database as `serve` would (applying pending migrations), except that a
/// SQLite file that does not exist yet is not created.
async fn check_database(config: &Config) -> Result<String, String> {
    let url = &config.database_url.value;
    if !config.is_postgres() {
        let path = Path::new(
            url.strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url),
        );
        if !path.exists() {
            // The nearest existing ancestor must be a directory for the file to be made.
            let mut ancestor = path.parent();
            while let Some(a) = ancestor.filter(|a| !a.as_os_str().is_empty() && !a.exists()) {
                ancestor = a.parent();
            }
            return match ancestor.filter(|a| !a.as_os_str().is_empty()) {
                Some(a) if !a.is_dir() => Err(format!(
                    "SQLite file {} cannot be created: {} is not a directory",
                    path.display(),
                    a.display()
                )),
                _ => Ok(format!(
                    "SQLite file {} does not exist yet; serve creates it",
                    path.display()
                )),
            };
        }
    }
    let shown = redact_url(url);
    // The pool retries a refused connection until it times out and then says only that;
    // one plain connection first gives the reason.
    if let Some(addr) = config
        .is_postgres()
        .then(|| postgres_address(url))
        .flatten()
    {
        let connect = tokio::net::TcpStream::connect(&addr);
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("{shown}: cannot connect to {addr}: {e}")),
            Err(_) => return Err(format!("{shown}: {addr} does not answer")),
        }
    }
    match tokio::time::timeout(CHECK_DATABASE_TIMEOUT, Store::open(url)).await {
        Ok(Ok(store)) => {
            let health = store.health().await;
            store.close().await;
            health
                .map(|()| format!("{shown} answers"))
                .map_err(|e| format!("{shown}: {e}"))
        }
        Ok(Err(e)) => Err(format!("{shown}: {e}")),
        Err(_) => Err(format!(
            "{shown}: no answer within {} s",
            CHECK_DATABASE_TIMEOUT.as_secs()
        )),
    }
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

/// `host:port` of a `postgres://` URL (port 5432 unless given); `None` when the URL names
/// no host (a Unix socket).
fn postgres_address(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    let has_port = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..].contains(':'),
        None => host_port.contains(':'),
    };
    Some(if has_port {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    })
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

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Check an organisation's audit log for edited or deleted entries (the same as
    /// `admin verify-audit`).
    Verify {
        #[arg(long)]
        org: i64,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

pub fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { org, db } => admin(AdminCommand::VerifyAudit { org, db }),
    }
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

#[cfg(test)]
mod tests {
    use super::postgres_address;

    #[test]
    fn postgres_addresses() {
        let addr = |u: &str| postgres_address(u);
        assert_eq!(
            addr("postgres://u:p@db:6543/bw").as_deref(),
            Some("db:6543")
        );
        assert_eq!(addr("postgresql://db/bw").as_deref(), Some("db:5432"));
        assert_eq!(addr("postgres://u@[::1]/bw").as_deref(), Some("[::1]:5432"));
        assert_eq!(addr("postgres://[::1]:5433").as_deref(), Some("[::1]:5433"));
        assert_eq!(addr("postgres:///bw?host=/run/postgresql"), None);
    }
}
