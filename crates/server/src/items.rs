//! Assessing and storing items: `/v1/classify` and `/v1/items`.

use crate::error::ApiError;
use crate::extract::{Body, Caller, Params};
use crate::{AppState, MAX_BATCH};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use breakwater_core::{Assessment, Category, Item, Verdict};
use breakwater_store::{ItemFilter, Role};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/classify", post(classify))
        .route("/v1/items", post(ingest).get(list))
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

fn assess(state: &AppState, item: &Item) -> Assessment {
    let assessment = state.pipeline.assess(item);
    state.metrics.count_verdict(assessment.verdict);
    assessment
}

async fn classify(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Value>,
) -> Result<Json<Assessment>, ApiError> {
    let _ = caller;
    let item = parse_item(body, None)?;
    Ok(Json(assess(&state, &item)))
}

async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Role::Ingest, Role::Admin])?;
    let values = match body {
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
    let items: Vec<Item> = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| parse_item(v, Some(i)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(items.len());
    let mut any_created = false;
    for item in &items {
        let assessment = assess(&state, item);
        let (stored, created) = state
            .store
            .insert_item(caller.org(), item, &assessment)
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

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp with `Z` or an offset.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        millis = format!("{:0<3}", &frac[..n.min(3)]).parse().ok()?;
        rest = &frac[n..];
    }
    let offset_min = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] if rest.len() == 6 && &rest[3..4] == ":" => {
            let m = rest[1..3].parse::<i64>().ok()? * 60 + rest[4..6].parse::<i64>().ok()?;
            if *sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian calendar).
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + millis)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ms;

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-11-25T06:00:00.5Z"),
            Some(1_795_586_400_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-25T07:00:00+01:00"),
            Some(1_795_586_400_000)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}
