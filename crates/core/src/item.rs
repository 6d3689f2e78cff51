//! An item to assess: a post, advert, comment, profile text or search query.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest text accepted, in bytes. Longer items are refused rather than truncated,
/// because a truncated advert could hide its contact details past the cut.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// One piece of content, in the scan format of `DESIGN.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Item {
    pub id: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// Why an input record is not a valid item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    #[error("field `{field}` must be {expected}, found {found}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("`text` is empty and the item has no media")]
    EmptyText,
    #[error("`id` is empty")]
    EmptyId,
    #[error("`text` is {len} bytes, more than the limit of {max}")]
    TextTooLong { len: usize, max: usize },
    #[error("`created_at` is not an RFC 3339 timestamp: {0}")]
    BadTimestamp(String),
}

/// Fields that are not part of the item but are expected in labelled files; they are
/// accepted silently so that the same file can be scanned and evaluated.
const KNOWN_EXTRA_FIELDS: &[&str] = &["label", "subtype", "obfuscation", "meta"];

impl Item {
    /// Reads an item from parsed JSON, checking each field's type.
    ///
    /// Returns the item and warnings about fields that were ignored, so that a typo in a
    /// field name is reported instead of silently dropping data.
    pub fn from_json(value: Value) -> Result<(Item, Vec<String>), ItemError> {
        let Value::Object(mut map) = value else {
            return Err(ItemError::NotAnObject(type_name(&value)));
        };
        let id = match map.remove("id") {
            None | Some(Value::Null) => return Err(ItemError::MissingField("id")),
            Some(Value::String(s)) => s,
            // Numeric ids are common in exports; keep their exact text.
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => return Err(wrong_type("id", "a string", &other)),
        };
        if id.trim().is_empty() {
            return Err(ItemError::EmptyId);
        }
        let text = match map.remove("text") {
            None | Some(Value::Null) => return Err(ItemError::MissingField("text")),
            Some(Value::String(s)) => s,
            Some(other) => return Err(wrong_type("text", "a string", &other)),
        };
        if text.len() > MAX_TEXT_BYTES {
            return Err(ItemError::TextTooLong {
                len: text.len(),
                max: MAX_TEXT_BYTES,
            });
        }
        let media = match map.remove("media") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(values)) => values
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(wrong_type("media[]", "a string", &other)),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(wrong_type("media", "an array of strings", &other)),
        };
        if text.trim().is_empty() && media.is_empty() {
            return Err(ItemError::EmptyText);
        }
        let item = Item {
            id,
            text,
            lang: optional_string(&mut map, "lang")?,
            platform: optional_string(&mut map, "platform")?,
            author: optional_string(&mut map, "author")?,
            url: optional_string(&mut map, "url")?,
            media,
            created_at: optional_string(&mut map, "created_at")?,
        };
        if let Some(ts) = &item.created_at {
            if !looks_like_rfc3339(ts) {
                return Err(ItemError::BadTimestamp(ts.clone()));
            }
        }
        let warnings = map
            .keys()
            .filter(|k| !KNOWN_EXTRA_FIELDS.contains(&k.as_str()))
            .map(|k| format!("unknown field `{k}` ignored"))
            .collect();
        Ok((item, warnings))
    }
}

fn optional_string(
    map: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ItemError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", &other)),
    }
}

fn wrong_type(field: &str, expected: &'static str, found: &Value) -> ItemError {
    ItemError::WrongType {
        field: field.to_string(),
        expected,
        found: type_name(found),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A structural check of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; enough to catch a
/// wrong field without pulling a date library into the domain crate.
fn looks_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    if !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_full_item_and_warns_on_unknown_fields() {
        let (item, warnings) = Item::from_json(json!({
            "id": "a1", "text": "hello", "lang": "en", "media": ["x.jpg"],
            "created_at": "2026-11-01T10:00:00Z", "colour": "red", "label": "benign"
        }))
        .unwrap();
        assert_eq!(item.id, "a1");
        assert_eq!(item.media, vec!["x.jpg"]);
        assert_eq!(warnings, vec!["unknown field `colour` ignored"]);
    }

    #[test]
    fn rejects_bad_records_with_clear_errors() {
        let cases = [
            (json!([1, 2]), "expected a JSON object, found an array"),
            (json!({"text": "x"}), "missing required field `id`"),
            (
                json!({"id": "1", "text": 5}),
                "field `text` must be a string, found a number",
            ),
            (
                json!({"id": "1", "text": "  "}),
                "`text` is empty and the item has no media",
            ),
            (
                json!({"id": "1", "text": "x", "media": "a.jpg"}),
                "field `media` must be an array of strings, found a string",
            ),
            (
                json!({"id": "1", "text": "x", "created_at": "yesterday"}),
                "`created_at` is not an RFC 3339 timestamp: yesterday",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(Item::from_json(input).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn timestamps() {
        for ok in [
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00.123+01:00",
            "2026-11-01 10:00:00-05:00",
        ] {
            assert!(looks_like_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-11-01",
            "2026-11-01T10:00:00",
            "2026-11-01T10:00:00+0100",
            "x026-11-01T10:00:00Z",
        ] {
            assert!(!looks_like_rfc3339(bad), "{bad}");
        }
    }
}
