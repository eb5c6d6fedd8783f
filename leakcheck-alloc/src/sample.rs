//! Heap profile: a sample of allocations, taken inside the counting allocator, cheap enough to
//! leave on in production (Poisson sampling by bytes, as Go's `MemProfileRate` and jemalloc's
//! `prof`).
//!
//! Off by default. With [`set_rate`]`(bytes)` each thread counts down a random number of bytes,
//! exponential with mean `bytes` ([`DEFAULT_RATE`] = 512 KiB, as Go and jemalloc's
//! `lg_prof_sample = 19`), and the allocation that crosses zero is sampled: its stack is captured
//! (return addresses, unresolved, at most [`MAX_FRAMES`]) and it is recorded with its size,
//! thread and time until it is freed. Every other allocation pays one subtract-and-branch, every
//! free one filter load. An allocation of `s` bytes is sampled with probability
//! `1 − exp(−s/rate)`, so each sample stands for [`weight`]`(s, rate)` allocations of its size:
//! summing weights (and weight × size) over samples estimates counts and bytes without bias.
//!
//! [`snapshot`] copies the live samples and the per-stack totals into ordinary vectors, while
//! other threads go on allocating; from them a profile encoder derives Go's four sample types:
//!
//! | pprof sample type | from |
//! |---|---|
//! | `alloc_objects` / `alloc_space` | [`StackTotals::allocated`] (`objects` / `bytes`) |
//! | `inuse_objects` / `inuse_space` | [`LiveSample::estimated_objects`] / [`LiveSample::estimated_bytes`] summed per stack (or [`StackTotals::in_use`]) |
//!
//! with [`LiveSample::thread`] and [`LiveSample::allocated_at`] for thread and age labels.
//! Frames are return addresses as the unwinder reports them, innermost first; the innermost
//! few are the allocator's own (`leakcheck_alloc::…`, `__rust_alloc`, `alloc::…`), which an
//! encoder drops by name as Go's drops `runtime.malloc*`. Symbolize outside the allocator.
//!
//! Memory is fixed and outside the counted heap (static, zero-filled, paged in by the OS only
//! where touched): [`LIVE_CAPACITY`] live samples (1 MiB of entries and keys) and
//! [`STACK_CAPACITY`] stacks (2.4 MiB) plus a 128 KiB filter. At the default rate a 1 GiB live
//! heap holds about 2048 live samples. A sample that finds no room is dropped and counted in
//! [`Stats`]; nothing ever blocks.
//!
//! ```
//! leakcheck_alloc::global_allocator!();
//! use leakcheck_alloc::sample;
//!
//! fn main() {
//!     sample::set_rate(sample::DEFAULT_RATE); // once, at start
//!     let kept: Vec<Vec<u8>> = (0..256).map(|_| vec![0u8; 64 << 10]).collect(); // 16 MiB
//!
//!     let snap = sample::snapshot();
//!     // Every live sample stands for `weight` allocations like it: the sum estimates the heap.
//!     let estimate: f64 = snap.live.iter().map(|s| s.estimated_bytes()).sum();
//!     println!("about {:.1} MiB live", estimate / f64::from(1 << 20));
//!     for s in &snap.live {
//!         let frames = snap.stack(s.stack).map_or(0, |st| st.frames.len());
//!         println!("{} B on thread {} ({frames} frames)", s.size, s.thread);
//!     }
//!     // Each 64 KiB block is sampled with probability 1 - e^(-1/8): some of 256 surely are.
//!     assert!(snap.live.iter().any(|s| s.size == 64 << 10));
//!     sample::set_rate(0);
//!     drop(kept);
//! }
//! ```

#[path = "sample/countdown.rs"]
pub(crate) mod countdown;
#[path = "sample/filter.rs"]
mod filter;
#[path = "sample/live.rs"]
mod live;
#[path = "sample/stacks.rs"]
mod stacks;
#[path = "sample/unwind.rs"]
mod unwind;

pub use unwind::MAX_FRAMES;

use crate::{HookGuard, Op};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The mean sampling interval most profilers use: one sample per 512 KiB allocated.
pub const DEFAULT_RATE: u64 = 512 * 1024;
/// Most live samples held at once.
pub const LIVE_CAPACITY: usize = live::CAPACITY;
/// Most distinct allocation stacks.
pub const STACK_CAPACITY: usize = stacks::CAPACITY;

static RATE: AtomicU64 = AtomicU64::new(0);

/// Samples one allocation per `bytes` allocated on average, from now on, on every thread;
/// 0 turns sampling off (the default). Samples already taken stay until their blocks are freed.
///
/// Each thread redraws its countdown at its next allocation.
pub fn set_rate(bytes: u64) {
    RATE.store(bytes, Ordering::SeqCst);
    crate::reseed_all();
}

/// The current mean sampling interval in bytes; 0 when sampling is off.
pub fn rate() -> u64 {
    RATE.load(Ordering::Relaxed)
}

/// Restarts the calling thread's sampling sequence from `seed`, so that the same allocations
/// made by this thread are sampled the same way again (for reproducible tests and studies).
/// `false` when the thread has no counting slot of its own (the counting allocator is not the
/// global allocator, or this thread shares the overflow slot), which keeps its own sequence.
pub fn set_thread_seed(seed: u64) -> bool {
    crate::seed_this_thread(seed)
}

/// How many allocations of `size` bytes one sample stands for at `rate`:
/// `1 / (1 − exp(−size/rate))` (1 when `rate` is 0, i.e. every allocation was recorded).
///
/// ```
/// use leakcheck_alloc::sample::weight;
/// assert_eq!(weight(1 << 30, 512 << 10), 1.0); // a 1 GiB block is always sampled
/// assert!((weight(64, 512 << 10) - 8192.5).abs() < 0.01); // one 64 B sample ≈ 8192 allocations
/// ```
pub fn weight(size: u64, rate: u64) -> f64 {
    if rate == 0 || size == 0 {
        return 1.0;
    }
    let p = -(-(size as f64) / rate as f64).exp_m1();
    1.0 / p
}

/// Identifies a stack for the life of the process: ids are never reused, so totals of one
/// stack in two snapshots can be subtracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackId(u32);

impl StackId {
    /// A dense index, from 0, below [`STACK_CAPACITY`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A sampled block that is still allocated.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LiveSample {
    /// The block's address.
    pub address: usize,
    /// Bytes requested.
    pub size: u64,
    /// The sampling rate it was sampled at (for its weight).
    pub rate: u64,
    /// Its allocation stack, in [`Snapshot::stacks`].
    pub stack: StackId,
    /// The allocating thread's OS id (the kernel thread id on Linux; 0 elsewhere).
    pub thread: u64,
    /// When it was allocated (wall clock, as [`Snapshot::taken_at`]).
    pub allocated_at: SystemTime,
}

impl LiveSample {
    /// Allocations this sample stands for: [`weight`]`(size, rate)`.
    pub fn weight(&self) -> f64 {
        weight(self.size, self.rate)
    }

    /// Estimated live blocks it stands for (its weight).
    pub fn estimated_objects(&self) -> f64 {
        self.weight()
    }

    /// Estimated live bytes it stands for: weight × size.
    pub fn estimated_bytes(&self) -> f64 {
        self.weight() * self.size as f64
    }

    /// How long it had been alive at `now` (zero if the wall clock went back).
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.allocated_at).unwrap_or_default()
    }
}

/// Cumulative totals of one kind of event (allocations, or frees) of a stack's samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Totals {
    /// Samples.
    pub samples: u64,
    /// Their bytes, unweighted.
    pub sampled_bytes: u64,
    /// Estimated events: the sum of the samples' weights.
    pub objects: f64,
    /// Estimated bytes: the sum of weight × size.
    pub bytes: f64,
}

impl Totals {
    fn from_copy(t: stacks::TallyCopy) -> Self {
        Self {
            samples: t.samples,
            sampled_bytes: t.sampled_bytes,
            objects: t.objects,
            bytes: t.bytes,
        }
    }
}

/// One allocation stack and everything sampled from it since the process started.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StackTotals {
    /// Stable id (see [`StackId`]).
    pub id: StackId,
    /// Return addresses, innermost first, unresolved; at most [`MAX_FRAMES`].
    pub frames: Vec<usize>,
    /// Sampled allocations (pprof `alloc_objects` / `alloc_space`).
    pub allocated: Totals,
    /// Sampled blocks freed since.
    pub freed: Totals,
}

impl StackTotals {
    /// Still allocated: allocated minus freed (pprof `inuse_objects` / `inuse_space`). Read
    /// while other threads run, it can be off by a sample freed during the copy; the live
    /// samples of the same snapshot are exact.
    pub fn in_use(&self) -> Totals {
        Totals {
            samples: self.allocated.samples.saturating_sub(self.freed.samples),
            sampled_bytes: self
                .allocated
                .sampled_bytes
                .saturating_sub(self.freed.sampled_bytes),
            objects: (self.allocated.objects - self.freed.objects).max(0.0),
            bytes: (self.allocated.bytes - self.freed.bytes).max(0.0),
        }
    }
}

/// How the sampler fared since the process started: what it recorded, and what it could not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Allocations sampled and recorded.
    pub sampled: u64,
    /// Recorded samples whose blocks were freed since.
    pub freed: u64,
    /// Samples dropped because the live table had no room (see [`LIVE_CAPACITY`]).
    pub dropped_table_full: u64,
    /// Samples dropped because their stack was new and the stack table was full.
    pub dropped_stacks_full: u64,
    /// Samples skipped because they were allocated by the sampler's own unwinder, inside the
    /// allocator's hooks, or by a panicking thread: never recorded, so that the sampler cannot
    /// recurse into the unwinder.
    pub skipped_reentrant: u64,
    /// Frees the filter sent to the table for a block that was not a sample.
    pub filter_false_positives: u64,
    /// Live entries a snapshot skipped because a writer kept them busy (in that snapshot).
    pub busy_skipped: u64,
}

/// A copy of the sampler's state at one moment.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Snapshot {
    /// When it was taken (wall clock).
    pub taken_at: SystemTime,
    /// The sampling rate then.
    pub rate: u64,
    /// Live samples, in table order.
    pub live: Vec<LiveSample>,
    /// Every stack sampled so far, by id. A stack first seen by two threads at once can be
    /// missing for a moment (its live samples then name an id not listed yet).
    pub stacks: Vec<StackTotals>,
    /// Counts of what the sampler recorded and dropped.
    pub stats: Stats,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            taken_at: UNIX_EPOCH,
            rate: 0,
            live: Vec::new(),
            stacks: Vec::new(),
            stats: Stats::default(),
        }
    }
}

impl Snapshot {
    /// The stack with this id, if listed.
    pub fn stack(&self, id: StackId) -> Option<&StackTotals> {
        self.stacks
            .binary_search_by_key(&id, |s| s.id)
            .ok()
            .map(|i| &self.stacks[i])
    }
}

/// Copies the live samples and per-stack totals (see [`snapshot_into`]).
pub fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    snapshot_into(&mut s);
    s
}

/// Refills `into` with the live samples and per-stack totals, reusing its vectors (and the
/// frames of stacks it already holds: a stack's frames never change). The copy is taken
/// while other threads allocate and free: every sample in it is whole, and each is one that
/// was live at some moment during the copy.
pub fn snapshot_into(into: &mut Snapshot) {
    into.taken_at = SystemTime::now();
    into.rate = rate();
    into.live.clear();
    let busy = live::copy(|f| {
        into.live.push(LiveSample {
            address: f.address,
            size: f.size,
            rate: f.rate,
            stack: StackId(f.stack),
            thread: f.thread,
            allocated_at: UNIX_EPOCH + Duration::from_nanos(f.at_nanos),
        });
    });
    // Stacks are insert-only with dense ids: entries already held keep their frames.
    let mut at = 0;
    stacks::copy(|c, frames| {
        let id = StackId(c.id);
        while at < into.stacks.len() && into.stacks[at].id < id {
            into.stacks.remove(at);
        }
        let allocated = Totals::from_copy(c.allocs);
        let freed = Totals::from_copy(c.frees);
        match into.stacks.get_mut(at) {
            Some(s) if s.id == id => {
                s.allocated = allocated;
                s.freed = freed;
            }
            _ => into.stacks.insert(
                at,
                StackTotals {
                    id,
                    frames: frames.collect(),
                    allocated,
                    freed,
                },
            ),
        }
        at += 1;
    });
    into.stacks.truncate(at);
    into.stats = Stats {
        busy_skipped: busy,
        ..stats()
    };
}

static SAMPLED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);
static DROPPED_TABLE: AtomicU64 = AtomicU64::new(0);
static DROPPED_STACKS: AtomicU64 = AtomicU64::new(0);
static REENTRANT: AtomicU64 = AtomicU64::new(0);
static FALSE_POSITIVES: AtomicU64 = AtomicU64::new(0);

/// The sampler's counts so far (cheap: no copy of the tables).
pub fn stats() -> Stats {
    Stats {
        sampled: SAMPLED.load(Ordering::Relaxed),
        freed: FREED.load(Ordering::Relaxed),
        dropped_table_full: DROPPED_TABLE.load(Ordering::Relaxed),
        dropped_stacks_full: DROPPED_STACKS.load(Ordering::Relaxed),
        skipped_reentrant: REENTRANT.load(Ordering::Relaxed),
        filter_false_positives: FALSE_POSITIVES.load(Ordering::Relaxed),
        busy_skipped: 0,
    }
}

/// Records a sampled allocation of `size` bytes at `p` (the countdown ran out on it).
#[cold]
#[inline(never)]
pub(crate) fn record(p: *mut u8, size: usize, thread: u64) {
    let rate = rate();
    if rate == 0 {
        return;
    }
    // A thread that is unwinding a panic may be inside the unwinder's own locked sections,
    // which can allocate (libgcc sorting registered unwind tables); do not unwind from there.
    if std::thread::panicking() {
        REENTRANT.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let ran = HookGuard::enter(|| {
        let frames = unwind::capture();
        let Some(stack) = stacks::intern(&frames) else {
            DROPPED_STACKS.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let fields = live::Fields {
            address: p as usize,
            size: size as u64,
            rate,
            stack,
            thread,
            at_nanos: now_nanos(),
        };
        if !live::insert(&fields) {
            DROPPED_TABLE.fetch_add(1, Ordering::Relaxed);
            return;
        }
        filter::insert(p as usize);
        stacks::record(stack)
            .allocs
            .add(size as u64, weight(size as u64, rate));
        SAMPLED.fetch_add(1, Ordering::Relaxed);
    });
    if !ran {
        REENTRANT.fetch_add(1, Ordering::Relaxed);
    }
}

/// The free check of every call: one filter load; a hit goes to the table.
#[inline(always)]
pub(crate) fn watch_free(p: *mut u8) {
    if filter::may_hold(p as usize) {
        forget(p as usize);
    }
}

/// The filter says the block at `address` may be a sample: remove it if it is one.
#[cold]
#[inline(never)]
fn forget(address: usize) {
    match live::remove(address) {
        Some(f) => {
            filter::remove(address);
            stacks::record(f.stack)
                .frees
                .add(f.size, weight(f.size, f.rate));
            FREED.fetch_add(1, Ordering::Relaxed);
        }
        None => {
            FALSE_POSITIVES.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The sampling check of a thread without a slot of its own, on the shared atomic countdown.
pub(crate) fn watch_shared(op: Op, size: usize) {
    let countdown = &SHARED_COUNTDOWN;
    match op {
        Op::Alloc(p) => {
            let mut current = countdown.load(Ordering::Relaxed);
            loop {
                let left = current.wrapping_sub(size as i64);
                let (next, expired) = if left < 0 {
                    (shared_interval(), true)
                } else {
                    (left, false)
                };
                match countdown.compare_exchange_weak(
                    current,
                    next,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) if expired => return record(p, size, thread_id()),
                    Ok(_) => return,
                    Err(seen) => current = seen,
                }
            }
        }
        Op::Free(p) => watch_free(p),
    }
}

/// The countdown of threads without a slot of their own, shared by all of them.
pub(crate) static SHARED_COUNTDOWN: AtomicI64 = AtomicI64::new(i64::MAX);
/// Random state of the shared slot: a splitmix64 sequence, advanced atomically.
static SHARED_RANDOM: AtomicU64 = AtomicU64::new(0x2545_F491_4F6C_DD1D);
/// Per-thread seeds: a counter, so that no two threads start alike.
static SEEDS: AtomicU64 = AtomicU64::new(0);

/// A countdown for the shared slot at the current rate.
pub(crate) fn shared_interval() -> i64 {
    let state = SHARED_RANDOM.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    countdown::interval(rate(), countdown::splitmix64(state))
}

/// A generator state for a new thread: distinct per thread and per run.
pub(crate) fn thread_seed() -> u64 {
    let n = SEEDS.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    countdown::seed_state(n ^ now_nanos())
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The calling thread's OS id: the kernel thread id on Linux, 0 elsewhere.
pub(crate) fn thread_id() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // Declared here rather than through the libc crate: the allocator has no
        // dependencies (tests/crate_split.rs). glibc >= 2.30 and musl export it.
        extern "C" {
            fn gettid() -> i32;
        }
        // SAFETY: gettid has no preconditions and cannot fail.
        unsafe { gettid() as u64 }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_memory_is_bounded_as_documented() {
        let (live, stacks, filter) = (live::memory(), stacks::memory(), filter::memory());
        let mib = |b: usize| b as f64 / f64::from(1 << 20);
        println!(
            "live table {:.2} MiB, stacks {:.2} MiB ({} B a stack), filter {:.3} MiB: {:.2} MiB",
            mib(live),
            mib(stacks),
            stacks::record_size(),
            mib(filter),
            mib(live + stacks + filter)
        );
        // The figures in the module docs and the README.
        assert!(mib(live) <= 1.0 && mib(filter) <= 0.125);
        assert!(mib(stacks) <= 2.4 && mib(live + stacks + filter) <= 3.4);
    }
}
