//! The API end to end through the router, on SQLite and on the real PostgreSQL server.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use breakwater_server::{app, AppState, Metrics};
use breakwater_store::{OrgKind, Role, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

fn pipeline() -> Arc<breakwater_pipeline::Pipeline> {
    common::pipeline()
}

struct Api {
    router: axum::Router,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }
}

struct Org {
    admin: String,
    ingest: String,
    reviewer: String,
    reviewer2: String,
    analyst: String,
}

async fn org(store: &Store, name: &str) -> Org {
    let o = store
        .create_organisation(name, OrgKind::Platform)
        .await
        .unwrap();
    let key = |role| async move {
        store
            .create_key(o.id, role, "test", "test")
            .await
            .unwrap()
            .1
    };
    Org {
        admin: key(Role::Admin).await,
        ingest: key(Role::Ingest).await,
        reviewer: key(Role::Reviewer).await,
        reviewer2: key(Role::Reviewer).await,
        analyst: key(Role::Analyst).await,
    }
}

const ADVERT: &str =
    "Boat to UK tonight from Calais, 100% guaranteed, pay on arrival, WhatsApp +44 7911 123456";

async fn scenario(store: Store) {
    std::env::set_var("BREAKWATER_QUIET", "1");
    let api = Api {
        router: app(AppState {
            pipeline: pipeline(),
            store: store.clone(),
            metrics: Arc::new(Metrics::default()),
            banks: Default::default(),
            campaigns: Default::default(),
        }),
    };
    let a = org(&store, "Platform A").await;
    let b = org(&store, "Platform B").await;

    // Authentication: every /v1 endpoint refuses a missing or wrong key.
    for (method, path) in [
        ("POST", "/v1/classify"),
        ("POST", "/v1/items"),
        ("GET", "/v1/items"),
        ("GET", "/v1/items/1"),
        ("GET", "/v1/queues"),
        ("POST", "/v1/queues/default/claim"),
        ("POST", "/v1/items/1/decision"),
        ("POST", "/v1/items/1/appeal"),
        ("GET", "/v1/audit"),
    ] {
        for key in [None, Some("bw_wrong")] {
            let (status, body) = api.call(method, path, key, Some(json!({}))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }

    // Classify stores nothing and explains itself.
    let (status, body) = api
        .call(
            "POST",
            "/v1/classify",
            Some(&a.ingest),
            Some(json!({"id": "c1", "text": ADVERT})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["verdict"], "violating", "{body}");

    // Ingest: idempotent on the caller's id.
    let batch = json!([{"id": "ad-1", "text": ADVERT}, {"id": "ok-1", "text": "Family dinner at grandma's tonight"}]);
    let (status, body) = api
        .call("POST", "/v1/items", Some(&a.ingest), Some(batch.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ad_id = body["items"][0]["id"].as_i64().unwrap();
    let (status, again) = api
        .call("POST", "/v1/items", Some(&a.ingest), Some(batch))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["items"][0]["id"].as_i64(), Some(ad_id));
    assert_eq!(again["items"][0]["created"], false);

    // Roles.
    assert_eq!(
        api.call("GET", "/v1/items", Some(&a.ingest), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/items",
            Some(&a.reviewer),
            Some(json!({"id": "x", "text": "y"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call("GET", "/v1/audit", Some(&a.reviewer), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Another organisation sees nothing of A's.
    let item_path = format!("/v1/items/{ad_id}");
    assert_eq!(
        api.call("GET", &item_path, Some(&b.admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, list_b) = api.call("GET", "/v1/items", Some(&b.analyst), None).await;
    assert_eq!(list_b["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        api.call(
            "POST",
            "/v1/queues/smuggling_service/claim",
            Some(&b.reviewer),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let decision = json!({"policy": "oic-1", "action": "remove", "category": "smuggling_service"});
    assert_eq!(
        api.call(
            "POST",
            &format!("{item_path}/decision"),
            Some(&b.admin),
            Some(decision.clone())
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.call(
            "POST",
            &format!("{item_path}/appeal"),
            Some(&b.admin),
            Some(json!({"reason": "x"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, audit_b) = api.call("GET", "/v1/audit", Some(&b.admin), None).await;
    assert!(audit_b["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["subject"] != json!(format!("item:{ad_id}"))));

    // A's own view: get, list with filters.
    let (status, got) = api.call("GET", &item_path, Some(&a.analyst), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["external_id"], "ad-1");
    let (_, violating) = api
        .call("GET", "/v1/items?verdict=violating", Some(&a.analyst), None)
        .await;
    assert_eq!(violating["items"].as_array().unwrap().len(), 1);

    // Review: claim is exclusive, decisions need the claim, appeals another reviewer.
    let (_, queues) = api.call("GET", "/v1/queues", Some(&a.reviewer), None).await;
    let queue = queues["queues"][0]["queue"].as_str().unwrap().to_string();
    let claim_path = format!("/v1/queues/{queue}/claim");
    let (status, claimed) = api
        .call(
            "POST",
            &claim_path,
            Some(&a.reviewer),
            Some(json!({"lease_seconds": 60})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["id"].as_i64(), Some(ad_id));
    assert_eq!(
        api.call("POST", &claim_path, Some(&a.reviewer2), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(
            "POST",
            &format!("{item_path}/decision"),
            Some(&a.reviewer2),
            Some(decision.clone())
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (status, decided) = api
        .call(
            "POST",
            &format!("{item_path}/decision"),
            Some(&a.reviewer),
            Some(decision.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(
        api.call(
            "POST",
            &format!("{item_path}/appeal"),
            Some(&a.analyst),
            Some(json!({"reason": "it was a warning"}))
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let (status, _) = api
        .call("POST", "/v1/queues/appeals/claim", Some(&a.reviewer), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let overturn = json!({"policy": "oic-1", "action": "none"});
    assert_eq!(
        api.call(
            "POST",
            &format!("{item_path}/decision"),
            Some(&a.reviewer),
            Some(overturn.clone())
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (status, _) = api
        .call(
            "POST",
            "/v1/queues/appeals/claim",
            Some(&a.reviewer2),
            Some(json!({"lease_seconds": 1})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "the first reviewer still holds the appeal"
    );
    let (_, audit) = api.call("GET", "/v1/audit", Some(&a.admin), None).await;
    assert!(!audit["items"].as_array().unwrap().is_empty(), "{audit}");

    // Bad input: clear 4xx, and the service keeps serving.
    let raw = |body: &'static str, content_type: Option<&str>| {
        let mut r = Request::builder()
            .method("POST")
            .uri("/v1/items")
            .header("authorization", format!("Bearer {}", a.ingest));
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        r.body(Body::from(body)).unwrap()
    };
    let (status, body) = api
        .send(raw("{\"id\": \"x\", ", Some("application/json")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");
    assert_eq!(
        api.send(raw("{\"id\": \"x\", \"text\": \"y\"}", None))
            .await
            .0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let (status, body) = api
        .call(
            "POST",
            "/v1/items",
            Some(&a.ingest),
            Some(json!({"id": "x", "text": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`text` must be a string"),
        "{body}"
    );
    let (status, body) = api
        .call(
            "POST",
            "/v1/items",
            Some(&a.ingest),
            Some(json!({"id": "x", "text": "y", "colour": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{body}"
    );
    let huge = json!({"id": "h", "text": "a".repeat(5 << 20)});
    assert_eq!(
        api.call("POST", "/v1/items", Some(&a.ingest), Some(huge))
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        api.call("GET", "/v1/items?cursor=garbage", Some(&a.analyst), None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.call("GET", "/v1/items?verdict=maybe", Some(&a.analyst), None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.call("GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.call("GET", "/readyz", None, None).await.0,
        StatusCode::OK
    );
    let (status, spec) = api.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spec["openapi"], "3.1.0");
    store.close().await;
}

fn multipart(item: &Value, images: &[(&str, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "bwboundary7d1f";
    let mut body = Vec::new();
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"item\"\r\n\
         Content-Type: application/json\r\n\r\n{item}\r\n"
        )
        .bytes(),
    );
    for (name, bytes) in images {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; \
             filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Api {
    async fn raw(
        &self,
        method: &str,
        path: &str,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }
}

/// Banks through the API: import, matching of text signals and uploaded images, removal,
/// lookup, roles, bad files and the organisation boundary.
async fn banks_scenario(store: Store) {
    let api = Api {
        router: app(AppState {
            pipeline: pipeline(),
            store: store.clone(),
            metrics: Arc::new(Metrics::default()),
            banks: Default::default(),
            campaigns: Default::default(),
        }),
    };
    let a = org(&store, "bank-a").await;
    let b = org(&store, "bank-b").await;
    let bridge = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/pdq/pdq/data/bridge-mods");
    let original =
        breakwater_media::hash_file(bridge.join("aaa-orig.jpg"), &Default::default()).unwrap();

    // Create: analysts and admins may, reviewers and ingest keys may not.
    let new_bank =
        json!({"name": "uk-crossings", "category": "smuggling_service", "pdq_threshold": 31});
    let (s, _) = api
        .call("POST", "/v1/banks", Some(&a.ingest), Some(new_bank.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, bank) = api
        .call(
            "POST",
            "/v1/banks",
            Some(&a.analyst),
            Some(new_bank.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{bank}");
    assert_eq!(bank["active"], true);
    let (s, _) = api
        .call("POST", "/v1/banks", Some(&a.analyst), Some(new_bank))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = api
        .call(
            "POST",
            "/v1/banks",
            Some(&a.analyst),
            Some(json!({"name": "x", "colour": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // A CSV with one bad row imports nothing and names the row.
    let bad = "kind,value,source\nphone,+44 7911 123456,unit\nphone,07911,unit\n";
    let (s, e) = api
        .raw(
            "POST",
            "/v1/banks/uk-crossings/signals",
            &a.analyst,
            "text/csv",
            bad.into(),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("line 3"),
        "{e}"
    );
    let (_, shown) = api
        .call("GET", "/v1/banks/uk-crossings", Some(&a.analyst), None)
        .await;
    assert_eq!(shown["signals"], json!({}));

    let csv = format!(
        "kind,value,source\nphone,+44 7911 123456,referral unit\npdq,{},partner\n",
        original.pdq.to_hex()
    );
    let (s, report) = api
        .raw(
            "POST",
            "/v1/banks/uk-crossings/signals",
            &a.analyst,
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!(
        (s, report["added"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{report}"
    );
    let (s, report) = api
        .call(
            "POST",
            "/v1/banks/uk-crossings/signals",
            Some(&a.admin),
            Some(json!({"signals": [{"kind": "handle", "value": "telegram:@Boza_VIP"}]})),
        )
        .await;
    assert_eq!((s, report["added"].as_u64()), (StatusCode::OK, Some(1)));

    // A text signal matches, with the bank and provenance in the explanation.
    let item = json!({"id": "m1", "text": "Call me on whatsapp +44 7911 123456 for details"});
    let (s, got) = api
        .call("POST", "/v1/classify", Some(&a.ingest), Some(item.clone()))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["matches"][0]["bank"], "uk-crossings", "{got}");
    assert_eq!(got["matches"][0]["signal_kind"], "phone");
    assert_ne!(got["verdict"], "benign");
    assert!(
        got["reasons"][0]
            .as_str()
            .unwrap()
            .contains("referral unit"),
        "{got}"
    );
    // Another organisation's items do not match this organisation's banks, nor see them.
    let (_, other) = api
        .call("POST", "/v1/classify", Some(&b.ingest), Some(item))
        .await;
    assert_eq!(other["matches"], json!([]));
    let (s, _) = api
        .call("GET", "/v1/banks/uk-crossings", Some(&b.analyst), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "POST",
            "/v1/banks/uk-crossings/signals",
            Some(&b.analyst),
            Some(json!([{"kind": "phone", "value": "+447911123456"}])),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // An uploaded image near the banked one matches by PDQ; a hostile one is reported, not fatal.
    let blurred = std::fs::read(bridge.join("blur-a-little.jpg")).unwrap();
    let truncated = blurred[..2000].to_vec();
    let upload = json!({"id": "img-1", "text": "arrived safely, next group leaving soon"});
    // A BMP that declares 50 000 x 50 000 pixels: refused before any pixel is allocated.
    let mut bomb = Vec::new();
    bomb.extend(b"BM");
    for v in [54u32, 0, 54, 40] {
        bomb.extend(v.to_le_bytes());
    }
    bomb.extend(50_000i32.to_le_bytes());
    bomb.extend(50_000i32.to_le_bytes());
    bomb.extend(1u16.to_le_bytes());
    bomb.extend(24u16.to_le_bytes());
    bomb.extend([0u8; 24]);
    let (ctype, body) = multipart(
        &upload,
        &[
            ("blurred.jpg", blurred),
            ("broken.jpg", truncated),
            ("empty.png", Vec::new()),
            ("bomb.png", bomb),
        ],
    );
    let (s, stored) = api.raw("POST", "/v1/items", &a.ingest, &ctype, body).await;
    assert_eq!(s, StatusCode::CREATED, "{stored}");
    let assessment = &stored["items"][0]["assessment"];
    let image_match = assessment["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["signal_kind"] == "pdq")
        .unwrap_or_else(|| panic!("{assessment}"));
    assert_eq!(image_match["media"], "blurred.jpg");
    assert!(image_match["distance"].as_u64().unwrap() <= 31);
    assert_ne!(assessment["verdict"], "benign");
    let media = assessment["media"].as_array().unwrap();
    assert_eq!(media.len(), 4);
    for hostile in &media[1..] {
        assert!(hostile["error"].is_string(), "{hostile}");
        assert!(hostile["pdq"].is_null());
    }
    assert!(
        media[3]["error"].as_str().unwrap().contains("50000"),
        "{}",
        media[3]
    );

    // Lookup: exact and by PDQ distance.
    let (_, found) = api
        .call(
            "GET",
            "/v1/lookup?kind=handle&value=telegram:boza_vip",
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(found["matches"][0]["bank"], "uk-crossings");
    let path = format!("/v1/lookup?kind=pdq&value={}", original.pdq.to_hex());
    let (_, found) = api.call("GET", &path, Some(&a.reviewer), None).await;
    assert_eq!(found["matches"][0]["distance"], 0);
    let (s, _) = api
        .call(
            "GET",
            "/v1/lookup?kind=pdq&value=zz",
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Disabling the bank stops matching at once; so does removing the signal.
    let (s, _) = api
        .call(
            "PATCH",
            "/v1/banks/uk-crossings",
            Some(&a.analyst),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let phone_item = json!({"id": "m2", "text": "+44 7911 123456"});
    let (_, got) = api
        .call(
            "POST",
            "/v1/classify",
            Some(&a.ingest),
            Some(phone_item.clone()),
        )
        .await;
    assert_eq!(got["matches"], json!([]));
    api.call(
        "PATCH",
        "/v1/banks/uk-crossings",
        Some(&a.analyst),
        Some(json!({"enabled": true})),
    )
    .await;
    let (s, _) = api
        .call(
            "DELETE",
            "/v1/banks/uk-crossings/signals?kind=phone&value=%2B447911123456",
            Some(&a.analyst),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, got) = api
        .call("POST", "/v1/classify", Some(&a.ingest), Some(phone_item))
        .await;
    assert_eq!(got["matches"], json!([]));
    let (_, page) = api
        .call(
            "GET",
            "/v1/banks/uk-crossings/signals?limit=1",
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());

    // Every bank change is in the audit log.
    let (_, audit) = api.call("GET", "/v1/audit", Some(&a.admin), None).await;
    let text = audit.to_string();
    for action in ["bank.create", "bank.add", "bank.update", "bank.remove"] {
        assert!(text.contains(action), "{action} missing");
    }
}

#[tokio::test]
async fn banks_on_sqlite() {
    common::on_sqlite(banks_scenario).await;
}

#[tokio::test]
async fn banks_on_postgres() {
    common::on_postgres(banks_scenario).await;
}

#[tokio::test]
async fn api_on_sqlite() {
    common::on_sqlite(scenario).await;
}

#[tokio::test]
async fn api_on_postgres() {
    common::on_postgres(scenario).await;
}
