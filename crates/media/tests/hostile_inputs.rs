//! Hostile and malformed inputs give clear, typed errors and never panic.

mod common;

use std::path::PathBuf;

use breakwater_media::decode::{probe, ImageFormat};
use breakwater_media::{decode_rgb, hash_bytes, hash_file, DecodeLimits, MediaError};

fn read(rel: &str) -> Vec<u8> {
    let path = common::pdq_data_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A fresh scratch directory for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "breakwater-media-test-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A syntactically valid PNG header declaring `width` x `height` RGB pixels, followed by a
/// tiny (far too short) IDAT and IEND.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    png_chunk(&mut png, b"IHDR", &ihdr);
    // zlib stream of a few zero bytes.
    png_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A BMP header declaring `width` x `height` 24-bit pixels, with no pixel data.
fn bmp_declaring(width: i32, height: i32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&54u32.to_le_bytes()); // file size (a lie)
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    b.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    b.extend_from_slice(&width.to_le_bytes());
    b.extend_from_slice(&height.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    b
}

#[test]
fn zero_bytes_are_refused() {
    let limits = DecodeLimits::default();
    assert!(matches!(hash_bytes(&[], &limits), Err(MediaError::Empty)));
    let path = scratch("empty").join("empty.jpg");
    std::fs::write(&path, b"").unwrap();
    let err = hash_file(&path, &limits).unwrap_err();
    assert!(matches!(err, MediaError::Empty), "{err:?}");
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn truncated_images_are_corrupt() {
    let limits = DecodeLimits::default();
    let jpeg = read("pdq/data/bridge-mods/aaa-orig.jpg");
    for keep in [jpeg.len() / 2, jpeg.len() - 3, 2000, 200, 20, 3] {
        let err = hash_bytes(&jpeg[..keep], &limits).unwrap_err();
        assert!(
            matches!(err, MediaError::Corrupt(_)),
            "{keep} bytes: {err:?}"
        );
        eprintln!("JPEG truncated to {keep} bytes: {err}");
    }
    let png = read("pdq/data/misc-images/c.png");
    for keep in [png.len() / 2, png.len() - 20, 100, 30] {
        let err = hash_bytes(&png[..keep], &limits).unwrap_err();
        assert!(
            matches!(err, MediaError::Corrupt(_)),
            "{keep} bytes: {err:?}"
        );
        eprintln!("PNG truncated to {keep} bytes: {err}");
    }
}

#[test]
fn decompression_bombs_are_refused_from_the_header() {
    let limits = DecodeLimits::default();
    let png = png_declaring(50_000, 50_000);
    assert!(png.len() < 100);
    for result in [
        hash_bytes(&png, &limits).map(|_| ()),
        probe(&png, &limits).map(|_| ()),
        decode_rgb(&png, &limits).map(|_| ()),
    ] {
        match result {
            Err(MediaError::TooManyPixels {
                width,
                height,
                reason,
            }) => {
                assert_eq!((width, height), (50_000, 50_000));
                assert!(reason.contains("30000"), "{reason}");
            }
            other => panic!("expected TooManyPixels, got {other:?}"),
        }
    }
    let err = hash_bytes(&png, &limits).unwrap_err();
    eprintln!("50000x50000 PNG: {err}");
    assert!(err.to_string().contains("50000x50000"));

    // Under the side limit but over the pixel limit.
    let png = png_declaring(20_000, 20_000);
    assert!(matches!(
        hash_bytes(&png, &limits),
        Err(MediaError::TooManyPixels {
            width: 20_000,
            height: 20_000,
            ..
        })
    ));
    // BMP too.
    let bmp = bmp_declaring(50_000, 50_000);
    assert!(matches!(
        hash_bytes(&bmp, &limits),
        Err(MediaError::TooManyPixels {
            width: 50_000,
            height: 50_000,
            ..
        })
    ));
    // Within limits, the same lie about a small image is merely corrupt.
    let small = png_declaring(300, 200);
    assert_eq!(
        probe(&small, &limits).unwrap(),
        breakwater_media::decode::ImageInfo {
            format: ImageFormat::Png,
            width: 300,
            height: 200
        }
    );
    assert!(matches!(
        hash_bytes(&small, &limits),
        Err(MediaError::Corrupt(_))
    ));
}

#[test]
fn byte_limit_is_enforced_before_reading() {
    let limits = DecodeLimits {
        max_bytes: 1000,
        ..DecodeLimits::default()
    };
    let jpeg = read("pdq/data/bridge-mods/square-128x128.jpg");
    assert!(matches!(
        hash_bytes(&jpeg, &limits),
        Err(MediaError::TooLarge { limit: 1000, .. })
    ));
    let path = scratch("large").join("big.jpg");
    std::fs::write(&path, &jpeg).unwrap();
    assert!(matches!(
        hash_file(&path, &limits),
        Err(MediaError::TooLarge { .. })
    ));
    assert!(matches!(
        hash_file(scratch("missing").join("nope.jpg"), &limits),
        Err(MediaError::Io(_))
    ));
}

#[test]
fn format_comes_from_content_not_extension() {
    let limits = DecodeLimits::default();
    let dir = scratch("ext");
    let png_bytes = read("pdq/data/reg-test-input/pen-and-coaster.png");
    let disguised = dir.join("photo.jpg");
    std::fs::write(&disguised, &png_bytes).unwrap();
    let from_disguised = hash_file(&disguised, &limits).expect("a PNG named .jpg decodes");
    let direct = hash_bytes(&png_bytes, &limits).unwrap();
    assert_eq!(from_disguised, direct);
    assert_eq!(
        decode_rgb(&png_bytes, &limits).unwrap().format,
        ImageFormat::Png
    );

    let text = dir.join("notes.png");
    std::fs::write(&text, "This is not an image.\nJust text.\n").unwrap();
    let err = hash_file(&text, &limits).unwrap_err();
    assert!(matches!(err, MediaError::UnsupportedFormat(_)), "{err:?}");
    eprintln!("text named .png: {err}");
    assert!(err.to_string().contains("not a recognised image"), "{err}");

    // Recognised but not decoded here.
    let ico = [0u8, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0];
    assert!(matches!(
        hash_bytes(&ico, &limits),
        Err(MediaError::UnsupportedFormat(_))
    ));
}

#[test]
fn mutated_files_never_panic() {
    let limits = DecodeLimits::default();
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut refused) = (0, 0);
    for rel in [
        "pdq/data/bridge-mods/square-128x128.jpg",
        "pdq/data/misc-images/small.jpg",
        "python-threatexchange/threatexchange/tests/hashing/resources/LA.png",
    ] {
        let original = read(rel);
        for _ in 0..60 {
            let mut bytes = original.clone();
            let n = 1 + (next() % 8) as usize;
            for _ in 0..n {
                // Mostly in the headers, where parsers are most fragile.
                let span = if next() % 2 == 0 {
                    bytes.len().min(600)
                } else {
                    bytes.len()
                };
                let pos = (next() as usize) % span;
                bytes[pos] = next() as u8;
            }
            if next() % 4 == 0 {
                let keep = (next() as usize) % bytes.len();
                bytes.truncate(keep.max(1));
            }
            match hash_bytes(&bytes, &limits) {
                Ok(_) => ok += 1,
                Err(_) => refused += 1,
            }
        }
    }
    eprintln!("mutated inputs: {ok} hashed, {refused} refused, no panic");
}
