//! Stable feature hashing, shared by the language identifier and the classifier.
//!
//! The hash must never change between versions or machines: trained weights are stored by
//! bucket number.

const PRIME: u64 = 0x0000_0100_0000_01b3;
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The starting state, salted so that different feature families do not collide.
pub fn seed(salt: u64) -> u64 {
    OFFSET ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Adds one value (a character or a word hash) to a running hash.
#[inline]
pub fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(PRIME)
}

/// Spreads the bits of a running hash and reduces it to `bits` bits.
#[inline]
pub fn bucket(h: u64, bits: u32) -> u32 {
    let mut z = h;
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    (z >> (64 - bits)) as u32
}
