//! Operations: health, readiness, metrics, the OpenAPI document, and request logging.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.health().await {
        Ok(()) => "ready".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database not ready: {e}"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let body = format!(
        "# TYPE breakwater_http_requests_total counter\nbreakwater_http_requests_total {}\n\
         # TYPE breakwater_http_errors_total counter\nbreakwater_http_errors_total {}\n\
         # TYPE breakwater_http_request_duration_seconds_sum counter\nbreakwater_http_request_duration_seconds_sum {:.6}\n\
         # TYPE breakwater_items_assessed_total counter\nbreakwater_items_assessed_total {}\n\
         # TYPE breakwater_verdicts_total counter\n\
         breakwater_verdicts_total{{verdict=\"violating\"}} {}\n\
         breakwater_verdicts_total{{verdict=\"review\"}} {}\n\
         breakwater_verdicts_total{{verdict=\"benign\"}} {}\n",
        get(&m.requests),
        get(&m.errors),
        get(&m.duration_us) as f64 / 1e6,
        get(&m.assessed),
        get(&m.violating),
        get(&m.review),
        get(&m.benign),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// Gives every request an id (echoed as `x-request-id`), counts it, and logs one JSON line.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64)
        .map(str::to_string)
        .unwrap_or_else(|| format!("req-{}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)));
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let m = &state.metrics;
    m.requests.fetch_add(1, Ordering::Relaxed);
    m.duration_us
        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    if status >= 400 {
        m.errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if std::env::var_os("BREAKWATER_QUIET").is_none() {
        eprintln!(
            "{}",
            json!({"request_id": id, "method": method, "path": path, "status": status, "ms": elapsed.as_secs_f64() * 1e3})
        );
    }
    response
}
