//! Which freed blocks may be samples, answered without a lock or a hash-table probe: a counting
//! filter of one byte per 16-byte heap granule, 128 KiB in all.
//!
//! Why this and not the alternatives: a separate address range for sampled blocks, or a header
//! on them, would mean deciding to sample *before* the wrapped allocator (System, jemalloc,
//! mimalloc) hands out the block and allocating sampled blocks differently from the others; the
//! filter leaves every block exactly where its allocator put it and costs a free one load.
//!
//! The index keeps neighbours together: the granules of one 2 MiB region map one-to-one onto
//! the filter, permuted by the region's number (xor). So frees of nearby blocks read the same filter
//! cache lines (the hot part of the filter is as small as the hot part of the heap), two live
//! blocks of one region never share a counter unless they share a granule, and regions that
//! allocators align alike (glibc's 64 MiB thread arenas) do not alias: the same offset in two
//! regions lands on different counters. A free
//! of an unsampled block hits a non-zero counter — a false positive that costs one probe of
//! the live table — with probability about `samples in other regions / 131072`: 1.6 % at
//! 2048 live samples (1 GiB live heap at the default rate), 0.15 % at 200.
//!
//! Counters saturate at 255 and then stay (never decremented): only more false positives.

use std::sync::atomic::{AtomicU8, Ordering};

const INDEX_BITS: u32 = 17;
const COUNTERS: usize = 1 << INDEX_BITS;
const GRANULE_SHIFT: u32 = 4;

static FILTER: [AtomicU8; COUNTERS] = [const { AtomicU8::new(0) }; COUNTERS];

/// The filter counter of a block address: the granule, xor the region number (four
/// instructions; a multiplicative hash of the region would cost three more on every free).
#[inline(always)]
fn index(address: usize) -> usize {
    ((address >> GRANULE_SHIFT) ^ (address >> (GRANULE_SHIFT + INDEX_BITS))) & (COUNTERS - 1)
}

/// Whether the block at `address` may be a live sample (no false negatives).
#[inline(always)]
pub(crate) fn may_hold(address: usize) -> bool {
    FILTER[index(address)].load(Ordering::Relaxed) != 0
}

/// A sample now lives at `address`.
pub(crate) fn insert(address: usize) {
    let _ = FILTER[index(address)].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
        (c < u8::MAX).then_some(c + 1)
    });
}

/// The sample at `address` is gone.
pub(crate) fn remove(address: usize) {
    let _ = FILTER[index(address)].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
        (c != 0 && c < u8::MAX).then(|| c - 1)
    });
}

/// Bytes of static memory this table takes (its bound, whatever is live).
#[cfg(test)]
pub(super) fn memory() -> usize {
    std::mem::size_of_val(&FILTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_in_a_region_never_share_a_counter() {
        let base = 0x7f00_0020_0000usize; // 2 MiB aligned
        let mut seen = vec![false; COUNTERS];
        for g in 0..COUNTERS {
            let i = index(base + (g << GRANULE_SHIFT));
            assert!(!seen[i], "granule {g} collides");
            seen[i] = true;
        }
    }

    #[test]
    fn aligned_regions_are_rotated_apart() {
        // The same offset in 64 MiB-aligned arenas, as glibc lays them out.
        let offsets: Vec<usize> = (0..64usize)
            .map(|a| index(0x7f00_0000_0000 + (a << 26) + 0x1230))
            .collect();
        let mut distinct = offsets.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() >= 60, "{} distinct of 64", distinct.len());
    }
}
