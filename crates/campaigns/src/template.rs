//! The template of a campaign: what its posts share and what varies.
//!
//! In the spirit of InfoShield: the medoid (the member most similar to the others) is the
//! skeleton; every member is aligned to it token by token (longest common subsequence over
//! the same masked tokens the clusterer compares), and each position of the medoid is either
//! kept, when most members agree on it, or becomes a slot whose values are listed. Masked
//! parts (phones, prices, dates, handles, links, emoji) are always slots. The template is the
//! medoid's own text with each slot replaced by `{name}`, so it reads like the adverts do:
//! `Boat to UK every night, only {price}, call {phone}`.

use crate::minhash::intersection_size;
use crate::tokens::{tokenize, Token, TokenKind, Tokenized};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Members aligned at most; a larger campaign is sampled evenly.
const MAX_MEMBERS: usize = 200;
/// Members the medoid is chosen among.
const MAX_MEDOID_CANDIDATES: usize = 50;
/// Tokens per member taken into the alignment; adverts are far shorter.
const MAX_TOKENS: usize = 300;
/// Values listed per slot, most frequent first.
const MAX_VALUES: usize = 20;

/// A campaign's template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// The medoid's text with each slot replaced by `{name}`.
    pub text: String,
    pub slots: Vec<Slot>,
    /// Members the template was built from (a sample of a large campaign).
    pub members: usize,
    /// Index, in the texts given, of the member the template is written from.
    pub medoid: usize,
}

/// A part that varies between members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// `phone`, `price`, `date`, `number`, `handle`, `url`, `email`, `emoji` or `word`,
    /// numbered from the second of a kind on (`phone_2`).
    pub name: String,
    /// The most frequent values, as written.
    pub values: Vec<SlotValue>,
    /// Distinct values in all.
    pub distinct: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotValue {
    pub value: String,
    pub count: usize,
}

/// A member's text, tokens and the byte offset of each of its characters.
struct Member<'a> {
    text: &'a str,
    tokenized: Tokenized,
    /// Byte offset of each code point, and the text's length at the end.
    offsets: Vec<usize>,
}

impl<'a> Member<'a> {
    fn new(text: &'a str) -> Self {
        let mut tokenized = tokenize(text);
        tokenized.tokens.truncate(MAX_TOKENS);
        let offsets = text
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(text.len()))
            .collect();
        Member {
            text,
            tokenized,
            offsets,
        }
    }

    fn tokens(&self) -> &[Token] {
        &self.tokenized.tokens
    }

    /// The original text of code points `start..end`.
    fn slice(&self, start: u32, end: u32) -> &'a str {
        let last = self.offsets.len() - 1;
        let (s, e) = (
            self.offsets[(start as usize).min(last)],
            self.offsets[(end as usize).min(last)],
        );
        &self.text[s..e]
    }
}

impl Template {
    /// Builds the template of a campaign from its members' texts; `None` when there are none.
    pub fn build<S: AsRef<str>>(texts: &[S]) -> Option<Template> {
        if texts.is_empty() {
            return None;
        }
        let sample: Vec<usize> = if texts.len() <= MAX_MEMBERS {
            (0..texts.len()).collect()
        } else {
            (0..MAX_MEMBERS)
                .map(|i| i * texts.len() / MAX_MEMBERS)
                .collect()
        };
        let members: Vec<Member<'_>> = sample
            .iter()
            .map(|&i| Member::new(texts[i].as_ref()))
            .collect();
        let medoid = medoid(&members);
        let skeleton = &members[medoid];
        let n = skeleton.tokens().len();
        // For each medoid position: members that agree, and each member's value span there.
        let mut agree = vec![0usize; n];
        let mut values: Vec<Vec<Option<(u32, u32)>>> = vec![Vec::with_capacity(members.len()); n];
        for member in &members {
            let spans = align(skeleton.tokens(), member.tokens());
            for (i, span) in spans.into_iter().enumerate() {
                if let Some((_, _, same)) = span {
                    agree[i] += usize::from(same);
                }
                values[i].push(span.map(|(s, e, _)| (s, e)));
            }
        }
        // Positions that vary: masked ones, and words most members do not share.
        let is_slot: Vec<bool> = skeleton
            .tokens()
            .iter()
            .zip(&agree)
            .map(|(t, &a)| matches!(t.kind, TokenKind::Slot(_)) || a * 2 < members.len())
            .collect();
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for i in (0..n).filter(|&i| is_slot[i]) {
            let word = skeleton.tokens()[i].kind == TokenKind::Word;
            match runs.last_mut() {
                // Neighbouring varying words are one slot: a swapped phrase.
                Some((_, end))
                    if *end + 1 == i && word && skeleton.tokens()[*end].kind == TokenKind::Word =>
                {
                    *end = i
                }
                _ => runs.push((i, i)),
            }
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut slots = Vec::with_capacity(runs.len());
        for &(first, last) in &runs {
            let kind = match skeleton.tokens()[first].kind {
                TokenKind::Word => "word",
                TokenKind::Slot(k) => k.as_str(),
            };
            let seen = names.entry(kind).or_default();
            *seen += 1;
            let name = if *seen == 1 {
                kind.to_string()
            } else {
                format!("{kind}_{seen}")
            };
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for (m, member) in members.iter().enumerate() {
                let spans = (first..=last).filter_map(|i| values[i][m]);
                let start = spans.clone().map(|s| s.0).min();
                let end = spans.map(|s| s.1).max();
                if let (Some(s), Some(e)) = (start, end) {
                    let value = member.slice(s, e).trim();
                    if !value.is_empty() {
                        *counts.entry(value).or_default() += 1;
                    }
                }
            }
            let distinct = counts.len();
            let mut listed: Vec<SlotValue> = counts
                .into_iter()
                .map(|(value, count)| SlotValue {
                    value: value.to_string(),
                    count,
                })
                .collect();
            listed.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            listed.truncate(MAX_VALUES);
            slots.push(Slot {
                name,
                values: listed,
                distinct,
            });
        }
        Some(Template {
            text: render(skeleton, &runs, &slots),
            slots,
            members: members.len(),
            medoid: sample[medoid],
        })
    }
}

/// The medoid's text with each run of slot tokens replaced by its slot's name.
fn render(skeleton: &Member<'_>, runs: &[(usize, usize)], slots: &[Slot]) -> String {
    let tokens = skeleton.tokens();
    let mut out = String::with_capacity(skeleton.text.len());
    let mut at = 0u32;
    for (&(first, last), slot) in runs.iter().zip(slots) {
        let (start, end) = (tokens[first].start, tokens[last].end);
        if start < at {
            continue;
        }
        out.push_str(skeleton.slice(at, start));
        out.push('{');
        out.push_str(&slot.name);
        out.push('}');
        at = end;
    }
    out.push_str(skeleton.slice(at, u32::MAX));
    out.trim().to_string()
}

/// The member whose token set is closest, on average, to the others' (among an even sample).
fn medoid(members: &[Member<'_>]) -> usize {
    let candidates: Vec<usize> = if members.len() <= MAX_MEDOID_CANDIDATES {
        (0..members.len()).collect()
    } else {
        (0..MAX_MEDOID_CANDIDATES)
            .map(|i| i * members.len() / MAX_MEDOID_CANDIDATES)
            .collect()
    };
    let sets: Vec<Vec<u64>> = candidates
        .iter()
        .map(|&c| {
            let mut keys: Vec<u64> = members[c].tokens().iter().map(|t| t.hash).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        })
        .collect();
    let scores: Vec<f64> = sets
        .iter()
        .enumerate()
        .map(|(a, set_a)| {
            sets.iter()
                .enumerate()
                .filter(|&(b, _)| b != a)
                .map(|(_, set_b)| jaccard_sorted(set_a, set_b))
                .sum()
        })
        .collect();
    let best = scores.iter().copied().fold(f64::MIN, f64::max);
    // Among members about as central as the best, the template is written from the least
    // obfuscated, so that it reads as the adverts were meant to.
    (0..candidates.len())
        .filter(|&a| scores[a] >= best * 0.95)
        .min_by(|&a, &b| {
            obfuscation(members[candidates[a]].text)
                .cmp(&obfuscation(members[candidates[b]].text))
                .then(scores[b].total_cmp(&scores[a]))
        })
        .map_or(0, |a| candidates[a])
}

/// Signs of obfuscation in a text: digits and symbols between letters (`b0at`, `p@y`),
/// invisible characters, and letters split by single separators (`W h a t s`).
fn obfuscation(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut marks = 0;
    for (i, &c) in chars.iter().enumerate() {
        let letter_at = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphabetic())
        };
        let between_letters = letter_at(i.checked_sub(1)) && letter_at(Some(i + 1));
        if between_letters && (c.is_ascii_digit() || matches!(c, '@' | '$' | '!')) {
            marks += 1;
        }
        if matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{0640}'
        ) {
            marks += 1;
        }
        if c.is_alphabetic()
            && matches!(chars.get(i + 1), Some(' ' | '.'))
            && chars.get(i + 2).is_some_and(|c| c.is_alphabetic())
            && !letter_at(i.checked_sub(1))
            && !chars.get(i + 3).is_some_and(|c| c.is_alphabetic())
        {
            marks += 1;
        }
    }
    marks
}

fn jaccard_sorted(a: &[u64], b: &[u64]) -> f64 {
    let shared = intersection_size(a, b);
    let union = a.len() + b.len() - shared;
    if union == 0 {
        1.0
    } else {
        shared as f64 / union as f64
    }
}

/// Aligns a member to the skeleton by longest common subsequence of token hashes. For each
/// skeleton position: the member's span there and whether it is the same token, or `None`
/// when the member has nothing there. Member tokens between two aligned positions are the
/// value of the first skeleton position of that gap (a substituted word or phrase).
fn align(skeleton: &[Token], member: &[Token]) -> Vec<Option<(u32, u32, bool)>> {
    let (n, m) = (skeleton.len(), member.len());
    // lcs[i][j]: LCS length of skeleton[i..] and member[j..].
    let width = m + 1;
    let mut lcs = vec![0u16; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * width + j] = if skeleton[i].hash == member[j].hash {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let mut out = vec![None; n];
    let (mut i, mut j) = (0, 0);
    // The first skeleton position of the current gap, and where the member's gap began.
    let mut gap: Option<(usize, usize)> = None;
    let close = |out: &mut Vec<Option<(u32, u32, bool)>>, gap: Option<(usize, usize)>, j: usize| {
        if let Some((at, from)) = gap {
            if from < j {
                out[at] = Some((member[from].start, member[j - 1].end, false));
            }
        }
    };
    while i < n && j < m {
        if skeleton[i].hash == member[j].hash {
            close(&mut out, gap.take(), j);
            out[i] = Some((member[j].start, member[j].end, true));
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
            gap.get_or_insert((i, j));
            i += 1;
        } else {
            if gap.is_none() && i < n {
                gap = Some((i, j));
            }
            j += 1;
        }
    }
    if i < n {
        gap.get_or_insert((i, j));
    }
    close(&mut out, gap, m);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_members_share_and_lists_what_varies() {
        let texts = [
            "Boat to UK every night from Calais, only £1500, call +44 7911 123456 🚤",
            "Boat to UK every night from Dunkirk, only £1800, call +44 7911 654321",
            "B0AT to UK every night from Calais!! only 2000 GBP, call 07700 900123 🚤🇬🇧",
            "Boat to UK every night from Calais, only £1500, call +44 7911 123456 🔥",
        ];
        let template = Template::build(&texts).unwrap();
        assert_eq!(template.members, 4);
        assert!(
            template
                .text
                .contains("to UK every night from Calais, only {price}, call {phone}"),
            "{}",
            template.text
        );
        let price = template.slots.iter().find(|s| s.name == "price").unwrap();
        assert_eq!(price.distinct, 3);
        assert_eq!(
            price.values[0],
            SlotValue {
                value: "£1500".into(),
                count: 2
            }
        );
        let phone = template.slots.iter().find(|s| s.name == "phone").unwrap();
        assert!(phone.values.iter().any(|v| v.value == "07700 900123"));
        // "Dunkirk" is one member's word against three: not a slot.
        assert!(!template.slots.iter().any(|s| s.name == "word"));
    }

    #[test]
    fn a_word_most_members_change_becomes_a_slot() {
        let texts = [
            "crossing by dinghy tonight, pay on arrival, DM @boza",
            "crossing by speedboat tonight, pay on arrival, DM @boza1",
            "crossing by lorry tonight, pay on arrival, DM @boza01",
        ];
        let template = Template::build(&texts).unwrap();
        let word = template.slots.iter().find(|s| s.name == "word").unwrap();
        assert_eq!(word.distinct, 3);
        assert!(
            template.text.contains("crossing by {word} tonight"),
            "{}",
            template.text
        );
        assert!(template.text.contains("DM {handle}"), "{}", template.text);
        assert_eq!(Template::build::<&str>(&[]), None);
    }
}
