//! The Breakwater HTTP API under `/v1`, with health, readiness and metrics.
//!
//! One cloneable [`AppState`] (the pipeline and the store); each module exposes a
//! `router()`; errors are [`ApiError`]s. Only this crate knows HTTP; it knows no SQL.

mod error;
mod extract;
mod items;
mod ops;
mod review;
pub mod webhooks;

pub use error::ApiError;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use breakwater_pipeline::Pipeline;
use breakwater_store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The largest request body accepted (a batch of items).
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// The most items in one `POST /v1/items` batch.
pub const MAX_BATCH: usize = 1000;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub assessed: AtomicU64,
    pub violating: AtomicU64,
    pub review: AtomicU64,
    pub benign: AtomicU64,
    /// Sum of request durations in microseconds, for the average latency.
    pub duration_us: AtomicU64,
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

/// Builds the application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(items::router())
        .merge(review::router())
        .merge(ops::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves `app` on `listener` until Ctrl-C or SIGTERM, then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, app(state))
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
