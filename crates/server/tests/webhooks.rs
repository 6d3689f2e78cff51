//! A webhook receiver that fails three times and then succeeds gets the action exactly once.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use breakwater_server::webhooks::{backoff, signature, WebhookSender};
use breakwater_store::{DeliveryState, OrgKind, Store};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn retries_with_backoff_until_delivered_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let verified = Arc::new(Mutex::new(Vec::new()));
    let receiver = {
        let (calls, verified) = (calls.clone(), verified.clone());
        axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (calls, verified) = (calls.clone(), verified.clone());
                async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    let header = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    let timestamp: i64 = header("x-breakwater-timestamp").parse().unwrap_or(0);
                    let expected = format!("sha256={}", signature("s3cret", timestamp, &body));
                    verified
                        .lock()
                        .unwrap()
                        .push(header("x-breakwater-signature") == expected);
                    if n <= 3 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    let org = store
        .create_organisation("P", OrgKind::Platform)
        .await
        .unwrap();
    store
        .set_webhook(org.id, &format!("http://{addr}/hook"), "s3cret")
        .await
        .unwrap();
    let id = store
        .enqueue_delivery(org.id, &json!({"action": "remove", "item": 7}))
        .await
        .unwrap();

    let sender = WebhookSender::new(store.clone());
    let mut now = breakwater_store::now_ms();
    let mut delivered = 0;
    for attempt in 1..=4i64 {
        delivered += sender.send_due(now).await.unwrap();
        // Nothing is sent again before the backoff has passed.
        assert_eq!(sender.send_due(now + 500).await.unwrap(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), attempt as usize);
        now += backoff(attempt).as_millis() as i64 + 1;
    }
    assert_eq!(delivered, 1);
    // Long after: still exactly one successful delivery, no further calls.
    assert_eq!(sender.send_due(now + 86_400_000).await.unwrap(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let status = store.delivery_status(org.id, id).await.unwrap().unwrap();
    assert_eq!(status.state, DeliveryState::Delivered);
    assert_eq!(status.attempts, 4);
    assert!(
        verified.lock().unwrap().iter().all(|ok| *ok),
        "every request carried a valid signature"
    );
    let _: Value = status.event;
}
