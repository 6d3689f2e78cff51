//! Signal banks: named collections of hashes, numbers, accounts, addresses and phrases that
//! items are matched against.
//!
//! Removal is a soft delete (`removed_at`), and every change takes the organisation's next
//! `bank_seq`, so a matcher (or a partner pulling a feed) can follow changes incrementally
//! with [`Store::signal_changes`] instead of reloading everything.

use super::*;
use breakwater_core::{MatchVerdict, Signal, SignalKind};

/// The PDQ distance at or under which two images are the same picture (the reference's
/// recommendation).
pub const DEFAULT_PDQ_THRESHOLD: u32 = 31;
/// PDQ thresholds above this would match unrelated images (random hashes differ by ~128).
pub const MAX_PDQ_THRESHOLD: u32 = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bank {
    pub id: i64,
    pub organisation_id: i64,
    pub name: String,
    pub description: String,
    /// The label of its signals unless a signal has its own.
    pub category: Option<Category>,
    pub verdict: MatchVerdict,
    pub pdq_threshold: u32,
    pub enabled: bool,
    /// Switched off until this time (Unix ms), e.g. while a list is being checked.
    pub disabled_until: Option<i64>,
    /// Stops matching at this time.
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub change_seq: i64,
    /// Traffic Light Protocol level of the bank's signals when shared.
    pub tlp: String,
    /// Who may pull the bank: `*`, `group:<name>`, `org:<id>`, comma-separated; empty: nobody.
    pub share_with: String,
    /// Partners' disputes (or false-positive reports) after which a signal stops matching;
    /// 0: never.
    pub dispute_limit: u32,
}

impl Bank {
    /// Whether the bank matches at time `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.enabled
            && self.disabled_until.is_none_or(|t| now >= t)
            && self.expires_at.is_none_or(|t| now < t)
    }
}

/// A bank to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBank {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category: Option<Category>,
    #[serde(default = "default_verdict")]
    pub verdict: MatchVerdict,
    #[serde(default = "default_threshold")]
    pub pdq_threshold: u32,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default = "default_tlp")]
    pub tlp: String,
    #[serde(default)]
    pub share_with: String,
    #[serde(default = "default_dispute_limit")]
    pub dispute_limit: u32,
}

fn default_tlp() -> String {
    "amber".into()
}

fn default_dispute_limit() -> u32 {
    2
}

/// The TLP 2.0 levels, least restrictive first.
pub const TLP_LEVELS: [&str; 5] = ["clear", "green", "amber", "amber+strict", "red"];

fn check_sharing(tlp: &str, share_with: &str) -> Result<()> {
    if !TLP_LEVELS.contains(&tlp) {
        return Err(StoreError::Invalid(format!(
            "tlp `{tlp}` is not one of {}",
            TLP_LEVELS.join(", ")
        )));
    }
    check_audience(share_with)
}

/// Checks an audience: `*`, `group:<name>`, `org:<id>`, comma-separated, or empty.
pub(crate) fn check_audience(share_with: &str) -> Result<()> {
    for entry in share_with
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let ok = entry == "*"
            || entry
                .strip_prefix("group:")
                .is_some_and(|g| !g.is_empty() && !g.contains(char::is_whitespace))
            || entry
                .strip_prefix("org:")
                .is_some_and(|o| o.parse::<i64>().is_ok());
        if !ok {
            return Err(StoreError::Invalid(format!(
                "share_with entry `{entry}` must be `*`, `group:<name>` or `org:<id>`"
            )));
        }
    }
    Ok(())
}

fn default_verdict() -> MatchVerdict {
    MatchVerdict::Review
}

fn default_threshold() -> u32 {
    DEFAULT_PDQ_THRESHOLD
}

impl NewBank {
    pub fn named(name: &str) -> NewBank {
        NewBank {
            name: name.to_string(),
            description: String::new(),
            category: None,
            verdict: MatchVerdict::Review,
            pdq_threshold: DEFAULT_PDQ_THRESHOLD,
            expires_at: None,
            tlp: default_tlp(),
            share_with: String::new(),
            dispute_limit: default_dispute_limit(),
        }
    }
}

/// Changes to a bank; absent fields stay as they are, `null` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankPatch {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub category: Option<Option<Category>>,
    #[serde(default)]
    pub verdict: Option<MatchVerdict>,
    #[serde(default)]
    pub pdq_threshold: Option<u32>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub disabled_until: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<i64>>,
    #[serde(default)]
    pub tlp: Option<String>,
    #[serde(default)]
    pub share_with: Option<String>,
    #[serde(default)]
    pub dispute_limit: Option<u32>,
}

/// Tells a field given as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A signal to add to a bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSignal {
    pub signal: Signal,
    pub category: Option<Category>,
    /// Provenance: who observed or shared it.
    pub source: Option<String>,
    pub note: Option<String>,
    pub expires_at: Option<i64>,
    /// The organisation that first shared it, for signals pulled from a partner.
    pub origin: Option<String>,
}

impl NewSignal {
    pub fn new(signal: Signal) -> NewSignal {
        NewSignal {
            signal,
            category: None,
            source: None,
            note: None,
            expires_at: None,
            origin: None,
        }
    }
}

/// A signal as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSignal {
    pub id: i64,
    pub bank_id: i64,
    pub kind: SignalKind,
    pub value: String,
    pub category: Option<Category>,
    pub source: Option<String>,
    pub note: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when the signal was removed; kept so that followers of the change feed see it go.
    pub removed_at: Option<i64>,
    pub change_seq: i64,
    /// The organisation that first shared it; `None` for the bank owner's own.
    pub origin: Option<String>,
    /// Partners that confirmed it.
    pub confirmed: i64,
    /// Partners that disputed it or reported it as a false positive.
    pub disputed: i64,
}

impl StoredSignal {
    /// Whether the signal itself (not its bank) matches at time `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.removed_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

/// What a bulk add did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddReport {
    /// Signals new to the bank.
    pub added: u64,
    /// Signals already there (or removed earlier), whose labels were updated.
    pub updated: u64,
}

/// The most signals accepted in one add.
pub const MAX_SIGNALS_PER_ADD: usize = 100_000;

pub(crate) const BANK_COLUMNS: &str = "id, organisation_id, name, description, category, verdict, \
     pdq_threshold, enabled, disabled_until, expires_at, created_at, updated_at, change_seq, \
     tlp, share_with, dispute_limit";
pub(crate) type BankRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    i64,
    bool,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    i64,
    String,
    String,
    i64,
);

pub(crate) fn bank_from_row(row: BankRow) -> Result<Bank> {
    let (
        id,
        organisation_id,
        name,
        description,
        category,
        verdict,
        pdq_threshold,
        enabled,
        disabled_until,
        expires_at,
        created_at,
        updated_at,
        change_seq,
        tlp,
        share_with,
        dispute_limit,
    ) = row;
    Ok(Bank {
        id,
        organisation_id,
        name,
        description,
        category: parse_category(category)?,
        verdict: verdict.parse().map_err(StoreError::Database)?,
        pdq_threshold: pdq_threshold as u32,
        enabled,
        disabled_until,
        expires_at,
        created_at,
        updated_at,
        change_seq,
        tlp,
        share_with,
        dispute_limit: dispute_limit as u32,
    })
}

pub(crate) const SIGNAL_COLUMNS: &str =
    "id, bank_id, kind, value, category, source, note, expires_at, \
     created_at, updated_at, removed_at, change_seq, origin, confirmed, disputed";
pub(crate) type SignalRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
    i64,
    Option<String>,
    i64,
    i64,
);

pub(crate) fn signal_from_row(row: SignalRow) -> Result<StoredSignal> {
    let (
        id,
        bank_id,
        kind,
        value,
        category,
        source,
        note,
        expires_at,
        created_at,
        updated_at,
        removed_at,
        change_seq,
        origin,
        confirmed,
        disputed,
    ) = row;
    Ok(StoredSignal {
        id,
        bank_id,
        kind: kind
            .parse()
            .map_err(|e: breakwater_core::SignalError| StoreError::Database(e.to_string()))?,
        value,
        category: parse_category(category)?,
        source,
        note,
        expires_at,
        created_at,
        updated_at,
        removed_at,
        change_seq,
        origin,
        confirmed,
        disputed,
    })
}

fn parse_category(c: Option<String>) -> Result<Option<Category>> {
    c.map(|c| {
        c.parse::<Category>()
            .map_err(|e| StoreError::Database(e.to_string()))
    })
    .transpose()
}

/// Bank names go in URLs and on command lines: keep them plain.
fn check_bank_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "bank name `{name}` must be 1 to 64 letters, digits, `-`, `_` or `.`"
        )))
    }
}

fn check_threshold(t: u32) -> Result<()> {
    if t <= MAX_PDQ_THRESHOLD {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "pdq_threshold {t} is above the maximum of {MAX_PDQ_THRESHOLD}"
        )))
    }
}

/// Takes the organisation's next bank change number inside the transaction `$tx`.
macro_rules! next_bank_seq_tx {
    ($tx:expr, $org:expr) => {{
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE organisations SET bank_seq = bank_seq + 1 WHERE id = $1 RETURNING bank_seq",
        )
        .bind($org)
        .fetch_optional(&mut *$tx)
        .await?;
        row.ok_or(StoreError::NotFound)?.0
    }};
}

impl Store {
    pub async fn create_bank(&self, org: i64, new: &NewBank, actor: &str) -> Result<Bank> {
        check_bank_name(&new.name)?;
        check_threshold(new.pdq_threshold)?;
        check_sharing(&new.tlp, &new.share_with)?;
        let now = now_ms();
        let sql = format!(
            "INSERT INTO banks (organisation_id, name, description, category, verdict, \
             pdq_threshold, enabled, expires_at, created_at, updated_at, change_seq, tlp, \
             share_with, dispute_limit) \
             VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $8, $8, $9, $10, $11, $12) \
             RETURNING {BANK_COLUMNS}"
        );
        let out = with_tx!(self, tx, _b => {
            let seq = next_bank_seq_tx!(tx, org);
            let row: BankRow = sqlx::query_as(&sql)
                .bind(org)
                .bind(&new.name)
                .bind(&new.description)
                .bind(new.category.map(|c| c.as_str()))
                .bind(new.verdict.as_str())
                .bind(i64::from(new.pdq_threshold))
                .bind(new.expires_at)
                .bind(now)
                .bind(seq)
                .bind(&new.tlp)
                .bind(&new.share_with)
                .bind(i64::from(new.dispute_limit))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => {
                        StoreError::Conflict(format!("a bank named `{}` exists", new.name))
                    }
                    other => other,
                })?;
            let bank = bank_from_row(row)?;
            let details = serde_json::to_value(new)?;
            append_audit_tx!(tx, org, actor, "bank.create", &format!("bank:{}", bank.name), &details);
            bank
        });
        Ok(out)
    }

    /// The organisation's banks, by name.
    pub async fn banks(&self, org: i64) -> Result<Vec<Bank>> {
        let sql =
            format!("SELECT {BANK_COLUMNS} FROM banks WHERE organisation_id = $1 ORDER BY name");
        let rows: Vec<BankRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(org).fetch_all(pool).await?
        });
        rows.into_iter().map(bank_from_row).collect()
    }

    pub async fn bank_by_name(&self, org: i64, name: &str) -> Result<Option<Bank>> {
        let sql =
            format!("SELECT {BANK_COLUMNS} FROM banks WHERE organisation_id = $1 AND name = $2");
        let row: Option<BankRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(org).bind(name).fetch_optional(pool).await?
        });
        row.map(bank_from_row).transpose()
    }

    /// Live signals per kind in a bank.
    pub async fn bank_counts(&self, org: i64, bank_id: i64) -> Result<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kind, COUNT(*) FROM bank_signals WHERE organisation_id = $1 \
                 AND bank_id = $2 AND removed_at IS NULL GROUP BY kind",
            )
            .bind(org)
            .bind(bank_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().collect())
    }

    pub async fn update_bank(
        &self,
        org: i64,
        name: &str,
        patch: &BankPatch,
        actor: &str,
    ) -> Result<Bank> {
        if let Some(t) = patch.pdq_threshold {
            check_threshold(t)?;
        }
        let now = now_ms();
        let select =
            format!("SELECT {BANK_COLUMNS} FROM banks WHERE organisation_id = $1 AND name = $2");
        let update = format!(
            "UPDATE banks SET description = $1, category = $2, verdict = $3, \
             pdq_threshold = $4, enabled = $5, disabled_until = $6, expires_at = $7, \
             updated_at = $8, change_seq = $9, tlp = $11, share_with = $12, dispute_limit = $13 \
             WHERE id = $10 RETURNING {BANK_COLUMNS}"
        );
        let out = with_tx!(self, tx, _b => {
            let row: Option<BankRow> =
                sqlx::query_as(&select).bind(org).bind(name).fetch_optional(&mut *tx).await?;
            let mut bank = bank_from_row(row.ok_or(StoreError::NotFound)?)?;
            if let Some(d) = &patch.description {
                bank.description = d.clone();
            }
            if let Some(c) = patch.category {
                bank.category = c;
            }
            if let Some(v) = patch.verdict {
                bank.verdict = v;
            }
            if let Some(t) = patch.pdq_threshold {
                bank.pdq_threshold = t;
            }
            if let Some(e) = patch.enabled {
                bank.enabled = e;
            }
            if let Some(d) = patch.disabled_until {
                bank.disabled_until = d;
            }
            if let Some(e) = patch.expires_at {
                bank.expires_at = e;
            }
            if let Some(t) = &patch.tlp {
                bank.tlp = t.clone();
            }
            if let Some(w) = &patch.share_with {
                bank.share_with = w.clone();
            }
            if let Some(d) = patch.dispute_limit {
                bank.dispute_limit = d;
            }
            check_sharing(&bank.tlp, &bank.share_with)?;
            let seq = next_bank_seq_tx!(tx, org);
            let row: BankRow = sqlx::query_as(&update)
                .bind(&bank.description)
                .bind(bank.category.map(|c| c.as_str()))
                .bind(bank.verdict.as_str())
                .bind(i64::from(bank.pdq_threshold))
                .bind(bank.enabled)
                .bind(bank.disabled_until)
                .bind(bank.expires_at)
                .bind(now)
                .bind(seq)
                .bind(bank.id)
                .bind(&bank.tlp)
                .bind(&bank.share_with)
                .bind(i64::from(bank.dispute_limit))
                .fetch_one(&mut *tx)
                .await?;
            let details = serde_json::to_value(patch)?;
            append_audit_tx!(tx, org, actor, "bank.update", &format!("bank:{name}"), &details);
            bank_from_row(row)?
        });
        Ok(out)
    }

    /// Adds signals to a bank in one transaction (all or nothing). A signal already in the
    /// bank gets the new labels; a removed one comes back.
    pub async fn add_signals(
        &self,
        org: i64,
        bank_name: &str,
        signals: &[NewSignal],
        actor: &str,
    ) -> Result<AddReport> {
        if signals.len() > MAX_SIGNALS_PER_ADD {
            return Err(StoreError::Invalid(format!(
                "{} signals in one add, more than the limit of {MAX_SIGNALS_PER_ADD}",
                signals.len()
            )));
        }
        // The last occurrence of a signal in the batch wins.
        let mut unique: BTreeMap<&Signal, &NewSignal> = BTreeMap::new();
        for s in signals {
            unique.insert(&s.signal, s);
        }
        let now = now_ms();
        let out = with_tx!(self, tx, _b => {
            let bank: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM banks WHERE organisation_id = $1 AND name = $2",
            )
            .bind(org)
            .bind(bank_name)
            .fetch_optional(&mut *tx)
            .await?;
            let (bank_id,) = bank.ok_or(StoreError::NotFound)?;
            let seq = next_bank_seq_tx!(tx, org);
            let mut report = AddReport::default();
            for s in unique.values() {
                let (created_at,): (i64,) = sqlx::query_as(
                    "INSERT INTO bank_signals (organisation_id, bank_id, kind, value, category, \
                     source, note, expires_at, created_at, updated_at, change_seq, origin) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11) \
                     ON CONFLICT (bank_id, kind, value) DO UPDATE SET \
                     category = excluded.category, source = excluded.source, \
                     note = excluded.note, expires_at = excluded.expires_at, \
                     origin = excluded.origin, \
                     updated_at = excluded.updated_at, removed_at = NULL, \
                     change_seq = excluded.change_seq \
                     RETURNING created_at",
                )
                .bind(org)
                .bind(bank_id)
                .bind(s.signal.kind.as_str())
                .bind(&s.signal.value)
                .bind(s.category.map(|c| c.as_str()))
                .bind(s.source.as_deref())
                .bind(s.note.as_deref())
                .bind(s.expires_at)
                .bind(now)
                .bind(seq)
                .bind(s.origin.as_deref())
                .fetch_one(&mut *tx)
                .await?;
                if created_at == now {
                    report.added += 1;
                } else {
                    report.updated += 1;
                }
            }
            let details = serde_json::json!({ "added": report.added, "updated": report.updated });
            append_audit_tx!(tx, org, actor, "bank.add", &format!("bank:{bank_name}"), &details);
            report
        });
        Ok(out)
    }

    /// Removes a signal from a bank; `NotFound` if it is not there.
    pub async fn remove_signal(
        &self,
        org: i64,
        bank_name: &str,
        signal: &Signal,
        actor: &str,
    ) -> Result<()> {
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let seq = next_bank_seq_tx!(tx, org);
            let done = sqlx::query(
                "UPDATE bank_signals SET removed_at = $1, updated_at = $1, change_seq = $2 \
                 WHERE organisation_id = $3 AND kind = $4 AND value = $5 AND removed_at IS NULL \
                 AND bank_id = (SELECT id FROM banks WHERE organisation_id = $3 AND name = $6)",
            )
            .bind(now)
            .bind(seq)
            .bind(org)
            .bind(signal.kind.as_str())
            .bind(&signal.value)
            .bind(bank_name)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                // Rolls back the sequence number taken above.
                return Err(StoreError::NotFound);
            }
            let details = serde_json::json!({ "kind": signal.kind, "value": signal.value });
            append_audit_tx!(tx, org, actor, "bank.remove", &format!("bank:{bank_name}"), &details);
        });
        Ok(())
    }

    /// The live signals of a bank, oldest first, `limit` per page (1..=1000).
    pub async fn list_signals(
        &self,
        org: i64,
        bank_id: i64,
        kind: Option<SignalKind>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<StoredSignal>> {
        let after = match cursor {
            Some(c) => decode_cursor(c)?.1,
            None => 0,
        };
        let limit = page_limit(limit);
        let sql = format!(
            "SELECT {SIGNAL_COLUMNS} FROM bank_signals WHERE organisation_id = $1 \
             AND bank_id = $2 AND removed_at IS NULL AND ($3 IS NULL OR kind = $3) \
             AND id > $4 ORDER BY id LIMIT $5"
        );
        let rows: Vec<SignalRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(org)
                .bind(bank_id)
                .bind(kind.map(|k| k.as_str()))
                .bind(after)
                .bind(limit + 1)
                .fetch_all(pool)
                .await?
        });
        let more = rows.len() as i64 > limit;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(signal_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = match items.last() {
            Some(last) if more => Some(encode_cursor(0, last.id)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Every bank entry of the organisation holding exactly `signal` (removed ones excluded),
    /// whether or not the bank is active.
    pub async fn lookup_signal(&self, org: i64, signal: &Signal) -> Result<Vec<StoredSignal>> {
        let sql = format!(
            "SELECT {SIGNAL_COLUMNS} FROM bank_signals WHERE organisation_id = $1 \
             AND kind = $2 AND value = $3 AND removed_at IS NULL ORDER BY id"
        );
        let rows: Vec<SignalRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(org)
                .bind(signal.kind.as_str())
                .bind(&signal.value)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(signal_from_row).collect()
    }

    /// The organisation's latest bank change number: a matcher that has seen it is current.
    pub async fn bank_seq(&self, org: i64) -> Result<i64> {
        let row: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT bank_seq FROM organisations WHERE id = $1")
                .bind(org)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.ok_or(StoreError::NotFound)?.0)
    }

    /// Signals added, changed or removed after position `after` = (change_seq, id), in
    /// change order, at most `limit` (1..=10 000). Pass the last returned signal's
    /// `(change_seq, id)` to continue.
    pub async fn signal_changes(
        &self,
        org: i64,
        after: (i64, i64),
        limit: u32,
    ) -> Result<Vec<StoredSignal>> {
        let sql = format!(
            "SELECT {SIGNAL_COLUMNS} FROM bank_signals WHERE organisation_id = $1 \
             AND (change_seq > $2 OR (change_seq = $2 AND id > $3)) \
             ORDER BY change_seq, id LIMIT $4"
        );
        let rows: Vec<SignalRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(org)
                .bind(after.0)
                .bind(after.1)
                .bind(i64::from(limit.clamp(1, 10_000)))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(signal_from_row).collect()
    }
}
