//! Sharing between organisations: who may pull which bank, partners' feedback on shared
//! signals, and the feeds this instance pulls from partners.
//!
//! The access rule ([`may_read`]) is one pure function so that every entry point (TAXII,
//! the API) applies the same one and it can be tested exhaustively.

use super::*;
use crate::banks::{
    bank_from_row, check_audience, signal_from_row, BankRow, SignalRow, BANK_COLUMNS,
    SIGNAL_COLUMNS,
};

string_enum!(
    /// A partner's judgement of a shared signal.
    Feedback {
        Confirmed => "confirmed",
        FalsePositive => "false_positive",
        Disputed => "disputed",
    }
);

/// Whether organisation `reader` (a member of `reader_groups`) may pull `bank`.
///
/// The owner always may. TLP:RED never leaves the owner. TLP:AMBER+STRICT goes only to
/// organisations named one by one (`org:<id>`), never to a group or to everyone. Otherwise
/// the bank's audience decides: `*`, a group the reader belongs to, or the reader by id.
pub fn may_read(bank: &Bank, reader: i64, reader_groups: &[String]) -> bool {
    bank.organisation_id == reader
        || audience_admits(&bank.share_with, &bank.tlp, reader, reader_groups)
}

/// Whether an audience (`*`, `group:<name>`, `org:<id>`, comma-separated) under a TLP level
/// admits `reader`, who is not the owner: never for RED, only named organisations for
/// AMBER+STRICT.
pub fn audience_admits(share_with: &str, tlp: &str, reader: i64, reader_groups: &[String]) -> bool {
    if tlp == "red" {
        return false;
    }
    let strict = tlp == "amber+strict";
    share_with
        .split(',')
        .map(str::trim)
        .any(|entry| match entry {
            "*" => !strict,
            _ => {
                if let Some(g) = entry.strip_prefix("group:") {
                    !strict && reader_groups.iter().any(|m| m == g)
                } else if let Some(o) = entry.strip_prefix("org:") {
                    o.parse::<i64>() == Ok(reader)
                } else {
                    false
                }
            }
        })
}

/// An organisation's trend summary as shared: aggregates only (TLP:GREEN).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendSharing {
    pub organisation_id: i64,
    pub owner: String,
    pub share_with: String,
    pub min_count: u64,
}

/// A bank another organisation (or the owner) may pull, with its owner's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisibleBank {
    pub bank: Bank,
    pub owner: String,
}

/// A partner's collection this instance pulls into one of its banks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feed {
    pub organisation_id: i64,
    /// The partner's TAXII discovery or API root URL.
    pub url: String,
    pub collection: String,
    /// The local bank the signals go to.
    pub bank: String,
    /// `key:<api key>` or `basic:<user>:<password>`.
    pub credentials: String,
    /// The checkpoint: objects added after this (an RFC 3339 timestamp) are new.
    pub added_after: Option<String>,
    /// Identities seen so far (STIX id → name), so later pages can name their owners.
    pub identities: BTreeMap<String, String>,
    pub last_pull_at: Option<i64>,
    pub last_error: Option<String>,
}

impl Store {
    pub async fn join_group(&self, org: i64, group: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO share_groups (organisation_id, name) VALUES ($1, $2) \
                 ON CONFLICT (organisation_id, name) DO NOTHING",
            )
            .bind(org)
            .bind(group)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn groups(&self, org: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT name FROM share_groups WHERE organisation_id = $1 ORDER BY name")
                .bind(org)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Every bank `reader` may pull: its own and those shared with it.
    pub async fn visible_banks(&self, reader: i64) -> Result<Vec<VisibleBank>> {
        let groups = self.groups(reader).await?;
        // Candidates only: the rule itself is applied in Rust by `may_read`.
        let sql = format!(
            "SELECT {BANK_COLUMNS} FROM banks WHERE organisation_id = $1 OR share_with <> '' \
             ORDER BY id"
        );
        let (rows, owners): (Vec<BankRow>, Vec<(i64, String)>) = with_pool!(self, pool => {
            let rows = sqlx::query_as(&sql).bind(reader).fetch_all(pool).await?;
            let owners = sqlx::query_as(
                "SELECT id, name FROM organisations WHERE id = $1 OR id IN \
                 (SELECT organisation_id FROM banks WHERE share_with <> '')",
            )
            .bind(reader)
            .fetch_all(pool)
            .await?;
            (rows, owners)
        });
        let owners: BTreeMap<i64, String> = owners.into_iter().collect();
        let mut out = Vec::new();
        for row in rows {
            let bank = bank_from_row(row)?;
            if may_read(&bank, reader, &groups) {
                let owner = owners
                    .get(&bank.organisation_id)
                    .cloned()
                    .unwrap_or_default();
                out.push(VisibleBank { bank, owner });
            }
        }
        Ok(out)
    }

    /// Sets who may pull the organisation's trend summary and its minimum count.
    pub async fn set_trend_sharing(
        &self,
        org: i64,
        share_with: &str,
        min_count: u64,
        actor: &str,
    ) -> Result<()> {
        check_audience(share_with)?;
        if min_count < 5 {
            return Err(StoreError::Invalid("min_count must be at least 5".into()));
        }
        with_tx!(self, tx, _b => {
            sqlx::query(
                "UPDATE organisations SET trends_share_with = $1, trends_min_count = $2 WHERE id = $3",
            )
            .bind(share_with)
            .bind(min_count as i64)
            .bind(org)
            .execute(&mut *tx)
            .await?;
            let details = serde_json::json!({ "share_with": share_with, "min_count": min_count });
            append_audit_tx!(tx, org, actor, "trends.share", "trends", &details);
        });
        Ok(())
    }

    /// The trend summaries `reader` may pull (other organisations' only).
    pub async fn visible_trends(&self, reader: i64) -> Result<Vec<TrendSharing>> {
        let groups = self.groups(reader).await?;
        let rows: Vec<(i64, String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, name, trends_share_with, trends_min_count FROM organisations \
                 WHERE trends_share_with <> '' AND id <> $1 ORDER BY id",
            )
            .bind(reader)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter(|(_, _, with, _)| audience_admits(with, "green", reader, &groups))
            .map(|(organisation_id, owner, share_with, min)| TrendSharing {
                organisation_id,
                owner,
                share_with,
                min_count: min.max(5) as u64,
            })
            .collect())
    }

    /// Every signal of a bank, removed ones included (a feed must carry removals).
    pub async fn all_signals(&self, bank_id: i64) -> Result<Vec<StoredSignal>> {
        let sql =
            format!("SELECT {SIGNAL_COLUMNS} FROM bank_signals WHERE bank_id = $1 ORDER BY id");
        let rows: Vec<SignalRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(bank_id).fetch_all(pool).await?
        });
        rows.into_iter().map(signal_from_row).collect()
    }

    /// Records (or replaces) organisation `from`'s judgement of a signal in one of `owner`'s
    /// banks, updates the signal's tallies and tells matchers (through the change feed).
    pub async fn record_feedback(
        &self,
        owner: i64,
        signal_id: i64,
        from: i64,
        feedback: Feedback,
        note: Option<&str>,
        actor: &str,
    ) -> Result<StoredSignal> {
        let now = now_ms();
        let select = format!(
            "SELECT {SIGNAL_COLUMNS} FROM bank_signals WHERE id = $1 AND organisation_id = $2"
        );
        with_tx!(self, tx, _b => {
            let exists: Option<SignalRow> =
                sqlx::query_as(&select).bind(signal_id).bind(owner).fetch_optional(&mut *tx).await?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "INSERT INTO signal_feedback (signal_id, from_organisation_id, verdict, note, \
                 created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (signal_id, from_organisation_id) DO UPDATE SET \
                 verdict = excluded.verdict, note = excluded.note, created_at = excluded.created_at",
            )
            .bind(signal_id)
            .bind(from)
            .bind(feedback.as_str())
            .bind(note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let seq: (i64,) = sqlx::query_as(
                "UPDATE organisations SET bank_seq = bank_seq + 1 WHERE id = $1 RETURNING bank_seq",
            )
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE bank_signals SET \
                 confirmed = (SELECT COUNT(*) FROM signal_feedback WHERE signal_id = $1 \
                   AND verdict = 'confirmed'), \
                 disputed = (SELECT COUNT(*) FROM signal_feedback WHERE signal_id = $1 \
                   AND verdict <> 'confirmed'), \
                 change_seq = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(signal_id)
            .bind(seq.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let details = serde_json::json!({
                "signal": signal_id, "from_organisation": from, "feedback": feedback.as_str(),
            });
            append_audit_tx!(tx, owner, actor, "signal.feedback", &format!("signal:{signal_id}"), &details);
        });
        let row: SignalRow = with_pool!(self, pool => {
            sqlx::query_as(&select).bind(signal_id).bind(owner).fetch_one(pool).await?
        });
        signal_from_row(row)
    }

    /// Feedback on one signal: (organisation id, judgement, note, time).
    pub async fn feedback_on(
        &self,
        signal_id: i64,
    ) -> Result<Vec<(i64, Feedback, Option<String>, i64)>> {
        let rows: Vec<(i64, String, Option<String>, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT from_organisation_id, verdict, note, created_at FROM signal_feedback \
                 WHERE signal_id = $1 ORDER BY from_organisation_id",
            )
            .bind(signal_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(o, v, n, t)| Ok((o, v.parse()?, n, t)))
            .collect()
    }

    /// Adds or replaces a feed (keeping its checkpoint if only the credentials change).
    pub async fn upsert_feed(
        &self,
        org: i64,
        url: &str,
        collection: &str,
        bank: &str,
        credentials: &str,
    ) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO exchange_feeds (organisation_id, url, collection, bank, credentials) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (organisation_id, url, collection) \
                 DO UPDATE SET bank = excluded.bank, credentials = excluded.credentials",
            )
            .bind(org)
            .bind(url)
            .bind(collection)
            .bind(bank)
            .bind(credentials)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every feed of every organisation, for the scheduled puller.
    pub async fn feeds(&self) -> Result<Vec<Feed>> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            String,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT organisation_id, url, collection, bank, credentials, added_after, \
                 identities, last_pull_at, last_error FROM exchange_feeds \
                 ORDER BY organisation_id, url, collection",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(
                    organisation_id,
                    url,
                    collection,
                    bank,
                    credentials,
                    added_after,
                    identities,
                    last_pull_at,
                    last_error,
                )| {
                    Ok(Feed {
                        organisation_id,
                        url,
                        collection,
                        bank,
                        credentials,
                        added_after,
                        identities: serde_json::from_str(&identities)?,
                        last_pull_at,
                        last_error,
                    })
                },
            )
            .collect()
    }

    /// Saves a feed's checkpoint after a pull (or the error of a failed one, keeping the
    /// checkpoint so the next pull resumes where the last good one ended).
    pub async fn save_feed_state(&self, feed: &Feed) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE exchange_feeds SET added_after = $1, identities = $2, last_pull_at = $3, \
                 last_error = $4 WHERE organisation_id = $5 AND url = $6 AND collection = $7",
            )
            .bind(feed.added_after.as_deref())
            .bind(serde_json::to_string(&feed.identities)?)
            .bind(feed.last_pull_at)
            .bind(feed.last_error.as_deref())
            .bind(feed.organisation_id)
            .bind(&feed.url)
            .bind(&feed.collection)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
