//! Decoding untrusted image bytes, safely.
//!
//! Images arrive from scraped adverts, so they are hostile by default: wrong or missing file
//! extensions, truncated downloads, and "decompression bombs" whose headers declare billions
//! of pixels. This module
//!
//! - decides the format from the content (magic bytes), never from a file name;
//! - refuses inputs over [`DecodeLimits::max_bytes`] before parsing anything;
//! - reads the declared dimensions from the header and refuses images over
//!   [`DecodeLimits::max_dimension`] / [`DecodeLimits::max_pixels`] *before* the pixel buffer
//!   is allocated, and gives the decoder an allocation budget;
//! - turns every decoder failure, and as a last resort a decoder panic, into a typed
//!   [`MediaError`];
//! - converts every colour model (grey, grey+alpha, palette, RGBA, CMYK JPEG, 16-bit, float)
//!   to 8-bit RGB, dropping alpha as the PDQ reference pipeline (Pillow `convert("RGB")`)
//!   does. Only the first frame of an animation is decoded. EXIF orientation is not applied,
//!   as the reference does not apply it either.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};

use crate::error::MediaError;
use crate::pdq::PdqDct;

/// Limits applied to every decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted encoded input, in bytes.
    pub max_bytes: u64,
    /// Largest accepted `width * height`.
    pub max_pixels: u64,
    /// Largest accepted width or height.
    pub max_dimension: u32,
}

impl Default for DecodeLimits {
    /// 50 MiB, 100 megapixels, 30 000 pixels a side: larger than any photo a phone takes,
    /// small enough that a worker decoding one image needs under ~1 GiB.
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 50 * 1024 * 1024,
            max_pixels: 100_000_000,
            max_dimension: 30_000,
        }
    }
}

impl DecodeLimits {
    /// Allocation budget handed to the decoder: the decoded image in its widest common
    /// layout (16-bit RGBA, 8 bytes a pixel) plus room for metadata.
    fn alloc_budget(&self) -> u64 {
        self.max_pixels
            .saturating_mul(8)
            .saturating_add(64 * 1024 * 1024)
    }
}

/// The image formats we decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG.
    Png,
    /// GIF (first frame).
    Gif,
    /// WebP, lossy or lossless (first frame).
    WebP,
    /// TIFF.
    Tiff,
    /// Windows bitmap.
    Bmp,
}

impl ImageFormat {
    /// Lower-case short name (`"jpeg"`, `"png"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::WebP => "webp",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Bmp => "bmp",
        }
    }

    /// IANA media type.
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::WebP => "image/webp",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Bmp => "image/bmp",
        }
    }

    fn to_image(self) -> image::ImageFormat {
        match self {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Gif => image::ImageFormat::Gif,
            ImageFormat::WebP => image::ImageFormat::WebP,
            ImageFormat::Tiff => image::ImageFormat::Tiff,
            ImageFormat::Bmp => image::ImageFormat::Bmp,
        }
    }
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Identifies the format from the first bytes of the content.
///
/// Returns `Err(Empty)` for no bytes and `Err(UnsupportedFormat)` for anything that is not one
/// of [`ImageFormat`]'s formats (including formats we recognise but do not decode).
pub fn sniff_format(bytes: &[u8]) -> Result<ImageFormat, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Jpeg) => Ok(ImageFormat::Jpeg),
        Ok(image::ImageFormat::Png) => Ok(ImageFormat::Png),
        Ok(image::ImageFormat::Gif) => Ok(ImageFormat::Gif),
        Ok(image::ImageFormat::WebP) => Ok(ImageFormat::WebP),
        Ok(image::ImageFormat::Tiff) => Ok(ImageFormat::Tiff),
        Ok(image::ImageFormat::Bmp) => Ok(ImageFormat::Bmp),
        Ok(other) => Err(MediaError::UnsupportedFormat(format!(
            "{other:?} is not decoded (supported: JPEG, PNG, GIF, WebP, TIFF, BMP)"
        ))),
        Err(_) => Err(MediaError::UnsupportedFormat(
            "content is not a recognised image (supported: JPEG, PNG, GIF, WebP, TIFF, BMP)"
                .to_string(),
        )),
    }
}

/// Format and declared size of an image, read from its header only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// Format, from the content.
    pub format: ImageFormat,
    /// Declared width in pixels.
    pub width: u32,
    /// Declared height in pixels.
    pub height: u32,
}

/// A decoded image as interleaved 8-bit RGB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedImage {
    /// Format, from the content.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, row-major, R G B.
    pub rgb: Vec<u8>,
}

impl DecodedImage {
    /// The PDQ DCT block of this image (from which the hash, its quality and the dihedral
    /// variants follow).
    pub fn pdq_dct(&self) -> PdqDct {
        PdqDct::from_rgb(&self.rgb, self.width as usize, self.height as usize)
    }
}

fn check_size(len: usize, limits: &DecodeLimits) -> Result<(), MediaError> {
    if len == 0 {
        return Err(MediaError::Empty);
    }
    let len = len as u64;
    if len > limits.max_bytes {
        return Err(MediaError::TooLarge {
            size: len,
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), MediaError> {
    let too_many = |reason: String| MediaError::TooManyPixels {
        width,
        height,
        reason,
    };
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt(format!(
            "image declares {width}x{height} pixels"
        )));
    }
    if width > limits.max_dimension || height > limits.max_dimension {
        return Err(too_many(format!(
            "a side exceeds {} pixels",
            limits.max_dimension
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(too_many(format!(
            "{pixels} pixels exceeds {} pixels",
            limits.max_pixels
        )));
    }
    Ok(())
}

fn map_image_error(e: ImageError) -> MediaError {
    match e {
        ImageError::Decoding(d) => MediaError::Corrupt(d.to_string()),
        ImageError::Unsupported(u) => MediaError::UnsupportedFormat(u.to_string()),
        ImageError::Limits(l) => MediaError::TooManyPixels {
            width: 0,
            height: 0,
            reason: l.to_string(),
        },
        // We always read from memory, so an I/O error means the data ended early or is bad.
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::Corrupt(format!("truncated: {io}"))
        }
        ImageError::IoError(io) => MediaError::Corrupt(io.to_string()),
        other => MediaError::Corrupt(other.to_string()),
    }
}

/// Builds a decoder for `bytes` (already size-checked and sniffed) and checks the declared
/// dimensions against the limits. Nothing proportional to the pixel count is allocated yet.
fn open_decoder<'a>(
    bytes: &'a [u8],
    format: ImageFormat,
    limits: &DecodeLimits,
) -> Result<impl ImageDecoder + 'a, MediaError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image());
    // Width and height are left unlimited here so that we can report the declared size
    // ourselves; the allocation budget still bounds metadata chunks.
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(limits.alloc_budget());
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let mut full = Limits::default();
    full.max_image_width = Some(limits.max_dimension);
    full.max_image_height = Some(limits.max_dimension);
    full.max_alloc = Some(limits.alloc_budget());
    decoder.set_limits(full).map_err(map_image_error)?;
    let total = decoder.total_bytes();
    if total > limits.alloc_budget() {
        return Err(MediaError::TooManyPixels {
            width,
            height,
            reason: format!(
                "decoded size {total} bytes exceeds the budget of {} bytes",
                limits.alloc_budget()
            ),
        });
    }
    Ok(decoder)
}

/// Reads format and declared dimensions without decoding pixels, applying the same checks as
/// [`decode_rgb`] (so an image `probe` accepts is one `decode_rgb` will try to decode).
pub fn probe(bytes: &[u8], limits: &DecodeLimits) -> Result<ImageInfo, MediaError> {
    check_size(bytes.len(), limits)?;
    let format = sniff_format(bytes)?;
    guarded(|| {
        let decoder = open_decoder(bytes, format, limits)?;
        let (width, height) = decoder.dimensions();
        Ok(ImageInfo {
            format,
            width,
            height,
        })
    })
}

/// Decodes an image (format sniffed from content) to 8-bit RGB, within `limits`.
pub fn decode_rgb(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, MediaError> {
    check_size(bytes.len(), limits)?;
    let format = sniff_format(bytes)?;
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(bytes)?;
    }
    guarded(|| {
        let decoder = open_decoder(bytes, format, limits)?;
        let image = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
        let (width, height) = (image.width(), image.height());
        let rgb = image.into_rgb8().into_raw();
        Ok(DecodedImage {
            format,
            width,
            height,
            rgb,
        })
    })
}

/// The JPEG decoder fills a truncated scan with grey and reports success; the reference
/// pipeline (Pillow) refuses such files, and a hash of a half-grey picture is worthless. So we
/// require an end-of-image marker after the start of the first scan. The marker segments
/// before the scan are walked by their lengths, so an EXIF thumbnail's own end marker does
/// not count; data after the end marker (e.g. the video of a "motion photo") is allowed.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), MediaError> {
    let truncated = || MediaError::Corrupt("truncated JPEG: no end-of-image marker".to_string());
    let mut pos = 2; // after SOI
    let scan_start = loop {
        // Skip fill bytes; anything else unexpected is left for the decoder to report.
        while bytes.get(pos) == Some(&0xFF) && bytes.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        match (bytes.get(pos), bytes.get(pos + 1)) {
            (Some(0xFF), Some(0xDA)) => break pos,
            (Some(0xFF), Some(0xD9)) => return Ok(()), // image without a scan: decoder decides
            (Some(0xFF), Some(&m)) if (0xD0..=0xD7).contains(&m) || m == 0x01 => pos += 2,
            (Some(0xFF), Some(_)) => match (bytes.get(pos + 2), bytes.get(pos + 3)) {
                (Some(&hi), Some(&lo)) => pos += 2 + usize::from(u16::from_be_bytes([hi, lo])),
                _ => return Err(truncated()),
            },
            (None, _) | (Some(_), None) => return Err(truncated()),
            (Some(_), Some(_)) => return Ok(()),
        }
    };
    if bytes[scan_start..].windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(truncated())
    }
}

/// Runs a decoding step, turning a panic inside a third-party decoder into an error: a
/// malicious file must not take a worker down.
fn guarded<T>(f: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(MediaError::Corrupt(format!("decoder failed: {msg}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_checks() {
        let l = DecodeLimits::default();
        assert!(check_dimensions(30_000, 3_000, &l).is_ok());
        assert!(matches!(
            check_dimensions(30_001, 10, &l),
            Err(MediaError::TooManyPixels { width: 30_001, .. })
        ));
        assert!(matches!(
            check_dimensions(20_000, 20_000, &l),
            Err(MediaError::TooManyPixels { .. })
        ));
        assert!(matches!(
            check_dimensions(0, 5, &l),
            Err(MediaError::Corrupt(_))
        ));
        assert!(matches!(check_size(0, &l), Err(MediaError::Empty)));
        assert!(matches!(
            check_size(60 * 1024 * 1024, &l),
            Err(MediaError::TooLarge { .. })
        ));
    }

    #[test]
    fn sniffing_ignores_names_and_refuses_text() {
        assert_eq!(
            sniff_format(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap(),
            ImageFormat::Png
        );
        assert_eq!(
            sniff_format(b"\xFF\xD8\xFF\xE0").unwrap(),
            ImageFormat::Jpeg
        );
        assert_eq!(sniff_format(b"GIF89a").unwrap(), ImageFormat::Gif);
        assert!(matches!(
            sniff_format(b"hello, this is text"),
            Err(MediaError::UnsupportedFormat(_))
        ));
        assert!(matches!(sniff_format(b""), Err(MediaError::Empty)));
    }

    #[test]
    fn jpeg_completeness() {
        // SOI, APP1 holding a complete thumbnail (with its own EOI), SOS, data, EOI.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD8, 0xFF, 0xD9];
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34, 0x56]);
        assert!(
            check_jpeg_complete(&jpeg).is_err(),
            "thumbnail EOI must not count"
        );
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        assert!(check_jpeg_complete(&jpeg).is_ok());
        jpeg.extend_from_slice(&[0u8; 100_000]); // trailing data, e.g. a motion photo's video
        assert!(check_jpeg_complete(&jpeg).is_ok());
        assert!(check_jpeg_complete(&[0xFF, 0xD8, 0xFF, 0xE1, 0x40]).is_err());
    }

    #[test]
    fn panics_become_errors() {
        let r: Result<(), MediaError> = guarded(|| panic!("boom"));
        match r {
            Err(MediaError::Corrupt(m)) => assert!(m.contains("boom")),
            other => panic!("unexpected {other:?}"),
        }
    }
}
