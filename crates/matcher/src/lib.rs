//! Matching: an item's image hashes and the entities found in its text, looked up in the
//! organisation's signal banks.
//!
//! A [`Matcher`] holds every signal of the banks in memory: exact tables for hashes, phones,
//! handles, URLs and domains, an exact Hamming-radius index for PDQ, and one Aho-Corasick
//! automaton for phrases (folded with the detector's normaliser, so obfuscated spellings of a
//! banked phrase match). It is updated signal by signal ([`Matcher::apply`]) as banks change,
//! so a bank of a million hashes is never rebuilt for one addition.

mod phrases;
pub mod signal_file;

use breakwater_core::{Category, Entity, EntityKind, Match, MatchVerdict, Signal, SignalKind};
use breakwater_media::{Dihedral, PdqHash, PdqIndex, PDQ_MIN_QUALITY};
use std::collections::HashMap;

pub use phrases::PhraseSet;
pub use signal_file::{parse_signal_file, FileFormat, SignalFileError, SignalRecord};

/// A bank as the matcher needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct BankInfo {
    pub id: i64,
    pub name: String,
    pub category: Option<Category>,
    pub verdict: MatchVerdict,
    pub pdq_threshold: u32,
    pub enabled: bool,
    pub disabled_until: Option<i64>,
    pub expires_at: Option<i64>,
    /// Partners' disputes after which a signal stops matching; 0: never.
    pub dispute_limit: u32,
}

impl BankInfo {
    fn is_active(&self, now: i64) -> bool {
        self.enabled
            && self.disabled_until.is_none_or(|t| now >= t)
            && self.expires_at.is_none_or(|t| now < t)
    }
}

/// One signal of a bank.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalEntry {
    /// Unique across the matcher (the database row id).
    pub id: i64,
    pub bank_id: i64,
    pub signal: Signal,
    pub category: Option<Category>,
    pub source: Option<String>,
    pub expires_at: Option<i64>,
    /// Partners that disputed it or reported it as a false positive.
    pub disputes: u32,
}

/// The hashes of one image to match.
#[derive(Debug, Clone)]
pub struct ImageHashes {
    pub name: String,
    pub md5: String,
    pub sha256: String,
    /// The PDQ hashes of the 8 orientations (reference order, the image as given first), or
    /// just the one; empty when the image's quality is too low for PDQ to mean anything.
    pub pdq: Vec<PdqHash>,
    pub quality: u8,
}

impl ImageHashes {
    /// From the hashes of a file; the PDQ hashes are kept only at quality ≥ 50.
    pub fn from_file(name: &str, h: &breakwater_media::DihedralFileHashes) -> ImageHashes {
        let usable = h.file.quality >= PDQ_MIN_QUALITY;
        ImageHashes {
            name: name.to_string(),
            md5: h.file.md5.clone(),
            sha256: h.file.sha256.clone(),
            pdq: if usable { h.dihedral.to_vec() } else { vec![] },
            quality: h.file.quality,
        }
    }
}

/// Everything of an item that can match.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchInput<'a> {
    pub text: &'a str,
    pub entities: &'a [Entity],
    pub images: &'a [ImageHashes],
}

/// The in-memory banks of one organisation.
#[derive(Debug, Default)]
pub struct Matcher {
    banks: HashMap<i64, BankInfo>,
    signals: HashMap<i64, SignalEntry>,
    /// (kind, canonical value) → signal ids, for every kind but PDQ and phrases.
    exact: HashMap<(SignalKind, String), Vec<i64>>,
    pdq: PdqIndex,
    phrases: PhraseSet,
}

impl Matcher {
    pub fn new() -> Matcher {
        Matcher::default()
    }

    /// Number of signals held.
    pub fn len(&self) -> usize {
        self.signals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.signals.is_empty()
    }

    /// Replaces the bank settings (banks are few; their signals stay).
    pub fn set_banks(&mut self, banks: impl IntoIterator<Item = BankInfo>) {
        self.banks = banks.into_iter().map(|b| (b.id, b)).collect();
    }

    pub fn bank(&self, id: i64) -> Option<&BankInfo> {
        self.banks.get(&id)
    }

    /// Adds or replaces a signal.
    pub fn insert(&mut self, entry: SignalEntry) {
        self.remove(entry.id);
        let id = entry.id;
        match entry.signal.kind {
            SignalKind::Pdq => {
                // Canonical PDQ values are 64 hex digits, so this cannot fail.
                if let Ok(h) = PdqHash::from_hex(&entry.signal.value) {
                    self.pdq.insert(id as u64, h);
                }
            }
            SignalKind::Phrase => self.phrases.insert(id, &entry.signal.value),
            kind => self
                .exact
                .entry((kind, entry.signal.value.clone()))
                .or_default()
                .push(id),
        }
        self.signals.insert(id, entry);
    }

    /// Removes a signal; unknown ids are ignored.
    pub fn remove(&mut self, id: i64) {
        let Some(old) = self.signals.remove(&id) else {
            return;
        };
        match old.signal.kind {
            SignalKind::Pdq => {
                self.pdq.remove(id as u64);
            }
            SignalKind::Phrase => self.phrases.remove(id),
            kind => {
                let key = (kind, old.signal.value);
                if let Some(ids) = self.exact.get_mut(&key) {
                    ids.retain(|&i| i != id);
                    if ids.is_empty() {
                        self.exact.remove(&key);
                    }
                }
            }
        }
    }

    /// Applies one change from a change feed: `None` removes.
    pub fn apply(&mut self, id: i64, entry: Option<SignalEntry>) {
        match entry {
            Some(e) => self.insert(e),
            None => self.remove(id),
        }
    }

    /// Every hit of the item in an active bank at time `now`, strongest first (exact media,
    /// then PDQ by distance, then text signals).
    pub fn find(&self, input: &MatchInput<'_>, now: i64) -> Vec<Match> {
        let mut out: Vec<Match> = Vec::new();
        let mut seen: HashMap<(i64, Option<usize>), usize> = HashMap::new();
        let mut push = |out: &mut Vec<Match>,
                        id: i64,
                        image: Option<(usize, &str)>,
                        distance: Option<u32>,
                        orientation: Option<Dihedral>| {
            let Some(entry) = self.signals.get(&id) else {
                return;
            };
            let Some(bank) = self.banks.get(&entry.bank_id) else {
                return;
            };
            let disputed = bank.dispute_limit > 0 && entry.disputes >= bank.dispute_limit;
            if !bank.is_active(now) || entry.expires_at.is_some_and(|t| now >= t) || disputed {
                return;
            }
            if let Some(d) = distance {
                if d > bank.pdq_threshold {
                    return;
                }
            }
            let key = (id, image.map(|(i, _)| i));
            let m = Match {
                bank: bank.name.clone(),
                signal_kind: entry.signal.kind,
                value: entry.signal.value.clone(),
                distance,
                category: entry.category.or(bank.category),
                verdict: bank.verdict,
                source: entry.source.clone(),
                media: image.map(|(_, name)| name.to_string()),
                orientation: orientation
                    .filter(|o| *o != Dihedral::Original)
                    .map(orientation_name),
            };
            // The same signal met twice for one image (several orientations): keep the closest.
            match seen.get(&key) {
                Some(&at) if out[at].distance <= m.distance => {}
                Some(&at) => out[at] = m,
                None => {
                    seen.insert(key, out.len());
                    out.push(m);
                }
            }
        };

        for (i, image) in input.images.iter().enumerate() {
            let at = Some((i, image.name.as_str()));
            for (kind, value) in [
                (SignalKind::Md5, &image.md5),
                (SignalKind::Sha256, &image.sha256),
            ] {
                for &id in self.exact_ids(kind, value) {
                    push(&mut out, id, at, None, None);
                }
            }
            if self.pdq.is_empty() {
                continue;
            }
            let radius = self.max_pdq_threshold(now);
            for (hash, orientation) in image.pdq.iter().zip(Dihedral::ALL) {
                for (id, d) in self.pdq.query(hash, radius) {
                    push(&mut out, id as i64, at, Some(d), Some(orientation));
                }
            }
        }

        for e in input.entities {
            for (kind, value) in entity_signals(e) {
                for &id in self.exact_ids(kind, &value) {
                    push(&mut out, id, None, None, None);
                }
            }
        }
        for id in self.phrases.find(input.text) {
            push(&mut out, id, None, None, None);
        }

        out.sort_by_key(|m| (rank(m.signal_kind), m.distance.unwrap_or(0)));
        out
    }

    fn exact_ids(&self, kind: SignalKind, value: &str) -> &[i64] {
        self.exact
            .get(&(kind, value.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn max_pdq_threshold(&self, now: i64) -> u32 {
        self.banks
            .values()
            .filter(|b| b.is_active(now))
            .map(|b| b.pdq_threshold)
            .max()
            .unwrap_or(0)
    }

    /// Approximate memory held by the PDQ index.
    pub fn pdq_memory_bytes(&self) -> usize {
        self.pdq.memory_bytes()
    }
}

fn rank(kind: SignalKind) -> u8 {
    match kind {
        SignalKind::Sha256 | SignalKind::Md5 => 0,
        SignalKind::Pdq => 1,
        _ => 2,
    }
}

fn orientation_name(o: Dihedral) -> String {
    match o {
        Dihedral::Original => "original",
        Dihedral::Rotate90 => "rotate90",
        Dihedral::Rotate180 => "rotate180",
        Dihedral::Rotate270 => "rotate270",
        Dihedral::FlipX => "flip_x",
        Dihedral::FlipY => "flip_y",
        Dihedral::FlipPlus1 => "flip_plus1",
        Dihedral::FlipMinus1 => "flip_minus1",
    }
    .to_string()
}

/// The bank signals an entity can match: a phone its number, a handle its account, a URL
/// itself and its domain with every parent domain (a bank listing `boats-uk.com` matches a
/// link to `offers.boats-uk.com/x`), an e-mail its domain.
fn entity_signals(e: &Entity) -> Vec<(SignalKind, String)> {
    let mut out = Vec::new();
    let parse = |kind, v: &str| Signal::parse(kind, v).ok().map(|s| (kind, s.value));
    match e.kind {
        EntityKind::Phone => out.extend(parse(SignalKind::Phone, &e.value)),
        EntityKind::Handle => out.extend(parse(SignalKind::Handle, &e.value)),
        EntityKind::Url => {
            let url = if e.value.contains("://") {
                e.value.clone()
            } else {
                format!("https://{}", e.value)
            };
            if let Some((_, canonical)) = parse(SignalKind::Url, &url) {
                // A bank may list the http or https form: try both.
                let other = match canonical.split_once("://") {
                    Some(("https", rest)) => format!("http://{rest}"),
                    Some((_, rest)) => format!("https://{rest}"),
                    None => canonical.clone(),
                };
                let host = canonical
                    .split_once("://")
                    .map(|(_, r)| r.split(['/', '?', ':']).next().unwrap_or(""))
                    .unwrap_or("")
                    .to_string();
                out.push((SignalKind::Url, canonical));
                out.push((SignalKind::Url, other));
                push_domains(&mut out, &host);
            }
        }
        EntityKind::Email => {
            if let Some((_, host)) = e.value.rsplit_once('@') {
                push_domains(&mut out, host);
            }
        }
        _ => {}
    }
    out
}

fn push_domains(out: &mut Vec<(SignalKind, String)>, host: &str) {
    let Some(host) = breakwater_core::domain(host) else {
        return;
    };
    let mut rest = host.as_str();
    loop {
        out.push((SignalKind::Domain, rest.to_string()));
        match rest.split_once('.') {
            // Stop before the bare top-level domain.
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests;
