//! Exchange with partners over TAXII 2.1: pull their collections into local banks (with
//! checkpoints), push a bank to their collection, send feedback on their signals; and the
//! scheduled puller that `serve` runs.
//!
//! Loops and duplicates: a signal keeps the name of the organisation that first shared it
//! (`origin`) and its STIX id is derived from that owner and the signal, so it is one object
//! wherever it travels; a pull skips signals owned by the pulling organisation itself, so a
//! partner re-sharing our own signals does not bring them back as theirs.

use crate::bank_cache::BankCache;
use crate::taxii::{opinion_of, shared_signal};
use breakwater_core::Signal;
use breakwater_share::client::{Auth, ClientError, TaxiiClient};
use breakwater_share::stix::{self, indicator_id};
use breakwater_share::taxii::Status;
use breakwater_share::{ImportOptions, Timestamp, Tlp};
use breakwater_store::{Feed, Feedback, NewBank, NewSignal, Store, StoreError, VisibleBank};
use serde_json::{json, Value};
use std::time::Duration;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("partner: {0}")]
    Partner(#[from] ClientError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the partner's objects are not valid STIX: {0}")]
    Stix(String),
    #[error("credentials must be `key:<api key>` or `basic:<user>:<password>`")]
    Credentials,
    #[error("there is no bank `{0}`")]
    NoBank(String),
}

/// Credentials as stored with a feed.
pub fn auth_from(credentials: &str) -> Result<Auth, ExchangeError> {
    if let Some(key) = credentials.strip_prefix("key:") {
        return Ok(Auth::Bearer(key.to_string()));
    }
    if let Some(rest) = credentials.strip_prefix("basic:") {
        if let Some((user, password)) = rest.split_once(':') {
            return Ok(Auth::Basic {
                user: user.to_string(),
                password: password.to_string(),
            });
        }
    }
    Err(ExchangeError::Credentials)
}

/// What one pull did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PullReport {
    pub objects: usize,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
    /// Signals owned by the pulling organisation itself, not taken back.
    pub own: u64,
    pub pages: usize,
}

/// Pulls what the feed's collection gained since its checkpoint into its bank, creating the
/// bank (shared with nobody) if needed. All or nothing: invalid STIX imports nothing and
/// keeps the checkpoint.
pub async fn pull(
    store: &Store,
    banks: Option<&BankCache>,
    feed: &mut Feed,
) -> Result<PullReport, ExchangeError> {
    let org = feed.organisation_id;
    let me = store
        .organisation(org)
        .await?
        .ok_or(StoreError::NotFound)?
        .name;
    let client = TaxiiClient::new(Some(auth_from(&feed.credentials)?));
    let after = feed
        .added_after
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok());
    let fetched = client
        .get_objects(&feed.url, &feed.collection, after, Some(500))
        .await?;
    let options = ImportOptions {
        known_identities: feed.identities.clone(),
        default_owner: None,
        default_tlp: Tlp::Amber,
        skip_unsupported_patterns: true,
    };
    let import = stix::import_objects(&fetched.objects, &options)
        .map_err(|e| ExchangeError::Stix(e.to_string()))?;
    let mut report = PullReport {
        objects: fetched.objects.len(),
        pages: fetched.pages,
        ..PullReport::default()
    };
    if store.bank_by_name(org, &feed.bank).await?.is_none() {
        let mut bank = NewBank::named(&feed.bank);
        bank.description = format!("pulled from {} collection {}", feed.url, feed.collection);
        store.create_bank(org, &bank, "exchange").await?;
    }
    let mut adds = Vec::new();
    for s in import.signals {
        if s.owner == me {
            report.own += 1;
            continue;
        }
        if s.revoked {
            match store
                .remove_signal(org, &feed.bank, &s.signal, "exchange")
                .await
            {
                Ok(()) => report.removed += 1,
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        adds.push(NewSignal {
            signal: s.signal,
            category: s.category,
            source: Some(s.source.unwrap_or_else(|| s.owner.clone())),
            note: None,
            expires_at: s.valid_until.map(|t| t.unix_micros() / 1000),
            origin: Some(s.owner),
        });
    }
    if !adds.is_empty() {
        let added = store
            .add_signals(org, &feed.bank, &adds, "exchange")
            .await?;
        report.added = added.added;
        report.updated = added.updated;
    }
    if let Some(cache) = banks {
        cache.invalidate(org).await;
    }
    feed.identities.extend(import.identities);
    if let Some(last) = fetched.date_added_last {
        feed.added_after = Some(last.to_string());
    }
    feed.last_pull_at = Some(breakwater_store::now_ms());
    feed.last_error = None;
    store.save_feed_state(feed).await?;
    Ok(report)
}

/// Pushes every signal of one of `org`'s banks (removed ones as revoked) to a partner's
/// collection.
pub async fn push(
    store: &Store,
    org: i64,
    bank: &str,
    api_root: &str,
    collection: &str,
    auth: Auth,
) -> Result<Status, ExchangeError> {
    let visible: VisibleBank = store
        .visible_banks(org)
        .await?
        .into_iter()
        .find(|v| v.bank.organisation_id == org && v.bank.name == bank)
        .ok_or_else(|| ExchangeError::NoBank(bank.to_string()))?;
    let signals = store.all_signals(visible.bank.id).await?;
    let shared: Vec<_> = signals.iter().map(|s| shared_signal(&visible, s)).collect();
    let envelope = json!({ "objects": stix::to_objects(&shared) });
    Ok(TaxiiClient::new(Some(auth))
        .add_objects(api_root, collection, &envelope)
        .await?)
}

/// Tells the owner of a shared signal what we think of it, as a STIX opinion.
pub async fn send_feedback(
    api_root: &str,
    collection: &str,
    auth: Auth,
    owner: &str,
    signal: &Signal,
    feedback: Feedback,
    note: Option<&str>,
) -> Result<Status, ExchangeError> {
    let now = Timestamp::now().to_string();
    let mut opinion = json!({
        "type": "opinion",
        "spec_version": "2.1",
        "id": format!("opinion--{}", uuid::Uuid::new_v4()),
        "created": now,
        "modified": now,
        "opinion": opinion_of(feedback),
        "object_refs": [indicator_id(owner, signal)],
    });
    if let Some(n) = note {
        opinion["explanation"] = Value::String(n.to_string());
    }
    let envelope = json!({ "objects": [opinion] });
    Ok(TaxiiClient::new(Some(auth))
        .add_objects(api_root, collection, &envelope)
        .await?)
}

/// Pulls every feed of every organisation, then again every `interval`, until the process
/// ends. A failing partner is logged on its feed and retried next round.
pub async fn run_feeds(store: Store, banks: std::sync::Arc<BankCache>, interval: Duration) {
    loop {
        match store.feeds().await {
            Ok(feeds) => {
                for mut feed in feeds {
                    if let Err(e) = pull(&store, Some(&banks), &mut feed).await {
                        feed.last_error = Some(e.to_string());
                        feed.last_pull_at = Some(breakwater_store::now_ms());
                        let _ = store.save_feed_state(&feed).await;
                        eprintln!(
                            "exchange: pulling {} {} failed: {e}",
                            feed.url, feed.collection
                        );
                    }
                }
            }
            Err(e) => eprintln!("exchange: cannot list feeds: {e}"),
        }
        tokio::time::sleep(interval).await;
    }
}
