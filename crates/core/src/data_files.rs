//! Listing the files of a data directory, which every stage loads the same way.

use std::path::{Path, PathBuf};

/// The files in `dir` whose extension is `extension`, sorted by name so that loading
/// order (and so any tie-breaking between files) is the same on every machine.
pub fn data_files(dir: &Path, extension: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    paths.sort();
    Ok(paths)
}
