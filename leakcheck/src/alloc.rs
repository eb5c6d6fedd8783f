//! The counting allocator: exact live bytes/blocks and allocation totals, cheap enough to leave on.
//!
//! Every thread that allocates takes one cache-line-sized [`Slot`] of its own from a fixed table
//! and bumps plain (non-locked) counters in it; a reader sums the table. A block allocated on one
//! thread and freed on another is counted as an allocation in the first slot and a free in the
//! second, so the sums are exact and nothing on the allocation path is shared or locked. A slot is
//! returned to the table when its thread exits (its counts stay: they are cumulative), and a
//! thread that finds the table full, or allocates while its thread-locals are being torn down,
//! falls back to one shared slot updated with atomic adds: slower, still exact.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// A [`GlobalAlloc`] that forwards to `A` and counts what passes through.
///
/// Install it with [`global_allocator!`](crate::global_allocator) rather than by hand.
#[derive(Debug, Default)]
pub struct CountingAlloc<A = System> {
    inner: A,
}

impl CountingAlloc<System> {
    /// Counts allocations made through the system allocator.
    pub const fn system() -> Self {
        Self { inner: System }
    }
}

impl<A> CountingAlloc<A> {
    /// Counts allocations made through `inner`.
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }
}

// SAFETY: every method forwards to `inner` with the caller's arguments unchanged; counting only
// touches this module's statics and thread-locals, which never allocate.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            record(Event::Alloc(layout.size()));
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            record(Event::Alloc(layout.size()));
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        record(Event::Free(layout.size()));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(Event::Realloc(layout.size(), new_size));
        }
        p
    }
}

/// Totals read from the counting allocator at one moment (sums over all threads, ever).
///
/// Reallocations count as one allocation of the new size plus one free of the old size, so a
/// `Vec` that grows in place shows up in [`Counters::allocations`] but not in
/// [`Counters::live_blocks`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Allocations (including zeroed allocations and reallocations) since the process started.
    pub allocations: u64,
    /// Bytes requested by those allocations.
    pub bytes_allocated: u64,
    /// Frees (including the old block of each reallocation).
    pub deallocations: u64,
    /// Bytes released by those frees.
    pub bytes_deallocated: u64,
}

impl Counters {
    /// Bytes currently allocated and not yet freed.
    pub fn live_bytes(&self) -> u64 {
        self.bytes_allocated.wrapping_sub(self.bytes_deallocated)
    }

    /// Blocks currently allocated and not yet freed.
    pub fn live_blocks(&self) -> u64 {
        self.allocations.wrapping_sub(self.deallocations)
    }
}

/// Reads the allocator's totals. Costs one pass over the slots that threads have ever used.
///
/// All zeros when the counting allocator is not the global allocator; see [`is_installed`].
pub fn counters() -> Counters {
    let used = SLOTS_USED.load(Ordering::Acquire);
    let mut total = SHARED.read();
    for slot in &SLOTS[..used] {
        let c = slot.read();
        total.allocations = total.allocations.wrapping_add(c.allocations);
        total.bytes_allocated = total.bytes_allocated.wrapping_add(c.bytes_allocated);
        total.deallocations = total.deallocations.wrapping_add(c.deallocations);
        total.bytes_deallocated = total.bytes_deallocated.wrapping_add(c.bytes_deallocated);
    }
    total
}

/// Allocations counted on the calling thread's own slot, or `None` if it has none (the counting
/// allocator is not installed, or this thread shares the overflow slot). Exact for the calling
/// thread; used where other threads of the process allocate at the same time.
#[cfg(test)]
pub(crate) fn this_thread_allocations() -> Option<u64> {
    let mine = MINE.with(Cell::get);
    // SAFETY: a non-null MINE points into the static SLOTS table.
    (!mine.is_null()).then(|| unsafe { (*mine).allocations.load(Ordering::Relaxed) })
}

/// Whether the counting allocator is this process's global allocator.
///
/// Makes one small allocation and checks that it was counted.
pub fn is_installed() -> bool {
    let before = counters().allocations;
    let probe = std::hint::black_box(Box::new([0u8; 24]));
    let after = counters().allocations;
    drop(probe);
    after != before
}

enum Event {
    Alloc(usize),
    Free(usize),
    Realloc(usize, usize),
}

#[inline]
fn record(event: Event) {
    let mine = MINE.with(Cell::get);
    if !mine.is_null() {
        // SAFETY: a non-null MINE points into SLOTS and is owned by this thread alone until the
        // thread's guard clears MINE, so plain load/store updates cannot race with another writer.
        unsafe { (*mine).bump(event, Update::Owner) }
    } else {
        record_slow(event)
    }
}

#[cold]
fn record_slow(event: Event) {
    let slot = match STATE.with(Cell::get) {
        State::Fresh => claim_slot(),
        State::Claiming | State::Shared => None,
    };
    match slot {
        Some(slot) => slot.bump(event, Update::Owner),
        None => SHARED.bump(event, Update::Atomic),
    }
}

/// Claims a slot for this thread and arranges for it to be returned when the thread exits.
fn claim_slot() -> Option<&'static Slot> {
    // Registering the thread-exit guard may itself allocate on some platforms; those nested
    // allocations see `Claiming` and go to the shared slot instead of recursing.
    STATE.with(|s| s.set(State::Claiming));
    let slot = SLOTS.iter().enumerate().find_map(|(i, slot)| {
        let free = !slot.owned.load(Ordering::Relaxed)
            && slot
                .owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        free.then(|| {
            SLOTS_USED.fetch_max(i + 1, Ordering::AcqRel);
            slot
        })
    });
    let Some(slot) = slot else {
        STATE.with(|s| s.set(State::Shared));
        return None;
    };
    if GUARD.try_with(|_| ()).is_err() {
        // Thread-locals are being destroyed: no guard would ever return the slot.
        slot.owned.store(false, Ordering::Release);
        STATE.with(|s| s.set(State::Shared));
        return None;
    }
    MINE.with(|m| m.set(slot));
    STATE.with(|s| s.set(State::Shared)); // only read again after MINE is cleared
    Some(slot)
}

/// Returns this thread's slot to the table when the thread exits.
struct SlotGuard;

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mine = MINE.with(|m| m.replace(ptr::null()));
        if !mine.is_null() {
            // SAFETY: MINE only ever holds pointers into the static SLOTS table.
            unsafe { (*mine).owned.store(false, Ordering::Release) };
        }
    }
}

#[derive(Clone, Copy)]
enum State {
    /// Has not allocated yet.
    Fresh,
    /// Inside `claim_slot`.
    Claiming,
    /// Uses the shared slot (table full, or thread exiting), or owns a slot through MINE.
    Shared,
}

thread_local! {
    static MINE: Cell<*const Slot> = const { Cell::new(ptr::null()) };
    static STATE: Cell<State> = const { Cell::new(State::Fresh) };
    static GUARD: SlotGuard = const { SlotGuard };
}

/// More slots than most test processes have threads; beyond this, threads share one slot.
const SLOT_COUNT: usize = 256;

static SLOTS: [Slot; SLOT_COUNT] = [const { Slot::new() }; SLOT_COUNT];
static SLOTS_USED: AtomicUsize = AtomicUsize::new(0);
static SHARED: Slot = Slot::new();

/// One thread's counters, alone on its cache lines so that threads never contend.
#[repr(align(128))]
struct Slot {
    owned: AtomicBool,
    allocations: AtomicU64,
    bytes_allocated: AtomicU64,
    deallocations: AtomicU64,
    bytes_deallocated: AtomicU64,
}

#[derive(Clone, Copy)]
enum Update {
    /// Only the owning thread writes: a plain load and store, no locked instruction.
    Owner,
    /// Several threads may write: atomic read-modify-write.
    Atomic,
}

impl Slot {
    const fn new() -> Self {
        Self {
            owned: AtomicBool::new(false),
            allocations: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            deallocations: AtomicU64::new(0),
            bytes_deallocated: AtomicU64::new(0),
        }
    }

    #[inline]
    fn bump(&self, event: Event, how: Update) {
        let add = |counter: &AtomicU64, n: usize| match how {
            Update::Owner => counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(n as u64),
                Ordering::Relaxed,
            ),
            Update::Atomic => {
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        };
        match event {
            Event::Alloc(size) => {
                add(&self.allocations, 1);
                add(&self.bytes_allocated, size);
            }
            Event::Free(size) => {
                add(&self.deallocations, 1);
                add(&self.bytes_deallocated, size);
            }
            Event::Realloc(old, new) => {
                add(&self.allocations, 1);
                add(&self.bytes_allocated, new);
                add(&self.deallocations, 1);
                add(&self.bytes_deallocated, old);
            }
        }
    }

    fn read(&self) -> Counters {
        Counters {
            allocations: self.allocations.load(Ordering::Relaxed),
            bytes_allocated: self.bytes_allocated.load(Ordering::Relaxed),
            deallocations: self.deallocations.load(Ordering::Relaxed),
            bytes_deallocated: self.bytes_deallocated.load(Ordering::Relaxed),
        }
    }
}

/// Forwards to an allocator behind a `'static` reference, so that
/// `global_allocator!(EXPR)` can wrap a value whose type the macro cannot name.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct StaticAlloc(pub &'static (dyn GlobalAlloc + Sync));

// SAFETY: pure forwarding.
unsafe impl GlobalAlloc for StaticAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { self.0.alloc(layout) }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { self.0.alloc_zeroed(layout) }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

impl std::fmt::Debug for StaticAlloc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticAlloc(..)")
    }
}
