//! Wall-time overhead of the counting allocator on realistic allocation-heavy churn, as a test
//! body sees it: strings formatted, sorted and joined, a `HashMap` of byte vectors built and
//! dropped — about 130 allocations per call, through the global allocator.
//!
//! One binary can have only one global allocator, so it is a switch: every call reads a mode
//! (a relaxed load of one shared, never-written-while-measuring byte) and forwards to bare
//! `System`, leakcheck's `CountingAlloc<System>` or `stats_alloc`'s `StatsAlloc<System>`. All
//! three pay the same switch, so the difference between them is the counting.
//!
//! `alloc_overhead` is the worst case (nothing but allocator calls); this is the typical one.
//!
//! Run with `cargo bench --bench churn_overhead`.

#[path = "churn/workload.rs"]
mod workload;

use criterion::{criterion_main, Criterion};
use leakcheck::CountingAlloc;
use stats_alloc::StatsAlloc;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

static LEAKCHECK: CountingAlloc<System> = CountingAlloc::system();
static STATS: StatsAlloc<System> = StatsAlloc::system();
static MODE: AtomicU8 = AtomicU8::new(SYSTEM);
const SYSTEM: u8 = 0;
const COUNTING: u8 = 1;
const STATS_ALLOC: u8 = 2;

/// Forwards to the allocator `MODE` names. Every mode wraps `System`, so a block may be freed
/// under another mode than it was allocated in (only the counters disagree, and nobody reads them).
struct Switch;

// SAFETY: forwards every call unchanged to one of three allocators over `System`.
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe {
            match MODE.load(Ordering::Relaxed) {
                SYSTEM => System.alloc(layout),
                COUNTING => LEAKCHECK.alloc(layout),
                _ => STATS.alloc(layout),
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe {
            match MODE.load(Ordering::Relaxed) {
                SYSTEM => System.dealloc(ptr, layout),
                COUNTING => LEAKCHECK.dealloc(ptr, layout),
                _ => STATS.dealloc(ptr, layout),
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe {
            match MODE.load(Ordering::Relaxed) {
                SYSTEM => System.realloc(ptr, layout, new_size),
                COUNTING => LEAKCHECK.realloc(ptr, layout, new_size),
                _ => STATS.realloc(ptr, layout, new_size),
            }
        }
    }
}

#[global_allocator]
static GLOBAL: Switch = Switch;

fn churn(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!(
            "realistic_churn/{threads}_thread{}",
            if threads > 1 { "s" } else { "" }
        ));
        for (name, mode) in [
            ("system", SYSTEM),
            ("leakcheck", COUNTING),
            ("stats_alloc", STATS_ALLOC),
        ] {
            group.bench_function(name, |b| {
                MODE.store(mode, Ordering::SeqCst);
                b.iter_custom(|iters| workload::run(threads, iters));
                MODE.store(SYSTEM, Ordering::SeqCst);
            });
        }
        group.finish();
    }
}

// In a private module, the group function `criterion_group!` generates needs no docs.
mod group {
    criterion::criterion_group! {
        name = benches;
        config = criterion::Criterion::default()
            .sample_size(50)
            .warm_up_time(std::time::Duration::from_secs(1))
            .measurement_time(std::time::Duration::from_secs(4));
        targets = super::churn
    }
}
criterion_main!(group::benches);
