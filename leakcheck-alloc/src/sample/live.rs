//! The table of live samples: fixed size, in static memory (outside the counted heap, paged in
//! by the OS only when touched), lock-free.
//!
//! An address hashes to two buckets of eight slots, one cache line of keys each. Inserting
//! claims an empty key with compare-and-swap in the emptier bucket; when both are full the
//! sample is dropped (and counted). A lookup reads the two lines of keys; removing
//! a sample empties its key again, so there are no tombstones and no probe chains that grow
//! with churn. Only the thread that claimed a key writes its entry, and it writes the entry
//! under a per-entry sequence number so that a reader copying the table while other threads
//! allocate and free never sees half of one sample and half of another.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Slots for live samples.
pub(crate) const CAPACITY: usize = 1 << 14;
const WAYS: usize = 8;
const BUCKETS: usize = CAPACITY / WAYS;

#[repr(align(64))]
struct Bucket([AtomicUsize; WAYS]);

/// Keys: the sampled block's address, 0 when the slot is free.
static KEYS: [Bucket; BUCKETS] = [const { Bucket([const { AtomicUsize::new(0) }; WAYS]) }; BUCKETS];
static ENTRIES: [Entry; CAPACITY] = [const { Entry::new() }; CAPACITY];

/// One live sample. `seq` is odd while its writer is changing it; `address` is 0 in an
/// empty entry.
struct Entry {
    seq: AtomicU32,
    stack: AtomicU32,
    address: AtomicUsize,
    size: AtomicU64,
    rate: AtomicU64,
    thread: AtomicU64,
    at_nanos: AtomicU64,
}

/// What a sample records (the table's copy, and a reader's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) address: usize,
    pub(crate) size: u64,
    pub(crate) rate: u64,
    pub(crate) stack: u32,
    pub(crate) thread: u64,
    pub(crate) at_nanos: u64,
}

impl Entry {
    const fn new() -> Self {
        Self {
            seq: AtomicU32::new(0),
            stack: AtomicU32::new(0),
            address: AtomicUsize::new(0),
            size: AtomicU64::new(0),
            rate: AtomicU64::new(0),
            thread: AtomicU64::new(0),
            at_nanos: AtomicU64::new(0),
        }
    }

    /// Replaces the entry's contents (its single writer only).
    fn write(&self, f: &Fields) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.stack.store(f.stack, Ordering::Relaxed);
        self.size.store(f.size, Ordering::Relaxed);
        self.rate.store(f.rate, Ordering::Relaxed);
        self.thread.store(f.thread, Ordering::Relaxed);
        self.at_nanos.store(f.at_nanos, Ordering::Relaxed);
        self.address.store(f.address, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Its writer's view (no concurrent writer).
    fn read_own(&self) -> Fields {
        Fields {
            address: self.address.load(Ordering::Relaxed),
            size: self.size.load(Ordering::Relaxed),
            rate: self.rate.load(Ordering::Relaxed),
            stack: self.stack.load(Ordering::Relaxed),
            thread: self.thread.load(Ordering::Relaxed),
            at_nanos: self.at_nanos.load(Ordering::Relaxed),
        }
    }

    /// A consistent copy taken while the writer may be active: `None` if it stayed busy.
    fn read_consistent(&self) -> Option<Fields> {
        for _ in 0..64 {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let f = self.read_own();
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return Some(f);
            }
        }
        None
    }
}

fn buckets(address: usize) -> [usize; 2] {
    let h = (address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let first = (h >> 40) as usize % BUCKETS;
    let mut second = (h >> 20) as usize % BUCKETS;
    if second == first {
        second = (first + 1) % BUCKETS;
    }
    [first, second]
}

/// Records a new live sample; `false` when its two buckets are full.
pub(crate) fn insert(f: &Fields) -> bool {
    // Two choices: the emptier bucket first, which keeps buckets even, so that the table
    // fills to nearly its capacity before a sample finds both of its buckets full.
    let [a, b] = buckets(f.address);
    let order = if free_ways(a) >= free_ways(b) {
        [a, b]
    } else {
        [b, a]
    };
    for b in order {
        for (way, key) in KEYS[b].0.iter().enumerate() {
            if key.load(Ordering::Relaxed) == 0
                && key
                    .compare_exchange(0, f.address, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                ENTRIES[b * WAYS + way].write(f);
                return true;
            }
        }
    }
    false
}

fn free_ways(bucket: usize) -> usize {
    KEYS[bucket]
        .0
        .iter()
        .filter(|k| k.load(Ordering::Relaxed) == 0)
        .count()
}

/// Removes the live sample at `address` and returns it, or `None` if there is none.
pub(crate) fn remove(address: usize) -> Option<Fields> {
    for b in buckets(address) {
        for (way, key) in KEYS[b].0.iter().enumerate() {
            if key.load(Ordering::Relaxed) == address {
                let entry = &ENTRIES[b * WAYS + way];
                let f = entry.read_own();
                entry.write(&Fields { address: 0, ..f });
                // Only now may another sample claim the slot.
                key.store(0, Ordering::Release);
                return Some(f);
            }
        }
    }
    None
}

/// Copies every live sample into `out`; returns how many entries stayed busy and were skipped.
pub(crate) fn copy(mut out: impl FnMut(Fields)) -> u64 {
    let mut skipped = 0;
    for entry in &ENTRIES {
        if entry.address.load(Ordering::Relaxed) == 0 && entry.seq.load(Ordering::Relaxed) % 2 == 0
        {
            continue;
        }
        match entry.read_consistent() {
            Some(f) if f.address != 0 => out(f),
            Some(_) => {}
            None => skipped += 1,
        }
    }
    skipped
}

/// Bytes of static memory this table takes (its bound, whatever is live).
#[cfg(test)]
pub(super) fn memory() -> usize {
    std::mem::size_of_val(&KEYS) + std::mem::size_of_val(&ENTRIES)
}
