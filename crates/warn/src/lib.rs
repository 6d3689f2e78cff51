//! Risk-awareness interventions for people who look for smugglers.
//!
//! The catalogue lives in `data/interventions/<code>.toml`, written and maintained by
//! NGOs and international organisations. [`Catalogue::select`] picks the message that best
//! fits the person's language and the route and topic their text is about, falling back
//! to the closest language available. Pure: no IO after loading.

use breakwater_core::{Assessment, Category, EntityKind, HelpLink, IndicatorKind, Intervention};
use serde::Deserialize;
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
#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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
}
