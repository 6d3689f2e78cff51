//! The labelled corpus under `data/corpus/`, and its fixed training / held-out split.

use breakwater_core::Category;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why a corpus file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// One labelled example.
#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    pub id: String,
    pub text: String,
    pub lang: String,
    /// A category name or `benign`.
    pub label: String,
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default)]
    pub obfuscation: Option<String>,
}

impl Example {
    /// The category, or `None` for benign. Unknown labels are an error at load time.
    pub fn category(&self) -> Option<Category> {
        self.label.parse().ok()
    }

    /// Whether this example is in the held-out split that training never sees.
    pub fn is_heldout(&self) -> bool {
        is_heldout(&self.id)
    }
}

/// The split is a property of the id alone (FNV-1a, one in five held out), so it is the
/// same on every machine and does not move when examples are added.
pub fn is_heldout(id: &str) -> bool {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    h % 5 == 0
}

/// Reads one JSONL file of examples.
pub fn read_file(path: &Path) -> Result<Vec<Example>, CorpusError> {
    let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parse = |message: String| CorpusError::Parse {
            path: path.to_path_buf(),
            line: n + 1,
            message,
        };
        let example: Example = serde_json::from_str(line).map_err(|e| parse(e.to_string()))?;
        if example.label != "benign" && example.category().is_none() {
            return Err(parse(format!("unknown label `{}`", example.label)));
        }
        out.push(example);
    }
    Ok(out)
}

/// Reads every `*.jsonl` file of a directory, in file-name order.
pub fn read_dir(dir: &Path) -> Result<Vec<Example>, CorpusError> {
    let paths = breakwater_core::data_files(dir, "jsonl").map_err(|source| CorpusError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for p in paths {
        out.extend(read_file(&p)?);
    }
    Ok(out)
}

/// Everyday text from the language samples in `data/langid/`, as benign examples: posts
/// about football, food and weather that the classifier must learn to leave alone. The
/// labelled corpus is made of hard cases and would otherwise teach the model that almost
/// everything is about smuggling.
pub fn everyday_examples(langid_dir: &Path) -> Result<Vec<Example>, CorpusError> {
    let paths =
        breakwater_core::data_files(langid_dir, "txt").map_err(|source| CorpusError::Read {
            path: langid_dir.to_path_buf(),
            source,
        })?;
    let mut out = Vec::new();
    for path in paths {
        let code = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| CorpusError::Read {
            path: path.clone(),
            source,
        })?;
        for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            out.push(Example {
                id: format!("everyday-{code}-{n}"),
                text: line.to_string(),
                lang: code.clone(),
                label: "benign".into(),
                subtype: Some("everyday".into()),
                obfuscation: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stable_and_about_one_in_five() {
        let held = (0..10_000)
            .filter(|i| is_heldout(&format!("en-{i:04}")))
            .count();
        assert!((1_700..2_300).contains(&held), "{held}");
        assert_eq!(is_heldout("fr-0042"), is_heldout("fr-0042"));
    }
}
