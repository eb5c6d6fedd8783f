//! Wall-time overhead of leakcheck's counting allocator over the bare system allocator, side by
//! side with `stats_alloc`, on allocation-heavy churn.
//!
//! All three allocators are plain static instances called through the [`GlobalAlloc`] trait (the
//! binary's own global allocator stays the default), so they run in one binary on one workload:
//! `system` is `std::alloc::System`, `leakcheck` is `CountingAlloc<System>` (per-thread slots,
//! plain load/store), `stats_alloc` is `StatsAlloc<System>` (shared `SeqCst` atomics).
//!
//! Why this shape: one *batch* is what a test body typically does to the heap. It allocates
//! [`BATCH`] blocks whose sizes (8..=4096 bytes, roughly log-uniform, from a fixed table — no RNG)
//! span several malloc size classes, so the system allocator's fast paths are not one hot bin;
//! it grows every eighth block with `realloc` (the `Vec` pattern); and it frees the blocks in an
//! order different from allocation (odd indices forwards, then even ones backwards), so frees do
//! not simply pop what was just pushed. One byte of every block is written after allocation and
//! read before the free, and pointers pass through [`black_box`], so the optimiser can elide
//! neither the calls nor the blocks. The counting cost is a fixed amount per call (around a
//! nanosecond), so this measures it against a realistic mix of cheap (tcache) and dearer (bin)
//! system allocator calls rather than against its cheapest path alone.
//!
//! Groups, each with the functions `system`, `leakcheck`, `stats_alloc`:
//! - `churn/1_thread`: one batch per iteration on the bench thread.
//! - `churn/2_threads`: two threads each run one batch per iteration, concurrently
//!   (`iter_custom`; the reported time is the wall time of one such pair of batches).
//! - `churn/2_threads_cross_free`: as above, but each thread hands every batch it allocated to
//!   the other thread, which frees it: every block is freed on a thread other than the one that
//!   allocated it (for leakcheck: allocation counted in one slot, free in another). With glibc
//!   this is several times slower than local churn for all three (the blocks bypass the
//!   allocating thread's cache), so the counting is a small part of it.
//!
//! In the two-thread groups, one pair of worker threads serves all the samples of a benchmark
//! function (spawn and join are outside every sample, and the threads stay where the scheduler
//! put them); for each sample both workers meet at a barrier, run their `iters` batches, and the
//! time is from the earlier worker's start to the later worker's end, read by the workers
//! themselves. What remains of the hand-off (channel wake-ups and the barrier, a few
//! microseconds) is amortised over the `iters` batches of a sample.
//!
//! Run with `cargo bench --bench alloc_overhead`.

use criterion::{criterion_main, Criterion, Throughput};
use leakcheck::CountingAlloc;
use stats_alloc::StatsAlloc;
use std::alloc::{handle_alloc_error, GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

static SYSTEM: System = System;
static LEAKCHECK: CountingAlloc<System> = CountingAlloc::system();
// `StatsAlloc::new` is a `const fn` only with stats_alloc's `nightly` feature; `system()` builds
// the same `StatsAlloc<System>` and is always const.
static STATS: StatsAlloc<System> = StatsAlloc::system();

/// Blocks per batch.
const BATCH: usize = 64;
/// Every block whose index is a multiple of this is grown with `realloc`.
const REALLOC_EVERY: usize = 8;
/// Alignment of every block (what `Box<u64>`/`Vec<u64>` would ask for).
const ALIGN: usize = 8;
/// Allocator calls per batch: allocations, reallocations, frees.
const CALLS_PER_BATCH: u64 = (2 * BATCH + BATCH / REALLOC_EVERY) as u64;

/// Sizes the blocks are allocated with: 8..=4096 bytes, log-uniform, from a fixed sequence.
const SIZES: [usize; BATCH] = initial_sizes();
/// Sizes the blocks have when freed (the grown ones after `realloc`).
const FINAL_SIZES: [usize; BATCH] = final_sizes();

const fn initial_sizes() -> [usize; BATCH] {
    let mut sizes = [0; BATCH];
    let mut i = 0;
    while i < BATCH {
        // splitmix64 of the index: a fixed, well-spread sequence.
        let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        // Pick a power-of-two class 8..=4096, then a size within (class/2, class].
        let hi = 8u64 << (x % 10);
        let lo = if hi / 2 > 8 { hi / 2 } else { 8 };
        sizes[i] = (lo + (x >> 8) % (hi - lo + 1)) as usize;
        i += 1;
    }
    sizes
}

const fn final_sizes() -> [usize; BATCH] {
    let mut sizes = initial_sizes();
    let mut i = 0;
    while i < BATCH {
        if i % REALLOC_EVERY == 0 {
            sizes[i] = sizes[i] * 2 + 24;
        }
        i += 1;
    }
    sizes
}

const fn layout(size: usize) -> Layout {
    match Layout::from_size_align(size, ALIGN) {
        Ok(layout) => layout,
        Err(_) => panic!("bad layout"),
    }
}

/// One batch of blocks, allocated but not yet freed.
struct Batch([*mut u8; BATCH]);

// SAFETY: the blocks are plain heap memory owned by the batch alone; the allocators under test
// forward to `System`, which lets any thread free a block allocated on another.
unsafe impl Send for Batch {}

/// Allocates a batch through `a`: [`BATCH`] blocks of [`SIZES`], every [`REALLOC_EVERY`]th one
/// then grown to its [`FINAL_SIZES`]. Touches one byte of each block.
fn alloc_batch<A: GlobalAlloc + Sync>(a: &A) -> Batch {
    let mut ptrs = [std::ptr::null_mut(); BATCH];
    for (i, slot) in ptrs.iter_mut().enumerate() {
        let layout = layout(SIZES[i]);
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { a.alloc(black_box(layout)) };
        if p.is_null() {
            handle_alloc_error(layout);
        }
        // SAFETY: `p` is a fresh block of at least one byte.
        unsafe { p.write(i as u8) };
        *slot = black_box(p);
    }
    for i in (0..BATCH).step_by(REALLOC_EVERY) {
        let (old, new) = (layout(SIZES[i]), FINAL_SIZES[i]);
        // SAFETY: `ptrs[i]` was allocated by `a` with `old`, and `new` is a non-zero size that
        // does not overflow `isize` once rounded up to `ALIGN`.
        let p = unsafe { a.realloc(ptrs[i], old, black_box(new)) };
        if p.is_null() {
            handle_alloc_error(layout(new));
        }
        // SAFETY: `p` is a block of `new` bytes.
        unsafe { p.add(new - 1).write(i as u8) };
        ptrs[i] = black_box(p);
    }
    Batch(ptrs)
}

/// Frees a batch made by [`alloc_batch`] with the same allocator: odd indices forwards, then even
/// indices backwards. Reads one byte of each block first.
///
/// # Safety
///
/// `batch` must come from [`alloc_batch`] called with an allocator that can free what `a`
/// allocated (here: the same allocator, or another one forwarding to `System`).
unsafe fn free_batch<A: GlobalAlloc + Sync>(a: &A, batch: Batch) {
    let order = (1..BATCH).step_by(2).chain((0..BATCH).step_by(2).rev());
    for i in order {
        let p = batch.0[i];
        // SAFETY: per the contract, `p` is a live block of `FINAL_SIZES[i]` bytes allocated by an
        // allocator compatible with `a`; it is freed exactly once, here.
        unsafe {
            black_box(p.read());
            a.dealloc(p, layout(FINAL_SIZES[i]));
        }
    }
}

/// One batch, allocated and freed on this thread.
fn churn<A: GlobalAlloc + Sync>(a: &A) {
    let batch = alloc_batch(a);
    // SAFETY: allocated by `a` just above.
    unsafe { free_batch(a, batch) };
}

/// Runs `body` with two worker threads that live as long as it does: `body` gets a function that
/// has worker 0 run `w0(iters)` and worker 1 run `w1(iters)` at the same time and returns the
/// wall time from the earlier start to the later end.
///
/// The workers stay up for all the samples of one benchmark function: spawning a pair per sample
/// (criterion calls the routine once per sample) made the samples bimodal, depending on where the
/// scheduler first put the fresh threads. The workers read the clock themselves: with two cores
/// and two busy workers, a third, timing thread would only be scheduled once a worker blocks.
fn with_pair<W0, W1>(w0: W0, w1: W1, body: impl FnOnce(&dyn Fn(u64) -> Duration))
where
    W0: FnMut(u64) + Send,
    W1: FnMut(u64) + Send,
{
    let start = Barrier::new(2);
    let (go_0, todo_0) = sync_channel::<u64>(1);
    let (go_1, todo_1) = sync_channel::<u64>(1);
    let (done_0, took_0) = sync_channel::<(Instant, Instant)>(1);
    let (done_1, took_1) = sync_channel::<(Instant, Instant)>(1);
    thread::scope(|s| {
        s.spawn(|| worker(&start, todo_0, done_0, w0));
        s.spawn(|| worker(&start, todo_1, done_1, w1));
        let run = |iters: u64| {
            go_0.send(iters).expect("worker 0 alive");
            go_1.send(iters).expect("worker 1 alive");
            let (s0, e0) = took_0.recv().expect("worker 0 alive");
            let (s1, e1) = took_1.recv().expect("worker 1 alive");
            e0.max(e1) - s0.min(s1)
        };
        body(&run);
        // Hanging up ends the workers' loops; the scope then joins them.
        drop((go_0, go_1));
    });
}

/// A worker of [`with_pair`]: for each request, meets the other worker at `start`, runs
/// `work(iters)` and reports when it started and ended.
fn worker(
    start: &Barrier,
    todo: Receiver<u64>,
    done: SyncSender<(Instant, Instant)>,
    mut work: impl FnMut(u64),
) {
    while let Ok(iters) = todo.recv() {
        start.wait();
        let t0 = Instant::now();
        work(iters);
        let t1 = Instant::now();
        if done.send((t0, t1)).is_err() {
            break;
        }
    }
}

/// A worker job: `iters` batches of [`churn`].
fn churner<A: GlobalAlloc + Sync>(a: &A) -> impl FnMut(u64) + Send + '_ {
    move |iters| (0..iters).for_each(|_| churn(a))
}

/// How many batches a thread of the cross-free group may run ahead of the batches it frees.
const LAG: u64 = 4;

/// The two worker jobs of the cross-free group: each allocates `iters` batches and sends each one
/// to the other worker, which frees it.
fn cross_freers<A: GlobalAlloc + Sync>(
    a: &A,
) -> (impl FnMut(u64) + Send + '_, impl FnMut(u64) + Send + '_) {
    // Each worker frees the peer's batch k only after sending its own batch k + LAG, so the two
    // rarely wait on each other: a lock-step hand-off would mostly measure thread wake-ups. The
    // bounded channels (array flavour) preallocate their buffer, so sending and receiving do not
    // allocate; with room for 2 × LAG batches a send can only block while the peer runs more than
    // LAG batches behind, and then the peer can always proceed, so this cannot deadlock. Both
    // workers get the same `iters`, so every call sends and receives the same number of batches
    // and leaves the channels empty.
    let (to_0, at_0) = sync_channel::<Batch>(2 * LAG as usize);
    let (to_1, at_1) = sync_channel::<Batch>(2 * LAG as usize);
    let exchange = move |tx: SyncSender<Batch>, rx: Receiver<Batch>| {
        move |iters: u64| {
            for k in 0..iters + LAG {
                if k < iters {
                    tx.send(alloc_batch(a)).expect("peer alive");
                }
                if k >= LAG {
                    let theirs = rx.recv().expect("peer alive");
                    // SAFETY: the peer allocated `theirs` with the same allocator `a`.
                    unsafe { free_batch(a, theirs) };
                }
            }
        }
    };
    (exchange(to_1, at_0), exchange(to_0, at_1))
}

fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn/1_thread");
    g.throughput(Throughput::Elements(CALLS_PER_BATCH));
    g.bench_function("system", |b| b.iter(|| churn(&SYSTEM)));
    g.bench_function("leakcheck", |b| b.iter(|| churn(&LEAKCHECK)));
    g.bench_function("stats_alloc", |b| b.iter(|| churn(&STATS)));
    g.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn/2_threads");
    g.throughput(Throughput::Elements(2 * CALLS_PER_BATCH));
    with_pair(churner(&SYSTEM), churner(&SYSTEM), |run| {
        g.bench_function("system", |b| b.iter_custom(run));
    });
    with_pair(churner(&LEAKCHECK), churner(&LEAKCHECK), |run| {
        g.bench_function("leakcheck", |b| b.iter_custom(run));
    });
    with_pair(churner(&STATS), churner(&STATS), |run| {
        g.bench_function("stats_alloc", |b| b.iter_custom(run));
    });
    g.finish();
}

fn two_threads_cross_free(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn/2_threads_cross_free");
    g.throughput(Throughput::Elements(2 * CALLS_PER_BATCH));
    let (w0, w1) = cross_freers(&SYSTEM);
    with_pair(w0, w1, |run| {
        g.bench_function("system", |b| b.iter_custom(run));
    });
    let (w0, w1) = cross_freers(&LEAKCHECK);
    with_pair(w0, w1, |run| {
        g.bench_function("leakcheck", |b| b.iter_custom(run));
    });
    let (w0, w1) = cross_freers(&STATS);
    with_pair(w0, w1, |run| {
        g.bench_function("stats_alloc", |b| b.iter_custom(run));
    });
    g.finish();
}

fn config() -> Criterion {
    // 9 functions × (1 s warm-up + 4 s measurement + analysis) ≈ 1 minute.
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

// In a private module, the group function `criterion_group!` generates needs no docs.
mod group {
    criterion::criterion_group! {
        name = benches;
        config = super::config();
        targets = super::one_thread, super::two_threads, super::two_threads_cross_free
    }
}
criterion_main!(group::benches);
