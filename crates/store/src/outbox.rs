//! The webhook outbox: deliveries waiting, delivered or given up, and where they go.

use super::*;

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

impl DeliveryState {
    /// The name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "dead" => Ok(DeliveryState::Dead),
            other => Err(StoreError::Database(format!(
                "unknown delivery status `{other}`"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
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
    let state = status.parse()?;
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

impl Store {
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

    /// Deliveries of `org`, newest first, optionally only those in `state`.
    pub async fn list_deliveries(
        &self,
        org: i64,
        state: Option<DeliveryState>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Delivery>> {
        let before = match cursor {
            Some(c) => {
                let (org_in_cursor, id) = decode_cursor(c)?;
                // A cursor is only good for the organisation it was issued to.
                if org_in_cursor != org {
                    return Err(StoreError::InvalidCursor);
                }
                id
            }
            None => i64::MAX,
        };
        let limit = page_limit(limit);
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE organisation_id = $1 \
             AND ($2 IS NULL OR status = $2) AND id < $3 ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<DeliveryRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(org)
                .bind(state.map(DeliveryState::as_str))
                .bind(before)
                .bind(limit + 1)
                .fetch_all(pool)
                .await?
        });
        let more = rows.len() as i64 > limit;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(delivery_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = match items.last() {
            Some(last) if more => Some(encode_cursor(org, last.id)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// How many deliveries of every organisation are pending and dead (for metrics).
    /// Delivered ones are not counted: they only grow, and counting them scans them all.
    pub async fn delivery_counts(&self) -> Result<Vec<(DeliveryState, i64)>> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT status, COUNT(*) FROM deliveries WHERE status IN ('pending', 'dead') \
                 GROUP BY status",
            )
            .fetch_all(pool)
            .await?
        });
        let mut counts = vec![(DeliveryState::Pending, 0), (DeliveryState::Dead, 0)];
        for (status, n) in rows {
            let state: DeliveryState = status.parse()?;
            if let Some(c) = counts.iter_mut().find(|(s, _)| *s == state) {
                c.1 = n;
            }
        }
        Ok(counts)
    }

    /// When the oldest pending delivery of any organisation was enqueued (Unix ms), so
    /// that a stuck outbox can be alerted on.
    pub async fn oldest_pending_delivery(&self) -> Result<Option<i64>> {
        let (oldest,): (Option<i64>,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'")
                .fetch_one(pool)
                .await?
        });
        Ok(oldest)
    }

    // ----- webhooks -----

    /// Sets the organisation's webhook and records the change (never the secret) in the
    /// audit log, in one transaction.
    pub async fn configure_webhook(
        &self,
        org: i64,
        url: &str,
        secret: &str,
        actor: &str,
    ) -> Result<()> {
        let now = now_ms();
        with_tx!(self, tx, _b => {
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
            .execute(&mut *tx)
            .await?;
            let details = serde_json::json!({ "url": url });
            let subject = format!("organisation:{org}");
            append_audit_tx!(tx, org, actor, "webhook.set", &subject, &details);
            Ok(())
        })
    }

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
