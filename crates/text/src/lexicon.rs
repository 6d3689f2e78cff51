//! Lexicon packs: indicator terms per language, compiled into one Aho-Corasick automaton.
//!
//! A pack is a TOML file under `data/lexicons/` (format in `docs/data-formats.md`). All
//! packs are searched at once, because posts mix languages and language identification
//! of a ten-word advert can be wrong; a term from a pack of another language than the
//! text's counts for less (see [`crate::detector`]).

use crate::normalize::fold_term;
use crate::script::CharClass;
use crate::script::{script_of, Script};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use breakwater_core::{Category, IndicatorKind};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why packs could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: term {term:?} is empty after normalisation")]
    EmptyTerm { path: PathBuf, term: String },
    #[error("cannot build the term automaton: {0}")]
    Build(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    pack: PackHeader,
    #[serde(default)]
    terms: Vec<TermSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackHeader {
    language: String,
    name: String,
    #[serde(default)]
    sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TermSpec {
    term: String,
    kind: IndicatorKind,
    #[serde(default)]
    category: Option<Category>,
    weight: f32,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

/// A loaded pack's description.
#[derive(Debug, Clone)]
pub struct PackInfo {
    pub language: String,
    pub name: String,
    pub sources: Vec<String>,
    pub terms: usize,
}

/// One searchable term.
#[derive(Debug, Clone)]
pub struct Term {
    /// The term as written in the pack.
    pub term: String,
    /// The term in the lexical view.
    pub folded: String,
    pub kind: IndicatorKind,
    pub category: Option<Category>,
    pub weight: f32,
    /// Index into [`Lexicon::packs`].
    pub pack: usize,
    /// Whether a match must start and end at a word boundary.
    bounded: bool,
}

/// A term found in a lexical view, as a byte range of that view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub term: usize,
    pub start: usize,
    pub end: usize,
}

/// All packs, compiled.
#[derive(Debug, Clone)]
pub struct Lexicon {
    packs: Vec<PackInfo>,
    terms: Vec<Term>,
    automaton: AhoCorasick,
}

impl Lexicon {
    /// Loads every `*.toml` pack in `dir`, in file-name order.
    pub fn load_dir(dir: &Path) -> Result<Self, LexiconError> {
        let read_err = |source| LexiconError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let paths = breakwater_core::data_files(dir, "toml").map_err(read_err)?;
        let mut sources = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| LexiconError::Read {
                path: path.clone(),
                source,
            })?;
            sources.push((path, text));
        }
        Self::from_sources(sources.iter().map(|(p, t)| (p.as_path(), t.as_str())))
    }

    /// Builds a lexicon from `(path, toml text)` pairs; the path is only for messages.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a Path, &'a str)>,
    ) -> Result<Self, LexiconError> {
        let mut packs = Vec::new();
        let mut terms: Vec<Term> = Vec::new();
        // One term per folded spelling: when two packs define the same spelling the
        // stronger evidence wins, so a pack cannot silently double-count a word.
        let mut by_folded: HashMap<String, usize> = HashMap::new();
        for (path, text) in sources {
            let file: PackFile = toml::from_str(text).map_err(|e| LexiconError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            let pack = packs.len();
            for spec in &file.terms {
                if !spec.weight.is_finite() {
                    return Err(LexiconError::Parse {
                        path: path.to_path_buf(),
                        message: format!("term {:?} has a weight that is not a number", spec.term),
                    });
                }
                let folded = fold_term(&spec.term);
                if folded.trim().is_empty() {
                    return Err(LexiconError::EmptyTerm {
                        path: path.to_path_buf(),
                        term: spec.term.clone(),
                    });
                }
                let term = Term {
                    term: spec.term.clone(),
                    bounded: needs_boundary(&folded),
                    folded: folded.clone(),
                    kind: spec.kind,
                    category: spec.category,
                    weight: spec.weight,
                    pack,
                };
                match by_folded.get(&folded) {
                    Some(&i) if terms[i].weight.abs() >= term.weight.abs() => {}
                    Some(&i) => terms[i] = term,
                    None => {
                        by_folded.insert(folded, terms.len());
                        terms.push(term);
                    }
                }
            }
            packs.push(PackInfo {
                language: file.pack.language,
                name: file.pack.name,
                sources: file.pack.sources,
                terms: file.terms.len(),
            });
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(terms.iter().map(|t| t.folded.as_str()))
            .map_err(|e| LexiconError::Build(e.to_string()))?;
        Ok(Lexicon {
            packs,
            terms,
            automaton,
        })
    }

    pub fn packs(&self) -> &[PackInfo] {
        &self.packs
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Finds every term in a lexical view. A hit inside a longer hit is dropped: "pay on
    /// arrival" explains more than "arrival", and "don't trust smugglers" is not
    /// evidence of a smuggler.
    pub fn find(&self, lexical: &str) -> Vec<Hit> {
        let bytes = lexical.as_bytes();
        let mut hits: Vec<Hit> = Vec::new();
        for m in self.automaton.find_overlapping_iter(lexical) {
            let term = &self.terms[m.pattern().as_usize()];
            let (start, mut end) = (m.start(), m.end());
            if term.bounded {
                if !boundary_before(lexical, start) {
                    continue;
                }
                // Allow a plural `s` on longer Latin-script words (smugglers, passeurs).
                if !boundary_after(lexical, end) {
                    if term.folded.len() >= 4
                        && bytes.get(end) == Some(&b's')
                        && boundary_after(lexical, end + 1)
                    {
                        end += 1;
                    } else {
                        continue;
                    }
                }
            }
            hits.push(Hit {
                term: m.pattern().as_usize(),
                start,
                end,
            });
        }
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
        for h in hits {
            let inside = kept.iter().any(|k| {
                k.start <= h.start && h.end <= k.end && (k.end - k.start) > (h.end - h.start)
            });
            if !inside {
                kept.push(h);
            }
        }
        kept
    }
}

/// Terms in spaced scripts match whole words; Han, Kana and Thai terms match anywhere, and
/// so do Arabic-script terms of four letters or more, which take attached prefixes
/// (و، ب، ال) and suffixes. Emoji match anywhere.
fn needs_boundary(folded: &str) -> bool {
    let letters: Vec<Script> = folded.chars().filter_map(script_of).collect();
    match letters.first() {
        None => false,
        Some(s) if s.is_unspaced() => false,
        Some(Script::Arabic) => letters.len() < 4,
        Some(_) => true,
    }
}

fn boundary_before(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alnum_fast())
}

fn boundary_after(text: &str, at: usize) -> bool {
    text.get(at..)
        .and_then(|s| s.chars().next())
        .is_none_or(|c| !c.is_alnum_fast())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::fold;

    const PACK: &str = r#"
        [pack]
        language = "en"
        name = "English"
        [[terms]]
        term = "pay on arrival"
        kind = "payment"
        category = "smuggling_service"
        weight = 1.5
        [[terms]]
        term = "arrival"
        kind = "schedule"
        weight = 0.1
        [[terms]]
        term = "game"
        kind = "codeword"
        weight = 1.0
        [[terms]]
        term = "smuggler"
        kind = "smuggler"
        weight = 0.8
        [[terms]]
        term = "don't trust smugglers"
        kind = "counter"
        weight = -2.0
        [[terms]]
        term = "走线"
        kind = "codeword"
        weight = 1.5
    "#;

    fn found(text: &str) -> Vec<String> {
        let lex = Lexicon::from_sources([(Path::new("en.toml"), PACK)]).unwrap();
        let folded = fold(text);
        lex.find(folded.lexical.as_str())
            .iter()
            .map(|h| lex.terms()[h.term].term.clone())
            .collect()
    }

    #[test]
    fn finds_terms_through_obfuscation_at_word_boundaries() {
        assert_eq!(
            found("P@y 0n arrivaaal, g4me tonight"),
            ["pay on arrival", "game"]
        );
        assert_eq!(found("endgame gamer"), Vec::<String>::new());
        assert_eq!(found("smugglers are here"), ["smuggler"]);
        assert_eq!(found("Don't trust smugglers!"), ["don't trust smugglers"]);
        assert_eq!(found("想走线的联系我"), ["走线"]);
    }

    #[test]
    fn rejects_malformed_packs_with_the_file_name() {
        let err =
            Lexicon::from_sources([(Path::new("xx.toml"), "[pack]\nlanguage = 1")]).unwrap_err();
        assert!(err.to_string().starts_with("xx.toml:"), "{err}");
        let bad_kind =
            "[pack]\nlanguage=\"en\"\nname=\"x\"\n[[terms]]\nterm=\"a\"\nkind=\"nope\"\nweight=1.0";
        assert!(Lexicon::from_sources([(Path::new("k.toml"), bad_kind)]).is_err());
    }
}
