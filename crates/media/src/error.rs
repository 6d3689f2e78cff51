//! The crate's error type.
//!
//! Images come from untrusted web pages, so every way an input can be refused is a typed,
//! matchable variant: callers log and count refusals by kind instead of parsing strings.

/// Why an image could not be decoded or hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The input has no bytes at all.
    #[error("empty input: zero bytes")]
    Empty,
    /// The encoded input is larger than [`crate::DecodeLimits::max_bytes`].
    #[error("input is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The image's declared dimensions exceed [`crate::DecodeLimits::max_pixels`] or
    /// [`crate::DecodeLimits::max_dimension`]. Detected from the header, before the pixel
    /// buffer is allocated.
    #[error("image declares {width}x{height} pixels, over the limit ({reason})")]
    TooManyPixels {
        /// Declared width (0 if the decoder refused before reporting it).
        width: u32,
        /// Declared height (0 if the decoder refused before reporting it).
        height: u32,
        /// Which limit was exceeded.
        reason: String,
    },
    /// The content is not one of the supported formats (JPEG, PNG, GIF, WebP, TIFF, BMP), or
    /// uses a feature of one that the decoder does not support.
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),
    /// The content claims a supported format but is malformed or truncated.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// Reading the input failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
