//! Benchmark: PDQ hashing of the reference images, and `PdqIndex` range queries.
//!
//! ```text
//! cargo run --release -p breakwater-media --example pdq_bench -- \
//!     [--n 1000000] [--queries 1000] [--t 31] [--planted 4] [--max-planted-distance 40] \
//!     [--rounds 3] [--seed 42] [--data DIR] [--out DIR] [--skip-images]
//! ```
//!
//! Writes to `--out` (default `<workspace>/target/pdq-bench`), for `bench/pdq/peer.py`:
//! - `haystack.bin`: `n` hashes, 32 bytes each (the hex form's bytes), id = position;
//! - `queries.bin`: the query hashes, same layout;
//! - `rust_results.txt`: for each query, the matching ids (ascending), space-separated;
//! - `images.txt`: absolute paths of the images hashed; `rust_image_hashes.csv`;
//! - `rust.json`: the measurements (also printed on stdout).
//!
//! Single-threaded throughout. Hashes are uniformly random 256-bit strings, plus `planted`
//! near-duplicates of each query at distances drawn uniformly from `0..=max-planted-distance`,
//! written over random positions of the haystack.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use breakwater_media::{decode_rgb, DecodeLimits, PdqHash, PdqIndex};

struct Args {
    n: usize,
    queries: usize,
    t: u32,
    planted: usize,
    max_planted_distance: usize,
    rounds: usize,
    seed: u64,
    data: PathBuf,
    out: PathBuf,
    skip_images: bool,
}

fn parse_args() -> Args {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        n: 1_000_000,
        queries: 1000,
        t: 31,
        planted: 4,
        max_planted_distance: 40,
        rounds: 3,
        seed: 42,
        data: manifest.join("../../../shared/testdata/pdq"),
        out: manifest.join("../../target/pdq-bench"),
        skip_images: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--skip-images" {
            a.skip_images = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            eprintln!("see the comment at the top of crates/media/examples/pdq_bench.rs");
            std::process::exit(0);
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let num = || -> u64 {
            value
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--n" => a.n = num() as usize,
            "--queries" => a.queries = num() as usize,
            "--t" => a.t = num() as u32,
            "--planted" => a.planted = num() as usize,
            "--max-planted-distance" => a.max_planted_distance = num() as usize,
            "--rounds" => a.rounds = (num() as usize).max(1),
            "--seed" => a.seed = num(),
            "--data" => a.data = PathBuf::from(&value),
            "--out" => a.out = PathBuf::from(&value),
            _ => panic!("unknown flag {flag}"),
        }
    }
    a
}

/// SplitMix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn hash(&mut self) -> PdqHash {
        PdqHash::from_words([self.next(), self.next(), self.next(), self.next()])
    }
    fn near(&mut self, h: &PdqHash, k: usize) -> PdqHash {
        let mut w = h.to_words();
        let mut flipped = [false; 256];
        let mut done = 0;
        while done < k {
            let b = self.below(256);
            if !flipped[b] {
                flipped[b] = true;
                w[b / 64] ^= 1 << (b % 64);
                done += 1;
            }
        }
        PdqHash::from_words(w)
    }
}

/// Resident set size in bytes (Linux), for a sanity check of `memory_bytes()`.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn write_hashes(path: &Path, hashes: &[PdqHash]) {
    let mut bytes = Vec::with_capacity(hashes.len() * 32);
    for h in hashes {
        bytes.extend_from_slice(&h.0);
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn bench_images(a: &Args, json: &mut String) {
    let csv = a.data.join("computed-pdqhash-0.2.8.csv");
    let text = std::fs::read_to_string(&csv).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); pass --data or --skip-images",
            csv.display()
        )
    });
    let paths: Vec<PathBuf> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .map(|p| a.data.join(p).canonicalize().expect("image path exists"))
        .collect();
    let files: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let limits = DecodeLimits::default();
    let mut listing = String::new();
    let mut hashes = String::from("path,pdq,quality\n");
    let mut megapixels = 0.0;
    // Warm-up round, which also records our hashes.
    for (p, bytes) in paths.iter().zip(&files) {
        let img = decode_rgb(bytes, &limits).expect("reference image decodes");
        megapixels += f64::from(img.width) * f64::from(img.height) / 1e6;
        let r = img.pdq_dct().result();
        writeln!(listing, "{}", p.display()).unwrap();
        writeln!(hashes, "{},{},{}", p.display(), r.hash, r.quality).unwrap();
    }
    std::fs::write(a.out.join("images.txt"), listing).unwrap();
    std::fs::write(a.out.join("rust_image_hashes.csv"), hashes).unwrap();

    let (mut decode_s, mut hash_s) = (0.0, 0.0);
    let mut sink = 0u32;
    for _ in 0..a.rounds {
        for bytes in &files {
            let t0 = Instant::now();
            let img = decode_rgb(bytes, &limits).unwrap();
            let t1 = Instant::now();
            let r = img.pdq_dct().result();
            let t2 = Instant::now();
            sink = sink.wrapping_add(u32::from(r.quality));
            decode_s += (t1 - t0).as_secs_f64();
            hash_s += (t2 - t1).as_secs_f64();
        }
    }
    let n = (files.len() * a.rounds) as f64;
    let total = decode_s + hash_s;
    eprintln!(
        "images: {} files ({:.1} MP), {} rounds: {:.1} images/s (decode {:.1} ms/image, \
         PDQ {:.1} ms/image) [{sink}]",
        files.len(),
        megapixels,
        a.rounds,
        n / total,
        1e3 * decode_s / n,
        1e3 * hash_s / n
    );
    write!(
        json,
        "\"images\": {{\"files\": {}, \"megapixels\": {:.3}, \"rounds\": {}, \
         \"images_per_s\": {:.3}, \"decode_ms_per_image\": {:.3}, \"pdq_ms_per_image\": {:.3}, \
         \"pdq_only_images_per_s\": {:.3}}}, ",
        files.len(),
        megapixels,
        a.rounds,
        n / total,
        1e3 * decode_s / n,
        1e3 * hash_s / n,
        n / hash_s
    )
    .unwrap();
}

fn bench_index(a: &Args, json: &mut String) {
    let mut rng = Rng(a.seed);
    let mut haystack: Vec<PdqHash> = (0..a.n).map(|_| rng.hash()).collect();
    let queries: Vec<PdqHash> = (0..a.queries).map(|_| rng.hash()).collect();
    for q in &queries {
        for _ in 0..a.planted {
            let pos = rng.below(a.n);
            let k = rng.below(a.max_planted_distance + 1);
            haystack[pos] = rng.near(q, k);
        }
    }
    write_hashes(&a.out.join("haystack.bin"), &haystack);
    write_hashes(&a.out.join("queries.bin"), &queries);

    let rss0 = rss_bytes();
    let t0 = Instant::now();
    let mut index: PdqIndex = haystack
        .iter()
        .enumerate()
        .map(|(i, h)| (i as u64, *h))
        .collect();
    let build_s = t0.elapsed().as_secs_f64();
    let rss1 = rss_bytes();
    let memory = index.memory_bytes();
    let per_hash = memory as f64 / a.n as f64;
    eprintln!(
        "index: {} hashes built in {:.2} s; memory_bytes {:.1} MB ({:.1} B/hash; RSS grew \
         {:.1} MB); 10M hashes ≈ {:.2} GB",
        a.n,
        build_s,
        memory as f64 / 1e6,
        per_hash,
        match (rss0, rss1) {
            (Some(a), Some(b)) => (b.saturating_sub(a)) as f64 / 1e6,
            _ => f64::NAN,
        },
        per_hash * 1e7 / 1e9
    );

    // Timed queries.
    let t0 = Instant::now();
    let results: Vec<Vec<(u64, u32)>> = queries.iter().map(|q| index.query(q, a.t)).collect();
    let query_s = t0.elapsed().as_secs_f64();
    // Ground truth by linear scan (also timed).
    let t0 = Instant::now();
    let truth: Vec<Vec<(u64, u32)>> = queries.iter().map(|q| index.query_linear(q, a.t)).collect();
    let linear_s = t0.elapsed().as_secs_f64();
    let true_total: usize = truth.iter().map(Vec::len).sum();
    let found_total: usize = results
        .iter()
        .zip(&truth)
        .map(|(r, t)| r.iter().filter(|x| t.contains(x)).count())
        .sum();
    let identical = results == truth;
    let recall = if true_total == 0 {
        1.0
    } else {
        found_total as f64 / true_total as f64
    };
    let mut lines = String::new();
    for r in &results {
        let mut ids: Vec<u64> = r.iter().map(|&(id, _)| id).collect();
        ids.sort_unstable();
        let strs: Vec<String> = ids.iter().map(u64::to_string).collect();
        writeln!(lines, "{}", strs.join(" ")).unwrap();
    }
    std::fs::write(a.out.join("rust_results.txt"), lines).unwrap();
    let qps = a.queries as f64 / query_s;
    let linear_qps = a.queries as f64 / linear_s;
    eprintln!(
        "queries: {} at t={}: {:.0} queries/s ({:.1} µs/query); linear scan {:.0} queries/s; \
         {} true matches, recall {:.6}, identical to linear: {}",
        a.queries,
        a.t,
        qps,
        1e6 / qps,
        linear_qps,
        true_total,
        recall,
        identical
    );
    assert!(identical, "index results differ from the linear scan");

    // Incremental updates on the built index.
    // Enough inserts to fill and merge the pending tail several times.
    let extra = 20_000;
    let t0 = Instant::now();
    for i in 0..extra {
        index.insert((a.n + i) as u64, rng.hash());
    }
    let insert_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    for i in 0..extra {
        index.remove((a.n + i) as u64);
    }
    let remove_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "updates: {:.0} inserts/s, {:.0} removes/s ({extra} each, including tail merges); \
         memory_bytes after them {:.1} MB",
        extra as f64 / insert_s,
        extra as f64 / remove_s,
        index.memory_bytes() as f64 / 1e6
    );

    write!(
        json,
        "\"index\": {{\"n\": {}, \"queries\": {}, \"t\": {}, \"planted_per_query\": {}, \
         \"build_s\": {:.4}, \"memory_bytes\": {}, \"bytes_per_hash\": {:.2}, \
         \"memory_10m_gb\": {:.3}, \"rss_growth_bytes\": {}, \"queries_per_s\": {:.2}, \
         \"linear_queries_per_s\": {:.2}, \"true_matches\": {}, \"found\": {}, \
         \"recall\": {:.6}, \"identical_to_linear\": {}, \"inserts_per_s\": {:.0}, \
         \"removes_per_s\": {:.0}}}",
        a.n,
        a.queries,
        a.t,
        a.planted,
        build_s,
        memory,
        per_hash,
        per_hash * 1e7 / 1e9,
        match (rss0, rss1) {
            (Some(a), Some(b)) => b.saturating_sub(a).to_string(),
            _ => "null".to_string(),
        },
        qps,
        linear_qps,
        true_total,
        found_total,
        recall,
        identical,
        extra as f64 / insert_s,
        extra as f64 / remove_s
    )
    .unwrap();
}

fn main() {
    let a = parse_args();
    std::fs::create_dir_all(&a.out).expect("create output directory");
    let mut json = String::from("{");
    if !a.skip_images {
        bench_images(&a, &mut json);
    }
    bench_index(&a, &mut json);
    json.push('}');
    std::fs::write(a.out.join("rust.json"), &json).unwrap();
    println!("{json}");
}
