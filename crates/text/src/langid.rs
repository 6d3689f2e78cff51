//! Language identification for short, noisy, mixed-script texts.
//!
//! A naive Bayes model over character 1–3-grams and whole words, trained at start from the
//! language samples in `data/langid/` and the training corpus. The script decides first
//! (Ge'ez is Tigrinya or Amharic, Greek is Greek), so the model only separates languages
//! that share a script — Arabic, Persian, Pashto, Urdu and Sorani; the Latin-script
//! languages, including Arabizi and Vietnamese written without diacritics. Training takes
//! milliseconds, so adding a language is adding a sample file.

use crate::hashing::{bucket, mix, seed};
use crate::script::CharClass;
use crate::script::{dominant_script, script_of, Script};
use std::collections::HashMap;

const BITS: u32 = 16;
const SALT_NGRAM: u64 = 11;
const SALT_WORD: u64 = 12;

/// A language the identifier knows, as a BCP-47 style code (`ar-Latn`, `ku-Arab`).
#[derive(Debug, Clone)]
struct Language {
    code: String,
    script: Script,
}

/// The identifier's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    /// Full code, e.g. `ar-Latn`.
    pub code: String,
    /// Primary language subtag, e.g. `ar`; `und` when undetermined.
    pub language: String,
    /// ISO 15924 script of the text.
    pub script: &'static str,
    /// Posterior probability of the best language among those of the same script.
    pub confidence: f32,
}

/// A trained language identifier.
#[derive(Debug, Clone)]
pub struct LanguageIdentifier {
    languages: Vec<Language>,
    /// Log-probabilities, bucket-major: `log_prob[bucket * languages + language]`.
    log_prob: Vec<f32>,
}

/// Calls `f` with the hashed bucket of every feature of `text`.
fn for_each_feature(text: &str, mut f: impl FnMut(usize)) {
    let mut word: Vec<char> = Vec::with_capacity(32);
    let flush = |word: &mut Vec<char>, f: &mut dyn FnMut(usize)| {
        if word.is_empty() {
            return;
        }
        let n = word.len();
        let at = |i: isize| -> u64 {
            if i < 0 || i as usize >= n {
                0x20
            } else {
                word[i as usize] as u64
            }
        };
        // Character n-grams of the word padded with one boundary on each side.
        for i in -1..n as isize {
            let mut h = seed(SALT_NGRAM);
            for k in 0..3 {
                let pos = i + k;
                if pos > n as isize {
                    break;
                }
                h = mix(h, at(pos));
                if !(k == 0 && (i < 0)) {
                    f(bucket(h, BITS) as usize);
                }
            }
        }
        if n <= 12 {
            let h = word.iter().fold(seed(SALT_WORD), |h, c| mix(h, *c as u64));
            f(bucket(h, BITS) as usize);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alnum_fast() {
            if c.is_ascii() {
                word.push(c.to_ascii_lowercase());
            } else {
                word.extend(c.to_lowercase());
            }
        } else if !matches!(c, '\u{200B}'..='\u{200F}' | '\u{0640}' | '\u{064B}'..='\u{065F}') {
            flush(&mut word, &mut f);
        }
    }
    flush(&mut word, &mut f);
}

impl LanguageIdentifier {
    /// Trains on `(code, text)` samples. A language's script is the dominant script of its
    /// samples.
    pub fn train<'a>(samples: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut languages: Vec<Language> = Vec::new();
        let mut script_votes: Vec<HashMap<&'static str, usize>> = Vec::new();
        let mut counts: Vec<Vec<f32>> = Vec::new();
        for (code, text) in samples {
            let li = *index.entry(code.to_string()).or_insert_with(|| {
                languages.push(Language {
                    code: code.to_string(),
                    script: Script::Other,
                });
                script_votes.push(HashMap::new());
                counts.push(vec![0.0; 1 << BITS]);
                languages.len() - 1
            });
            if let Some(s) = dominant_script(text) {
                *script_votes[li].entry(s.code()).or_default() += 1;
            }
            let row = &mut counts[li];
            for_each_feature(text, |b| row[b] += 1.0);
        }
        for (lang, votes) in languages.iter_mut().zip(&script_votes) {
            let best = votes.iter().max_by_key(|(_, n)| **n).map(|(s, _)| *s);
            lang.script = ALL_SCRIPTS
                .iter()
                .copied()
                .find(|s| Some(s.code()) == best)
                .unwrap_or(Script::Other);
        }
        // Languages of one script sit side by side, so that scoring reads one contiguous
        // slice of each row.
        let mut order: Vec<usize> = (0..languages.len()).collect();
        order.sort_by_key(|&i| languages[i].script.code());
        let languages: Vec<Language> = order.iter().map(|&i| languages[i].clone()).collect();
        let counts: Vec<Vec<f32>> = order
            .iter()
            .map(|&i| std::mem::take(&mut counts[i]))
            .collect();
        let l = languages.len();
        let mut log_prob = vec![0.0f32; (1 << BITS) * l];
        let alpha = 0.1f32;
        for (li, row) in counts.iter().enumerate() {
            let total: f32 = row.iter().sum::<f32>() + alpha * row.len() as f32;
            for (b, c) in row.iter().enumerate() {
                log_prob[b * l + li] = ((c + alpha) / total).ln();
            }
        }
        LanguageIdentifier {
            languages,
            log_prob,
        }
    }

    /// Codes of the languages known, in training order.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.iter().map(|l| l.code.as_str())
    }

    /// Identifies the language of `text`.
    pub fn identify(&self, text: &str) -> Identified {
        let Some(script) = dominant_script(text) else {
            return Identified {
                code: "und".into(),
                language: "und".into(),
                script: "Zyyy",
                confidence: 0.0,
            };
        };
        let candidates: Vec<usize> = (0..self.languages.len())
            .filter(|&i| self.languages[i].script == script)
            .collect();
        let fallback = |code: &str| Identified {
            code: code.to_string(),
            language: primary(code).to_string(),
            script: script.code(),
            confidence: 0.0,
        };
        match candidates.len() {
            0 => return fallback(script_fallback(script)),
            1 => {
                return Identified {
                    confidence: 1.0,
                    ..fallback(&self.languages[candidates[0]].code)
                };
            }
            _ => {}
        }
        let l = self.languages.len();
        let mut scores = vec![0.0f32; candidates.len()];
        // Only letters of the dominant script vote: an English brand name inside an
        // Arabic post says nothing about which Arabic-script language it is.
        let mixed = text
            .chars()
            .any(|c| script_of(c).is_some_and(|s| s != script));
        let filtered: std::borrow::Cow<'_, str> = if mixed {
            text.chars()
                .map(|c| match script_of(c) {
                    Some(s) if s != script => ' ',
                    _ => c,
                })
                .collect::<String>()
                .into()
        } else {
            text.into()
        };
        let (lo, hi) = (candidates[0], candidates[candidates.len() - 1] + 1);
        for_each_feature(&filtered, |b| {
            let row = &self.log_prob[b * l + lo..b * l + hi];
            for (score, w) in scores.iter_mut().zip(row) {
                *score += w;
            }
        });
        let (best, best_score) = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, s)| (i, *s))
            .unwrap_or((0, 0.0));
        let norm: f32 = scores.iter().map(|s| (s - best_score).exp()).sum();
        Identified {
            confidence: 1.0 / norm,
            ..fallback(&self.languages[candidates[best]].code)
        }
    }
}

const ALL_SCRIPTS: [Script; 14] = [
    Script::Latin,
    Script::Arabic,
    Script::Han,
    Script::Cyrillic,
    Script::Greek,
    Script::Ethiopic,
    Script::Hangul,
    Script::Kana,
    Script::Devanagari,
    Script::Thai,
    Script::Hebrew,
    Script::Armenian,
    Script::Georgian,
    Script::Other,
];

/// A best guess for scripts that no trained language uses.
fn script_fallback(script: Script) -> &'static str {
    match script {
        Script::Han => "zh",
        Script::Cyrillic => "ru",
        Script::Hangul => "ko",
        Script::Kana => "ja",
        Script::Devanagari => "hi",
        Script::Thai => "th",
        Script::Hebrew => "he",
        Script::Armenian => "hy",
        Script::Georgian => "ka",
        Script::Greek => "el",
        _ => "und",
    }
}

/// The primary subtag of a language code: `ar-Latn` → `ar`.
pub fn primary(code: &str) -> &str {
    code.split(['-', '_']).next().unwrap_or(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identifier() -> LanguageIdentifier {
        LanguageIdentifier::train([
            (
                "en",
                "the boat leaves tonight from the beach, call me for the price",
            ),
            ("en", "my brother is missing, please help us find him"),
            (
                "fr",
                "le bateau part ce soir de la plage, appelle-moi pour le prix",
            ),
            ("fr", "mon frère a disparu, aidez-nous à le retrouver"),
            ("ar-Latn", "n7eb nahrag l italie, 9adech el 7arga? 5ouya"),
            ("ar-Latn", "el chqaf yemchi ghodwa, 3andek flous?"),
            ("el", "η βάρκα φεύγει απόψε"),
        ])
    }

    #[test]
    fn separates_languages_of_one_script() {
        let id = identifier();
        assert_eq!(id.identify("the price of the boat tonight").code, "en");
        assert_eq!(id.identify("le prix du bateau ce soir").code, "fr");
        assert_eq!(id.identify("9adech el 7arga l italie").code, "ar-Latn");
        let arabizi = id.identify("9adech el 7arga");
        assert_eq!((arabizi.language.as_str(), arabizi.script), ("ar", "Latn"));
    }

    #[test]
    fn uses_the_script_when_it_decides() {
        let id = identifier();
        assert_eq!(id.identify("βάρκα").language, "el");
        assert_eq!(id.identify("走线").language, "zh");
        assert_eq!(id.identify("🚤 🇬🇧 100").language, "und");
    }
}
