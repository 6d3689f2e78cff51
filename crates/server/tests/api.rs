//! The API end to end through the router, on SQLite and on the real PostgreSQL server.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use breakwater_server::{app, AppState, Metrics};
use breakwater_store::{OrgKind, Role, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn pipeline() -> Arc<breakwater_pipeline::Pipeline> {
    static PIPELINE: OnceLock<Arc<breakwater_pipeline::Pipeline>> = OnceLock::new();
    PIPELINE
        .get_or_init(|| {
            let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data");
            Arc::new(breakwater_pipeline::Pipeline::load(&data).expect("bundled data loads"))
        })
        .clone()
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

#[tokio::test]
async fn api_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    scenario(store).await;
}

#[tokio::test]
async fn api_on_postgres() {
    let mut raw = [0u8; 6];
    getrandom::getrandom(&mut raw).unwrap();
    let db = format!("bw_api_{}", hex::encode(raw));
    let admin = sqlx::PgPool::connect(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL must be reachable at 127.0.0.1:5432");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let store = Store::open(&format!("postgres://postgres@127.0.0.1:5432/{db}"))
        .await
        .unwrap();
    let outcome = tokio::spawn(scenario(store)).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    outcome.unwrap();
}
