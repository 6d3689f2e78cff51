//! Storage: SQLite (embedded default) and PostgreSQL behind one interface.
//!
//! [`Store`] is a cheap-to-clone handle over a connection pool of either backend. Every
//! operation is written once: SQL that both databases accept is shared (with `$1`-style
//! placeholders, which SQLite also understands) and the few statements that must differ
//! (claiming from a queue, locking) branch on the backend.
//!
//! Conventions:
//! - Timestamps are Unix milliseconds (UTC) as `i64`; see [`now_ms`].
//! - JSON (items, assessments, events, audit details) is stored as text.
//! - Every write that must be atomic runs in one transaction; on SQLite these are
//!   `BEGIN IMMEDIATE` transactions, so that a read followed by a write never fails to
//!   upgrade its lock, and the database runs in WAL mode with `synchronous=FULL`, so that
//!   an acknowledged write survives `kill -9` and power loss.
//! - Migrations are embedded at compile time and applied by [`Store::open`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use breakwater_core::{Assessment, Category, Item, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The previous hash of the first audit entry of an organisation.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where `breakwater serve` keeps its embedded database unless told otherwise.
pub const DEFAULT_SQLITE_PATH: &str = "./breakwater-data/breakwater.db";

/// The queue that appeals go to.
pub const APPEALS_QUEUE: &str = "appeals";

/// The queue for items that need review but have no category.
pub const DEFAULT_QUEUE: &str = "default";

/// Prefix of API key secrets.
pub const KEY_PREFIX: &str = "bw_";

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("the item is not claimed by this reviewer")]
    NotClaimant,
    #[error("an appeal must be decided by a different reviewer than the original decision")]
    SameReviewer,
    #[error("database error: {0}")]
    Database(String),
    #[error("migration error: {0}")]
    Migration(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(d.message().to_string())
            }
            // The organisation (or item) referred to does not exist.
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound,
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Database(format!("stored JSON is invalid: {e}"))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// The snake_case name used in JSON and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err(StoreError::Database(format!(
                        "unknown {} `{s}`", stringify!($name)
                    ))),
                }
            }
        }
    };
}

string_enum!(
    /// What kind of organisation uses Breakwater.
    OrgKind {
        Platform => "platform",
        Government => "government",
        InternationalOrganisation => "international_organisation",
        Ngo => "ngo",
        Research => "research",
    }
);

string_enum!(
    /// What an API key may do.
    Role {
        Admin => "admin",
        Analyst => "analyst",
        Reviewer => "reviewer",
        Ingest => "ingest",
    }
);

string_enum!(
    /// What a reviewer decided to do with an item.
    Action {
        Remove => "remove",
        Restrict => "restrict",
        Label => "label",
        Interstitial => "interstitial",
        Refer => "refer",
        None => "none",
    }
);

/// One page of results and the opaque cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The storage handle. Cloning is cheap (the pools are shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

/// Runs `$body` once per backend with `$pool` bound to that backend's pool. The body is
/// duplicated textually, so it is type-checked against each driver.
macro_rules! with_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` in a transaction (`BEGIN IMMEDIATE` on SQLite) bound to `$tx`, with
/// `$backend` bound to the [`Backend`], and commits it. `?` inside the body rolls back.
macro_rules! with_tx {
    ($self:expr, $tx:ident, $backend:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite(pool) => {
                #[allow(unused_variables)]
                let $backend = Backend::Sqlite;
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Pool::Postgres(pool) => {
                #[allow(unused_variables)]
                let $backend = Backend::Postgres;
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Appends an audit entry inside the transaction `$tx`.
macro_rules! append_audit_tx {
    ($tx:expr, $org:expr, $actor:expr, $action:expr, $subject:expr, $details:expr) => {{
        let now = now_ms();
        // Taking the next sequence number also locks the organisation row (PostgreSQL) or
        // runs under the database write lock (SQLite), so the chain cannot fork.
        let head: Option<(i64, String)> = sqlx::query_as(
            "UPDATE organisations SET audit_seq = audit_seq + 1 WHERE id = $1 \
             RETURNING audit_seq, audit_head",
        )
        .bind($org)
        .fetch_optional(&mut *$tx)
        .await?;
        let (seq, prev_hash) = head.ok_or(StoreError::NotFound)?;
        let details: &Value = $details;
        let hash = audit_hash(
            &prev_hash, $org, seq, $actor, $action, $subject, details, now,
        );
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO audit_log (organisation_id, seq, actor, action, subject, details, \
             created_at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING id",
        )
        .bind($org)
        .bind(seq)
        .bind($actor)
        .bind($action)
        .bind($subject)
        .bind(details.to_string())
        .bind(now)
        .bind(&prev_hash)
        .bind(&hash)
        .fetch_one(&mut *$tx)
        .await?;
        sqlx::query("UPDATE organisations SET audit_head = $1 WHERE id = $2")
            .bind(&hash)
            .bind($org)
            .execute(&mut *$tx)
            .await?;
        id
    }};
}

mod audit;
mod banks;
mod interventions;
mod items;
mod orgs;
mod outbox;
mod referrals;
mod report;
mod review;
mod sharing;

use audit::audit_hash;
use items::{item_from_row, ItemRow, ITEM_COLUMNS};
use review::queue_for;

pub use audit::{AuditBreak, AuditEntry};
pub use banks::{
    AddReport, Bank, BankPatch, NewBank, NewSignal, StoredSignal, DEFAULT_PDQ_THRESHOLD,
    MAX_PDQ_THRESHOLD, MAX_SIGNALS_PER_ADD, TLP_LEVELS,
};
pub use breakwater_core::MatchVerdict;
pub use interventions::{day_of, InterventionCount, InterventionEvent, InterventionVersion};
pub use items::{ItemFilter, StoredItem};
pub use orgs::{ApiKey, Organisation, Principal};
pub use outbox::{Delivery, DeliveryState, Webhook};
pub use referrals::{
    content_hash, normalise_url, NewReferral, Referral, ReferralEvent, ReferralFilter,
    ReferralOrder, ReferralOutcome, ReferralRole, ReferralStatus, ReferralTarget, Referred,
    Referrer, DEFAULT_REFERRAL_DEADLINE_HOURS, MAX_REFERRAL_DEADLINE_MS, MAX_REFERRAL_TARGETS,
};
pub use report::{
    AppealFigures, DeliveryFigures, InterventionFigures, ReferralFigures, TimeToAction,
    TransparencyReport,
};
pub use review::{Decision, QueueDepth, StoredDecision};
pub use sharing::{audience_admits, may_read, Feed, Feedback, TrendSharing, VisibleBank};

/// The migrations of each backend, in order: (version, name, SQLite SQL, PostgreSQL SQL).
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "banks",
        include_str!("../migrations/sqlite/0002_banks.sql"),
        include_str!("../migrations/postgres/0002_banks.sql"),
    ),
    (
        3,
        "referrals",
        include_str!("../migrations/sqlite/0003_referrals.sql"),
        include_str!("../migrations/postgres/0003_referrals.sql"),
    ),
    (
        4,
        "sharing",
        include_str!("../migrations/sqlite/0004_sharing.sql"),
        include_str!("../migrations/postgres/0004_sharing.sql"),
    ),
    (
        5,
        "trend_sharing",
        include_str!("../migrations/sqlite/0005_trend_sharing.sql"),
        include_str!("../migrations/postgres/0005_trend_sharing.sql"),
    ),
];

fn migrator(backend: Backend) -> Migrator {
    // Built by hand from embedded files rather than with `sqlx::migrate!`, so the crate
    // does not need sqlx's proc macros (and a second build of SQLite for the host).
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, name, sqlite, postgres)| {
            let sql = match backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            Migration::new(
                version,
                Cow::Borrowed(name),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// JSON with object keys sorted at every level and no insignificant whitespace, so the
/// same entry always hashes the same whatever map order serde_json was built with.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn encode_cursor(a: i64, b: i64) -> String {
    encode_keyset(&[a, b])
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64)> {
    match decode_keyset(cursor)?.as_slice() {
        &[a, b] => Ok((a, b)),
        _ => Err(StoreError::InvalidCursor),
    }
}

/// A page cursor: the organisation it was given to, then the last row's sort key.
fn encode_keyset(parts: &[i64]) -> String {
    let text: Vec<String> = parts.iter().map(i64::to_string).collect();
    hex::encode(text.join("."))
}

fn decode_keyset(cursor: &str) -> Result<Vec<i64>> {
    let bytes = hex::decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    text.split('.')
        .map(|p| p.parse().map_err(|_| StoreError::InvalidCursor))
        .collect()
}

fn page_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 1000))
}

impl Store {
    /// Opens (creating if needed) a store and applies pending migrations.
    ///
    /// `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite://path`, `sqlite:path`
    /// or a plain path selects SQLite (the parent directory is created).
    pub async fn open(url_or_path: &str) -> Result<Store> {
        let store =
            if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url_or_path)
                    .await?;
                Store {
                    pool: Pool::Postgres(pool),
                }
            } else {
                let path = url_or_path
                    .strip_prefix("sqlite://")
                    .or_else(|| url_or_path.strip_prefix("sqlite:"))
                    .unwrap_or(url_or_path);
                if let Some(parent) = Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).map_err(|e| {
                            StoreError::Database(format!("cannot create {}: {e}", parent.display()))
                        })?;
                    }
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                Store {
                    pool: Pool::Sqlite(pool),
                }
            };
        let migrator = migrator(store.backend());
        with_pool!(store, pool => migrator.run(pool).await)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn health(&self) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("breakwater.db");
        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let Pool::Sqlite(pool) = &store.pool else {
            panic!("expected SQLite")
        };
        // Every pooled connection: WAL and synchronous = FULL (2).
        let mut conns = Vec::new();
        for _ in 0..3 {
            let mut c = pool.acquire().await.unwrap();
            let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            assert_eq!((mode.as_str(), sync), ("wal", 2));
            conns.push(c);
        }
        drop(conns);
        store.close().await;
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":1,"y":2}],"c":"x"}}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(17, -3)).unwrap(), (17, -3));
        assert!(matches!(
            decode_cursor("zz"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor(&hex::encode("1-2")),
            Err(StoreError::InvalidCursor)
        ));
    }
}
