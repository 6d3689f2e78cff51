//! Domain types shared by every Breakwater stage.
//!
//! This crate knows nothing about HTTP or SQL, and does no IO beyond listing a data
//! directory ([`data_files`]): it defines what an item is, what an
//! assessment of it says, and the closed vocabularies (verdicts, categories, indicator
//! kinds) that every other crate speaks.

mod assessment;
mod category;
mod data_files;
mod item;
mod signal;
mod time;

pub use assessment::{
    Assessment, Contributions, Entity, EntityKind, HelpLink, Indicator, IndicatorKind,
    Intervention, Match, MediaDigest, Span, Verdict,
};
pub use category::{Category, UnknownCategory};
pub use data_files::data_files;
pub use item::{Item, ItemError};
pub use signal::{domain, MatchVerdict, Signal, SignalError, SignalKind, MAX_SIGNAL_BYTES};
pub use time::{format_rfc3339_ms, parse_rfc3339_ms, reads_as_date};
