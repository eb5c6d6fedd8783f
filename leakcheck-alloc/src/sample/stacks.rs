//! Distinct allocation stacks of sampled allocations, with cumulative totals per stack (what
//! Go's heap profile keeps per bucket for `alloc_objects` / `alloc_space`). Insert-only, in
//! static memory, lock-free.
//!
//! A stack is found by a 48-bit hash of its frames in an open-addressing index; an id is
//! reserved first, the frames written, and then the index slot claimed with compare-and-swap,
//! so a thread that finds the hash already claimed uses that id at once and never waits for
//! the claiming thread. Two different stacks with the same 48-bit hash would share a record
//! (about 3·10⁻⁸ for 4096 stacks). Ids are dense and never reused: they are stable for the
//! life of the process, so two snapshots can be subtracted stack by stack.

use super::unwind::{Frames, MAX_FRAMES};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Most distinct stacks.
pub(crate) const CAPACITY: usize = 4096;
const INDEX_SLOTS: usize = CAPACITY * 2;
const ID_BITS: u32 = 16;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

static INDEX: [AtomicU64; INDEX_SLOTS] = [const { AtomicU64::new(0) }; INDEX_SLOTS];
static RECORDS: [Record; CAPACITY] = [const { Record::new() }; CAPACITY];
/// Ids handed out (some may be unused: a lost race for an index slot leaves a hole).
static USED: AtomicU32 = AtomicU32::new(0);

/// Cumulative counts of one kind of event (allocations or frees) of sampled blocks.
pub(crate) struct Tally {
    samples: AtomicU64,
    sampled_bytes: AtomicU64,
    /// `f64` bits: estimated objects (sum of weights).
    objects: AtomicU64,
    /// `f64` bits: estimated bytes (sum of weight × size).
    bytes: AtomicU64,
}

/// What a reader gets from a [`Tally`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct TallyCopy {
    pub(crate) samples: u64,
    pub(crate) sampled_bytes: u64,
    pub(crate) objects: f64,
    pub(crate) bytes: f64,
}

impl Tally {
    const fn new() -> Self {
        Self {
            samples: AtomicU64::new(0),
            sampled_bytes: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn add(&self, size: u64, weight: f64) {
        self.samples.fetch_add(1, Ordering::Relaxed);
        self.sampled_bytes.fetch_add(size, Ordering::Relaxed);
        add_f64(&self.objects, weight);
        add_f64(&self.bytes, weight * size as f64);
    }

    fn read(&self) -> TallyCopy {
        TallyCopy {
            samples: self.samples.load(Ordering::Relaxed),
            sampled_bytes: self.sampled_bytes.load(Ordering::Relaxed),
            objects: f64::from_bits(self.objects.load(Ordering::Relaxed)),
            bytes: f64::from_bits(self.bytes.load(Ordering::Relaxed)),
        }
    }
}

fn add_f64(cell: &AtomicU64, x: f64) {
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + x).to_bits())
    });
}

/// One stack: its frames (written once, before `ready`) and its totals.
pub(crate) struct Record {
    ready: AtomicBool,
    depth: AtomicU32,
    frames: [AtomicUsize; MAX_FRAMES],
    pub(crate) allocs: Tally,
    pub(crate) frees: Tally,
}

impl Record {
    const fn new() -> Self {
        Self {
            ready: AtomicBool::new(false),
            depth: AtomicU32::new(0),
            frames: [const { AtomicUsize::new(0) }; MAX_FRAMES],
            allocs: Tally::new(),
            frees: Tally::new(),
        }
    }
}

/// The record of stack `id` (an id returned by [`intern`]).
pub(crate) fn record(id: u32) -> &'static Record {
    &RECORDS[id as usize]
}

fn hash(ips: &[usize]) -> u64 {
    let h = ips.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &ip| {
        (h ^ ip as u64).wrapping_mul(0x0000_0100_0000_01B3)
    });
    super::countdown::splitmix64(h ^ ips.len() as u64)
}

/// The id of `frames`, adding the stack if new; `None` when the table is full.
pub(crate) fn intern(frames: &Frames) -> Option<u32> {
    let ips = frames.ips();
    let h = hash(ips);
    let tag = (h >> ID_BITS).max(1);
    let mut i = h as usize % INDEX_SLOTS;
    let mut reserved: Option<u32> = None;
    for _ in 0..INDEX_SLOTS {
        let v = INDEX[i].load(Ordering::Acquire);
        if v == 0 {
            let id = match reserved {
                Some(id) => id,
                None => {
                    let id = USED
                        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                            ((n as usize) < CAPACITY).then_some(n + 1)
                        })
                        .ok()?;
                    let r = &RECORDS[id as usize];
                    for (slot, &ip) in r.frames.iter().zip(ips) {
                        slot.store(ip, Ordering::Relaxed);
                    }
                    r.depth.store(ips.len() as u32, Ordering::Relaxed);
                    reserved = Some(id);
                    id
                }
            };
            let claim = (tag << ID_BITS) | u64::from(id);
            match INDEX[i].compare_exchange(0, claim, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    RECORDS[id as usize].ready.store(true, Ordering::Release);
                    return Some(id);
                }
                Err(other) if other >> ID_BITS == tag => return Some((other & ID_MASK) as u32),
                Err(_) => {}
            }
        } else if v >> ID_BITS == tag {
            return Some((v & ID_MASK) as u32);
        }
        i = (i + 1) % INDEX_SLOTS;
    }
    None
}

/// A reader's copy of one stack.
pub(crate) struct Copied {
    pub(crate) id: u32,
    pub(crate) allocs: TallyCopy,
    pub(crate) frees: TallyCopy,
}

/// Calls `out` with every stack that is ready, and its frames.
pub(crate) fn copy(mut out: impl FnMut(Copied, &mut dyn Iterator<Item = usize>)) {
    let used = (USED.load(Ordering::Acquire) as usize).min(CAPACITY);
    for (id, r) in RECORDS[..used].iter().enumerate() {
        if !r.ready.load(Ordering::Acquire) {
            continue;
        }
        let depth = r.depth.load(Ordering::Relaxed) as usize;
        let mut frames = r.frames[..depth].iter().map(|f| f.load(Ordering::Relaxed));
        out(
            Copied {
                id: id as u32,
                allocs: r.allocs.read(),
                frees: r.frees.read(),
            },
            &mut frames,
        );
    }
}

/// Bytes of one stack's record.
#[cfg(test)]
pub(super) fn record_size() -> usize {
    std::mem::size_of::<Record>()
}

/// Bytes of static memory this table takes (its bound, whatever is live).
#[cfg(test)]
pub(super) fn memory() -> usize {
    std::mem::size_of_val(&INDEX) + std::mem::size_of_val(&RECORDS)
}
