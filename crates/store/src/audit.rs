//! The hash-chained audit log.

use super::*;

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

pub(crate) fn audit_from_row(row: AuditRow) -> AuditEntry {
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

#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_hash(
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

impl Store {
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
}
