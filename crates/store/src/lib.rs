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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    pub kind: OrgKind,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: i64,
    pub organisation_id: i64,
    pub role: Role,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Who is calling: the result of [`Store::authenticate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub key_id: i64,
    pub organisation_id: i64,
    pub role: Role,
}

/// An item as stored, with its assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredItem {
    pub id: i64,
    pub organisation_id: i64,
    /// The caller's id (`Item::id`), unique per organisation.
    pub external_id: String,
    pub item: Item,
    pub assessment: Assessment,
    pub verdict: Verdict,
    pub category: Option<Category>,
    pub language: String,
    pub score: f32,
    pub created_at: i64,
}

/// Filters for [`Store::list_items`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemFilter {
    pub verdict: Option<Verdict>,
    pub category: Option<Category>,
    pub lang: Option<String>,
    /// Only items stored at or after this time (Unix ms).
    pub since: Option<i64>,
}

/// One page of results and the opaque cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A reviewer's decision on an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub category: Option<Category>,
    pub policy: String,
    pub action: Action,
    pub note: Option<String>,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDecision {
    pub id: i64,
    pub item_id: i64,
    pub reviewer_key_id: i64,
    /// The queue the item was decided from (`appeals` for an appeal).
    pub queue: String,
    pub decision: Decision,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDepth {
    pub queue: String,
    /// Entries waiting to be claimed (never claimed, or lease expired).
    pub waiting: i64,
    /// Entries under a live lease.
    pub claimed: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Given up: no further attempts.
    Dead,
}

/// A webhook delivery in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub organisation_id: i64,
    pub event: Value,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// One entry of the hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub organisation_id: i64,
    /// 1, 2, 3… per organisation.
    pub seq: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: Value,
    pub created_at: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// Where and why the audit chain of an organisation is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("audit log broken at row {row_id}: {reason}")]
pub struct AuditBreak {
    /// The row at which the break was found (0 when the log's tail is missing entirely).
    pub row_id: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
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

fn migrator(backend: Backend) -> Migrator {
    let sql: &'static str = match backend {
        Backend::Sqlite => include_str!("../migrations/sqlite/0001_init.sql"),
        Backend::Postgres => include_str!("../migrations/postgres/0001_init.sql"),
    };
    // Built by hand from embedded files rather than with `sqlx::migrate!`, so the crate
    // does not need sqlx's proc macros (and a second build of SQLite for the host).
    Migrator {
        migrations: Cow::Owned(vec![Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            Cow::Borrowed(sql),
            false,
        )]),
        ..Migrator::DEFAULT
    }
}

const ITEM_COLUMNS: &str = "id, organisation_id, external_id, item, assessment, created_at";
type ItemRow = (i64, i64, String, String, String, i64);

fn item_from_row(row: ItemRow) -> Result<StoredItem> {
    let (id, organisation_id, external_id, item, assessment, created_at) = row;
    let item: Item = serde_json::from_str(&item)?;
    let assessment: Assessment = serde_json::from_str(&assessment)?;
    Ok(StoredItem {
        id,
        organisation_id,
        external_id,
        verdict: assessment.verdict,
        category: assessment.category,
        language: assessment.language.clone(),
        score: assessment.score,
        item,
        assessment,
        created_at,
    })
}

const DELIVERY_COLUMNS: &str = "id, organisation_id, event, status, attempts, next_attempt_at, \
                                last_error, created_at, delivered_at";
type DeliveryRow = (
    i64,
    i64,
    String,
    String,
    i64,
    i64,
    Option<String>,
    i64,
    Option<i64>,
);

fn delivery_from_row(row: DeliveryRow) -> Result<Delivery> {
    let (
        id,
        organisation_id,
        event,
        status,
        attempts,
        next_attempt_at,
        last_error,
        created_at,
        delivered_at,
    ) = row;
    let state = match status.as_str() {
        "pending" => DeliveryState::Pending,
        "delivered" => DeliveryState::Delivered,
        "dead" => DeliveryState::Dead,
        other => {
            return Err(StoreError::Database(format!(
                "unknown delivery status `{other}`"
            )))
        }
    };
    Ok(Delivery {
        id,
        organisation_id,
        event: serde_json::from_str(&event)?,
        state,
        attempts,
        next_attempt_at,
        last_error,
        created_at,
        delivered_at,
    })
}

const AUDIT_COLUMNS: &str =
    "id, organisation_id, seq, actor, action, subject, details, created_at, prev_hash, hash";
type AuditRow = (
    i64,
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
);

fn audit_from_row(row: AuditRow) -> AuditEntry {
    let (id, organisation_id, seq, actor, action, subject, details, created_at, prev_hash, hash) =
        row;
    // An unparseable `details` (tampering) is kept as a string so verification can report it.
    let details = serde_json::from_str(&details).unwrap_or(Value::String(details));
    AuditEntry {
        id,
        organisation_id,
        seq,
        actor,
        action,
        subject,
        details,
        created_at,
        prev_hash,
        hash,
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

#[allow(clippy::too_many_arguments)]
fn audit_hash(
    prev_hash: &str,
    org: i64,
    seq: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &Value,
    created_at: i64,
) -> String {
    let entry = serde_json::json!({
        "organisation_id": org,
        "seq": seq,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "created_at": created_at,
    });
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical_json(&entry).as_bytes());
    hex::encode(h.finalize())
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn encode_cursor(a: i64, b: i64) -> String {
    hex::encode(format!("{a}.{b}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64)> {
    let bytes = hex::decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (a, b) = text.split_once('.').ok_or(StoreError::InvalidCursor)?;
    Ok((
        a.parse().map_err(|_| StoreError::InvalidCursor)?,
        b.parse().map_err(|_| StoreError::InvalidCursor)?,
    ))
}

fn page_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 1000))
}

fn queue_for(assessment: &Assessment) -> Option<String> {
    match assessment.verdict {
        Verdict::Review | Verdict::Violating => Some(
            assessment
                .category
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| DEFAULT_QUEUE.to_string()),
        ),
        Verdict::Benign => None,
    }
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

    // ----- organisations and keys -----

    pub async fn create_organisation(&self, name: &str, kind: OrgKind) -> Result<Organisation> {
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO organisations (name, kind, created_at) VALUES ($1, $2, $3) \
                 RETURNING id",
            )
            .bind(name)
            .bind(kind.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let details = serde_json::json!({ "name": name, "kind": kind.as_str() });
            let subject = format!("organisation:{id}");
            append_audit_tx!(tx, id, "system", "organisation.create", &subject, &details);
            Ok(Organisation { id, name: name.to_string(), kind, created_at: now })
        })
    }

    pub async fn organisation(&self, org: i64) -> Result<Option<Organisation>> {
        let row: Option<(i64, String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, name, kind, created_at FROM organisations WHERE id = $1")
                .bind(org)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id, name, kind, created_at)| {
            Ok(Organisation {
                id,
                name,
                kind: kind.parse()?,
                created_at,
            })
        })
        .transpose()
    }

    /// Creates an API key and returns it with its secret (`bw_<64 hex>`), which is not
    /// stored and cannot be shown again.
    pub async fn create_key(
        &self,
        org: i64,
        role: Role,
        label: &str,
        actor: &str,
    ) -> Result<(ApiKey, String)> {
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw)
            .map_err(|e| StoreError::Database(format!("no randomness: {e}")))?;
        let secret = format!("{KEY_PREFIX}{}", hex::encode(raw));
        let hash = hash_secret(&secret);
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO api_keys (organisation_id, role, label, secret_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(org)
            .bind(role.as_str())
            .bind(label)
            .bind(&hash)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let details = serde_json::json!({ "role": role.as_str(), "label": label });
            append_audit_tx!(tx, org, actor, "key.create", &format!("key:{id}"), &details);
            let key = ApiKey {
                id,
                organisation_id: org,
                role,
                label: label.to_string(),
                created_at: now,
                revoked_at: None,
            };
            Ok((key, secret))
        })
    }

    /// Revokes a key of `org`. Revoking an already revoked key is a no-op.
    pub async fn revoke_key(&self, org: i64, key_id: i64, actor: &str) -> Result<()> {
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let found: Option<(Option<i64>,)> =
                sqlx::query_as(
                    "SELECT revoked_at FROM api_keys WHERE id = $1 AND organisation_id = $2",
                )
                    .bind(key_id)
                    .bind(org)
                    .fetch_optional(&mut *tx)
                    .await?;
            match found {
                None => return Err(StoreError::NotFound),
                Some((Some(_),)) => {}
                Some((None,)) => {
                    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(key_id)
                        .execute(&mut *tx)
                        .await?;
                    let subject = format!("key:{key_id}");
                    append_audit_tx!(tx, org, actor, "key.revoke", &subject, &Value::Null);
                }
            }
            Ok(())
        })
    }

    pub async fn list_keys(&self, org: i64) -> Result<Vec<ApiKey>> {
        let rows: Vec<(i64, i64, String, String, i64, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, organisation_id, role, label, created_at, revoked_at FROM api_keys \
                 WHERE organisation_id = $1 ORDER BY id",
            )
            .bind(org)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(id, organisation_id, role, label, created_at, revoked_at)| {
                    Ok(ApiKey {
                        id,
                        organisation_id,
                        role: role.parse()?,
                        label,
                        created_at,
                        revoked_at,
                    })
                },
            )
            .collect()
    }

    /// The principal a secret belongs to, unless it is unknown or revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>> {
        if !secret.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        let row: Option<(i64, i64, String)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, organisation_id, role FROM api_keys \
                 WHERE secret_hash = $1 AND revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(key_id, organisation_id, role)| {
            Ok(Principal {
                key_id,
                organisation_id,
                role: role.parse()?,
            })
        })
        .transpose()
    }

    // ----- items -----

    /// Stores an item with its assessment, idempotently: if the organisation already has an
    /// item with the same external id, that item is returned with `created == false`.
    /// Items whose verdict is `review` or `violating` are enqueued for review in the queue
    /// named by their category (or `default`).
    pub async fn insert_item(
        &self,
        org: i64,
        item: &Item,
        assessment: &Assessment,
    ) -> Result<(StoredItem, bool)> {
        let item_json = serde_json::to_string(item)?;
        let assessment_json = serde_json::to_string(assessment)?;
        let now = now_ms();
        let queue = queue_for(assessment);
        let select = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE organisation_id = $1 AND external_id = $2"
        );
        let (row, created) = with_tx!(self, tx, _b => {
            let inserted: Option<ItemRow> = sqlx::query_as(&format!(
                "INSERT INTO items (organisation_id, external_id, item, assessment, verdict, \
                 category, language, score, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (organisation_id, external_id) DO NOTHING RETURNING {ITEM_COLUMNS}"
            ))
            .bind(org)
            .bind(&item.id)
            .bind(&item_json)
            .bind(&assessment_json)
            .bind(assessment.verdict.as_str())
            .bind(assessment.category.map(|c| c.as_str()))
            .bind(&assessment.language)
            .bind(f64::from(assessment.score))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match inserted {
                Some(row) => {
                    if let Some(queue) = &queue {
                        sqlx::query(
                            "INSERT INTO queue_entries (item_id, organisation_id, queue, priority, \
                             enqueued_at) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(row.0)
                        .bind(org)
                        .bind(queue)
                        .bind(f64::from(assessment.score))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    (row, true)
                }
                None => {
                    let row: ItemRow = sqlx::query_as(&select)
                        .bind(org)
                        .bind(&item.id)
                        .fetch_one(&mut *tx)
                        .await?;
                    (row, false)
                }
            }
        });
        Ok((item_from_row(row)?, created))
    }

    /// An item of `org`; another organisation's item is `None`.
    pub async fn get_item(&self, org: i64, id: i64) -> Result<Option<StoredItem>> {
        let sql =
            format!("SELECT {ITEM_COLUMNS} FROM items WHERE organisation_id = $1 AND id = $2");
        let row: Option<ItemRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(org).bind(id).fetch_optional(pool).await?
        });
        row.map(item_from_row).transpose()
    }

    /// Items of `org`, newest first, `limit` per page (1..=1000).
    pub async fn list_items(
        &self,
        org: i64,
        filter: &ItemFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<StoredItem>> {
        let (c_time, c_id) = match cursor {
            Some(c) => {
                let (t, i) = decode_cursor(c)?;
                (Some(t), Some(i))
            }
            None => (None, None),
        };
        let limit = page_limit(limit);
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE organisation_id = $1 \
             AND ($2 IS NULL OR verdict = $2) AND ($3 IS NULL OR category = $3) \
             AND ($4 IS NULL OR language = $4) AND ($5 IS NULL OR created_at >= $5) \
             AND ($6 IS NULL OR created_at < $6 OR (created_at = $6 AND id < $7)) \
             ORDER BY created_at DESC, id DESC LIMIT $8"
        );
        let rows: Vec<ItemRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(org)
                .bind(filter.verdict.map(|v| v.as_str()))
                .bind(filter.category.map(|c| c.as_str()))
                .bind(filter.lang.as_deref())
                .bind(filter.since)
                .bind(c_time)
                .bind(c_id)
                .bind(limit + 1)
                .fetch_all(pool)
                .await?
        });
        let more = rows.len() as i64 > limit;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(item_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = match items.last() {
            Some(last) if more => Some(encode_cursor(last.created_at, last.id)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    // ----- review queue -----

    /// Claims the highest-priority unclaimed (or lease-expired) item of `queue` for
    /// `reviewer_key_id` until `lease` from now. Each item goes to exactly one claimant
    /// at a time, however many claim concurrently.
    pub async fn claim(
        &self,
        org: i64,
        queue: &str,
        reviewer_key_id: i64,
        lease: Duration,
    ) -> Result<Option<StoredItem>> {
        let now = now_ms();
        let until = now.saturating_add(lease.as_millis() as i64);
        let pick = "SELECT item_id FROM queue_entries WHERE organisation_id = $3 AND queue = $4 \
                    AND (lease_until IS NULL OR lease_until < $5) \
                    ORDER BY priority DESC, enqueued_at, item_id LIMIT 1";
        let item_sql =
            format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = $1 AND organisation_id = $2");
        let row: Option<ItemRow> = with_tx!(self, tx, backend => {
            let sql = match backend {
                Backend::Sqlite => format!(
                    "UPDATE queue_entries SET claimed_by = $1, lease_until = $2 \
                     WHERE item_id = ({pick}) RETURNING item_id"
                ),
                Backend::Postgres => format!(
                    "UPDATE queue_entries SET claimed_by = $1, lease_until = $2 \
                     WHERE item_id = ({pick} FOR UPDATE SKIP LOCKED) RETURNING item_id"
                ),
            };
            let claimed: Option<(i64,)> = sqlx::query_as(&sql)
                .bind(reviewer_key_id)
                .bind(until)
                .bind(org)
                .bind(queue)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            match claimed {
                Some((item_id,)) => Some(
                    sqlx::query_as(&item_sql)
                        .bind(item_id)
                        .bind(org)
                        .fetch_one(&mut *tx)
                        .await?,
                ),
                None => None,
            }
        });
        row.map(item_from_row).transpose()
    }

    /// Waiting and claimed entries per queue of `org`, by queue name.
    pub async fn queue_depths(&self, org: i64) -> Result<Vec<QueueDepth>> {
        let now = now_ms();
        let rows: Vec<(String, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT queue, \
                 SUM(CASE WHEN lease_until IS NULL OR lease_until < $2 THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN lease_until IS NULL OR lease_until < $2 THEN 0 ELSE 1 END) \
                 FROM queue_entries WHERE organisation_id = $1 GROUP BY queue ORDER BY queue",
            )
            .bind(org)
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(queue, waiting, claimed)| QueueDepth {
                queue,
                waiting,
                claimed,
            })
            .collect())
    }

    /// Records a decision on a queued item. Only the reviewer who claimed it (or an admin)
    /// may decide; an appeal may not be decided by the reviewer of the decision appealed.
    /// Removes the item from its queue, appends to the audit log and enqueues a webhook
    /// delivery, all in one transaction.
    pub async fn decide(
        &self,
        org: i64,
        item_id: i64,
        reviewer: &Principal,
        decision: &Decision,
    ) -> Result<StoredDecision> {
        if reviewer.organisation_id != org {
            return Err(StoreError::NotFound);
        }
        let now = now_ms();
        with_tx!(self, tx, backend => {
            let lock = match backend {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE",
            };
            let entry: Option<(String, Option<i64>)> = sqlx::query_as(&format!(
                "SELECT queue, claimed_by FROM queue_entries \
                 WHERE organisation_id = $1 AND item_id = $2{lock}"
            ))
            .bind(org)
            .bind(item_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((queue, claimed_by)) = entry else {
                let exists: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM items WHERE organisation_id = $1 AND id = $2")
                        .bind(org)
                        .bind(item_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                return Err(match exists {
                    Some(_) => StoreError::Conflict("the item is not in a review queue".into()),
                    None => StoreError::NotFound,
                });
            };
            // A reviewer whose lease expired may still decide unless someone else has
            // claimed the item since (which replaces `claimed_by`).
            if claimed_by != Some(reviewer.key_id) && reviewer.role != Role::Admin {
                return Err(StoreError::NotClaimant);
            }
            if queue == APPEALS_QUEUE {
                let original: Option<(i64,)> = sqlx::query_as(
                    "SELECT reviewer_key_id FROM decisions WHERE organisation_id = $1 \
                     AND item_id = $2 AND queue <> $3 ORDER BY id DESC LIMIT 1",
                )
                .bind(org)
                .bind(item_id)
                .bind(APPEALS_QUEUE)
                .fetch_optional(&mut *tx)
                .await?;
                if original.map(|(r,)| r) == Some(reviewer.key_id) {
                    return Err(StoreError::SameReviewer);
                }
            }
            let category = decision.category.map(|c| c.as_str());
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO decisions (organisation_id, item_id, reviewer_key_id, queue, \
                 category, policy, action, note, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(org)
            .bind(item_id)
            .bind(reviewer.key_id)
            .bind(&queue)
            .bind(category)
            .bind(&decision.policy)
            .bind(decision.action.as_str())
            .bind(decision.note.as_deref())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM queue_entries WHERE item_id = $1")
                .bind(item_id)
                .execute(&mut *tx)
                .await?;
            let (external_id,): (String,) =
                sqlx::query_as("SELECT external_id FROM items WHERE id = $1")
                    .bind(item_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let details = serde_json::json!({
                "decision_id": id,
                "queue": queue,
                "category": category,
                "policy": decision.policy,
                "action": decision.action.as_str(),
                "note": decision.note,
            });
            let actor = format!("key:{}", reviewer.key_id);
            let action = if queue == APPEALS_QUEUE { "appeal.decide" } else { "item.decide" };
            append_audit_tx!(tx, org, &actor, action, &format!("item:{item_id}"), &details);
            let event = serde_json::json!({
                "type": action,
                "item_id": item_id,
                "external_id": external_id,
                "decision_id": id,
                "category": category,
                "policy": decision.policy,
                "action": decision.action.as_str(),
                "decided_at": now,
            });
            sqlx::query(
                "INSERT INTO deliveries (organisation_id, event, status, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, 'pending', 0, $3, $3)",
            )
            .bind(org)
            .bind(event.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok(StoredDecision {
                id,
                item_id,
                reviewer_key_id: reviewer.key_id,
                queue,
                decision: decision.clone(),
                created_at: now,
            })
        })
    }

    /// Decisions on an item, oldest first.
    pub async fn decisions(&self, org: i64, item_id: i64) -> Result<Vec<StoredDecision>> {
        type Row = (
            i64,
            i64,
            i64,
            String,
            Option<String>,
            String,
            String,
            Option<String>,
            i64,
        );
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, item_id, reviewer_key_id, queue, category, policy, action, note, \
                 created_at FROM decisions WHERE organisation_id = $1 AND item_id = $2 ORDER BY id",
            )
            .bind(org)
            .bind(item_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(
                    id,
                    item_id,
                    reviewer_key_id,
                    queue,
                    category,
                    policy,
                    action,
                    note,
                    created_at,
                )| {
                    let category = category
                        .map(|c| {
                            serde_json::from_value::<Category>(Value::String(c))
                                .map_err(StoreError::from)
                        })
                        .transpose()?;
                    Ok(StoredDecision {
                        id,
                        item_id,
                        reviewer_key_id,
                        queue,
                        decision: Decision {
                            category,
                            policy,
                            action: action.parse()?,
                            note,
                        },
                        created_at,
                    })
                },
            )
            .collect()
    }

    /// Appeals the decision on an item: re-enqueues it in the `appeals` queue.
    /// The item must have a decision and must not already be queued.
    pub async fn appeal(&self, org: i64, item_id: i64, actor: &str, reason: &str) -> Result<()> {
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let item: Option<(f64,)> =
                sqlx::query_as("SELECT score FROM items WHERE organisation_id = $1 AND id = $2")
                    .bind(org)
                    .bind(item_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((score,)) = item else {
                return Err(StoreError::NotFound);
            };
            let decided: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM decisions WHERE organisation_id = $1 AND item_id = $2 LIMIT 1",
            )
            .bind(org)
            .bind(item_id)
            .fetch_optional(&mut *tx)
            .await?;
            if decided.is_none() {
                return Err(StoreError::Conflict("the item has no decision to appeal".into()));
            }
            let queued: Option<(i64,)> =
                sqlx::query_as("SELECT item_id FROM queue_entries WHERE item_id = $1")
                    .bind(item_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if queued.is_some() {
                return Err(StoreError::Conflict("the item is already in a review queue".into()));
            }
            sqlx::query(
                "INSERT INTO queue_entries (item_id, organisation_id, queue, priority, \
                 enqueued_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(item_id)
            .bind(org)
            .bind(APPEALS_QUEUE)
            .bind(score)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO appeals (organisation_id, item_id, reason, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(org)
            .bind(item_id)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let details = serde_json::json!({ "reason": reason });
            append_audit_tx!(tx, org, actor, "item.appeal", &format!("item:{item_id}"), &details);
            Ok(())
        })
    }

    // ----- outbox -----

    /// Adds a webhook delivery, due now.
    pub async fn enqueue_delivery(&self, org: i64, event: &Value) -> Result<i64> {
        let now = now_ms();
        let (id,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO deliveries (organisation_id, event, status, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, 'pending', 0, $3, $3) RETURNING id",
            )
            .bind(org)
            .bind(event.to_string())
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// Pending deliveries of every organisation due at `now`, oldest due first.
    pub async fn due_deliveries(&self, now: i64, limit: u32) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE status = 'pending' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        );
        let rows: Vec<DeliveryRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(now).bind(page_limit(limit)).fetch_all(pool).await?
        });
        rows.into_iter().map(delivery_from_row).collect()
    }

    /// Like [`Store::due_deliveries`], but for several senders at once: the returned
    /// deliveries are pushed back by `lease` (their `next_attempt_at` becomes `now + lease`),
    /// so a concurrent caller does not get them too. If the sender dies before
    /// [`Store::mark_delivered`] or [`Store::mark_failed`], they are due again when the
    /// lease runs out.
    pub async fn lease_due_deliveries(
        &self,
        now: i64,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let until = now.saturating_add(lease.as_millis() as i64);
        let pick = "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $2 \
                    ORDER BY next_attempt_at, id LIMIT $3";
        let mut rows: Vec<DeliveryRow> = with_tx!(self, tx, backend => {
            let lock = match backend {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            };
            sqlx::query_as(&format!(
                "UPDATE deliveries SET next_attempt_at = $1 WHERE id IN ({pick}{lock}) \
                 RETURNING {DELIVERY_COLUMNS}"
            ))
            .bind(until)
            .bind(now)
            .bind(page_limit(limit))
            .fetch_all(&mut *tx)
            .await?
        });
        rows.sort_by_key(|r| r.0);
        rows.into_iter().map(delivery_from_row).collect()
    }

    pub async fn mark_delivered(&self, id: i64) -> Result<()> {
        let now = now_ms();
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, \
                 delivered_at = $1, last_error = NULL WHERE id = $2 AND status = 'pending'",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records a failed attempt. With `next_attempt_at` the delivery is retried then;
    /// with `None` it is given up (`dead`).
    pub async fn mark_failed(
        &self,
        id: i64,
        next_attempt_at: Option<i64>,
        error: &str,
    ) -> Result<()> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = $1, \
                 status = CASE WHEN $2 IS NULL THEN 'dead' ELSE 'pending' END, \
                 next_attempt_at = COALESCE($2, next_attempt_at) \
                 WHERE id = $3 AND status = 'pending'",
            )
            .bind(error)
            .bind(next_attempt_at)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A delivery of `org`; another organisation's delivery is `None`.
    pub async fn delivery_status(&self, org: i64, id: i64) -> Result<Option<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE organisation_id = $1 AND id = $2"
        );
        let row: Option<DeliveryRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(org).bind(id).fetch_optional(pool).await?
        });
        row.map(delivery_from_row).transpose()
    }

    // ----- audit -----

    /// Appends an entry to the organisation's audit chain in its own transaction. The
    /// store's own operations (decide, appeal, key changes) append inside theirs.
    pub async fn append_audit(
        &self,
        org: i64,
        actor: &str,
        action: &str,
        subject: &str,
        details: &Value,
    ) -> Result<i64> {
        with_tx!(self, tx, _b => {
            Ok(append_audit_tx!(tx, org, actor, action, subject, details))
        })
    }

    /// The audit log of `org`, oldest first.
    pub async fn audit(
        &self,
        org: i64,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<AuditEntry>> {
        let after = match cursor {
            Some(c) => {
                let (org_in_cursor, seq) = decode_cursor(c)?;
                if org_in_cursor != org {
                    return Err(StoreError::InvalidCursor);
                }
                seq
            }
            None => 0,
        };
        let limit = page_limit(limit);
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE organisation_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        );
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(org).bind(after).bind(limit + 1).fetch_all(pool).await?
        });
        let more = rows.len() as i64 > limit;
        let items: Vec<AuditEntry> = rows
            .into_iter()
            .take(limit as usize)
            .map(audit_from_row)
            .collect();
        let next_cursor = match items.last() {
            Some(last) if more => Some(encode_cursor(org, last.seq)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Checks the organisation's audit chain: sequence numbers without gaps, each entry's
    /// `prev_hash` equal to the previous entry's hash, each hash matching its entry, and the
    /// last entry matching the head recorded on the organisation (so a deleted tail is
    /// caught too). The outer `Result` is about reading; the inner one is the verdict.
    pub async fn verify_audit(&self, org: i64) -> Result<Result<u64, AuditBreak>> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE organisation_id = $1 ORDER BY seq, id"
        );
        let (rows, head): (Vec<AuditRow>, Option<(i64, String)>) = with_pool!(self, pool => {
            let rows = sqlx::query_as(&sql).bind(org).fetch_all(pool).await?;
            let head = sqlx::query_as(
                "SELECT audit_seq, audit_head FROM organisations WHERE id = $1",
            )
            .bind(org)
            .fetch_optional(pool)
            .await?;
            (rows, head)
        });
        let (head_seq, head_hash) = head.ok_or(StoreError::NotFound)?;
        let mut prev = GENESIS_HASH.to_string();
        let mut expected_seq = 1;
        let mut last_id = 0;
        for row in rows {
            let raw_details = row.6.clone();
            let e = audit_from_row(row);
            let broken = |reason: String| {
                Ok(Err(AuditBreak {
                    row_id: e.id,
                    reason,
                }))
            };
            if e.seq != expected_seq {
                return broken(format!(
                    "expected entry {expected_seq}, found entry {} (entries missing)",
                    e.seq
                ));
            }
            if e.prev_hash != prev {
                return broken("prev_hash does not match the previous entry's hash".into());
            }
            if serde_json::from_str::<Value>(&raw_details).is_err() {
                return broken("details are not valid JSON".into());
            }
            let hash = audit_hash(
                &e.prev_hash,
                e.organisation_id,
                e.seq,
                &e.actor,
                &e.action,
                &e.subject,
                &e.details,
                e.created_at,
            );
            if hash != e.hash {
                return broken("hash does not match the entry's contents".into());
            }
            prev = e.hash;
            expected_seq += 1;
            last_id = e.id;
        }
        if expected_seq - 1 != head_seq || prev != head_hash {
            return Ok(Err(AuditBreak {
                row_id: last_id,
                reason: format!(
                    "log ends at entry {} but the organisation's head is entry {head_seq}",
                    expected_seq - 1
                ),
            }));
        }
        Ok(Ok((expected_seq - 1) as u64))
    }

    // ----- webhooks -----

    pub async fn set_webhook(&self, org: i64, url: &str, secret: &str) -> Result<()> {
        let now = now_ms();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO webhooks (organisation_id, url, secret, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (organisation_id) DO UPDATE \
                 SET url = excluded.url, secret = excluded.secret, \
                 updated_at = excluded.updated_at",
            )
            .bind(org)
            .bind(url)
            .bind(secret)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn webhook(&self, org: i64) -> Result<Option<Webhook>> {
        let row: Option<(String, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT url, secret FROM webhooks WHERE organisation_id = $1")
                .bind(org)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(url, secret)| Webhook { url, secret }))
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
