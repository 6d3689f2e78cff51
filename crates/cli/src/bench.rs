//! `breakwater bench`: throughput measured side by side with a peer, in one run.

use anyhow::Context;
use breakwater_core::Item;
use breakwater_text::corpus;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Posts per second of the detection pipeline, single-threaded and on all cores,
    /// against a scikit-learn char n-gram TF-IDF + logistic regression peer.
    Scan {
        /// Items to classify (the corpus, repeated).
        #[arg(long, default_value_t = 20_000)]
        items: usize,
        /// Python with scikit-learn for the peer; default: target/bench-venv/bin/python.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Measure only Breakwater.
        #[arg(long)]
        no_peer: bool,
    },
    /// PDQ hashing and index against pdqhash and faiss (runs bench/pdq/run.sh).
    Pdq,
    /// Campaign clustering against datasketch MinHashLSH on synthetic posts with planted
    /// campaigns: posts/s and pairwise F1 of each (`bash bench/setup-venv.sh datasketch` first).
    Campaigns(crate::campaigns::BenchCampaignsArgs),
    /// Open-loop load on `POST /v1/interventions` over loopback (target: p99 under 5 ms
    /// at 1,000 requests/s); the same generator as `bench api`.
    Interventions {
        /// Requests started per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Open-loop load on the API over loopback: throughput and p50/p99 latency.
    Api {
        #[arg(long, value_enum, default_value = "classify")]
        endpoint: crate::load::Endpoint,
        /// Requests started per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

pub fn run(data: Option<&Path>, cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Scan {
            items,
            python,
            no_peer,
        } => scan(data, items, python, no_peer),
        BenchCommand::Api {
            endpoint,
            rate,
            seconds,
        } => crate::load::run(data, endpoint, rate, seconds),
        BenchCommand::Interventions { rate, seconds } => {
            crate::load::run(data, crate::load::Endpoint::Interventions, rate, seconds)
        }
        BenchCommand::Campaigns(args) => crate::campaigns::bench(args),
        BenchCommand::Pdq => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let status = Command::new("bash")
                .arg(root.join("bench/pdq/run.sh"))
                .current_dir(&root)
                .status()?;
            Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn scan(
    data: Option<&Path>,
    n: usize,
    python: Option<PathBuf>,
    no_peer: bool,
) -> anyhow::Result<ExitCode> {
    let dir = breakwater_pipeline::find_data_dir(data)?;
    let pipeline = crate::load_pipeline(Some(&dir))?;
    let examples = corpus::read_dir(&dir.join("corpus"))?;
    let items: Vec<Item> = examples
        .iter()
        .cycle()
        .take(n)
        .enumerate()
        .map(|(i, e)| Item {
            id: i.to_string(),
            text: e.text.clone(),
            ..Item::default()
        })
        .collect();
    let work = std::env::temp_dir().join(format!("breakwater-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let texts_path = work.join("texts.jsonl");
    let mut texts = String::new();
    for item in &items {
        texts.push_str(&serde_json::to_string(&item.text)?);
        texts.push('\n');
    }
    std::fs::write(&texts_path, texts)?;

    // Warm up, then one thread.
    for item in items.iter().take(500) {
        std::hint::black_box(pipeline.assess(item));
    }
    let started = Instant::now();
    for item in &items {
        std::hint::black_box(pipeline.assess(item));
    }
    let single = items.len() as f64 / started.elapsed().as_secs_f64();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in items.chunks(items.len().div_ceil(threads)) {
            let pipeline = &pipeline;
            scope.spawn(move || {
                for item in part {
                    std::hint::black_box(pipeline.assess(item));
                }
            });
        }
    });
    let parallel = items.len() as f64 / started.elapsed().as_secs_f64();
    println!("breakwater scan pipeline: {single:.0} posts/s on 1 thread, {parallel:.0} posts/s on {threads} threads ({} items)", items.len());

    if no_peer {
        return Ok(ExitCode::SUCCESS);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = python.unwrap_or_else(|| root.join("target/bench-venv/bin/python"));
    if !python.exists() {
        anyhow::bail!(
            "no Python for the peer at {}: run bench/setup-venv.sh, or pass --python, or --no-peer",
            python.display()
        );
    }
    let train_path = work.join("train.jsonl");
    let mut train = String::new();
    for e in examples.iter().filter(|e| !e.is_heldout()) {
        train.push_str(&serde_json::to_string(
            &serde_json::json!({"text": e.text, "label": e.label}),
        )?);
        train.push('\n');
    }
    std::fs::write(&train_path, train)?;
    let output = Command::new(&python)
        .arg(root.join("bench/scan/peer.py"))
        .arg(&train_path)
        .arg(&texts_path)
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()
        .context("running the scikit-learn peer")?;
    if !output.status.success() {
        anyhow::bail!(
            "the peer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let peer: Value = serde_json::from_slice(&output.stdout).context("reading the peer's JSON")?;
    let peer_rate = peer["posts_per_second"].as_f64().unwrap_or(f64::NAN);
    println!(
        "scikit-learn peer ({}): {peer_rate:.0} posts/s on 1 thread",
        peer["pipeline"].as_str().unwrap_or("?")
    );
    println!(
        "ratio, single-threaded: {:.1}x; all cores vs peer: {:.1}x",
        single / peer_rate,
        parallel / peer_rate
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(ExitCode::SUCCESS)
}
