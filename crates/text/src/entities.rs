//! Entities: phone numbers, messaging handles and links, URLs, e-mails, prices, places,
//! routes and crypto wallets, each with its span in the original text.
//!
//! Adverts lead to private messaging, so contact details are the most telling part of an
//! advert and the signals partners share. Scanners are hand-written over the normalised
//! views: they run on every item, and a few passes over a short text are cheaper than a
//! regular-expression engine.

use crate::gazetteer::Gazetteer;
use crate::normalize::{Folded, View};
use crate::script::CharClass;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use breakwater_core::{Entity, EntityKind, Span};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Character offsets of an original text, to cut it by code-point spans.
#[derive(Debug)]
pub struct Original<'a> {
    text: &'a str,
    /// Byte offset of every character, plus the text length at the end.
    starts: Vec<usize>,
}

impl<'a> Original<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        starts.push(text.len());
        Original { text, starts }
    }

    /// The original text between two code-point offsets.
    pub fn slice(&self, start: usize, end: usize) -> &'a str {
        let n = self.starts.len() - 1;
        let (s, e) = (start.min(n), end.min(n));
        &self.text[self.starts[s]..self.starts[e.max(s)]]
    }

    pub fn text(&self) -> &'a str {
        self.text
    }
}

/// Messaging platforms, by the spellings people use for them.
const PLATFORM_SPELLINGS: &[(&str, &str)] = &[
    ("whatsapp", "whatsapp"),
    ("whatsap", "whatsapp"),
    ("watsapp", "whatsapp"),
    ("watsap", "whatsapp"),
    ("wathsapp", "whatsapp"),
    ("whats app", "whatsapp"),
    ("wsp", "whatsapp"),
    ("wa", "whatsapp"),
    ("واتساب", "whatsapp"),
    ("واتس اب", "whatsapp"),
    ("واتس", "whatsapp"),
    ("وتساب", "whatsapp"),
    ("telegram", "telegram"),
    ("telegramm", "telegram"),
    ("telegarm", "telegram"),
    ("tg", "telegram"),
    ("tele", "telegram"),
    ("تلغرام", "telegram"),
    ("تليغرام", "telegram"),
    ("تلجرام", "telegram"),
    ("تيليجرام", "telegram"),
    ("تلگرام", "telegram"),
    ("電報", "telegram"),
    ("电报", "telegram"),
    ("飞机", "telegram"),
    ("signal", "signal"),
    ("viber", "viber"),
    ("فايبر", "viber"),
    ("وايبر", "viber"),
    ("zalo", "zalo"),
    ("wechat", "wechat"),
    ("weixin", "wechat"),
    ("微信", "wechat"),
    ("薇信", "wechat"),
    ("v信", "wechat"),
    ("vx", "wechat"),
    ("imo", "imo"),
    ("ايمو", "imo"),
    ("snapchat", "snapchat"),
    ("snap", "snapchat"),
    ("instagram", "instagram"),
    ("insta", "instagram"),
    ("ig", "instagram"),
    ("tiktok", "tiktok"),
    ("messenger", "messenger"),
    ("facebook", "facebook"),
];

/// Number words that spell out phone digits, per language, after folding.
const NUMBER_WORDS: &[(&str, u8)] = &[
    ("zero", 0),
    ("oh", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("deux", 2),
    ("trois", 3),
    ("quatre", 4),
    ("cinq", 5),
    ("sept", 7),
    ("huit", 8),
    ("neuf", 9),
    ("cero", 0),
    ("uno", 1),
    ("dos", 2),
    ("tres", 3),
    ("cuatro", 4),
    ("cinco", 5),
    ("seis", 6),
    ("siete", 7),
    ("ocho", 8),
    ("nueve", 9),
    ("due", 2),
    ("tre", 3),
    ("quattro", 4),
    ("cinque", 5),
    ("sei", 6),
    ("sette", 7),
    ("otto", 8),
    ("nove", 9),
    ("null", 0),
    ("eins", 1),
    ("zwei", 2),
    ("drei", 3),
    ("vier", 4),
    ("funf", 5),
    ("sechs", 6),
    ("sieben", 7),
    ("acht", 8),
    ("neun", 9),
    ("nje", 1),
    ("dy", 2),
    ("kater", 4),
    ("pese", 5),
    ("gjashte", 6),
    ("shtate", 7),
    ("tete", 8),
    ("nente", 9),
    ("sifir", 0),
    ("bir", 1),
    ("iki", 2),
    ("uc", 3),
    ("dort", 4),
    ("bes", 5),
    ("alti", 6),
    ("yedi", 7),
    ("sekiz", 8),
    ("dokuz", 9),
];

/// Regions to try for a number written without its country code, by text language.
fn regions_for(language: &str) -> &'static [&'static str] {
    match language {
        "en" => &["GB", "US", "IE"],
        "fr" => &["FR", "BE", "MA", "TN", "DZ"],
        "es" => &["ES", "MX", "CO", "GT", "HN"],
        "it" => &["IT"],
        "de" => &["DE", "AT"],
        "sv" => &["SE"],
        "sq" => &["AL", "XK", "GB"],
        "tr" => &["TR"],
        "el" => &["GR"],
        "vi" => &["VN", "GB"],
        "zh" => &["CN", "HK", "TW"],
        "ar" => &["TN", "LY", "MA", "DZ", "EG", "IQ", "SY", "SD"],
        "fa" => &["IR", "AF"],
        "ps" => &["AF", "PK"],
        "ur" => &["PK"],
        "ku" => &["IQ", "TR", "IR"],
        "ti" => &["ER", "ET"],
        "am" => &["ET"],
        _ => &["GB", "FR", "IT", "TR"],
    }
}

/// Currency words and symbols, after folding, with their ISO 4217 code and multiplier.
const CURRENCIES: &[(&str, &str)] = &[
    ("£", "GBP"),
    ("gbp", "GBP"),
    ("pound", "GBP"),
    ("pounds", "GBP"),
    ("quid", "GBP"),
    ("sterling", "GBP"),
    ("sterlina", "GBP"),
    ("sterline", "GBP"),
    ("sterlin", "GBP"),
    ("paund", "GBP"),
    ("paun", "GBP"),
    ("€", "EUR"),
    ("eur", "EUR"),
    ("euro", "EUR"),
    ("euros", "EUR"),
    ("evro", "EUR"),
    ("ευρω", "EUR"),
    ("يورو", "EUR"),
    ("اورو", "EUR"),
    ("欧元", "EUR"),
    ("$", "USD"),
    ("usd", "USD"),
    ("dollar", "USD"),
    ("dollars", "USD"),
    ("dolar", "USD"),
    ("dolares", "USD"),
    ("دولار", "USD"),
    ("دلار", "USD"),
    ("美元", "USD"),
    ("美金", "USD"),
    ("刀", "USD"),
    ("do", "USD"),
    ("usdt", "USDT"),
    ("tether", "USDT"),
    ("tnd", "TND"),
    ("dt", "TND"),
    ("dinar", "TND"),
    ("dinars", "TND"),
    ("دينار", "TND"),
    ("ملاين", "TND"),
    ("lyd", "LYD"),
    ("mad", "MAD"),
    ("dh", "MAD"),
    ("dhs", "MAD"),
    ("dirham", "MAD"),
    ("درهم", "MAD"),
    ("dzd", "DZD"),
    ("egp", "EGP"),
    ("جنيه", "EGP"),
    ("iqd", "IQD"),
    ("₺", "TRY"),
    ("try", "TRY"),
    ("tl", "TRY"),
    ("lira", "TRY"),
    ("ليره", "TRY"),
    ("irr", "IRR"),
    ("toman", "IRR"),
    ("tomen", "IRR"),
    ("تومان", "IRR"),
    ("ريال", "IRR"),
    ("rial", "IRR"),
    ("afn", "AFN"),
    ("afghani", "AFN"),
    ("افغاني", "AFN"),
    ("pkr", "PKR"),
    ("rupee", "PKR"),
    ("rupees", "PKR"),
    ("rs", "PKR"),
    ("روپے", "PKR"),
    ("روپي", "PKR"),
    ("₹", "INR"),
    ("₫", "VND"),
    ("vnd", "VND"),
    ("dong", "VND"),
    ("¥", "CNY"),
    ("cny", "CNY"),
    ("rmb", "CNY"),
    ("yuan", "CNY"),
    ("元", "CNY"),
    ("块", "CNY"),
    ("lek", "ALL"),
    ("leke", "ALL"),
    ("sek", "SEK"),
    ("kr", "SEK"),
    ("kronor", "SEK"),
    ("mxn", "MXN"),
    ("pesos", "MXN"),
    ("birr", "ETB"),
    ("ብር", "ETB"),
    ("nakfa", "ERN"),
    ("ናቕፋ", "ERN"),
];

const MULTIPLIERS: &[(&str, f64)] = &[
    ("k", 1e3),
    ("mil", 1e3),
    ("mille", 1e3),
    ("bin", 1e3),
    ("hezar", 1e3),
    ("هزار", 1e3),
    ("الف", 1e3),
    ("الاف", 1e3),
    ("mije", 1e3),
    ("nghin", 1e3),
    ("ngan", 1e3),
    ("千", 1e3),
    ("万", 1e4),
    ("萬", 1e4),
    ("million", 1e6),
    ("millions", 1e6),
    ("مليون", 1e6),
    ("milyon", 1e6),
    ("trieu", 1e6),
    ("tr", 1e6),
];

/// Finds entities in one text.
#[derive(Debug, Clone)]
pub struct EntityExtractor {
    gazetteer: Gazetteer,
    platforms: AhoCorasick,
}

/// A platform name found in the text, in original code points.
#[derive(Debug, Clone, Copy)]
struct PlatformMention {
    platform: &'static str,
    start: usize,
    end: usize,
}

impl EntityExtractor {
    pub fn new(gazetteer: Gazetteer) -> Self {
        let platforms = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(PLATFORM_SPELLINGS.iter().map(|(s, _)| *s))
            .expect("platform spellings form a valid automaton");
        EntityExtractor {
            gazetteer,
            platforms,
        }
    }

    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    /// All entities of a text, sorted by position. `language` is the primary subtag of
    /// the text's language, used to read national phone numbers.
    pub fn extract(&self, original: &Original<'_>, folded: &Folded, language: &str) -> Vec<Entity> {
        let plain = &folded.plain;
        let mentions = self.platform_mentions(plain);
        let mut entities = Vec::new();
        let links = links(original, plain, &mut entities);
        let prices = prices(original, plain);
        phones(
            original,
            plain,
            language,
            &mentions,
            &links,
            &prices,
            &mut entities,
        );
        handles(original, plain, &mentions, &mut entities);
        wallets(original, plain, &mut entities);
        entities.extend(prices);
        self.places_and_routes(original, folded, &mut entities);
        entities.sort_by_key(|e| (e.start, e.end));
        entities
    }

    fn platform_mentions(&self, plain: &View) -> Vec<PlatformMention> {
        let text = plain.as_str();
        self.platforms
            .find_iter(text)
            .filter(|m| {
                let bounded = text[..m.start()]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alnum_fast())
                    && text[m.end()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_alnum_fast() || c.is_ascii_digit());
                let cjk = text[m.start()..]
                    .chars()
                    .next()
                    .is_some_and(|c| !c.is_ascii());
                bounded || cjk
            })
            .map(|m| {
                let (start, end) = plain.original_span(m.start(), m.end());
                PlatformMention {
                    platform: PLATFORM_SPELLINGS[m.pattern().as_usize()].1,
                    start,
                    end,
                }
            })
            .collect()
    }

    fn places_and_routes(&self, original: &Original<'_>, folded: &Folded, out: &mut Vec<Entity>) {
        let lexical = &folded.lexical;
        let places = self.gazetteer.places();
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for hit in self.gazetteer.find(lexical.as_str()) {
            let (start, end) = lexical.original_span(hit.start, hit.end);
            let place = &places[hit.place];
            let mut e = Entity::new(
                EntityKind::Place,
                &place.name,
                original.slice(start, end),
                Span { start, end },
            );
            e.country = Some(place.country.clone());
            e.role = Some(place.role.clone());
            out.push(e);
            found.push((hit.place, start, end));
        }
        // Two places of different countries close together, the second a destination or a
        // landing place, read as a route: "Calais → Dover", "من صفاقس الى لمبدوزا".
        for pair in found.windows(2) {
            let (a, b) = (&places[pair[0].0], &places[pair[1].0]);
            let gap = pair[1].1.saturating_sub(pair[0].2);
            if a.country != b.country
                && gap <= 12
                && matches!(b.role.as_str(), "destination" | "landmark" | "transit")
            {
                let (start, end) = (pair[0].1, pair[1].2);
                let value = format!("{} → {}", a.name, b.name);
                let mut e = Entity::new(
                    EntityKind::Route,
                    value,
                    original.slice(start, end),
                    Span { start, end },
                );
                e.country = Some(b.country.clone());
                out.push(e);
            }
        }
        flag_routes(original, &folded.plain, out);
    }
}

/// Regional-indicator pairs are flags; a flag, an arrow and a flag is a route.
fn flag_routes(original: &Original<'_>, plain: &View, out: &mut Vec<Entity>) {
    let text = plain.as_str();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let flag_at = |i: usize| -> Option<String> {
        let a = chars.get(i)?.1;
        let b = chars.get(i + 1)?.1;
        let ri = |c: char| ('\u{1F1E6}'..='\u{1F1FF}').contains(&c);
        (ri(a) && ri(b)).then(|| {
            [a, b]
                .iter()
                .map(|c| char::from(b'A' + (*c as u32 - 0x1F1E6) as u8))
                .collect()
        })
    };
    let is_arrow = |c: char| {
        matches!(
            c,
            '➡' | '→'
                | '⇒'
                | '⟶'
                | '➔'
                | '➜'
                | '➝'
                | '➞'
                | '➤'
                | '👉'
                | '⬅'
                | '>'
                | '-'
                | '✈'
        )
    };
    let mut i = 0;
    while i < chars.len() {
        let Some(from) = flag_at(i) else {
            i += 1;
            continue;
        };
        let mut j = i + 2;
        let mut arrows = 0;
        while j < chars.len() && (chars[j].1 == ' ' || is_arrow(chars[j].1)) {
            arrows += usize::from(chars[j].1 != ' ');
            j += 1;
        }
        match flag_at(j) {
            Some(to) if arrows > 0 && to != from => {
                let byte_end = chars.get(j + 2).map_or(text.len(), |c| c.0);
                let (start, end) = plain.original_span(chars[i].0, byte_end);
                let mut e = Entity::new(
                    EntityKind::Route,
                    format!("{from} → {to}"),
                    original.slice(start, end),
                    Span { start, end },
                );
                e.country = Some(to);
                out.push(e);
                i = j;
            }
            _ => i += 2,
        }
    }
}

/// A token of the plain view: a run of alphanumerics or one other character.
#[derive(Debug, Clone, Copy)]
struct Token<'t> {
    text: &'t str,
    start: usize,
    end: usize,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let mut end = i + c.len_utf8();
        if c.is_alnum_fast() {
            while let Some(&(j, d)) = iter.peek() {
                if !d.is_alnum_fast() {
                    break;
                }
                end = j + d.len_utf8();
                iter.next();
            }
        }
        out.push(Token {
            text: &text[i..end],
            start: i,
            end,
        });
    }
    out
}

/// Builds a lookup table from a word list once; the scanners consult these per token.
fn table<V: Copy + Send + Sync + 'static>(
    cell: &'static OnceLock<HashMap<&'static str, V>>,
    entries: &'static [(&'static str, V)],
) -> &'static HashMap<&'static str, V> {
    cell.get_or_init(|| {
        let mut map = HashMap::with_capacity(entries.len());
        for (k, v) in entries {
            map.entry(*k).or_insert(*v);
        }
        map
    })
}

fn number_word(word: &str) -> Option<u8> {
    static TABLE: OnceLock<HashMap<&'static str, u8>> = OnceLock::new();
    if word.len() < 2 || word.len() > 7 {
        return None;
    }
    table(&TABLE, NUMBER_WORDS).get(word).copied()
}

fn phones(
    original: &Original<'_>,
    plain: &View,
    language: &str,
    mentions: &[PlatformMention],
    links: &[(usize, usize)],
    prices: &[Entity],
    out: &mut Vec<Entity>,
) {
    let text = plain.as_str();
    let toks = tokens(text);
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let starts_number = t.text == "+"
            || t.text == "plus"
            || t.text.bytes().all(|b| b.is_ascii_digit())
            || number_word(t.text).is_some();
        if !starts_number
            || (i > 0
                && toks[i - 1].text.chars().all(CharClass::is_alnum_fast)
                && !toks[i - 1].text.is_empty()
                && toks[i - 1].end == t.start)
        {
            i += 1;
            continue;
        }
        let mut digits = String::new();
        let mut plus = false;
        let mut words = 0;
        let mut repeat = 1;
        let mut last_digit_token = i;
        let mut separators = 0;
        let mut j = i;
        while j < toks.len() {
            let s = toks[j].text;
            if (s == "+" || s == "plus") && digits.is_empty() {
                plus = true;
            } else if s.bytes().all(|b| b.is_ascii_digit()) {
                for _ in 0..repeat {
                    digits.push_str(s);
                }
                repeat = 1;
                last_digit_token = j;
                separators = 0;
            } else if let Some(d) = number_word(s) {
                for _ in 0..repeat {
                    digits.push(char::from(b'0' + d));
                }
                repeat = 1;
                words += 1;
                last_digit_token = j;
                separators = 0;
            } else if s == "double" || s == "triple" {
                repeat = if s == "double" { 2 } else { 3 };
                words += 1;
            } else if matches!(s, " " | "-" | "." | "(" | ")" | "/" | "\u{a0}") && separators < 2 {
                separators += 1;
            } else {
                break;
            }
            j += 1;
        }
        let end_token = last_digit_token;
        i = end_token.max(i) + 1;
        // Spelled-out digits only count in a run of them, not a lone "one" or "un".
        if words > 0 && words < 4 {
            continue;
        }
        let (byte_start, byte_end) = (t.start, toks[end_token].end);
        let international = plus || digits.starts_with("00");
        let bare = digits.trim_start_matches("00");
        let n = if international {
            bare.len()
        } else {
            digits.len()
        };
        if !(8..=15).contains(&n) {
            continue;
        }
        let (start, end) = plain.original_span(byte_start, byte_end);
        // "10/10/2026" is a date, not a Tunisian number.
        if !international && breakwater_core::reads_as_date(&plain.as_str()[byte_start..byte_end]) {
            continue;
        }
        if prices.iter().any(|p| p.start < end && start < p.end)
            || links.iter().any(|&(s, e)| s < end && start < e)
        {
            continue;
        }
        let Some((e164, country)) = read_phone(&digits, international, language) else {
            continue;
        };
        let mut e = Entity::new(
            EntityKind::Phone,
            e164,
            original.slice(start, end),
            Span { start, end },
        );
        e.country = country;
        e.platform = nearest_platform(mentions, start, end);
        out.push(e);
    }
}

/// Reads a digit string as a phone number: E.164 and country, when it is one.
fn read_phone(
    digits: &str,
    international: bool,
    language: &str,
) -> Option<(String, Option<String>)> {
    crate::phone::read(digits, international, regions_for(language))
}

fn nearest_platform(mentions: &[PlatformMention], start: usize, end: usize) -> Option<String> {
    mentions
        .iter()
        .filter(|m| {
            (m.end <= start && start - m.end <= 30) || (m.start >= end && m.start - end <= 3)
        })
        .min_by_key(|m| {
            if m.end <= start {
                start - m.end
            } else {
                m.start - end
            }
        })
        .map(|m| m.platform.to_string())
}

const TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "me", "co", "uk", "fr", "de", "it", "es", "al", "tr",
    "gr", "vn", "cn", "ly", "tn", "ma", "dz", "eg", "iq", "ir", "af", "pk", "ru", "ua", "eu", "us",
    "ca", "au", "in", "nl", "be", "se", "ch", "at", "pt", "pl", "ro", "xyz", "top", "site",
    "online", "app", "link", "to", "gg", "cc", "tv", "ws", "store", "shop", "travel", "agency",
    "am", "mx", "gt", "hn", "sv", "et", "er", "sd", "sy", "lb", "jo", "sa", "ae", "qa", "kw", "tk",
    "ml", "ga", "cf", "gq", "ly",
];

/// URLs and messaging links; returns their original spans so phone scanning skips them.
fn links(original: &Original<'_>, plain: &View, out: &mut Vec<Entity>) -> Vec<(usize, usize)> {
    let text = plain.as_str();
    let mut spans = Vec::new();
    let mut offset = 0;
    for raw in text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '«' | '»'))
    {
        let token_start = offset;
        offset += raw.len() + 1;
        let lead = raw.len() - raw.trim_start_matches(['(', '[', '{', '\'', '*']).len();
        let token =
            raw[lead..].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}', '\'', '*']);
        if token.len() < 4 || !token.contains('.') || token.contains('@') && !token.contains('/') {
            continue;
        }
        let rest = token
            .strip_prefix("https://")
            .or_else(|| token.strip_prefix("http://"));
        let has_scheme = rest.is_some();
        let rest = rest.unwrap_or(token);
        let host_end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
        let host = rest[..host_end].trim_start_matches("www.");
        let valid_host = host.contains('.')
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            && host.rsplit('.').next().is_some_and(|tld| {
                TLDS.contains(&tld) || (has_scheme && tld.chars().all(|c| c.is_ascii_alphabetic()))
            });
        if !valid_host {
            continue;
        }
        let path = &rest[host_end..];
        let byte_start = token_start + lead;
        let (start, end) = plain.original_span(byte_start, byte_start + token.len());
        let shown = original.slice(start, end);
        let url = if has_scheme {
            shown.to_string()
        } else {
            format!("https://{shown}")
        };
        spans.push((start, end));
        out.push(Entity::new(
            EntityKind::Url,
            url,
            shown,
            Span { start, end },
        ));
        if let Some((platform, name)) = messaging_link(host, path) {
            let mut e = Entity::new(
                EntityKind::Handle,
                format!("{platform}:{name}"),
                shown,
                Span { start, end },
            );
            e.platform = Some(platform.to_string());
            out.push(e);
        }
    }
    spans
}

/// The platform and account behind a messaging or social link.
fn messaging_link(host: &str, path: &str) -> Option<(&'static str, String)> {
    let segments: Vec<&str> = path
        .split(['/', '?', '#', '&', '='])
        .filter(|s| !s.is_empty())
        .collect();
    let first = segments.first().copied().unwrap_or("");
    let clean = |s: &str| s.trim_start_matches(['@', '+']).to_string();
    let platform = match host {
        "wa.me" | "whatsapp.com" | "api.whatsapp.com" | "chat.whatsapp.com" | "wa.link" => {
            "whatsapp"
        }
        "t.me" | "telegram.me" | "telegram.dog" => "telegram",
        "signal.me" | "signal.group" => "signal",
        "zalo.me" => "zalo",
        "viber.click" | "invite.viber.com" => "viber",
        "instagram.com" | "instagr.am" => "instagram",
        "tiktok.com" | "vm.tiktok.com" => "tiktok",
        "facebook.com" | "m.facebook.com" | "fb.com" | "fb.me" => "facebook",
        "snapchat.com" => "snapchat",
        "x.com" | "twitter.com" => "x",
        "u.wechat.com" | "weixin.qq.com" => "wechat",
        _ => return None,
    };
    let name = match (platform, segments.as_slice()) {
        ("whatsapp", ["send", "phone", number, ..]) => clean(number),
        ("telegram", ["joinchat", code, ..]) => format!("joinchat/{code}"),
        ("snapchat", ["add", name, ..]) => clean(name),
        (_, [_, ..]) => clean(first),
        _ => return None,
    };
    (!name.is_empty()).then_some((platform, name.to_lowercase()))
}

/// `@handles`, `platform: name` handles and e-mail addresses.
fn handles(
    original: &Original<'_>,
    plain: &View,
    mentions: &[PlatformMention],
    out: &mut Vec<Entity>,
) {
    let text = plain.as_str();
    let bytes = text.as_bytes();
    let handle_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'@' {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < bytes.len() && handle_char(bytes[end]) {
            end += 1;
        }
        while end > i + 1 && bytes[end - 1] == b'.' {
            end -= 1;
        }
        let name = &text[i + 1..end];
        let after_word = i > 0 && handle_char(bytes[i - 1]);
        if after_word {
            // local@domain.tld is an e-mail address.
            let mut s = i;
            while s > 0
                && (handle_char(bytes[s - 1]) || bytes[s - 1] == b'-' || bytes[s - 1] == b'+')
            {
                s -= 1;
            }
            if name.contains('.')
                && name.rsplit('.').next().is_some_and(|t| TLDS.contains(&t))
                && s < i
            {
                let (start, stop) = plain.original_span(s, end);
                let shown = original.slice(start, stop);
                out.push(Entity::new(
                    EntityKind::Email,
                    shown.to_lowercase(),
                    shown,
                    Span { start, end: stop },
                ));
            }
        } else if (2..=32).contains(&name.len()) && name.bytes().any(|b| b.is_ascii_alphabetic()) {
            let (start, stop) = plain.original_span(i, end);
            let platform = nearest_platform(mentions, start, stop);
            let value = match &platform {
                Some(p) => format!("{p}:{}", name.to_lowercase()),
                None => format!("@{}", name.to_lowercase()),
            };
            let mut e = Entity::new(
                EntityKind::Handle,
                value,
                original.slice(start, stop),
                Span { start, end: stop },
            );
            e.platform = platform;
            out.push(e);
        }
        i = end.max(i + 1);
    }
    // "telegram: boza_vip", "微信：zx1234": a name right after a platform and a colon.
    for m in mentions {
        let rest_start = original.starts_len_guard(m.end);
        let rest = &original.text()[rest_start..];
        let trimmed = rest.trim_start_matches([' ', ':', '：', '-', '=']);
        let had_colon = rest[..rest.len() - trimmed.len()].contains([':', '：']);
        let name: String = trimmed
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let name = name.trim_end_matches('.');
        let plausible = name.len() >= 3
            && name.len() <= 32
            && name.bytes().any(|b| b.is_ascii_alphabetic())
            && (had_colon || name.contains('_') || name.bytes().any(|b| b.is_ascii_digit()));
        if plausible {
            let skipped = rest.len() - trimmed.len();
            let start = m.end + rest[..skipped].chars().count();
            let end = start + name.chars().count();
            let mut e = Entity::new(
                EntityKind::Handle,
                format!("{}:{}", m.platform, name.to_lowercase()),
                name,
                Span { start, end },
            );
            e.platform = Some(m.platform.to_string());
            if !out.iter().any(|o| o.start <= start && end <= o.end) {
                out.push(e);
            }
        }
    }
}

impl Original<'_> {
    /// Byte offset of a code-point offset, clamped to the text.
    fn starts_len_guard(&self, char_offset: usize) -> usize {
        self.starts[char_offset.min(self.starts.len() - 1)]
    }
}

fn currency_of(word: &str) -> Option<&'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    table(&TABLE, CURRENCIES).get(word).copied()
}

fn multiplier_of(word: &str) -> Option<f64> {
    static TABLE: OnceLock<HashMap<&'static str, f64>> = OnceLock::new();
    table(&TABLE, MULTIPLIERS).get(word).copied()
}

/// Prices: a number with a currency before or after it, and an optional multiplier
/// (`3k£`, `£3,500`, `2 000 euros`, `5 مليون`, `3万元`, `15 triệu`).
fn prices(original: &Original<'_>, plain: &View) -> Vec<Entity> {
    let text = plain.as_str();
    let toks = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let first = toks[i];
        let first_digits: String = first
            .text
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if first_digits.is_empty() {
            i += 1;
            continue;
        }
        // The number: digit groups joined by thousands separators, then a decimal part.
        let mut number = first_digits.clone();
        let mut j = i;
        let mut suffix = &first.text[first_digits.len()..];
        while suffix.is_empty() && j + 2 < toks.len() {
            let sep = toks[j + 1].text;
            let next = toks[j + 2].text;
            let next_digits = next.chars().take_while(char::is_ascii_digit).count();
            let group =
                matches!(sep, "," | "." | " " | "'" | "\u{a0}" | "\u{202f}") && next_digits == 3;
            let decimal = matches!(sep, "." | ",")
                && (1..=2).contains(&next_digits)
                && next_digits == next.len();
            if group {
                number.push_str(&next[..3]);
                suffix = &next[3..];
            } else if decimal {
                number.push('.');
                number.push_str(next);
            } else {
                break;
            }
            j += 2;
            if decimal {
                break;
            }
        }
        let Ok(mut amount) = number.parse::<f64>() else {
            i = j + 1;
            continue;
        };
        let mut end_tok = j;
        let mut start_tok = i;
        let mut currency = None;
        // Suffixes glued to the number: "3k", "1500dt", "3万".
        let mut rest = suffix.to_string();
        if let Some(m) = multiplier_of(&rest) {
            amount *= m;
            rest.clear();
        } else if let Some((m, c)) = MULTIPLIERS
            .iter()
            .find_map(|(w, m)| rest.strip_prefix(w).and_then(currency_of).map(|c| (*m, c)))
        {
            // "3k£", "3万元": multiplier and currency glued together.
            amount *= m;
            currency = Some(c);
            rest.clear();
        }
        if currency.is_none() && !rest.is_empty() {
            currency = currency_of(&rest);
            if currency.is_none() {
                i = j + 1;
                continue;
            }
        }
        // Words after: optional multiplier, then a currency.
        let mut k = j + 1;
        let skip_space = |k: usize| {
            if toks.get(k).is_some_and(|t| t.text == " ") {
                k + 1
            } else {
                k
            }
        };
        if currency.is_none() {
            let at = skip_space(k);
            if let Some(m) = toks.get(at).and_then(|t| multiplier_of(t.text)) {
                amount *= m;
                end_tok = at;
                k = at + 1;
            }
            let at = skip_space(k);
            if let Some(c) = toks.get(at).and_then(|t| currency_of(t.text)) {
                currency = Some(c);
                end_tok = at;
            }
        }
        // A currency before: "£ 3,500", "USD 2000", "$5000".
        if currency.is_none() && i > 0 {
            let before = if toks[i - 1].text == " " && i >= 2 {
                i - 2
            } else {
                i - 1
            };
            if let Some(c) = currency_of(toks[before].text) {
                currency = Some(c);
                start_tok = before;
            }
        }
        if let Some(currency) = currency {
            let (start, end) = plain.original_span(toks[start_tok].start, toks[end_tok].end);
            let mut e = Entity::new(
                EntityKind::Price,
                format!("{} {currency}", format_amount(amount)),
                original.slice(start, end),
                Span { start, end },
            );
            e.amount = Some(amount);
            e.currency = Some(currency.to_string());
            out.push(e);
        }
        i = end_tok.max(j) + 1;
    }
    out
}

fn format_amount(amount: f64) -> String {
    if amount.fract() == 0.0 {
        format!("{amount:.0}")
    } else {
        format!("{amount:.2}")
    }
}

/// Bitcoin, Ethereum and Tron (USDT-TRC20) addresses, which pay smugglers and hawala brokers.
fn wallets(original: &Original<'_>, plain: &View, out: &mut Vec<Entity>) {
    let text = plain.as_str();
    let mut offset = 0;
    for token in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let start_byte = offset;
        offset += token.len() + 1;
        // The view is lower-cased, so only `0` is certainly outside the base58 alphabet.
        let base58 = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() && b != b'0');
        let mixed = token.bytes().any(|b| b.is_ascii_digit())
            && token.bytes().any(|b| b.is_ascii_alphabetic());
        let kind = if token.starts_with("bc1") && (14..=74).contains(&token.len()) && mixed {
            Some("bitcoin")
        } else if token.starts_with("0x")
            && token.len() == 42
            && token[2..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            Some("ethereum")
        } else if token.starts_with('t') && token.len() == 34 && base58(token) && mixed {
            Some("tron")
        } else if (token.starts_with('1') || token.starts_with('3'))
            && (26..=35).contains(&token.len())
            && base58(token)
            && mixed
        {
            Some("bitcoin")
        } else {
            None
        };
        if let Some(chain) = kind {
            let (start, end) = plain.original_span(start_byte, start_byte + token.len());
            let shown = original.slice(start, end);
            let mut e = Entity::new(
                EntityKind::CryptoWallet,
                format!("{chain}:{shown}"),
                shown,
                Span { start, end },
            );
            e.platform = Some(chain.to_string());
            out.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::fold;

    const GAZETTEER: &str = r#"
        [[places]]
        name = "Calais"
        country = "FR"
        role = "departure"
        [[places]]
        name = "Dover"
        country = "GB"
        role = "destination"
        [[places]]
        name = "Sfax"
        aliases = ["صفاقس"]
        country = "TN"
        role = "departure"
        [[places]]
        name = "Lampedusa"
        aliases = ["لمبدوزا"]
        country = "IT"
        role = "destination"
    "#;

    fn extract(text: &str, lang: &str) -> Vec<Entity> {
        let x = EntityExtractor::new(Gazetteer::from_toml(GAZETTEER).unwrap());
        x.extract(&Original::new(text), &fold(text), lang)
    }

    fn values(text: &str, lang: &str, kind: EntityKind) -> Vec<String> {
        extract(text, lang)
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.value)
            .collect()
    }

    #[test]
    fn phones_in_many_disguises() {
        assert_eq!(
            values("WhatsApp +44 7700 900123 now", "en", EntityKind::Phone),
            ["+447700900123"]
        );
        assert_eq!(
            values("call 07911 123456", "en", EntityKind::Phone),
            ["+447911123456"]
        );
        assert_eq!(
            values("tel ٠٠٢١٦ ٢٢ ٣٣٤ ٥٥٦", "ar", EntityKind::Phone),
            ["+21622334556"]
        );
        assert_eq!(
            values(
                "plus four four seven seven double zero nine zero zero one two three",
                "en",
                EntityKind::Phone
            ),
            ["+447700900123"]
        );
        assert!(values("born 2026-11-01, price 1500", "en", EntityKind::Phone).is_empty());
        assert!(values("leaving 10/10/2026 from Sfax", "ar", EntityKind::Phone).is_empty());
    }

    #[test]
    fn phone_takes_its_platform_and_span() {
        let text = "W h a t s A p p: +33 6 12 34 56 78";
        let e = extract(text, "fr")
            .into_iter()
            .find(|e| e.kind == EntityKind::Phone)
            .unwrap();
        assert_eq!(e.platform.as_deref(), Some("whatsapp"));
        assert_eq!(e.country.as_deref(), Some("FR"));
        let shown: String = text.chars().skip(e.start).take(e.end - e.start).collect();
        assert_eq!(shown, "+33 6 12 34 56 78");
    }

    #[test]
    fn links_and_handles() {
        let text =
            "join t.me/Boza_VIP or wa.me/447700900123, insta @safe.trip1 mail x.y@travel.com";
        assert_eq!(
            values(text, "en", EntityKind::Handle),
            [
                "telegram:boza_vip",
                "whatsapp:447700900123",
                "instagram:safe.trip1"
            ]
        );
        assert_eq!(
            values(text, "en", EntityKind::Url),
            ["https://t.me/Boza_VIP", "https://wa.me/447700900123"]
        );
        assert_eq!(values(text, "en", EntityKind::Email), ["x.y@travel.com"]);
        assert_eq!(
            values("Telegram: smuggle_boss", "en", EntityKind::Handle),
            ["telegram:smuggle_boss"]
        );
    }

    #[test]
    fn prices_with_currencies_and_multipliers() {
        assert_eq!(
            values("only £3,500 per person", "en", EntityKind::Price),
            ["3500 GBP"]
        );
        assert_eq!(
            values("prix 2 000 euros", "fr", EntityKind::Price),
            ["2000 EUR"]
        );
        assert_eq!(values("3k£ VIP", "en", EntityKind::Price), ["3000 GBP"]);
        assert_eq!(
            values("السعر 5 الاف دينار", "ar", EntityKind::Price),
            ["5000 TND"]
        );
        assert_eq!(values("3万元", "zh", EntityKind::Price), ["30000 CNY"]);
        assert_eq!(
            values("$1,200.50", "en", EntityKind::Price),
            ["1200.50 USD"]
        );
        assert!(values("we are 100 people", "en", EntityKind::Price).is_empty());
    }

    #[test]
    fn places_routes_and_wallets() {
        assert_eq!(
            values("Calais to Dover tonight", "en", EntityKind::Route),
            ["Calais → Dover"]
        );
        assert_eq!(
            values("من صفاقس الى لمبدوزا", "ar", EntityKind::Route),
            ["Sfax → Lampedusa"]
        );
        assert_eq!(
            values("🇹🇳➡️🇮🇹 every day", "ar", EntityKind::Route),
            ["TN → IT"]
        );
        assert_eq!(
            values(
                "USDT TRC20 TXyZ1aBcDeFgHjKmNpQrStUvWxYz234567",
                "en",
                EntityKind::CryptoWallet
            ),
            ["tron:TXyZ1aBcDeFgHjKmNpQrStUvWxYz234567"]
        );
    }
}
