//! What detection says about an item, and why.

use crate::signal::{MatchVerdict, SignalKind};
use crate::Category;
use serde::{Deserialize, Serialize};

/// The overall outcome of assessing one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Breaks policy with high confidence: act on it.
    Violating,
    /// Doubtful or sensitive: a person should look at it.
    Review,
    /// Nothing to act on.
    Benign,
}

impl Verdict {
    /// The lower-case name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Violating => "violating",
            Verdict::Review => "review",
            Verdict::Benign => "benign",
        }
    }
}

/// A range of the original text, in Unicode scalar values (code points), end exclusive.
///
/// Code points rather than bytes, so that `text[start:end]` in Python or JavaScript
/// (for text outside the astral planes) points at the same characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// The kind of evidence a lexicon term or pattern gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    Codeword,
    Transport,
    Route,
    Guarantee,
    Payment,
    Price,
    Contact,
    Schedule,
    Document,
    Recruitment,
    SuccessStory,
    PolicyClaim,
    Evasion,
    Smuggler,
    Solicitation,
    /// Warnings and counter-messaging.
    Counter,
    /// Reporting, research, court and police language.
    News,
    /// Someone asking for help or searching for relatives.
    Help,
    /// Legitimate travel, freight, jobs and visa services.
    Legit,
    /// Emoji routes such as 🇹🇳➡️🇮🇹, found by pattern rather than by lexicon.
    EmojiRoute,
}

impl IndicatorKind {
    /// Context kinds argue that the text is *about* smuggling rather than *doing* it.
    pub fn is_context(self) -> bool {
        matches!(
            self,
            IndicatorKind::Counter
                | IndicatorKind::News
                | IndicatorKind::Help
                | IndicatorKind::Legit
        )
    }
}

/// One piece of evidence found in the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    pub kind: IndicatorKind,
    /// The lexicon term (or pattern name) that fired.
    pub value: String,
    /// The original text it fired on.
    pub text: String,
    pub start: usize,
    pub end: usize,
    /// Evidence strength; negative for context that argues against a violation.
    pub weight: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The lexicon pack the term comes from.
    pub pack: String,
}

/// The kind of an entity found in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Phone,
    Handle,
    Url,
    Email,
    Price,
    Place,
    Route,
    CryptoWallet,
}

/// A structured thing found in the text: a phone number, a handle, a price, a place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    /// Canonical form: E.164 for phones, `platform:name` for handles, the URL, `1500 GBP`.
    pub value: String,
    /// The original text.
    pub text: String,
    pub start: usize,
    pub end: usize,
    /// ISO 3166-1 alpha-2 country of a phone number or place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Messaging platform of a handle or link (whatsapp, telegram, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Amount of a price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// ISO 4217 currency of a price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Role of a place: departure, transit, destination, landmark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Entity {
    /// An entity with only the required fields set.
    pub fn new(
        kind: EntityKind,
        value: impl Into<String>,
        text: impl Into<String>,
        span: Span,
    ) -> Self {
        Entity {
            kind,
            value: value.into(),
            text: text.into(),
            start: span.start,
            end: span.end,
            country: None,
            platform: None,
            amount: None,
            currency: None,
            role: None,
        }
    }
}

/// A hit of one of the item's signals in a bank of known signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub bank: String,
    pub signal_kind: SignalKind,
    /// The bank's signal (canonical form).
    pub value: String,
    /// Hamming distance for PDQ matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// What a match against this bank means.
    pub verdict: MatchVerdict,
    /// Provenance of the bank's signal: who observed or shared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The image that matched, by name, for media signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// For PDQ: the orientation of the image that matched (`rotate90`, `flip_x`, ...) when it
    /// is not the image as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<String>,
}

/// The hashes of one image of an item, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaDigest {
    /// The file name, path or upload name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq: Option<String>,
    /// PDQ quality 0..=100; hashes under 50 are not matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A risk-awareness message to show the person who wrote or searched the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intervention {
    pub id: String,
    pub language: String,
    pub title: String,
    pub body: String,
    pub help: Vec<HelpLink>,
    pub source: String,
}

/// Where to get legitimate help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelpLink {
    pub name: String,
    pub url: String,
}

/// How each part of the evidence moved the score, in log-odds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contributions {
    /// The statistical model's log-odds that the text is OIC content.
    pub model: f32,
    /// Sum of positive lexicon evidence.
    pub indicators: f32,
    /// Entities that adverts carry (contacts, prices, routes).
    pub entities: f32,
    /// Context that argues against a violation (warnings, news, help, legitimate services).
    pub context: f32,
    /// Bank matches.
    pub matches: f32,
}

/// The full explained outcome of detection for one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub id: String,
    pub verdict: Verdict,
    pub category: Option<Category>,
    /// Calibrated probability that the item is OIC content of `category`.
    pub score: f32,
    /// Detected (or given) language, e.g. `ar`, `ku`.
    pub language: String,
    /// ISO 15924 script the text is written in, e.g. `Latn` for Arabizi.
    pub script: String,
    pub indicators: Vec<Indicator>,
    pub entities: Vec<Entity>,
    pub matches: Vec<Match>,
    /// Hashes of the item's images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaDigest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervention: Option<Intervention>,
    pub contributions: Contributions,
    /// Plain-language reasons for the verdict, strongest first.
    pub reasons: Vec<String>,
}
