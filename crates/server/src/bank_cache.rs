//! Each organisation's banks, held in memory as a [`Matcher`] and kept current by following
//! the store's change feed.
//!
//! A request checks the organisation's bank sequence number at most once a second (and at
//! once after a bank change made through this process), then applies only the signals that
//! changed since. Several servers on one PostgreSQL database therefore agree within a second,
//! and a bank of a million hashes is loaded once, not per change.

use breakwater_core::Signal;
use breakwater_matcher::{BankInfo, Matcher, SignalEntry};
use breakwater_store::{Bank, Store, StoreError, StoredSignal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How stale a matcher may be when changes come from another process.
const RECHECK: Duration = Duration::from_secs(1);
/// Signals fetched per round trip while catching up.
const PAGE: u32 = 10_000;

#[derive(Default)]
pub struct BankCache {
    orgs: Mutex<HashMap<i64, Arc<OrgBanks>>>,
}

pub struct OrgBanks {
    pub matcher: RwLock<Matcher>,
    /// Serialises catching up, so concurrent requests do not fetch the same changes.
    sync: tokio::sync::Mutex<SyncState>,
}

struct SyncState {
    /// The last `(change_seq, id)` applied.
    after: (i64, i64),
    /// The bank sequence number the banks' settings were read at.
    bank_seq: i64,
    checked: Option<Instant>,
}

impl BankCache {
    /// The organisation's matcher, brought up to date if it may be stale.
    pub async fn current(&self, store: &Store, org: i64) -> Result<Arc<OrgBanks>, StoreError> {
        let entry = {
            let mut orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
            orgs.entry(org)
                .or_insert_with(|| {
                    Arc::new(OrgBanks {
                        matcher: RwLock::new(Matcher::new()),
                        sync: tokio::sync::Mutex::new(SyncState {
                            after: (0, 0),
                            bank_seq: -1,
                            checked: None,
                        }),
                    })
                })
                .clone()
        };
        let mut sync = entry.sync.lock().await;
        if sync.checked.is_some_and(|t| t.elapsed() < RECHECK) {
            return Ok(entry.clone());
        }
        let seq = store.bank_seq(org).await?;
        if seq != sync.bank_seq {
            let banks = store.banks(org).await?;
            let mut changes = Vec::new();
            loop {
                let page = store.signal_changes(org, sync.after, PAGE).await?;
                let Some(last) = page.last() else { break };
                sync.after = (last.change_seq, last.id);
                let done = page.len() < PAGE as usize;
                changes.extend(page);
                if done {
                    break;
                }
            }
            let mut matcher = entry.matcher.write().unwrap_or_else(|e| e.into_inner());
            matcher.set_banks(banks.into_iter().map(bank_info));
            for s in changes {
                let id = s.id;
                matcher.apply(id, signal_entry(s));
            }
            sync.bank_seq = seq;
        }
        sync.checked = Some(Instant::now());
        Ok(entry.clone())
    }

    /// Makes the next request re-read the organisation's banks (after a change made here).
    pub async fn invalidate(&self, org: i64) {
        let entry = self
            .orgs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&org)
            .cloned();
        if let Some(entry) = entry {
            entry.sync.lock().await.checked = None;
        }
    }
}

fn bank_info(b: Bank) -> BankInfo {
    BankInfo {
        id: b.id,
        name: b.name,
        category: b.category,
        verdict: b.verdict,
        pdq_threshold: b.pdq_threshold,
        enabled: b.enabled,
        disabled_until: b.disabled_until,
        expires_at: b.expires_at,
        dispute_limit: b.dispute_limit,
    }
}

/// The matcher's view of a stored signal; `None` when it was removed.
fn signal_entry(s: StoredSignal) -> Option<SignalEntry> {
    if s.removed_at.is_some() {
        return None;
    }
    Some(SignalEntry {
        id: s.id,
        bank_id: s.bank_id,
        signal: Signal {
            kind: s.kind,
            value: s.value,
        },
        category: s.category,
        source: s.source,
        expires_at: s.expires_at,
        disputes: s.disputed.max(0) as u32,
    })
}
