//! The pipeline: `normalise → detect → match → decide → warn`, assembled once from the data
//! directory and shared by every entry point, so that `scan`, the server and the workers
//! give the same answer for the same item.

mod media;

pub use media::{hash_media, Media};

use breakwater_core::{Assessment, Category, Item, Match, MatchVerdict, Verdict};
use breakwater_matcher::{MatchInput, Matcher};
use breakwater_text::load::ModelRequirement;
use breakwater_text::Detector;
use breakwater_warn::{Catalogue, CatalogueError, Context};
use std::path::{Path, PathBuf};

/// Why the pipeline could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Text(#[from] breakwater_text::LoadError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("no data directory found (looked in {0}); pass --data DIR or set BREAKWATER_DATA")]
    NoData(String),
}

/// The assembled stages.
#[derive(Debug, Clone)]
pub struct Pipeline {
    detector: Detector,
    catalogue: Catalogue,
}

impl Pipeline {
    /// Loads every stage from `data_dir`.
    pub fn load(data_dir: &Path) -> Result<Self, PipelineError> {
        let detector = breakwater_text::load(data_dir, ModelRequirement::Required)?;
        Self::with_detector(data_dir, detector)
    }

    /// Assembles a pipeline around an already loaded detector.
    pub fn with_detector(data_dir: &Path, detector: Detector) -> Result<Self, PipelineError> {
        let dir = data_dir.join("interventions");
        let catalogue = if dir.exists() {
            Catalogue::load_dir(&dir)?
        } else {
            Catalogue::default()
        };
        Ok(Pipeline {
            detector,
            catalogue,
        })
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Assesses one item and attaches a risk-awareness message for people seeking a
    /// crossing.
    pub fn assess(&self, item: &Item) -> Assessment {
        self.assess_with(item, &Media::default(), None, 0)
    }

    /// Assesses one item with its images, matching both against `banks` (at time `now`,
    /// Unix ms, for expiries).
    pub fn assess_with(
        &self,
        item: &Item,
        media: &Media,
        banks: Option<&Matcher>,
        now: i64,
    ) -> Assessment {
        let mut assessment = self.detector.assess(item);
        assessment.media = media.digests.clone();
        if let Some(banks) = banks.filter(|b| !b.is_empty()) {
            let input = MatchInput {
                text: &item.text,
                entities: &assessment.entities,
                images: &media.hashes,
            };
            let matches = banks.find(&input, now);
            apply_matches(&mut assessment, matches);
        }
        if assessment.category == Some(Category::Solicitation) {
            let context = Context::from_assessment(&assessment);
            assessment.intervention = self.catalogue.select(&context).map(|m| m.to_intervention());
        }
        assessment
    }
}

/// Raises the verdict for bank matches and says why.
///
/// A media match carries its bank's verdict. A text signal (a phone, handle, link or phrase)
/// in a text that detection found harmless or a plea for help only sends it to review: a
/// migrant asking "has anyone used this number?" or an NGO warning about it must not be
/// actioned as the smuggler's advert.
fn apply_matches(a: &mut Assessment, matches: Vec<Match>) {
    let text_is_safe = a.verdict == Verdict::Benign || a.category == Some(Category::Solicitation);
    let mut reasons = Vec::new();
    for m in &matches {
        let effective = match m.verdict {
            MatchVerdict::Violating if m.signal_kind.is_media() || !text_is_safe => {
                Verdict::Violating
            }
            _ => Verdict::Review,
        };
        if severity(effective) > severity(a.verdict) {
            a.verdict = effective;
        }
        if a.category.is_none() {
            a.category = m.category;
        }
        reasons.push(explain(m));
    }
    reasons.append(&mut a.reasons);
    a.reasons = reasons;
    a.matches = matches;
}

fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Benign => 0,
        Verdict::Review => 1,
        Verdict::Violating => 2,
    }
}

fn explain(m: &Match) -> String {
    let source = m
        .source
        .as_deref()
        .map(|s| format!(", reported by {s}"))
        .unwrap_or_default();
    match (m.distance, m.media.as_deref()) {
        (Some(d), Some(image)) => {
            let turned = m
                .orientation
                .as_deref()
                .map(|o| format!(" ({o})"))
                .unwrap_or_default();
            format!(
                "image {image}{turned} is {d} bits from a known image in bank `{}`{source}",
                m.bank
            )
        }
        (_, Some(image)) => format!(
            "image {image} is a known file ({}) in bank `{}`{source}",
            m.signal_kind, m.bank
        ),
        _ => format!(
            "{} {} is in bank `{}`{source}",
            m.signal_kind, m.value, m.bank
        ),
    }
}

/// Finds the data directory: an explicit path, `$BREAKWATER_DATA`, `./data`, or the
/// `data/` of the source tree the binary was built from.
pub fn find_data_dir(explicit: Option<&Path>) -> Result<PathBuf, PipelineError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(env) = std::env::var("BREAKWATER_DATA") {
        candidates.push(PathBuf::from(env));
    }
    candidates.push(PathBuf::from("data"));
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"));
    candidates
        .iter()
        .find(|p| p.join("lexicons").is_dir())
        .cloned()
        .ok_or_else(|| {
            PipelineError::NoData(
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}
