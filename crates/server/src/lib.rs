//! The Breakwater HTTP API under `/v1`, with health, readiness and metrics.
//!
//! One cloneable [`AppState`] (the pipeline and the store); each module exposes a
//! `router()`; errors are [`ApiError`]s. Only this crate knows HTTP; it knows no SQL.

pub mod bank_cache;
mod banks;
pub mod campaigns;
mod deliveries;
mod error;
pub mod exchange;
mod extract;
mod interventions;
mod items;
mod keys;
mod ops;
mod referrals;
mod review;
pub mod taxii;
mod upload;
pub mod webhooks;

pub use error::ApiError;
pub use ops::{HttpHistograms, LogFormat, Options};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use breakwater_pipeline::Pipeline;
use breakwater_store::Store;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// The largest request body accepted (a batch of items).
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// The most items in one `POST /v1/items` batch.
pub const MAX_BATCH: usize = 1000;
/// The largest upload of an item with its images.
pub const MAX_UPLOAD_BYTES: usize = 32 << 20;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Each organisation's banks, in memory for matching.
    pub banks: Arc<bank_cache::BankCache>,
    /// Each organisation's campaigns and trends, in memory.
    pub campaigns: Arc<campaigns::CampaignCache>,
}

/// Counters and latency histograms exported at `/metrics`; all atomics, so the hot path
/// takes no lock.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub assessed: AtomicU64,
    pub violating: AtomicU64,
    pub review: AtomicU64,
    pub benign: AtomicU64,
    /// Requests being answered now.
    pub in_flight: AtomicI64,
    /// Request latency by method, route and status class.
    pub http: ops::HttpHistograms,
}

impl Metrics {
    pub fn count_verdict(&self, verdict: breakwater_core::Verdict) {
        self.assessed.fetch_add(1, Ordering::Relaxed);
        let counter = match verdict {
            breakwater_core::Verdict::Violating => &self.violating,
            breakwater_core::Verdict::Review => &self.review,
            breakwater_core::Verdict::Benign => &self.benign,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Builds the application with the default [`Options`].
pub fn app(state: AppState) -> Router {
    app_with(state, Options::default())
}

/// Builds the application.
pub fn app_with(state: AppState, options: Options) -> Router {
    let max_body_bytes = options.max_body_bytes;
    let observer = ops::Observer {
        state: state.clone(),
        options: Arc::new(options),
    };
    Router::new()
        .merge(items::router())
        .merge(review::router())
        .merge(banks::router())
        .merge(campaigns::router())
        .merge(keys::router())
        .merge(deliveries::router())
        .merge(referrals::router())
        .merge(interventions::router())
        .merge(ops::router())
        .with_state(state.clone())
        .merge(taxii::router(&state))
        .layer(axum::middleware::from_fn_with_state(observer, ops::observe))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// Serves `app` on `listener` until Ctrl-C or SIGTERM, then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    serve_with(listener, state, Options::default()).await
}

/// Like [`serve`], with the given [`Options`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: Options,
) -> std::io::Result<()> {
    axum::serve(listener, app_with(state, options))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
