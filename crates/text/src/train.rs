//! Training: the classifier on the corpus's training split, and the decision layer on
//! out-of-fold predictions, so that its probabilities are calibrated on text the
//! classifier did not see.

use crate::corpus::Example;
use crate::detector::{Calibration, Detector, Evidence, Stacker, Thresholds};
use crate::model::{class_of, Features, TextModel, TrainConfig, CLASSES};
use breakwater_core::Category;

/// The share of benign look-alikes allowed above the violating threshold, measured out of
/// fold. The product's bar is 2% on unseen data; out-of-fold rates run lower than rates on
/// the held-out split, so the target keeps a margin.
pub const MAX_OOF_FALSE_POSITIVE_RATE: f32 = 0.01;

/// The share of texts taken for solicitations that must be solicitations, measured out of
/// fold: the product's bar is 0.95 on unseen data, so the target keeps a margin.
pub const MIN_OOF_SOLICITATION_PRECISION: f32 = 0.96;

/// What training measured, for the command's report.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub examples: usize,
    pub folds: usize,
    /// Out-of-fold recall of violating examples at the chosen threshold.
    pub oof_recall: f32,
    /// Out-of-fold share of benign examples above the violating threshold.
    pub oof_false_positive_rate: f32,
    /// Out-of-fold recall when 1%, 2% and 5% of look-alikes may score above the threshold:
    /// how well the decision separates adverts from look-alikes, apart from the threshold.
    pub oof_recall_at_fpr: [(f32, f32); 3],
    pub thresholds: Thresholds,
}

/// Trains a model and its calibration on `examples` (which must exclude the held-out split).
pub fn train(
    detector: &Detector,
    examples: &[Example],
    config: &TrainConfig,
    folds: usize,
) -> (TextModel, Calibration, TrainReport) {
    let folds = folds.max(2);
    // Features are hashed to the size of the model being trained.
    let detector = &detector.clone().with_model(
        TextModel::untrained(config.bits),
        detector.calibration().clone(),
    );
    let analyses: Vec<_> = examples
        .iter()
        .map(|e| detector.analyse(&e.text, None))
        .collect();
    let data: Vec<(Features, usize)> = analyses
        .iter()
        .zip(examples)
        .map(|(a, e)| (a.features.clone(), class_of(e.category())))
        .collect();

    // Out-of-fold probabilities, folds trained in parallel.
    let mut oof: Vec<[f32; CLASSES]> = vec![[0.0; CLASSES]; examples.len()];
    type FoldResult = (Vec<(usize, [f32; CLASSES])>, TextModel);
    let per_fold: Vec<FoldResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..folds)
            .map(|k| {
                let data = &data;
                scope.spawn(move || {
                    let train: Vec<(Features, usize)> = data
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % folds != k)
                        .map(|(_, d)| d.clone())
                        .collect();
                    let model = TextModel::train(&train, config);
                    let predictions = data
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % folds == k)
                        .map(|(i, (x, _))| (i, model.predict(x)))
                        .collect::<Vec<_>>();
                    (predictions, model)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a training fold panicked"))
            .collect()
    });
    let mut fold_models = Vec::with_capacity(folds);
    for (predictions, model) in per_fold {
        for (i, p) in predictions {
            oof[i] = p;
        }
        fold_models.push(model);
    }

    let evidence: Vec<Evidence> = analyses
        .iter()
        .zip(&oof)
        .map(|(a, p)| Detector::evidence(a, p))
        .collect();
    let violating: Vec<(Evidence, bool)> = evidence
        .iter()
        .zip(examples)
        .map(|(e, x)| (*e, x.category().is_some_and(Category::is_violating)))
        .collect();
    let solicitation: Vec<(Evidence, bool)> = evidence
        .iter()
        .zip(examples)
        .map(|(e, x)| (*e, x.category() == Some(Category::Solicitation)))
        .collect();
    let v = Stacker::fit(&violating);
    let s = Stacker::fit(&solicitation);

    // The violating threshold: the lowest that keeps out-of-fold false positives on
    // benign look-alikes at or under the target, and never below 0.5.
    let benign: Vec<f32> = violating
        .iter()
        .zip(examples)
        // Hard look-alikes only: everyday text would make the rate look better than it is.
        .filter(|(_, x)| x.category().is_none() && x.subtype.as_deref() != Some("everyday"))
        .map(|((e, _), _)| v.probability(e))
        .collect();
    let positives: Vec<f32> = violating
        .iter()
        .filter(|(_, y)| *y)
        .map(|(e, _)| v.probability(e))
        .collect();
    let fpr =
        |t: f32| benign.iter().filter(|p| **p >= t).count() as f32 / benign.len().max(1) as f32;
    let recall = |t: f32| {
        positives.iter().filter(|p| **p >= t).count() as f32 / positives.len().max(1) as f32
    };
    let mut threshold = 0.95;
    for step in 0..=45 {
        let t = 0.5 + step as f32 * 0.01;
        if fpr(t) <= MAX_OOF_FALSE_POSITIVE_RATE {
            threshold = t;
            break;
        }
    }
    // The review threshold: low enough to send doubtful adverts to a person, high enough
    // that ordinary posts (the everyday samples) almost never reach the queue.
    let everyday: Vec<f32> = violating
        .iter()
        .zip(examples)
        .filter(|(_, x)| x.subtype.as_deref() == Some("everyday"))
        .map(|((e, _), _)| v.probability(e))
        .collect();
    let everyday_rate =
        |t: f32| everyday.iter().filter(|p| **p >= t).count() as f32 / everyday.len().max(1) as f32;
    let mut review = threshold;
    for step in 0..=50 {
        let t = 0.3 + step as f32 * 0.01;
        if t >= threshold || everyday_rate(t) <= 0.01 {
            review = t.min(threshold);
            break;
        }
    }
    let solicitation_threshold = solicitation_threshold(&v, &s, &solicitation);
    let mut benign_desc = benign.clone();
    benign_desc.sort_by(|a, b| b.total_cmp(a));
    let thresholds = Thresholds {
        violating: threshold,
        review,
        solicitation: solicitation_threshold,
    };
    let report = TrainReport {
        examples: examples.len(),
        folds,
        oof_recall: recall(threshold),
        oof_false_positive_rate: fpr(threshold),
        oof_recall_at_fpr: [0.01f32, 0.02, 0.05].map(|rate| {
            let cut = benign_desc
                .get((rate * benign_desc.len() as f32) as usize)
                .copied()
                .unwrap_or(0.0);
            let above = positives.iter().filter(|p| **p > cut).count();
            (rate, above as f32 / positives.len().max(1) as f32)
        }),
        thresholds: thresholds.clone(),
    };
    // The shipped model is the average of the fold models rather than one retrained on
    // everything: its scores then follow the same distribution as the out-of-fold scores
    // the decision layer and thresholds were fitted on.
    let model = TextModel::average(&fold_models);
    (
        model,
        Calibration {
            violating: v,
            solicitation: s,
            thresholds,
        },
        report,
    )
}

/// The lowest solicitation threshold (from 0.3 up to 0.6) whose out-of-fold precision
/// meets [`MIN_OOF_SOLICITATION_PRECISION`]: someone seeking a crossing should get a
/// warning even when the evidence is modest, but a person asking for lawful help must not
/// be taken for one.
fn solicitation_threshold(v: &Stacker, s: &Stacker, examples: &[(Evidence, bool)]) -> f32 {
    let scored: Vec<(f32, f32, bool)> = examples
        .iter()
        .map(|(e, y)| (s.probability(e), v.probability(e), *y))
        .collect();
    for step in 0..=30 {
        let t = 0.3 + step as f32 * 0.01;
        let taken: Vec<bool> = scored
            .iter()
            .filter(|(ps, pv, _)| *ps >= t && ps >= pv)
            .map(|(_, _, y)| *y)
            .collect();
        let right = taken.iter().filter(|y| **y).count();
        if !taken.is_empty() && right as f32 / taken.len() as f32 >= MIN_OOF_SOLICITATION_PRECISION
        {
            return t;
        }
    }
    0.6
}
