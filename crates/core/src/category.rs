//! The categories of OIC content and the one actionable non-violating category.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a piece of content does, when it is about organised immigration crime.
///
/// All but [`Category::Solicitation`] violate platform policies. A solicitation is
/// someone *looking* for a smuggler: the right response is a warning and help, never a
/// penalty, so it can never carry a `violating` verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    SmugglingService,
    DocumentFraud,
    ExploitativeRecruitment,
    FacilitatorRecruitment,
    FalseSuccessStory,
    FalsePolicyClaim,
    EvasionCoaching,
    PaymentFacilitation,
    Solicitation,
}

impl Category {
    /// Every category, in a stable order used for model outputs and reports.
    pub const ALL: [Category; 9] = [
        Category::SmugglingService,
        Category::DocumentFraud,
        Category::ExploitativeRecruitment,
        Category::FacilitatorRecruitment,
        Category::FalseSuccessStory,
        Category::FalsePolicyClaim,
        Category::EvasionCoaching,
        Category::PaymentFacilitation,
        Category::Solicitation,
    ];

    /// The snake_case name used in JSON, lexicons and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::SmugglingService => "smuggling_service",
            Category::DocumentFraud => "document_fraud",
            Category::ExploitativeRecruitment => "exploitative_recruitment",
            Category::FacilitatorRecruitment => "facilitator_recruitment",
            Category::FalseSuccessStory => "false_success_story",
            Category::FalsePolicyClaim => "false_policy_claim",
            Category::EvasionCoaching => "evasion_coaching",
            Category::PaymentFacilitation => "payment_facilitation",
            Category::Solicitation => "solicitation",
        }
    }

    /// Whether content of this category breaks policy and may be removed.
    pub fn is_violating(self) -> bool {
        self != Category::Solicitation
    }

    /// Position in [`Category::ALL`].
    pub fn index(self) -> usize {
        Category::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A category name that is not one of [`Category::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category `{0}`")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_solicitation_is_not_violating() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
            assert_eq!(c.is_violating(), c != Category::Solicitation);
        }
        assert!("smuggling".parse::<Category>().is_err());
    }
}
