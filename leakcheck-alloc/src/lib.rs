//! A counting global allocator: exact live bytes and blocks and allocation totals, cheap enough
//! to leave on in every test and in production, over any allocator (System, jemalloc, mimalloc).
//!
//! This crate is the one piece of leakcheck that runs on every allocation, so it is small and
//! depends on nothing. The products read it: the test harness `leakcheck` (`#[leak_test]`) and
//! the production monitor `leakcheck-monitor`. A process has one global allocator, so a binary
//! that uses both sees one set of counters.
//!
//! ```
//! leakcheck_alloc::global_allocator!();            // once per binary (wraps System)
//!
//! fn main() {
//!     let before = leakcheck_alloc::counters();
//!     let kept = vec![0u8; 1000];
//!     let after = leakcheck_alloc::counters();
//!     assert_eq!(after.live_bytes() - before.live_bytes(), 1000);
//!     assert_eq!(after.allocations - before.allocations, 1);
//!     drop(kept);
//! }
//! ```
//!
//! # How it counts
//!
//! Every thread that allocates takes one cache-line-sized slot of its own from a fixed table
//! and bumps plain (non-locked) counters in it; a reader sums the table. A block allocated on one
//! thread and freed on another is counted as an allocation in the first slot and a free in the
//! second, so the sums are exact and nothing on the allocation path is shared or locked. A slot is
//! returned to the table when its thread exits (its counts stay: they are cumulative), and a
//! thread that finds the table full, or allocates while its thread-locals are being torn down,
//! falls back to one shared slot updated with atomic adds: slower, still exact.
//!
//! The fast path is one thread-local load, one flag test and two adds, plus the sampler's
//! subtract-and-branch on an allocation or filter load on a free (see [`sample`]). The flag
//! (`divert`) sends a call to the slow path: it is always set on the two special slots —
//! `FRESH`, where every thread starts and which claims it a slot, and `SHARED` — and set on
//! every slot while [`Hooks`] are installed (or for one call after the sampling rate changes),
//! so that checking for hooks costs nothing extra.
//!
//! # Heap profile
//!
//! The allocator also samples allocations for a production heap profile (see [`sample`]). Off
//! by default; on or off, an allocation pays one subtract-and-branch on a per-thread byte
//! countdown and a free one load from a small filter, and only sampled allocations (none while
//! off) do more.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod sample;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// A [`GlobalAlloc`] that forwards to `A` and counts what passes through.
///
/// Install it with [`global_allocator!`] rather than by hand.
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
// touches this crate's statics and thread-locals, which never allocate, and installed hooks and
// the sampler's unwinder, which are never re-entered (see `Hooks` and `sample`).
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            count(Op::Alloc(p), layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            count(Op::Alloc(p), layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Counted before the block is released: a tracer must forget the address before another
        // thread can be handed it.
        count(Op::Free(ptr), layout.size());
        // SAFETY: forwarded contract.
        unsafe { self.inner.dealloc(ptr, layout) };
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A reallocation is a free of the old block and an allocation of the new one.
        count(Op::Free(ptr), layout.size());
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if p.is_null() {
            // The old block lives on, still the caller's.
            count(Op::Alloc(ptr), layout.size());
        } else {
            count(Op::Alloc(p), new_size);
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
#[non_exhaustive]
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
/// thread, so it tells whether a piece of code allocates while other threads of the process
/// allocate at the same time.
///
/// ```
/// leakcheck_alloc::global_allocator!();
/// # fn main() {
/// let _ = leakcheck_alloc::thread_allocations(); // the first call may claim the slot
/// let before = leakcheck_alloc::thread_allocations();
/// let sum: u64 = (1..=10).sum();
/// assert_eq!(leakcheck_alloc::thread_allocations(), before);
/// # assert_eq!(sum, 55);
/// # }
/// ```
pub fn thread_allocations() -> Option<u64> {
    let mine = MINE.with(Cell::get);
    (!mine.is_special()).then(|| mine.allocations.load(Ordering::Relaxed))
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

/// One counted call.
#[derive(Clone, Copy)]
enum Op {
    Alloc(*mut u8),
    Free(*mut u8),
}

#[inline(always)]
fn count(op: Op, size: usize) {
    let slot = MINE.with(Cell::get);
    if slot.divert.load(Ordering::Relaxed) {
        return count_slow(slot, op, size);
    }
    slot.add_owned(op, size);
    slot.watch_owned(op, size);
}

#[cold]
#[inline(never)]
fn count_slow(slot: &'static Slot, op: Op, size: usize) {
    let slot = if ptr::eq(slot, &FRESH) {
        claim_slot()
    } else {
        slot
    };
    if ptr::eq(slot, &SHARED) {
        let (calls, bytes) = slot.counters(op);
        calls.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(size as u64, Ordering::Relaxed);
        sample::watch_shared(op, size);
    } else {
        if slot.reseed.swap(false, Ordering::SeqCst) {
            slot.set_countdown(slot.next_interval());
        }
        slot.add_owned(op, size);
        slot.watch_owned(op, size);
        if HOOKS.load(Ordering::SeqCst).is_null() {
            settle_divert(slot);
        }
    }
    let hooks = HOOKS.load(Ordering::Acquire);
    if !hooks.is_null() {
        // SAFETY: only `&'static Hooks` are ever stored.
        let hooks: &'static Hooks = unsafe { &*hooks };
        HookGuard::enter(|| match op {
            Op::Alloc(p) => (hooks.on_alloc)(p, size),
            Op::Free(p) => (hooks.on_free)(p),
        });
    }
}

/// What the allocator calls, on every thread, for every allocation and free while installed
/// with [`install_hooks`]: the test harness's tracer records each allocation's stack with them.
///
/// A hook runs inside the global allocator, so:
/// * it is never re-entered on the same thread: whatever a hook allocates itself (an unwinder's
///   buffers, say) is counted but not passed to the hooks again, so a hook cannot recurse;
/// * it must not take a lock that code holding it could wait on while allocating, and should
///   keep its own tables outside the counted heap (allocated from [`System`] directly);
/// * a free is reported before the block is released, so that no other thread can be handed
///   the same address first;
/// * it must not panic: an unwind out of the global allocator aborts the process.
///
/// A reallocation is a free of the old block followed by an allocation of the new one.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Hooks {
    /// A block of `size` bytes was allocated at the address.
    pub on_alloc: fn(ptr: *mut u8, size: usize),
    /// The block at the address is about to be freed.
    pub on_free: fn(ptr: *mut u8),
}

impl Hooks {
    /// Hooks that call `on_alloc` and `on_free`.
    pub const fn new(on_alloc: fn(*mut u8, usize), on_free: fn(*mut u8)) -> Self {
        Self { on_alloc, on_free }
    }
}

/// The installed hooks, or null. Only read on the slow path.
static HOOKS: AtomicPtr<Hooks> = AtomicPtr::new(ptr::null_mut());

/// Calls `hooks` for every allocation and free from now on, on every thread, until
/// [`remove_hooks`]. Replaces hooks installed before. While hooks are installed every
/// allocation takes the slow path, so install them for short, bounded stretches.
pub fn install_hooks(hooks: &'static Hooks) {
    HOOKS.store(ptr::from_ref(hooks).cast_mut(), Ordering::SeqCst);
    set_divert(true);
}

/// Stops calling the installed hooks. A call already inside a hook on another thread finishes.
pub fn remove_hooks() {
    HOOKS.store(ptr::null_mut(), Ordering::SeqCst);
    for slot in &SLOTS {
        settle_divert(slot);
    }
}

/// Sends every owned slot's calls to the slow path.
fn set_divert(on: bool) {
    for slot in &SLOTS {
        slot.divert.store(on, Ordering::SeqCst);
    }
}

/// Clears an owned slot's `divert` unless hooks are installed or the slot still has to redraw
/// its countdown. Several threads may settle one slot at once (its owner, `remove_hooks`,
/// `sample::set_rate`): each re-checks after clearing, all `SeqCst`, so a concurrent
/// `install_hooks` or rate change that the check missed sets the flag again after the clear.
fn settle_divert(slot: &Slot) {
    slot.divert.store(false, Ordering::SeqCst);
    if !HOOKS.load(Ordering::SeqCst).is_null() || slot.reseed.load(Ordering::SeqCst) {
        slot.divert.store(true, Ordering::SeqCst);
    }
}

/// Makes every owned slot redraw its sampling countdown (for a new rate) on its next call, on
/// its own thread: only the owner writes its countdown, so the request goes through the slow
/// path. The shared slot's countdown is atomic and is redrawn here.
fn reseed_all() {
    sample::SHARED_COUNTDOWN.store(sample::shared_interval(), Ordering::SeqCst);
    for slot in &SLOTS {
        slot.reseed.store(true, Ordering::SeqCst);
        slot.divert.store(true, Ordering::SeqCst);
    }
}

/// Marks the calling thread as inside a hook, so that what the hook allocates is not hooked
/// again. A `const` thread-local without a destructor: usable even while thread-locals are torn
/// down, and it never allocates.
struct HookGuard;

thread_local! {
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

impl HookGuard {
    /// Runs `f` unless the thread is already inside a hook (or the sampler); whether it ran.
    fn enter(f: impl FnOnce()) -> bool {
        if IN_HOOK.with(|inside| inside.replace(true)) {
            return false;
        }
        let _reset = HookGuard;
        f();
        true
    }
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        IN_HOOK.with(|inside| inside.set(false));
    }
}

/// Restarts the calling thread's sampling sequence (see [`sample::set_thread_seed`]).
fn seed_this_thread(seed: u64) -> bool {
    // The thread's first allocation claims its slot.
    drop(std::hint::black_box(Box::new(0u64)));
    let mine = MINE.with(Cell::get);
    if mine.is_special() {
        return false;
    }
    mine.seed(seed);
    true
}

/// Claims a slot for this thread and arranges for it to be returned when the thread exits.
/// Returns the slot to count in: the claimed one, or `SHARED` when none could be had.
fn claim_slot() -> &'static Slot {
    // Registering the thread-exit guard may itself allocate on some platforms; such nested
    // allocations count in the shared slot instead of recursing.
    MINE.with(|m| m.set(&SHARED));
    let Some(slot) = SLOTS.iter().enumerate().find_map(|(i, slot)| {
        let free = !slot.owned.load(Ordering::Relaxed)
            && slot
                .owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        free.then(|| {
            SLOTS_USED.fetch_max(i + 1, Ordering::AcqRel);
            slot
        })
    }) else {
        return &SHARED;
    };
    if GUARD.try_with(|_| ()).is_err() {
        // Thread-locals are being destroyed: no guard would ever return the slot.
        slot.owned.store(false, Ordering::Release);
        return &SHARED;
    }
    // A fresh sampling sequence for this thread. The pending-reseed flag is cleared before the
    // rate is read (in `next_interval`), so a concurrent rate change is never lost.
    slot.reseed.store(false, Ordering::SeqCst);
    slot.random.store(sample::thread_seed(), Ordering::Relaxed);
    slot.thread.store(sample::thread_id(), Ordering::Relaxed);
    slot.set_countdown(slot.next_interval());
    MINE.with(|m| m.set(slot));
    slot
}

/// Returns this thread's slot to the table when the thread exits.
struct SlotGuard;

impl Drop for SlotGuard {
    fn drop(&mut self) {
        // Allocations after this point (later thread-local destructors) count in the shared slot.
        let mine = MINE.with(|m| m.replace(&SHARED));
        if !mine.is_special() {
            mine.owned.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    /// The slot this thread counts in: `FRESH` until its first allocation, then its own, or
    /// `SHARED`.
    static MINE: Cell<&'static Slot> = const { Cell::new(&FRESH) };
    static GUARD: SlotGuard = const { SlotGuard };
}

/// More slots than most test processes have threads; beyond this, threads share one slot.
const SLOT_COUNT: usize = 256;

static SLOTS: [Slot; SLOT_COUNT] = [const { Slot::new() }; SLOT_COUNT];
static SLOTS_USED: AtomicUsize = AtomicUsize::new(0);
/// Counts of threads without a slot of their own, updated atomically.
static SHARED: Slot = Slot::special();
/// Where every thread starts: never counted in, only diverts to the slow path.
static FRESH: Slot = Slot::special();

/// One thread's counters, alone on its cache lines so that threads never contend.
#[repr(align(128))]
struct Slot {
    /// Take the slow path: always for the special slots, for every slot while hooks are
    /// installed. Read
    /// next to the counters, so checking it touches no other cache line.
    divert: AtomicBool,
    owned: AtomicBool,
    /// The sampling rate changed: redraw `countdown` on the next (slow-path) call.
    reseed: AtomicBool,
    allocations: AtomicU64,
    bytes_allocated: AtomicU64,
    deallocations: AtomicU64,
    bytes_deallocated: AtomicU64,
    /// Bytes left before the next sampled allocation (`i64::MAX`: sampling off). Only the
    /// owner ever reads or writes it — no other thread, not even a reader of the counters —
    /// so it is a plain integer and the check compiles to one `sub` from memory and one
    /// branch. (The shared slot uses `sample::SHARED_COUNTDOWN` instead.)
    countdown: UnsafeCell<i64>,
    /// The owner's xorshift state for drawing countdowns.
    random: AtomicU64,
    /// The owner's OS thread id, read once when the slot is claimed.
    thread: AtomicU64,
}

// SAFETY: every field is atomic except `countdown`, which only the slot's owner thread touches
// (ownership passes between threads through `owned`: released with Release on thread exit,
// claimed with Acquire), and which the special slots never use.
unsafe impl Sync for Slot {}

impl Slot {
    const fn new() -> Self {
        Self::with_divert(false)
    }

    /// A slot that always diverts to the slow path.
    const fn special() -> Self {
        Self::with_divert(true)
    }

    const fn with_divert(divert: bool) -> Self {
        Self {
            divert: AtomicBool::new(divert),
            owned: AtomicBool::new(false),
            allocations: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            deallocations: AtomicU64::new(0),
            bytes_deallocated: AtomicU64::new(0),
            reseed: AtomicBool::new(false),
            countdown: UnsafeCell::new(i64::MAX),
            random: AtomicU64::new(1),
            thread: AtomicU64::new(0),
        }
    }

    /// `FRESH` or `SHARED`: a slot no thread owns.
    fn is_special(&self) -> bool {
        ptr::eq(self, &FRESH) || ptr::eq(self, &SHARED)
    }

    /// The call and byte counters that `op` adds to.
    #[inline(always)]
    fn counters(&self, op: Op) -> (&AtomicU64, &AtomicU64) {
        match op {
            Op::Alloc(_) => (&self.allocations, &self.bytes_allocated),
            Op::Free(_) => (&self.deallocations, &self.bytes_deallocated),
        }
    }

    /// Counts one call as the slot's only writer: a plain load and store, no locked instruction.
    /// Readers on other threads see the old or the new value.
    #[inline(always)]
    fn add_owned(&self, op: Op, size: usize) {
        let (calls, bytes) = self.counters(op);
        calls.store(
            calls.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        bytes.store(
            bytes.load(Ordering::Relaxed).wrapping_add(size as u64),
            Ordering::Relaxed,
        );
    }

    /// The sampling check of one call, as the slot's only writer. An allocation takes its size
    /// off the countdown (one subtract and one branch); a free looks its address up in the
    /// sample filter (one load and one branch). Both leave for a cold path only when they hit.
    #[inline(always)]
    fn watch_owned(&self, op: Op, size: usize) {
        match op {
            Op::Alloc(p) => {
                // SAFETY: the caller is the slot's owner (see `countdown`).
                let countdown = unsafe { &mut *self.countdown.get() };
                *countdown = countdown.wrapping_sub(size as i64);
                if *countdown < 0 {
                    self.countdown_expired(p, size);
                }
            }
            Op::Free(p) => sample::watch_free(p),
        }
    }

    /// The countdown ran out on this allocation: sample it and draw the next countdown.
    #[cold]
    #[inline(never)]
    fn countdown_expired(&self, p: *mut u8, size: usize) {
        self.set_countdown(self.next_interval());
        sample::record(p, size, self.thread.load(Ordering::Relaxed));
    }

    /// Sets the countdown (the owner only).
    fn set_countdown(&self, bytes: i64) {
        // SAFETY: only the owner calls this (see `countdown`).
        unsafe { *self.countdown.get() = bytes };
    }

    /// The owner's next countdown at the current rate.
    fn next_interval(&self) -> i64 {
        let mut state = self.random.load(Ordering::Relaxed);
        let random = sample::countdown::next(&mut state);
        self.random.store(state, Ordering::Relaxed);
        sample::countdown::interval(sample::rate(), random)
    }

    /// Restarts the owner's sampling sequence from `seed` (the owner only).
    fn seed(&self, seed: u64) {
        self.random
            .store(sample::countdown::seed_state(seed), Ordering::Relaxed);
        self.set_countdown(self.next_interval());
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
/// `global_allocator!(EXPR)` can wrap a value whose type the macro cannot name. Not a public
/// API: it may change in any release.
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

/// Installs the counting allocator as this binary's global allocator.
///
/// `global_allocator!()` counts over [`std::alloc::System`]; `global_allocator!(EXPR)` counts
/// over any other [`GlobalAlloc`] value, such as a jemalloc or mimalloc instance or a `static`
/// of your own (reached through one indirect call). Write it once per binary: in each test crate
/// that has leak tests, and in a service's `main.rs` for the production monitor. The test
/// harness `leakcheck` and the monitor re-export it, and read the same counters.
///
/// ```
/// leakcheck_alloc::global_allocator!();
/// # fn main() { assert!(leakcheck_alloc::is_installed()); }
/// ```
///
/// ```
/// struct MyAlloc;
/// unsafe impl std::alloc::GlobalAlloc for MyAlloc {
///     unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 { unsafe { std::alloc::System.alloc(l) } }
///     unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) { unsafe { std::alloc::System.dealloc(p, l) } }
/// }
/// leakcheck_alloc::global_allocator!(MyAlloc);
/// # fn main() { assert!(leakcheck_alloc::is_installed()); }
/// ```
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static LEAKCHECK_GLOBAL_ALLOCATOR: $crate::CountingAlloc = $crate::CountingAlloc::system();
    };
    ($inner:expr $(,)?) => {
        #[global_allocator]
        static LEAKCHECK_GLOBAL_ALLOCATOR: $crate::CountingAlloc<$crate::StaticAlloc> =
            $crate::CountingAlloc::new($crate::StaticAlloc(&$inner));
    };
}

#[cfg(test)]
global_allocator!();
