//! The TAXII 2.1 server over the store: one collection per bank that the caller may pull
//! (its own, and partners' banks shared with it under their TLP and audience).
//!
//! The owner (admin, analyst or ingest key) adds signals to its collections as STIX
//! indicators (a revoked indicator removes the signal). A partner that may read a collection
//! may add STIX `opinion`s about its indicators: that is partner feedback, tallied on the
//! owner's signal.

use crate::bank_cache::BankCache;
use breakwater_core::Signal;
use breakwater_share::stix::{self, indicator_id};
use breakwater_share::taxii::{
    self, BackendError, CollectionInfo, Credentials, ObjectQuery, Page, Status, StatusDetail,
    StoredObject, TaxiiBackend, TaxiiConfig,
};
use breakwater_share::{ImportOptions, SharedSignal, Timestamp, Tlp};
use breakwater_store::{
    Feedback, NewSignal, Principal, Role, Store, StoreError, StoredSignal, VisibleBank,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Status resources kept for polling; older ones are dropped first.
const MAX_STATUSES: usize = 10_000;

#[derive(Clone)]
pub struct StoreTaxii {
    store: Store,
    banks: Arc<BankCache>,
    /// For the trend summaries organisations share.
    state: crate::AppState,
    statuses: Arc<Mutex<Vec<(i64, Status)>>>,
}

/// The TAXII routes for the application's store.
pub fn router(state: &crate::AppState) -> axum::Router {
    let backend = StoreTaxii {
        store: state.store.clone(),
        banks: state.banks.clone(),
        state: state.clone(),
        statuses: Arc::default(),
    };
    let config = TaxiiConfig {
        max_content_length: crate::MAX_BODY_BYTES,
        ..TaxiiConfig::default()
    };
    taxii::router(backend, config)
}

/// A collection's id: a name-based UUID of the bank, stable for the life of the database.
pub fn collection_id(bank_id: i64) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("breakwater:bank:{bank_id}").as_bytes(),
    )
    .to_string()
}

/// The collection of an organisation's shared trend summary.
pub fn trends_collection_id(org: i64) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("breakwater:trends:{org}").as_bytes(),
    )
    .to_string()
}

/// The trend summary as one STIX object (a custom type: aggregates, TLP:GREEN), with its
/// owner's identity. Its id is fixed per organisation; each read is a new version.
fn trend_objects(owner: &str, org: i64, min_count: u64, summary: Value) -> Vec<Value> {
    let now = Timestamp::now().to_string();
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("breakwater:trend-summary:{org}").as_bytes(),
    );
    vec![
        stix::identity_object(owner),
        Tlp::Green.marking_definition(),
        serde_json::json!({
            "type": "x-breakwater-trend-summary",
            "spec_version": "2.1",
            "id": format!("x-breakwater-trend-summary--{id}"),
            "created": "2024-01-01T00:00:00.000Z",
            "modified": now,
            "created_by_ref": stix::identity_id(owner),
            "object_marking_refs": [Tlp::Green.marking_id()],
            "min_count": min_count,
            "summary": summary,
        }),
    ]
}

fn internal(e: StoreError) -> BackendError {
    BackendError::Internal(e.to_string())
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_unix_micros(ms.saturating_mul(1000))
}

/// A stored signal as shared: owned by whoever first shared it.
pub fn shared_signal(v: &VisibleBank, s: &StoredSignal) -> SharedSignal {
    let owner = s.origin.clone().unwrap_or_else(|| v.owner.clone());
    let tlp: Tlp = v.bank.tlp.parse().unwrap_or(Tlp::Amber);
    let signal = Signal {
        kind: s.kind,
        value: s.value.clone(),
    };
    let mut shared = SharedSignal::new(signal, owner, tlp, timestamp(s.created_at));
    shared.modified = timestamp(s.updated_at.max(s.created_at));
    shared.category = s.category.or(v.bank.category);
    shared.pdq_threshold =
        (s.kind == breakwater_core::SignalKind::Pdq).then_some(v.bank.pdq_threshold);
    shared.source = s.source.clone();
    shared.valid_until = s.expires_at.map(timestamp);
    shared.revoked = s.removed_at.is_some();
    shared
}

fn feedback_of(opinion: &str) -> Option<Feedback> {
    match opinion {
        "strongly-agree" | "agree" => Some(Feedback::Confirmed),
        "strongly-disagree" => Some(Feedback::FalsePositive),
        "disagree" => Some(Feedback::Disputed),
        _ => None,
    }
}

/// The STIX opinion for a feedback verdict (the inverse of [`feedback_of`]).
pub fn opinion_of(feedback: Feedback) -> &'static str {
    match feedback {
        Feedback::Confirmed => "strongly-agree",
        Feedback::FalsePositive => "strongly-disagree",
        Feedback::Disputed => "disagree",
    }
}

fn detail(id: &str, version: &str, message: impl Into<String>) -> StatusDetail {
    StatusDetail {
        id: id.to_string(),
        version: version.to_string(),
        message: Some(message.into()),
    }
}

fn version_of(o: &Value) -> &str {
    o.get("modified").and_then(Value::as_str).unwrap_or("")
}

impl StoreTaxii {
    async fn visible(&self, p: &Principal, collection: &str) -> Result<VisibleBank, BackendError> {
        self.store
            .visible_banks(p.organisation_id)
            .await
            .map_err(internal)?
            .into_iter()
            .find(|v| collection_id(v.bank.id) == collection)
            .ok_or(BackendError::NotFound)
    }

    fn remember(&self, org: i64, status: Status) {
        let mut all = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= MAX_STATUSES {
            all.remove(0);
        }
        all.push((org, status));
    }

    /// The owner adds (or, with `revoked`, removes) signals, all or nothing.
    async fn add_signals(
        &self,
        p: &Principal,
        v: &VisibleBank,
        objects: &[Value],
        successes: &mut Vec<StatusDetail>,
        failures: &mut Vec<StatusDetail>,
    ) -> Result<(), BackendError> {
        let options = ImportOptions {
            default_owner: Some(v.owner.clone()),
            default_tlp: v.bank.tlp.parse().unwrap_or(Tlp::Amber),
            ..ImportOptions::default()
        };
        let import = match stix::import_objects(objects, &options) {
            Ok(i) => i,
            Err(errors) => {
                for e in errors.0 {
                    let version = objects.get(e.index).map(version_of).unwrap_or("");
                    failures.push(detail(
                        e.id.as_deref().unwrap_or(""),
                        version,
                        e.error.to_string(),
                    ));
                }
                return Ok(());
            }
        };
        let mut adds = Vec::new();
        for s in &import.signals {
            let id = s.stix_id();
            let version = s.modified.to_string();
            if s.revoked {
                match self
                    .store
                    .remove_signal(p.organisation_id, &v.bank.name, &s.signal, &actor(p))
                    .await
                {
                    Ok(()) | Err(StoreError::NotFound) => {
                        successes.push(detail(&id, &version, "removed"))
                    }
                    Err(e) => return Err(internal(e)),
                }
                continue;
            }
            adds.push(NewSignal {
                signal: s.signal.clone(),
                category: s.category,
                source: s.source.clone(),
                note: None,
                expires_at: s.valid_until.map(|t| t.unix_micros() / 1000),
                origin: (s.owner != v.owner).then(|| s.owner.clone()),
            });
            successes.push(detail(&id, &version, "added"));
        }
        if !adds.is_empty() {
            self.store
                .add_signals(p.organisation_id, &v.bank.name, &adds, &actor(p))
                .await
                .map_err(internal)?;
            self.banks.invalidate(p.organisation_id).await;
        }
        Ok(())
    }

    /// A partner's opinions on the collection's indicators become feedback.
    async fn add_opinions(
        &self,
        p: &Principal,
        v: &VisibleBank,
        objects: &[Value],
        successes: &mut Vec<StatusDetail>,
        failures: &mut Vec<StatusDetail>,
    ) -> Result<(), BackendError> {
        let signals = self.store.all_signals(v.bank.id).await.map_err(internal)?;
        let by_indicator: HashMap<String, i64> = signals
            .iter()
            .filter(|s| s.removed_at.is_none())
            .map(|s| {
                let shared = shared_signal(v, s);
                (indicator_id(&shared.owner, &shared.signal), s.id)
            })
            .collect();
        for o in objects {
            let id = o.get("id").and_then(Value::as_str).unwrap_or("");
            let version = version_of(o);
            if o.get("type").and_then(Value::as_str) != Some("opinion") {
                failures.push(detail(
                    id,
                    version,
                    "only the owner adds signals here; partners may add opinions",
                ));
                continue;
            }
            let Some(feedback) = o
                .get("opinion")
                .and_then(Value::as_str)
                .and_then(feedback_of)
            else {
                failures.push(detail(
                    id,
                    version,
                    "`opinion` must be agree/disagree (strongly or not)",
                ));
                continue;
            };
            let refs: Vec<&str> = o
                .get("object_refs")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let targets: Vec<i64> = refs
                .iter()
                .filter_map(|r| by_indicator.get(*r))
                .copied()
                .collect();
            if targets.is_empty() {
                failures.push(detail(
                    id,
                    version,
                    "the opinion refers to no indicator of this collection",
                ));
                continue;
            }
            let note = o.get("explanation").and_then(Value::as_str);
            for signal_id in targets {
                self.store
                    .record_feedback(
                        v.bank.organisation_id,
                        signal_id,
                        p.organisation_id,
                        feedback,
                        note,
                        &actor(p),
                    )
                    .await
                    .map_err(internal)?;
            }
            successes.push(detail(id, version, "recorded"));
        }
        self.banks.invalidate(v.bank.organisation_id).await;
        Ok(())
    }
}

fn actor(p: &Principal) -> String {
    format!("key:{} (taxii)", p.key_id)
}

fn may_write_signals(p: &Principal) -> bool {
    matches!(p.role, Role::Admin | Role::Analyst | Role::Ingest)
}

impl TaxiiBackend for StoreTaxii {
    type Principal = Principal;

    async fn authenticate(
        &self,
        credentials: &Credentials,
    ) -> Result<Option<Principal>, BackendError> {
        // HTTP Basic carries the API key as the password; the user name is informative.
        let key = match credentials {
            Credentials::ApiKey(k) => k,
            Credentials::Basic { password, .. } => password,
        };
        self.store.authenticate(key).await.map_err(internal)
    }

    async fn collections(&self, p: &Principal) -> Result<Vec<CollectionInfo>, BackendError> {
        let banks = self
            .store
            .visible_banks(p.organisation_id)
            .await
            .map_err(internal)?;
        Ok(banks
            .into_iter()
            .map(|v| {
                let own = v.bank.organisation_id == p.organisation_id;
                let mut c = CollectionInfo::new(
                    collection_id(v.bank.id),
                    format!("{}: {}", v.owner, v.bank.name),
                    true,
                    // Owners add signals; partners add opinions (feedback).
                    !own || may_write_signals(p),
                );
                c.description = Some(format!(
                    "TLP:{} {}",
                    v.bank.tlp.to_uppercase(),
                    v.bank.description
                ));
                c.alias = Some(format!("{}/{}", v.owner, v.bank.name));
                c
            })
            .chain(
                self.store
                    .visible_trends(p.organisation_id)
                    .await
                    .map_err(internal)?
                    .into_iter()
                    .map(|t| {
                        let mut c = CollectionInfo::new(
                            trends_collection_id(t.organisation_id),
                            format!("{}: trends", t.owner),
                            true,
                            false,
                        );
                        c.description = Some(format!(
                            "TLP:GREEN weekly counts, cells under {} suppressed",
                            t.min_count
                        ));
                        c
                    }),
            )
            .collect())
    }

    async fn get_objects(
        &self,
        p: &Principal,
        collection: &str,
        query: &ObjectQuery,
    ) -> Result<Page, BackendError> {
        let trends = self
            .store
            .visible_trends(p.organisation_id)
            .await
            .map_err(internal)?
            .into_iter()
            .find(|t| trends_collection_id(t.organisation_id) == collection);
        if let Some(t) = trends {
            let cache = self
                .state
                .campaigns
                .current(&self.state, t.organisation_id)
                .await
                .map_err(|e| BackendError::Internal(e.to_string()))?;
            let summary = cache.lock().await.shared_summary(t.min_count);
            let now = Timestamp::now();
            let objects = trend_objects(&t.owner, t.organisation_id, t.min_count, summary)
                .into_iter()
                .map(|o| {
                    StoredObject::new(o, now).map_err(|e| BackendError::Internal(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            return taxii::select(&objects, query);
        }
        let v = self.visible(p, collection).await?;
        let signals = self.store.all_signals(v.bank.id).await.map_err(internal)?;
        let shared: Vec<SharedSignal> = signals.iter().map(|s| shared_signal(&v, s)).collect();
        let created = timestamp(v.bank.created_at);
        let mut objects = Vec::with_capacity(shared.len() + 4);
        for object in stix::to_objects(&shared) {
            let added = if object.get("type").and_then(Value::as_str) == Some("indicator") {
                object
                    .get("modified")
                    .and_then(Value::as_str)
                    .and_then(|m| m.parse::<Timestamp>().ok())
                    .unwrap_or(created)
            } else {
                created
            };
            objects.push(
                StoredObject::new(object, added)
                    .map_err(|e| BackendError::Internal(e.to_string()))?,
            );
        }
        taxii::select(&objects, query)
    }

    async fn add_objects(
        &self,
        p: &Principal,
        collection: &str,
        objects: Vec<Value>,
    ) -> Result<Status, BackendError> {
        let v = self.visible(p, collection).await?;
        let own = v.bank.organisation_id == p.organisation_id;
        let mut successes = Vec::new();
        let mut failures = Vec::new();
        if own {
            if !may_write_signals(p) {
                return Err(BackendError::BadRequest(format!(
                    "a {} key cannot add signals",
                    p.role.as_str()
                )));
            }
            let (opinions, rest): (Vec<Value>, Vec<Value>) = objects
                .into_iter()
                .partition(|o| o.get("type").and_then(Value::as_str) == Some("opinion"));
            for o in &opinions {
                let id = o.get("id").and_then(Value::as_str).unwrap_or("");
                failures.push(detail(
                    id,
                    version_of(o),
                    "an owner's opinion of its own signal is not feedback",
                ));
            }
            self.add_signals(p, &v, &rest, &mut successes, &mut failures)
                .await?;
        } else {
            self.add_opinions(p, &v, &objects, &mut successes, &mut failures)
                .await?;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let status = Status::from_details(id, Timestamp::now(), successes, failures, vec![]);
        self.remember(p.organisation_id, status.clone());
        Ok(status)
    }

    async fn status(&self, p: &Principal, status_id: &str) -> Result<Option<Status>, BackendError> {
        let all = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        Ok(all
            .iter()
            .find(|(org, s)| *org == p.organisation_id && s.id == status_id)
            .map(|(_, s)| s.clone()))
    }
}
