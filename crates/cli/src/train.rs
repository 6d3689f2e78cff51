//! `breakwater train`: train the classifier and calibration on the corpus's training split.

use anyhow::Context;
use breakwater_text::corpus;
use breakwater_text::load::ModelRequirement;
use breakwater_text::model::TrainConfig;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Training epochs.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Folds for the out-of-fold predictions that calibrate the decision.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Feature buckets are 2^bits.
    #[arg(long, default_value_t = TrainConfig::default().bits, value_parser = clap::value_parser!(u32).range(8..=24))]
    bits: u32,
    /// AdaGrad step size.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    learning_rate: f32,
    /// L2 penalty per step.
    #[arg(long, default_value_t = TrainConfig::default().l2)]
    l2: f32,
}

pub fn run(data: Option<&Path>, args: TrainArgs) -> anyhow::Result<ExitCode> {
    let dir = breakwater_pipeline::find_data_dir(data)?;
    let detector =
        breakwater_text::load(&dir, ModelRequirement::Untrained).context("loading data")?;
    let all = corpus::read_dir(&dir.join("corpus")).context("reading the corpus")?;
    let mut examples: Vec<_> = all.iter().filter(|e| !e.is_heldout()).cloned().collect();
    let held_out = all.len() - examples.len();
    let langid_dir = dir.join("langid");
    if langid_dir.exists() {
        let everyday =
            corpus::everyday_examples(&langid_dir).context("reading everyday samples")?;
        examples.extend(everyday.into_iter().filter(|e| !e.is_heldout()));
    }
    eprintln!(
        "training on {} examples ({held_out} corpus examples held out, never seen)",
        examples.len()
    );
    let config = TrainConfig {
        epochs: args.epochs,
        bits: args.bits,
        learning_rate: args.learning_rate,
        l2: args.l2,
        ..TrainConfig::default()
    };
    let started = std::time::Instant::now();
    let (model, calibration, report) =
        breakwater_text::train::train(&detector, &examples, &config, args.folds);
    let model_dir = dir.join("model");
    std::fs::create_dir_all(&model_dir)
        .with_context(|| format!("creating {}", model_dir.display()))?;
    let mut bytes = Vec::new();
    model.write(&mut bytes)?;
    std::fs::write(model_dir.join("model.bin"), &bytes).context("writing model.bin")?;
    let calibration_json = serde_json::to_string_pretty(&calibration)?;
    std::fs::write(model_dir.join("calibration.json"), calibration_json + "\n")
        .context("writing calibration.json")?;
    println!(
        "trained in {:.1}s on {} examples ({} folds): out-of-fold recall {:.3}, false-positive rate {:.3} at threshold {:.2}; model {} KiB",
        started.elapsed().as_secs_f32(),
        report.examples,
        report.folds,
        report.oof_recall,
        report.oof_false_positive_rate,
        report.thresholds.violating,
        bytes.len() / 1024
    );
    let curve: Vec<String> = report
        .oof_recall_at_fpr
        .iter()
        .map(|(rate, recall)| format!("{recall:.3} at {:.0}%", rate * 100.0))
        .collect();
    println!(
        "out-of-fold recall of adverts by share of look-alikes let through: {}",
        curve.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
