//! Delivering actions to organisations' webhooks from the store's outbox.
//!
//! Decisions enqueue a delivery in the same transaction that records them, so a crash
//! cannot lose one; this sender leases due deliveries, POSTs them signed with the
//! organisation's secret, and records success or schedules a retry with exponential
//! backoff. Several senders (on several nodes) may run at once: leases keep them apart.
//!
//! Receivers may be `https://` (rustls, verified against the Mozilla roots plus any
//! roots the operator adds) or plain `http://`.

use breakwater_store::{Delivery, Store, StoreError};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// Attempts before a delivery is given up ("dead"), unless configured otherwise.
pub const MAX_ATTEMPTS: i64 = 10;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How a [`WebhookSender`] behaves.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// How long one attempt (connect, TLS, request and answer) may take.
    pub attempt_timeout: Duration,
    /// Attempts before a delivery is given up ("dead").
    pub max_attempts: i64,
    /// How long a leased delivery stays invisible to other senders; longer than an
    /// attempt, so two senders never send the same delivery at once.
    pub lease: Duration,
    /// DER certificates trusted besides the Mozilla roots, for receivers behind a
    /// private certificate authority.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for SenderSettings {
    fn default() -> Self {
        SenderSettings {
            attempt_timeout: Duration::from_secs(10),
            max_attempts: MAX_ATTEMPTS,
            lease: Duration::from_secs(60),
            extra_roots: Vec::new(),
        }
    }
}

/// Why a sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("extra root certificate {index} is not a usable DER certificate: {reason}")]
    InvalidRoot { index: usize, reason: String },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("no certificate could be read from the PEM text: {0}")]
    Pem(String),
}

/// The DER certificates of a PEM bundle (for [`SenderSettings::extra_roots`]).
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, SenderError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SenderError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(SenderError::Pem("no CERTIFICATE section".into()));
    }
    Ok(certs)
}

/// Sends due deliveries.
#[derive(Clone)]
pub struct WebhookSender {
    store: Store,
    client: HttpClient,
    settings: Arc<SenderSettings>,
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

/// Renders an error with its causes: hyper's own message ("client error (Connect)")
/// says little without them.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

impl WebhookSender {
    /// A sender with the default settings.
    pub fn new(store: Store) -> Self {
        Self::with_settings(store, SenderSettings::default())
            .expect("the default settings add no roots that could be invalid")
    }

    pub fn with_settings(store: Store, settings: SenderSettings) -> Result<Self, SenderError> {
        let connector =
            breakwater_share::tls::https_connector(&settings.extra_roots).map_err(|e| match e {
                breakwater_share::tls::TlsSetupError::InvalidRoot { index, reason } => {
                    SenderError::InvalidRoot { index, reason }
                }
                breakwater_share::tls::TlsSetupError::Tls(m) => SenderError::Tls(m),
            })?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(WebhookSender {
            store,
            client,
            settings: Arc::new(settings),
        })
    }

    /// Sends every delivery due at `now` (Unix ms); returns how many were delivered.
    pub async fn send_due(&self, now: i64) -> Result<usize, StoreError> {
        let mut delivered = 0;
        let lease = self.settings.lease;
        for d in self.store.lease_due_deliveries(now, lease, 100).await? {
            match self.attempt(&d, now).await {
                Ok(()) => {
                    self.store.mark_delivered(d.id).await?;
                    delivered += 1;
                }
                Err(error) => {
                    let failures = d.attempts + 1;
                    let next = (failures < self.settings.max_attempts)
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
        let timeout = self.settings.attempt_timeout;
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| format!("timed out after {} s", timeout.as_secs_f64()))?
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
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
