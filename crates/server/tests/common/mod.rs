//! Helpers shared by the API tests: the bundled pipeline, an in-process router, throwaway
//! PostgreSQL databases and organisations with a key per role.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use breakwater_server::{app, AppState, Metrics};
use breakwater_store::{OrgKind, Role, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub const ADVERT: &str =
    "Boat to UK tonight from Calais, 100% guaranteed, pay on arrival, WhatsApp +44 7911 123456";

pub fn pipeline() -> Arc<breakwater_pipeline::Pipeline> {
    static PIPELINE: OnceLock<Arc<breakwater_pipeline::Pipeline>> = OnceLock::new();
    PIPELINE
        .get_or_init(|| {
            let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data");
            Arc::new(breakwater_pipeline::Pipeline::load(&data).expect("bundled data loads"))
        })
        .clone()
}

pub fn state(store: Store) -> AppState {
    AppState {
        pipeline: pipeline(),
        store,
        metrics: Arc::new(Metrics::default()),
        banks: Default::default(),
        campaigns: Default::default(),
    }
}

pub struct Api {
    pub router: axum::Router,
}

impl Api {
    pub fn new(store: Store) -> Api {
        std::env::set_var("BREAKWATER_QUIET", "1");
        Api {
            router: app(state(store)),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, text) = self.call_text(method, path, key, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Like `call`, with the body as text (for `/metrics`, and to search for secrets).
    pub async fn call_text(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String) {
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
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// An organisation's id and a key of each role (labelled by role).
pub struct Org {
    pub id: i64,
    pub admin: String,
    pub analyst: String,
    pub reviewer: String,
    pub ingest: String,
}

pub async fn org(store: &Store, name: &str) -> Org {
    let o = store
        .create_organisation(name, OrgKind::Platform)
        .await
        .unwrap();
    let key = |role: Role| async move {
        store
            .create_key(o.id, role, role.as_str(), "test")
            .await
            .unwrap()
            .1
    };
    Org {
        id: o.id,
        admin: key(Role::Admin).await,
        analyst: key(Role::Analyst).await,
        reviewer: key(Role::Reviewer).await,
        ingest: key(Role::Ingest).await,
    }
}

pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    test(store).await;
}

/// Runs `test` on a new PostgreSQL database, dropped afterwards whatever the outcome.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut raw = [0u8; 6];
    getrandom::getrandom(&mut raw).unwrap();
    let db = format!("bw_test_{}", hex::encode(raw));
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
    let outcome = tokio::spawn(test(store)).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
