//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// `shared/testdata/pdq`, found from the crate's manifest directory. Panics (fails the test)
/// if it is missing: these tests are the check that our PDQ agrees with the reference, and
/// silently skipping them would hide a broken checkout.
pub fn pdq_data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pdq");
    assert!(
        dir.join("computed-pdqhash-0.2.8.csv").is_file(),
        "PDQ test data not found at {} (expected the shared/ directory beside the repository, \
         with testdata/pdq/computed-pdqhash-0.2.8.csv); these tests cannot run without it",
        dir.display()
    );
    dir
}

/// Rows of a CSV file with a header line, skipping `#` comment lines. No quoting is used in
/// the test data.
#[allow(dead_code)]
pub fn read_csv(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .expect("CSV has a header")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}
