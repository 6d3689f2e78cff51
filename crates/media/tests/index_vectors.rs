//! The reference's needle/haystack lists through `PdqIndex`, against brute force.
//!
//! `needles.txt` (100 hashes) and `haystack.txt` (1 350 hashes, chains of gradually mutated
//! hashes) are the reference's MIH regression inputs: one 64-hex-digit hash per line.

mod common;

use breakwater_media::{IndexConfig, PdqHash, PdqIndex};

fn read_hashes(name: &str) -> Vec<PdqHash> {
    let path = common::pdq_data_dir()
        .join("pdq/data/reg-test-input")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Tolerate a trailing comment field, as some reference lists carry one.
            let hex = l.split([',', ' ', '\t']).next().unwrap_or("");
            hex.parse()
                .unwrap_or_else(|e| panic!("{name}: bad line {l:?}: {e}"))
        })
        .collect()
}

fn brute(haystack: &[PdqHash], q: &PdqHash, t: u32) -> Vec<(u64, u32)> {
    let mut v: Vec<(u64, u32)> = haystack
        .iter()
        .enumerate()
        .map(|(i, h)| (i as u64, h.hamming_distance(q)))
        .filter(|&(_, d)| d <= t)
        .collect();
    v.sort_unstable_by_key(|&(id, d)| (d, id));
    v
}

#[test]
fn needles_in_haystack_match_brute_force() {
    let needles = read_hashes("needles.txt");
    let haystack = read_hashes("haystack.txt");
    assert_eq!(needles.len(), 100);
    assert_eq!(haystack.len(), 1350);

    let build = |config: IndexConfig| {
        let mut index = PdqIndex::with_config(config);
        index.extend(haystack.iter().enumerate().map(|(i, h)| (i as u64, *h)));
        index
    };
    // Default configuration: at this size the cost model picks the linear scan.
    let index = build(IndexConfig::default());
    // Chunk tables forced, for t <= 31 and for t <= 64.
    let tables = build(IndexConfig {
        auto_linear: false,
        ..IndexConfig::default()
    });
    let wide = build(IndexConfig {
        max_mih_distance: 64,
        auto_linear: false,
    });
    let mut total = 0;
    let mut needles_with_match = 0;
    for t in [0u32, 10, 16, 31, 32, 45, 63, 64] {
        let mut at_t = 0;
        for q in &needles {
            let expect = brute(&haystack, q, t);
            assert_eq!(index.query(q, t), expect, "t={t} needle {q}");
            assert_eq!(tables.query(q, t), expect, "t={t} needle {q} (tables)");
            assert_eq!(
                wide.query(q, t),
                expect,
                "t={t} needle {q} (max_mih_distance 64)"
            );
            at_t += expect.len();
            if t == 31 && !expect.is_empty() {
                needles_with_match += 1;
            }
        }
        eprintln!("t={t}: {at_t} (needle, haystack) pairs within distance");
        total += at_t;
    }
    eprintln!("t=31: {needles_with_match} of 100 needles have a match");
    assert!(
        needles_with_match > 0,
        "the lists are meant to contain matches at t=31"
    );
    assert!(total > 0);
}
