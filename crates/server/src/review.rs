//! Review: queues, exclusive claims, decisions, appeals and the audit log.

use crate::error::ApiError;
use crate::extract::{Body, Caller, Params};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use breakwater_core::Category;
use breakwater_store::{Action, Decision, Role};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a claim lasts unless the reviewer asks for another lease.
const DEFAULT_LEASE: Duration = Duration::from_secs(300);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/queues", get(queues))
        .route("/v1/queues/{queue}/claim", post(claim))
        .route("/v1/items/{id}/decision", post(decide))
        .route("/v1/items/{id}/appeal", post(appeal))
        .route("/v1/audit", get(audit))
}

fn item_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

fn to_json(v: impl serde::Serialize) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

async fn queues(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin, Role::Analyst])?;
    let depths = state.store.queue_depths(caller.org()).await?;
    Ok(Json(json!({ "queues": depths })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    lease_seconds: Option<u64>,
}

async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    // The body is optional: an empty one takes the default lease.
    let body: ClaimBody = if body.iter().all(u8::is_ascii_whitespace) {
        ClaimBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::Unprocessable(e.to_string()))?
    };
    let lease = match body.lease_seconds {
        None => DEFAULT_LEASE,
        Some(s) if (1..=86_400).contains(&s) => Duration::from_secs(s),
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "`lease_seconds` must be between 1 and 86400".into(),
            ))
        }
    };
    match state
        .store
        .claim(caller.org(), &queue, caller.0.key_id, lease)
        .await?
    {
        Some(item) => Ok(to_json(item)?.into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    category: Option<Category>,
    policy: String,
    action: Action,
    note: Option<String>,
}

async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    if body.policy.trim().is_empty() {
        return Err(ApiError::Unprocessable("`policy` must not be empty".into()));
    }
    let decision = Decision {
        category: body.category,
        policy: body.policy,
        action: body.action,
        note: body.note,
    };
    let stored = state
        .store
        .decide(caller.org(), item_id(&id)?, &caller.0, &decision)
        .await?;
    to_json(stored)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppealBody {
    reason: String,
}

async fn appeal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<AppealBody>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Analyst, Role::Reviewer, Role::Admin])?;
    state
        .store
        .appeal(caller.org(), item_id(&id)?, &caller.actor(), &body.reason)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin, Role::Analyst])?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let page = state
        .store
        .audit(caller.org(), q.cursor.as_deref(), limit)
        .await?;
    to_json(page)
}
