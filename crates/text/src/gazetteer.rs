//! Places that matter to smuggling routes, in the spellings migrants use.

use crate::normalize::fold_term;
use crate::script::script_of;
use crate::script::CharClass;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why the gazetteer could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum GazetteerError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
struct GazetteerFile {
    #[serde(default)]
    places: Vec<PlaceSpec>,
}

#[derive(Debug, Deserialize)]
struct PlaceSpec {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    country: String,
    role: String,
}

/// One place.
#[derive(Debug, Clone)]
pub struct Place {
    pub name: String,
    pub country: String,
    /// `departure`, `transit`, `destination` or `landmark`.
    pub role: String,
}

/// A place name found in a lexical view (byte range).
#[derive(Debug, Clone, Copy)]
pub struct PlaceHit {
    pub place: usize,
    pub start: usize,
    pub end: usize,
}

/// All places, with an automaton over every spelling.
#[derive(Debug, Clone)]
pub struct Gazetteer {
    places: Vec<Place>,
    /// For each automaton pattern, the place it names.
    pattern_place: Vec<usize>,
    automaton: AhoCorasick,
}

impl Gazetteer {
    /// Loads `data/gazetteer.toml`.
    pub fn load(path: &Path) -> Result<Self, GazetteerError> {
        let text = std::fs::read_to_string(path).map_err(|source| GazetteerError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| GazetteerError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the gazetteer's TOML.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: GazetteerFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut places = Vec::new();
        let mut patterns = Vec::new();
        let mut pattern_place = Vec::new();
        for spec in file.places {
            let index = places.len();
            for spelling in std::iter::once(&spec.name).chain(&spec.aliases) {
                let folded = fold_term(spelling);
                // One- and two-letter spellings match too many ordinary words.
                if folded.chars().count() >= 3
                    || folded
                        .chars()
                        .any(|c| script_of(c).is_some_and(|s| s.is_unspaced()))
                {
                    patterns.push(folded);
                    pattern_place.push(index);
                }
            }
            places.push(Place {
                name: spec.name,
                country: spec.country.to_uppercase(),
                role: spec.role,
            });
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .map_err(|e| e.to_string())?;
        Ok(Gazetteer {
            places,
            pattern_place,
            automaton,
        })
    }

    /// An empty gazetteer, for tests and for deployments without one.
    pub fn empty() -> Self {
        Self::from_toml("").expect("an empty gazetteer always builds")
    }

    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// Finds place names in a lexical view, whole words only (except in unspaced scripts
    /// and for Arabic-script names, which take attached prefixes).
    pub fn find(&self, lexical: &str) -> Vec<PlaceHit> {
        self.automaton
            .find_iter(lexical)
            .filter(|m| {
                let name = &lexical[m.start()..m.end()];
                let first = name.chars().find_map(script_of);
                let free =
                    first.is_some_and(|s| s.is_unspaced() || s == crate::script::Script::Arabic);
                free || (lexical[..m.start()]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alnum_fast())
                    && lexical[m.end()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_alnum_fast()))
            })
            .map(|m| PlaceHit {
                place: self.pattern_place[m.pattern().as_usize()],
                start: m.start(),
                end: m.end(),
            })
            .collect()
    }
}
