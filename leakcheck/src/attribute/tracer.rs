//! The tracing mode of the allocator: while it is on, every allocation records an unresolved
//! backtrace and the iteration it was made in; a free forgets it. What is still recorded at the
//! end, from an iteration that was followed by another, survived: those are the leak candidates.
//!
//! It runs inside the global allocator, as the allocator's [`Hooks`], so:
//! * it never allocates through it: its tables come from [`System`] directly, once, and are
//!   outside the counted totals;
//! * allocations made by the tracer itself (the unwinder, or anything it calls) are not passed
//!   to it again: the allocator never re-enters a hook. They are counted like any other, which
//!   is harmless: the traced iterations come after the verdicts and are not judged;
//! * the backtrace is taken before the table's lock and without the backtrace crate's own lock
//!   (`trace_unsynchronized`; the Linux unwinder is thread-safe), so no lock is ever held while
//!   another is taken, and a body whose threads allocate concurrently cannot deadlock it;
//! * memory is bounded: at most [`MAX_LIVE`] tracked blocks and [`MAX_STACKS`] distinct stacks;
//!   past that, allocations go unrecorded and the report says so.

use leakcheck_alloc::Hooks;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

/// The traced iteration allocations are tagged with.
static ITERATION: AtomicU8 = AtomicU8::new(0);

/// Most blocks tracked at once.
pub(crate) const MAX_LIVE: usize = 1 << 16;
/// Most distinct allocation stacks.
pub(crate) const MAX_STACKS: usize = 1 << 13;
/// Frames kept per stack (innermost first).
pub(crate) const MAX_FRAMES: usize = 48;

const LIVE_SLOTS: usize = MAX_LIVE * 2;
const STACK_SLOTS: usize = MAX_STACKS * 2;

/// What the counting allocator calls while tracing.
static HOOKS: Hooks = Hooks::new(on_alloc, on_free);

/// A new block: record its stack.
#[inline(never)]
fn on_alloc(ptr: *mut u8, size: usize) {
    let stack = capture();
    let tid = current_tid();
    with_tables(|t| t.insert(ptr as usize, size, &stack, tid));
}

/// A block about to be freed (or reallocated): forget it. Called before the block is released,
/// so that another thread cannot be handed the same address and record it first.
#[inline(never)]
fn on_free(ptr: *mut u8) {
    with_tables(|t| t.remove(ptr as usize));
}

/// Starts tracing, tagging allocations with iteration 0. Forgets anything left from before.
pub(crate) fn start() {
    with_tables(Tables::clear);
    ITERATION.store(0, Ordering::Relaxed);
    leakcheck_alloc::install_hooks(&HOOKS);
}

/// Tags the allocations from now on with `iteration`.
pub(crate) fn next_iteration(iteration: u8) {
    ITERATION.store(iteration, Ordering::Relaxed);
}

/// A group of surviving blocks that share one allocation stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Survivors {
    /// Return addresses, innermost first (unresolved).
    pub frames: Vec<usize>,
    /// Blocks still alive.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Threads (kernel ids) that allocated them.
    pub threads: Vec<u32>,
}

/// Every allocation made while tracing from one stack, freed or not (for the allocation
/// profile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Allocated {
    /// Return addresses, innermost first (unresolved).
    pub frames: Vec<usize>,
    /// Allocations (reallocations included, as the counters count them).
    pub allocations: u64,
    /// Bytes they asked for.
    pub bytes: u64,
}

/// What tracing left: the survivors from iterations before `last`, grouped by stack, every
/// allocation by stack, and whether the tables overflowed.
#[derive(Debug, Default)]
pub(crate) struct Traced {
    /// Groups, largest first.
    pub groups: Vec<Survivors>,
    /// Allocations that could not be recorded because a table was full.
    pub dropped: u64,
    /// All allocations by stack, in no order.
    pub allocated: Vec<Allocated>,
    /// Allocations whose stack found no room in the stack table (counted in no group).
    pub unstacked: u64,
    /// Most bytes of the blocks allocated while tracing that were alive at once.
    pub peak_bytes: u64,
    /// Their bytes still alive when tracing stopped.
    pub end_bytes: u64,
}

/// Stops tracing and collects the blocks allocated in iterations `< last` that are still alive.
pub(crate) fn stop(last: u8) -> Traced {
    leakcheck_alloc::remove_hooks();
    // Copy what is needed under the lock; group it after, outside the lock. With the hooks
    // removed, these allocations are counted but no longer traced.
    let mut raw: Vec<(u32, u64, u32)> = Vec::new(); // (stack, bytes, tid)
    let mut stacks: Vec<Vec<usize>> = Vec::new();
    let mut dropped = 0;
    let mut allocated = Vec::new();
    let (mut unstacked, mut peak_bytes, mut end_bytes) = (0, 0, 0);
    with_tables(|t| {
        dropped = t.dropped;
        unstacked = t.unstacked;
        peak_bytes = t.peak_bytes;
        end_bytes = t.live_bytes;
        allocated = (0..t.stack_count)
            .map(|i| Allocated {
                frames: t.stack_frames(i as u32).to_vec(),
                allocations: t.stack_allocs[i],
                bytes: t.stack_bytes[i],
            })
            .collect();
        let mut out = Vec::new();
        for e in t.live.iter().filter(|e| e.ptr != 0 && e.iteration < last) {
            out.push((e.stack, e.size as u64, e.tid));
        }
        let frames: Vec<Vec<usize>> = (0..t.stack_count)
            .map(|i| t.stack_frames(i as u32).to_vec())
            .collect();
        t.clear();
        raw = out;
        stacks = frames;
    });
    let mut groups: Vec<Survivors> = Vec::new();
    let mut index: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for (stack, bytes, tid) in raw {
        let i = *index.entry(stack).or_insert_with(|| {
            groups.push(Survivors {
                frames: stacks.get(stack as usize).cloned().unwrap_or_default(),
                blocks: 0,
                bytes: 0,
                threads: Vec::new(),
            });
            groups.len() - 1
        });
        let g = &mut groups[i];
        g.blocks += 1;
        g.bytes += bytes;
        if !g.threads.contains(&tid) {
            g.threads.push(tid);
        }
    }
    groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.blocks.cmp(&a.blocks)));
    Traced {
        groups,
        dropped,
        allocated,
        unstacked,
        peak_bytes,
        end_bytes,
    }
}

fn capture() -> Frames {
    let mut frames = Frames {
        ips: [0; MAX_FRAMES],
        len: 0,
    };
    // SAFETY: the callback only writes into `frames`; what the unwinder allocates is not traced
    // (the allocator does not re-enter its hooks).
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            frames.ips[frames.len] = frame.ip() as usize;
            frames.len += 1;
            frames.len < MAX_FRAMES
        });
    }
    frames
}

struct Frames {
    ips: [usize; MAX_FRAMES],
    len: usize,
}

/// The calling thread's kernel id (0 where there is none to read).
pub(crate) fn current_tid() -> u32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::syscall(libc::SYS_gettid) as u32 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

static TABLES: Mutex<Option<&'static mut Tables>> = Mutex::new(None);

fn with_tables(f: impl FnOnce(&mut Tables)) {
    let mut guard = match TABLES.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if guard.is_none() {
        *guard = Tables::allocate();
    }
    if let Some(tables) = guard.as_deref_mut() {
        f(tables);
    }
}

/// One tracked block. `ptr == 0` marks an empty slot.
#[derive(Clone, Copy)]
struct Entry {
    ptr: usize,
    size: usize,
    stack: u32,
    tid: u32,
    iteration: u8,
}

/// Open-addressing tables in memory from [`System`]: live blocks by address, stacks by content.
struct Tables {
    live: &'static mut [Entry],
    live_count: usize,
    /// Stack index per slot (`u32::MAX`: empty), keyed by the stack's hash.
    stack_slots: &'static mut [u32],
    /// Frames of stack `i` at `i * MAX_FRAMES`, its length in `stack_lens[i]`.
    stack_frames: &'static mut [usize],
    stack_lens: &'static mut [u8],
    /// Allocations and bytes made from stack `i` since tracing started, freed or not.
    stack_allocs: &'static mut [u64],
    stack_bytes: &'static mut [u64],
    stack_count: usize,
    dropped: u64,
    /// Allocations not counted in any stack's totals (the stack table was full).
    unstacked: u64,
    /// Bytes of the tracked blocks, now and at most: exact, since every change is made under
    /// the tables' lock (a peak the per-thread counters cannot give without a shared counter).
    live_bytes: u64,
    peak_bytes: u64,
}

/// Allocates a zeroed slice of `n` values from the system allocator, for good.
fn system_slice<T>(n: usize) -> Option<&'static mut [T]> {
    let layout = Layout::array::<T>(n).ok()?;
    // SAFETY: the layout is non-zero sized; zeroed memory is a valid `T` for the plain-data
    // types used here (integers and `Entry` of integers).
    unsafe {
        let p = System.alloc_zeroed(layout).cast::<T>();
        (!p.is_null()).then(|| std::slice::from_raw_parts_mut(p, n))
    }
}

impl Tables {
    fn allocate() -> Option<&'static mut Tables> {
        let tables = Tables {
            live: system_slice(LIVE_SLOTS)?,
            live_count: 0,
            stack_slots: system_slice(STACK_SLOTS)?,
            stack_frames: system_slice(MAX_STACKS * MAX_FRAMES)?,
            stack_lens: system_slice(MAX_STACKS)?,
            stack_allocs: system_slice(MAX_STACKS)?,
            stack_bytes: system_slice(MAX_STACKS)?,
            stack_count: 0,
            dropped: 0,
            unstacked: 0,
            live_bytes: 0,
            peak_bytes: 0,
        };
        let slot = system_slice::<Tables>(1)?;
        slot[0] = tables;
        Some(&mut slot[0])
    }

    fn clear(&mut self) {
        self.live.fill(Entry {
            ptr: 0,
            size: 0,
            stack: 0,
            tid: 0,
            iteration: 0,
        });
        self.live_count = 0;
        self.stack_slots.fill(u32::MAX);
        self.stack_allocs[..self.stack_count].fill(0);
        self.stack_bytes[..self.stack_count].fill(0);
        self.stack_count = 0;
        self.dropped = 0;
        self.unstacked = 0;
        self.live_bytes = 0;
        self.peak_bytes = 0;
    }

    fn insert(&mut self, ptr: usize, size: usize, frames: &Frames, tid: u32) {
        let Some(stack) = self.intern(&frames.ips[..frames.len]) else {
            self.dropped += 1;
            self.unstacked += 1;
            return;
        };
        self.stack_allocs[stack as usize] += 1;
        self.stack_bytes[stack as usize] += size as u64;
        if self.live_count >= MAX_LIVE {
            self.dropped += 1;
            return;
        }
        let mask = LIVE_SLOTS - 1;
        let mut i = hash_usize(ptr) & mask;
        while self.live[i].ptr != 0 && self.live[i].ptr != ptr {
            i = (i + 1) & mask;
        }
        if self.live[i].ptr == 0 {
            self.live_count += 1;
        } else {
            self.live_bytes -= self.live[i].size as u64;
        }
        self.live_bytes += size as u64;
        self.peak_bytes = self.peak_bytes.max(self.live_bytes);
        self.live[i] = Entry {
            ptr,
            size,
            stack,
            tid,
            iteration: ITERATION.load(Ordering::Relaxed),
        };
    }

    fn remove(&mut self, ptr: usize) {
        let mask = LIVE_SLOTS - 1;
        let mut i = hash_usize(ptr) & mask;
        loop {
            match self.live[i].ptr {
                0 => return, // not tracked (allocated before tracing, or dropped)
                p if p == ptr => break,
                _ => i = (i + 1) & mask,
            }
        }
        self.live_bytes -= self.live[i].size as u64;
        // Backward-shift deletion keeps probe chains intact without tombstones.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.live[j].ptr != 0 {
            let home = hash_usize(self.live[j].ptr) & mask;
            // Move entry j into the hole if its home is not cyclically within (hole, j].
            let between = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !between {
                self.live[hole] = self.live[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.live[hole].ptr = 0;
        self.live_count -= 1;
    }

    /// The index of `ips` in the stack table, adding it if new. `None` when the table is full.
    fn intern(&mut self, ips: &[usize]) -> Option<u32> {
        let mask = STACK_SLOTS - 1;
        let mut i = hash_frames(ips) & mask;
        loop {
            match self.stack_slots[i] {
                u32::MAX => break,
                s if self.stack_frames(s) == ips => return Some(s),
                _ => i = (i + 1) & mask,
            }
        }
        if self.stack_count >= MAX_STACKS {
            return None;
        }
        let s = self.stack_count;
        self.stack_frames[s * MAX_FRAMES..s * MAX_FRAMES + ips.len()].copy_from_slice(ips);
        self.stack_lens[s] = ips.len() as u8;
        self.stack_count += 1;
        self.stack_slots[i] = s as u32;
        Some(s as u32)
    }

    fn stack_frames(&self, s: u32) -> &[usize] {
        let s = s as usize;
        &self.stack_frames[s * MAX_FRAMES..s * MAX_FRAMES + self.stack_lens[s] as usize]
    }
}

fn hash_usize(x: usize) -> usize {
    // Blocks are aligned: mix the bits so neighbours do not collide.
    (x as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_right(29) as usize
}

fn hash_frames(ips: &[usize]) -> usize {
    ips.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &ip| {
        (h ^ ip as u64).wrapping_mul(0x0000_0100_0000_01B3)
    }) as usize
}
