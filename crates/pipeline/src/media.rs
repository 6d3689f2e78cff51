//! An item's images: hashed once, reported in the assessment, matched against banks.

use breakwater_core::MediaDigest;
use breakwater_matcher::ImageHashes;
use breakwater_media::{hash_bytes_dihedral, DecodeLimits};

/// The images of one item.
#[derive(Debug, Clone, Default)]
pub struct Media {
    /// One per image, including those that could not be decoded (with their error).
    pub digests: Vec<MediaDigest>,
    /// The images that could be hashed.
    pub hashes: Vec<ImageHashes>,
}

impl Media {
    /// Adds an image by its bytes. A file that is not a decodable image (or is too large)
    /// still gets its MD5 and SHA-256, which banks of exact hashes can match, and its error.
    pub fn add(&mut self, name: &str, bytes: &[u8], limits: &DecodeLimits) {
        let (digest, hashes) = hash_media(name, bytes, limits);
        self.digests.push(digest);
        self.hashes.extend(hashes);
    }

    /// Adds an image that could not be read at all.
    pub fn add_error(&mut self, name: &str, error: String) {
        self.digests.push(MediaDigest {
            name: name.to_string(),
            md5: None,
            sha256: None,
            pdq: None,
            quality: None,
            error: Some(error),
        });
    }
}

/// Hashes one image: its digest for the assessment and what the matcher needs.
pub fn hash_media(
    name: &str,
    bytes: &[u8],
    limits: &DecodeLimits,
) -> (MediaDigest, Option<ImageHashes>) {
    match hash_bytes_dihedral(bytes, limits) {
        Ok(h) => {
            let matchable = ImageHashes::from_file(name, &h);
            let digest = MediaDigest {
                name: name.to_string(),
                md5: Some(h.file.md5),
                sha256: Some(h.file.sha256),
                pdq: Some(h.file.pdq.to_hex()),
                quality: Some(h.file.quality),
                error: None,
            };
            (digest, Some(matchable))
        }
        Err(e) => {
            let md5 = breakwater_media::digest::md5_hex(bytes);
            let sha256 = breakwater_media::digest::sha256_hex(bytes);
            let matchable = ImageHashes {
                name: name.to_string(),
                md5: md5.clone(),
                sha256: sha256.clone(),
                pdq: vec![],
                quality: 0,
            };
            let digest = MediaDigest {
                name: name.to_string(),
                md5: Some(md5),
                sha256: Some(sha256),
                pdq: None,
                quality: None,
                error: Some(e.to_string()),
            };
            (digest, Some(matchable))
        }
    }
}
