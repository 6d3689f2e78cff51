//! Sharing signals with partners over STIX 2.1 and TAXII 2.1.
//!
//! - [`tlp`]: Traffic Light Protocol 2.0 levels and their OASIS marking definitions.
//! - [`stix`]: [`SharedSignal`] to STIX objects and back ([`pattern`] holds the patterns).
//! - [`taxii`]: a TAXII 2.1 server as an axum `Router` over a [`taxii::TaxiiBackend`] the
//!   caller implements, and [`taxii::MemoryBackend`], an in-memory one.
//! - [`client`]: a TAXII 2.1 client to pull from and push to partners.
//!
//! This crate knows nothing of the database or of detection: the server implements the
//! backend over its store, and the CLI drives the client.

pub mod client;
pub mod pattern;
pub mod stix;
pub mod taxii;
pub mod timestamp;
pub mod tlp;
pub mod tls;

pub use stix::{Import, ImportErrors, ImportOptions, ImportWarning, SharedSignal, StixError};
pub use timestamp::{Timestamp, TimestampError};
pub use tlp::Tlp;
