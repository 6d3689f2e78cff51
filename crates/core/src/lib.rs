//! Domain types shared by every Breakwater stage.
//!
//! This crate knows nothing about IO, HTTP or SQL: it defines what an item is, what an
//! assessment of it says, and the closed vocabularies (verdicts, categories, indicator
//! kinds) that every other crate speaks.

mod assessment;
mod category;
mod item;

pub use assessment::{
    Assessment, Contributions, Entity, EntityKind, HelpLink, Indicator, IndicatorKind,
    Intervention, Match, Span, Verdict,
};
pub use category::{Category, UnknownCategory};
pub use item::{Item, ItemError};
