//! The LSH bucket table: band key → the first few posts that fell into the bucket.
//!
//! An open-addressing table with linear probing over 16-byte slots, four to a cache line,
//! because at a hundred thousand posts and twenty-five bands the table is far larger than
//! any cache and each lookup costs one memory access. A slot keeps 32 bits of the key: two
//! band keys that share them share a bucket, which costs one extra verification and never a
//! wrong merge, since every candidate is verified.

/// Posts kept per bucket.
pub(crate) const REPS: usize = 3;
pub(crate) const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Upper 32 bits of the key, never 0 (0 marks a free slot).
    tag: u32,
    reps: [u32; REPS],
}

const FREE: Slot = Slot {
    tag: 0,
    reps: [EMPTY; REPS],
};

#[derive(Debug)]
pub(crate) struct BucketTable {
    slots: Vec<Slot>,
    len: usize,
}

impl Default for BucketTable {
    fn default() -> Self {
        BucketTable {
            slots: vec![FREE; 1024],
            len: 0,
        }
    }
}

#[inline]
fn tag_of(key: u64) -> u32 {
    ((key >> 32) as u32).max(1)
}

impl BucketTable {
    #[inline]
    fn start(&self, key: u64) -> usize {
        home(tag_of(key)) & (self.slots.len() - 1)
    }

    /// The posts in a key's bucket, without changing anything: used to bring the slots of
    /// all bands into cache at once before they are updated one by one.
    #[inline]
    pub(crate) fn peek(&self, key: u64) -> [u32; REPS] {
        let tag = tag_of(key);
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        loop {
            let slot = self.slots[i];
            if slot.tag == tag || slot.tag == 0 {
                return slot.reps;
            }
            i = (i + 1) & mask;
        }
    }

    /// The bucket's posts before this call; if the bucket was new, it now holds `item`.
    pub(crate) fn get_or_insert(&mut self, key: u64, item: u32) -> Option<[u32; REPS]> {
        if (self.len + 1) * 10 > self.slots.len() * 7 {
            self.grow();
        }
        let tag = tag_of(key);
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        loop {
            let slot = &mut self.slots[i];
            if slot.tag == tag {
                return Some(slot.reps);
            }
            if slot.tag == 0 {
                slot.tag = tag;
                slot.reps[0] = item;
                self.len += 1;
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Puts `item` into the first free place of an existing bucket, if it has one.
    pub(crate) fn add_rep(&mut self, key: u64, item: u32) {
        let tag = tag_of(key);
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        loop {
            let slot = &mut self.slots[i];
            if slot.tag == tag {
                if let Some(free) = slot.reps.iter_mut().find(|r| **r == EMPTY) {
                    *free = item;
                }
                return;
            }
            if slot.tag == 0 {
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table; slots keep only their tag, and their home is computed from it.
    fn grow(&mut self) {
        let old = std::mem::replace(&mut self.slots, vec![FREE; 0]);
        let capacity = old.len() * 2;
        self.slots = vec![FREE; capacity];
        let mask = capacity - 1;
        for slot in old.into_iter().filter(|s| s.tag != 0) {
            let mut i = home(slot.tag) & mask;
            while self.slots[i].tag != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

/// The home index of a tag: keys are placed by their tag, so that the table can grow
/// without the full keys.
#[inline]
fn home(tag: u32) -> usize {
    (u64::from(tag).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::fmix64;

    #[test]
    fn keeps_the_first_posts_of_each_bucket_across_growth() {
        let mut table = BucketTable::default();
        for k in 0..5_000u64 {
            assert_eq!(table.get_or_insert(fmix64(k), k as u32), None);
        }
        for k in 0..5_000u64 {
            table.add_rep(fmix64(k), 10_000 + k as u32);
        }
        for k in 0..5_000u64 {
            let reps = table.peek(fmix64(k));
            assert_eq!(reps[..2], [k as u32, 10_000 + k as u32]);
            assert_eq!(table.get_or_insert(fmix64(k), 0), Some(reps));
        }
        assert_eq!(table.peek(fmix64(99_999)), [EMPTY; REPS]);
    }
}
