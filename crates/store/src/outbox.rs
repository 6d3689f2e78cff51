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
