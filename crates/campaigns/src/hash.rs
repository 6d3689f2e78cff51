//! Fast non-cryptographic hashing and a small deterministic random generator.
//!
//! Nothing here needs to resist an adversary: hashes only spread tokens and shingles over
//! 64 bits, and the generator only has to give the same permutations and the same synthetic
//! data on every machine.

use std::hash::{BuildHasherDefault, Hasher};

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Murmur3's 64-bit finaliser: every input bit affects every output bit.
#[inline]
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    k ^= k >> 33;
    k = k.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    k ^ (k >> 33)
}

/// Hashes a byte string eight bytes at a time.
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325 ^ (bytes.len() as u64).wrapping_mul(MUL);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(MUL)
            .rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(MUL)
            .rotate_left(29);
    }
    fmix64(h)
}

/// Order-dependent combination of two hashes (for shingles: `a b` differs from `b a`).
#[inline]
pub(crate) fn combine(a: u64, b: u64) -> u64 {
    (a.rotate_left(23) ^ b).wrapping_mul(MUL)
}

/// A `Hasher` for keys that are already well-mixed 64-bit hashes: hashing them again would
/// only cost time.
#[derive(Default)]
pub(crate) struct PremixedHasher(u64);

impl Hasher for PremixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = combine(self.0, hash_bytes(bytes));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type Premixed = BuildHasherDefault<PremixedHasher>;

/// SplitMix64: tiny, fast and statistically good enough for permutation parameters and
/// synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(MUL);
        fmix64(self.0)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_differ_and_are_stable() {
        assert_ne!(hash_bytes(b"boat"), hash_bytes(b"boat "));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(combine(1, 2), combine(2, 1));
        assert_eq!(
            hash_bytes(b"dinghy to the uk"),
            hash_bytes(b"dinghy to the uk")
        );
    }

    #[test]
    fn rng_stays_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            assert!(rng.below(3) < 3);
            let x = rng.between(5, 9);
            assert!((5..=9).contains(&x));
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
