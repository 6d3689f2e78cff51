//! STIX/TAXII timestamps: RFC 3339 in UTC (`2024-05-01T12:00:00.000Z`).
//!
//! A small type of our own rather than a date-time crate: STIX needs only UTC instants,
//! parsing of one strict format and formatting with at least millisecond precision.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant in UTC with nanosecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Why a string is not a STIX timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("timestamp `{0}` is not RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fff]Z`)")]
    Syntax(String),
    #[error("timestamp `{0}` must be in UTC and end in `Z`")]
    NotUtc(String),
    #[error("timestamp `{0}` has a field out of range")]
    OutOfRange(String),
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// The current time, truncated to microseconds: TAXII's `date_added` precision, and
    /// what a database column of microseconds gives back unchanged.
    pub fn now() -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp::from_unix(d.as_secs() as i64, d.subsec_micros() * 1000)
    }

    /// From seconds and nanoseconds since the Unix epoch (`nanos` is clamped below 10⁹).
    pub fn from_unix(secs: i64, nanos: u32) -> Timestamp {
        Timestamp {
            secs,
            nanos: nanos.min(999_999_999),
        }
    }

    /// From microseconds since the Unix epoch.
    pub fn from_unix_micros(micros: i64) -> Timestamp {
        Timestamp {
            secs: micros.div_euclid(1_000_000),
            nanos: (micros.rem_euclid(1_000_000) * 1000) as u32,
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Microseconds since the Unix epoch (sub-microsecond digits are dropped).
    pub fn unix_micros(self) -> i64 {
        self.secs * 1_000_000 + i64::from(self.nanos / 1000)
    }

    /// The instant one microsecond later: the smallest step TAXII clocks take.
    pub fn next_micro(self) -> Timestamp {
        Timestamp::from_unix_micros(self.unix_micros() + 1)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    pub fn parse(s: &str) -> Result<Timestamp, TimestampError> {
        let syntax = || TimestampError::Syntax(s.to_string());
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(syntax());
        }
        let digits = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
            let part = &b[range];
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
            } else {
                Err(syntax())
            }
        };
        let year = digits(0..4)?;
        let month = digits(5..7)?;
        let day = digits(8..10)?;
        let hour = digits(11..13)?;
        let minute = digits(14..16)?;
        let second = digits(17..19)?;
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
            return Err(syntax());
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(syntax());
        }
        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix(b".") {
            let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if len == 0 {
                return Err(syntax());
            }
            // Digits past nanoseconds are dropped: no system we talk to has them.
            for (i, d) in frac[..len].iter().enumerate().take(9) {
                nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
            }
            rest = &frac[len..];
        }
        match rest {
            b"Z" | b"z" => {}
            [b'+' | b'-', ..] => return Err(TimestampError::NotUtc(s.to_string())),
            _ => return Err(syntax()),
        }
        let max_day = days_in_month(year, month);
        if !(1..=12).contains(&month)
            || day < 1
            || day > max_day
            || hour > 23
            || minute > 59
            // 60 is a leap second; it is read as the first second of the next minute.
            || second > 60
        {
            return Err(TimestampError::OutOfRange(s.to_string()));
        }
        let days = days_from_civil(year, month, day);
        Ok(Timestamp {
            secs: days * 86_400 + hour * 3600 + minute * 60 + second,
            nanos,
        })
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, counted in 400-year eras so that
/// the leap-year rule is handled without a loop.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0, so February is last and may be short.
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    /// Millisecond precision at least (STIX requires it for `created` and `modified`),
    /// more digits only when the instant has them, so formatting never loses precision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let secs_of_day = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.",
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )?;
        if self.nanos.is_multiple_of(1_000_000) {
            write!(f, "{:03}Z", self.nanos / 1_000_000)
        } else if self.nanos.is_multiple_of(1000) {
            write!(f, "{:06}Z", self.nanos / 1000)
        } else {
            write!(f, "{:09}Z", self.nanos)
        }
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        for s in [
            "1970-01-01T00:00:00.000Z",
            "2016-05-12T08:17:27.000Z",
            "2000-02-29T23:59:59.999Z",
            "2024-12-31T12:00:00.123456Z",
            "2100-03-01T00:00:00.000000001Z",
            "1969-12-31T23:59:59.500Z",
        ] {
            assert_eq!(Timestamp::parse(s).unwrap().to_string(), s);
        }
        let t = Timestamp::parse("2016-05-12T08:17:27Z").unwrap();
        assert_eq!(t.unix_seconds(), 1_463_041_047);
        assert_eq!(t.to_string(), "2016-05-12T08:17:27.000Z");
    }

    #[test]
    fn refuses_what_stix_refuses() {
        for bad in [
            "2016-05-12",
            "2016-05-12 08:17:27Z",
            "2016-05-12T08:17:27",
            "2016-13-12T08:17:27Z",
            "2015-02-29T08:17:27Z",
            "2016-05-12T08:17:27.Z",
            "2016-05-12T24:00:00Z",
            "2016-05-12T08:17:27.000Zjunk",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            Timestamp::parse("2016-05-12T08:17:27+01:00"),
            Err(TimestampError::NotUtc(_))
        ));
    }

    #[test]
    fn orders_by_instant_and_steps_by_microseconds() {
        let a = Timestamp::parse("2020-01-01T00:00:00.000Z").unwrap();
        let b = a.next_micro();
        assert!(a < b);
        assert_eq!(b.to_string(), "2020-01-01T00:00:00.000001Z");
        assert_eq!(Timestamp::from_unix_micros(b.unix_micros()), b);
    }
}
