//! Delivering actions to organisations' webhooks from the store's outbox.
//!
//! Decisions enqueue a delivery in the same transaction that records them, so a crash
//! cannot lose one; this sender leases due deliveries, POSTs them signed with the
//! organisation's secret, and records success or schedules a retry with exponential
//! backoff. Several senders (on several nodes) may run at once: leases keep them apart.

use breakwater_store::{Delivery, Store, StoreError};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use std::time::Duration;

/// Attempts before a delivery is given up ("dead").
pub const MAX_ATTEMPTS: i64 = 10;
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a leased delivery stays invisible to other senders.
const LEASE: Duration = Duration::from_secs(60);

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Sends due deliveries.
#[derive(Clone)]
pub struct WebhookSender {
    store: Store,
    client: HttpClient,
}

/// The hex HMAC-SHA256 of `body` under `secret`, as sent in `X-Breakwater-Signature`
/// (`sha256=<hex>`), computed over `<timestamp>.<body>` so a replayed body with a new
/// timestamp does not verify.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Delay before the next attempt after `attempts` failures: 2, 4, 8 … seconds, at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 12) as u32).min(3600))
}

impl WebhookSender {
    pub fn new(store: Store) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        WebhookSender { store, client }
    }

    /// Sends every delivery due at `now` (Unix ms); returns how many were delivered.
    pub async fn send_due(&self, now: i64) -> Result<usize, StoreError> {
        let mut delivered = 0;
        for d in self.store.lease_due_deliveries(now, LEASE, 100).await? {
            match self.attempt(&d, now).await {
                Ok(()) => {
                    self.store.mark_delivered(d.id).await?;
                    delivered += 1;
                }
                Err(error) => {
                    let failures = d.attempts + 1;
                    let next = (failures < MAX_ATTEMPTS)
                        .then(|| now + backoff(failures).as_millis() as i64);
                    self.store.mark_failed(d.id, next, &error).await?;
                }
            }
        }
        Ok(delivered)
    }

    async fn attempt(&self, d: &Delivery, now: i64) -> Result<(), String> {
        let hook = self
            .store
            .webhook(d.organisation_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the organisation has no webhook configured")?;
        let body = serde_json::to_vec(&serde_json::json!({"delivery_id": d.id, "event": d.event}))
            .map_err(|e| e.to_string())?;
        let timestamp = now / 1000;
        let request = hyper::Request::post(&hook.url)
            .header("content-type", "application/json")
            .header("x-breakwater-delivery", d.id.to_string())
            .header("x-breakwater-timestamp", timestamp.to_string())
            .header(
                "x-breakwater-signature",
                format!("sha256={}", signature(&hook.secret, timestamp, &body)),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("invalid webhook URL: {e}"))?;
        let response = tokio::time::timeout(ATTEMPT_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        // Drain the body so the connection can be reused.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("receiver answered {status}"))
        }
    }

    /// Runs forever, sending due deliveries every `interval`.
    pub async fn run(self, interval: Duration) {
        loop {
            if let Err(e) = self.send_due(breakwater_store::now_ms()).await {
                eprintln!(
                    "{}",
                    serde_json::json!({"level": "error", "webhooks": e.to_string()})
                );
            }
            tokio::time::sleep(interval).await;
        }
    }
}
