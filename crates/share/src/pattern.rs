//! STIX patterns for signals: one fixed pattern shape per signal kind out, and a small
//! parser that reads those shapes (and their common spellings by other producers) back.
//!
//! The parser understands one observation expression of `=` comparisons joined by `AND`;
//! anything else (`OR`, `LIKE`, qualifiers, several observations) cannot be one signal,
//! and is refused with a reason rather than half-understood.

use breakwater_core::{Signal, SignalError, SignalKind};

/// The custom observable type for phone numbers (the value is E.164).
pub const PHONE_OBSERVABLE: &str = "x-phone-number";
/// The custom observable type for phrases.
pub const PHRASE_OBSERVABLE: &str = "x-phrase";

/// Why a pattern could not be read as a signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(
        "pattern `{pattern}` is not valid STIX pattern syntax at byte {at}: expected {expected}"
    )]
    Syntax {
        pattern: String,
        at: usize,
        expected: &'static str,
    },
    #[error("pattern `{pattern}` is not a signal Breakwater understands: {reason}")]
    Unsupported { pattern: String, reason: String },
    #[error("pattern `{pattern}` names an invalid signal: {error}")]
    Signal { pattern: String, error: SignalError },
}

/// The STIX pattern that stands for `signal`.
pub fn to_pattern(signal: &Signal) -> String {
    let v = quote(&signal.value);
    match signal.kind {
        SignalKind::Pdq => format!("[file:hashes.'x_pdq' = {v}]"),
        SignalKind::Md5 => format!("[file:hashes.MD5 = {v}]"),
        SignalKind::Sha256 => format!("[file:hashes.'SHA-256' = {v}]"),
        SignalKind::Phone => format!("[{PHONE_OBSERVABLE}:value = {v}]"),
        SignalKind::Handle => {
            // A canonical handle always has a `:`; the name may contain more of them.
            let (platform, name) = signal.value.split_once(':').unwrap_or(("", &signal.value));
            format!(
                "[user-account:account_type = {} AND user-account:account_login = {}]",
                quote(platform),
                quote(name)
            )
        }
        SignalKind::Url => format!("[url:value = {v}]"),
        SignalKind::Domain => format!("[domain-name:value = {v}]"),
        SignalKind::Phrase => format!("[{PHRASE_OBSERVABLE}:value = {v}]"),
    }
}

/// A STIX string literal: quotes and backslashes escaped, as the pattern grammar asks.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// One `object-type:path = 'value'` comparison.
#[derive(Debug)]
struct Comparison {
    object_type: String,
    /// Path steps after the type, quotes removed: `["hashes", "SHA-256"]`.
    path: Vec<String>,
    value: String,
}

/// Reads a pattern written by [`to_pattern`] (or an equivalent spelling) back into a
/// signal in canonical form.
pub fn parse_pattern(pattern: &str) -> Result<Signal, PatternError> {
    let comparisons = Parser::new(pattern).observation()?;
    let unsupported = |reason: &str| PatternError::Unsupported {
        pattern: pattern.to_string(),
        reason: reason.to_string(),
    };
    let (kind, value) = match comparisons.as_slice() {
        [c] => single(c).ok_or_else(|| {
            unsupported(&format!(
                "no signal kind for `{}:{}`",
                c.object_type,
                c.path.join(".")
            ))
        })?,
        [a, b] if a.object_type == "user-account" && b.object_type == "user-account" => {
            let field = |name: &str| {
                [a, b]
                    .into_iter()
                    .find(|c| c.path.len() == 1 && c.path[0] == name)
                    .map(|c| c.value.as_str())
            };
            match (field("account_type"), field("account_login")) {
                (Some(platform), Some(login)) => {
                    (SignalKind::Handle, format!("{platform}:{login}"))
                }
                _ => {
                    return Err(unsupported(
                        "a user-account needs account_type and account_login",
                    ))
                }
            }
        }
        _ => {
            return Err(unsupported(
                "only one comparison, or a user-account's type and login, make a signal",
            ))
        }
    };
    Signal::parse(kind, &value).map_err(|error| PatternError::Signal {
        pattern: pattern.to_string(),
        error,
    })
}

/// The signal a single comparison stands for.
fn single(c: &Comparison) -> Option<(SignalKind, String)> {
    let path: Vec<&str> = c.path.iter().map(String::as_str).collect();
    let kind = match (c.object_type.as_str(), path.as_slice()) {
        ("file", ["hashes", algorithm]) => {
            // Producers spell algorithms `SHA-256`, `SHA256`, `sha256`; custom ones may
            // carry the `x_` prefix STIX asks for or not.
            let a: String = algorithm
                .to_ascii_lowercase()
                .chars()
                .filter(|c| *c != '-' && *c != '_')
                .collect();
            match a.as_str() {
                "md5" => SignalKind::Md5,
                "sha256" => SignalKind::Sha256,
                "xpdq" | "pdq" => SignalKind::Pdq,
                _ => return None,
            }
        }
        ("url", ["value"]) => SignalKind::Url,
        ("domain-name", ["value"]) => SignalKind::Domain,
        (PHONE_OBSERVABLE, ["value"]) => SignalKind::Phone,
        (PHRASE_OBSERVABLE, ["value"]) => SignalKind::Phrase,
        _ => return None,
    };
    Some((kind, c.value.clone()))
}

/// A recursive-descent reader over the subset of the pattern grammar described above.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn syntax(&self, expected: &'static str) -> PatternError {
        PatternError::Syntax {
            pattern: self.text.to_string(),
            at: self.pos,
            expected,
        }
    }

    fn unsupported(&self, reason: &str) -> PatternError {
        PatternError::Unsupported {
            pattern: self.text.to_string(),
            reason: reason.to_string(),
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// `[ comparison (AND comparison)* ]` and nothing after it.
    fn observation(&mut self) -> Result<Vec<Comparison>, PatternError> {
        if !self.eat("[") {
            return Err(self.syntax("`[`"));
        }
        let mut out = vec![self.comparison()?];
        loop {
            self.skip_ws();
            if self.eat("]") {
                break;
            }
            let word = self.word();
            match word.as_str() {
                "AND" => out.push(self.comparison()?),
                "OR" => return Err(self.unsupported("OR offers alternatives, not one signal")),
                "" => return Err(self.syntax("`AND` or `]`")),
                other => return Err(self.unsupported(&format!("`{other}` is not supported"))),
            }
        }
        self.skip_ws();
        if !self.rest().is_empty() {
            return Err(self
                .unsupported("qualifiers and several observation expressions are not supported"));
        }
        Ok(out)
    }

    /// A run of characters that may form an object type, property name or keyword.
    fn word(&mut self) -> String {
        self.skip_ws();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(self.rest().len());
        let w = self.rest()[..len].to_string();
        self.pos += len;
        w
    }

    fn comparison(&mut self) -> Result<Comparison, PatternError> {
        let object_type = self.word();
        if object_type.is_empty() {
            return Err(self.syntax("an object type"));
        }
        if !self.rest().starts_with(':') {
            return Err(self.syntax("`:` after the object type"));
        }
        self.pos += 1;
        let mut path = vec![self.step()?];
        while self.rest().starts_with('.') {
            self.pos += 1;
            path.push(self.step()?);
        }
        if self.rest().starts_with('[') {
            return Err(self.unsupported("list indexes are not supported"));
        }
        self.skip_ws();
        if !self.eat("=") {
            // `!=`, `LIKE`, `MATCHES`, `IN`, `>`…: none describe one exact value.
            return Err(self.unsupported("only `=` comparisons describe a signal"));
        }
        let value = self.string()?;
        Ok(Comparison {
            object_type,
            path,
            value,
        })
    }

    /// A path step: a bare name or a quoted one (`'SHA-256'`).
    fn step(&mut self) -> Result<String, PatternError> {
        if self.rest().starts_with('\'') {
            return self.string();
        }
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.syntax("a property name"));
        }
        let s = self.rest()[..len].to_string();
        self.pos += len;
        Ok(s)
    }

    /// A single-quoted string with `\'` and `\\` escapes.
    fn string(&mut self) -> Result<String, PatternError> {
        self.skip_ws();
        if !self.rest().starts_with('\'') {
            return Err(self.syntax("a quoted string"));
        }
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\'))) => out.push(e),
                    _ => {
                        self.pos += i;
                        return Err(self.syntax("`\\'` or `\\\\` after a backslash"));
                    }
                },
                c => out.push(c),
            }
        }
        self.pos = self.text.len();
        Err(self.syntax("a closing quote"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(kind: SignalKind, v: &str) -> Signal {
        Signal::parse(kind, v).unwrap()
    }

    #[test]
    fn patterns_are_the_documented_shapes() {
        let pdq = "a".repeat(64);
        assert_eq!(
            to_pattern(&sig(SignalKind::Pdq, &pdq)),
            format!("[file:hashes.'x_pdq' = '{pdq}']")
        );
        assert_eq!(
            to_pattern(&sig(SignalKind::Handle, "telegram:@Boza_VIP")),
            "[user-account:account_type = 'telegram' AND user-account:account_login = 'boza_vip']"
        );
        assert_eq!(
            to_pattern(&sig(SignalKind::Phone, "+44 7700 900123")),
            "[x-phone-number:value = '+447700900123']"
        );
        assert_eq!(
            to_pattern(&sig(SignalKind::Phrase, "it's a \\ trip")),
            r"[x-phrase:value = 'it\'s a \\ trip']"
        );
    }

    #[test]
    fn other_spellings_of_the_same_signal_are_read() {
        let sha = "b".repeat(64);
        for p in [
            format!("[file:hashes.'SHA-256'='{sha}']"),
            format!("[ file:hashes.SHA256 = '{sha}' ]"),
            format!("[file:hashes.'sha-256' = '{}']", sha.to_uppercase()),
        ] {
            assert_eq!(
                parse_pattern(&p).unwrap(),
                sig(SignalKind::Sha256, &sha),
                "{p}"
            );
        }
        let handle =
            "[user-account:account_login = 'Boza' AND user-account:account_type = 'telegram']";
        assert_eq!(
            parse_pattern(handle).unwrap(),
            sig(SignalKind::Handle, "telegram:boza")
        );
    }

    #[test]
    fn patterns_that_are_not_one_signal_are_refused_with_a_reason() {
        for (p, unsupported) in [
            ("[ipv4-addr:value = '10.0.0.1']", true),
            (
                "[url:value = 'http://a.example' OR url:value = 'http://b.example']",
                true,
            ),
            ("[url:value LIKE 'http://%']", true),
            ("[url:value = 'http://a.example'] WITHIN 10 SECONDS", true),
            ("[url:value = 'http://a.example'", false),
            ("url:value = 'http://a.example'", false),
            ("[url:value = 'unterminated]", false),
        ] {
            let e = parse_pattern(p).unwrap_err();
            assert_eq!(
                matches!(e, PatternError::Unsupported { .. }),
                unsupported,
                "{p}: {e}"
            );
        }
        assert!(matches!(
            parse_pattern("[file:hashes.MD5 = 'xyz']"),
            Err(PatternError::Signal { .. })
        ));
    }
}
