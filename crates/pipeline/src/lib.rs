//! The pipeline: `normalise → detect → (match) → decide → warn`, assembled once from the data
//! directory and shared by every entry point, so that `scan`, the server and the workers
//! give the same answer for the same item.

use breakwater_core::{Assessment, Category, Item};
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
        let mut assessment = self.detector.assess(item);
        if assessment.category == Some(Category::Solicitation) {
            let context = Context::from_assessment(&assessment);
            assessment.intervention = self.catalogue.select(&context).map(|m| m.to_intervention());
        }
        assessment
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
