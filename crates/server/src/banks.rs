//! Signal banks: `/v1/banks` (create, list, change, add, bulk import, remove, list signals)
//! and `/v1/lookup` (which banks hold a signal).

use crate::error::ApiError;
use crate::extract::{Body, Caller, Params};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use breakwater_core::{Signal, SignalKind};
use breakwater_matcher::{parse_signal_file, FileFormat, ImageHashes, MatchInput};
use breakwater_media::PdqHash;
use breakwater_store::{AddReport, Bank, BankPatch, NewBank, NewSignal, Role};
use serde::Deserialize;
use serde_json::{json, Value};

/// The largest bulk import body.
pub const MAX_IMPORT_BYTES: usize = 64 << 20;

const READ: &[Role] = &[Role::Admin, Role::Analyst, Role::Reviewer];
const WRITE: &[Role] = &[Role::Admin, Role::Analyst];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/banks", get(list).post(create))
        .route("/v1/banks/{name}", get(show).patch(update))
        .route(
            "/v1/banks/{name}/signals",
            get(signals)
                .post(add)
                .delete(remove)
                .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/v1/lookup", get(lookup))
}

async fn bank_json(state: &AppState, org: i64, bank: Bank) -> Result<Value, ApiError> {
    let counts = state.store.bank_counts(org, bank.id).await?;
    let mut v = serde_json::to_value(&bank).map_err(|e| ApiError::Internal(e.to_string()))?;
    v["active"] = json!(bank.is_active(breakwater_store::now_ms()));
    v["signals"] = json!(counts);
    Ok(v)
}

async fn find_bank(state: &AppState, org: i64, name: &str) -> Result<Bank, ApiError> {
    state
        .store
        .bank_by_name(org, name)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let mut out = Vec::new();
    for bank in state.store.banks(caller.org()).await? {
        out.push(bank_json(&state, caller.org(), bank).await?);
    }
    Ok(Json(json!({ "banks": out })))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewBank>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(WRITE)?;
    let bank = state
        .store
        .create_bank(caller.org(), &new, &caller.actor())
        .await?;
    state.banks.invalidate(caller.org()).await;
    Ok((
        StatusCode::CREATED,
        Json(bank_json(&state, caller.org(), bank).await?),
    ))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let bank = find_bank(&state, caller.org(), &name).await?;
    Ok(Json(bank_json(&state, caller.org(), bank).await?))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(patch): Body<BankPatch>,
) -> Result<Json<Value>, ApiError> {
    caller.require(WRITE)?;
    let bank = state
        .store
        .update_bank(caller.org(), &name, &patch, &caller.actor())
        .await?;
    state.banks.invalidate(caller.org()).await;
    Ok(Json(bank_json(&state, caller.org(), bank).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalsQuery {
    kind: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn parse_kind(kind: &str) -> Result<SignalKind, ApiError> {
    kind.parse()
        .map_err(|e: breakwater_core::SignalError| ApiError::BadRequest(e.to_string()))
}

async fn signals(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Params(q): Params<SignalsQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let bank = find_bank(&state, caller.org(), &name).await?;
    let kind = q.kind.as_deref().map(parse_kind).transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "`limit` must be between 1 and 1000".into(),
        ));
    }
    let page = state
        .store
        .list_signals(caller.org(), bank.id, kind, q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(
        serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddQuery {
    /// The kind of every value of a header-less CSV list.
    kind: Option<String>,
}

/// Adds signals: a JSON object `{"signals": [...]}`, a JSON array, JSON lines
/// (`application/x-ndjson`) or CSV (`text/csv`). All or nothing.
async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Params(q): Params<AddQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(WRITE)?;
    let default_kind = q.kind.as_deref().map(parse_kind).transpose()?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format = if content_type.starts_with("text/csv") || content_type.starts_with("text/plain") {
        FileFormat::Csv
    } else if content_type.contains("json") {
        FileFormat::Json
    } else {
        return Err(ApiError::UnsupportedMediaType);
    };
    // `{"signals": [...]}` is the documented JSON shape; unwrap it to the array form.
    let body = if format == FileFormat::Json && body.trim_ascii_start().starts_with(b"{\"signals\"")
    {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
        match v {
            Value::Object(mut m) if m.len() == 1 => Bytes::from(
                serde_json::to_vec(&m.remove("signals").unwrap_or_default())
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            ),
            _ => return Err(ApiError::Unprocessable("expected only `signals`".into())),
        }
    } else {
        body
    };
    let records = parse_signal_file(&body, format, default_kind)
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    if records.is_empty() {
        return Err(ApiError::Unprocessable("no signals in the body".into()));
    }
    let signals: Vec<NewSignal> = records
        .into_iter()
        .map(|r| NewSignal {
            signal: r.signal,
            category: r.category,
            source: r.source,
            note: r.note,
            expires_at: r.expires_at,
            origin: None,
        })
        .collect();
    let report: AddReport = state
        .store
        .add_signals(caller.org(), &name, &signals, &caller.actor())
        .await?;
    state.banks.invalidate(caller.org()).await;
    Ok(Json(json!(report)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalQuery {
    kind: String,
    value: String,
}

fn parse_signal(q: &SignalQuery) -> Result<Signal, ApiError> {
    Signal::parse(parse_kind(&q.kind)?, &q.value).map_err(|e| ApiError::BadRequest(e.to_string()))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Params(q): Params<SignalQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require(WRITE)?;
    let signal = parse_signal(&q)?;
    state
        .store
        .remove_signal(caller.org(), &name, &signal, &caller.actor())
        .await?;
    state.banks.invalidate(caller.org()).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Which of the organisation's banks hold a signal. Exact kinds list every entry (active
/// bank or not); a PDQ hash lists the active banks' hashes within their thresholds.
async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<SignalQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let signal = parse_signal(&q)?;
    let org = caller.org();
    let now = breakwater_store::now_ms();
    if signal.kind == SignalKind::Pdq {
        let hash =
            PdqHash::from_hex(&signal.value).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let probe = [ImageHashes {
            name: "query".into(),
            md5: String::new(),
            sha256: String::new(),
            pdq: vec![hash],
            quality: 100,
        }];
        let banks = state.banks.current(&state.store, org).await?;
        let matcher = banks.matcher.read().unwrap_or_else(|e| e.into_inner());
        let matches: Vec<Value> = matcher
            .find(
                &MatchInput {
                    images: &probe,
                    ..Default::default()
                },
                now,
            )
            .into_iter()
            .map(|m| {
                json!({
                    "bank": m.bank, "value": m.value, "distance": m.distance,
                    "category": m.category, "source": m.source, "verdict": m.verdict,
                })
            })
            .collect();
        return Ok(Json(json!({ "signal": signal, "matches": matches })));
    }
    let banks: std::collections::HashMap<i64, Bank> = state
        .store
        .banks(org)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let matches: Vec<Value> = state
        .store
        .lookup_signal(org, &signal)
        .await?
        .into_iter()
        .filter_map(|s| {
            let bank = banks.get(&s.bank_id)?;
            Some(json!({
                "bank": bank.name,
                "active": bank.is_active(now) && s.is_live(now),
                "value": s.value,
                "category": s.category.or(bank.category),
                "source": s.source,
                "note": s.note,
                "verdict": bank.verdict,
                "added_at": s.created_at,
                "expires_at": s.expires_at,
            }))
        })
        .collect();
    Ok(Json(json!({ "signal": signal, "matches": matches })))
}
