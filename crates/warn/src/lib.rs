//! Risk-awareness interventions for people who look for smugglers.
//!
//! The catalogue lives in `data/interventions/<code>.toml`, written and maintained by
//! NGOs and international organisations. [`Catalogue::select`] picks the message that best
//! fits the person's language and the route and topic their text is about, falling back
//! to the closest language available. Pure: no IO after loading.

use breakwater_core::{Assessment, Category, EntityKind, HelpLink, IndicatorKind, Intervention};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why the catalogue could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    messages: Vec<Message>,
}

/// One message of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub id: String,
    pub language: String,
    #[serde(default)]
    pub routes: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub help: Vec<HelpEntry>,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpEntry {
    pub name: String,
    pub url: String,
}

impl Message {
    pub fn to_intervention(&self) -> Intervention {
        Intervention {
            id: self.id.clone(),
            language: self.language.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            help: self
                .help
                .iter()
                .map(|h| HelpLink {
                    name: h.name.clone(),
                    url: h.url.clone(),
                })
                .collect(),
            source: self.source.clone(),
        }
    }
}

/// Why an edited message cannot go into the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct MessageError {
    pub field: &'static str,
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> MessageError {
    MessageError {
        field,
        problem: problem.into(),
    }
}

/// Limits on edited messages: long enough for any real message, short enough that a
/// mistaken paste cannot bloat every answer of the interventions API.
const MAX_ID: usize = 64;
const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 4000;
const MAX_SOURCE: usize = 2000;
const MAX_TAGS: usize = 16;
const MAX_HELP: usize = 10;
const MAX_URL: usize = 2048;

/// Whether `id` can name a message: ASCII letters, digits, `.`, `_` and `-`.
pub fn valid_message_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A language tag in the catalogue's spelling (`ar-Latn`, `ku-Arab`, `pt-BR`), or `None`
/// if it is not a plausible BCP 47 tag. Case matters to [`Catalogue::select`]'s fallbacks,
/// so callers' `AR-latn` must become `ar-Latn`.
pub fn canonical_language(tag: &str) -> Option<String> {
    let tag = tag.trim().replace('_', "-");
    let mut parts = tag.split('-');
    let primary = parts.next()?;
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut out = primary.to_ascii_lowercase();
    for part in parts {
        if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        out.push('-');
        match part.len() {
            // Script: title case.
            4 if part.bytes().all(|b| b.is_ascii_alphabetic()) => {
                out.push_str(&part[..1].to_ascii_uppercase());
                out.push_str(&part[1..].to_ascii_lowercase());
            }
            // Region: upper case.
            2 => out.push_str(&part.to_ascii_uppercase()),
            _ => out.push_str(&part.to_ascii_lowercase()),
        }
    }
    Some(out)
}

impl Message {
    /// Checks an edited message and puts its language in the catalogue's spelling.
    pub fn validate(&mut self) -> Result<(), MessageError> {
        if !valid_message_id(&self.id) {
            return Err(invalid(
                "id",
                format!("1 to {MAX_ID} ASCII letters, digits, `.`, `_` or `-`"),
            ));
        }
        self.language = canonical_language(&self.language)
            .ok_or_else(|| invalid("language", "not a language tag such as `ar` or `ar-Latn`"))?;
        for (field, value, max) in [
            ("title", &self.title, MAX_TITLE),
            ("body", &self.body, MAX_BODY),
            ("source", &self.source, MAX_SOURCE),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
            if value.chars().count() > max {
                return Err(invalid(field, format!("longer than {max} characters")));
            }
        }
        for (field, tags) in [("routes", &self.routes), ("topics", &self.topics)] {
            if tags.len() > MAX_TAGS {
                return Err(invalid(field, format!("more than {MAX_TAGS} entries")));
            }
            let bad = tags.iter().find(|t| {
                t.is_empty()
                    || t.len() > 32
                    || !t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
            if let Some(bad) = bad {
                return Err(invalid(field, format!("`{bad}` is not a snake_case name")));
            }
        }
        if self.help.len() > MAX_HELP {
            return Err(invalid("help", format!("more than {MAX_HELP} links")));
        }
        for h in &self.help {
            if h.name.trim().is_empty() {
                return Err(invalid("help", "a link has no name"));
            }
            let scheme_ok = h.url.starts_with("https://") || h.url.starts_with("http://");
            if !scheme_ok || h.url.len() > MAX_URL || h.url.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "help",
                    format!("`{}` is not an http(s) URL", h.url),
                ));
            }
        }
        Ok(())
    }
}

/// A change to a bundled catalogue made through the API: a new or edited message, or a
/// message withdrawn from selection.
#[derive(Debug, Clone, PartialEq)]
pub enum Override {
    Set(Message),
    Withdraw(String),
}

/// What the person wrote or searched, as far as choosing a message goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Language code, e.g. `ar-Latn`, `ku`, `en`.
    pub language: String,
    /// Routes: `channel`, `central_med`, `eastern_med`, `western_med`, `atlantic`, `darien`,
    /// `balkans`, `lorry_container`.
    pub routes: Vec<&'static str>,
    pub category: Option<Category>,
}

impl Context {
    /// Reads language, routes and category off an assessment.
    pub fn from_assessment(a: &Assessment) -> Self {
        let language = match (a.language.as_str(), a.script.as_str()) {
            ("ar", "Latn") => "ar-Latn".to_string(),
            ("ku", "Arab") => "ku-Arab".to_string(),
            (l, _) => l.to_string(),
        };
        let mut routes: Vec<&'static str> = Vec::new();
        for e in &a.entities {
            if !matches!(e.kind, EntityKind::Place | EntityKind::Route) {
                continue;
            }
            if let Some(route) = e
                .country
                .as_deref()
                .and_then(|c| route_of_country(c, &e.value))
            {
                if !routes.contains(&route) {
                    routes.push(route);
                }
            }
        }
        let lorry = a.indicators.iter().any(|i| {
            i.kind == IndicatorKind::Transport && {
                let v = i.value.to_lowercase();
                [
                    "lorry",
                    "truck",
                    "container",
                    "camion",
                    "kamion",
                    "tır",
                    "xe lạnh",
                    "xe container",
                    "شاحنة",
                    "کامیون",
                ]
                .iter()
                .any(|w| v.contains(w))
            }
        });
        if lorry {
            routes.push("lorry_container");
        }
        Context {
            language,
            routes,
            category: a.category,
        }
    }
}

/// The route a place's country points to. Destinations and departure points of one
/// route share a message, so both sides of the Channel map to `channel`.
fn route_of_country(country: &str, place: &str) -> Option<&'static str> {
    let canary = [
        "canary",
        "canarias",
        "tenerife",
        "gran canaria",
        "lanzarote",
        "el hierro",
        "fuerteventura",
    ];
    if canary.iter().any(|c| place.to_lowercase().contains(c)) {
        return Some("atlantic");
    }
    Some(match country {
        "GB" | "FR" | "BE" => "channel",
        "IT" | "MT" | "LY" | "TN" | "NE" | "SD" => "central_med",
        "GR" | "TR" | "CY" => "eastern_med",
        "ES" | "MA" | "DZ" => "western_med",
        "SN" | "MR" | "GM" | "EH" => "atlantic",
        "PA" | "CO" | "MX" | "US" | "GT" | "HN" | "EC" | "CR" | "NI" => "darien",
        "RS" | "BA" | "HR" | "MK" | "HU" | "SI" | "BG" | "BY" | "PL" => "balkans",
        _ => return None,
    })
}

/// Languages to try, closest first, when a language has no message that fits.
fn fallbacks(language: &str) -> Vec<String> {
    let primary = language.split('-').next().unwrap_or(language).to_string();
    let mut chain = vec![language.to_string()];
    if primary != language {
        chain.push(primary.clone());
    }
    let extra: &[&str] = match language {
        "ar-Latn" => &["fr"],
        "ku-Arab" => &["ku", "ar"],
        "ku" => &["tr"],
        "ps" => &["fa", "ur"],
        "fa" => &["ps"],
        "ur" => &["ps"],
        "ti" => &["am", "ar"],
        "am" => &["ti"],
        _ => &[],
    };
    chain.extend(extra.iter().map(|s| s.to_string()));
    chain.push("en".to_string());
    chain.dedup();
    chain
}

fn topics_for(category: Option<Category>) -> &'static [&'static str] {
    match category {
        Some(Category::ExploitativeRecruitment | Category::FacilitatorRecruitment) => {
            &["debt", "jobs", "exploitation", "trafficking"]
        }
        Some(Category::FalsePolicyClaim | Category::FalseSuccessStory) => {
            &["guarantee", "policy_claim", "success_story"]
        }
        Some(Category::DocumentFraud) => &["legal_routes", "documents", "visa"],
        Some(Category::PaymentFacilitation) => &["debt", "price"],
        _ => &["small_boat", "price", "safety", "asylum"],
    }
}

/// Every message, with the languages it is available in.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    messages: Vec<Message>,
}

impl Catalogue {
    /// Loads every `*.toml` file in `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, CatalogueError> {
        let paths =
            breakwater_core::data_files(dir, "toml").map_err(|source| CatalogueError::Read {
                path: dir.to_path_buf(),
                source,
            })?;
        let mut messages = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| CatalogueError::Read {
                path: path.clone(),
                source,
            })?;
            let file: CatalogueFile = toml::from_str(&text).map_err(|e| CatalogueError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
            messages.extend(file.messages);
        }
        Ok(Catalogue { messages })
    }

    pub fn from_messages(messages: Vec<Message>) -> Self {
        Catalogue { messages }
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The message with this id, if the catalogue has it.
    pub fn get(&self, id: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.id == id)
    }

    /// This catalogue with edits laid over it: an edited message replaces the message of
    /// the same id (whatever its language), a new one is added, a withdrawn one is dropped.
    /// Edits are applied in order, so the latest edit of an id wins.
    pub fn with_overrides<'a>(&self, overrides: impl IntoIterator<Item = &'a Override>) -> Self {
        let mut latest: HashMap<&str, &Override> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for o in overrides {
            let id = match o {
                Override::Set(m) => m.id.as_str(),
                Override::Withdraw(id) => id.as_str(),
            };
            if latest.insert(id, o).is_none() {
                order.push(id);
            }
        }
        let mut messages: Vec<Message> = self
            .messages
            .iter()
            .filter_map(|m| match latest.get(m.id.as_str()) {
                None => Some(m.clone()),
                Some(Override::Set(edited)) => Some(edited.clone()),
                Some(Override::Withdraw(_)) => None,
            })
            .collect();
        for id in order {
            if let Some(Override::Set(m)) = latest.get(id) {
                if self.get(id).is_none() {
                    messages.push(m.clone());
                }
            }
        }
        Catalogue { messages }
    }

    /// The best message for a context: the closest language that has any message, then
    /// the message whose routes and topics fit best.
    pub fn select(&self, context: &Context) -> Option<&Message> {
        let wanted_topics = topics_for(context.category);
        for language in fallbacks(&context.language) {
            let best = self
                .messages
                .iter()
                .filter(|m| m.language.eq_ignore_ascii_case(&language))
                .map(|m| {
                    let route = if context
                        .routes
                        .iter()
                        .any(|r| m.routes.iter().any(|mr| mr == r))
                    {
                        4
                    } else if m.routes.iter().any(|r| r == "any") {
                        1
                    } else {
                        0
                    };
                    let topic = m
                        .topics
                        .iter()
                        .filter(|t| wanted_topics.contains(&t.as_str()))
                        .count();
                    (route * 10 + topic as i32, m)
                })
                .max_by_key(|(score, m)| (*score, std::cmp::Reverse(m.id.clone())));
            if let Some((_, m)) = best {
                return Some(m);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, language: &str, routes: &[&str], topics: &[&str]) -> Message {
        Message {
            id: id.into(),
            language: language.into(),
            routes: routes.iter().map(|s| s.to_string()).collect(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            title: "t".into(),
            body: "b".into(),
            help: vec![],
            source: "s".into(),
        }
    }

    fn catalogue() -> Catalogue {
        Catalogue::from_messages(vec![
            message("any-en", "en", &["any"], &["help"]),
            message("channel-en", "en", &["channel"], &["small_boat"]),
            message("med-ar", "ar", &["central_med"], &["small_boat"]),
            message("debt-ar", "ar", &["any"], &["debt", "jobs"]),
            message("any-fr", "fr", &["any"], &[]),
        ])
    }

    #[test]
    fn picks_route_then_topic_in_the_closest_language() {
        let c = catalogue();
        let pick = |language: &str, routes: Vec<&'static str>, category| {
            c.select(&Context {
                language: language.into(),
                routes,
                category,
            })
            .map(|m| m.id.clone())
        };
        assert_eq!(
            pick("en", vec!["channel"], None).as_deref(),
            Some("channel-en")
        );
        assert_eq!(pick("en", vec!["darien"], None).as_deref(), Some("any-en"));
        assert_eq!(
            pick("ar", vec!["central_med"], None).as_deref(),
            Some("med-ar")
        );
        assert_eq!(
            pick("ar", vec![], Some(Category::ExploitativeRecruitment)).as_deref(),
            Some("debt-ar")
        );
        // Arabizi falls back to Arabic, Sorani to Kurmanji then Arabic, unknown to English.
        assert_eq!(
            pick("ar-Latn", vec!["central_med"], None).as_deref(),
            Some("med-ar")
        );
        assert_eq!(
            pick("ku-Arab", vec!["central_med"], None).as_deref(),
            Some("med-ar")
        );
        assert_eq!(
            pick("xx", vec!["channel"], None).as_deref(),
            Some("channel-en")
        );
    }

    #[test]
    fn overrides_replace_add_and_withdraw() {
        let base = catalogue();
        let mut edited = message("med-ar", "ar", &["central_med"], &["small_boat"]);
        edited.title = "edited".into();
        let added = message("channel-ar", "ar", &["channel"], &["small_boat"]);
        let overrides = vec![
            Override::Set(message("med-ar", "ar", &["central_med"], &[])),
            Override::Set(edited),
            Override::Set(added),
            Override::Withdraw("any-fr".into()),
        ];
        let c = base.with_overrides(&overrides);
        // The latest edit of an id wins, in the place of the bundled message.
        assert_eq!(c.get("med-ar").map(|m| m.title.as_str()), Some("edited"));
        assert_eq!(c.messages().len(), base.messages().len());
        assert!(c.get("any-fr").is_none());
        let ctx = |language: &str, routes: Vec<&'static str>| Context {
            language: language.into(),
            routes,
            category: None,
        };
        assert_eq!(
            c.select(&ctx("ar", vec!["channel"])).map(|m| m.id.as_str()),
            Some("channel-ar")
        );
        // With the only French message withdrawn, French falls back to English.
        assert_eq!(
            c.select(&ctx("fr", vec![])).map(|m| m.language.as_str()),
            Some("en")
        );
        assert_eq!(
            base.select(&ctx("fr", vec![])).map(|m| m.id.as_str()),
            Some("any-fr")
        );
        // The bundled catalogue itself is unchanged.
        assert!(base.get("any-fr").is_some());
    }

    #[test]
    fn language_tags_are_canonical() {
        assert_eq!(canonical_language("AR-latn").as_deref(), Some("ar-Latn"));
        assert_eq!(canonical_language("ku_arab").as_deref(), Some("ku-Arab"));
        assert_eq!(canonical_language("pt-br").as_deref(), Some("pt-BR"));
        assert_eq!(canonical_language("en").as_deref(), Some("en"));
        assert_eq!(canonical_language("e"), None);
        assert_eq!(canonical_language("en-"), None);
        assert_eq!(canonical_language("<script>"), None);
    }

    #[test]
    fn edited_messages_are_checked() {
        let mut m = message("ok-1", "AR-latn", &["channel"], &["small_boat"]);
        m.help = vec![HelpEntry {
            name: "UNHCR".into(),
            url: "https://help.unhcr.org".into(),
        }];
        m.validate().unwrap();
        assert_eq!(m.language, "ar-Latn");
        let mut bad = m.clone();
        bad.title = "  ".into();
        assert_eq!(bad.validate().unwrap_err().field, "title");
        let mut bad = m.clone();
        bad.help[0].url = "javascript:alert(1)".into();
        assert_eq!(bad.validate().unwrap_err().field, "help");
        let mut bad = m.clone();
        bad.id = "has space".into();
        assert_eq!(bad.validate().unwrap_err().field, "id");
        let mut bad = m;
        bad.routes = vec!["Channel!".into()];
        assert_eq!(bad.validate().unwrap_err().field, "routes");
    }
}
