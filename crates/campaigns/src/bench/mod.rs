//! A synthetic benchmark: posts with planted campaigns and the truth about them.
//!
//! Campaigns are adverts in eight languages (and NGO warnings in three) built from clause
//! pools: each campaign fixes a brand, a route, one pattern per clause and one choice per word
//! set, and each of its posts then changes the phone number (from the campaign's few), price,
//! date, handle and emoji, sometimes swaps a word, drops a clause or adds a phrase, and is
//! obfuscated the ways the domain brief describes (leetspeak, spaced letters, homoglyphs,
//! invisible characters, repeated letters, shouting, Arabic-Indic digits). Everything else
//! is unrelated: ordinary posts whose many slots are filled at random, and news that quotes
//! an advert's clause. The same seed gives the same set on every machine.
//!
//! [`pairwise_scores`] measures a clustering against the truth by pairs of posts.

mod phrases;

use crate::hash::Rng;
use crate::link::{Link, LinkKind};
use phrases::{
    AdvertLanguage, ADVERTS, BRAND_WORDS, CONTACT_POOL, EMOJI, ORDINARY, SYLLABLES, WARNINGS,
    WEEKDAYS,
};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Posts in all. Default 100 000.
    pub items: usize,
    /// Default 42.
    pub seed: u64,
    /// Share of posts that belong to a campaign. Default 0.5.
    pub campaign_share: f64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            items: 100_000,
            seed: 42,
            campaign_share: 0.5,
        }
    }
}

/// One synthetic post.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchItem {
    pub id: String,
    pub text: String,
    /// The contacts the post carries, as an entity extractor would give them.
    pub links: Vec<Link>,
    pub account: String,
    /// Unix milliseconds; posts come in time order.
    pub seen_at: i64,
    pub language: &'static str,
    /// The planted campaign, or `None` for an unrelated post.
    pub campaign: Option<u32>,
}

/// A generated set.
#[derive(Debug, Clone)]
pub struct BenchSet {
    pub items: Vec<BenchItem>,
    pub campaigns: usize,
}

impl BenchSet {
    /// The planted campaign of each post.
    pub fn truth(&self) -> Vec<Option<u32>> {
        self.items.iter().map(|i| i.campaign).collect()
    }
}

/// Monday 5 January 2026, 00:00 UTC.
const START_MS: i64 = 1_767_571_200_000;
const DAY_MS: i64 = 86_400_000;
const SPAN_WEEKS: i64 = 12;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Advert(usize),
    Warning(usize),
}

/// Everything a campaign keeps fixed.
struct Plan {
    kind: Kind,
    /// One pattern per clause kept, with the campaign's choice for each word set.
    clauses: Vec<(Cow<'static, str>, Vec<usize>)>,
    brand: String,
    from: &'static str,
    to: &'static str,
    phones: Vec<(String, String)>,
    handles: Vec<String>,
    price: u32,
    accounts: Vec<String>,
    separator: &'static str,
    start: i64,
    span: i64,
}

/// Generates a benchmark set.
pub fn generate(config: &BenchConfig) -> BenchSet {
    let mut rng = Rng::new(config.seed);
    let target = (config.items as f64 * config.campaign_share.clamp(0.0, 1.0)) as usize;
    let max_size = (config.items / 100).clamp(50, 2000);
    let mut items = Vec::with_capacity(config.items);
    let mut planted = 0usize;
    let mut campaign = 0u32;
    // Contacts already given to a campaign: two networks never share one by accident.
    let mut taken = HashSet::new();
    while planted < target {
        let size = log_uniform(&mut rng, 2, max_size)
            .min(target - planted)
            .max(2);
        let plan = plan_campaign(&mut rng, size, &mut taken);
        for _ in 0..size {
            items.push(campaign_post(&mut rng, &plan, campaign));
        }
        planted += size;
        campaign += 1;
    }
    while items.len() < config.items {
        let item = if rng.chance(0.04) && campaign > 0 {
            quoting_news(&mut rng)
        } else {
            ordinary_post(&mut rng)
        };
        items.push(item);
    }
    items.truncate(config.items);
    items.sort_by_key(|i| i.seen_at);
    for (n, item) in items.iter_mut().enumerate() {
        item.id = format!("p{n:06}");
    }
    BenchSet {
        items,
        campaigns: campaign as usize,
    }
}

fn log_uniform(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    let (l, h) = ((lo as f64).ln(), (hi as f64 + 1.0).ln());
    ((l + rng.unit() * (h - l)).exp() as usize).clamp(lo, hi)
}

fn name(rng: &mut Rng, syllables: usize) -> String {
    (0..syllables).map(|_| *rng.pick(SYLLABLES)).collect()
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn plan_campaign(rng: &mut Rng, size: usize, taken: &mut HashSet<String>) -> Plan {
    let kind = if rng.chance(0.1) {
        Kind::Warning(rng.below(WARNINGS.len()))
    } else {
        // English, French and Arabic are the most common; the rest share the remainder.
        let weights = [25, 15, 10, 15, 10, 10, 8, 7];
        let mut x = rng.below(weights.iter().sum());
        let mut lang = 0;
        while x >= weights[lang] {
            x -= weights[lang];
            lang += 1;
        }
        Kind::Advert(lang)
    };
    let (pools, country): (Vec<&'static [&'static str]>, &str) = match kind {
        Kind::Advert(l) => (ADVERTS[l].pools.to_vec(), ADVERTS[l].country_code),
        Kind::Warning(l) => (WARNINGS[l].pools.to_vec(), WARNINGS[l].country_code),
    };
    let mut clauses = Vec::new();
    for (p, pool) in pools.iter().enumerate() {
        let keep = match kind {
            Kind::Advert(_) => p == CONTACT_POOL || rng.chance(0.85),
            Kind::Warning(_) => true,
        };
        if keep {
            let pattern = *rng.pick(pool);
            let choices = word_sets(pattern)
                .iter()
                .map(|set| rng.below(set.len()))
                .collect();
            clauses.push((Cow::Borrowed(pattern), choices));
        }
    }
    // The campaign's slogan after the opening: each network, and each NGO, has its own.
    let code = match kind {
        Kind::Advert(l) => ADVERTS[l].code,
        Kind::Warning(l) => WARNINGS[l].code,
    };
    if let Some(language) = ADVERTS.iter().find(|a| a.code == code) {
        let words: Vec<&str> = (0..3).map(|_| *rng.pick(language.slogan)).collect();
        let joiner = if code == "zh" { "" } else { " " };
        clauses.insert(
            1.min(clauses.len()),
            (Cow::Owned(words.join(joiner)), Vec::new()),
        );
    }
    // The route and schedule are said in either order.
    if matches!(kind, Kind::Advert(_)) && clauses.len() > 3 && rng.chance(0.3) {
        clauses.swap(1, 2);
    }
    let brand = format!("{} {}", capitalised(&name(rng, 2)), rng.pick(BRAND_WORDS))
        .trim()
        .to_string();
    let (from, to) = match kind {
        Kind::Advert(l) => (*rng.pick(ADVERTS[l].from), *rng.pick(ADVERTS[l].to)),
        Kind::Warning(_) => ("", ""),
    };
    let phones = (0..rng.between(1, 3))
        .map(|_| loop {
            let national: String = std::iter::once(char::from(b'6' + rng.below(3) as u8))
                .chain((0..8).map(|_| char::from(b'0' + rng.below(10) as u8)))
                .collect();
            if taken.insert(national.clone()) {
                break (country.to_string(), national);
            }
        })
        .collect();
    let base = loop {
        let base = format!("{}_{}", name(rng, 2), name(rng, 2));
        if taken.insert(base.clone()) {
            break base;
        }
    };
    let handles = (0..rng.between(1, 3))
        .map(|i| match i {
            0 => base.clone(),
            1 => format!("{base}1"),
            _ => format!("{base}0{i}"),
        })
        .collect();
    let accounts = (0..rng.between(1, size.clamp(1, 20)))
        .map(|i| format!("{}{}", name(rng, 2), i))
        .collect();
    let separators = match kind {
        Kind::Advert(l) => ADVERTS[l].separators,
        Kind::Warning(l) => WARNINGS[l].separators,
    };
    let span = DAY_MS * rng.between(1, 42) as i64;
    Plan {
        kind,
        clauses,
        brand,
        from,
        to,
        phones,
        handles,
        price: 500 + 100 * rng.below(60) as u32,
        accounts,
        separator: separators[rng.below(separators.len())],
        start: START_MS
            + rng.below(((SPAN_WEEKS * 7 * DAY_MS - span) / DAY_MS) as usize) as i64 * DAY_MS,
        span,
    }
}

/// The `[a|b]` word sets of a pattern, in order.
fn word_sets(pattern: &str) -> Vec<Vec<&str>> {
    let mut sets = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        sets.push(rest[open + 1..open + close].split('|').collect());
        rest = &rest[open + close + 1..];
    }
    sets
}

/// Renders a pattern: `choose(rng, i, options)` picks word set `i`'s option, `slot(rng,
/// name)` fills a slot.
fn render(
    pattern: &str,
    rng: &mut Rng,
    mut choose: impl FnMut(&mut Rng, usize, &[&str]) -> usize,
    mut slot: impl FnMut(&mut Rng, &str) -> String,
) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    let mut set = 0;
    loop {
        let next = rest.find(['[', '{']);
        let Some(at) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        let closer = if rest.as_bytes()[at] == b'[' {
            ']'
        } else {
            '}'
        };
        let Some(len) = rest[at..].find(closer) else {
            out.push_str(&rest[at..]);
            return out;
        };
        let inner = &rest[at + 1..at + len];
        if closer == ']' {
            let options: Vec<&str> = inner.split('|').collect();
            let pick = choose(rng, set, &options).min(options.len() - 1);
            out.push_str(options[pick]);
            set += 1;
        } else {
            out.push_str(&slot(rng, inner));
        }
        rest = &rest[at + len + 1..];
    }
}

fn campaign_post(rng: &mut Rng, plan: &Plan, campaign: u32) -> BenchItem {
    let (code, separators, extras, advert): (
        &'static str,
        &[&str],
        &[&str],
        Option<&AdvertLanguage>,
    ) = match plan.kind {
        Kind::Advert(l) => (
            ADVERTS[l].code,
            ADVERTS[l].separators,
            ADVERTS[l].extras,
            Some(&ADVERTS[l]),
        ),
        Kind::Warning(l) => (WARNINGS[l].code, WARNINGS[l].separators, &[], None),
    };
    let mut links = Vec::new();
    // Posts sometimes drop one clause, but never what identifies the campaign: its brand,
    // slogan, route or contact.
    let droppable = plan.clauses.len() > 3 && rng.chance(0.15);
    let dropped = droppable.then(|| rng.below(plan.clauses.len()));
    let mut parts = Vec::new();
    for (c, (pattern, choices)) in plan.clauses.iter().enumerate() {
        let identity = matches!(pattern, Cow::Owned(_))
            || ["{brand}", "{from}", "{phone}", "{handle}", "{url}"]
                .iter()
                .any(|slot| pattern.contains(slot));
        if Some(c) == dropped && !identity {
            continue;
        }
        let part = render(
            pattern,
            rng,
            |rng, i, options| {
                if rng.chance(0.12) {
                    rng.below(options.len())
                } else {
                    choices[i]
                }
            },
            |rng, slot| fill_slot(rng, slot, plan, advert, code, &mut links),
        );
        parts.push(part);
    }
    if !extras.is_empty() && rng.chance(0.2) {
        let at = rng.below(parts.len() + 1);
        parts.insert(at, rng.pick(extras).to_string());
    }
    let separator = if rng.chance(0.7) {
        plan.separator
    } else {
        rng.pick(separators)
    };
    let text = obfuscate(rng, &parts.join(separator), code);
    links.sort();
    links.dedup();
    BenchItem {
        id: String::new(),
        text,
        links,
        account: rng.pick(&plan.accounts).clone(),
        seen_at: plan.start + (rng.unit() * plan.span as f64) as i64,
        language: code,
        campaign: Some(campaign),
    }
}

fn fill_slot(
    rng: &mut Rng,
    slot: &str,
    plan: &Plan,
    advert: Option<&AdvertLanguage>,
    code: &str,
    links: &mut Vec<Link>,
) -> String {
    match slot {
        "brand" => plan.brand.clone(),
        "from" => plan.from.to_string(),
        "to" => plan.to.to_string(),
        "n" => rng.between(2, 30).to_string(),
        "phone" => {
            let (cc, national) = rng.pick(&plan.phones);
            if let Ok(link) = Link::new(LinkKind::Phone, &format!("+{cc}{national}")) {
                links.push(link);
            }
            format_phone(rng, cc, national, code)
        }
        "handle" => {
            let handle = rng.pick(&plan.handles);
            let platform = if code == "zh" { "wechat" } else { "telegram" };
            if let Ok(link) = Link::new(LinkKind::Handle, &format!("{platform}:{handle}")) {
                links.push(link);
            }
            format!("@{handle}")
        }
        "url" => {
            let handle = rng.pick(&plan.handles);
            if let Ok(link) = Link::new(LinkKind::Url, &format!("https://t.me/{handle}")) {
                links.push(link);
            }
            if rng.chance(0.5) {
                format!("https://t.me/{handle}")
            } else {
                format!("t.me/{handle}")
            }
        }
        "price" => {
            // Within a third of the campaign's price, in round figures.
            let spread = (plan.price / 3).max(100);
            let amount = plan.price - spread / 2 + 50 * rng.below((spread / 50) as usize) as u32;
            let formatted = if amount >= 1000 && rng.chance(0.3) {
                format!("{},{:03}", amount / 1000, amount % 1000)
            } else {
                amount.to_string()
            };
            let currency = advert.map_or(&["{n}"][..], |a| a.currency);
            rng.pick(currency).replace("{n}", &formatted)
        }
        "date" => {
            if code == "en" && rng.chance(0.2) {
                rng.pick(WEEKDAYS).to_string()
            } else {
                let (d, m) = (rng.between(1, 28), rng.between(1, 12));
                match rng.below(3) {
                    0 => format!("{d:02}/{m:02}"),
                    1 => format!("{d}.{m}"),
                    _ => format!("{d}/{m}/2026"),
                }
            }
        }
        "emoji" => (0..rng.between(1, 3)).map(|_| *rng.pick(EMOJI)).collect(),
        _ => String::new(),
    }
}

fn format_phone(rng: &mut Rng, cc: &str, national: &str, code: &str) -> String {
    let (a, b) = national.split_at(3);
    let text = match rng.below(5) {
        0 => format!("+{cc} {a} {b}"),
        1 => format!("+{cc}{national}"),
        2 => format!("0{national}"),
        3 => format!("00{cc} {a} {} {}", &b[..3], &b[3..]),
        _ => format!("+{cc}-{a}-{}-{}", &b[..3], &b[3..]),
    };
    if matches!(code, "ar" | "ckb") && rng.chance(0.3) {
        // Arabic-Indic digits, as phones are often typed in the region.
        text.chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_u32(0x0660 + d).unwrap_or(c),
                None => c,
            })
            .collect()
    } else {
        text
    }
}

/// Applies the obfuscations seen in real adverts, each with its own probability.
fn obfuscate(rng: &mut Rng, text: &str, code: &str) -> String {
    let latin = matches!(code, "en" | "fr" | "es" | "sq" | "vi");
    let mut words: Vec<String> = text.split(' ').map(str::to_string).collect();
    if latin && rng.chance(0.15) {
        if let Some(i) = pick_word(rng, &words) {
            let mut changed = 0;
            words[i] = words[i]
                .chars()
                .map(|c| {
                    let leet = match c.to_ascii_lowercase() {
                        'a' => '4',
                        'e' => '3',
                        'o' => '0',
                        'i' => '1',
                        _ => c,
                    };
                    if leet != c && changed < 2 {
                        changed += 1;
                        leet
                    } else {
                        c
                    }
                })
                .collect();
        }
    }
    if latin && rng.chance(0.08) {
        if let Some(i) = pick_word(rng, &words) {
            let sep = if rng.chance(0.5) { " " } else { "." };
            words[i] = words[i]
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(sep);
        }
    }
    if latin && rng.chance(0.06) {
        if let Some(i) = pick_word(rng, &words) {
            words[i] = words[i]
                .chars()
                .map(|c| match c {
                    'a' => 'а',
                    'o' => 'о',
                    'e' => 'е',
                    'c' => 'с',
                    'p' => 'р',
                    _ => c,
                })
                .collect();
        }
    }
    if latin && rng.chance(0.06) {
        if let Some(i) = pick_word(rng, &words) {
            let w = &words[i];
            if let Some((at, c)) = w.char_indices().find(|(_, c)| "aeiou".contains(*c)) {
                words[i] = format!("{}{}{}", &w[..at], c.to_string().repeat(4), &w[at + 1..]);
            }
        }
    }
    if rng.chance(0.08) && !words.is_empty() {
        // An invisible character inside a word: a zero-width space, or a tatweel in Arabic.
        let i = rng.below(words.len());
        let w = &words[i];
        let chars: Vec<char> = w.chars().collect();
        if chars.len() >= 2 {
            let filler = if matches!(code, "ar" | "ckb") && rng.chance(0.5) {
                '\u{0640}'
            } else {
                '\u{200B}'
            };
            let at = rng.between(1, chars.len() - 1);
            words[i] = chars[..at]
                .iter()
                .chain(std::iter::once(&filler))
                .chain(&chars[at..])
                .collect();
        }
    }
    let mut text = words.join(" ");
    if latin && rng.chance(0.08) {
        text = text.to_uppercase();
    }
    if rng.chance(0.15) {
        let noise = ["!!!", "...", " !!", "!!!!"];
        text.push_str(noise[rng.below(noise.len())]);
    }
    text
}

/// A plain Latin word of 4 to 9 letters to obfuscate.
fn pick_word(rng: &mut Rng, words: &[String]) -> Option<usize> {
    let candidates: Vec<usize> = (0..words.len())
        .filter(|&i| {
            let w = &words[i];
            (4..=9).contains(&w.chars().count()) && w.chars().all(|c| c.is_ascii_alphabetic())
        })
        .collect();
    (!candidates.is_empty()).then(|| *rng.pick(&candidates))
}

fn ordinary_post(rng: &mut Rng) -> BenchItem {
    // English most, then French and Arabic.
    let lang = match rng.below(10) {
        0..=5 => 0,
        6 | 7 => 1,
        _ => 2,
    };
    let language = &ORDINARY[lang];
    let words: HashMap<&str, &[&str]> = language.words.iter().copied().collect();
    // Two sentences at least: one short pattern with a single slot changed would read as
    // a near-duplicate of another post, which real ordinary posts rarely are.
    let sentences = rng.between(2, 4);
    let mut links = Vec::new();
    let mut parts = Vec::with_capacity(sentences);
    for _ in 0..sentences {
        let pattern = *rng.pick(language.patterns);
        parts.push(render(
            pattern,
            rng,
            |rng, _, options| rng.below(options.len()),
            |rng, slot| match slot {
                "n" => rng.between(1, 99).to_string(),
                other => words
                    .get(other)
                    .map(|pool| rng.pick(pool).to_string())
                    .unwrap_or_default(),
            },
        ));
    }
    if rng.chance(0.1) {
        // Some ordinary posts carry a number of their own.
        let national: String = (0..9)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        if let Ok(link) = Link::new(LinkKind::Phone, &format!("+44{national}")) {
            links.push(link);
        }
        parts.push(format!("call +44 {national}"));
    }
    BenchItem {
        id: String::new(),
        text: parts.join(". "),
        links,
        account: format!("user{}", rng.next_u64() % 10_000_000),
        seen_at: START_MS + (rng.unit() * (SPAN_WEEKS * 7 * DAY_MS) as f64) as i64,
        language: language.code,
        campaign: None,
    }
}

/// News that quotes one clause of an advert pattern: close to adverts in words, but not a
/// post of any campaign.
fn quoting_news(rng: &mut Rng) -> BenchItem {
    let advert = &ADVERTS[0];
    let pool = rng.pick(&advert.pools[..CONTACT_POOL]);
    let pattern = *rng.pick(pool);
    let quote = render(
        pattern,
        rng,
        |rng, _, options| rng.below(options.len()),
        |rng, slot| match slot {
            "from" => rng.pick(advert.from).to_string(),
            "to" => rng.pick(advert.to).to_string(),
            "brand" => capitalised(&name(rng, 2)),
            "price" => format!("£{}", 1000 + 100 * rng.below(40)),
            "date" => format!("{}/{}", rng.between(1, 28), rng.between(1, 12)),
            "n" => rng.between(2, 30).to_string(),
            _ => String::new(),
        },
    );
    let mut item = ordinary_post(rng);
    let lead = rng.pick(&[
        "Police warn about posts offering",
        "Researchers found adverts promising",
        "Charities say smugglers advertise",
        "A report quotes a post:",
    ]);
    item.text = format!("{lead} \"{quote}\". {}", item.text);
    item.language = "en";
    item
}

/// Pairwise agreement of a clustering with the truth: a pair of posts is predicted when both
/// are in one cluster, and true when both are in one planted campaign (unrelated posts are
/// campaigns of one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub true_pairs: u64,
    pub predicted_pairs: u64,
    pub correct_pairs: u64,
}

/// Scores `predicted` cluster labels against `truth`, post by post.
pub fn pairwise_scores<P: Eq + Hash, T: Eq + Hash>(
    predicted: &[P],
    truth: &[Option<T>],
) -> PairScores {
    assert_eq!(predicted.len(), truth.len(), "one label per post");
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let mut by_predicted: HashMap<&P, u64> = HashMap::new();
    let mut by_truth: HashMap<&T, u64> = HashMap::new();
    let mut by_both: HashMap<(&P, &T), u64> = HashMap::new();
    for (p, t) in predicted.iter().zip(truth) {
        *by_predicted.entry(p).or_default() += 1;
        if let Some(t) = t {
            *by_truth.entry(t).or_default() += 1;
            *by_both.entry((p, t)).or_default() += 1;
        }
    }
    let predicted_pairs: u64 = by_predicted.values().map(|&n| pairs(n)).sum();
    let true_pairs: u64 = by_truth.values().map(|&n| pairs(n)).sum();
    let correct_pairs: u64 = by_both.values().map(|&n| pairs(n)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let precision = ratio(correct_pairs, predicted_pairs);
    let recall = ratio(correct_pairs, true_pairs);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    PairScores {
        precision,
        recall,
        f1,
        true_pairs,
        predicted_pairs,
        correct_pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_scores_count_pairs() {
        // Truth: {0,1,2} and {3,4}; 5 unrelated. Predicted: {0,1}, {2,3,4}, {5}.
        let truth = [Some(1), Some(1), Some(1), Some(2), Some(2), None];
        let predicted = ["a", "a", "b", "b", "b", "c"];
        let s = pairwise_scores(&predicted, &truth);
        assert_eq!(
            (s.true_pairs, s.predicted_pairs, s.correct_pairs),
            (4, 4, 2)
        );
        assert!((s.f1 - 0.5).abs() < 1e-12);
        let perfect = pairwise_scores(&[1, 1, 1, 2, 2, 3], &truth);
        assert_eq!(perfect.f1, 1.0);
    }

    #[test]
    fn generates_the_same_set_from_the_same_seed() {
        let config = BenchConfig {
            items: 5_000,
            ..BenchConfig::default()
        };
        let a = generate(&config);
        let b = generate(&config);
        assert_eq!(a.items, b.items);
        assert_eq!(a.items.len(), 5_000);
        let planted = a.items.iter().filter(|i| i.campaign.is_some()).count();
        assert_eq!(planted, 2_500);
        assert!(a.items.windows(2).all(|w| w[0].seen_at <= w[1].seen_at));
        let languages: std::collections::BTreeSet<_> = a.items.iter().map(|i| i.language).collect();
        assert!(languages.len() >= 8, "{languages:?}");
        // Every campaign post can be reached: it carries a contact.
        assert!(a
            .items
            .iter()
            .filter(|i| i.campaign.is_some())
            .all(|i| !i.links.is_empty()));
    }

    #[test]
    fn renders_patterns() {
        let text = render(
            "[boat|dinghy] to {to} {n}",
            &mut Rng::new(1),
            |_, _, _| 1,
            |_, slot| slot.to_uppercase(),
        );
        assert_eq!(text, "dinghy to TO N");
        assert_eq!(
            word_sets("a [b|c] d [e|f|g]"),
            vec![vec!["b", "c"], vec!["e", "f", "g"]]
        );
    }
}
