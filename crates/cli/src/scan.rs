//! `breakwater scan`: classify a JSONL or CSV file offline.
//!
//! Lines are read in batches and assessed on all cores; output keeps input order. A bad
//! line (invalid UTF-8 or JSON, wrong field types, oversized) produces an output line with
//! `"error"` and the run goes on.

use crate::UsageError;
use anyhow::Context;
use breakwater_core::Item;
use breakwater_core::MatchVerdict;
use breakwater_matcher::{parse_signal_file, BankInfo, FileFormat, Matcher, SignalEntry};
use breakwater_media::DecodeLimits;
use breakwater_pipeline::{Media, Pipeline};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Lines longer than this are refused unread: no real post is 4 MiB of JSON.
pub const MAX_LINE_BYTES: usize = 4 << 20;
const BATCH: usize = 1024;

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Input file (JSONL, or CSV with a `text` column); `-` or nothing for stdin.
    input: Option<PathBuf>,
    /// Write results here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Input format; by default from the file extension (`.csv`), else JSONL.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Worker threads; default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Never show a progress bar.
    #[arg(long)]
    quiet: bool,
    /// Match items against the signals of this file (CSV or JSON, as for `bank import`);
    /// repeat for several banks, each named after its file.
    #[arg(long = "bank", value_name = "FILE")]
    banks: Vec<PathBuf>,
    /// Hash the local image files named in each item's `media` (paths relative to the
    /// input file's directory, or to --media-root) and match them too.
    #[arg(long)]
    images: bool,
    /// Where relative `media` paths are resolved; default: the input file's directory.
    #[arg(long, value_name = "DIR")]
    media_root: Option<PathBuf>,
}

/// What every record of a scan is assessed with.
pub struct ScanContext<'a> {
    pub pipeline: &'a Pipeline,
    pub banks: Option<&'a Matcher>,
    /// Set when local images are hashed: the directory relative paths start from.
    pub media_root: Option<PathBuf>,
    pub now: i64,
}

impl<'a> ScanContext<'a> {
    pub fn new(pipeline: &'a Pipeline) -> Self {
        ScanContext {
            pipeline,
            banks: None,
            media_root: None,
            now: 0,
        }
    }

    fn media(&self, item: &Item) -> Media {
        let mut media = Media::default();
        let Some(root) = &self.media_root else {
            return media;
        };
        let limits = DecodeLimits::default();
        for name in &item.media {
            if name.contains("://") {
                media.add_error(name, "not a local file; remote media is not fetched".into());
                continue;
            }
            let path = root.join(name);
            match breakwater_media::digest::read_limited(&path, &limits) {
                Ok(bytes) => media.add(name, &bytes, &limits),
                Err(e) => media.add_error(name, e.to_string()),
            }
        }
        media
    }
}

/// Loads `--bank` files into one matcher, one bank per file.
fn load_bank_files(files: &[PathBuf]) -> anyhow::Result<Matcher> {
    let mut matcher = Matcher::new();
    let mut banks = Vec::new();
    let mut next_id = 1i64;
    for (i, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        let format = FileFormat::guess(&path.to_string_lossy());
        let records = parse_signal_file(&bytes, format, None)
            .with_context(|| format!("reading signals from {}", path.display()))?;
        let bank_id = i as i64 + 1;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("bank{bank_id}"));
        banks.push(BankInfo {
            id: bank_id,
            name,
            category: None,
            verdict: MatchVerdict::Review,
            pdq_threshold: breakwater_store::DEFAULT_PDQ_THRESHOLD,
            enabled: true,
            disabled_until: None,
            expires_at: None,
            dispute_limit: 0,
        });
        for r in records {
            matcher.insert(SignalEntry {
                id: next_id,
                bank_id,
                signal: r.signal,
                category: r.category,
                source: r.source,
                expires_at: r.expires_at,
                disputes: 0,
            });
            next_id += 1;
        }
    }
    matcher.set_banks(banks);
    Ok(matcher)
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

/// One input record before assessment.
pub enum Record {
    /// A raw JSONL line, parsed by the worker.
    Line(Vec<u8>),
    /// A CSV row already turned into a JSON object, or why it could not be.
    Row(Result<Value, String>),
}

pub struct Numbered {
    pub number: usize,
    pub record: Record,
}

pub fn run(data: Option<&Path>, args: ScanArgs) -> anyhow::Result<ExitCode> {
    let input_path = args.input.filter(|p| p.as_os_str() != "-");
    let format = args.format.unwrap_or_else(|| match &input_path {
        Some(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) => Format::Csv,
        _ => Format::Jsonl,
    });
    let (reader, total): (Box<dyn Read + Send>, Option<u64>) = match &input_path {
        Some(p) => {
            let file = std::fs::File::open(p)
                .map_err(|e| UsageError(format!("cannot open {}: {e}", p.display())))?;
            let len = file.metadata().ok().map(|m| m.len());
            (Box::new(file), len)
        }
        None => (Box::new(std::io::stdin()), None),
    };
    let pipeline = crate::load_pipeline(data)?;
    let banks = if args.banks.is_empty() {
        None
    } else {
        Some(load_bank_files(&args.banks)?)
    };
    let media_root = args.images.then(|| {
        args.media_root.clone().unwrap_or_else(|| {
            input_path
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        })
    });
    let context = ScanContext {
        pipeline: &pipeline,
        banks: banks.as_ref(),
        media_root,
        now: breakwater_store::now_ms(),
    };
    let out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(out);
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let progress = if !args.quiet && std::io::stderr().is_terminal() {
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut counts = Counts::default();
    let mut batches = Batches::new(reader, format)?;
    while let Some((batch, bytes)) = batches.next_batch()? {
        for line in assess_batch(&context, &batch, threads) {
            counts.add(&line);
            serde_json::to_writer(&mut out, &line.output).context("writing output")?;
            out.write_all(b"\n").context("writing output")?;
        }
        progress.inc(bytes);
        progress.set_message(format!("{} items", counts.items));
    }
    out.flush().context("writing output")?;
    progress.finish_and_clear();
    eprintln!(
        "scanned {} items: {} violating, {} review, {} benign, {} errors",
        counts.items, counts.violating, counts.review, counts.benign, counts.errors
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Default)]
struct Counts {
    items: usize,
    violating: usize,
    review: usize,
    benign: usize,
    errors: usize,
}

impl Counts {
    fn add(&mut self, line: &Assessed) {
        self.items += 1;
        match line.output.get("verdict").and_then(Value::as_str) {
            Some("violating") => self.violating += 1,
            Some("review") => self.review += 1,
            Some("benign") => self.benign += 1,
            _ => self.errors += 1,
        }
    }
}

/// Reads input in batches of records.
pub struct Batches {
    source: Source,
    number: usize,
}

enum Source {
    Jsonl(BufReader<Box<dyn Read + Send>>),
    Csv {
        rows: csv::StringRecordsIntoIter<Box<dyn Read + Send>>,
        headers: Vec<String>,
    },
}

impl Batches {
    pub fn new(reader: Box<dyn Read + Send>, format: Format) -> anyhow::Result<Self> {
        let source = match format {
            Format::Jsonl => Source::Jsonl(BufReader::with_capacity(1 << 16, reader)),
            Format::Csv => {
                let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
                let headers: Vec<String> = csv
                    .headers()
                    .map_err(|e| UsageError(format!("cannot read the CSV header: {e}")))?
                    .iter()
                    .map(|h| h.trim().to_string())
                    .collect();
                if !headers.iter().any(|h| h == "text") {
                    return Err(UsageError(format!(
                        "the CSV has no `text` column (columns: {})",
                        headers.join(", ")
                    ))
                    .into());
                }
                Source::Csv {
                    rows: csv.into_records(),
                    headers,
                }
            }
        };
        Ok(Batches { source, number: 0 })
    }

    /// The next batch and the number of bytes it consumed, or `None` at the end.
    pub fn next_batch(&mut self) -> anyhow::Result<Option<(Vec<Numbered>, u64)>> {
        let mut batch = Vec::with_capacity(BATCH);
        let mut bytes = 0u64;
        while batch.len() < BATCH {
            match &mut self.source {
                Source::Jsonl(reader) => {
                    let mut line = Vec::new();
                    let n = read_line_limited(reader, &mut line).context("reading input")?;
                    if n == 0 {
                        break;
                    }
                    bytes += n as u64;
                    self.number += 1;
                    if line.iter().all(u8::is_ascii_whitespace) && n <= MAX_LINE_BYTES {
                        continue;
                    }
                    batch.push(Numbered {
                        number: self.number,
                        record: Record::Line(line),
                    });
                }
                Source::Csv { rows, headers } => {
                    let Some(row) = rows.next() else { break };
                    self.number += 1;
                    let record = match row {
                        Ok(row) => {
                            bytes += row.as_slice().len() as u64 + row.len() as u64;
                            Ok(csv_row_to_json(headers, &row, self.number))
                        }
                        Err(e) => Err(format!("unreadable CSV row: {e}")),
                    };
                    batch.push(Numbered {
                        number: self.number,
                        record: Record::Row(record),
                    });
                }
            }
        }
        Ok((!batch.is_empty()).then_some((batch, bytes)))
    }
}

/// Reads one line; a line longer than [`MAX_LINE_BYTES`] is consumed but only its first
/// bytes are kept, so a huge line cannot exhaust memory. Returns the bytes consumed.
fn read_line_limited(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = (MAX_LINE_BYTES + 1).saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        consumed += n;
        reader.consume(n);
        if done {
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            return Ok(consumed);
        }
    }
}

fn csv_row_to_json(headers: &[String], row: &csv::StringRecord, number: usize) -> Value {
    let mut map = serde_json::Map::new();
    for (h, v) in headers.iter().zip(row.iter()) {
        if v.is_empty() {
            continue;
        }
        let value = if h == "media" {
            Value::Array(
                v.split([';', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.into()))
                    .collect(),
            )
        } else {
            Value::String(v.to_string())
        };
        map.insert(h.clone(), value);
    }
    map.entry("id")
        .or_insert_with(|| Value::String(format!("row-{number}")));
    Value::Object(map)
}

/// The outcome for one record: the output line, and the label if the input carried one.
pub struct Assessed {
    pub output: Value,
    pub label: Option<String>,
    pub lang: Option<String>,
}

/// Assesses a batch on `threads` threads, keeping order.
pub fn assess_batch(context: &ScanContext, batch: &[Numbered], threads: usize) -> Vec<Assessed> {
    if threads <= 1 || batch.len() < 2 {
        return batch.iter().map(|r| assess_record(context, r)).collect();
    }
    let chunk = batch.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|r| assess_record(context, r))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a scan worker panicked"))
            .collect()
    })
}

fn error_line(number: usize, id: Option<&str>, code: &str, message: String) -> Assessed {
    let mut output = json!({"line": number, "error": {"code": code, "message": message}});
    if let Some(id) = id {
        output["id"] = Value::String(id.to_string());
    }
    Assessed {
        output,
        label: None,
        lang: None,
    }
}

/// Assesses one record, turning every kind of bad input into an error line.
pub fn assess_record(context: &ScanContext, record: &Numbered) -> Assessed {
    let number = record.number;
    let value = match &record.record {
        Record::Line(bytes) if bytes.len() > MAX_LINE_BYTES => {
            return error_line(
                number,
                None,
                "line_too_long",
                format!("line is longer than the limit of {MAX_LINE_BYTES} bytes"),
            );
        }
        Record::Line(bytes) => {
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    return error_line(
                        number,
                        None,
                        "invalid_utf8",
                        format!("line is not valid UTF-8 (byte {})", e.valid_up_to()),
                    )
                }
            };
            match serde_json::from_str::<Value>(text) {
                Ok(v) => v,
                Err(e) => {
                    return error_line(
                        number,
                        None,
                        "invalid_json",
                        format!("line is not valid JSON: {e}"),
                    )
                }
            }
        }
        Record::Row(Ok(v)) => v.clone(),
        Record::Row(Err(message)) => {
            return error_line(number, None, "invalid_csv", message.clone())
        }
    };
    let label = value
        .get("label")
        .and_then(Value::as_str)
        .map(str::to_string);
    let lang = value
        .get("lang")
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = value.get("id").and_then(|v| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_number().map(|n| n.to_string()))
    });
    let (item, warnings) = match Item::from_json(value) {
        Ok(x) => x,
        Err(e) => return error_line(number, id.as_deref(), "invalid_item", e.to_string()),
    };
    let media = context.media(&item);
    let assessment = context
        .pipeline
        .assess_with(&item, &media, context.banks, context.now);
    let mut output = serde_json::to_value(&assessment)
        .unwrap_or_else(|e| json!({"error": {"code": "internal", "message": e.to_string()}}));
    if !warnings.is_empty() {
        output["warnings"] = json!(warnings);
    }
    Assessed {
        output,
        label,
        lang,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_lines_are_cut_but_fully_consumed() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 100];
        input.extend_from_slice(b"\n{\"id\":\"2\"}\n");
        let mut reader = BufReader::new(input.as_slice());
        let mut line = Vec::new();
        let n = read_line_limited(&mut reader, &mut line).unwrap();
        assert_eq!(n, MAX_LINE_BYTES + 101);
        assert_eq!(line.len(), MAX_LINE_BYTES + 1);
        let mut next = Vec::new();
        read_line_limited(&mut reader, &mut next).unwrap();
        assert_eq!(next, b"{\"id\":\"2\"}");
    }
}
