//! Campaigns and trends: `/v1/campaigns` (the networks behind the posts, with templates,
//! contacts and timelines, and decisions that apply to a whole campaign) and `/v1/trends`
//! (weekly counts, emerging terms, and the suppressed summary that is safe to share).
//!
//! Each organisation's clusterer lives in memory and follows its stored items in id order,
//! so it is rebuilt the same after a restart (the same posts in the same order give the
//! same campaigns and ids) and catches up incrementally on every request.

use crate::error::ApiError;
use crate::extract::{Body, Caller, Params};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use breakwater_campaigns::{
    CampaignId, ClusterConfig, Clusterer, EmergingTerms, Link, LinkKind, Post, SurgeConfig,
    Template, TrendTable, Week,
};
use breakwater_store::{Decision, Role, StoreError, StoredItem};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const READ: &[Role] = &[Role::Admin, Role::Analyst, Role::Reviewer];
/// Most members shown with a campaign.
const MAX_MEMBERS_SHOWN: usize = 1000;

#[derive(Default)]
pub struct CampaignCache {
    orgs: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<OrgCampaigns>>>>,
}

/// One organisation's clustering state and what templates and trends need of each item.
pub struct OrgCampaigns {
    clusterer: Clusterer,
    last_item: i64,
    items: HashMap<String, Member>,
    trends: TrendTable,
    terms: EmergingTerms,
}

#[derive(Clone)]
struct Member {
    external_id: String,
    text: String,
    verdict: breakwater_core::Verdict,
    category: Option<breakwater_core::Category>,
    created_at: i64,
}

/// The strong links of a stored item: contacts found in its text and its images' hashes.
fn links_of(item: &StoredItem) -> Vec<Link> {
    let mut links: Vec<Link> = item
        .assessment
        .entities
        .iter()
        .filter_map(Link::from_entity)
        .collect();
    for m in &item.assessment.media {
        for (kind, value) in [(LinkKind::Md5, &m.md5), (LinkKind::Sha256, &m.sha256)] {
            if let Some(v) = value {
                links.extend(Link::new(kind, v).ok());
            }
        }
    }
    links
}

impl CampaignCache {
    /// The organisation's campaigns, caught up with every stored item.
    pub async fn current(
        &self,
        state: &AppState,
        org: i64,
    ) -> Result<Arc<tokio::sync::Mutex<OrgCampaigns>>, ApiError> {
        let entry = {
            let mut orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
            match orgs.get(&org) {
                Some(e) => e.clone(),
                None => {
                    let clusterer = Clusterer::new(ClusterConfig::default())
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                    let e = Arc::new(tokio::sync::Mutex::new(OrgCampaigns {
                        clusterer,
                        last_item: 0,
                        items: HashMap::new(),
                        trends: TrendTable::new(),
                        terms: EmergingTerms::new(),
                    }));
                    orgs.insert(org, e.clone());
                    e
                }
            }
        };
        {
            let mut c = entry.lock().await;
            loop {
                let page = state.store.items_after(org, c.last_item, 1000).await?;
                let Some(last) = page.last() else { break };
                c.last_item = last.id;
                let done = page.len() < 1000;
                for item in &page {
                    c.add(item);
                }
                if done {
                    break;
                }
            }
        }
        Ok(entry)
    }
}

impl OrgCampaigns {
    fn add(&mut self, item: &StoredItem) {
        let id = item.id.to_string();
        let links = links_of(item);
        self.clusterer.add_post(&Post {
            id: &id,
            text: &item.item.text,
            links: &links,
            account: item.item.author.as_deref(),
            seen_at: Some(item.created_at),
        });
        self.trends.add(
            item.created_at,
            &item.assessment,
            item.item.platform.as_deref(),
        );
        self.terms.add_text(item.created_at, &item.item.text);
        self.items.insert(
            id,
            Member {
                external_id: item.external_id.clone(),
                text: item.item.text.clone(),
                verdict: item.verdict,
                category: item.category,
                created_at: item.created_at,
            },
        );
    }

    /// The summary that is safe to share, as JSON.
    pub fn shared_summary(&self, min_count: u64) -> Value {
        self.trends.summary_for_sharing(min_count).to_json()
    }

    fn template(&self, members: &[String]) -> Option<Template> {
        let texts: Vec<&str> = members
            .iter()
            .filter_map(|m| self.items.get(m).map(|i| i.text.as_str()))
            .collect();
        Template::build(&texts)
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/campaigns", get(list))
        .route("/v1/campaigns/{id}", get(show))
        .route("/v1/campaigns/{id}/decision", post(decide))
        .route("/v1/trends", get(trends))
        .route("/v1/trends/shared", get(shared))
        .route("/v1/trends/sharing", axum::routing::put(set_sharing))
        .route("/v1/trends/emerging", get(emerging))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    min_size: Option<usize>,
    limit: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let entry = state.campaigns.current(&state, caller.org()).await?;
    let c = entry.lock().await;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let campaigns: Vec<Value> = c
        .clusterer
        .campaigns(q.min_size.unwrap_or(2).max(1))
        .into_iter()
        .take(limit)
        .map(|k| {
            json!({
                "id": k.id.0,
                "size": k.members.len(),
                "template": c.template(&k.members).map(|t| t.text),
                "links": k.links,
                "accounts": k.accounts,
                "first_seen": k.first_seen,
                "last_seen": k.last_seen,
            })
        })
        .collect();
    Ok(Json(json!({ "campaigns": campaigns })))
}

fn campaign_id(id: &str) -> Result<CampaignId, ApiError> {
    id.parse::<u32>()
        .map(CampaignId)
        .map_err(|_| ApiError::NotFound)
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let entry = state.campaigns.current(&state, caller.org()).await?;
    let c = entry.lock().await;
    let k = c
        .clusterer
        .campaign(campaign_id(&id)?)
        .ok_or(ApiError::NotFound)?;
    let mut days: BTreeMap<i64, u64> = BTreeMap::new();
    let members: Vec<Value> = k
        .members
        .iter()
        .filter_map(|m| c.items.get(m).map(|i| (m, i)))
        .inspect(|(_, i)| *days.entry(i.created_at.div_euclid(86_400_000)).or_default() += 1)
        .take(MAX_MEMBERS_SHOWN)
        .map(|(m, i)| {
            json!({
                "id": m.parse::<i64>().unwrap_or_default(),
                "external_id": i.external_id,
                "verdict": i.verdict,
                "category": i.category,
                "created_at": i.created_at,
            })
        })
        .collect();
    let timeline: Vec<Value> = days
        .into_iter()
        .map(|(day, n)| {
            let date = breakwater_core::format_rfc3339_ms(day * 86_400_000);
            json!({ "day": &date[..10], "items": n })
        })
        .collect();
    Ok(Json(json!({
        "id": k.id.0,
        "size": k.members.len(),
        "members": members,
        "template": c.template(&k.members),
        "links": k.links,
        "accounts": k.accounts,
        "first_seen": k.first_seen,
        "last_seen": k.last_seen,
        "timeline": timeline,
    })))
}

/// A reviewer's decision on the campaign, applied to each member waiting for review;
/// members already decided (or under appeal) are listed as skipped, with why.
async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(decision): Body<Decision>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    let campaign = campaign_id(&id)?;
    let members = {
        let entry = state.campaigns.current(&state, caller.org()).await?;
        let c = entry.lock().await;
        c.clusterer
            .campaign(campaign)
            .ok_or(ApiError::NotFound)?
            .members
    };
    let label = format!("campaign:{}", campaign.0);
    let mut decided = Vec::new();
    let mut skipped = Vec::new();
    for m in members {
        let Ok(item_id) = m.parse::<i64>() else {
            continue;
        };
        match state
            .store
            .decide_for_campaign(caller.org(), item_id, &caller.0, &decision, &label)
            .await
        {
            Ok(d) => decided.push(json!({ "item_id": item_id, "decision_id": d.id })),
            Err(StoreError::Conflict(why)) => {
                skipped.push(json!({ "item_id": item_id, "reason": why }))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(
        json!({ "campaign": campaign.0, "decided": decided, "skipped": skipped }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrendQuery {
    format: Option<String>,
    min_count: Option<u64>,
}

fn csv_or_json(format: Option<&str>, csv: String, json: Value) -> Result<Response, ApiError> {
    match format.unwrap_or("json") {
        "json" => Ok(Json(json).into_response()),
        "csv" => Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response()),
        other => Err(ApiError::BadRequest(format!(
            "unknown format `{other}` (json or csv)"
        ))),
    }
}

/// Weekly counts by category, language, route and platform (the organisation's own data).
async fn trends(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<TrendQuery>,
) -> Result<Response, ApiError> {
    caller.require(READ)?;
    let entry = state.campaigns.current(&state, caller.org()).await?;
    let c = entry.lock().await;
    csv_or_json(q.format.as_deref(), c.trends.to_csv(), c.trends.to_json())
}

/// The summary that is safe to give partners: aggregates only, every cell under
/// `min_count` (default 10, at least 5) suppressed with the complements that would reveal it.
async fn shared(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<TrendQuery>,
) -> Result<Response, ApiError> {
    caller.require(READ)?;
    let min = q.min_count.unwrap_or(10).max(5);
    let entry = state.campaigns.current(&state, caller.org()).await?;
    let c = entry.lock().await;
    let summary = c.trends.summary_for_sharing(min);
    csv_or_json(q.format.as_deref(), summary.to_csv(), summary.to_json())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmergingQuery {
    /// The week (its Monday, `2026-11-23`); default: the latest week with items.
    week: Option<String>,
}

/// Terms whose frequency surges this week against their baseline: suggestions for the
/// lexicon packs.
async fn emerging(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<EmergingQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let entry = state.campaigns.current(&state, caller.org()).await?;
    let c = entry.lock().await;
    let week = match q.week.as_deref() {
        Some(w) => Week::parse(w)
            .ok_or_else(|| ApiError::BadRequest(format!("`week` `{w}` is not a date")))?,
        None => match c.terms.weeks().last() {
            Some((w, _)) => *w,
            None => return Ok(Json(json!({ "week": null, "surges": [] }))),
        },
    };
    let surges = c.terms.surges(week, &SurgeConfig::default());
    Ok(Json(json!({ "week": week, "surges": surges })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sharing {
    /// `*`, `group:<name>`, `org:<id>`, comma-separated; empty: nobody.
    share_with: String,
    #[serde(default = "default_min_count")]
    min_count: u64,
}

fn default_min_count() -> u64 {
    10
}

/// Who may pull the organisation's trend summary over TAXII (`/taxii2/api/`).
async fn set_sharing(
    State(state): State<AppState>,
    caller: Caller,
    Body(sharing): Body<Sharing>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin, Role::Analyst])?;
    state
        .store
        .set_trend_sharing(
            caller.org(),
            &sharing.share_with,
            sharing.min_count,
            &caller.actor(),
        )
        .await?;
    Ok(Json(
        json!({ "share_with": sharing.share_with, "min_count": sharing.min_count }),
    ))
}
