//! Signal files: the CSV and JSON formats in which banks are imported and exported.
//!
//! CSV has a header naming its columns: `kind,value` are required, `category`, `source`,
//! `note` and `expires_at` (RFC 3339 or Unix milliseconds) optional. A file without a
//! header is a plain list of values, one per line, of one kind given by the caller (a list
//! of MD5 hashes, say). JSON is an array of objects with the same fields, or one object per
//! line (JSONL). A file is all or nothing: any bad row and no signal is taken, with every
//! bad row reported by line.

use breakwater_core::{parse_rfc3339_ms, Category, Signal, SignalKind};
use serde_json::Value;

/// One signal read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// 1-based line (CSV, JSONL) or array index + 1 (JSON array).
    pub line: usize,
    pub signal: Signal,
    pub category: Option<Category>,
    pub source: Option<String>,
    pub note: Option<String>,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    /// A JSON array or JSON lines.
    Json,
}

impl FileFormat {
    /// From a file name or content type; CSV unless it says JSON.
    pub fn guess(name: &str) -> FileFormat {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".json") || lower.ends_with(".jsonl") || lower.contains("json") {
            FileFormat::Json
        } else {
            FileFormat::Csv
        }
    }
}

/// The most errors listed for one file.
const MAX_REPORTED: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalFileError {
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    #[error("the CSV header has no `{0}` column (and no default kind was given for a plain list)")]
    MissingColumn(&'static str),
    #[error("the CSV header has an unknown column `{0}` (expected kind, value, category, source, note, expires_at)")]
    UnknownColumn(String),
    #[error("{} bad row(s), nothing imported: {}", .0.len(), .0.iter().map(|(l, m)| format!("line {l}: {m}")).collect::<Vec<_>>().join("; "))]
    Rows(Vec<(usize, String)>),
}

/// Reads every signal of a file. `default_kind` is the kind of a header-less list, and of
/// rows whose `kind` is empty.
pub fn parse_signal_file(
    bytes: &[u8],
    format: FileFormat,
    default_kind: Option<SignalKind>,
) -> Result<Vec<SignalRecord>, SignalFileError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SignalFileError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut errors = Vec::new();
    let records = match format {
        FileFormat::Csv => parse_csv(text, default_kind, &mut errors)?,
        FileFormat::Json => parse_json(text, default_kind, &mut errors),
    };
    if errors.is_empty() {
        Ok(records)
    } else {
        errors.truncate(MAX_REPORTED);
        Err(SignalFileError::Rows(errors))
    }
}

#[derive(Default)]
struct Fields<'a> {
    kind: Option<&'a str>,
    value: Option<&'a str>,
    category: Option<&'a str>,
    source: Option<&'a str>,
    note: Option<&'a str>,
    expires_at: Option<String>,
}

const COLUMNS: [&str; 6] = ["kind", "value", "category", "source", "note", "expires_at"];

fn parse_csv(
    text: &str,
    default_kind: Option<SignalKind>,
    errors: &mut Vec<(usize, String)>,
) -> Result<Vec<SignalRecord>, SignalFileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut rows = reader.records();
    let first = match rows.next() {
        None => return Ok(vec![]),
        Some(Err(e)) => return Err(SignalFileError::Rows(vec![(1, e.to_string())])),
        Some(Ok(r)) => r,
    };
    let has_header = first.iter().any(|h| h.eq_ignore_ascii_case("value"));
    let columns: Vec<Option<usize>> = if has_header {
        let mut index = Vec::new();
        for h in first.iter() {
            let h = h.to_ascii_lowercase();
            match COLUMNS.iter().position(|c| *c == h) {
                Some(i) => index.push(Some(i)),
                None => return Err(SignalFileError::UnknownColumn(h)),
            }
        }
        if default_kind.is_none() && !index.contains(&Some(0)) {
            return Err(SignalFileError::MissingColumn("kind"));
        }
        index
    } else if default_kind.is_some() {
        vec![Some(1)]
    } else {
        return Err(SignalFileError::MissingColumn("value"));
    };
    let mut out = Vec::new();
    let header_rows = usize::from(has_header);
    let all = (!has_header).then_some(Ok(first)).into_iter().chain(rows);
    for (i, row) in all.enumerate() {
        let line = i + 1 + header_rows;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                errors.push((line, e.to_string()));
                continue;
            }
        };
        if row.iter().all(str::is_empty) {
            continue;
        }
        let mut f = Fields::default();
        for (cell, column) in row.iter().zip(&columns) {
            let cell = (!cell.is_empty()).then_some(cell);
            match column {
                Some(0) => f.kind = cell,
                Some(1) => f.value = cell,
                Some(2) => f.category = cell,
                Some(3) => f.source = cell,
                Some(4) => f.note = cell,
                Some(5) => f.expires_at = cell.map(str::to_string),
                _ => {}
            }
        }
        match record(line, f, default_kind) {
            Ok(r) => out.push(r),
            Err(m) => errors.push((line, m)),
        }
    }
    Ok(out)
}

fn parse_json(
    text: &str,
    default_kind: Option<SignalKind>,
    errors: &mut Vec<(usize, String)>,
) -> Vec<SignalRecord> {
    let rows: Vec<(usize, Result<Value, String>)> = if text.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<Value>>(text) {
            Ok(values) => values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i + 1, Ok(v)))
                .collect(),
            Err(e) => vec![(e.line(), Err(format!("invalid JSON: {e}")))],
        }
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                (
                    i + 1,
                    serde_json::from_str(l).map_err(|e| format!("invalid JSON: {e}")),
                )
            })
            .collect()
    };
    let mut out = Vec::new();
    for (line, value) in rows {
        let result = value.and_then(|v| {
            let Value::Object(map) = &v else {
                return Err("expected an object with `kind` and `value`".to_string());
            };
            if let Some(k) = map.keys().find(|k| !COLUMNS.contains(&k.as_str())) {
                return Err(format!("unknown field `{k}`"));
            }
            let text = |k: &str| -> Result<Option<&str>, String> {
                match map.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.as_str())),
                    Some(_) => Err(format!("`{k}` must be a string")),
                }
            };
            let expires_at = match map.get("expires_at") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => return Err("`expires_at` must be a string or a number".into()),
            };
            let f = Fields {
                kind: text("kind")?,
                value: text("value")?,
                category: text("category")?,
                source: text("source")?,
                note: text("note")?,
                expires_at,
            };
            record(line, f, default_kind)
        });
        match result {
            Ok(r) => out.push(r),
            Err(m) => errors.push((line, m)),
        }
    }
    out
}

fn record(
    line: usize,
    f: Fields<'_>,
    default_kind: Option<SignalKind>,
) -> Result<SignalRecord, String> {
    let kind = match (f.kind, default_kind) {
        (Some(k), _) => k.parse::<SignalKind>().map_err(|e| e.to_string())?,
        (None, Some(k)) => k,
        (None, None) => return Err("missing `kind`".into()),
    };
    let value = f.value.ok_or("missing `value`")?;
    let signal = Signal::parse(kind, value).map_err(|e| e.to_string())?;
    let category = f
        .category
        .map(|c| c.parse::<Category>().map_err(|e| e.to_string()))
        .transpose()?;
    let expires_at = f
        .expires_at
        .map(|t| {
            t.parse::<i64>()
                .ok()
                .or_else(|| parse_rfc3339_ms(&t))
                .ok_or_else(|| {
                    format!("`expires_at` `{t}` is neither RFC 3339 nor Unix milliseconds")
                })
        })
        .transpose()?;
    Ok(SignalRecord {
        line,
        signal,
        category,
        source: f.source.map(str::to_string),
        note: f.note.map(str::to_string),
        expires_at,
    })
}
