//! Weeks, Monday to Sunday in UTC: the unit of trends and emerging terms.

use breakwater_core::{format_rfc3339_ms, parse_rfc3339_ms};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const DAY_MS: i64 = 86_400_000;

/// A week, counted from the Monday before the Unix epoch (1969-12-29).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Week(pub i64);

impl Week {
    /// The week a Unix-millisecond time falls in. The epoch was a Thursday, so days are
    /// shifted by three to start weeks on Monday.
    pub fn of(ms: i64) -> Week {
        Week((ms.div_euclid(DAY_MS) + 3).div_euclid(7))
    }

    /// Monday 00:00 UTC of the week, in Unix milliseconds.
    pub fn start_ms(self) -> i64 {
        (self.0 * 7 - 3) * DAY_MS
    }

    /// Reads the week of a date or timestamp (`2026-01-05`, or RFC 3339).
    pub fn parse(s: &str) -> Option<Week> {
        parse_rfc3339_ms(s).map(Week::of)
    }

    pub fn next(self) -> Week {
        Week(self.0 + 1)
    }

    pub fn previous(self) -> Week {
        Week(self.0 - 1)
    }
}

impl fmt::Display for Week {
    /// The date of the week's Monday, `2026-01-05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rfc3339_ms(self.start_ms())[..10])
    }
}

impl Serialize for Week {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Week {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Week::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a date: {s}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        let monday = parse_rfc3339_ms("2026-01-05T00:00:00Z").unwrap();
        let sunday_night = parse_rfc3339_ms("2026-01-11T23:59:59Z").unwrap();
        assert_eq!(Week::of(monday), Week::of(sunday_night));
        assert_eq!(Week::of(monday).next(), Week::of(sunday_night + 1000));
        assert_eq!(Week::of(sunday_night).to_string(), "2026-01-05");
        assert_eq!(Week::parse("2026-01-07").unwrap().to_string(), "2026-01-05");
        assert_eq!(Week::of(0).to_string(), "1969-12-29");
        assert_eq!(
            serde_json::to_string(&Week::of(monday)).unwrap(),
            "\"2026-01-05\""
        );
    }
}
