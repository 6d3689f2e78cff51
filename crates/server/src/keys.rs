//! API keys of the caller's organisation: `/v1/keys`.
//!
//! Secrets are shown once, in the answer that creates them, and never again; the store
//! keeps only their hash. Creating and revoking are recorded in the audit log by the store.

use crate::error::ApiError;
use crate::extract::{Body, Caller};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use breakwater_store::{ApiKey, Role};
use serde::Deserialize;
use serde_json::{json, Value};

/// The longest label accepted.
const MAX_LABEL: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", get(list).post(create))
        .route("/v1/keys/{id}", delete(revoke))
}

/// A key as the API shows it: everything but the secret, which is not stored.
fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "role": key.role.as_str(),
        "label": key.label,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "active": key.revoked_at.is_none(),
    })
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin, Role::Analyst])?;
    let keys = state.store.list_keys(caller.org()).await?;
    Ok(Json(
        json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    role: Role,
    label: String,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Role::Admin])?;
    let label = body.label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL {
        return Err(ApiError::Unprocessable(format!(
            "`label` must hold 1 to {MAX_LABEL} characters"
        )));
    }
    let (key, secret) = state
        .store
        .create_key(caller.org(), body.role, label, &caller.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "key": key_json(&key), "secret": secret })),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    // The store looks the key up within the caller's organisation: another
    // organisation's key is not found, not forbidden, so ids reveal nothing.
    state
        .store
        .revoke_key(caller.org(), id, &caller.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
