//! The detector: one text in, an explained assessment out.
//!
//! Stages: [`fold`](crate::normalize::fold) → language → lexicon indicators → entities →
//! model probabilities → [`Evidence`] → calibrated decision. The decision is a small
//! logistic model over the evidence (trained on out-of-fold predictions by `train`), so the
//! score is a calibrated probability and each part's contribution can be shown.

use crate::entities::{EntityExtractor, Original};
use crate::gazetteer::Gazetteer;
use crate::langid::{primary, Identified, LanguageIdentifier};
use crate::lexicon::Lexicon;
use crate::model::{label_of, Features, TextModel, CLASSES};
use crate::normalize::fold;
use crate::quotes::{self, quoted_spans};
use crate::script::{dominant_script, Script};
use breakwater_core::{
    Assessment, Category, Contributions, Entity, EntityKind, Indicator, IndicatorKind, Item,
    Verdict,
};
use serde::{Deserialize, Serialize};

/// The features of the evidence about one text, by position in [`Evidence::values`].
pub mod feature {
    pub const MODEL_VIOLATING: usize = 0;
    pub const MODEL_SOLICITATION: usize = 1;
    pub const MODEL_BENIGN: usize = 2;
    /// Positive lexicon evidence, one group per family of indicator kinds.
    pub const CODEWORD: usize = 3;
    pub const SMUGGLER: usize = 4;
    pub const ROUTE_TRANSPORT: usize = 5;
    pub const GUARANTEE: usize = 6;
    pub const PAYMENT_PRICE: usize = 7;
    pub const CONTACT_SCHEDULE: usize = 8;
    pub const DOCUMENT: usize = 9;
    pub const RECRUITMENT: usize = 10;
    pub const CLAIMS: usize = 11;
    pub const EVASION: usize = 12;
    pub const SOLICITATION: usize = 13;
    /// Context against a violation, by kind (magnitudes).
    pub const COUNTER: usize = 14;
    pub const NEWS: usize = 15;
    pub const HELP: usize = 16;
    pub const LEGIT: usize = 17;
    /// Entities.
    pub const CONTACT: usize = 18;
    pub const PRICE: usize = 19;
    pub const ROUTE: usize = 20;
    pub const QUESTION: usize = 21;
    /// All positive lexicon evidence together, and its interactions with an offer's
    /// practical parts: a contact or a price beside smuggling vocabulary is an advert.
    pub const INDICATORS: usize = 22;
    pub const INDICATORS_X_CONTACT: usize = 23;
    pub const INDICATORS_X_PRICE: usize = 24;
    pub const CONTEXT: usize = 25;
    pub const MODEL_X_CONTEXT: usize = 26;
    /// Model log-odds of each violating category against benign, in `Category::ALL` order.
    pub const MODEL_CATEGORY: usize = 27;
    /// Positive lexicon evidence inside quotation marks, kept apart from the groups
    /// above: warnings and news quote the promises they expose.
    pub const QUOTED: usize = 35;
    /// Whether the text quotes anything at all.
    pub const QUOTES: usize = 36;
    pub const LEN: usize = 37;
}

/// Numbers that summarise the evidence about one text; the decision model reads these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    pub values: [f32; feature::LEN],
}

impl Evidence {
    pub fn get(&self, f: usize) -> f32 {
        self.values[f]
    }

    /// Total context magnitude.
    pub fn context(&self) -> f32 {
        self.values[feature::CONTEXT]
    }
}

/// A logistic model over [`Evidence`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stacker {
    pub weights: Vec<f32>,
    pub bias: f32,
}

impl Stacker {
    pub fn logit(&self, e: &Evidence) -> f32 {
        self.bias
            + self
                .weights
                .iter()
                .zip(e.values)
                .map(|(w, x)| w * x)
                .sum::<f32>()
    }

    pub fn probability(&self, e: &Evidence) -> f32 {
        sigmoid(self.logit(e))
    }

    /// The part of the logit that a set of features contributes.
    pub fn contribution(&self, e: &Evidence, features: &[usize]) -> f32 {
        features
            .iter()
            .map(|&f| self.weights.get(f).copied().unwrap_or(0.0) * e.values[f])
            .sum()
    }

    /// Fits by gradient descent (AdaGrad steps) on the log-loss with a light L2 penalty.
    pub fn fit(examples: &[(Evidence, bool)]) -> Self {
        let mut s = Stacker {
            weights: vec![0.0; feature::LEN],
            bias: 0.0,
        };
        let n = examples.len().max(1) as f32;
        let lr = 0.3;
        let mut g2 = [1e-8f32; feature::LEN + 1];
        for _ in 0..1500 {
            let mut gw = vec![0.0f32; feature::LEN];
            let mut gb = 0.0;
            for (e, y) in examples {
                let d = s.probability(e) - if *y { 1.0 } else { 0.0 };
                for (g, x) in gw.iter_mut().zip(e.values) {
                    *g += d * x;
                }
                gb += d;
            }
            for (k, (w, g)) in s.weights.iter_mut().zip(gw).enumerate() {
                let grad = g / n + 1e-3 * *w;
                g2[k] += grad * grad;
                *w -= lr * grad / g2[k].sqrt();
            }
            let grad = gb / n;
            g2[feature::LEN] += grad * grad;
            s.bias -= lr * grad / g2[feature::LEN].sqrt();
        }
        s
    }
}

/// Decision thresholds on the calibrated probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above: `violating`.
    pub violating: f32,
    /// At or above (and below `violating`): `review`.
    pub review: f32,
    /// Solicitation probability at or above which a text is a solicitation.
    pub solicitation: f32,
}

/// The trained decision layer, stored as `data/model/calibration.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub violating: Stacker,
    pub solicitation: Stacker,
    pub thresholds: Thresholds,
}

impl Calibration {
    /// Hand-set weights for running before any training: lexicon evidence only.
    pub fn untrained() -> Self {
        use feature::*;
        let mut v = vec![0.0; LEN];
        v[INDICATORS] = 1.2;
        v[CONTEXT] = -1.2;
        v[CONTACT] = 0.8;
        v[PRICE] = 0.6;
        v[QUESTION] = -0.5;
        v[SOLICITATION] = -0.5;
        let mut s = vec![0.0; LEN];
        s[SOLICITATION] = 1.5;
        s[QUESTION] = 0.8;
        s[CONTEXT] = -0.8;
        Calibration {
            violating: Stacker {
                weights: v,
                bias: -2.5,
            },
            solicitation: Stacker {
                weights: s,
                bias: -2.0,
            },
            thresholds: Thresholds {
                violating: 0.7,
                review: 0.35,
                solicitation: 0.5,
            },
        }
    }
}

/// Everything detection reads off a text before the model and the decision.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub language: Identified,
    pub indicators: Vec<Indicator>,
    pub entities: Vec<Entity>,
    pub features: Features,
    pub question: bool,
    /// Passages between quotation marks, in code points of the original text.
    pub quotes: Vec<(usize, usize)>,
}

/// Detection settings that are not learnt.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// Weight factor for a term from a pack of another language than the text's.
    pub foreign_pack_factor: f32,
    /// Context magnitude above which a text is never `violating`, only `review`.
    pub context_guard: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            foreign_pack_factor: 0.6,
            context_guard: 3.0,
        }
    }
}

/// The assembled detector.
#[derive(Debug, Clone)]
pub struct Detector {
    pub(crate) langid: LanguageIdentifier,
    pub(crate) lexicon: Lexicon,
    pub(crate) extractor: EntityExtractor,
    pub(crate) model: TextModel,
    pub(crate) calibration: Calibration,
    pub(crate) config: DetectorConfig,
}

impl Detector {
    /// Assembles a detector from its parts.
    pub fn new(
        langid: LanguageIdentifier,
        lexicon: Lexicon,
        gazetteer: Gazetteer,
        model: TextModel,
        calibration: Calibration,
    ) -> Self {
        Detector {
            langid,
            lexicon,
            extractor: EntityExtractor::new(gazetteer),
            model,
            calibration,
            config: DetectorConfig::default(),
        }
    }

    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    pub fn langid(&self) -> &LanguageIdentifier {
        &self.langid
    }

    pub fn model(&self) -> &TextModel {
        &self.model
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Replaces the model and the decision layer (after training).
    pub fn with_model(mut self, model: TextModel, calibration: Calibration) -> Self {
        self.model = model;
        self.calibration = calibration;
        self
    }

    /// Reads the text: language, indicators, entities and model features.
    pub fn analyse(&self, text: &str, lang_hint: Option<&str>) -> Analysis {
        let folded = fold(text);
        let original = Original::new(text);
        // A language given with the item is trusted: only its script is read off the text.
        let language = match lang_hint.map(str::trim).filter(|l| !l.is_empty()) {
            Some(hint) => Identified {
                code: hint.to_string(),
                language: primary(hint).to_ascii_lowercase(),
                script: dominant_script(text).map_or("Zyyy", Script::code),
                confidence: 1.0,
            },
            None => self.langid.identify(text),
        };
        let lexical = &folded.lexical;
        let terms = self.lexicon.terms();
        let packs = self.lexicon.packs();
        let mut indicators: Vec<Indicator> = self
            .lexicon
            .find(lexical.as_str())
            .into_iter()
            .map(|hit| {
                let term = &terms[hit.term];
                let pack = &packs[term.pack];
                let (start, end) = lexical.original_span(hit.start, hit.end);
                let native = pack.language == "und"
                    || primary(&pack.language).eq_ignore_ascii_case(&language.language);
                let weight = if native || term.weight < 0.0 {
                    term.weight
                } else {
                    term.weight * self.config.foreign_pack_factor
                };
                Indicator {
                    kind: term.kind,
                    value: term.term.clone(),
                    text: original.slice(start, end).to_string(),
                    start,
                    end,
                    weight,
                    category: term.category,
                    pack: pack.language.clone(),
                }
            })
            .collect();
        let entities = self
            .extractor
            .extract(&original, &folded, &language.language);
        for route in entities.iter().filter(|e| {
            e.kind == EntityKind::Route
                && e.value.len() <= 7
                && e.text
                    .chars()
                    .any(|c| ('\u{1F1E6}'..='\u{1F1FF}').contains(&c))
        }) {
            indicators.push(Indicator {
                kind: IndicatorKind::EmojiRoute,
                value: route.value.clone(),
                text: route.text.clone(),
                start: route.start,
                end: route.end,
                weight: 1.0,
                category: Some(Category::SmugglingService),
                pack: "und".into(),
            });
        }
        indicators.sort_by_key(|i| (i.start, i.end));
        let question = text.contains(['?', '؟', '？']);
        Analysis {
            language,
            indicators,
            entities,
            features: Features::from_text(text, lexical.as_str(), self.model.bits()),
            question,
            quotes: quoted_spans(text),
        }
    }

    /// Summarises an analysis and model probabilities as [`Evidence`].
    pub fn evidence(analysis: &Analysis, probs: &[f32; CLASSES]) -> Evidence {
        use feature::*;
        let logit = |p: f32| {
            let p = p.clamp(1e-4, 1.0 - 1e-4);
            (p / (1.0 - p)).ln()
        };
        let p_solicitation = probs[1 + Category::Solicitation.index()];
        let p_violating = 1.0 - probs[0] - p_solicitation;
        let mut groups: Vec<Vec<f32>> = vec![Vec::new(); LEN];
        let mut seen: Vec<&str> = Vec::new();
        for ind in &analysis.indicators {
            // A term repeated is one piece of evidence, not several.
            if seen.contains(&ind.value.as_str()) {
                continue;
            }
            seen.push(&ind.value);
            let group = match ind.kind {
                IndicatorKind::Codeword => CODEWORD,
                IndicatorKind::Smuggler => SMUGGLER,
                IndicatorKind::Route | IndicatorKind::Transport | IndicatorKind::EmojiRoute => {
                    ROUTE_TRANSPORT
                }
                IndicatorKind::Guarantee => GUARANTEE,
                IndicatorKind::Payment | IndicatorKind::Price => PAYMENT_PRICE,
                IndicatorKind::Contact | IndicatorKind::Schedule => CONTACT_SCHEDULE,
                IndicatorKind::Document => DOCUMENT,
                IndicatorKind::Recruitment => RECRUITMENT,
                IndicatorKind::SuccessStory | IndicatorKind::PolicyClaim => CLAIMS,
                IndicatorKind::Evasion => EVASION,
                IndicatorKind::Solicitation => SOLICITATION,
                IndicatorKind::Counter => COUNTER,
                IndicatorKind::News => NEWS,
                IndicatorKind::Help => HELP,
                IndicatorKind::Legit => LEGIT,
            };
            if ind.weight < 0.0 && !ind.kind.is_context() {
                groups[COUNTER].push(ind.weight.abs());
            } else if ind.weight > 0.0
                && !ind.kind.is_context()
                && quotes::inside(&analysis.quotes, ind.start, ind.end)
            {
                groups[QUOTED].push(ind.weight);
            } else {
                groups[group].push(ind.weight.abs());
            }
        }
        let mut v = [0.0f32; LEN];
        for (f, weights) in groups.iter_mut().enumerate() {
            v[f] = diminishing(weights, 4.0);
        }
        let positive: Vec<f32> = (CODEWORD..=EVASION).map(|f| v[f]).collect();
        v[INDICATORS] = positive.iter().sum::<f32>().min(8.0);
        v[CONTEXT] = (v[COUNTER] + v[NEWS] + v[HELP] + v[LEGIT]).min(8.0);
        let has = |k: EntityKind| analysis.entities.iter().any(|e| e.kind == k);
        v[CONTACT] = f32::from(u8::from(
            has(EntityKind::Phone) || has(EntityKind::Handle) || has(EntityKind::Email),
        ));
        v[PRICE] = f32::from(u8::from(has(EntityKind::Price)));
        v[ROUTE] = if has(EntityKind::Route) {
            1.0
        } else if has(EntityKind::Place) {
            0.5
        } else {
            0.0
        };
        v[QUESTION] = f32::from(u8::from(analysis.question));
        v[QUOTES] = f32::from(u8::from(!analysis.quotes.is_empty()));
        v[MODEL_VIOLATING] = logit(p_violating);
        v[MODEL_SOLICITATION] = logit(p_solicitation);
        v[MODEL_BENIGN] = logit(probs[0]);
        v[INDICATORS_X_CONTACT] = v[INDICATORS] * v[CONTACT];
        v[INDICATORS_X_PRICE] = v[INDICATORS] * v[PRICE];
        v[MODEL_X_CONTEXT] = v[MODEL_VIOLATING] * v[CONTEXT].min(3.0) / 3.0;
        let benign = probs[0].max(1e-4);
        for (k, c) in Category::ALL
            .iter()
            .filter(|c| c.is_violating())
            .enumerate()
        {
            v[MODEL_CATEGORY + k] = (probs[1 + c.index()].max(1e-4) / benign)
                .ln()
                .clamp(-9.0, 9.0);
        }
        Evidence { values: v }
    }

    /// Assesses one item.
    pub fn assess(&self, item: &Item) -> Assessment {
        let analysis = self.analyse(&item.text, item.lang.as_deref());
        let probs = self.model.predict(&analysis.features);
        self.decide(&item.id, analysis, &probs)
    }

    /// Turns an analysis and model probabilities into a verdict with reasons.
    pub fn decide(&self, id: &str, analysis: Analysis, probs: &[f32; CLASSES]) -> Assessment {
        let evidence = Self::evidence(&analysis, probs);
        let cal = &self.calibration;
        let p_violating = cal.violating.probability(&evidence);
        let p_solicitation = cal.solicitation.probability(&evidence);
        let th = &cal.thresholds;
        let mut reasons = Vec::new();

        let (verdict, category, score) = if p_solicitation >= th.solicitation
            && p_solicitation >= p_violating
        {
            reasons.push(format!(
                "seeks a smuggler or a crossing (probability {p_solicitation:.2}): warn and help, never penalise"
            ));
            (
                Verdict::Review,
                Some(Category::Solicitation),
                p_solicitation,
            )
        } else if p_violating >= th.review {
            let category = self.category(&analysis, probs);
            let guarded = evidence.context() >= self.config.context_guard;
            let verdict = if p_violating >= th.violating && !guarded {
                Verdict::Violating
            } else {
                Verdict::Review
            };
            if guarded && p_violating >= th.violating {
                reasons.push(format!(
                    "strong safety, news or help context ({:.1}) keeps this for a person to review",
                    evidence.context()
                ));
            }
            (verdict, Some(category), p_violating)
        } else {
            (Verdict::Benign, None, p_violating)
        };

        use feature::*;
        let v = &cal.violating;
        let contributions = Contributions {
            model: v.contribution(
                &evidence,
                &[
                    MODEL_VIOLATING,
                    MODEL_SOLICITATION,
                    MODEL_BENIGN,
                    MODEL_X_CONTEXT,
                    MODEL_CATEGORY,
                    MODEL_CATEGORY + 1,
                    MODEL_CATEGORY + 2,
                    MODEL_CATEGORY + 3,
                    MODEL_CATEGORY + 4,
                    MODEL_CATEGORY + 5,
                    MODEL_CATEGORY + 6,
                    MODEL_CATEGORY + 7,
                ],
            ),
            indicators: v.contribution(
                &evidence,
                &[
                    CODEWORD,
                    SMUGGLER,
                    ROUTE_TRANSPORT,
                    GUARANTEE,
                    PAYMENT_PRICE,
                    CONTACT_SCHEDULE,
                    DOCUMENT,
                    RECRUITMENT,
                    CLAIMS,
                    EVASION,
                    SOLICITATION,
                    INDICATORS,
                    INDICATORS_X_CONTACT,
                    INDICATORS_X_PRICE,
                    QUOTED,
                ],
            ),
            entities: v.contribution(&evidence, &[CONTACT, PRICE, ROUTE, QUESTION]),
            context: v.contribution(&evidence, &[COUNTER, NEWS, HELP, LEGIT, CONTEXT, QUOTES]),
            matches: 0.0,
        };
        explain(&analysis, probs, &evidence, &mut reasons);
        Assessment {
            id: id.to_string(),
            verdict,
            category,
            score,
            language: analysis.language.language,
            script: analysis.language.script.to_string(),
            indicators: analysis.indicators,
            entities: analysis.entities,
            matches: Vec::new(),
            media: Vec::new(),
            intervention: None,
            contributions,
            reasons,
        }
    }

    /// The violating category: the model's probabilities, moved by the categories that
    /// indicators point to.
    fn category(&self, analysis: &Analysis, probs: &[f32; CLASSES]) -> Category {
        let mut best = (Category::SmugglingService, f32::MIN);
        for c in Category::ALL.iter().copied().filter(|c| c.is_violating()) {
            let lexical: f32 = analysis
                .indicators
                .iter()
                .filter(|i| i.category == Some(c) && i.weight > 0.0)
                .map(|i| i.weight)
                .sum();
            let score = (probs[1 + c.index()] + 1e-3).ln() + 0.7 * lexical;
            if score > best.1 {
                best = (c, score);
            }
        }
        best.0
    }
}

fn explain(
    analysis: &Analysis,
    probs: &[f32; CLASSES],
    evidence: &Evidence,
    reasons: &mut Vec<String>,
) {
    let (top, p) = probs
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, p)| (label_of(k), *p))
        .unwrap_or((None, 0.0));
    reasons.push(format!(
        "model: most likely {} ({p:.2})",
        top.map_or("benign", |c| c.as_str())
    ));
    let positive: Vec<String> = analysis
        .indicators
        .iter()
        .filter(|i| i.weight > 0.0)
        .take(6)
        .map(|i| format!("{} \"{}\"", kind_name(i.kind), i.text))
        .collect();
    if !positive.is_empty() {
        reasons.push(format!("indicators: {}", positive.join(", ")));
    }
    let contacts: Vec<String> = analysis
        .entities
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EntityKind::Phone | EntityKind::Handle | EntityKind::Price | EntityKind::Route
            )
        })
        .take(4)
        .map(|e| e.value.clone())
        .collect();
    if !contacts.is_empty() {
        reasons.push(format!("entities: {}", contacts.join(", ")));
    }
    if evidence.context() > 0.0 {
        let context: Vec<String> = analysis
            .indicators
            .iter()
            .filter(|i| i.weight < 0.0)
            .take(4)
            .map(|i| format!("{} \"{}\"", kind_name(i.kind), i.text))
            .collect();
        reasons.push(format!(
            "context against a violation: {}",
            context.join(", ")
        ));
    }
}

fn kind_name(kind: IndicatorKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Sums weights strongest first, each counting less than the one before, up to a cap:
/// ten weak hints are not proof.
fn diminishing(weights: &mut [f32], cap: f32) -> f32 {
    weights.sort_by(|a, b| b.total_cmp(a));
    let mut factor = 1.0;
    let mut sum = 0.0;
    for w in weights.iter() {
        sum += w * factor;
        factor *= 0.8;
    }
    sum.min(cap)
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
