//! Campaigns: one network behind many posts, and what changes over the weeks.
//!
//! - [`cluster`]: incremental near-duplicate clustering ([`Clusterer::add`], O(bands) per
//!   post) with the entity graph: posts that share a phone, handle, link, wallet or image
//!   hash are one campaign whatever their text; each campaign keeps its links, accounts and
//!   first and last times.
//! - [`template`]: what a campaign's posts share and the slots that vary.
//! - [`emerging`]: terms whose weekly share of documents surges, with a calibrated test.
//! - [`trends`]: weekly counts by category, language, route and platform, CSV and JSON, and
//!   the summary that is safe to share (small cells suppressed, including by subtraction).
//! - [`bench`](mod@bench): a synthetic set with planted campaigns in eight languages, and pairwise
//!   scores against its truth.
//!
//! Everything here is pure computation over values in memory: no IO, no storage, no HTTP.
//! Text goes through the detector's normaliser, so obfuscated copies of one advert meet.

mod buckets;
mod hash;

pub mod bench;
pub mod cluster;
pub mod emerging;
pub mod link;
pub mod minhash;
pub mod template;
pub mod tokens;
pub mod trends;
pub mod week;

pub use cluster::{Campaign, CampaignId, ClusterConfig, Clusterer, ConfigError, Post};
pub use emerging::{EmergingTerms, Surge, SurgeConfig};
pub use link::{Link, LinkError, LinkKind};
pub use template::{Slot, SlotValue, Template};
pub use trends::{Dimension, SharedSummary, TrendTable};
pub use week::Week;
