//! Referrals from government units to platforms: `/v1/referrals`.
//!
//! A referral is visible only to the platform it was made to and to the units that made
//! it; anyone else gets a 404, as if it did not exist. Only government organisations
//! refer, and only the platform acknowledges and decides.

use crate::error::ApiError;
use crate::extract::{Body, Caller, Params};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use breakwater_core::Category;
use breakwater_store::{
    NewReferral, OrgKind, Referral, ReferralFilter, ReferralOrder, ReferralOutcome, ReferralRole,
    ReferralStatus, ReferralTarget, Role, DEFAULT_REFERRAL_DEADLINE_HOURS,
    MAX_REFERRAL_DEADLINE_MS, MAX_REFERRAL_TARGETS,
};
use serde::Deserialize;
use serde_json::{json, Value};

const READ: &[Role] = &[Role::Admin, Role::Analyst, Role::Reviewer];
const REFER: &[Role] = &[Role::Admin, Role::Analyst];
const HOUR_MS: f64 = 3_600_000.0;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/referrals", get(list).post(create))
        .route("/v1/referrals/{id}", get(show))
        .route("/v1/referrals/{id}/acknowledge", post(acknowledge))
        .route("/v1/referrals/{id}/decision", post(decide))
}

fn to_json(v: impl serde::Serialize) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn referral_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

async fn org_kind(state: &AppState, caller: &Caller) -> Result<OrgKind, ApiError> {
    Ok(state
        .store
        .organisation(caller.org())
        .await?
        .ok_or(ApiError::Unauthorized)?
        .kind)
}

/// A refusal that names the caller's organisation kind, which is what is wrong.
fn wrong_kind(caller: &Caller, kind: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "{} of a {kind} organisation",
        caller.0.role.as_str()
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetBody {
    url: Option<String>,
    text: Option<String>,
    item_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    platform_organisation_id: i64,
    items: Vec<TargetBody>,
    legal_basis: String,
    category: Category,
    deadline_hours: Option<f64>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(REFER)?;
    let kind = org_kind(&state, &caller).await?;
    if kind != OrgKind::Government {
        return Err(wrong_kind(&caller, kind.as_str()));
    }
    if body.items.is_empty() || body.items.len() > MAX_REFERRAL_TARGETS {
        return Err(ApiError::Unprocessable(format!(
            "`items` holds 1 to {MAX_REFERRAL_TARGETS} entries, not {}",
            body.items.len()
        )));
    }
    let targets = body
        .items
        .into_iter()
        .enumerate()
        .map(|(i, t)| match (t.url, t.text, t.item_id) {
            (Some(url), None, None) => Ok(ReferralTarget::Url(url)),
            (None, Some(text), None) => Ok(ReferralTarget::Text(text)),
            (None, None, Some(id)) => Ok(ReferralTarget::Item(id)),
            _ => Err(ApiError::Unprocessable(format!(
                "items[{i}]: give exactly one of `url`, `text` or `item_id`"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let hours = body
        .deadline_hours
        .unwrap_or(DEFAULT_REFERRAL_DEADLINE_HOURS);
    let max_hours = MAX_REFERRAL_DEADLINE_MS as f64 / HOUR_MS;
    if !(hours.is_finite() && (0.0..=max_hours).contains(&hours)) {
        return Err(ApiError::Unprocessable(format!(
            "`deadline_hours` must be between 0 and {max_hours}"
        )));
    }
    let new = NewReferral {
        platform_id: body.platform_organisation_id,
        targets,
        legal_basis: body.legal_basis,
        category: body.category,
        deadline_ms: (hours * HOUR_MS).round() as i64,
    };
    let referred = state
        .store
        .create_referrals(caller.org(), &caller.actor(), &new)
        .await?;
    let status = if referred.iter().any(|r| r.created) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "referrals": referred }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    role: Option<ReferralRole>,
    status: Option<ReferralStatus>,
    overdue: Option<bool>,
    order: Option<ReferralOrder>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "`limit` must be between 1 and 1000".into(),
        ));
    }
    let filter = ReferralFilter {
        role: q.role,
        status: q.status,
        overdue: q.overdue,
        order: q.order,
    };
    let page = state
        .store
        .list_referrals(caller.org(), &filter, q.cursor.as_deref(), limit)
        .await?;
    to_json(page)
}

/// The referral if the caller's organisation made or received it.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<Referral, ApiError> {
    state
        .store
        .referral(caller.org(), referral_id(id)?)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    to_json(visible(&state, &caller, &id).await?)
}

/// Refuses a referrer acting for the platform (a third party has had its 404 already).
fn require_platform(caller: &Caller, referral: &Referral) -> Result<(), ApiError> {
    if referral.platform_id == caller.org() {
        Ok(())
    } else {
        Err(wrong_kind(caller, "referring"))
    }
}

async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    // No body is needed; one is accepted and ignored so clients may send `{}`.
    _body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let referral = visible(&state, &caller, &id).await?;
    require_platform(&caller, &referral)?;
    let referral = state
        .store
        .acknowledge_referral(caller.org(), referral.id, &caller.actor())
        .await?;
    to_json(referral)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    outcome: ReferralOutcome,
    reason: Option<String>,
}

async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let referral = visible(&state, &caller, &id).await?;
    require_platform(&caller, &referral)?;
    let referral = state
        .store
        .decide_referral(
            caller.org(),
            referral.id,
            &caller.actor(),
            body.outcome,
            body.reason.as_deref(),
        )
        .await?;
    to_json(referral)
}
