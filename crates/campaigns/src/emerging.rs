//! Emerging terms: words and word pairs whose frequency surges this week.
//!
//! Counts are of documents (a post that repeats a word counts once), per week. A term's
//! share of this week's documents is compared with its share of the baseline weeks before
//! it. The p-value is the exact conditional binomial test: of the documents with the term in
//! either window, how likely is it that this many fall in this week, if each fell there with
//! this week's share of all documents? (The chi-square approximation of the log-likelihood
//! ratio is too optimistic for the small counts that matter most: it raised twice the false
//! alarms it promised on a stationary stream.) Dunning's log-likelihood ratio G² ranks the
//! surges. Only rises are reported, only for terms seen in at least `min_count` documents
//! this week and rising at least `min_ratio`-fold, and the p-value must clear a Bonferroni
//! bound over the terms tested (those in `min_count` documents of both windows together), so
//! that a stationary stream raises at most `alpha` false alarms a week on average, instead
//! of one per thousand terms.

use crate::tokens::{tokenize, TokenKind};
use crate::week::Week;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How surges are tested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurgeConfig {
    /// Weeks before the tested week that form the baseline. Default 8.
    pub baseline_weeks: u32,
    /// Documents this week that must contain the term. Default 5.
    pub min_count: u64,
    /// Smallest rise of the term's share of documents over the baseline. Default 2.
    pub min_ratio: f64,
    /// Family-wise false-alarm rate per tested week. Default 0.01.
    pub alpha: f64,
    /// Suggestions returned at most. Default 50.
    pub max_results: usize,
}

impl Default for SurgeConfig {
    fn default() -> Self {
        SurgeConfig {
            baseline_weeks: 8,
            min_count: 5,
            min_ratio: 2.0,
            alpha: 0.01,
            max_results: 50,
        }
    }
}

/// A term that surged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Surge {
    pub term: String,
    pub week: Week,
    /// Documents this week with the term, and documents this week.
    pub count: u64,
    pub documents: u64,
    /// The same over the baseline weeks.
    pub baseline_count: u64,
    pub baseline_documents: u64,
    /// This week's share over the baseline's (the baseline count smoothed by ½, so that a
    /// new term has a finite ratio).
    pub ratio: f64,
    /// Log-likelihood ratio statistic G², by which surges are ranked.
    pub llr: f64,
    /// One-sided p-value of a rise this large under no change (exact conditional binomial).
    pub p_value: f64,
}

#[derive(Debug, Clone, Default)]
struct WeekCounts {
    documents: u64,
    terms: HashMap<String, u64>,
}

/// Weekly document counts of terms.
#[derive(Debug, Clone, Default)]
pub struct EmergingTerms {
    weeks: BTreeMap<Week, WeekCounts>,
}

/// The terms of a text: its words (each character in scripts without spaces) and pairs of
/// neighbouring words, normalised as the detector reads them; numbers, contacts and emoji
/// are not terms.
pub fn terms_of(text: &str) -> Vec<String> {
    let tokenized = tokenize(text);
    let mut words: Vec<Option<&str>> = Vec::with_capacity(tokenized.tokens.len());
    for token in &tokenized.tokens {
        words.push(match token.kind {
            TokenKind::Word => Some(tokenized.token_text(token)),
            // A slot breaks word pairs: "call {phone} now" has no pair "call now".
            TokenKind::Slot(_) => None,
        });
    }
    let mut terms: Vec<String> = words.iter().flatten().map(|w| w.to_string()).collect();
    for pair in words.windows(2) {
        if let [Some(a), Some(b)] = pair {
            terms.push(format!("{a} {b}"));
        }
    }
    terms
}

impl EmergingTerms {
    pub fn new() -> Self {
        EmergingTerms::default()
    }

    /// Counts one document posted at `at_ms` (Unix milliseconds) with the given terms; a term
    /// repeated in the document counts once.
    pub fn add<S: AsRef<str>>(&mut self, at_ms: i64, terms: &[S]) {
        let week = self.weeks.entry(Week::of(at_ms)).or_default();
        week.documents += 1;
        let unique: HashSet<&str> = terms.iter().map(AsRef::as_ref).collect();
        for term in unique {
            match week.terms.get_mut(term) {
                Some(n) => *n += 1,
                None => {
                    week.terms.insert(term.to_string(), 1);
                }
            }
        }
    }

    /// Counts one document by its text ([`terms_of`]).
    pub fn add_text(&mut self, at_ms: i64, text: &str) {
        self.add(at_ms, &terms_of(text));
    }

    /// Weeks with documents, and how many, in order.
    pub fn weeks(&self) -> Vec<(Week, u64)> {
        self.weeks.iter().map(|(w, c)| (*w, c.documents)).collect()
    }

    /// Documents of a week that contain a term.
    pub fn count(&self, week: Week, term: &str) -> u64 {
        self.weeks
            .get(&week)
            .and_then(|w| w.terms.get(term))
            .copied()
            .unwrap_or(0)
    }

    /// The terms that surged in `week` against the weeks before it, strongest first.
    pub fn surges(&self, week: Week, config: &SurgeConfig) -> Vec<Surge> {
        let Some(current) = self.weeks.get(&week) else {
            return Vec::new();
        };
        let from = Week(week.0 - i64::from(config.baseline_weeks));
        let baseline: Vec<&WeekCounts> = self.weeks.range(from..week).map(|(_, c)| c).collect();
        let baseline_documents: u64 = baseline.iter().map(|c| c.documents).sum();
        if baseline_documents == 0 || current.documents == 0 {
            return Vec::new();
        }
        let mut before: HashMap<&str, u64> = HashMap::new();
        for counts in &baseline {
            for (term, &n) in &counts.terms {
                *before.entry(term.as_str()).or_default() += n;
            }
        }
        let now = |term: &str| current.terms.get(term).copied().unwrap_or(0);
        // The family of tests: every term in enough documents of both windows together.
        // Choosing by that total says nothing about where the documents fell, so the test
        // given the total stays exact; choosing by this week's count alone would pick the
        // weeks that happen to be high and raise false alarms.
        let family = before
            .iter()
            .filter(|(term, &b)| b + now(term) >= config.min_count)
            .count()
            + current
                .terms
                .iter()
                .filter(|(term, &n)| n >= config.min_count && !before.contains_key(term.as_str()))
                .count();
        let bound = config.alpha / family.max(1) as f64;
        let (n1, n0) = (current.documents as f64, baseline_documents as f64);
        let mut surges: Vec<Surge> = current
            .terms
            .iter()
            .filter(|(_, &count)| count >= config.min_count)
            .filter_map(|(term, &count)| {
                let before = before.get(term.as_str()).copied().unwrap_or(0);
                let share_now = count as f64 / n1;
                let ratio = share_now / ((before as f64 + 0.5) / n0);
                if share_now <= before as f64 / n0 || ratio < config.min_ratio {
                    return None;
                }
                let llr =
                    log_likelihood_ratio(count, current.documents, before, baseline_documents);
                let p_value = binomial_tail(count, count + before, n1 / (n1 + n0));
                (p_value <= bound).then(|| Surge {
                    term: term.clone(),
                    week,
                    count,
                    documents: current.documents,
                    baseline_count: before,
                    baseline_documents,
                    ratio,
                    llr,
                    p_value,
                })
            })
            .collect();
        surges.sort_by(|a, b| b.llr.total_cmp(&a.llr).then_with(|| a.term.cmp(&b.term)));
        surges.truncate(config.max_results);
        surges
    }
}

/// G² of the table [[k1, n1 − k1], [k0, n0 − k0]].
fn log_likelihood_ratio(k1: u64, n1: u64, k0: u64, n0: u64) -> f64 {
    fn xlx(x: f64) -> f64 {
        if x > 0.0 {
            x * x.ln()
        } else {
            0.0
        }
    }
    let (a, b, c, d) = (
        k1 as f64,
        (n1 - k1.min(n1)) as f64,
        k0 as f64,
        (n0 - k0.min(n0)) as f64,
    );
    let g = xlx(a) + xlx(b) + xlx(c) + xlx(d) - xlx(a + b) - xlx(c + d) - xlx(a + c) - xlx(b + d)
        + xlx(a + b + c + d);
    (2.0 * g).max(0.0)
}

/// P(X ≥ k) for X ~ Binomial(n, p), summed from k upwards in logarithms; the terms fall
/// fast past the mean, so the sum stops when they no longer count.
fn binomial_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (ln_p, ln_q) = (p.ln(), (1.0 - p).ln());
    let nf = n as f64;
    let kf = k as f64;
    let mut log_term = ln_gamma(nf + 1.0) - ln_gamma(kf + 1.0) - ln_gamma(nf - kf + 1.0)
        + kf * ln_p
        + (nf - kf) * ln_q;
    let mut sum = 0.0;
    let mut x = k;
    loop {
        let term = log_term.exp();
        sum += term;
        if x == n || (x as f64 > nf * p && term < sum * 1e-15) {
            break;
        }
        // term(x + 1) / term(x) = (n − x) / (x + 1) · p / q.
        log_term += ((nf - x as f64) / (x as f64 + 1.0)).ln() + ln_p - ln_q;
        x += 1;
    }
    sum.min(1.0)
}

/// ln Γ(x) for x > 0, by Lanczos' approximation (g = 7, nine terms; about 15 digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Rng;

    const WEEK_MS: i64 = 7 * 86_400_000;
    /// Monday 5 January 2026.
    const START: i64 = 1_767_571_200_000;

    #[test]
    fn binomial_tail_matches_known_values() {
        // P(X ≥ 3), X ~ Bin(5, 0.5) = 16/32; P(X ≥ 10), X ~ Bin(10, 0.3) = 0.3¹⁰.
        assert!((binomial_tail(3, 5, 0.5) - 0.5).abs() < 1e-12);
        assert!((binomial_tail(10, 10, 0.3) / 0.3f64.powi(10) - 1.0).abs() < 1e-9);
        assert_eq!(binomial_tail(0, 10, 0.3), 1.0);
        assert_eq!(binomial_tail(11, 10, 0.3), 0.0);
        // Far in the tail of a large n: P(X ≥ 60), X ~ Bin(1000, 0.03), about 1.5e-6.
        let tail = binomial_tail(60, 1000, 0.03);
        assert!(tail > 1e-7 && tail < 1e-5, "{tail}");
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-10);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-10);
    }

    #[test]
    fn log_likelihood_ratio_is_zero_without_change() {
        assert!(log_likelihood_ratio(10, 100, 80, 800) < 1e-9);
        assert!(log_likelihood_ratio(30, 100, 80, 800) > 20.0);
    }

    #[test]
    fn terms_are_words_and_pairs_without_slots() {
        // Terms are in the lexical view, where repeated letters are collapsed.
        assert_eq!(
            terms_of("Boza FREE, call +44 7911 123456 now"),
            ["boza", "fre", "cal", "now", "boza fre", "fre cal"]
        );
    }

    /// A stream of documents drawing words from a Zipfian vocabulary at fixed rates, with
    /// `planted` terms added to a share of the documents of the last week.
    fn stream(
        rng: &mut Rng,
        weeks: i64,
        per_week: usize,
        planted: &[(&str, f64)],
    ) -> EmergingTerms {
        let vocabulary: Vec<String> = (0..2_000).map(|i| format!("w{i}")).collect();
        let mut terms = EmergingTerms::new();
        for week in 0..weeks {
            for _ in 0..per_week {
                let mut doc: Vec<&str> = (0..12)
                    .map(|_| {
                        // Zipf's law: log-uniform ranks, so a word's frequency goes as 1/rank.
                        let rank = (rng.unit() * (vocabulary.len() as f64).ln()).exp() as usize;
                        vocabulary[rank.clamp(1, vocabulary.len()) - 1].as_str()
                    })
                    .collect();
                if week == weeks - 1 {
                    for &(term, share) in planted {
                        if rng.chance(share) {
                            doc.push(term);
                        }
                    }
                }
                terms.add(
                    START + week * WEEK_MS + rng.below(WEEK_MS as usize) as i64,
                    &doc,
                );
            }
        }
        terms
    }

    #[test]
    fn finds_planted_surges() {
        let mut rng = Rng::new(3);
        let planted = [("boza", 0.02), ("game tonight", 0.01), ("7arga", 0.005)];
        let terms = stream(&mut rng, 9, 3_000, &planted);
        let week = Week::of(START + 8 * WEEK_MS);
        let surges = terms.surges(week, &SurgeConfig::default());
        let found: Vec<&str> = surges.iter().map(|s| s.term.as_str()).collect();
        for (term, _) in planted {
            assert!(found.contains(&term), "{term} not in {found:?}");
        }
        assert_eq!(found.len(), planted.len(), "false alarms: {found:?}");
        assert!(surges.iter().all(|s| s.p_value < 0.01 && s.ratio >= 2.0));
    }

    #[test]
    fn a_stationary_stream_raises_few_false_alarms() {
        // Twenty tested weeks of a stream whose rates never change: with a family-wise
        // alpha of 0.01 a week, more than one alarm in all would mean the test is miscalibrated.
        let mut rng = Rng::new(11);
        let terms = stream(&mut rng, 28, 2_000, &[]);
        let config = SurgeConfig::default();
        let weeks = (8..28).map(|w| Week::of(START + w * WEEK_MS));
        let alarms: usize = weeks.clone().map(|w| terms.surges(w, &config).len()).sum();
        let tested: usize = weeks
            .map(|w| {
                terms.weeks[&w]
                    .terms
                    .values()
                    .filter(|&&n| n >= config.min_count)
                    .count()
            })
            .sum();
        eprintln!("{alarms} false alarms in 20 weeks, {tested} candidate term-weeks");
        assert!(alarms <= 1, "{alarms} false alarms in 20 weeks");
    }
}
