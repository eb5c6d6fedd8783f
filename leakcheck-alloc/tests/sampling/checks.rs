//! The sampler's checks, over whichever allocator the including test crate wraps: this crate's
//! `tests/sampling.rs` (System) and the fixture crate `tests/fixtures/wrapped` (jemalloc and
//! mimalloc, through the end-to-end suite), so "on any wrapped allocator" is the same proof.
//!
//! The rate and the tables are process-wide, so the tests take turns (`serial`) and look only
//! at samples of their own thread or addresses. A rate of 1 byte samples every allocation of
//! 37 bytes or more for certain (the longest countdown one draw can give is −ln(2⁻⁵³) ≈ 36.7
//! times the rate), which makes the bookkeeping tests deterministic.

use leakcheck_alloc::sample::{self, Snapshot};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the test's turn; sampling is off at the start and the end of every turn.
fn serial() -> Turn {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    sample::set_rate(0);
    Turn(guard)
}

struct Turn(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for Turn {
    fn drop(&mut self) {
        sample::set_rate(0);
    }
}

fn tid() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// A snapshot taken with sampling off and room reserved, so that taking it records nothing
/// and frees nothing: then `sampled − freed` must equal the live samples exactly.
fn quiet_snapshot() -> Snapshot {
    let rate = sample::rate();
    sample::set_rate(0);
    let mut snap = Snapshot::default();
    snap.live.reserve(sample::LIVE_CAPACITY);
    snap.stacks.reserve(sample::STACK_CAPACITY);
    sample::snapshot_into(&mut snap);
    sample::set_rate(rate);
    snap
}

fn live_addresses(snap: &Snapshot) -> HashSet<usize> {
    snap.live.iter().map(|s| s.address).collect()
}

/// Variance of the unbiased estimate of the bytes of `sizes`: each allocation is sampled with
/// p = 1 − e^(−s/R) and then counts s/p, so it adds s²(1 − p)/p.
fn variance(sizes: impl IntoIterator<Item = usize>, rate: f64) -> f64 {
    sizes
        .into_iter()
        .map(|s| {
            let p = -(-(s as f64) / rate).exp_m1();
            (s as f64).powi(2) * (1.0 - p) / p
        })
        .sum()
}

#[test]
fn rate_zero_samples_nothing() {
    let _turn = serial();
    let before = sample::stats();
    let blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![0u8; 16 + i % 4096]).collect();
    let snap = quiet_snapshot();
    assert_eq!(snap.stats.sampled, before.sampled);
    let live = live_addresses(&snap);
    assert!(blocks
        .iter()
        .all(|b| !live.contains(&(b.as_ptr() as usize))));
    drop(black_box(blocks));
}

#[test]
fn every_sampled_block_is_recorded_and_freed_ones_leave_the_table() {
    let _turn = serial();
    sample::set_rate(1);
    let before = sample::stats();
    let mut blocks: Vec<Box<[u8; 64]>> = Vec::with_capacity(1000);
    for _ in 0..1000 {
        blocks.push(black_box(Box::new([7u8; 64])));
    }
    let addresses: Vec<usize> = blocks.iter().map(|b| b.as_ptr() as usize).collect();
    let snap = quiet_snapshot();
    let live = live_addresses(&snap);
    for a in &addresses {
        assert!(live.contains(a), "block {a:#x} not sampled at rate 1");
    }
    let mine = snap
        .live
        .iter()
        .find(|s| s.address == addresses[0])
        .unwrap()
        .clone();
    assert_eq!((mine.size, mine.rate, mine.thread), (64, 1, tid()));
    assert_eq!(mine.weight(), 1.0);
    assert!(mine.age(snap.taken_at) < std::time::Duration::from_secs(3600));

    // Free every other block: those leave the table, the rest stay.
    sample::set_rate(0);
    let kept: Vec<Box<[u8; 64]>> = blocks
        .into_iter()
        .enumerate()
        .filter_map(|(i, b)| (i % 2 == 1).then_some(b))
        .collect();
    let snap = quiet_snapshot();
    let live = live_addresses(&snap);
    for (i, a) in addresses.iter().enumerate() {
        assert_eq!(live.contains(a), i % 2 == 1, "block {i} at {a:#x}");
    }
    assert!(snap.stats.freed - before.freed >= 500);
    // The stack of these blocks counts 1000 allocations and 500 frees.
    let stack = snap.stack(mine.stack).expect("the stack is listed");
    assert!(stack.allocated.samples >= 1000 && stack.freed.samples >= 500);
    assert_eq!(
        stack.in_use().samples,
        stack.allocated.samples - stack.freed.samples
    );
    drop(kept);
    let snap = quiet_snapshot();
    let live = live_addresses(&snap);
    assert!(addresses.iter().all(|a| !live.contains(a)));
}

#[inline(never)]
fn allocate_in_a_named_function_for_the_stack_test() -> Vec<u64> {
    black_box(vec![1u64; 512])
}

#[test]
fn stacks_name_the_allocating_function() {
    let _turn = serial();
    sample::set_rate(1);
    let block = allocate_in_a_named_function_for_the_stack_test();
    let snap = quiet_snapshot();
    let s = snap
        .live
        .iter()
        .find(|s| s.address == block.as_ptr() as usize)
        .expect("sampled at rate 1");
    let frames = &snap.stack(s.stack).expect("stack listed").frames;
    assert!(!frames.is_empty() && frames.len() <= sample::MAX_FRAMES);
    // Off before resolving: the symbolizer's caches live for the rest of the process, and at
    // rate 1 they would fill the live table for the tests after this one.
    sample::set_rate(0);
    let mut names = Vec::new();
    for &ip in frames {
        // Return addresses: the call is the byte before.
        backtrace::resolve((ip - 1) as *mut std::ffi::c_void, |sym| {
            if let Some(name) = sym.name() {
                names.push(name.to_string());
            }
        });
    }
    assert!(
        names
            .iter()
            .any(|n| n.contains("allocate_in_a_named_function_for_the_stack_test")),
        "frames: {names:#?}"
    );
    drop(block);
}

#[test]
fn a_full_table_counts_drops_and_recovers() {
    let _turn = serial();
    sample::set_rate(1);
    let before = sample::stats();
    let n = sample::LIVE_CAPACITY + 4000;
    let mut blocks: Vec<Box<[u8; 48]>> = Vec::with_capacity(n);
    for _ in 0..n {
        blocks.push(black_box(Box::new([0u8; 48])));
    }
    let snap = quiet_snapshot();
    let dropped = snap.stats.dropped_table_full - before.dropped_table_full;
    assert!(snap.live.len() <= sample::LIVE_CAPACITY);
    assert!(dropped >= 4000, "dropped {dropped}");
    // Nothing is lost from the books: every recorded sample is either live or was freed.
    assert_eq!(
        snap.stats.sampled - snap.stats.freed,
        snap.live.len() as u64
    );
    drop(blocks);
    let snap = quiet_snapshot();
    assert!(snap.live.len() < 1000, "{} still live", snap.live.len());
    // Room again.
    sample::set_rate(1);
    let again = black_box(Box::new([0u8; 48]));
    let snap = quiet_snapshot();
    assert!(live_addresses(&snap).contains(&(again.as_ptr() as usize)));
}

#[test]
fn concurrent_threads_lose_nothing() {
    let _turn = serial();
    let before = sample::stats();
    sample::set_rate(256);
    let threads = 4;
    let kept: Vec<(u64, Vec<Vec<u8>>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut keep = Vec::new();
                    let mut window: Vec<Vec<u8>> = Vec::new();
                    for i in 0..20_000usize {
                        let v = vec![t as u8; 8 + (i * 37) % 700];
                        if i % 10 == 0 {
                            keep.push(v);
                        } else {
                            window.push(v);
                        }
                        if window.len() > 50 {
                            window.swap_remove(i % 50);
                        }
                        if i % 1000 == 0 {
                            // Snapshots taken while the others allocate and free: whole samples.
                            let snap = sample::snapshot();
                            assert!(snap.live.iter().all(|l| l.size > 0 && l.address != 0));
                        }
                    }
                    (tid(), keep)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let snap = quiet_snapshot();
    assert_eq!(snap.stats.dropped_table_full, before.dropped_table_full);
    assert_eq!(
        snap.stats.sampled - snap.stats.freed,
        snap.live.len() as u64
    );
    // Every live sample of a worker is one of the blocks it still holds (or the vector that
    // holds them): no freed block stayed.
    let held: HashSet<usize> = kept
        .iter()
        .flat_map(|(_, blocks)| {
            std::iter::once(blocks.as_ptr() as usize)
                .chain(blocks.iter().map(|b| b.as_ptr() as usize))
        })
        .collect();
    let tids: HashSet<u64> = kept.iter().map(|(t, _)| *t).collect();
    let of_workers: Vec<_> = snap
        .live
        .iter()
        .filter(|l| tids.contains(&l.thread))
        .collect();
    let stale: Vec<_> = of_workers
        .iter()
        .filter(|l| !held.contains(&l.address))
        .collect();
    assert!(stale.is_empty(), "freed but still live: {stale:#?}");
    // Held: 2000 blocks a thread of ~360 B on average, most of them sampled at 256 B.
    assert!(of_workers.len() > 4000, "{} live samples", of_workers.len());
    // Per-stack books balance with the live table.
    let in_use: u64 = snap.stacks.iter().map(|s| s.in_use().samples).sum();
    assert_eq!(in_use, snap.live.len() as u64);
    drop(kept);
}

#[test]
fn estimate_of_a_known_live_heap_is_unbiased() {
    let _turn = serial();
    sample::set_rate(sample::DEFAULT_RATE);
    assert!(sample::set_thread_seed(13));
    // 64 MiB in sizes log-uniform from 16 B to 64 KiB, held 24 times.
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut sizes = Vec::new();
    let mut total = 0usize;
    while total < 64 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let u = (state >> 11) as f64 / (1u64 << 53) as f64;
        let size = (16.0 * 4096f64.powf(u)) as usize;
        sizes.push(size);
        total += size;
    }
    let sigma = variance(sizes.iter().copied(), sample::DEFAULT_RATE as f64).sqrt();
    let runs = 24;
    let mut estimates = Vec::new();
    for _ in 0..runs {
        let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(sizes.len());
        for &size in &sizes {
            // Allocated, not written: the pages need not be touched.
            blocks.push(Vec::with_capacity(size));
        }
        let held: HashSet<usize> = blocks.iter().map(|b| b.as_ptr() as usize).collect();
        let snap = quiet_snapshot();
        let estimate: f64 = snap
            .live
            .iter()
            .filter(|s| s.thread == tid() && held.contains(&s.address))
            .map(|s| s.estimated_bytes())
            .sum();
        assert!(
            (estimate - total as f64).abs() < 4.0 * sigma,
            "one run: {estimate} vs {total} (sigma {sigma})"
        );
        estimates.push(estimate);
        drop(blocks);
    }
    let mean = estimates.iter().sum::<f64>() / runs as f64;
    println!(
        "64 MiB: mean estimate {:+.2} % over {runs} runs; one run's sigma {:.1} %",
        100.0 * (mean / total as f64 - 1.0),
        100.0 * sigma / total as f64
    );
    assert!((mean - total as f64).abs() < 4.0 * sigma / (runs as f64).sqrt());
}

#[test]
fn a_one_in_eight_pattern_is_sampled_in_proportion() {
    let _turn = serial();
    // A rate of one period of the pattern: a sampler in step with it would see one size only.
    let rate = 7 * 64 + 4096;
    sample::set_rate(rate);
    assert!(sample::set_thread_seed(8));
    let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(80_000);
    for i in 0..80_000 {
        blocks.push(Vec::with_capacity(if i % 8 == 7 { 4096 } else { 64 }));
    }
    let held: HashSet<usize> = blocks.iter().map(|b| b.as_ptr() as usize).collect();
    let snap = quiet_snapshot();
    for (class, n) in [(64usize, 70_000), (4096, 10_000)] {
        let truth = (n * class) as f64;
        let sigma = variance(std::iter::repeat_n(class, n), rate as f64).sqrt();
        let estimate: f64 = snap
            .live
            .iter()
            .filter(|s| s.size == class as u64 && held.contains(&s.address))
            .map(|s| s.estimated_bytes())
            .sum();
        println!("{class} B: estimate {estimate:.0} of {truth:.0} (sigma {sigma:.0})");
        assert!(
            (estimate - truth).abs() < 4.0 * sigma,
            "{class} B: {estimate} vs {truth} (sigma {sigma})"
        );
    }
    drop(blocks);
}

#[test]
fn filter_false_positive_rate() {
    let _turn = serial();
    for samples in [256usize, 2048] {
        // Sampled blocks spread like a large heap: 256 KiB each, in mappings of their own.
        sample::set_rate(1);
        let spread: Vec<Vec<u8>> = (0..samples)
            .map(|_| Vec::with_capacity(256 << 10))
            .collect();
        sample::set_rate(0);
        // Free 200,000 distinct unsampled blocks and count the filter's false alarms.
        let small: Vec<Vec<u8>> = (0..200_000)
            .map(|i| Vec::with_capacity(16 + i % 200))
            .collect();
        let before = sample::stats().filter_false_positives;
        drop(small);
        let fp = sample::stats().filter_false_positives - before;
        let measured = fp as f64 / 200_000.0;
        // Predicted: live samples / 131,072 counters.
        let predicted = samples as f64 / 131_072.0;
        println!(
            "{samples} live samples: {:.3} % of frees probed the table (predicted {:.3} %)",
            100.0 * measured,
            100.0 * predicted
        );
        assert!(
            measured < 3.0 * predicted + 0.001,
            "{measured} vs {predicted}"
        );
        drop(spread);
    }
}

#[test]
fn threads_without_a_slot_of_their_own_are_sampled_too() {
    let _turn = serial();
    sample::set_rate(1);
    // More threads alive at once than there are slots: the last ones share the overflow slot
    // and its atomic countdown.
    let threads = 300;
    let barrier = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let block = black_box(Box::new([1u8; 64]));
                    let shared = leakcheck_alloc::thread_allocations().is_none();
                    barrier.wait(); // all alive, all allocated
                    barrier.wait(); // the snapshot is taken
                    (block.as_ptr() as usize, shared, tid())
                })
            })
            .collect();
        barrier.wait();
        let snap = quiet_snapshot();
        barrier.wait();
        let results: Vec<(usize, bool, u64)> =
            workers.into_iter().map(|w| w.join().unwrap()).collect();
        let shared = results.iter().filter(|r| r.1).count();
        assert!(shared > 0, "no thread shared the overflow slot");
        for (address, shared, thread) in results {
            let s = snap
                .live
                .iter()
                .find(|l| l.address == address)
                .unwrap_or_else(|| {
                    panic!(
                        "block of a thread (shared: {shared}) not sampled: {:?}",
                        snap.stats
                    )
                });
            assert_eq!(s.thread, thread);
        }
        println!("{shared} of {threads} threads counted in the shared slot");
    });
}

#[test]
fn the_live_table_fills_nearly_to_capacity_before_it_drops() {
    let _turn = serial();
    sample::set_rate(1);
    let before = sample::stats();
    let mut blocks: Vec<Box<[u8; 48]>> = Vec::with_capacity(sample::LIVE_CAPACITY);
    while sample::stats().dropped_table_full == before.dropped_table_full
        && blocks.len() < sample::LIVE_CAPACITY
    {
        blocks.push(black_box(Box::new([0u8; 48])));
    }
    let snap = quiet_snapshot();
    let load = snap.live.len() as f64 / sample::LIVE_CAPACITY as f64;
    println!(
        "first drop at {} live samples ({:.1} % full)",
        snap.live.len(),
        100.0 * load
    );
    assert!(load > 0.75, "first drop at {:.1} % full", 100.0 * load);
    drop(blocks);
}

/// Hooks that allocate: what they allocate runs inside the allocator, where the sampler must
/// not run (its unwinder allocates too, and must never recurse).
fn allocating_on_alloc(_: *mut u8, _: usize) {
    black_box(vec![0u8; 100]);
}

fn no_op_on_free(_: *mut u8) {}

static ALLOCATING_HOOKS: leakcheck_alloc::Hooks =
    leakcheck_alloc::Hooks::new(allocating_on_alloc, no_op_on_free);

#[test]
fn allocations_inside_the_allocator_are_never_sampled() {
    let _turn = serial();
    sample::set_rate(1);
    let before = sample::stats();
    leakcheck_alloc::install_hooks(&ALLOCATING_HOOKS);
    let blocks: Vec<Box<[u8; 64]>> = (0..100).map(|_| black_box(Box::new([0u8; 64]))).collect();
    leakcheck_alloc::remove_hooks();
    let snap = quiet_snapshot();
    // Each hooked allocation allocated 100 B inside the hook: at rate 1 each of those would be
    // sampled, and is skipped instead; the blocks themselves are sampled.
    assert!(snap.stats.skipped_reentrant - before.skipped_reentrant >= 100);
    let live = live_addresses(&snap);
    assert!(blocks.iter().all(|b| live.contains(&(b.as_ptr() as usize))));
    assert!(snap.live.iter().all(|s| s.size != 100 || s.thread != tid()));
    drop(blocks);
}

#[test]
fn sampling_leaves_the_counters_exact() {
    let _turn = serial();
    sample::set_rate(1);
    drop(black_box(Box::new([0u8; 64]))); // the first capture may set up the unwinder
    let before = leakcheck_alloc::thread_allocations().expect("own slot");
    let sampled = sample::stats().sampled;
    let blocks: Vec<Box<[u8; 64]>> = (0..100).map(|_| black_box(Box::new([0u8; 64]))).collect();
    let after = leakcheck_alloc::thread_allocations().expect("own slot");
    // The 100 boxes and the vector holding them: capturing 100 stacks allocated nothing.
    assert_eq!(after - before, 101);
    assert!(sample::stats().sampled - sampled >= 101);
    drop(blocks);
}
