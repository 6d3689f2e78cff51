//! Our PDQ against the reference implementation's outputs on the shared test images.
//!
//! Criterion (the PDQ authors' own, for a new implementation with a different image decoder):
//! on images of reference quality >= 80, Hamming distance <= 10 and quality within 2.

mod common;

use breakwater_media::{hash_file, hash_file_dihedral, DecodeLimits, PdqHash};

const MAX_DISTANCE: u32 = 10;
const MAX_QUALITY_DIFF: i32 = 2;

/// Rows of `computed-pdqhash-0.2.8.csv` whose reference hash was computed without colour
/// conversion: the generator passed Pillow's raw array to `pdqhash`, i.e. the C, M, Y planes
/// of `CMYK.jpg` as if they were R, G, B (an inverted image: its hash is the exact bitwise
/// complement of the right one) and the palette *indices* of `P.png` as grey levels. (It did
/// the same to `1.png`, 0/1 values, hence its quality 0; that row is below 80 and unchecked.)
/// The values here are what `pdqhash` 0.2.8 gives after Pillow's `convert("RGB")`, which is
/// the reference pipeline; verified with Pillow 13.0.0 and numpy 2.4.
const CORRECTED: &[(&str, &str)] = &[
    (
        "pdq/data/misc-images/modes/CMYK.jpg",
        "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596221e1d33e6b39c4e9c9b22",
    ),
    (
        "pdq/data/misc-images/modes/P.png",
        "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596221e1d33e6b39c4e9c9b22",
    ),
];

#[test]
fn hashes_match_pdqhash_reference() {
    let dir = common::pdq_data_dir();
    let rows = common::read_csv(&dir.join("computed-pdqhash-0.2.8.csv"));
    assert!(
        rows.len() >= 50,
        "expected the full reference list, got {}",
        rows.len()
    );
    let limits = DecodeLimits::default();
    let (mut checked, mut max_d, mut max_q) = (0, 0u32, 0i32);
    let mut failures = Vec::new();
    for row in &rows {
        let path = dir.join(&row["path"]);
        let csv_hash: PdqHash = row["pdq"].parse().expect("reference hash parses");
        let ref_hash = match CORRECTED.iter().find(|(p, _)| *p == row["path"]) {
            Some((_, fixed)) => {
                eprintln!("{}: using the corrected reference {fixed}", row["path"]);
                fixed.parse().expect("corrected hash parses")
            }
            None => csv_hash,
        };
        let ref_quality: i32 = row["quality"].parse().expect("reference quality parses");
        let ours = match hash_file(&path, &limits) {
            Ok(h) => h,
            Err(e) => {
                failures.push(format!("{}: error {e}", row["path"]));
                continue;
            }
        };
        // The MD5 column is of the file bytes: must match exactly for every row.
        assert_eq!(ours.md5, row["md5"], "md5 of {}", row["path"]);
        let d = ours.pdq.hamming_distance(&ref_hash);
        let qd = (i32::from(ours.quality) - ref_quality).abs();
        eprintln!(
            "{:<80} d={:>3} q={:>3} ref_q={:>3}{}",
            row["path"],
            d,
            ours.quality,
            ref_quality,
            if ref_quality < 80 {
                "  (not checked: reference quality < 80)"
            } else {
                ""
            }
        );
        if ref_quality < 80 {
            continue;
        }
        checked += 1;
        max_d = max_d.max(d);
        max_q = max_q.max(qd);
        if d > MAX_DISTANCE || qd > MAX_QUALITY_DIFF {
            failures.push(format!(
                "{}: distance {d}, quality {} vs reference {ref_quality}",
                row["path"], ours.quality
            ));
        }
    }
    eprintln!(
        "checked {checked} images of reference quality >= 80: {} passed, max distance {max_d}, \
         max quality difference {max_q}",
        checked - failures.len()
    );
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
    assert!(checked >= 45, "only {checked} images checked");
}

#[test]
fn dihedral_variants_match_rotated_files() {
    let dir = common::pdq_data_dir().join("pdq/data/reg-test-input/dih");
    let files = [
        "bridge-1-original.jpg",
        "bridge-2-rotate-90.jpg",
        "bridge-3-rotate-180.jpg",
        "bridge-4-rotate-270.jpg",
        "bridge-5-flipx.jpg",
        "bridge-6-flipy.jpg",
        "bridge-7-flip-plus-1.jpg",
        "bridge-8-flip-minus-1.jpg",
    ];
    let limits = DecodeLimits::default();
    let original = hash_file_dihedral(dir.join(files[0]), &limits).expect("original decodes");
    assert_eq!(original.dihedral[0], original.file.pdq);
    let mut max_d = 0;
    for (k, name) in files.iter().enumerate() {
        let file = hash_file(dir.join(name), &limits).expect("variant decodes");
        let d = original.dihedral[k].hamming_distance(&file.pdq);
        eprintln!("{name}: dihedral variant {k} vs file hash: distance {d}");
        max_d = max_d.max(d);
        assert!(d <= MAX_DISTANCE, "{name}: distance {d}");
        // And the variant is far from the other orientations (they are not all alike).
        for (j, other) in original.dihedral.iter().enumerate() {
            if j != k {
                assert!(
                    other.hamming_distance(&file.pdq) > 40,
                    "{name} vs variant {j}"
                );
            }
        }
    }
    eprintln!("dihedral: max distance {max_d}");
}
