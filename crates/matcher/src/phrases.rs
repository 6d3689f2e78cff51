//! Banked phrases, found in an item's text after both are folded the same way as detection
//! folds text (case, diacritics, homoglyphs, leetspeak, split letters).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use breakwater_text::normalize::{fold, fold_term};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// Phrases by signal id. The automaton is rebuilt on first use after a change, so a bulk
/// import costs one build, not one per phrase.
#[derive(Debug, Default)]
pub struct PhraseSet {
    folded: HashMap<i64, String>,
    compiled: OnceLock<Option<Compiled>>,
}

#[derive(Debug)]
struct Compiled {
    automaton: AhoCorasick,
    /// Signal ids per pattern (several signals can fold to the same phrase).
    ids: Vec<Vec<i64>>,
    /// Whether each pattern needs a word boundary at its start and at its end.
    bounded: Vec<(bool, bool)>,
}

impl PhraseSet {
    pub fn insert(&mut self, id: i64, phrase: &str) {
        let folded = fold_term(phrase);
        if !folded.trim().is_empty() {
            self.folded.insert(id, folded.trim().to_string());
            self.compiled = OnceLock::new();
        }
    }

    pub fn remove(&mut self, id: i64) {
        if self.folded.remove(&id).is_some() {
            self.compiled = OnceLock::new();
        }
    }

    pub fn len(&self) -> usize {
        self.folded.len()
    }

    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }

    /// Ids of the phrases that occur in `text` as whole words.
    pub fn find(&self, text: &str) -> Vec<i64> {
        if self.folded.is_empty() {
            return vec![];
        }
        let Some(compiled) = self.compiled.get_or_init(|| self.compile()) else {
            return vec![];
        };
        let folded = fold(text);
        let hay = folded.lexical.as_str();
        let mut hits: Vec<i64> = Vec::new();
        for m in compiled.automaton.find_overlapping_iter(hay) {
            let p = m.pattern().as_usize();
            let (need_start, need_end) = compiled.bounded[p];
            let before = hay[..m.start()].chars().next_back();
            let after = hay[m.end()..].chars().next();
            if (need_start && before.is_some_and(char::is_alphanumeric))
                || (need_end && after.is_some_and(char::is_alphanumeric))
            {
                continue;
            }
            hits.extend(&compiled.ids[p]);
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    fn compile(&self) -> Option<Compiled> {
        let mut by_phrase: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (id, phrase) in &self.folded {
            by_phrase.entry(phrase).or_default().push(*id);
        }
        let patterns: Vec<&str> = by_phrase.keys().copied().collect();
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok()?;
        let bounded = patterns
            .iter()
            .map(|p| {
                let edge = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() && !unspaced(c));
                (edge(p.chars().next()), edge(p.chars().next_back()))
            })
            .collect();
        Some(Compiled {
            automaton,
            ids: by_phrase.into_values().collect(),
            bounded,
        })
    }
}

/// Scripts written without spaces between words, where a word boundary means nothing.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF // Thai, Lao
        | 0x3040..=0x30FF // kana
        | 0x3400..=0x9FFF // CJK
        | 0xF900..=0xFAFF
        | 0x20000..=0x2FA1F)
}
