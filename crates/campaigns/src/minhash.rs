//! MinHash signatures and the banding of locality-sensitive hashing.
//!
//! Each shingle is hashed once (64 bits, well mixed) and folded to 32 bits; the `k`
//! permutations are then the affine maps `a·x + b mod 2³²` with odd `a`, which are
//! bijections and cheap (they vectorise). This is datasketch's default scheme too: affine
//! permutations are enough when their input is already uniformly mixed. A signature is `k`
//! 32-bit minima; the share of equal positions in two signatures estimates the Jaccard
//! similarity of the shingle sets.

use crate::hash::{combine, fmix64, Rng};

/// The permutations of one signature size.
#[derive(Debug, Clone)]
pub struct MinHasher {
    a: Vec<u32>,
    b: Vec<u32>,
}

impl MinHasher {
    /// `num_perm` permutations drawn from `seed`; the same seed gives the same signatures on
    /// every machine.
    pub fn new(num_perm: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let a = (0..num_perm).map(|_| rng.next_u64() as u32 | 1).collect();
        let b = (0..num_perm).map(|_| rng.next_u64() as u32).collect();
        MinHasher { a, b }
    }

    pub fn num_perm(&self) -> usize {
        self.a.len()
    }

    /// Writes the signature of a set of shingle hashes into `out` (`num_perm` long). An empty
    /// set gives all `u32::MAX`.
    pub fn signature_into(&self, shingles: &[u64], out: &mut [u32]) {
        debug_assert_eq!(out.len(), self.a.len());
        out.fill(u32::MAX);
        for &x in shingles {
            let x = (x ^ (x >> 32)) as u32;
            for ((o, &a), &b) in out.iter_mut().zip(&self.a).zip(&self.b) {
                *o = (*o).min(a.wrapping_mul(x).wrapping_add(b));
            }
        }
    }
}

/// The share of positions where two signatures agree: an estimate of Jaccard similarity.
pub fn estimated_jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// The number of values two sorted, duplicate-free slices share.
pub(crate) fn intersection_size<T: Ord>(a: &[T], b: &[T]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

/// The key of one band of a signature in the bucket table; the band's index is mixed in so
/// that one table serves all bands.
#[inline]
pub(crate) fn band_key(band: usize, rows: &[u32]) -> u64 {
    let mut h = (band as u64).wrapping_add(0x5851_F42D_4C95_7F2D);
    for &r in rows {
        h = combine(h, u64::from(r));
    }
    fmix64(h)
}

/// Bands and rows per band for a similarity threshold, chosen as `datasketch` does: the pair
/// minimising the area of false positives below the threshold plus false negatives above
/// it, with equal weights, among `bands · rows ≤ num_perm`.
pub fn lsh_params(threshold: f64, num_perm: usize) -> (usize, usize) {
    let mut best = (1, num_perm.max(1));
    let mut best_error = f64::INFINITY;
    for bands in 1..=num_perm {
        for rows in 1..=num_perm / bands {
            let candidate = |s: f64| 1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32);
            let fp = integrate(candidate, 0.0, threshold);
            let fn_ = integrate(|s| 1.0 - candidate(s), threshold, 1.0);
            let error = 0.5 * fp + 0.5 * fn_;
            if error < best_error {
                best_error = error;
                best = (bands, rows);
            }
        }
    }
    best
}

/// Composite Simpson's rule; the integrands are smooth polynomials.
fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    const N: usize = 200;
    if b <= a {
        return 0.0;
    }
    let h = (b - a) / N as f64;
    let mut sum = f(a) + f(b);
    for i in 1..N {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        sum += w * f(a + i as f64 * h);
    }
    sum * h / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::fmix64;

    fn set(range: std::ops::Range<u64>) -> Vec<u64> {
        range.map(fmix64).collect()
    }

    #[test]
    fn estimates_jaccard_within_sampling_error() {
        let hasher = MinHasher::new(256, 1);
        let (mut sa, mut sb) = (vec![0; 256], vec![0; 256]);
        // |A ∩ B| = 60, |A ∪ B| = 140: J = 0.43.
        hasher.signature_into(&set(0..100), &mut sa);
        hasher.signature_into(&set(40..140), &mut sb);
        let j = estimated_jaccard(&sa, &sb);
        assert!((j - 60.0 / 140.0).abs() < 0.1, "{j}");
        hasher.signature_into(&set(1000..1100), &mut sb);
        assert!(estimated_jaccard(&sa, &sb) < 0.05);
        hasher.signature_into(&set(0..100), &mut sb);
        assert_eq!(estimated_jaccard(&sa, &sb), 1.0);
    }

    #[test]
    fn lsh_params_match_datasketch() {
        // Values computed by datasketch's `_optimal_param` with the default weights.
        assert_eq!(lsh_params(0.5, 128), (25, 5));
        assert_eq!(lsh_params(0.4, 128), (32, 4));
        assert_eq!(lsh_params(0.9, 128), (5, 25));
        assert_eq!(lsh_params(0.5, 64), (14, 4));
    }
}
