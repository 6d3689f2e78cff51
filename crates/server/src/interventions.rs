//! The interventions API: which risk-awareness message to show for a search query or a
//! post (`POST /v1/interventions`), counters of messages shown and dismissed, and the
//! catalogue, edited by NGOs and international organisations in versions
//! (`/v1/interventions/catalogue`).
//!
//! The live catalogue is the bundled one with the latest edit of each message laid over
//! it. Edits are read from the store on every request rather than cached, so every server
//! on a shared database shows an edit at once; with no edits the bundled catalogue is used
//! as it is, without a copy.

use crate::error::ApiError;
use crate::extract::{Body, Caller, Params};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use breakwater_core::{Item, Verdict};
use breakwater_store::{InterventionEvent, InterventionVersion, OrgKind, Role};
use breakwater_warn::{canonical_language, Catalogue, Context, HelpEntry, Message, Override};
use serde::Deserialize;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashMap;

const EDIT: &[Role] = &[Role::Admin, Role::Analyst];
/// A search query or a post; the limit keeps an answer within milliseconds.
const MAX_TEXT_BYTES: usize = 64 << 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/interventions", post(select))
        .route("/v1/interventions/{id}/impression", post(impression))
        .route("/v1/interventions/{id}/dismissal", post(dismissal))
        .route("/v1/interventions/catalogue", get(catalogue))
        .route(
            "/v1/interventions/catalogue/{id}",
            get(versions).put(put_message),
        )
}

/// The catalogue in force and the edits it was built from, by message id.
struct Live<'a> {
    catalogue: Cow<'a, Catalogue>,
    edits: HashMap<String, InterventionVersion>,
}

async fn live(state: &AppState) -> Result<Live<'_>, ApiError> {
    let bundled = state.pipeline.catalogue();
    let edits = state.store.intervention_overrides().await?;
    if edits.is_empty() {
        return Ok(Live {
            catalogue: Cow::Borrowed(bundled),
            edits: HashMap::new(),
        });
    }
    let overrides = edits
        .iter()
        .map(|v| {
            if !v.active {
                return Ok(Override::Withdraw(v.message_id.clone()));
            }
            serde_json::from_value::<Message>(v.message.clone())
                .map(Override::Set)
                .map_err(|e| {
                    ApiError::Internal(format!("stored message {} is invalid: {e}", v.message_id))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Live {
        catalogue: Cow::Owned(bundled.with_overrides(&overrides)),
        edits: edits
            .into_iter()
            .map(|v| (v.message_id.clone(), v))
            .collect(),
    })
}

fn language(tag: &str) -> Result<String, ApiError> {
    canonical_language(tag)
        .ok_or_else(|| ApiError::Unprocessable(format!("`{tag}` is not a language tag")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectBody {
    text: String,
    lang: Option<String>,
}

async fn select(
    State(state): State<AppState>,
    _caller: Caller,
    Body(body): Body<SelectBody>,
) -> Result<Json<Value>, ApiError> {
    if body.text.trim().is_empty() {
        return Err(ApiError::Unprocessable("`text` is empty".into()));
    }
    if body.text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::Unprocessable(format!(
            "`text` is longer than {MAX_TEXT_BYTES} bytes"
        )));
    }
    let lang = body.lang.as_deref().map(language).transpose()?;
    let item = Item {
        id: "intervention".into(),
        text: body.text,
        lang: lang.clone(),
        ..Item::default()
    };
    let assessment = state.pipeline.assess(&item);
    state.metrics.count_verdict(assessment.verdict);
    // Someone looking for a crossing is warned; so is someone looking at an advert for one.
    let reason = match (assessment.category, assessment.verdict) {
        (Some(breakwater_core::Category::Solicitation), _) => Some("solicitation"),
        (Some(_), Verdict::Violating) => Some("violating_content"),
        _ => None,
    };
    let mut context = Context::from_assessment(&assessment);
    // The message is for the person, in the language they read, which the text they typed
    // (a place name, a half-remembered phrase) may not show.
    if let Some(lang) = &lang {
        context.language = lang.clone();
    }
    let mut out = json!({
        "show": false,
        "reason": reason,
        "language": context.language,
        "assessment": {
            "verdict": assessment.verdict,
            "category": assessment.category,
            "language": assessment.language,
            "script": assessment.script,
        },
    });
    if reason.is_some() {
        let live = live(&state).await?;
        if let Some(message) = live.catalogue.select(&context) {
            let mut intervention = serde_json::to_value(message.to_intervention())
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            intervention["version"] = json!(live.edits.get(&message.id).map_or(0, |v| v.version));
            out["show"] = json!(true);
            out["intervention"] = intervention;
        }
    }
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CountBody {
    /// The reader's language, when it differs from the message's (a fallback).
    lang: Option<String>,
}

async fn count(
    state: AppState,
    caller: Caller,
    id: String,
    body: Bytes,
    event: InterventionEvent,
) -> Result<StatusCode, ApiError> {
    // The body is optional: an empty one counts in the message's language.
    let body: CountBody = if body.iter().all(u8::is_ascii_whitespace) {
        CountBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::Unprocessable(e.to_string()))?
    };
    // A message withdrawn since it was shown still counts, so look in the edits too.
    let live = live(&state).await?;
    let message_language = match (live.catalogue.get(&id), live.edits.get(&id)) {
        (Some(m), _) => m.language.clone(),
        (None, Some(v)) => v.message["language"].as_str().unwrap_or("und").to_string(),
        (None, None) => return Err(ApiError::NotFound),
    };
    let lang = match body.lang.as_deref() {
        Some(l) => language(l)?,
        None => message_language,
    };
    state
        .store
        .count_intervention(caller.org(), &id, &lang, event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn impression(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    count(state, caller, id, body, InterventionEvent::Impression).await
}

async fn dismissal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    count(state, caller, id, body, InterventionEvent::Dismissal).await
}

/// A message as the catalogue endpoints show it: its fields, its version and whether it
/// is selected.
fn entry(message: &Value, edit: Option<&InterventionVersion>) -> Value {
    let mut v = message.clone();
    v["version"] = json!(edit.map_or(0, |e| e.version));
    v["active"] = json!(edit.is_none_or(|e| e.active));
    v["updated_at"] = json!(edit.map(|e| e.created_at));
    v["updated_by"] = json!(edit.map(|e| e.organisation_id));
    v
}

fn message_json(m: &Message) -> Result<Value, ApiError> {
    serde_json::to_value(m).map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueQuery {
    lang: Option<String>,
}

async fn catalogue(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<CatalogueQuery>,
) -> Result<Json<Value>, ApiError> {
    let lang = q.lang.as_deref().map(language).transpose()?;
    let live = live(&state).await?;
    let bundled = state.pipeline.catalogue();
    let wanted = |m: &Value| {
        lang.as_deref()
            .is_none_or(|l| m["language"].as_str() == Some(l))
    };
    let mut out = Vec::new();
    // Bundled messages in their order (edited or withdrawn ones as edited), then new ones.
    for m in bundled.messages() {
        let v = match live.edits.get(&m.id) {
            Some(edit) => entry(&edit.message, Some(edit)),
            None => entry(&message_json(m)?, None),
        };
        if wanted(&v) {
            out.push(v);
        }
    }
    let mut added: Vec<&InterventionVersion> = live
        .edits
        .values()
        .filter(|e| bundled.get(&e.message_id).is_none())
        .collect();
    added.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    for edit in added {
        let v = entry(&edit.message, Some(edit));
        if wanted(&v) {
            out.push(v);
        }
    }
    Ok(Json(json!({ "messages": out })))
}

async fn versions(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let bundled = state.pipeline.catalogue().get(&id);
    let edits = state.store.intervention_versions(&id).await?;
    if bundled.is_none() && edits.is_empty() {
        return Err(ApiError::NotFound);
    }
    let mut versions = Vec::new();
    if let Some(m) = bundled {
        versions.push(entry(&message_json(m)?, None));
    }
    for e in &edits {
        versions.push(entry(&e.message, Some(e)));
    }
    let current = versions.last().cloned();
    Ok(Json(
        json!({ "id": id, "current": current, "versions": versions }),
    ))
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    language: String,
    #[serde(default)]
    routes: Vec<String>,
    #[serde(default)]
    topics: Vec<String>,
    title: String,
    body: String,
    #[serde(default)]
    help: Vec<HelpEntry>,
    source: String,
    /// `false` withdraws the message from selection (it stays listed, and can come back).
    #[serde(default = "yes")]
    active: bool,
    /// The version the edit was based on (0: the bundled message, or none); if given and
    /// no longer the latest, the edit is refused with 409 instead of overwriting another.
    base_version: Option<i64>,
}

async fn put_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<PutBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(EDIT)?;
    let org = state
        .store
        .organisation(caller.org())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !matches!(org.kind, OrgKind::Ngo | OrgKind::InternationalOrganisation) {
        return Err(ApiError::Forbidden(format!(
            "{} of a {} organisation",
            caller.0.role.as_str(),
            org.kind.as_str()
        )));
    }
    let mut message = Message {
        id,
        language: body.language,
        routes: body.routes,
        topics: body.topics,
        title: body.title,
        body: body.body,
        help: body.help,
        source: body.source,
    };
    message
        .validate()
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let version = state
        .store
        .put_intervention(
            caller.org(),
            &caller.actor(),
            &message.id,
            &message_json(&message)?,
            body.active,
            body.base_version,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(entry(&version.message, Some(&version))),
    ))
}
