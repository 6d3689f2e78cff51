//! The PDQ perceptual hash (Meta, 2017), written from the published algorithm.
//!
//! Why PDQ: it is the hash that industry hash-sharing programmes (ThreatExchange, StopNCII,
//! GIFCT) exchange, so a hash we compute must be comparable with one computed by a partner
//! using Meta's reference code. The pipeline therefore follows the reference step by step,
//! including its floating-point order of operations, so that on the same decoded pixels we give
//! the same 256 bits:
//!
//! 1. RGB to luminance `Y = 0.299 R + 0.587 G + 0.114 B` (as `f32`).
//! 2. Blur with a "Jarosz" tent filter: two passes of a horizontal then a vertical box filter,
//!    window `(dim + 127) / 128` along each axis (so two passes span `dim / 64`), with the box
//!    shrinking at the edges; then decimate to 64x64 by sampling the centre of each cell.
//!    (A 64x64 input is used as is.)
//! 3. Quality: the sum of the quantised absolute differences between neighbouring pixels of
//!    the 64x64 image, divided by 90 and capped at 100. Hashes of quality below
//!    [`PDQ_MIN_QUALITY`] (flat or nearly blank images) match too much and should be discarded.
//! 4. The 16x16 lowest non-constant frequencies of the 2-D DCT-II: `B = D A Dᵀ` with
//!    `D[i][j] = sqrt(2/64) cos(π/128 · (i+1) · (2j+1))`, `i < 16`, `j < 64`.
//! 5. One bit per coefficient: set when it is above the median of the 256 (the lower median,
//!    i.e. the 128th smallest). Coefficient `(i, j)` is bit `k = 16 i + j`.
//!
//! The text form is the reference's: 64 hex digits, the 256-bit number whose bit `k` has value
//! `2^k`, most significant digit first.
//!
//! Rotations and mirror images of a picture have DCT coefficients that are a transposition
//! and/or sign changes of the original's, so [`PdqDct::dihedral`] gives the hashes of all 8
//! orientations from one DCT, as the reference does.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// Quality below which a PDQ hash should be discarded, as the reference recommends: such
/// images (nearly uniform, tiny, or mostly one colour) produce hashes that match unrelated
/// images.
pub const PDQ_MIN_QUALITY: u8 = 50;

/// Images smaller than this along either side get the all-zero hash and quality 0, as in the
/// reference.
const MIN_HASHABLE_DIM: usize = 5;

/// Side of the downsampled image.
const DOWN: usize = 64;

/// Side of the retained DCT block.
const DCT_SIDE: usize = 16;

/// Number of (horizontal box, vertical box) pass pairs: two pairs make a tent filter.
const JAROSZ_PASSES: usize = 2;

// ---------------------------------------------------------------------------------------------
// The hash value
// ---------------------------------------------------------------------------------------------

/// A 256-bit PDQ hash.
///
/// The bytes are the reference's hex form read as big-endian: `self.0[0]` holds the first two
/// hex digits. Bit `k` of the hash (`k = 16 i + j` for DCT coefficient `(i, j)`) is bit `k % 8`
/// of byte `31 - k / 8`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PdqHash(pub [u8; 32]);

/// Why a string is not a PDQ hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdqParseError {
    /// The string is not exactly 64 characters long.
    #[error("a PDQ hash is 64 hex digits, got {0} characters")]
    WrongLength(usize),
    /// A character is not a hex digit.
    #[error("invalid hex digit {found:?} at position {position}")]
    InvalidDigit {
        /// Byte offset of the bad character.
        position: usize,
        /// The bad character.
        found: char,
    },
}

impl PdqHash {
    /// The all-zero hash (what the reference gives for images too small to hash).
    pub const ZERO: PdqHash = PdqHash([0; 32]);

    /// Parses the reference's 64-hex-digit form (either case, no surrounding whitespace).
    pub fn from_hex(s: &str) -> Result<Self, PdqParseError> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(PdqParseError::WrongLength(s.chars().count()));
        }
        let nibble = |pos: usize| -> Result<u8, PdqParseError> {
            let c = b[pos];
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(PdqParseError::InvalidDigit {
                    position: pos,
                    found: s[pos..].chars().next().unwrap_or('?'),
                }),
            }
        };
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = (nibble(2 * i)? << 4) | nibble(2 * i + 1)?;
        }
        Ok(PdqHash(out))
    }

    /// The reference's text form: 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        crate::digest::hex_lower(&self.0)
    }

    /// The hash as four big-endian 64-bit words (`words[0]` = the first 16 hex digits).
    #[inline]
    pub fn to_words(&self) -> [u64; 4] {
        let mut w = [0u64; 4];
        for (i, word) in w.iter_mut().enumerate() {
            let mut chunk = [0u8; 8];
            chunk.copy_from_slice(&self.0[8 * i..8 * i + 8]);
            *word = u64::from_be_bytes(chunk);
        }
        w
    }

    /// Inverse of [`PdqHash::to_words`].
    #[inline]
    pub fn from_words(words: [u64; 4]) -> Self {
        let mut out = [0u8; 32];
        for (i, word) in words.iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&word.to_be_bytes());
        }
        PdqHash(out)
    }

    /// Bit `k` (0..256) in the reference numbering: DCT coefficient `(k / 16, k % 16)`.
    ///
    /// # Panics
    /// If `k >= 256`.
    #[inline]
    pub fn bit(&self, k: usize) -> bool {
        assert!(k < 256, "PDQ bit index {k} out of range");
        (self.0[31 - k / 8] >> (k % 8)) & 1 == 1
    }

    #[inline]
    fn set_bit(&mut self, k: usize) {
        self.0[31 - k / 8] |= 1 << (k % 8);
    }

    /// Number of bits that differ (0..=256), by popcount over four 64-bit words.
    #[inline]
    pub fn hamming_distance(&self, other: &PdqHash) -> u32 {
        let a = self.to_words();
        let b = other.to_words();
        (a[0] ^ b[0]).count_ones()
            + (a[1] ^ b[1]).count_ones()
            + (a[2] ^ b[2]).count_ones()
            + (a[3] ^ b[3]).count_ones()
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.to_words().iter().map(|w| w.count_ones()).sum()
    }
}

impl fmt::Display for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PdqHash({})", self.to_hex())
    }
}

impl FromStr for PdqHash {
    type Err = PdqParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PdqHash::from_hex(s)
    }
}

/// A PDQ hash with its quality score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PdqResult {
    /// The hash.
    pub hash: PdqHash,
    /// Quality 0..=100; below [`PDQ_MIN_QUALITY`] the hash should not be used for matching.
    pub quality: u8,
}

impl PdqResult {
    /// Whether the quality reaches [`PDQ_MIN_QUALITY`].
    pub fn is_usable(&self) -> bool {
        self.quality >= PDQ_MIN_QUALITY
    }
}

// ---------------------------------------------------------------------------------------------
// Dihedral transforms
// ---------------------------------------------------------------------------------------------

/// The 8 orientations of an image (the dihedral group of the square), in the reference's
/// order. Rotations are counter-clockwise as in the reference's test images
/// (`bridge-2-rotate-90.jpg` etc.).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dihedral {
    /// The image as given.
    Original,
    /// Rotated by 90 degrees.
    Rotate90,
    /// Rotated by 180 degrees.
    Rotate180,
    /// Rotated by 270 degrees.
    Rotate270,
    /// Mirrored about the horizontal axis (top and bottom swapped).
    FlipX,
    /// Mirrored about the vertical axis (left and right swapped).
    FlipY,
    /// Mirrored about the main diagonal (transposed).
    FlipPlus1,
    /// Mirrored about the anti-diagonal.
    FlipMinus1,
}

impl Dihedral {
    /// All 8, in the reference's order (the order of [`PdqDct::dihedral`]).
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Original,
        Dihedral::Rotate90,
        Dihedral::Rotate180,
        Dihedral::Rotate270,
        Dihedral::FlipX,
        Dihedral::FlipY,
        Dihedral::FlipPlus1,
        Dihedral::FlipMinus1,
    ];

    /// How the transform acts on the DCT block: (transpose, negate rows with even index,
    /// negate columns with even index). Index `i` holds frequency `i + 1`, and mirroring an
    /// axis multiplies frequency `u` by `(-1)^u`, so the odd frequencies (even `i`) change sign.
    fn action(self) -> (bool, bool, bool) {
        match self {
            Dihedral::Original => (false, false, false),
            Dihedral::Rotate90 => (true, false, true),
            Dihedral::Rotate180 => (false, true, true),
            Dihedral::Rotate270 => (true, true, false),
            Dihedral::FlipX => (false, true, false),
            Dihedral::FlipY => (false, false, true),
            Dihedral::FlipPlus1 => (true, false, false),
            Dihedral::FlipMinus1 => (true, true, true),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The algorithm
// ---------------------------------------------------------------------------------------------

type Block = [[f32; DCT_SIDE]; DCT_SIDE];

/// The 16x16 DCT block of an image plus its quality: everything needed for the hash and its
/// 7 transformed variants.
#[derive(Clone, Debug, PartialEq)]
pub struct PdqDct {
    coeffs: Block,
    quality: u8,
}

impl PdqDct {
    /// Computes the DCT block from a row-major luminance buffer (`width * height` values in
    /// 0..=255). The buffer is used as scratch space: it is blurred in place.
    ///
    /// # Panics
    /// If `luma.len() != width * height`.
    pub fn from_luma(luma: &mut [f32], width: usize, height: usize) -> PdqDct {
        assert_eq!(
            luma.len(),
            width.checked_mul(height).expect("image size overflows"),
            "luma buffer length must be width * height"
        );
        if width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM {
            return PdqDct {
                coeffs: [[0.0; DCT_SIDE]; DCT_SIDE],
                quality: 0,
            };
        }
        let mut small = [[0f32; DOWN]; DOWN];
        if width == DOWN && height == DOWN {
            for (dst, src) in small.iter_mut().zip(luma.chunks_exact(DOWN)) {
                dst.copy_from_slice(src);
            }
        } else {
            jarosz_filter(luma, width, height);
            decimate(luma, width, height, &mut small);
        }
        let quality = quality_metric(&small);
        PdqDct {
            coeffs: dct_64_to_16(&small),
            quality,
        }
    }

    /// Computes the DCT block from interleaved 8-bit RGB (`width * height * 3` bytes).
    ///
    /// # Panics
    /// If `rgb.len() != width * height * 3`.
    pub fn from_rgb(rgb: &[u8], width: usize, height: usize) -> PdqDct {
        let mut luma = luma_from_rgb(rgb, width, height);
        PdqDct::from_luma(&mut luma, width, height)
    }

    /// Quality 0..=100.
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// The hash of the image as given.
    pub fn hash(&self) -> PdqHash {
        block_to_hash(&self.coeffs)
    }

    /// Hash and quality.
    pub fn result(&self) -> PdqResult {
        PdqResult {
            hash: self.hash(),
            quality: self.quality,
        }
    }

    /// The hash the image would have after the transform `t`.
    pub fn hash_of(&self, t: Dihedral) -> PdqHash {
        let (transpose, neg_rows, neg_cols) = t.action();
        let mut out = [[0f32; DCT_SIDE]; DCT_SIDE];
        for (i, row) in self.coeffs.iter().enumerate() {
            for (j, &c) in row.iter().enumerate() {
                let flip = (neg_rows && i % 2 == 0) != (neg_cols && j % 2 == 0);
                let v = if flip { -c } else { c };
                if transpose {
                    out[j][i] = v;
                } else {
                    out[i][j] = v;
                }
            }
        }
        block_to_hash(&out)
    }

    /// The hashes of all 8 orientations, in the reference's order (see [`Dihedral::ALL`]):
    /// original, rotate 90, rotate 180, rotate 270, flip X, flip Y, flip +1, flip -1.
    pub fn dihedral(&self) -> [PdqHash; 8] {
        Dihedral::ALL.map(|t| self.hash_of(t))
    }
}

/// PDQ hash and quality of a row-major luminance buffer (values 0..=255). The buffer is
/// blurred in place.
///
/// # Panics
/// If `luma.len() != width * height`.
pub fn pdq_from_luma(luma: &mut [f32], width: usize, height: usize) -> PdqResult {
    PdqDct::from_luma(luma, width, height).result()
}

/// PDQ hash and quality of interleaved 8-bit RGB pixels.
///
/// # Panics
/// If `rgb.len() != width * height * 3`.
pub fn pdq_from_rgb(rgb: &[u8], width: usize, height: usize) -> PdqResult {
    PdqDct::from_rgb(rgb, width, height).result()
}

/// Luminance of interleaved 8-bit RGB, `0.299 R + 0.587 G + 0.114 B`.
///
/// Evaluated in `f64` then rounded to `f32`, as the `pdqhash` Python bindings do (the C++ tool
/// evaluates in `f32`; the two differ by at most one unit in the last place).
///
/// # Panics
/// If `rgb.len() != width * height * 3`.
pub fn luma_from_rgb(rgb: &[u8], width: usize, height: usize) -> Vec<f32> {
    let n = width.checked_mul(height).expect("image size overflows");
    assert_eq!(
        rgb.len(),
        n.checked_mul(3).expect("image size overflows"),
        "rgb buffer length must be width * height * 3"
    );
    rgb.chunks_exact(3)
        .map(|p| {
            (f64::from(p[0]) * 0.299 + f64::from(p[1]) * 0.587 + f64::from(p[2]) * 0.114) as f32
        })
        .collect()
}

/// Box-filter window for downsampling `old` samples to `new`: half of `old / new`, rounded up,
/// because the tent filter is two box passes.
fn window_size(old: usize, new: usize) -> usize {
    old.div_ceil(2 * new)
}

/// Two passes of (box along rows, box along columns), in place.
fn jarosz_filter(buf: &mut [f32], width: usize, height: usize) {
    let along_rows = window_size(width, DOWN);
    let along_cols = window_size(height, DOWN);
    let mut row_copy = vec![0f32; width];
    let mut col_state = ColumnBox::new(width, along_cols);
    for _ in 0..JAROSZ_PASSES {
        for row in buf.chunks_exact_mut(width) {
            row_copy.copy_from_slice(row);
            box_1d(&row_copy, row, along_rows);
        }
        col_state.apply(buf, height);
    }
}

/// One-dimensional box filter with a running sum. The window is centred (for even windows,
/// one more sample after than before) and shrinks at both ends, so every output is the mean of
/// the samples actually inside. The sequence of additions, subtractions and divisions is the
/// reference's, so results match it bit for bit.
fn box_1d(input: &[f32], out: &mut [f32], window: usize) {
    let n = input.len();
    debug_assert!(window >= 1 && window <= n && out.len() == n);
    // Samples read before the first output is written.
    let lead = (window + 2) / 2 - 1;
    let mut sum = 0f32;
    let mut count = 0usize;
    let mut oi = 0;
    // Growing window, no output yet.
    for &x in &input[..lead] {
        sum += x;
        count += 1;
    }
    // Growing window, writing.
    for &x in &input[lead..window] {
        sum += x;
        count += 1;
        out[oi] = sum / count as f32;
        oi += 1;
    }
    // Full window sliding.
    for (li, &x) in input[window..].iter().enumerate() {
        sum += x;
        sum -= input[li];
        out[oi] = sum / count as f32;
        oi += 1;
    }
    // Shrinking window at the end.
    for &x in &input[n - window..n - window + lead] {
        sum -= x;
        count -= 1;
        out[oi] = sum / count as f32;
        oi += 1;
    }
}

/// Box filter along columns, done as sweeps over whole rows (cache-friendly) and in place. Per
/// column the arithmetic is exactly that of [`box_1d`]. Rows that have been overwritten with
/// output but are still needed for a subtraction are kept in a ring of `window` rows.
struct ColumnBox {
    width: usize,
    window: usize,
    sums: Vec<f32>,
    ring: Vec<f32>,
}

impl ColumnBox {
    fn new(width: usize, window: usize) -> Self {
        ColumnBox {
            width,
            window,
            sums: vec![0.0; width],
            ring: vec![0.0; width * window],
        }
    }

    fn apply(&mut self, buf: &mut [f32], height: usize) {
        let (w, window) = (self.width, self.window);
        debug_assert!(window >= 1 && window <= height);
        let lead = (window + 2) / 2 - 1;
        self.sums.fill(0.0);
        let sums = &mut self.sums;
        let ring = &mut self.ring;
        let mut count = 0usize;
        let mut oi = 0usize;

        // Growing window: rows 0..window enter the sum (and the ring).
        for ri in 0..window {
            let slot = (ri % window) * w;
            let row = &buf[ri * w..(ri + 1) * w];
            for ((s, r), &x) in sums.iter_mut().zip(&mut ring[slot..slot + w]).zip(row) {
                *s += x;
                *r = x;
            }
            count += 1;
            if ri >= lead {
                let c = count as f32;
                for (o, &s) in buf[oi * w..(oi + 1) * w].iter_mut().zip(sums.iter()) {
                    *o = s / c;
                }
                oi += 1;
            }
        }
        // Full window: row ri enters, row li = ri - window leaves. Both map to the same ring
        // slot, so the leaving row is read before the entering row replaces it.
        for ri in window..height {
            let slot = (ri % window) * w;
            let c = count as f32;
            for j in 0..w {
                let x = buf[ri * w + j];
                let mut s = sums[j] + x;
                s -= ring[slot + j];
                ring[slot + j] = x;
                sums[j] = s;
            }
            for (o, &s) in buf[oi * w..(oi + 1) * w].iter_mut().zip(sums.iter()) {
                *o = s / c;
            }
            oi += 1;
        }
        // Shrinking window.
        for li in height - window..height - window + lead {
            let slot = (li % window) * w;
            for (s, &r) in sums.iter_mut().zip(&ring[slot..slot + w]) {
                *s -= r;
            }
            count -= 1;
            let c = count as f32;
            for (o, &s) in buf[oi * w..(oi + 1) * w].iter_mut().zip(sums.iter()) {
                *o = s / c;
            }
            oi += 1;
        }
        debug_assert_eq!(oi, height);
    }
}

/// Samples the blurred image at the centres of a 64x64 grid of cells.
fn decimate(buf: &[f32], width: usize, height: usize, out: &mut [[f32; DOWN]; DOWN]) {
    let centre = |k: usize, n: usize| (((k as f64 + 0.5) * n as f64) / DOWN as f64) as usize;
    for (oi, out_row) in out.iter_mut().enumerate() {
        let ii = centre(oi, height);
        let in_row = &buf[ii * width..(ii + 1) * width];
        for (oj, o) in out_row.iter_mut().enumerate() {
            *o = in_row[centre(oj, width)];
        }
    }
}

/// Gradient-energy quality: each neighbour difference is scaled to 0..100 and truncated to an
/// integer (so only significant edges count), summed, divided by 90, capped at 100.
fn quality_metric(a: &[[f32; DOWN]; DOWN]) -> u8 {
    let step = |u: f32, v: f32| -> i64 {
        let d = ((u - v) * 100.0) / 255.0;
        i64::from((d as i32).unsigned_abs())
    };
    let mut gradient_sum: i64 = 0;
    for (upper, lower) in a.iter().zip(a.iter().skip(1)) {
        for (&u, &v) in upper.iter().zip(lower.iter()) {
            gradient_sum += step(u, v);
        }
    }
    for row in a.iter() {
        for (&u, &v) in row.iter().zip(row.iter().skip(1)) {
            gradient_sum += step(u, v);
        }
    }
    (gradient_sum / 90).min(100) as u8
}

/// The 16x64 DCT-II matrix (rows for frequencies 1..=16), built once.
fn dct_matrix() -> &'static [[f32; DOWN]; DCT_SIDE] {
    static MATRIX: OnceLock<[[f32; DOWN]; DCT_SIDE]> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let scale = (2.0f64 / DOWN as f64).sqrt() as f32;
        let mut d = [[0f32; DOWN]; DCT_SIDE];
        for (i, row) in d.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let angle = (std::f64::consts::PI / 2.0 / DOWN as f64)
                    * (i + 1) as f64
                    * (2 * j + 1) as f64;
                *v = (f64::from(scale) * angle.cos()) as f32;
            }
        }
        d
    })
}

/// `B = D A Dᵀ`, computed as `T = D A` then `B = T Dᵀ`, summing in index order in `f32`.
fn dct_64_to_16(a: &[[f32; DOWN]; DOWN]) -> Block {
    let d = dct_matrix();
    let mut t = [[0f32; DOWN]; DCT_SIDE];
    for (t_row, d_row) in t.iter_mut().zip(d.iter()) {
        for (j, t_ij) in t_row.iter_mut().enumerate() {
            let mut sum = 0f32;
            for (k, &dk) in d_row.iter().enumerate() {
                sum += dk * a[k][j];
            }
            *t_ij = sum;
        }
    }
    let mut b = [[0f32; DCT_SIDE]; DCT_SIDE];
    for (b_row, t_row) in b.iter_mut().zip(t.iter()) {
        for (b_ij, d_row) in b_row.iter_mut().zip(d.iter()) {
            let mut sum = 0f32;
            for (&tk, &dk) in t_row.iter().zip(d_row.iter()) {
                sum += tk * dk;
            }
            *b_ij = sum;
        }
    }
    b
}

/// One bit per coefficient: above the lower median (the 128th smallest of 256) or not.
fn block_to_hash(b: &Block) -> PdqHash {
    let mut values = [0f32; DCT_SIDE * DCT_SIDE];
    for (dst, src) in values.chunks_exact_mut(DCT_SIDE).zip(b.iter()) {
        dst.copy_from_slice(src);
    }
    let (_, &mut median, _) = values.select_nth_unstable_by(127, f32::total_cmp);
    let mut hash = PdqHash::ZERO;
    for (i, row) in b.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if v > median {
                hash.set_bit(i * DCT_SIDE + j);
            }
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth, asymmetric test pattern.
    fn pattern(w: usize, h: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                let val = 128.0
                    + 60.0 * (7.0 * fx + 3.0 * fy * fy).sin()
                    + 40.0 * (11.0 * fy - 2.0 * fx).cos()
                    + 20.0 * ((fx - 0.3) * (fy - 0.6) * 40.0).sin();
                v.push(val.clamp(0.0, 255.0));
            }
        }
        v
    }

    #[test]
    fn hex_round_trip_and_bit_layout() {
        let s = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let h: PdqHash = s.parse().unwrap();
        assert_eq!(h.to_hex(), s);
        assert_eq!(h.to_string(), s);
        assert_eq!(PdqHash::from_words(h.to_words()), h);
        // Bit 0 is the least significant bit of the last hex digit (2 = 0b0010).
        assert!(!h.bit(0));
        assert!(h.bit(1));
        // Bit 255 is the most significant bit of the first digit (f).
        assert!(h.bit(255));
        assert_eq!(
            "F8F8F0CEE0F4A84F06370A22038F63F0B36E2ED596621E1D33E6B39C4E9C9B22"
                .parse::<PdqHash>()
                .unwrap(),
            h
        );
        assert_eq!("abc".parse::<PdqHash>(), Err(PdqParseError::WrongLength(3)));
        let bad = format!("{}g", &s[..63]);
        assert!(matches!(
            bad.parse::<PdqHash>(),
            Err(PdqParseError::InvalidDigit {
                position: 63,
                found: 'g'
            })
        ));
        let non_ascii = format!("{}é", &s[..62]);
        assert!(non_ascii.parse::<PdqHash>().is_err());
    }

    #[test]
    fn hamming() {
        let a = PdqHash::ZERO;
        let mut b = PdqHash::ZERO;
        assert_eq!(a.hamming_distance(&b), 0);
        for k in [0, 1, 63, 64, 200, 255] {
            b.set_bit(k);
        }
        assert_eq!(a.hamming_distance(&b), 6);
        assert_eq!(b.count_ones(), 6);
        let ones = PdqHash([0xff; 32]);
        assert_eq!(a.hamming_distance(&ones), 256);
    }

    #[test]
    fn box_filter_matches_naive_means() {
        let input: Vec<f32> = (0..37).map(|i| ((i * 7919) % 101) as f32).collect();
        for window in 1..=12 {
            let mut out = vec![0f32; input.len()];
            box_1d(&input, &mut out, window);
            let half = (window + 2) / 2;
            for (o, &got) in out.iter().enumerate() {
                // Output o averages input[o + half - window ..= o + half - 1], clipped.
                let lo = (o + half).saturating_sub(window);
                let hi = (o + half - 1).min(input.len() - 1);
                let mean: f32 = input[lo..=hi].iter().sum::<f32>() / (hi - lo + 1) as f32;
                assert!(
                    (got - mean).abs() < 1e-3,
                    "window {window} o {o}: {got} vs {mean}"
                );
            }
            // The column filter does the same arithmetic per column.
            let (w, h) = (3, input.len());
            let mut buf: Vec<f32> = input.iter().flat_map(|&x| [x, x * 2.0, 1.0]).collect();
            ColumnBox::new(w, window).apply(&mut buf, h);
            for (o, &expect) in out.iter().enumerate() {
                assert_eq!(buf[o * w], expect);
                assert_eq!(buf[o * w + 2], 1.0);
            }
        }
    }

    #[test]
    fn median_threshold_sets_half_the_bits() {
        let (w, h) = (200, 150);
        let mut luma = pattern(w, h);
        let r = pdq_from_luma(&mut luma, w, h);
        assert_eq!(r.hash.count_ones(), 128);
        assert!(r.quality > 0);
    }

    #[test]
    fn tiny_and_flat_images() {
        let mut tiny = vec![100f32; 4 * 40];
        assert_eq!(
            pdq_from_luma(&mut tiny, 4, 40),
            PdqResult {
                hash: PdqHash::ZERO,
                quality: 0
            }
        );
        let mut flat = vec![100f32; 300 * 200];
        let r = pdq_from_luma(&mut flat, 300, 200);
        assert_eq!(r.quality, 0);
        assert!(!r.is_usable());
    }

    fn transform(src: &[f32], w: usize, h: usize, t: Dihedral) -> (Vec<f32>, usize, usize) {
        // Pixel (x, y) of the output, as a function of the input.
        let (ow, oh) = match t {
            Dihedral::Rotate90
            | Dihedral::Rotate270
            | Dihedral::FlipPlus1
            | Dihedral::FlipMinus1 => (h, w),
            _ => (w, h),
        };
        let mut out = vec![0f32; w * h];
        for y in 0..oh {
            for x in 0..ow {
                let (sx, sy) = match t {
                    Dihedral::Original => (x, y),
                    // Counter-clockwise: output top row is the input's right column.
                    Dihedral::Rotate90 => (w - 1 - y, x),
                    Dihedral::Rotate180 => (w - 1 - x, h - 1 - y),
                    Dihedral::Rotate270 => (y, h - 1 - x),
                    Dihedral::FlipX => (x, h - 1 - y),
                    Dihedral::FlipY => (w - 1 - x, y),
                    Dihedral::FlipPlus1 => (y, x),
                    Dihedral::FlipMinus1 => (w - 1 - y, h - 1 - x),
                };
                out[y * ow + x] = src[sy * w + sx];
            }
        }
        (out, ow, oh)
    }

    #[test]
    fn dihedral_variants_match_transformed_pixels() {
        // 64x64 skips the blur, so the pixel transforms are exact and the hashes agree (0 bits
        // here). Larger images are blurred and decimated at cell centres rounded down, which is
        // not mirror-symmetric; on this smooth synthetic pattern (many coefficients near the
        // median) that moves up to 18 bits. Real photographs: see tests/reference_vectors.rs.
        for (w, h, tolerance) in [(64, 64, 0), (256, 256, 24), (320, 192, 24)] {
            let base = pattern(w, h);
            let dct = PdqDct::from_luma(&mut base.clone(), w, h);
            let variants = dct.dihedral();
            assert_eq!(variants[0], dct.hash());
            for (k, t) in Dihedral::ALL.iter().enumerate() {
                let (mut img, tw, th) = transform(&base, w, h, *t);
                let direct = pdq_from_luma(&mut img, tw, th).hash;
                let d = direct.hamming_distance(&variants[k]);
                assert!(d <= tolerance, "{w}x{h} {t:?}: distance {d}");
            }
        }
    }
}
