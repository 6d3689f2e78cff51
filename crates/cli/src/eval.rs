//! `breakwater eval`: detection quality against labelled data.
//!
//! Adverts (any violating label) count as found when the verdict is `violating`; look-alikes
//! (`benign`) count as false positives when the verdict is `violating`. Solicitations are
//! right when their category is `solicitation` and never `violating`.

use crate::scan::{assess_batch, Batches, Format, ScanContext};
use crate::UsageError;
use breakwater_core::Category;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Labelled JSONL files; default: the corpus's held-out split.
    files: Vec<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Default, Clone, Copy)]
struct Tally {
    adverts: usize,
    adverts_violating: usize,
    adverts_flagged: usize,
    adverts_right_category: usize,
    lookalikes: usize,
    lookalikes_violating: usize,
    lookalikes_review: usize,
    solicitations: usize,
    solicitations_found: usize,
    solicitations_violating: usize,
    predicted_solicitation: usize,
    predicted_solicitation_right: usize,
}

impl Tally {
    fn add(&mut self, label: &str, verdict: &str, category: Option<&str>) {
        let predicted_solicitation = category == Some("solicitation");
        if predicted_solicitation {
            self.predicted_solicitation += 1;
            self.predicted_solicitation_right += usize::from(label == "solicitation");
        }
        match label.parse::<Category>() {
            Ok(Category::Solicitation) => {
                self.solicitations += 1;
                self.solicitations_found += usize::from(predicted_solicitation);
                self.solicitations_violating += usize::from(verdict == "violating");
            }
            Ok(c) => {
                self.adverts += 1;
                self.adverts_violating += usize::from(verdict == "violating");
                self.adverts_flagged += usize::from(verdict != "benign");
                self.adverts_right_category += usize::from(category == Some(c.as_str()));
            }
            Err(_) => {
                self.lookalikes += 1;
                self.lookalikes_violating += usize::from(verdict == "violating");
                self.lookalikes_review += usize::from(verdict == "review");
            }
        }
    }

    fn ratio(a: usize, b: usize) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }

    fn to_json(self) -> Value {
        let precision = Self::ratio(
            self.adverts_violating,
            self.adverts_violating + self.lookalikes_violating + self.solicitations_violating,
        );
        json!({
            "adverts": self.adverts,
            "recall": Self::ratio(self.adverts_violating, self.adverts),
            "flagged_recall": Self::ratio(self.adverts_flagged, self.adverts),
            "precision": precision,
            "category_accuracy": Self::ratio(self.adverts_right_category, self.adverts),
            "lookalikes": self.lookalikes,
            "false_positive_rate": Self::ratio(self.lookalikes_violating, self.lookalikes),
            "lookalike_review_rate": Self::ratio(self.lookalikes_review, self.lookalikes),
            "solicitations": self.solicitations,
            "solicitation_recall": Self::ratio(self.solicitations_found, self.solicitations),
            "solicitation_precision": Self::ratio(self.predicted_solicitation_right, self.predicted_solicitation),
            "solicitations_violating": self.solicitations_violating,
        })
    }
}

pub fn run(data: Option<&Path>, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let pipeline = crate::load_pipeline(data)?;
    let dir = breakwater_pipeline::find_data_dir(data)?;
    let mut input = Vec::new();
    if args.files.is_empty() {
        for e in breakwater_text::corpus::read_dir(&dir.join("corpus"))?
            .into_iter()
            .filter(|e| e.is_heldout())
        {
            input.extend(serde_json::to_vec(
                &json!({"id": e.id, "text": e.text, "label": e.label, "lang": e.lang}),
            )?);
            input.push(b'\n');
        }
    } else {
        for f in &args.files {
            std::fs::File::open(f)
                .and_then(|mut file| file.read_to_end(&mut input))
                .map_err(|e| UsageError(format!("cannot read {}: {e}", f.display())))?;
            if input.last() != Some(&b'\n') {
                input.push(b'\n');
            }
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut batches = Batches::new(Box::new(std::io::Cursor::new(input)), Format::Jsonl)?;
    let mut overall = Tally::default();
    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
    let mut unlabelled = 0;
    while let Some((batch, _)) = batches.next_batch()? {
        for a in assess_batch(&ScanContext::new(&pipeline), &batch, threads) {
            let Some(label) = a.label.as_deref() else {
                unlabelled += 1;
                continue;
            };
            let verdict = a
                .output
                .get("verdict")
                .and_then(Value::as_str)
                .unwrap_or("error");
            let category = a.output.get("category").and_then(Value::as_str);
            let lang = a.lang.clone().or_else(|| {
                a.output
                    .get("language")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            overall.add(label, verdict, category);
            by_lang
                .entry(lang.unwrap_or_else(|| "und".into()))
                .or_default()
                .add(label, verdict, category);
            by_category
                .entry(label.to_string())
                .or_default()
                .add(label, verdict, category);
        }
    }
    if args.json {
        let report = json!({
            "overall": overall.to_json(),
            "by_language": by_lang.iter().map(|(k, t)| (k.clone(), t.to_json())).collect::<serde_json::Map<_, _>>(),
            "by_label": by_category.iter().map(|(k, t)| (k.clone(), t.to_json())).collect::<serde_json::Map<_, _>>(),
            "unlabelled": unlabelled,
        });
        crate::print_stdout(&(serde_json::to_string_pretty(&report)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let pct = |v: Option<f64>| v.map_or_else(|| "    -".to_string(), |x| format!("{:5.3}", x));
    let _ = writeln!(
        out,
        "{:<26} {:>6} {:>7} {:>7} {:>7} {:>6} {:>7} {:>7} {:>6} {:>7} {:>7}",
        "",
        "adverts",
        "recall",
        "flagged",
        "categ",
        "looks",
        "FPR",
        "review",
        "solic",
        "s.recall",
        "s.prec"
    );
    let row = |out: &mut String, name: &str, t: &Tally| {
        let _ = writeln!(
            out,
            "{:<26} {:>6} {:>7} {:>7} {:>7} {:>6} {:>7} {:>7} {:>6} {:>7} {:>7}",
            name,
            t.adverts,
            pct(Tally::ratio(t.adverts_violating, t.adverts)),
            pct(Tally::ratio(t.adverts_flagged, t.adverts)),
            pct(Tally::ratio(t.adverts_right_category, t.adverts)),
            t.lookalikes,
            pct(Tally::ratio(t.lookalikes_violating, t.lookalikes)),
            pct(Tally::ratio(t.lookalikes_review, t.lookalikes)),
            t.solicitations,
            pct(Tally::ratio(t.solicitations_found, t.solicitations)),
            pct(Tally::ratio(
                t.predicted_solicitation_right,
                t.predicted_solicitation
            )),
        );
    };
    row(&mut out, "overall", &overall);
    let _ = writeln!(out, "-- by language");
    for (k, t) in &by_lang {
        row(&mut out, k, t);
    }
    let _ = writeln!(out, "-- by label");
    for (k, t) in &by_category {
        row(&mut out, k, t);
    }
    if overall.solicitations_violating > 0 {
        let _ = writeln!(
            out,
            "warning: {} solicitations were judged violating",
            overall.solicitations_violating
        );
    }
    if unlabelled > 0 {
        let _ = writeln!(
            out,
            "{unlabelled} lines had no label (or were errors) and were not counted"
        );
    }
    crate::print_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
