//! Reading phone numbers with the numbering plans of libphonenumber's metadata.
//!
//! The metadata (calling codes, national prefixes, possible lengths) comes from the
//! `phonenumber` crate, a libphonenumber port; its full regular-expression validation is
//! far too slow to run on every post, so numbers are read with table lookups only.

use phonenumber::metadata::DATABASE;
use phonenumber::Type;
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone)]
struct Plan {
    region: String,
    code: u16,
    national_prefix: Option<String>,
    /// Possible lengths of a national significant number.
    lengths: Vec<u16>,
}

#[derive(Debug, Default)]
struct Plans {
    by_code: HashMap<u16, Plan>,
    by_region: HashMap<String, Plan>,
}

fn plans() -> &'static Plans {
    static PLANS: OnceLock<Plans> = OnceLock::new();
    PLANS.get_or_init(|| {
        let mut plans = Plans::default();
        for code in 1u16..1000 {
            let Some(entries) = DATABASE.by_code(&code) else {
                continue;
            };
            for m in entries {
                let plan = Plan {
                    region: m.id().to_string(),
                    code,
                    national_prefix: m.national_prefix().map(str::to_string),
                    lengths: possible_lengths(m),
                };
                if m.is_main_country_for_code() || !plans.by_code.contains_key(&code) {
                    plans.by_code.insert(code, plan.clone());
                }
                plans.by_region.insert(plan.region.clone(), plan);
            }
        }
        plans
    })
}

/// Possible lengths of the plan's numbers: the general description's, or where the
/// metadata leaves that empty, the union of every number type's.
fn possible_lengths(m: &phonenumber::Metadata) -> Vec<u16> {
    let d = m.descriptors();
    let mut lengths: Vec<u16> = d
        .get(Type::Unknown)
        .map(|g| g.possible_length().to_vec())
        .unwrap_or_default();
    if lengths.is_empty() {
        for t in [
            Type::FixedLine,
            Type::Mobile,
            Type::TollFree,
            Type::Voip,
            Type::PersonalNumber,
            Type::Uan,
        ] {
            if let Some(desc) = d.get(t) {
                lengths.extend_from_slice(desc.possible_length());
            }
        }
        lengths.sort_unstable();
        lengths.dedup();
    }
    lengths
}

/// Reads a digit string as a phone number: E.164 and the country (ISO 3166-1 alpha-2).
///
/// `international` numbers start with their calling code; others are tried against the
/// numbering plans of `regions`, in order.
pub fn read(
    digits: &str,
    international: bool,
    regions: &[&str],
) -> Option<(String, Option<String>)> {
    let plans = plans();
    if international {
        let bare = digits.trim_start_matches("00");
        for len in 1..=3.min(bare.len()) {
            let Ok(code) = bare[..len].parse::<u16>() else {
                continue;
            };
            if let Some(plan) = plans.by_code.get(&code) {
                let national = &bare[len..];
                if plan.lengths.contains(&(national.len() as u16)) {
                    return Some((format!("+{bare}"), Some(plan.region.clone())));
                }
            }
        }
        // An unknown plan or length is still a contact in an advert; keep it without a country.
        return (9..=15)
            .contains(&bare.len())
            .then(|| (format!("+{bare}"), None));
    }
    for region in regions {
        let Some(plan) = plans.by_region.get(*region) else {
            continue;
        };
        let national = match &plan.national_prefix {
            Some(prefix) => match digits.strip_prefix(prefix.as_str()) {
                Some(rest) => rest,
                None => continue,
            },
            None => digits,
        };
        if plan.lengths.contains(&(national.len() as u16)) {
            return Some((
                format!("+{}{national}", plan.code),
                Some(plan.region.clone()),
            ));
        }
    }
    // National-format numbers of unknown country still identify a contact.
    (digits.starts_with('0') && (10..=12).contains(&digits.len()))
        .then(|| (digits.to_string(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_international_and_national_numbers() {
        assert_eq!(
            read("447911123456", true, &[]),
            Some(("+447911123456".into(), Some("GB".into())))
        );
        assert_eq!(
            read("0021622334556", true, &[]),
            Some(("+21622334556".into(), Some("TN".into())))
        );
        assert_eq!(
            read("07911123456", false, &["GB"]),
            Some(("+447911123456".into(), Some("GB".into())))
        );
        assert_eq!(
            read("0612345678", false, &["FR"]),
            Some(("+33612345678".into(), Some("FR".into())))
        );
        assert_eq!(
            read("3331234567", false, &["IT"]),
            Some(("+393331234567".into(), Some("IT".into())))
        );
        assert_eq!(read("12345678", false, &["GB"]), None);
    }
}
