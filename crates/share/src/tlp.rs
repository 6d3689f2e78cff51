//! Traffic Light Protocol 2.0 levels and their STIX 2.1 marking definitions.
//!
//! TLP 2.0 is not predefined by STIX 2.1: OASIS published one `marking-definition` object
//! per level, each declaring its level through the TLP 2.0 property extension. Their ids
//! and contents are fixed, so every producer emits byte-for-byte the same objects and a
//! consumer recognises a level by its id alone.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};
use std::fmt;
use std::str::FromStr;

/// The extension through which each TLP 2.0 marking definition states its level.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The `created` timestamp of the OASIS TLP 2.0 marking definitions.
pub const TLP2_CREATED: &str = "2022-10-01T00:00:00.000Z";

/// A TLP 2.0 level. Ordered from least to most restrictive, so `max` of two levels is the
/// one to honour when both apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tlp {
    /// Disclosure is not limited.
    Clear,
    /// Limited to the community.
    Green,
    /// Limited to the recipient's organisation and its clients, on a need-to-know basis.
    Amber,
    /// Limited to the recipient's organisation only.
    AmberStrict,
    /// For the named recipients only.
    Red,
}

/// A string that names no TLP level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLP level `{0}` (expected clear, green, amber, amber+strict or red)")]
pub struct UnknownTlp(pub String);

impl Tlp {
    /// Every level, least restrictive first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The level as TLP 2.0 spells it in the extension: `clear`, …, `amber+strict`, `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The label people read: `TLP:AMBER+STRICT`.
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// The id OASIS published for this level's marking definition.
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// The level a marking-definition id stands for: the TLP 2.0 ids, and the TLP 1.0 ids
    /// that STIX 2.1 predefines (white read as clear), so partners still on TLP 1.0 are
    /// understood.
    pub fn from_marking_id(id: &str) -> Option<Tlp> {
        if let Some(tlp) = Tlp::ALL.into_iter().find(|t| t.marking_id() == id) {
            return Some(tlp);
        }
        match id {
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Some(Tlp::Clear),
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Some(Tlp::Green),
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Some(Tlp::Amber),
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Some(Tlp::Red),
            _ => None,
        }
    }

    /// The OASIS marking-definition object of this level, exactly as published.
    pub fn marking_definition(self) -> Value {
        json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": self.marking_id(),
            "created": TLP2_CREATED,
            "name": self.label(),
            "extensions": {
                TLP2_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "tlp_2_0": self.as_str(),
                }
            }
        })
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tlp {
    type Err = UnknownTlp;
    /// Accepts `amber+strict`, `TLP:AMBER+STRICT`, `amber_strict` and TLP 1.0's `white`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let level = lower.strip_prefix("tlp:").unwrap_or(&lower);
        match level {
            "clear" | "white" => Ok(Tlp::Clear),
            "green" => Ok(Tlp::Green),
            "amber" => Ok(Tlp::Amber),
            "amber+strict" | "amber_strict" | "amber-strict" => Ok(Tlp::AmberStrict),
            "red" => Ok(Tlp::Red),
            _ => Err(UnknownTlp(s.to_string())),
        }
    }
}

impl Serialize for Tlp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tlp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_format_and_order() {
        for tlp in Tlp::ALL {
            assert_eq!(tlp.as_str().parse::<Tlp>().unwrap(), tlp);
            assert_eq!(tlp.label().parse::<Tlp>().unwrap(), tlp);
            assert_eq!(Tlp::from_marking_id(tlp.marking_id()), Some(tlp));
            assert_eq!(
                serde_json::to_value(tlp).unwrap(),
                Value::from(tlp.as_str())
            );
        }
        assert_eq!("WHITE".parse::<Tlp>().unwrap(), Tlp::Clear);
        assert!("purple".parse::<Tlp>().is_err());
        assert!(
            Tlp::Clear < Tlp::Green && Tlp::Amber < Tlp::AmberStrict && Tlp::AmberStrict < Tlp::Red
        );
        assert_eq!(Tlp::Green.max(Tlp::Amber), Tlp::Amber);
    }

    #[test]
    fn marking_definitions_are_the_published_objects() {
        let md = Tlp::AmberStrict.marking_definition();
        assert_eq!(
            md["id"],
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
        );
        assert_eq!(md["name"], "TLP:AMBER+STRICT");
        assert_eq!(md["created"], "2022-10-01T00:00:00.000Z");
        assert_eq!(
            md["extensions"][TLP2_EXTENSION_ID]["tlp_2_0"],
            "amber+strict"
        );
        // TLP 1.0's predefined ids are understood on import.
        assert_eq!(
            Tlp::from_marking_id("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"),
            Some(Tlp::Amber)
        );
        assert_eq!(
            Tlp::from_marking_id("marking-definition--00000000-0000-4000-8000-000000000000"),
            None
        );
    }
}
