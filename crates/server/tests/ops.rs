//! `/metrics` on SQLite and PostgreSQL, and the OpenAPI document against the router.

mod common;

use axum::http::StatusCode;
use breakwater_store::Store;
use common::{on_postgres, on_sqlite, org, Api, ADVERT};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every sample of an exposition, by series (name and labels as printed).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

async fn metrics_scenario(store: Store) {
    let api = Api::new(store.clone());
    let a = org(&store, "A").await;
    let b = org(&store, "B").await;

    // One advert in each organisation: two entries in the same queue.
    let mut ids = Vec::new();
    for key in [&a.ingest, &b.ingest] {
        let (status, body) = api
            .call(
                "POST",
                "/v1/items",
                Some(key),
                Some(json!({"id": "ad", "text": ADVERT})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["items"][0]["id"].as_i64().unwrap());
    }
    let (_, queues) = api.call("GET", "/v1/queues", Some(&a.reviewer), None).await;
    let queue = queues["queues"][0]["queue"].as_str().unwrap().to_string();
    let (status, _) = api
        .call(
            "POST",
            &format!("/v1/queues/{queue}/claim"),
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Three found, two not found, one unknown path.
    for _ in 0..3 {
        let path = format!("/v1/items/{}", ids[0]);
        assert_eq!(
            api.call("GET", &path, Some(&a.analyst), None).await.0,
            StatusCode::OK
        );
    }
    for _ in 0..2 {
        assert_eq!(
            api.call("GET", "/v1/items/999999", Some(&a.analyst), None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        api.call("GET", "/no/such/path", None, None).await.0,
        StatusCode::NOT_FOUND
    );

    // The outbox: one pending, one given up, one delivered.
    let event = json!({"type": "test"});
    store.enqueue_delivery(a.id, &event).await.unwrap();
    let dead = store.enqueue_delivery(b.id, &event).await.unwrap();
    store.mark_failed(dead, None, "gone").await.unwrap();
    let done = store.enqueue_delivery(b.id, &event).await.unwrap();
    store.mark_delivered(done).await.unwrap();

    let (status, text) = api.call_text("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let s = samples(&text);
    let get = |series: &str| {
        *s.get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    let h = "breakwater_http_request_duration_seconds";
    let found = r#"method="GET",route="/v1/items/{id}",status="2xx""#;
    let missing = r#"method="GET",route="/v1/items/{id}",status="4xx""#;
    assert_eq!(get(&format!("{h}_count{{{found}}}")), 3.0);
    assert_eq!(get(&format!("{h}_count{{{missing}}}")), 2.0);
    assert_eq!(
        get(&format!(
            r#"{h}_count{{method="GET",route="unmatched",status="4xx"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"{h}_count{{method="POST",route="/v1/items",status="2xx"}}"#
        )),
        2.0
    );
    // Buckets are cumulative and end at the count.
    for labels in [found, missing] {
        let mut previous = 0.0;
        for le in [
            "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
            "1", "2.5", "5", "10", "+Inf",
        ] {
            let v = get(&format!("{h}_bucket{{{labels},le=\"{le}\"}}"));
            assert!(v >= previous, "{labels} le={le}: {v} < {previous}");
            previous = v;
        }
        assert_eq!(previous, get(&format!("{h}_count{{{labels}}}")));
        assert!(get(&format!("{h}_sum{{{labels}}}")) > 0.0);
    }
    assert!(text.contains(&format!("# TYPE {h} histogram")));

    // Gauges from the database, over both organisations.
    assert_eq!(get("breakwater_store_up"), 1.0);
    assert_eq!(
        get(&format!(
            r#"breakwater_queue_depth{{queue="{queue}",state="waiting"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"breakwater_queue_depth{{queue="{queue}",state="claimed"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(r#"breakwater_webhook_deliveries{state="pending"}"#),
        1.0
    );
    assert_eq!(get(r#"breakwater_webhook_deliveries{state="dead"}"#), 1.0);
    assert!(get("breakwater_webhook_oldest_pending_seconds") >= 0.0);
    assert_eq!(get("breakwater_http_requests_in_flight"), 0.0);
    assert_eq!(get("breakwater_verdicts_total{verdict=\"violating\"}"), 2.0);

    // A claim that runs out is waiting again.
    let (_, queues) = api.call("GET", "/v1/queues", Some(&b.reviewer), None).await;
    assert_eq!(queues["queues"][0]["waiting"], 1, "{queues}");
    let (status, _) = api
        .call(
            "POST",
            &format!("/v1/queues/{queue}/claim"),
            Some(&b.reviewer),
            Some(json!({"lease_seconds": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, text) = api.call_text("GET", "/metrics", None, None).await;
    let s = samples(&text);
    assert_eq!(
        s[&format!(r#"breakwater_queue_depth{{queue="{queue}",state="waiting"}}"#)],
        1.0,
        "{text}"
    );
    assert_eq!(
        s[&format!(r#"breakwater_queue_depth{{queue="{queue}",state="claimed"}}"#)],
        1.0
    );

    // A closed database shows as such, and the scrape still answers.
    store.close().await;
    let (status, text) = api.call_text("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(samples(&text)["breakwater_store_up"], 0.0);
}

#[tokio::test]
async fn metrics_on_sqlite() {
    on_sqlite(metrics_scenario).await;
}

#[tokio::test]
async fn metrics_on_postgres() {
    on_postgres(metrics_scenario).await;
}

/// `(path, method)` of every `.route(…)` in the crate's sources.
fn routes_in_sources() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (start, _) in text.match_indices(".route(") {
            // The call's text, up to its closing parenthesis.
            let body = &text[start + ".route(".len()..];
            let mut depth = 1;
            let end = body
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let call = &body[..end];
            let Some(route) = call.split('"').nth(1) else {
                continue;
            };
            for method in ["get", "post", "put", "delete", "patch"] {
                let called = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && call.as_bytes()[i - 1] != b'_'
                });
                if called {
                    routes.push((route.to_string(), method.to_string()));
                }
            }
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

fn spec() -> Value {
    serde_json::from_str(include_str!("../src/openapi.json")).unwrap()
}

#[test]
fn every_route_is_documented() {
    let spec = spec();
    let paths = spec["paths"].as_object().unwrap();
    let routes = routes_in_sources();
    assert!(
        routes.contains(&("/v1/keys/{id}".to_string(), "delete".to_string())),
        "the source scan finds routes: {routes:?}"
    );
    let undocumented: Vec<_> = routes
        .iter()
        .filter(|(path, method)| paths.get(path).and_then(|p| p.get(method)).is_none())
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
}

/// Each documented operation reaches a handler: no 405, and no router 404 (whose body is
/// empty, unlike the API's own 404s).
#[tokio::test]
async fn every_documented_route_is_served() {
    let spec = spec();
    let paths = spec["paths"].as_object().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    let api = Api::new(store);
    for (path, item) in paths {
        let concrete = path.replace("{id}", "1").replace("{queue}", "default");
        let concrete = concrete
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let (status, body) = api
                .call_text(&method.to_uppercase(), &concrete, None, None)
                .await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                status != StatusCode::NOT_FOUND || !body.is_empty(),
                "{method} {path} is documented but not routed"
            );
        }
    }
}

/// The operator's limits apply: a smaller body limit, and a time limit that turns a slow
/// request into a 503 (counted as an error).
#[tokio::test]
async fn configured_limits_apply() {
    use axum::body::Body;
    use axum::http::Request;
    use breakwater_server::{app_with, LogFormat, Options};
    use http_body_util::BodyExt;
    use std::sync::atomic::Ordering;
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    let a = org(&store, "A").await;
    let post = |router: axum::Router, path: &str, key: &str, body: Value| {
        let req = Request::post(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        async move {
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };

    let small = app_with(
        common::state(store.clone()),
        Options {
            max_body_bytes: 1024,
            log: LogFormat::Quiet,
            ..Options::default()
        },
    );
    let long_label = json!({"role": "ingest", "label": "x".repeat(2000)});
    let (status, body) = post(small.clone(), "/v1/keys", &a.admin, long_label).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, body) = post(
        small,
        "/v1/keys",
        &a.admin,
        json!({"role": "ingest", "label": "x".repeat(200)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "under the limit: {body}");

    // Hundreds of items take far longer than a millisecond to assess and store.
    let state = common::state(store);
    let metrics = state.metrics.clone();
    let hasty = app_with(
        state,
        Options {
            request_timeout: Duration::from_millis(1),
            log: LogFormat::Quiet,
            ..Options::default()
        },
    );
    let batch: Vec<Value> = (0..300)
        .map(|i| json!({"id": format!("t{i}"), "text": ADVERT}))
        .collect();
    let (status, body) = post(hasty, "/v1/items", &a.ingest, json!(batch)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    assert_eq!(metrics.errors.load(Ordering::Relaxed), 1);
    assert_eq!(metrics.in_flight.load(Ordering::Relaxed), 0);
}
