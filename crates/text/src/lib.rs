//! Text detection for Breakwater: normalisation, language identification, lexicon packs,
//! entities, the classifier and the calibrated decision.
//!
//! Everything here is pure computation over text and data files: no storage, no HTTP.
//! [`load`] reads the data directory once; [`Detector::assess`] is then a pure function.

pub mod corpus;
pub mod detector;
pub mod entities;
pub mod gazetteer;
mod hashing;
pub mod langid;
pub mod lexicon;
pub mod load;
pub mod model;
pub mod normalize;
mod phone;
pub mod quotes;
pub mod script;
pub mod train;

pub use detector::{Analysis, Calibration, Detector, Evidence};
pub use load::{load, LoadError};
