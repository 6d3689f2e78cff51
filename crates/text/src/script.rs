//! Writing systems, for language identification and word-boundary rules.

/// The scripts that matter for the languages Breakwater reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Script {
    Latin,
    Arabic,
    Han,
    Cyrillic,
    Greek,
    Ethiopic,
    Hangul,
    Kana,
    Devanagari,
    Thai,
    Hebrew,
    Armenian,
    Georgian,
    Other,
}

impl Script {
    /// The ISO 15924 code.
    pub fn code(self) -> &'static str {
        match self {
            Script::Latin => "Latn",
            Script::Arabic => "Arab",
            Script::Han => "Hani",
            Script::Cyrillic => "Cyrl",
            Script::Greek => "Grek",
            Script::Ethiopic => "Ethi",
            Script::Hangul => "Hang",
            Script::Kana => "Kana",
            Script::Devanagari => "Deva",
            Script::Thai => "Thai",
            Script::Hebrew => "Hebr",
            Script::Armenian => "Armn",
            Script::Georgian => "Geor",
            Script::Other => "Zyyy",
        }
    }

    /// Scripts written without spaces between words, where a term may start or end
    /// anywhere.
    pub fn is_unspaced(self) -> bool {
        matches!(self, Script::Han | Script::Kana | Script::Thai)
    }
}

/// The script of a letter, or `None` for digits, punctuation, symbols and emoji.
pub fn script_of(c: char) -> Option<Script> {
    if c.is_ascii() {
        return c.is_ascii_alphabetic().then_some(Script::Latin);
    }
    if !c.is_alpha_fast() {
        return None;
    }
    Some(match c as u32 {
        0x00C0..=0x024F | 0x1E00..=0x1EFF | 0x2C60..=0x2C7F | 0xA720..=0xA7FF => Script::Latin,
        0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
        0x0400..=0x052F => Script::Cyrillic,
        0x0530..=0x058F => Script::Armenian,
        0x0590..=0x05FF => Script::Hebrew,
        0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Script::Arabic
        }
        0x0900..=0x097F => Script::Devanagari,
        0x0E00..=0x0E7F => Script::Thai,
        0x10A0..=0x10FF => Script::Georgian,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Hangul,
        0x1200..=0x139F | 0x2D80..=0x2DDF | 0xAB00..=0xAB2F => Script::Ethiopic,
        0x3040..=0x30FF => Script::Kana,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF => Script::Han,
        _ => Script::Other,
    })
}

/// The script with the most letters in `text`, if it has any letters.
pub fn dominant_script(text: &str) -> Option<Script> {
    let mut counts: [(Script, usize); 14] = [
        (Script::Latin, 0),
        (Script::Arabic, 0),
        (Script::Han, 0),
        (Script::Cyrillic, 0),
        (Script::Greek, 0),
        (Script::Ethiopic, 0),
        (Script::Hangul, 0),
        (Script::Kana, 0),
        (Script::Devanagari, 0),
        (Script::Thai, 0),
        (Script::Hebrew, 0),
        (Script::Armenian, 0),
        (Script::Georgian, 0),
        (Script::Other, 0),
    ];
    for c in text.chars() {
        if let Some(s) = script_of(c) {
            if let Some(slot) = counts.iter_mut().find(|(k, _)| *k == s) {
                // A Han character carries about as much as a short word.
                slot.1 += if s == Script::Han { 3 } else { 1 };
            }
        }
    }
    // Kana beside Han is Japanese, not Chinese.
    let kana = counts[7].1;
    if kana > 0 {
        counts[7].1 += counts[2].1;
    }
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(_, n)| *n)
        .map(|(s, _)| *s)
}

/// Fast Unicode character classes for the hot loops: the standard library's tables are a
/// binary search per non-ASCII character, and every text is walked several times.
#[allow(clippy::wrong_self_convention)]
pub trait CharClass {
    /// `char::is_alphanumeric`, from a bitmap for the Basic Multilingual Plane.
    fn is_alnum_fast(self) -> bool;
    /// `char::is_alphabetic`, from a bitmap for the Basic Multilingual Plane.
    fn is_alpha_fast(self) -> bool;
}

struct Bitmaps {
    alnum: Vec<u64>,
    alpha: Vec<u64>,
}

fn bitmaps() -> &'static Bitmaps {
    static MAPS: std::sync::OnceLock<Bitmaps> = std::sync::OnceLock::new();
    MAPS.get_or_init(|| {
        let mut alnum = vec![0u64; 1024];
        let mut alpha = vec![0u64; 1024];
        for cp in 0u32..0x10000 {
            if let Some(c) = char::from_u32(cp) {
                if c.is_alphanumeric() {
                    alnum[(cp >> 6) as usize] |= 1 << (cp & 63);
                }
                if c.is_alphabetic() {
                    alpha[(cp >> 6) as usize] |= 1 << (cp & 63);
                }
            }
        }
        Bitmaps { alnum, alpha }
    })
}

impl CharClass for char {
    #[inline]
    fn is_alnum_fast(self) -> bool {
        let cp = self as u32;
        if cp < 0x80 {
            return self.is_ascii_alphanumeric();
        }
        if cp < 0x10000 {
            return bitmaps().alnum[(cp >> 6) as usize] >> (cp & 63) & 1 == 1;
        }
        self.is_alphanumeric()
    }

    #[inline]
    fn is_alpha_fast(self) -> bool {
        let cp = self as u32;
        if cp < 0x80 {
            return self.is_ascii_alphabetic();
        }
        if cp < 0x10000 {
            return bitmaps().alpha[(cp >> 6) as usize] >> (cp & 63) & 1 == 1;
        }
        self.is_alphabetic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_main_script() {
        assert_eq!(dominant_script("Game tonight 🚤"), Some(Script::Latin));
        assert_eq!(dominant_script("الحرقة 2000 dt"), Some(Script::Arabic));
        assert_eq!(dominant_script("走线 WeChat"), Some(Script::Han));
        assert_eq!(dominant_script("ስደት"), Some(Script::Ethiopic));
        assert_eq!(dominant_script("123 🚤"), None);
    }
}
