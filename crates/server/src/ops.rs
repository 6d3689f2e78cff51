//! Operations: health, readiness, Prometheus metrics, the OpenAPI document, request
//! logging and the per-request limits.
//!
//! Every request is timed into a histogram per method, route (the matched path, so
//! `/v1/items/{id}` and not one series per item) and status class. The hot path takes no
//! lock: routes live in a fixed table of lazily filled slots and every count is an atomic.
//! Gauges that describe the database (queue depths, the webhook outbox) are read from
//! the store when `/metrics` is scraped.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const OPENAPI: &str = include_str!("openapi.json");

/// How request lines are logged to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Nothing is logged per request.
    Quiet,
    /// One JSON object a line.
    Json,
    /// One short human-readable line.
    Text,
}

/// Settings of the HTTP layer that operators may change.
#[derive(Debug, Clone)]
pub struct Options {
    /// The largest request body accepted by routes that set no limit of their own
    /// (uploads of images do).
    pub max_body_bytes: usize,
    /// How long a request may take before it is answered 503.
    pub request_timeout: Duration,
    pub log: LogFormat,
}

impl Default for Options {
    /// The built-in limits; request logging is off when `BREAKWATER_QUIET` is set (as the
    /// tests and `bench` do).
    fn default() -> Self {
        Options {
            max_body_bytes: crate::MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(60),
            log: if std::env::var_os("BREAKWATER_QUIET").is_some() {
                LogFormat::Quiet
            } else {
                LogFormat::Json
            },
        }
    }
}

/// What the request middleware needs: the application and its options.
#[derive(Clone)]
pub(crate) struct Observer {
    pub state: AppState,
    pub options: Arc<Options>,
}

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

// ----- histograms -----

/// Upper bounds of the latency buckets in microseconds, and as Prometheus prints them.
const BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];
const BUCKET_LABELS: [&str; 14] = [
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10",
];

/// One latency histogram. Buckets hold counts per bucket (not cumulative), so that an
/// observation is one increment; the exposition sums them.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: u64) {
        // Prometheus buckets are `value <= le`; slower than the last bound counts only in +Inf.
        if let Some(i) = BUCKETS_US.iter().position(|&le| us <= le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "OTHER",
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The histograms of one method on one route, one per status class.
struct RouteStats {
    method: usize,
    route: String,
    classes: [Histogram; STATUS_CLASSES.len()],
}

/// Room for every (method, route) pair the API has, with plenty to spare; pairs beyond it
/// are counted under the route `other`.
const ROUTE_SLOTS: usize = 128;
/// The route label of requests that matched no route.
const UNMATCHED: &str = "unmatched";
const OVERFLOW: &str = "other";

/// Latency histograms by method, route and status class. Slots are filled once, the first
/// time a pair is seen, and read without locking afterwards.
pub struct HttpHistograms {
    slots: Box<[OnceLock<RouteStats>]>,
    overflow: RouteStats,
}

impl Default for HttpHistograms {
    fn default() -> Self {
        HttpHistograms {
            slots: (0..ROUTE_SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: RouteStats {
                method: METHODS.len() - 1,
                route: OVERFLOW.to_string(),
                classes: Default::default(),
            },
        }
    }
}

fn method_index(method: &Method) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(METHODS.len() - 1)
}

impl HttpHistograms {
    /// Records one request of `elapsed` answered with `status`.
    pub fn observe(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let class = (usize::from(status / 100)).clamp(1, 5) - 1;
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.stats(method_index(method), route).classes[class].observe(us);
    }

    /// The slot of a (method, route) pair, by open addressing on an FNV-1a hash.
    fn stats(&self, method: usize, route: &str) -> &RouteStats {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ method as u64;
        for b in route.bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let start = (hash % ROUTE_SLOTS as u64) as usize;
        for probe in 0..ROUTE_SLOTS {
            let slot = &self.slots[(start + probe) % ROUTE_SLOTS];
            let stats = match slot.get() {
                Some(stats) => stats,
                // Whoever fills the slot first wins; a loser sees the winner's pair below.
                None => slot.get_or_init(|| RouteStats {
                    method,
                    route: route.to_string(),
                    classes: Default::default(),
                }),
            };
            if stats.method == method && stats.route == route {
                return stats;
            }
        }
        &self.overflow
    }

    /// The histograms in the Prometheus text format, sorted by route and method.
    fn render(&self, out: &mut String) {
        let name = "breakwater_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer a request, by method, route and status class.\n\
             # TYPE {name} histogram"
        );
        let mut all: Vec<&RouteStats> = self.slots.iter().filter_map(OnceLock::get).collect();
        all.push(&self.overflow);
        all.sort_by(|a, b| (&a.route, a.method).cmp(&(&b.route, b.method)));
        for stats in all {
            for (class, h) in STATUS_CLASSES.iter().zip(&stats.classes) {
                let count = h.count.load(Ordering::Relaxed);
                if count == 0 {
                    continue;
                }
                let labels = format!(
                    "method=\"{}\",route=\"{}\",status=\"{class}\"",
                    METHODS[stats.method],
                    escape_label(&stats.route)
                );
                let mut cumulative = 0;
                for (le, bucket) in BUCKET_LABELS.iter().zip(&h.buckets) {
                    cumulative += bucket.load(Ordering::Relaxed);
                    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
                }
                // Read after the buckets, so +Inf is never below a finite bucket.
                let count = count.max(cumulative);
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
                let sum = h.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
                let _ = writeln!(out, "{name}_sum{{{labels}}} {sum:.6}");
                let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
            }
        }
    }
}

/// Escapes a label value for the Prometheus text format.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

// ----- /metrics -----

/// How long the database may take to answer the scrape-time queries.
const GAUGE_TIMEOUT: Duration = Duration::from_secs(5);

async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "# HELP breakwater_http_requests_total Requests answered.\n\
         # TYPE breakwater_http_requests_total counter\nbreakwater_http_requests_total {}\n\
         # HELP breakwater_http_errors_total Requests answered with a 4xx or 5xx status.\n\
         # TYPE breakwater_http_errors_total counter\nbreakwater_http_errors_total {}\n\
         # HELP breakwater_http_requests_in_flight Requests being answered now.\n\
         # TYPE breakwater_http_requests_in_flight gauge\nbreakwater_http_requests_in_flight {}\n\
         # HELP breakwater_items_assessed_total Items run through the pipeline.\n\
         # TYPE breakwater_items_assessed_total counter\nbreakwater_items_assessed_total {}\n\
         # HELP breakwater_verdicts_total Assessments by verdict.\n\
         # TYPE breakwater_verdicts_total counter\n\
         breakwater_verdicts_total{{verdict=\"violating\"}} {}\n\
         breakwater_verdicts_total{{verdict=\"review\"}} {}\n\
         breakwater_verdicts_total{{verdict=\"benign\"}} {}\n",
        get(&m.requests),
        get(&m.errors),
        // The scrape itself is in flight; it is not counted against the service.
        (m.in_flight.load(Ordering::Relaxed) - 1).max(0),
        get(&m.assessed),
        get(&m.violating),
        get(&m.review),
        get(&m.benign),
    );
    m.http.render(&mut out);
    store_gauges(&state, &mut out).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// Queue depths and the webhook outbox, read now; `breakwater_store_up` says whether the
/// reading worked, so a failing database shows as such rather than as empty queues.
async fn store_gauges(state: &AppState, out: &mut String) {
    let store = &state.store;
    let read = async {
        let queues = store.queue_depths_all().await?;
        let deliveries = store.delivery_counts().await?;
        let oldest = store.oldest_pending_delivery().await?;
        Ok::<_, breakwater_store::StoreError>((queues, deliveries, oldest))
    };
    let (queues, deliveries, oldest) = match tokio::time::timeout(GAUGE_TIMEOUT, read).await {
        Ok(Ok(values)) => values,
        outcome => {
            let error = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            eprintln!("{}", json!({"level": "error", "metrics": error}));
            let _ = writeln!(
                out,
                "# HELP breakwater_store_up Whether the database answered the scrape.\n\
                 # TYPE breakwater_store_up gauge\nbreakwater_store_up 0"
            );
            return;
        }
    };
    let _ = writeln!(
        out,
        "# HELP breakwater_store_up Whether the database answered the scrape.\n\
         # TYPE breakwater_store_up gauge\nbreakwater_store_up 1\n\
         # HELP breakwater_queue_depth Review queue entries of all organisations, by state.\n\
         # TYPE breakwater_queue_depth gauge"
    );
    for q in &queues {
        let queue = escape_label(&q.queue);
        let _ = writeln!(
            out,
            "breakwater_queue_depth{{queue=\"{queue}\",state=\"waiting\"}} {}\n\
             breakwater_queue_depth{{queue=\"{queue}\",state=\"claimed\"}} {}",
            q.waiting, q.claimed
        );
    }
    let _ = writeln!(
        out,
        "# HELP breakwater_webhook_deliveries Webhook deliveries of all organisations waiting \
         to be sent (pending) or given up (dead).\n\
         # TYPE breakwater_webhook_deliveries gauge"
    );
    for (s, n) in &deliveries {
        let _ = writeln!(
            out,
            "breakwater_webhook_deliveries{{state=\"{}\"}} {n}",
            s.as_str()
        );
    }
    let age = oldest
        .map(|at| (breakwater_store::now_ms() - at).max(0) as f64 / 1e3)
        .unwrap_or(0.0);
    let _ = writeln!(
        out,
        "# HELP breakwater_webhook_oldest_pending_seconds Age of the oldest pending delivery \
         (0 when none).\n\
         # TYPE breakwater_webhook_oldest_pending_seconds gauge\n\
         breakwater_webhook_oldest_pending_seconds {age:.3}"
    );
}

// ----- the request middleware -----

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// Decrements the in-flight gauge however the request ends (a client that hangs up
/// drops the request's future midway).
struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Gives every request an id (echoed as `x-request-id`), enforces the time limit, times
/// the request into the histograms, and logs one line.
pub(crate) async fn observe(
    State(observer): State<Observer>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let Observer { state, options } = observer;
    let m = &state.metrics;
    m.in_flight.fetch_add(1, Ordering::Relaxed);
    let _in_flight = InFlight(&m.in_flight);
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64)
        .map(str::to_string)
        .unwrap_or_else(|| format!("req-{}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)));
    let method = request.method().clone();
    let path = match options.log {
        LogFormat::Quiet => String::new(),
        _ => request.uri().path().to_string(),
    };
    // A shared string: cloning it allocates nothing.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = match tokio::time::timeout(options.request_timeout, next.run(request)).await
    {
        Ok(response) => response,
        Err(_) => timed_out(options.request_timeout),
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    m.requests.fetch_add(1, Ordering::Relaxed);
    if status >= 400 {
        m.errors.fetch_add(1, Ordering::Relaxed);
    }
    m.http.observe(
        &method,
        route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        status,
        elapsed,
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let ms = elapsed.as_secs_f64() * 1e3;
    match options.log {
        LogFormat::Quiet => {}
        LogFormat::Json => eprintln!(
            "{}",
            json!({"request_id": id, "method": method.as_str(), "path": path, "status": status, "ms": ms})
        ),
        LogFormat::Text => eprintln!("{id} {method} {path} {status} {ms:.1}ms"),
    }
    response
}

fn timed_out(limit: Duration) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({"error": {
            "code": "timeout",
            "message": format!("the request took longer than {} s", limit.as_secs_f64()),
        }})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(h: &HttpHistograms) -> String {
        let mut out = String::new();
        h.render(&mut out);
        out
    }

    #[test]
    fn observations_land_in_the_right_buckets() {
        let h = HttpHistograms::default();
        let route = "/v1/items/{id}";
        // 0.5 ms is in le=0.0005 (bounds are inclusive); 0.7 ms is not, but is in le=0.001.
        h.observe(&Method::GET, route, 200, Duration::from_micros(500));
        h.observe(&Method::GET, route, 204, Duration::from_micros(700));
        h.observe(&Method::GET, route, 404, Duration::from_millis(30));
        h.observe(&Method::GET, route, 200, Duration::from_secs(11));
        let out = rendered(&h);
        let line = |labels: &str| {
            out.lines()
                .find(|l| l.contains(labels))
                .unwrap_or_else(|| panic!("no {labels} in\n{out}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        let ok = r#"method="GET",route="/v1/items/{id}",status="2xx""#;
        assert_eq!(line(&format!(r#"{ok},le="0.0005""#)), "1");
        assert_eq!(line(&format!(r#"{ok},le="0.001""#)), "2");
        assert_eq!(line(&format!(r#"{ok},le="10""#)), "2");
        assert_eq!(line(&format!(r#"{ok},le="+Inf""#)), "3");
        assert_eq!(
            line(&format!("_count{{{ok}}}")),
            "3",
            "the 11 s request counts"
        );
        let missing = r#"method="GET",route="/v1/items/{id}",status="4xx""#;
        assert_eq!(line(&format!(r#"{missing},le="0.025""#)), "0");
        assert_eq!(line(&format!(r#"{missing},le="0.05""#)), "1");
        assert!(out.contains("# TYPE breakwater_http_request_duration_seconds histogram"));
        assert!(
            !out.contains("status=\"5xx\""),
            "empty classes are not printed"
        );
    }

    #[test]
    fn routes_and_methods_are_kept_apart_and_the_table_overflows_safely() {
        let h = HttpHistograms::default();
        h.observe(&Method::GET, "/v1/items", 200, Duration::from_millis(1));
        h.observe(&Method::POST, "/v1/items", 201, Duration::from_millis(1));
        h.observe(
            &Method::from_bytes(b"BREW").unwrap(),
            "/v1/items",
            405,
            Duration::from_millis(1),
        );
        for i in 0..ROUTE_SLOTS + 10 {
            h.observe(&Method::GET, &format!("/r{i}"), 200, Duration::ZERO);
        }
        let out = rendered(&h);
        let count = |labels: &str| {
            out.lines()
                .find(|l| {
                    l.starts_with("breakwater_http_request_duration_seconds_count")
                        && l.contains(labels)
                })
                .map(|l| l.rsplit(' ').next().unwrap().to_string())
        };
        assert_eq!(
            count(r#"method="GET",route="/v1/items","#).as_deref(),
            Some("1")
        );
        assert_eq!(
            count(r#"method="POST",route="/v1/items","#).as_deref(),
            Some("1")
        );
        assert_eq!(
            count(r#"method="OTHER",route="/v1/items","#).as_deref(),
            Some("1")
        );
        // 3 slots were taken by /v1/items, so 13 of the /rN routes did not fit.
        assert_eq!(count(r#"route="other""#).as_deref(), Some("13"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
