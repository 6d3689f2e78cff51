//! Assessing and storing items: `/v1/classify` and `/v1/items`.

use crate::error::ApiError;
use crate::extract::{Caller, Params};
use crate::upload::ItemUpload;
use crate::{AppState, MAX_BATCH, MAX_UPLOAD_BYTES};
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use breakwater_core::parse_rfc3339_ms;
use breakwater_core::{Assessment, Category, Item, Verdict};
use breakwater_pipeline::Media;
use breakwater_store::{ItemFilter, Role};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/classify",
            post(classify).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            "/v1/items",
            post(ingest)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
                .get(list),
        )
        .route("/v1/items/{id}", get(get_one))
}

/// Reads one item strictly: wrong types, empty text and unknown fields are refused.
fn parse_item(value: Value, position: Option<usize>) -> Result<Item, ApiError> {
    let at = |m: String| match position {
        Some(i) => format!("item {i}: {m}"),
        None => m,
    };
    let (item, warnings) =
        Item::from_json(value).map_err(|e| ApiError::Unprocessable(at(e.to_string())))?;
    if let Some(w) = warnings.first() {
        return Err(ApiError::Unprocessable(at(w.replace(" ignored", ""))));
    }
    Ok(item)
}

/// Assesses items of the caller's organisation against its banks.
async fn assess_all(
    state: &AppState,
    org: i64,
    items: &[(Item, Media)],
) -> Result<Vec<Assessment>, ApiError> {
    let banks = state.banks.current(&state.store, org).await?;
    let matcher = banks.matcher.read().unwrap_or_else(|e| e.into_inner());
    let now = breakwater_store::now_ms();
    Ok(items
        .iter()
        .map(|(item, media)| {
            let assessment = state.pipeline.assess_with(item, media, Some(&matcher), now);
            state.metrics.count_verdict(assessment.verdict);
            assessment
        })
        .collect())
}

async fn classify(
    State(state): State<AppState>,
    caller: Caller,
    upload: ItemUpload,
) -> Result<Json<Assessment>, ApiError> {
    let item = parse_item(upload.body, None)?;
    let mut assessed = assess_all(&state, caller.org(), &[(item, upload.media)]).await?;
    Ok(Json(assessed.remove(0)))
}

async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    upload: ItemUpload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Role::Ingest, Role::Admin])?;
    let has_media = !upload.media.digests.is_empty();
    let values = match upload.body {
        Value::Array(values) => values,
        single => vec![single],
    };
    if values.is_empty() || values.len() > MAX_BATCH {
        return Err(ApiError::Unprocessable(format!(
            "a batch holds 1 to {MAX_BATCH} items, not {}",
            values.len()
        )));
    }
    // Every item is checked before any is stored, so a bad batch stores nothing.
    if has_media && values.len() != 1 {
        return Err(ApiError::Unprocessable(
            "images can be uploaded with one item at a time".into(),
        ));
    }
    let mut media = Some(upload.media);
    let items: Vec<(Item, Media)> = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| Ok((parse_item(v, Some(i))?, media.take().unwrap_or_default())))
        .collect::<Result<_, ApiError>>()?;
    let assessments = assess_all(&state, caller.org(), &items).await?;
    let mut out = Vec::with_capacity(items.len());
    let mut any_created = false;
    for ((item, _), assessment) in items.iter().zip(&assessments) {
        let (stored, created) = state
            .store
            .insert_item(caller.org(), item, assessment)
            .await?;
        any_created |= created;
        out.push(json!({
            "id": stored.id,
            "external_id": stored.external_id,
            "created": created,
            "assessment": stored.assessment,
        }));
    }
    let status = if any_created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "items": out }))))
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Analyst, Role::Reviewer, Role::Admin])?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let stored = state
        .store
        .get_item(caller.org(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(
        serde_json::to_value(stored).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    verdict: Option<String>,
    category: Option<String>,
    lang: Option<String>,
    since: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Analyst, Role::Reviewer, Role::Admin])?;
    let verdict = match q.verdict.as_deref() {
        None => None,
        Some("violating") => Some(Verdict::Violating),
        Some("review") => Some(Verdict::Review),
        Some("benign") => Some(Verdict::Benign),
        Some(other) => return Err(ApiError::BadRequest(format!("unknown verdict `{other}`"))),
    };
    let category = q
        .category
        .as_deref()
        .map(|c| {
            c.parse::<Category>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .transpose()?;
    let since = q
        .since
        .as_deref()
        .map(|s| {
            parse_rfc3339_ms(s).ok_or_else(|| {
                ApiError::BadRequest(format!("`since` is not an RFC 3339 timestamp: {s}"))
            })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "`limit` must be between 1 and 1000".into(),
        ));
    }
    let filter = ItemFilter {
        verdict,
        category,
        lang: q.lang,
        since,
    };
    let page = state
        .store
        .list_items(caller.org(), &filter, q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(
        serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}
