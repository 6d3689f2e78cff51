//! `breakwater campaigns`: cluster posts into campaigns offline; `breakwater bench
//! campaigns`: the clustering against datasketch on a synthetic set with planted campaigns.
//!
//! Input is what `scan` reads (JSONL, or CSV with a `text` column) or what it writes: each
//! record needs an `id` and a `text` or `entities`. `entities` (`[{"kind", "value"}]`) and
//! image digests in `media` (`[{"md5", "sha256", "pdq"}]`) are links; records without
//! `entities` have theirs found in the text. `author` and `created_at` give each campaign its
//! accounts and first and last times. A bad record is reported on stderr and skipped.

use crate::scan::{Batches, Format, Record, MAX_LINE_BYTES};
use crate::UsageError;
use anyhow::Context;
use breakwater_campaigns::bench::{generate, pairwise_scores, BenchConfig, PairScores};
use breakwater_campaigns::cluster::{CampaignId, ClusterConfig, Clusterer, Post};
use breakwater_campaigns::link::{Link, LinkKind};
use breakwater_campaigns::template::{Slot, Template};
use breakwater_campaigns::tokens::{shingle_texts, tokenize};
use breakwater_core::{format_rfc3339_ms, parse_rfc3339_ms};
use breakwater_text::entities::{EntityExtractor, Original};
use breakwater_text::gazetteer::Gazetteer;
use breakwater_text::normalize::fold;
use serde_json::Value;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

#[derive(clap::Args)]
pub struct CampaignsArgs {
    /// Input file: scan input or output (JSONL, or CSV with a `text` column); `-` for stdin.
    input: PathBuf,
    /// Write campaigns here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Jaccard similarity of two posts' shingle sets at which they are one template.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Smallest campaign written.
    #[arg(long, default_value_t = 2)]
    min_size: usize,
    /// Do not merge campaigns that share a phone, handle, link, wallet or image.
    #[arg(long)]
    no_links: bool,
    /// Never show a progress bar.
    #[arg(long)]
    quiet: bool,
}

/// One record, as the clusterer and the template need it.
struct InputPost {
    id: String,
    text: String,
    links: Vec<Link>,
    author: Option<String>,
    seen_at: Option<i64>,
}

pub fn run(args: CampaignsArgs) -> anyhow::Result<ExitCode> {
    let config = ClusterConfig {
        threshold: args.threshold,
        merge_on_links: !args.no_links,
        ..ClusterConfig::default()
    };
    let mut clusterer = Clusterer::new(config).map_err(|e| UsageError(e.to_string()))?;
    let stdin = args.input.as_os_str() == "-";
    let (reader, total): (Box<dyn Read + Send>, Option<u64>) = if stdin {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(&args.input)
            .map_err(|e| UsageError(format!("cannot open {}: {e}", args.input.display())))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    let format = if args
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        Format::Csv
    } else {
        Format::Jsonl
    };
    let progress = progress_bar(
        args.quiet,
        total,
        "{spinner} {bytes}/{total_bytes} {wide_bar} {per_sec} {msg}",
    );
    let extractor = EntityExtractor::new(Gazetteer::empty());
    // Texts are kept by insertion number for the templates.
    let mut texts: Vec<String> = Vec::new();
    let (mut bad, mut posts) = (0usize, 0usize);
    let mut batches = Batches::new(reader, format)?;
    while let Some((batch, bytes)) = batches.next_batch()? {
        for numbered in batch {
            match read_record(numbered.record, &extractor) {
                Ok(record) => {
                    let before = clusterer.len();
                    clusterer.add_post(&Post {
                        id: &record.id,
                        text: &record.text,
                        links: &record.links,
                        account: record.author.as_deref(),
                        seen_at: record.seen_at,
                    });
                    if clusterer.len() > before {
                        texts.push(record.text);
                        posts += 1;
                    }
                }
                Err(message) => {
                    bad += 1;
                    progress
                        .suspend(|| eprintln!("breakwater: line {}: {message}", numbered.number));
                }
            }
        }
        progress.inc(bytes);
        progress.set_message(format!("{posts} posts"));
    }
    progress.finish_and_clear();

    let campaigns = clusterer.campaigns(args.min_size.max(1));
    let progress = progress_bar(
        args.quiet,
        Some(campaigns.len() as u64),
        "{spinner} templates {pos}/{len} {wide_bar}",
    );
    let out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(out);
    let mut in_campaigns = 0usize;
    for campaign in &campaigns {
        in_campaigns += campaign.members.len();
        let member_texts: Vec<&str> = campaign
            .members
            .iter()
            .filter_map(|id| clusterer.position(id))
            .map(|i| texts[i].as_str())
            .filter(|t| !t.trim().is_empty())
            .collect();
        let template = Template::build(&member_texts);
        let line = CampaignLine {
            campaign: campaign.id,
            size: campaign.members.len(),
            members: &campaign.members,
            template: template.as_ref().map(|t| t.text.as_str()),
            slots: template.as_ref().map_or(&[][..], |t| &t.slots[..]),
            entities: &campaign.links,
            accounts: &campaign.accounts,
            first_seen: campaign.first_seen.map(format_rfc3339_ms),
            last_seen: campaign.last_seen.map(format_rfc3339_ms),
        };
        serde_json::to_writer(&mut out, &line).context("writing output")?;
        out.write_all(b"\n").context("writing output")?;
        progress.inc(1);
    }
    out.flush().context("writing output")?;
    progress.finish_and_clear();
    eprintln!(
        "clustered {posts} posts: {} campaigns of {} or more posts ({in_campaigns} posts), {bad} bad records",
        campaigns.len(),
        args.min_size.max(1)
    );
    Ok(ExitCode::SUCCESS)
}

/// One line of output.
#[derive(serde::Serialize)]
struct CampaignLine<'a> {
    campaign: CampaignId,
    size: usize,
    members: &'a [String],
    template: Option<&'a str>,
    slots: &'a [Slot],
    entities: &'a [Link],
    accounts: &'a [String],
    first_seen: Option<String>,
    last_seen: Option<String>,
}

fn progress_bar(quiet: bool, total: Option<u64>, template: &str) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Reads one record; the error says what is wrong with it.
fn read_record(record: Record, extractor: &EntityExtractor) -> Result<InputPost, String> {
    let value: Value = match record {
        Record::Line(bytes) => {
            if bytes.len() > MAX_LINE_BYTES {
                return Err(format!("line longer than {MAX_LINE_BYTES} bytes"));
            }
            serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON: {e}"))?
        }
        Record::Row(row) => row?,
    };
    let Value::Object(map) = value else {
        return Err("expected a JSON object".into());
    };
    let id = match map.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("missing or empty `id`".into()),
    };
    let text = match map.get("text") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("`text` must be a string".into()),
    };
    let string = |field: &str| {
        map.get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let seen_at = match string("created_at") {
        Some(ts) => Some(
            parse_rfc3339_ms(ts).ok_or_else(|| format!("`created_at` is not RFC 3339: {ts}"))?,
        ),
        None => None,
    };
    let mut links = Vec::new();
    match map.get("entities") {
        Some(Value::Array(entities)) => {
            for entity in entities {
                let (Some(kind), Some(value)) = (
                    entity.get("kind").and_then(Value::as_str),
                    entity.get("value").and_then(Value::as_str),
                ) else {
                    return Err("each entity needs a `kind` and a `value`".into());
                };
                // Prices, places and routes are entities but not links.
                if let Ok(kind) = kind.parse::<LinkKind>() {
                    links.push(Link::new(kind, value).map_err(|e| e.to_string())?);
                }
            }
        }
        None | Some(Value::Null) if !text.trim().is_empty() => {
            let language = string("lang").unwrap_or("");
            let primary = language.split(['-', '_']).next().unwrap_or("");
            let found = extractor.extract(&Original::new(&text), &fold(&text), primary);
            links.extend(found.iter().filter_map(Link::from_entity));
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err("`entities` must be an array".into()),
    }
    // Scan output lists image digests; scan input lists file names, which are not links.
    if let Some(Value::Array(media)) = map.get("media") {
        for digest in media.iter().filter_map(Value::as_object) {
            for (field, kind) in [
                ("md5", LinkKind::Md5),
                ("sha256", LinkKind::Sha256),
                ("pdq", LinkKind::Pdq),
            ] {
                if let Some(hash) = digest.get(field).and_then(Value::as_str) {
                    links.extend(Link::new(kind, hash).ok());
                }
            }
        }
    }
    if text.trim().is_empty() && links.is_empty() {
        return Err("no `text` and no `entities`".into());
    }
    links.sort();
    links.dedup();
    Ok(InputPost {
        id,
        text,
        links,
        author: string("author").map(str::to_string),
        seen_at,
    })
}

#[derive(clap::Args)]
pub struct BenchCampaignsArgs {
    /// Posts to generate (half of them in planted campaigns).
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    /// Similarity threshold, for both implementations.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Seed of the synthetic set.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Python with datasketch for the peer; default: target/bench-venv/bin/python.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Measure only Breakwater.
    #[arg(long)]
    no_peer: bool,
}

/// Generates the set, clusters it with text alone (as the peer does) and with links, runs
/// the datasketch peer on the same shingles, and prints throughput and pairwise scores.
pub fn bench(args: BenchCampaignsArgs) -> anyhow::Result<ExitCode> {
    let config = ClusterConfig {
        threshold: args.threshold,
        ..ClusterConfig::default()
    };
    config.validate().map_err(|e| UsageError(e.to_string()))?;
    let started = Instant::now();
    let set = generate(&BenchConfig {
        items: args.items,
        seed: args.seed,
        ..BenchConfig::default()
    });
    let truth = set.truth();
    let planted = set.items.iter().filter(|i| i.campaign.is_some()).count();
    println!(
        "synthetic set: {} posts, {} planted campaigns holding {planted} posts (generated in {:.1} s)",
        set.items.len(),
        set.campaigns,
        started.elapsed().as_secs_f64()
    );
    let run = |merge_on_links: bool| -> anyhow::Result<(f64, PairScores)> {
        let mut clusterer = Clusterer::new(ClusterConfig {
            merge_on_links,
            ..config.clone()
        })?;
        let started = Instant::now();
        for item in &set.items {
            clusterer.add_post(&Post {
                id: &item.id,
                text: &item.text,
                links: if merge_on_links { &item.links } else { &[] },
                account: Some(&item.account),
                seen_at: Some(item.seen_at),
            });
        }
        let rate = set.items.len() as f64 / started.elapsed().as_secs_f64();
        Ok((rate, pairwise_scores(&clusterer.assignments(), &truth)))
    };
    let (rate, ours) = run(false)?;
    let (bands, rows) = config.lsh_params();
    println!(
        "breakwater, text only: {rate:.0} posts/s on 1 thread, {} (normalisation included)",
        describe(&ours)
    );
    let (rate_links, with_links) = run(true)?;
    println!(
        "breakwater, text and shared contacts: {rate_links:.0} posts/s, {}",
        describe(&with_links)
    );
    if args.no_peer {
        return Ok(ExitCode::SUCCESS);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = args
        .python
        .unwrap_or_else(|| root.join("target/bench-venv/bin/python"));
    if !python.exists() {
        anyhow::bail!(
            "no Python for the peer at {}: run `bash bench/setup-venv.sh datasketch`, or pass --python, or --no-peer",
            python.display()
        );
    }
    let work =
        std::env::temp_dir().join(format!("breakwater-bench-campaigns-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let shingles_path = work.join("shingles.jsonl");
    let mut shingles = std::io::BufWriter::new(std::fs::File::create(&shingles_path)?);
    for item in &set.items {
        let texts = shingle_texts(&tokenize(&item.text), config.shingle);
        serde_json::to_writer(&mut shingles, &texts)?;
        shingles.write_all(b"\n")?;
    }
    shingles.flush()?;
    drop(shingles);
    let output = Command::new(&python)
        .arg(root.join("bench/campaigns/peer.py"))
        .arg(&shingles_path)
        .arg(config.threshold.to_string())
        .arg(config.num_perm.to_string())
        .arg(bands.to_string())
        .arg(rows.to_string())
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()
        .context("running the datasketch peer")?;
    let _ = std::fs::remove_dir_all(&work);
    if !output.status.success() {
        anyhow::bail!(
            "the peer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let peer: Value = serde_json::from_slice(&output.stdout).context("reading the peer's JSON")?;
    let labels: Vec<u64> = peer["labels"]
        .as_array()
        .context("the peer gave no labels")?
        .iter()
        .map(|l| l.as_u64().unwrap_or(u64::MAX))
        .collect();
    if labels.len() != truth.len() {
        anyhow::bail!(
            "the peer labelled {} posts of {}",
            labels.len(),
            truth.len()
        );
    }
    let peer_scores = pairwise_scores(&labels, &truth);
    let peer_rate = peer["items_per_second"].as_f64().unwrap_or(f64::NAN);
    println!(
        "{}: {peer_rate:.0} posts/s on 1 thread, {} (shingles given)",
        peer["implementation"].as_str().unwrap_or("datasketch"),
        describe(&peer_scores)
    );
    println!(
        "same shingles ({}-token), threshold {}, {} permutations, {bands} bands of {rows} rows: breakwater {:.1}x faster, F1 {:.4} vs {:.4}",
        config.shingle,
        config.threshold,
        config.num_perm,
        rate / peer_rate,
        ours.f1,
        peer_scores.f1
    );
    Ok(ExitCode::SUCCESS)
}

fn describe(s: &PairScores) -> String {
    format!(
        "pairwise F1 {:.4} (precision {:.4}, recall {:.4})",
        s.f1, s.precision, s.recall
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(line: &str) -> Result<InputPost, String> {
        let extractor = EntityExtractor::new(Gazetteer::empty());
        read_record(Record::Line(line.as_bytes().to_vec()), &extractor)
    }

    fn links(post: &InputPost) -> Vec<String> {
        post.links.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_scan_input_and_finds_contacts_in_the_text() {
        let post = read(
            r#"{"id": 12, "text": "call +44 7911 123456 or t.me/boza_vip", "author": "a", "created_at": "2026-03-01T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(post.id, "12");
        assert_eq!(post.author.as_deref(), Some("a"));
        assert_eq!(post.seen_at, parse_rfc3339_ms("2026-03-01T10:00:00Z"));
        assert!(
            links(&post).contains(&"phone:+447911123456".to_string()),
            "{:?}",
            links(&post)
        );
    }

    #[test]
    fn reads_scan_output_entities_and_image_digests() {
        let post = read(
            r#"{"id": "x", "entities": [{"kind": "handle", "value": "telegram:boza"}, {"kind": "price", "value": "1500 GBP"}],
                "media": [{"name": "a.jpg", "md5": "0123456789ABCDEF0123456789ABCDEF"}]}"#,
        )
        .unwrap();
        assert_eq!(
            links(&post),
            [
                "handle:telegram:boza",
                "md5:0123456789abcdef0123456789abcdef"
            ]
        );
    }

    #[test]
    fn reports_bad_records() {
        for (line, message) in [
            ("[1]", "expected a JSON object"),
            (r#"{"text": "x"}"#, "missing or empty `id`"),
            (r#"{"id": "1"}"#, "no `text` and no `entities`"),
            (r#"{"id": "1", "text": 3}"#, "`text` must be a string"),
            (
                r#"{"id": "1", "text": "x", "created_at": "monday"}"#,
                "`created_at` is not RFC 3339: monday",
            ),
            (
                r#"{"id": "1", "entities": [{"kind": "phone"}]}"#,
                "each entity needs a `kind` and a `value`",
            ),
        ] {
            assert_eq!(read(line).err().as_deref(), Some(message), "{line}");
        }
    }
}
