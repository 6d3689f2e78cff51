//! Image signals: PDQ perceptual hash, cryptographic hashes and the hash index.
//!
//! Adverts for people-smuggling routes are reposted across sites with the same photos
//! (boats, vans, documents, screenshots of price lists), usually recompressed, resized or
//! mirrored. Exact byte hashes (MD5, SHA-256) catch verbatim reposts and let us exchange
//! signals with partners who only share those; the PDQ perceptual hash catches the altered
//! copies and is the format used by industry hash-sharing programmes, so our hashes must agree
//! with Meta's reference implementation.
//!
//! - [`pdq`]: the PDQ algorithm on decoded pixels (hash, quality, the 8 dihedral variants).
//! - [`decode`]: safe decoding of untrusted image bytes with content sniffing and size limits.
//! - [`digest`]: MD5 / SHA-256 and the one-call [`digest::hash_bytes`] / [`digest::hash_file`].
//! - [`index`]: an exact Hamming-radius index over PDQ hashes (multi-index hashing).

pub mod decode;
pub mod digest;
pub mod index;
pub mod pdq;

mod error;

pub use decode::{decode_rgb, DecodeLimits, DecodedImage, ImageFormat};
pub use digest::{
    hash_bytes, hash_bytes_dihedral, hash_file, hash_file_dihedral, DihedralFileHashes, FileHashes,
};
pub use error::MediaError;
pub use index::{IndexConfig, PdqIndex};
pub use pdq::{
    pdq_from_luma, pdq_from_rgb, Dihedral, PdqDct, PdqHash, PdqParseError, PdqResult,
    PDQ_MIN_QUALITY,
};
