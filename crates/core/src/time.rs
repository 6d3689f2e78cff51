//! RFC 3339 timestamps to and from Unix milliseconds, without a calendar dependency.

/// Parses `2026-11-25T10:00:00Z`, `2026-11-25T10:00:00.123+01:00` or a date `2026-11-25`
/// (midnight UTC) into Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if s.len() == 10 {
        return Some(days * 86_400_000);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let ms: String = frac[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = ms.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?)
        }
    };
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// Formats Unix milliseconds as `2026-11-25T10:00:00.000Z`.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `10/10/2026`, `1.5.26`, `2026-03-12`: day and month (in either order, or after a year),
/// with an optional year.
pub fn reads_as_date(text: &str) -> bool {
    let parts: Vec<&str> = text.trim().split(['/', '.', '-']).collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let n = |i: usize| parts[i].parse::<u32>().unwrap_or(0);
    let day_month = |a: u32, b: u32| (1..=31).contains(&a) && (1..=12).contains(&b);
    match parts.len() {
        2 => parts.iter().all(|p| p.len() <= 2) && (day_month(n(0), n(1)) || day_month(n(1), n(0))),
        _ if parts[0].len() == 4 => {
            parts[1].len() <= 2 && parts[2].len() <= 2 && day_month(n(2), n(1))
        }
        _ => {
            parts[0].len() <= 2
                && parts[1].len() <= 2
                && matches!(parts[2].len(), 2 | 4)
                && (day_month(n(0), n(1)) || day_month(n(1), n(0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2000-03-01"), Some(951_868_800_000));
        assert_eq!(
            parse_rfc3339_ms("2026-11-25T10:00:00.5+01:00"),
            parse_rfc3339_ms("2026-11-25T09:00:00.500Z")
        );
        assert_eq!(
            format_rfc3339_ms(951_868_800_123),
            "2000-03-01T00:00:00.123Z"
        );
    }

    #[test]
    fn dates_are_told_from_numbers() {
        for date in ["10/10/2026", "2026-11-25", "25.11.26", "3/4"] {
            assert!(reads_as_date(date), "{date}");
        }
        for other in ["7700 900123", "07911123456", "32/13/2026", "12345678"] {
            assert!(!reads_as_date(other), "{other}");
        }
    }

    #[test]
    fn round_trip_and_garbage() {
        for ms in [-86_400_001, 0, 1_700_000_000_000, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Some(ms));
        }
        for bad in [
            "",
            "2026-02-30",
            "2026-13-01T00:00:00Z",
            "2026-11-25T10:00:00",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
