//! Normalisation that undoes obfuscation while keeping a map back to the original text.
//!
//! Smugglers write `W.h.a.t.s.A.p.p`, `b0at`, `Ｇａｍｅ`, Cyrillic letters inside Latin words,
//! zero-width spaces and emoji keycaps so that keyword filters miss them. [`fold`] turns
//! a text into two views that detection can read, and every character of each view remembers
//! which characters of the original it came from, so that evidence found in a view can be
//! shown to a reviewer in the text they actually see.
//!
//! - The **plain** view: compatibility-folded (NFKD), lower-cased, without diacritics,
//!   invisible characters, Arabic vowel marks or tatweel; digits of every script as ASCII
//!   digits; split letters joined; mixed-script homoglyphs mapped to Latin. Entities (phone
//!   numbers, prices, links) are read from it.
//! - The **lexical** view: the plain view with leetspeak undone inside words (`g4me` →
//!   `game`), runs of a repeated letter collapsed to one, and punctuation turned into single
//!   spaces. Lexicons and the classifier read it. Lexicon terms go through the same function,
//!   so a term and its obfuscated forms meet in the same spelling.

use crate::script::CharClass;
use unicode_normalization::char::decompose_compatible;

/// A text in one normalised view, with the origin of each of its characters.
#[derive(Debug, Clone, Default)]
pub struct View {
    text: String,
    /// For each byte of `text`, the index of the view character that contains it.
    char_at_byte: Vec<u32>,
    /// For each view character, the range of original characters (code points) it comes from.
    origin: Vec<(u32, u32)>,
}

impl View {
    fn with_capacity(bytes: usize) -> Self {
        View {
            text: String::with_capacity(bytes),
            char_at_byte: Vec::with_capacity(bytes),
            origin: Vec::with_capacity(bytes),
        }
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Maps a byte range of the view back to a range of original code points.
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        if self.origin.is_empty() || start >= end {
            return (0, 0);
        }
        let first = self.char_at_byte[start.min(self.char_at_byte.len() - 1)] as usize;
        let last = self.char_at_byte[(end - 1).min(self.char_at_byte.len() - 1)] as usize;
        (self.origin[first].0 as usize, self.origin[last].1 as usize)
    }

    fn push(&mut self, c: char, origin: (u32, u32)) {
        let index = self.origin.len() as u32;
        self.origin.push(origin);
        for _ in 0..c.len_utf8() {
            self.char_at_byte.push(index);
        }
        self.text.push(c);
    }
}

/// Both views of one text.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    pub plain: View,
    pub lexical: View,
}

/// One character of the intermediate form, with its original range.
#[derive(Debug, Clone, Copy)]
struct Unit {
    c: char,
    from: u32,
    to: u32,
}

/// Normalises `text` into its plain and lexical views.
pub fn fold(text: &str) -> Folded {
    let mut units = decompose(text);
    join_split_letters(&mut units);
    map_mixed_script_homoglyphs(&mut units);
    let mut plain = View::with_capacity(text.len());
    for u in &units {
        plain.push(u.c, (u.from, u.to));
    }
    let lexical = lexical_view(&units);
    Folded { plain, lexical }
}

/// Folds a lexicon term or query the same way as a text, returning its lexical view.
pub fn fold_term(term: &str) -> String {
    fold(term).lexical.text
}

/// Characters that carry no visible content and are used to break up keywords.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{0640}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{20E3}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{E0000}'..='\u{E007F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Diacritics and Arabic vowel marks: dropped, because they are optional in informal
/// writing ("vuot bien" for "vượt biên") and vary between writers of the same word.
fn is_droppable_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06DC}'
        | '\u{06DF}'..='\u{06E4}' | '\u{06E7}' | '\u{06E8}' | '\u{06EA}'..='\u{06ED}')
}

/// Letters that NFKD leaves alone but that writers swap freely.
fn fold_letter(c: char) -> char {
    match c {
        // Digits of other scripts, so that phone numbers and prices read the same everywhere.
        '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
        '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
        '\u{0966}'..='\u{096F}' => char::from(b'0' + (c as u32 - 0x0966) as u8),
        // Arabic-script letter variants: alef forms, yeh and kaf in their Arabic and
        // Persian shapes, teh marbuta.
        'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
        'ى' | 'ی' | 'ې' | 'ۍ' | 'ئ' => 'ي',
        'ک' => 'ك',
        'ة' => 'ه',
        'ؤ' => 'و',
        // Latin letters with strokes that have no decomposition.
        'đ' | 'ð' => 'd',
        'ł' => 'l',
        'ø' => 'o',
        'ı' => 'i',
        'ħ' => 'h',
        'ς' => 'σ',
        _ => c,
    }
}

fn decompose(text: &str) -> Vec<Unit> {
    let mut units = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        let i = i as u32;
        let mut push = |d: char| {
            if is_invisible(d) || is_droppable_mark(d) {
                return;
            }
            let d = fold_letter(d);
            if d.is_ascii() {
                units.push(Unit {
                    c: d.to_ascii_lowercase(),
                    from: i,
                    to: i + 1,
                });
            } else {
                for l in d.to_lowercase() {
                    if !is_droppable_mark(l) {
                        units.push(Unit {
                            c: fold_letter(l),
                            from: i,
                            to: i + 1,
                        });
                    }
                }
            }
        };
        if c.is_ascii() {
            push(c);
        } else {
            decompose_compatible(c, &mut push);
        }
    }
    units
}

/// Separators that obfuscators put between the letters of a keyword.
fn is_letter_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '.' | '-' | '_' | '*' | '|' | '/' | '·' | '•' | '+' | '~' | ','
    )
}

/// Joins `w h a t s a p p` and `b.o.a.t`: three or more single letters, each separated by
/// one separator character, become one word.
fn join_split_letters(units: &mut Vec<Unit>) {
    let n = units.len();
    let single = |i: usize| -> bool {
        units[i].c.is_alnum_fast()
            && (i == 0 || !units[i - 1].c.is_alnum_fast())
            && (i + 1 == n || !units[i + 1].c.is_alnum_fast())
    };
    let mut drop = vec![false; n];
    let mut i = 0;
    while i < n {
        if !single(i) {
            i += 1;
            continue;
        }
        // Extend the run: letter, separator, letter, separator, ...
        let mut end = i;
        let mut letters = 1;
        let mut alphabetic = usize::from(units[i].c.is_alpha_fast());
        while end + 2 < n && is_letter_separator(units[end + 1].c) && single(end + 2) {
            end += 2;
            letters += 1;
            alphabetic += usize::from(units[end].c.is_alpha_fast());
        }
        // Digits alone are phone numbers and prices: entities read those.
        if letters >= 3 && alphabetic * 2 > letters {
            for j in (i + 1..end).step_by(2) {
                drop[j] = true;
            }
        }
        i = end + 1;
    }
    if drop.iter().any(|d| *d) {
        let mut k = 0;
        units.retain(|_| {
            k += 1;
            !drop[k - 1]
        });
    }
}

fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '\u{00C0}'..='\u{024F}')
}

/// Latin look-alikes of Cyrillic and Greek letters (after lower-casing).
fn latin_confusable(c: char) -> Option<char> {
    Some(match c {
        'а' | 'α' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'е' | 'ё' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ι' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'н' | 'η' => 'n',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'у' => 'y',
        'ѡ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'ν' => 'v',
        'ѵ' => 'v',
        'ԁ' => 'd',
        'ɡ' => 'g',
        'ո' => 'n',
        _ => return None,
    })
}

/// Inside a word that mixes Latin letters with Cyrillic or Greek ones, the foreign
/// letters are almost always homoglyphs planted to dodge filters: read them as Latin.
/// Words wholly in Cyrillic or Greek are left alone, since they are real words.
fn map_mixed_script_homoglyphs(units: &mut [Unit]) {
    let mut start = 0;
    while start < units.len() {
        if !units[start].c.is_alnum_fast() {
            start += 1;
            continue;
        }
        let mut end = start;
        let (mut latin, mut foreign) = (0, 0);
        while end < units.len() && units[end].c.is_alnum_fast() {
            let c = units[end].c;
            if is_latin(c) {
                latin += 1;
            } else if latin_confusable(c).is_some() {
                foreign += 1;
            }
            end += 1;
        }
        if latin > 0 && foreign > 0 {
            for u in &mut units[start..end] {
                if let Some(l) = latin_confusable(u.c) {
                    u.c = l;
                }
            }
        }
        start = end;
    }
}

fn leet_letter(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' | '!' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        _ => return None,
    })
}

/// Digits standing for Greek letters inside Greek words (`Α7ήνα` for `Αθήνα` is read as
/// `ατηνα`, and `0δηγ0ί` as `οδηγοι`).
fn greek_leet_letter(c: char) -> Option<char> {
    Some(match c {
        '0' => 'ο',
        '1' => 'ι',
        '3' => 'ε',
        '4' | '@' => 'α',
        '7' => 'τ',
        '8' => 'β',
        _ => return None,
    })
}

/// Punctuation is a word break for lexicons; symbols and emoji are evidence and stay.
fn is_word_break(c: char) -> bool {
    if c.is_whitespace() {
        return true;
    }
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !matches!(c, '%' | '$' | '+' | '&');
    }
    matches!(c,
        '\u{00A1}' | '\u{00A7}' | '\u{00AB}' | '\u{00B6}' | '\u{00B7}' | '\u{00BB}' | '\u{00BF}'
        | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{205E}' | '\u{3000}'..='\u{3003}'
        | '\u{3008}'..='\u{3011}' | '\u{3014}'..='\u{301F}' | '\u{30FB}'
        | '\u{060C}' | '\u{061B}' | '\u{061E}' | '\u{061F}' | '\u{066A}'..='\u{066D}' | '\u{06D4}'
        | '\u{1360}'..='\u{1368}' | '\u{055C}'..='\u{055E}' | '\u{0964}' | '\u{0965}')
}

/// `@`, `$` and `!` standing for letters: followed by a letter, and for `!` also preceded
/// by one (`p@y`, `$afe`, `n!ght`).
fn is_leet_symbol(units: &[Unit], i: usize) -> bool {
    let next_is_letter = units.get(i + 1).is_some_and(|u| u.c.is_alpha_fast());
    match units[i].c {
        '@' | '$' => next_is_letter,
        '!' => next_is_letter && i > 0 && units[i - 1].c.is_alpha_fast(),
        _ => false,
    }
}

fn lexical_view(units: &[Unit]) -> View {
    let mut view = View::with_capacity(units.len() + 8);
    let mut pending_space: Option<(u32, u32)> = None;
    let mut i = 0;
    while i < units.len() {
        let u = units[i];
        if is_word_break(u.c) && !is_leet_symbol(units, i) {
            if !view.text.is_empty() && pending_space.is_none() {
                pending_space = Some((u.from, u.to));
            }
            i += 1;
            continue;
        }
        // A word: alphanumerics, plus leet symbols between letters (`p@y`, `$afe`).
        let mut end = i;
        while end < units.len() && (units[end].c.is_alnum_fast() || is_leet_symbol(units, end)) {
            end += 1;
        }
        if end == i {
            // A symbol or emoji on its own.
            if let Some(space) = pending_space.take() {
                view.push(' ', space);
            }
            view.push(u.c, (u.from, u.to));
            i += 1;
            continue;
        }
        if let Some(space) = pending_space.take() {
            view.push(' ', space);
        }
        let word = &units[i..end];
        let has_latin = word.iter().any(|w| is_latin(w.c));
        let has_greek = !has_latin && word.iter().any(|w| matches!(w.c, '\u{0370}'..='\u{03FF}'));
        let has_digit_or_symbol = word.iter().any(|w| !w.c.is_alpha_fast());
        let mut last: Option<char> = None;
        for w in word {
            let mut c = w.c;
            if has_digit_or_symbol {
                let mapped = if has_latin {
                    leet_letter(c)
                } else if has_greek {
                    greek_leet_letter(c)
                } else {
                    None
                };
                if let Some(l) = mapped {
                    c = l;
                }
            }
            // Collapse runs of one letter ("boooat" → "boat"); digits keep their count.
            if c.is_alpha_fast() && last == Some(c) {
                let k = view.origin.len() - 1;
                view.origin[k].1 = w.to;
                continue;
            }
            last = Some(c);
            view.push(c, (w.from, w.to));
        }
        i = end;
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> String {
        fold(s).lexical.text
    }

    #[test]
    fn undoes_common_obfuscations() {
        let cases = [
            ("Contact on W h a t s A p p", "contact on whatsap"),
            ("W.h.a.t.s.A.p.p +44", "whatsap +44"),
            ("b0at every n1ght", "boat every night"),
            ("Ｇａｍｅ tonight", "game tonight"),
            ("bo\u{200B}at", "boat"),
            ("p@y on arrival!!!", "pay on arival"),
            ("Сalais bоat", "calais boat"),
            ("vượt biên", "vuot bien"),
            (
                "Passage garantí, payé à l'arrivée",
                "pasage garanti paye a l arive",
            ),
            ("boooooat", "boat"),
        ];
        for (input, expected) in cases {
            assert_eq!(lex(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn keeps_real_words_numbers_and_emoji() {
        assert_eq!(lex("Λέσβος"), "λεσβοσ");
        assert_eq!(lex("Привет мир"), "привет мир");
        assert_eq!(lex("call 07700 900123"), "cal 07700 900123");
        assert_eq!(lex("🇹🇳➡️🇮🇹 100%"), "🇹🇳➡🇮🇹 100%");
        assert_eq!(lex("走线 包过"), "走线 包过");
        assert_eq!(lex("الحرقة ٢٠٠٠ دينار"), "الحرقه 2000 دينار");
        assert_eq!(lex("I am a boat"), "i am a boat");
        assert_eq!(lex("0δηγ0ί έμπειρ0ι"), "οδηγοι εμπειροι");
    }

    #[test]
    fn maps_spans_back_to_the_original() {
        let text = "Call W.h.a.t.s.A.p.p now";
        let folded = fold(text);
        let view = &folded.lexical;
        let at = view.as_str().find("whatsap").unwrap();
        let (s, e) = view.original_span(at, at + "whatsap".len());
        let original: String = text.chars().skip(s).take(e - s).collect();
        assert_eq!(original, "W.h.a.t.s.A.p.p");
    }

    #[test]
    fn plain_view_keeps_digits_in_words() {
        assert_eq!(fold("7arga b 3000dt").plain.as_str(), "7arga b 3000dt");
        assert_eq!(fold("Tel: ٠٧٧٠٠").plain.as_str(), "tel: 07700");
    }
}
