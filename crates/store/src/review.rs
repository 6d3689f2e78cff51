//! Review queues, decisions and appeals.

use super::*;

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

pub(crate) fn queue_for(assessment: &Assessment) -> Option<String> {
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

    /// Waiting and claimed entries per queue, summed over every organisation (for
    /// metrics), by queue name.
    pub async fn queue_depths_all(&self) -> Result<Vec<QueueDepth>> {
        let now = now_ms();
        let rows: Vec<(String, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT queue, \
                 SUM(CASE WHEN lease_until IS NULL OR lease_until < $1 THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN lease_until IS NULL OR lease_until < $1 THEN 0 ELSE 1 END) \
                 FROM queue_entries GROUP BY queue ORDER BY queue",
            )
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
        self.decide_with(org, item_id, reviewer, decision, None)
            .await
    }

    /// Applies a reviewer's decision on a whole campaign to one of its members that is
    /// waiting for review, without claiming it first: the reviewer reviewed the campaign
    /// (its template and members) as one. Appeals are never decided this way.
    pub async fn decide_for_campaign(
        &self,
        org: i64,
        item_id: i64,
        reviewer: &Principal,
        decision: &Decision,
        campaign: &str,
    ) -> Result<StoredDecision> {
        self.decide_with(org, item_id, reviewer, decision, Some(campaign))
            .await
    }

    async fn decide_with(
        &self,
        org: i64,
        item_id: i64,
        reviewer: &Principal,
        decision: &Decision,
        campaign: Option<&str>,
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
            if campaign.is_some() && queue == APPEALS_QUEUE {
                return Err(StoreError::Conflict(
                    "an appeal is decided on its own, not with its campaign".into(),
                ));
            }
            if campaign.is_none() && claimed_by != Some(reviewer.key_id) && reviewer.role != Role::Admin {
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
                "campaign": campaign,
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
}
