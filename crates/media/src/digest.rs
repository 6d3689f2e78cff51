//! Cryptographic digests, and every hash of one image file in one call.
//!
//! Partners share byte-exact hash lists (MD5 is still what many older lists use; SHA-256 for
//! everything new) alongside PDQ lists, so for each image we record all three. The
//! cryptographic digests are of the encoded bytes as received; the PDQ hash is of the decoded
//! pixels.

use std::io::Read;
use std::path::Path;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::decode::{decode_rgb, DecodeLimits};
use crate::error::MediaError;
use crate::pdq::PdqHash;

/// Lower-case hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// MD5 of `bytes`, as 32 lower-case hex digits.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex_lower(&Md5::digest(bytes))
}

/// SHA-256 of `bytes`, as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

/// All hashes of one image file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileHashes {
    /// PDQ hash of the decoded pixels.
    pub pdq: PdqHash,
    /// PDQ quality 0..=100 (discard the PDQ hash below [`crate::PDQ_MIN_QUALITY`]).
    pub quality: u8,
    /// MD5 of the encoded bytes, lower-case hex.
    pub md5: String,
    /// SHA-256 of the encoded bytes, lower-case hex.
    pub sha256: String,
}

/// [`FileHashes`] plus the PDQ hashes of the image's 8 orientations (reference order, see
/// [`crate::Dihedral::ALL`]; `dihedral[0] == file.pdq`). Useful for indexing: store the 8
/// variants of known images and a rotated or mirrored repost still matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DihedralFileHashes {
    /// The plain hashes.
    pub file: FileHashes,
    /// PDQ hashes of the 8 orientations.
    pub dihedral: [PdqHash; 8],
}

/// Decodes `bytes` (format sniffed from content) and computes PDQ, MD5 and SHA-256.
pub fn hash_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<FileHashes, MediaError> {
    Ok(hash_bytes_dihedral_impl(bytes, limits, false)?.file)
}

/// Like [`hash_bytes`], plus the 8 dihedral PDQ hashes (from the same DCT, at negligible cost).
pub fn hash_bytes_dihedral(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<DihedralFileHashes, MediaError> {
    hash_bytes_dihedral_impl(bytes, limits, true)
}

fn hash_bytes_dihedral_impl(
    bytes: &[u8],
    limits: &DecodeLimits,
    all: bool,
) -> Result<DihedralFileHashes, MediaError> {
    let image = decode_rgb(bytes, limits)?;
    let dct = image.pdq_dct();
    drop(image);
    let result = dct.result();
    let dihedral = if all {
        dct.dihedral()
    } else {
        [result.hash; 8]
    };
    Ok(DihedralFileHashes {
        file: FileHashes {
            pdq: result.hash,
            quality: result.quality,
            md5: md5_hex(bytes),
            sha256: sha256_hex(bytes),
        },
        dihedral,
    })
}

/// Reads a file, refusing it before reading if it is over `limits.max_bytes`.
pub fn read_limited(path: impl AsRef<Path>, limits: &DecodeLimits) -> Result<Vec<u8>, MediaError> {
    let file = std::fs::File::open(path.as_ref())?;
    let declared = file.metadata()?.len();
    if declared > limits.max_bytes {
        return Err(MediaError::TooLarge {
            size: declared,
            limit: limits.max_bytes,
        });
    }
    // The file may grow between the metadata call and the read: read at most one byte more
    // than the limit.
    let mut bytes = Vec::with_capacity(declared as usize);
    file.take(limits.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(MediaError::TooLarge {
            size: bytes.len() as u64,
            limit: limits.max_bytes,
        });
    }
    Ok(bytes)
}

/// [`hash_bytes`] of a file's content. The file name and extension are ignored.
pub fn hash_file(path: impl AsRef<Path>, limits: &DecodeLimits) -> Result<FileHashes, MediaError> {
    hash_bytes(&read_limited(path, limits)?, limits)
}

/// [`hash_bytes_dihedral`] of a file's content.
pub fn hash_file_dihedral(
    path: impl AsRef<Path>,
    limits: &DecodeLimits,
) -> Result<DihedralFileHashes, MediaError> {
    hash_bytes_dihedral(&read_limited(path, limits)?, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
