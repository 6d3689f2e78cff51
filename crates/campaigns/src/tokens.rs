//! Tokens of a text for near-duplicate detection and templates.
//!
//! A campaign reuses one advert with a new phone number, price, date, handle or emoji each
//! time, and obfuscates it differently. Tokens are read from the normaliser's lexical view
//! (which already undoes leetspeak, split letters, homoglyphs and invisible characters), and
//! the volatile parts are masked: numbers, prices, phones and dates become one numeric slot,
//! handles, links and e-mail addresses one contact slot, and symbols and emoji an emoji slot
//! that shingles skip. Two posts of one template then read the same.
//!
//! Volatile parts are recognised in the plain view, where punctuation is still there (`@`,
//! `t.me/…`, `+44`, `£1,500`), and mapped onto lexical tokens through the original-text
//! spans that both views keep.

use crate::hash::{combine, fmix64, hash_bytes};
use breakwater_text::normalize::{fold, Folded, View};
use breakwater_text::script::CharClass;
use serde::{Deserialize, Serialize};

/// What a masked part of a text held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    Number,
    Price,
    Phone,
    Date,
    Handle,
    Url,
    Email,
    /// Emoji and other symbols.
    Emoji,
}

impl SlotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::Number => "number",
            SlotKind::Price => "price",
            SlotKind::Phone => "phone",
            SlotKind::Date => "date",
            SlotKind::Handle => "handle",
            SlotKind::Url => "url",
            SlotKind::Email => "email",
            SlotKind::Emoji => "emoji",
        }
    }

    /// Kinds that one template fills inconsistently (`£1500` here, `1500 GBP` there; a
    /// handle in one post, a link in the next) share one family, so that the shingles of
    /// two posts agree whatever the kind was taken for.
    pub(crate) fn family(self) -> SlotFamily {
        match self {
            SlotKind::Number | SlotKind::Price | SlotKind::Phone | SlotKind::Date => {
                SlotFamily::Numeric
            }
            SlotKind::Handle | SlotKind::Url | SlotKind::Email => SlotFamily::Contact,
            SlotKind::Emoji => SlotFamily::Emoji,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotFamily {
    Numeric,
    Contact,
    Emoji,
}

impl SlotFamily {
    fn hash(self) -> u64 {
        match self {
            SlotFamily::Numeric => 0x6E75_6D62_6572_0001,
            SlotFamily::Contact => 0x636F_6E74_6163_0002,
            SlotFamily::Emoji => 0x656D_6F6A_6900_0003,
        }
    }

    /// How the family appears in shingle text given to other implementations.
    pub(crate) fn placeholder(self) -> &'static str {
        match self {
            SlotFamily::Numeric => "{num}",
            SlotFamily::Contact => "{contact}",
            SlotFamily::Emoji => "{emoji}",
        }
    }
}

/// A word of the lexical view, or a masked slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Word,
    Slot(SlotKind),
}

/// One token, with where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Hash of the normalised word, or of the slot's family.
    pub hash: u64,
    /// Byte range of the token in the lexical view.
    pub lexical_start: u32,
    pub lexical_end: u32,
    /// Range of original code points the token covers.
    pub start: u32,
    pub end: u32,
}

impl Token {
    /// Whether shingles include this token: emoji vary too freely to carry a template.
    #[inline]
    pub(crate) fn in_shingles(&self) -> bool {
        self.kind != TokenKind::Slot(SlotKind::Emoji)
    }
}

/// A text's folded views and its tokens.
#[derive(Debug, Clone)]
pub struct Tokenized {
    pub folded: Folded,
    pub tokens: Vec<Token>,
}

impl Tokenized {
    /// The normalised text of a word token, or the placeholder of a slot.
    pub fn token_text(&self, token: &Token) -> &str {
        match token.kind {
            TokenKind::Word => &self.folded.lexical.as_str()
                [token.lexical_start as usize..token.lexical_end as usize],
            TokenKind::Slot(kind) => kind.family().placeholder(),
        }
    }
}

/// Tokenises a text.
pub fn tokenize(text: &str) -> Tokenized {
    let mut tokens = Vec::new();
    let folded = fold(text);
    tokens_of(&folded, &mut tokens, &mut Buffers::default());
    Tokenized { folded, tokens }
}

/// A volatile span of the original text found in the plain view.
#[derive(Debug, Clone, Copy)]
struct Volatile {
    start: u32,
    end: u32,
    kind: SlotKind,
}

/// Buffers reused from one text to the next.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    volatile: Vec<Volatile>,
    pieces: Vec<(usize, usize, Piece)>,
}

/// Fills `tokens` from a folded text.
pub(crate) fn tokens_of(folded: &Folded, tokens: &mut Vec<Token>, buffers: &mut Buffers) {
    tokens.clear();
    let volatile = &mut buffers.volatile;
    volatile.clear();
    volatile_spans(&folded.plain, &mut buffers.pieces, volatile);
    let lexical = &folded.lexical;
    let text = lexical.as_str();
    let mut v = 0usize;
    // The volatile span the previous token was masked by, to merge its pieces into one.
    let mut last_group: Option<usize> = None;
    let mut push = |start: usize, end: usize, is_word: bool| {
        let (os, oe) = lexical.original_span(start, end);
        let (os, oe) = (os as u32, oe as u32);
        while v < volatile.len() && volatile[v].end <= os {
            v += 1;
        }
        let word = &text[start..end];
        let (kind, group) = if v < volatile.len() && volatile[v].start < oe {
            (TokenKind::Slot(volatile[v].kind), Some(v))
        } else if !is_word {
            (TokenKind::Slot(SlotKind::Emoji), None)
        } else if word.bytes().any(|b| b.is_ascii_digit()) {
            (TokenKind::Slot(SlotKind::Number), None)
        } else {
            (TokenKind::Word, None)
        };
        if let (TokenKind::Slot(k), Some(prev)) = (kind, tokens.last_mut()) {
            let same_group = group.is_some() && group == last_group;
            let same_loose = group.is_none()
                && last_group.is_none()
                && prev.kind == TokenKind::Slot(k)
                && (k == SlotKind::Emoji || k == SlotKind::Number);
            if same_group || same_loose {
                prev.end = prev.end.max(oe);
                prev.lexical_end = end as u32;
                return;
            }
        }
        last_group = group;
        let hash = match kind {
            TokenKind::Word => hash_bytes(word.as_bytes()),
            TokenKind::Slot(k) => k.family().hash(),
        };
        tokens.push(Token {
            kind,
            hash,
            lexical_start: start as u32,
            lexical_end: end as u32,
            start: os,
            end: oe,
        });
    };
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_alnum_fast() && !is_ideograph(c) {
            word_start.get_or_insert(i);
            continue;
        }
        if let Some(s) = word_start.take() {
            push(s, i, true);
        }
        if c.is_whitespace() {
            continue;
        }
        // Scripts written without spaces: each character is a token, and shingles of
        // characters stand in for words.
        push(i, i + c.len_utf8(), c.is_alnum_fast());
    }
    if let Some(s) = word_start {
        push(s, text.len(), true);
    }
}

/// Han, kana, Thai, Lao, Khmer, Myanmar and Hangul syllables: scripts where a run of
/// letters is a phrase, not a word.
fn is_ideograph(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x3040..=0x30FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// What a whitespace-separated piece of the plain view looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Url,
    Handle,
    Email,
    /// Mostly digits; `date` when it reads as one, `currency` when it carries a symbol.
    Numeric {
        date: bool,
        currency: bool,
        plus: bool,
        digits: u32,
    },
    /// A currency symbol standing alone (`£ 1500`).
    Currency,
    /// A currency written as a word (`1500 gbp`): it makes the number beside it a price
    /// but stays a word of the template.
    CurrencyWord,
    Other,
}

const TLDS: &[&str] = &[
    "com", "net", "org", "info", "me", "io", "co", "uk", "fr", "de", "al", "vn", "ly", "tn", "tr",
    "ru", "ir", "iq", "gr", "it", "es", "be", "nl", "biz", "online", "site", "link", "app", "cn",
];

const CURRENCY_WORDS: &[&str] = &[
    "gbp", "eur", "euro", "euros", "usd", "dollar", "dollars", "dolar", "dolares", "pound",
    "pounds", "dt", "tnd", "dinar", "dinars", "lek", "leke", "vnd", "dong", "rmb", "yuan", "usdt",
    "lira", "tl", "toman", "rial", "dirham", "dh", "mad", "kr", "sek",
];

fn is_currency_symbol(c: char) -> bool {
    matches!(
        c,
        '£' | '$' | '€' | '¥' | '₫' | '₺' | '₽' | '﷼' | '₹' | '¢' | '₤' | '₾'
    )
}

fn classify(piece: &str) -> Piece {
    // One pass over the bytes first: most pieces are plain words, and they leave here.
    let (mut digits, mut letters, mut at, mut dotted) = (0u32, 0usize, None, false);
    for (i, &b) in piece.as_bytes().iter().enumerate() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'a'..=b'z' | b'A'..=b'Z' => letters += 1,
            b'@' => {
                at.get_or_insert(i);
            }
            b'.' | b'/' => dotted = true,
            _ => {}
        }
    }
    if letters == piece.len() {
        return if CURRENCY_WORDS.contains(&piece) {
            Piece::CurrencyWord
        } else {
            Piece::Other
        };
    }
    match at {
        Some(0) => {
            return if piece[1..].chars().filter(|c| c.is_alnum_fast()).count() >= 2 {
                Piece::Handle
            } else {
                Piece::Other
            };
        }
        Some(i) if piece[i..].contains('.') => return Piece::Email,
        _ => {}
    }
    if dotted && (piece.contains("://") || piece.starts_with("www.") || looks_like_domain(piece)) {
        return Piece::Url;
    }
    let (mut alnum, mut currency) = (0u32, false);
    for c in piece.chars() {
        if c.is_alnum_fast() {
            alnum += 1;
        }
        currency |= is_currency_symbol(c);
    }
    if digits > 0 && digits * 2 >= alnum {
        return Piece::Numeric {
            date: looks_like_date(piece),
            currency,
            plus: piece.starts_with('+') || piece.starts_with("00"),
            digits,
        };
    }
    if alnum == 0 && currency {
        return Piece::Currency;
    }
    Piece::Other
}

/// `t.me/boza`, `wa.me/447…`, `boza-travel.com`: a dotted name with a known ending, or
/// any dotted name followed by a path.
fn looks_like_domain(piece: &str) -> bool {
    let host = piece.split('/').next().unwrap_or(piece);
    let Some((name, tld)) = host.rsplit_once('.') else {
        return false;
    };
    let labels_ok = !name.is_empty()
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let tld_ok = tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic());
    labels_ok && tld_ok && (host.len() < piece.len() || TLDS.contains(&tld))
}

/// `12/03`, `12.03.2026`, `2026-03-12`.
fn looks_like_date(piece: &str) -> bool {
    let parts: Vec<&str> = piece.split(['/', '.', '-']).collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

const OPENERS: &[char] = &['(', '[', '{', '"', '\'', '«', '“', '‘', '<', '*'];
const CLOSERS: &[char] = &[
    '.', ',', '!', '?', ';', ':', ')', ']', '}', '"', '\'', '»', '”', '’', '>', '*', '…', '،', '؟',
];

/// Finds the volatile spans of a text in its plain view, in original code points.
fn volatile_spans(plain: &View, pieces: &mut Vec<(usize, usize, Piece)>, out: &mut Vec<Volatile>) {
    let text = plain.as_str();
    // (byte start, byte end, piece) of each whitespace-separated piece, without the
    // punctuation around it.
    pieces.clear();
    for raw in text.split(char::is_whitespace) {
        let trimmed = raw
            .trim_start_matches(|c: char| OPENERS.contains(&c))
            .trim_end_matches(|c: char| CLOSERS.contains(&c));
        if !trimmed.is_empty() {
            let start = trimmed.as_ptr() as usize - text.as_ptr() as usize;
            pieces.push((start, start + trimmed.len(), classify(trimmed)));
        }
    }
    let mut i = 0;
    while i < pieces.len() {
        let (s, e, piece) = pieces[i];
        let kind = match piece {
            Piece::Url => Some(SlotKind::Url),
            Piece::Handle => Some(SlotKind::Handle),
            Piece::Email => Some(SlotKind::Email),
            Piece::Numeric { .. } | Piece::Currency => None,
            Piece::CurrencyWord | Piece::Other => {
                i += 1;
                continue;
            }
        };
        if let Some(kind) = kind {
            push_span(plain, s, e, kind, out);
            i += 1;
            continue;
        }
        // A run of numeric pieces: `+44 7911 123456`, `£ 1,500`, `12/03`.
        let mut j = i;
        let (mut digits, mut currency, mut date, mut plus, mut numbers) =
            (0, false, false, false, 0);
        while j < pieces.len() {
            match pieces[j].2 {
                Piece::Numeric {
                    date: d,
                    currency: c,
                    plus: p,
                    digits: n,
                } => {
                    // A second number that starts like a phone number starts a new run.
                    if numbers > 0 && p {
                        break;
                    }
                    digits += n;
                    currency |= c;
                    date |= d;
                    plus |= p && numbers == 0;
                    numbers += 1;
                }
                Piece::Currency => currency = true,
                _ => break,
            }
            j += 1;
        }
        if numbers == 0 {
            // A currency symbol with no number: leave it to the emoji slot.
            i = j.max(i + 1);
            continue;
        }
        let near = |k: usize| pieces.get(k).is_some_and(|p| p.2 == Piece::CurrencyWord);
        currency |= near(j) || (i > 0 && near(i - 1));
        let kind = if currency {
            SlotKind::Price
        } else if date && numbers == 1 {
            SlotKind::Date
        } else if digits >= 7 || plus {
            SlotKind::Phone
        } else {
            SlotKind::Number
        };
        push_span(plain, s, pieces[j - 1].1, kind, out);
        i = j;
    }
}

fn push_span(plain: &View, start: usize, end: usize, kind: SlotKind, out: &mut Vec<Volatile>) {
    let (s, e) = plain.original_span(start, end);
    out.push(Volatile {
        start: s as u32,
        end: e as u32,
        kind,
    });
}

/// Fills `out` with the hashes of the `k`-token shingles of `tokens` (emoji skipped). A text
/// shorter than `k` tokens gives one shingle of all its tokens, so that short posts still
/// compare.
pub(crate) fn shingles(tokens: &[Token], k: usize, hashes: &mut Vec<u64>, out: &mut Vec<u64>) {
    out.clear();
    hashes.clear();
    hashes.extend(tokens.iter().filter(|t| t.in_shingles()).map(|t| t.hash));
    if hashes.is_empty() {
        return;
    }
    let k = k.min(hashes.len());
    for window in hashes.windows(k) {
        let mut h = window[0];
        for &x in &window[1..] {
            h = combine(h, x);
        }
        out.push(fmix64(h));
    }
}

/// The same shingles as text (`boat {num} call`), for implementations that hash strings
/// themselves.
pub fn shingle_texts(tokenized: &Tokenized, k: usize) -> Vec<String> {
    let words: Vec<&str> = tokenized
        .tokens
        .iter()
        .filter(|t| t.in_shingles())
        .map(|t| tokenized.token_text(t))
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    let k = k.min(words.len());
    words.windows(k).map(|w| w.join(" ")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str) -> String {
        let t = tokenize(text);
        t.tokens
            .iter()
            .map(|tok| match tok.kind {
                TokenKind::Word => t.token_text(tok).to_string(),
                TokenKind::Slot(k) => format!("{{{}}}", k.as_str()),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn masks_volatile_parts() {
        let cases = [
            (
                "Boat to UK £1,500 call +44 7911 123456",
                "boat to uk {price} cal {phone}",
            ),
            (
                "Price 1500 GBP, leaving 12/03!",
                "price {price} gbp leaving {date}",
            ),
            (
                "DM @boza_vip or t.me/boza01 or https://wa.me/4479",
                "dm {handle} or {url} or {url}",
            ),
            ("mail me: x.y@example.com 🚤🚤🇬🇧", "mail me {email} {emoji}"),
            (
                "B 0 A T  every n1ght 07911123456",
                "boat every night {phone}",
            ),
            ("we are 12 people", "we are {number} people"),
            ("走线 包过 2000", "走 线 包 过 {number}"),
        ];
        for (input, expected) in cases {
            assert_eq!(render(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn spans_point_at_the_original_text() {
        let text = "Call ＋44 7911 123456 now";
        let t = tokenize(text);
        let phone = t
            .tokens
            .iter()
            .find(|tok| tok.kind == TokenKind::Slot(SlotKind::Phone))
            .unwrap();
        let original: String = text
            .chars()
            .skip(phone.start as usize)
            .take((phone.end - phone.start) as usize)
            .collect();
        assert_eq!(original, "＋44 7911 123456");
    }

    #[test]
    fn a_template_with_new_slots_gives_the_same_shingles() {
        let a = tokenize("Boat to UK tonight, only £1500, call 07911 123456 🚤");
        let b = tokenize("B0AT to UK tonight!! only €2000, call +33 6 12 34 56 78 🚤🇬🇧");
        let (mut h, mut sa, mut sb) = (Vec::new(), Vec::new(), Vec::new());
        shingles(&a.tokens, 3, &mut h, &mut sa);
        shingles(&b.tokens, 3, &mut h, &mut sb);
        assert_eq!(shingle_texts(&a, 3), shingle_texts(&b, 3));
        assert_eq!(sa, sb);
    }
}
