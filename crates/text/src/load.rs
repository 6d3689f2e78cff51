//! Loading a detector from the data directory.

use crate::corpus::{self, CorpusError};
use crate::detector::{Calibration, Detector};
use crate::gazetteer::{Gazetteer, GazetteerError};
use crate::langid::LanguageIdentifier;
use crate::lexicon::{Lexicon, LexiconError};
use crate::model::{ModelError, TextModel};
use std::path::{Path, PathBuf};

/// Why the data directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Lexicon(#[from] LexiconError),
    #[error(transparent)]
    Gazetteer(#[from] GazetteerError),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error("{path}: {source}")]
    Model { path: PathBuf, source: ModelError },
    #[error("{path}: {message}")]
    Calibration { path: PathBuf, message: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no trained model in {0}: run `breakwater train` first")]
    Untrained(PathBuf),
}

/// What to do when `data/model/` holds no model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRequirement {
    Required,
    /// Ignore any trained model and start untrained (for `train` itself, which must not
    /// depend on the model it replaces).
    Untrained,
}

/// Loads the detector from `data_dir` (lexicons, gazetteer, language samples, corpus,
/// model). The language identifier trains on the samples and on the corpus's training
/// split, never on its held-out split.
pub fn load(data_dir: &Path, model: ModelRequirement) -> Result<Detector, LoadError> {
    let lexicon = Lexicon::load_dir(&data_dir.join("lexicons"))?;
    let gazetteer_path = data_dir.join("gazetteer.toml");
    let gazetteer = if gazetteer_path.exists() {
        Gazetteer::load(&gazetteer_path)?
    } else {
        Gazetteer::empty()
    };
    let langid = train_langid(data_dir)?;
    let model_path = data_dir.join("model/model.bin");
    let calibration_path = data_dir.join("model/calibration.json");
    let (model, calibration) = if model == ModelRequirement::Untrained {
        (
            TextModel::untrained(crate::model::TrainConfig::default().bits),
            Calibration::untrained(),
        )
    } else if model_path.exists() {
        let mut file = std::fs::File::open(&model_path).map_err(|source| LoadError::Read {
            path: model_path.clone(),
            source,
        })?;
        let model = TextModel::read(&mut file).map_err(|source| LoadError::Model {
            path: model_path.clone(),
            source,
        })?;
        let text =
            std::fs::read_to_string(&calibration_path).map_err(|source| LoadError::Read {
                path: calibration_path.clone(),
                source,
            })?;
        let calibration: Calibration =
            serde_json::from_str(&text).map_err(|e| LoadError::Calibration {
                path: calibration_path.clone(),
                message: e.to_string(),
            })?;
        let expected = crate::detector::feature::LEN;
        if calibration.violating.weights.len() != expected
            || calibration.solicitation.weights.len() != expected
        {
            return Err(LoadError::Calibration {
                path: calibration_path,
                message: format!("made for another version ({expected} evidence features expected): run `breakwater train`"),
            });
        }
        (model, calibration)
    } else {
        return Err(LoadError::Untrained(data_dir.join("model")));
    };
    Ok(Detector::new(
        langid,
        lexicon,
        gazetteer,
        model,
        calibration,
    ))
}

fn train_langid(data_dir: &Path) -> Result<LanguageIdentifier, LoadError> {
    let mut samples: Vec<(String, String)> = Vec::new();
    let dir = data_dir.join("langid");
    if dir.exists() {
        let paths = breakwater_core::data_files(&dir, "txt").map_err(|source| LoadError::Read {
            path: dir.clone(),
            source,
        })?;
        for path in paths {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let code = canonical_code(stem);
            let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })?;
            samples.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| (code.clone(), l.to_string())),
            );
        }
    }
    let corpus_dir = data_dir.join("corpus");
    if corpus_dir.exists() {
        for example in corpus::read_dir(&corpus_dir)?
            .into_iter()
            .filter(|e| !e.is_heldout())
        {
            samples.push((canonical_code(&example.lang), example.text));
        }
    }
    Ok(LanguageIdentifier::train(
        samples.iter().map(|(c, t)| (c.as_str(), t.as_str())),
    ))
}

/// `ar-latn` → `ar-Latn`, `KU` → `ku`: language lower-case, script title-case.
pub fn canonical_code(code: &str) -> String {
    let mut parts = code.split(['-', '_']);
    let mut out = parts.next().unwrap_or_default().to_ascii_lowercase();
    for p in parts {
        out.push('-');
        if p.len() == 4 {
            out.push_str(&p[..1].to_ascii_uppercase());
            out.push_str(&p[1..].to_ascii_lowercase());
        } else {
            out.push_str(&p.to_ascii_uppercase());
        }
    }
    out
}
