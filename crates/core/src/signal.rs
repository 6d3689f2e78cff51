//! Signals: the hashes, numbers, accounts, addresses and phrases that partners put in banks
//! and match content against.
//!
//! Every signal has one canonical text form, so the same phone number typed with spaces, or
//! the same handle with and without `@`, is one signal in a bank, one row in the database and
//! one STIX object when shared.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kinds of signal a bank can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A 256-bit PDQ perceptual image hash, 64 hex digits.
    Pdq,
    Md5,
    Sha256,
    /// A phone number in E.164 form, `+447700900123`.
    Phone,
    /// An account on a platform, `telegram:boza_vip`.
    Handle,
    Url,
    /// A host name; matches the domain and its subdomains.
    Domain,
    /// A word or phrase, matched against the normalised text of an item.
    Phrase,
}

impl SignalKind {
    pub const ALL: [SignalKind; 8] = [
        SignalKind::Pdq,
        SignalKind::Md5,
        SignalKind::Sha256,
        SignalKind::Phone,
        SignalKind::Handle,
        SignalKind::Url,
        SignalKind::Domain,
        SignalKind::Phrase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Pdq => "pdq",
            SignalKind::Md5 => "md5",
            SignalKind::Sha256 => "sha256",
            SignalKind::Phone => "phone",
            SignalKind::Handle => "handle",
            SignalKind::Url => "url",
            SignalKind::Domain => "domain",
            SignalKind::Phrase => "phrase",
        }
    }

    /// Whether the signal identifies media (matched against image hashes) rather than text.
    pub fn is_media(self) -> bool {
        matches!(self, SignalKind::Pdq | SignalKind::Md5 | SignalKind::Sha256)
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignalKind {
    type Err = SignalError;
    fn from_str(s: &str) -> Result<Self, SignalError> {
        SignalKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| SignalError::UnknownKind(s.to_string()))
    }
}

/// What a match against a bank means for the item: send it to review, or treat it as
/// violating (a list of confirmed images, for instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchVerdict {
    Review,
    Violating,
}

impl MatchVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchVerdict::Review => "review",
            MatchVerdict::Violating => "violating",
        }
    }
}

impl FromStr for MatchVerdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "review" => Ok(MatchVerdict::Review),
            "violating" => Ok(MatchVerdict::Violating),
            _ => Err(format!(
                "unknown match verdict `{s}` (expected review or violating)"
            )),
        }
    }
}

/// Why a value is not a valid signal of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("unknown signal kind `{0}` (expected pdq, md5, sha256, phone, handle, url, domain or phrase)")]
    UnknownKind(String),
    #[error("{kind} signal is empty")]
    Empty { kind: SignalKind },
    #[error("{kind} must be {digits} hexadecimal digits, got `{value}`")]
    BadHex {
        kind: SignalKind,
        digits: usize,
        value: String,
    },
    #[error("phone `{0}` must be in international form: `+` then 8 to 15 digits")]
    BadPhone(String),
    #[error("handle `{0}` must be `platform:name`, e.g. `telegram:boza_vip`")]
    BadHandle(String),
    #[error("url `{0}` must be an absolute http(s) URL with a host")]
    BadUrl(String),
    #[error("domain `{0}` is not a host name")]
    BadDomain(String),
    #[error("{kind} signal is {len} bytes, more than the limit of {max}")]
    TooLong {
        kind: SignalKind,
        len: usize,
        max: usize,
    },
}

/// The longest signal value accepted (URLs and phrases are the long ones).
pub const MAX_SIGNAL_BYTES: usize = 2048;

/// A signal in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Signal {
    pub kind: SignalKind,
    pub value: String,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl Signal {
    /// Checks `raw` and brings it to the canonical form of `kind`.
    pub fn parse(kind: SignalKind, raw: &str) -> Result<Signal, SignalError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(SignalError::Empty { kind });
        }
        if raw.len() > MAX_SIGNAL_BYTES {
            return Err(SignalError::TooLong {
                kind,
                len: raw.len(),
                max: MAX_SIGNAL_BYTES,
            });
        }
        let value = match kind {
            SignalKind::Pdq => hex(kind, raw, 64)?,
            SignalKind::Md5 => hex(kind, raw, 32)?,
            SignalKind::Sha256 => hex(kind, raw, 64)?,
            SignalKind::Phone => phone(raw)?,
            SignalKind::Handle => handle(raw)?,
            SignalKind::Url => url(raw)?,
            SignalKind::Domain => domain(raw).ok_or_else(|| SignalError::BadDomain(raw.into()))?,
            SignalKind::Phrase => phrase(raw),
        };
        Ok(Signal { kind, value })
    }
}

fn hex(kind: SignalKind, raw: &str, digits: usize) -> Result<String, SignalError> {
    if raw.len() == digits && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(SignalError::BadHex {
            kind,
            digits,
            value: raw.to_string(),
        })
    }
}

/// `+44 7700-900 123`, `(+44) 7700 900123`, `0044 7700 900123` → `+447700900123`.
fn phone(raw: &str) -> Result<String, SignalError> {
    let bad = || SignalError::BadPhone(raw.to_string());
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = if let Some(rest) = compact.strip_prefix('+') {
        rest
    } else if let Some(rest) = compact.strip_prefix("00") {
        rest
    } else {
        return Err(bad());
    };
    if !(8..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(bad());
    }
    Ok(format!("+{digits}"))
}

/// `Telegram:@Boza_VIP` → `telegram:boza_vip`.
fn handle(raw: &str) -> Result<String, SignalError> {
    let bad = || SignalError::BadHandle(raw.to_string());
    let (platform, name) = raw.split_once(':').ok_or_else(bad)?;
    let platform = platform.trim().to_lowercase();
    let name = name.trim().trim_start_matches('@').to_lowercase();
    let platform_ok = !platform.is_empty()
        && platform
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let name_ok = !name.is_empty() && !name.chars().any(char::is_whitespace);
    if platform_ok && name_ok {
        Ok(format!("{platform}:{name}"))
    } else {
        Err(bad())
    }
}

/// Lower-cases scheme and host, drops the default port, the fragment and a lone trailing
/// slash, so `HTTPS://Example.com:443/#top` and `https://example.com` are one signal.
fn url(raw: &str) -> Result<String, SignalError> {
    let bad = || SignalError::BadUrl(raw.to_string());
    let (scheme, rest) = raw.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let rest = rest.split('#').next().unwrap_or("");
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (authority, None),
    };
    let host = domain(host).ok_or_else(bad)?;
    let port = match (scheme.as_str(), port) {
        ("http", Some("80")) | ("https", Some("443")) | (_, None) | (_, Some("")) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    let path = if path == "/" { "" } else { path };
    Ok(format!("{scheme}://{host}{port}{path}"))
}

/// The host name of a domain signal or URL, lower-case, without `www.` or a trailing dot.
pub fn domain(raw: &str) -> Option<String> {
    let host = raw.trim().trim_end_matches('.').to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    ok.then(|| host.to_string())
}

/// Phrases keep their words; only case and runs of white space are folded here. Matching
/// folds obfuscation on both sides with the same normaliser as detection.
fn phrase(raw: &str) -> String {
    raw.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(kind: SignalKind, raw: &str) -> String {
        Signal::parse(kind, raw).unwrap().value
    }

    #[test]
    fn hashes_are_lower_case_hex_of_the_right_length() {
        let pdq = "F".repeat(64);
        assert_eq!(canon(SignalKind::Pdq, &pdq), "f".repeat(64));
        assert!(Signal::parse(SignalKind::Md5, &"a".repeat(31)).is_err());
        assert!(Signal::parse(SignalKind::Sha256, &"g".repeat(64)).is_err());
    }

    #[test]
    fn phones_fold_to_e164() {
        assert_eq!(
            canon(SignalKind::Phone, "+44 7700-900 123"),
            "+447700900123"
        );
        assert_eq!(
            canon(SignalKind::Phone, "0044 (7700) 900123"),
            "+447700900123"
        );
        assert!(Signal::parse(SignalKind::Phone, "07700 900123").is_err());
        assert!(Signal::parse(SignalKind::Phone, "+44 77x0").is_err());
    }

    #[test]
    fn handles_need_a_platform() {
        assert_eq!(
            canon(SignalKind::Handle, "Telegram:@Boza_VIP"),
            "telegram:boza_vip"
        );
        assert!(Signal::parse(SignalKind::Handle, "@boza").is_err());
        assert!(Signal::parse(SignalKind::Handle, "telegram:two words").is_err());
    }

    #[test]
    fn urls_and_domains_fold_equivalent_spellings() {
        assert_eq!(
            canon(SignalKind::Url, "HTTPS://WWW.Example.com:443/#top"),
            "https://example.com"
        );
        assert_eq!(
            canon(SignalKind::Url, "http://example.com:8080/a?b=1"),
            "http://example.com:8080/a?b=1"
        );
        assert!(Signal::parse(SignalKind::Url, "ftp://example.com").is_err());
        assert!(Signal::parse(SignalKind::Url, "example.com/x").is_err());
        assert_eq!(
            canon(SignalKind::Domain, "WWW.Boats-UK.com."),
            "boats-uk.com"
        );
        assert!(Signal::parse(SignalKind::Domain, "bad..domain").is_err());
    }

    #[test]
    fn kinds_parse_case_insensitively_and_unknown_is_an_error() {
        assert_eq!("PDQ".parse::<SignalKind>().unwrap(), SignalKind::Pdq);
        assert!(matches!(
            "tlsh".parse::<SignalKind>(),
            Err(SignalError::UnknownKind(_))
        ));
    }

    #[test]
    fn oversized_values_are_refused() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_SIGNAL_BYTES));
        assert!(matches!(
            Signal::parse(SignalKind::Url, &long),
            Err(SignalError::TooLong { .. })
        ));
    }
}
