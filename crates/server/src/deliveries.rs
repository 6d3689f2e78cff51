//! Where actions go and how their delivery went: `/v1/webhook` and `/v1/deliveries`.

use crate::error::ApiError;
use crate::extract::{Body, Caller, Params};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use breakwater_store::{DeliveryState, Role};
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_URL: usize = 2048;
/// Shorter secrets make the signature easy to forge by guessing.
const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 256;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhook", get(get_webhook).put(put_webhook))
        .route("/v1/deliveries", get(list))
        .route("/v1/deliveries/{id}", get(get_one))
}

fn to_json(v: impl serde::Serialize) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<DeliveryState>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin, Role::Analyst])?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "`limit` must be between 1 and 1000".into(),
        ));
    }
    let page = state
        .store
        .list_deliveries(caller.org(), q.state, q.cursor.as_deref(), limit)
        .await?;
    to_json(page)
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin, Role::Analyst])?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let delivery = state
        .store
        .delivery_status(caller.org(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    to_json(delivery)
}

async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin, Role::Analyst])?;
    let hook = state
        .store
        .webhook(caller.org())
        .await?
        .ok_or(ApiError::NotFound)?;
    // The secret signs deliveries; it is write-only.
    Ok(Json(json!({ "url": hook.url })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
    secret: String,
}

/// Accepts absolute `http://` and `https://` URLs with a host.
fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL {
        return Err(format!("`url` is longer than {MAX_URL} bytes"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("`url` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("`url` must start with https:// or http://".into()),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => Err("`url` has no host".into()),
    }
}

async fn put_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<WebhookBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin])?;
    let url = body.url.trim();
    check_url(url).map_err(ApiError::Unprocessable)?;
    if !(MIN_SECRET..=MAX_SECRET).contains(&body.secret.len()) {
        return Err(ApiError::Unprocessable(format!(
            "`secret` must hold {MIN_SECRET} to {MAX_SECRET} bytes"
        )));
    }
    state
        .store
        .configure_webhook(caller.org(), url, &body.secret, &caller.actor())
        .await?;
    Ok(Json(json!({ "url": url })))
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn webhook_urls() {
        assert!(check_url("https://hooks.example.org/breakwater?x=1").is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_url("ftp://example.org/hook").is_err());
        assert!(check_url("/relative").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url(&format!("https://e.org/{}", "a".repeat(3000))).is_err());
    }
}
