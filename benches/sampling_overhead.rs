//! Wall-time cost of the heap sampler on the churn workload of `churn_overhead` (strings
//! formatted, sorted and joined, a `HashMap` of byte vectors built and dropped — about 130
//! allocations per call), on 1 and 2 threads: bare `System`, the counting allocator with
//! sampling off (the default), and the counting allocator sampling at the default rate of one
//! sample per 512 KiB. Target: sampling within 1 % of counting alone.
//!
//! As in `churn_overhead`, one binary has one global allocator, so it is a switch that every
//! mode pays alike. Blocks allocated in one mode may be freed in another (criterion's own
//! buffers); only the sampler's books of those few blocks disagree, and nobody reads them.
//!
//! Run with `cargo bench --bench sampling_overhead`.

#[path = "churn/workload.rs"]
mod workload;

use criterion::{criterion_main, Criterion};
use leakcheck_alloc::{sample, CountingAlloc};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

static COUNTING: CountingAlloc<System> = CountingAlloc::system();
static MODE: AtomicU8 = AtomicU8::new(SYSTEM);
const SYSTEM: u8 = 0;
const COUNT: u8 = 1;

/// Forwards to bare `System` or to the counting allocator (sampling or not: that is the
/// sampler's own switch, `sample::set_rate`).
struct Switch;

// SAFETY: forwards every call unchanged to `System` or to the counting allocator over it.
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe {
            match MODE.load(Ordering::Relaxed) {
                SYSTEM => System.alloc(layout),
                _ => COUNTING.alloc(layout),
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe {
            match MODE.load(Ordering::Relaxed) {
                SYSTEM => System.dealloc(ptr, layout),
                _ => COUNTING.dealloc(ptr, layout),
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe {
            match MODE.load(Ordering::Relaxed) {
                SYSTEM => System.realloc(ptr, layout, new_size),
                _ => COUNTING.realloc(ptr, layout, new_size),
            }
        }
    }
}

#[global_allocator]
static GLOBAL: Switch = Switch;

fn sampling(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!(
            "sampling_churn/{threads}_thread{}",
            if threads > 1 { "s" } else { "" }
        ));
        for (name, mode, rate) in [
            ("system", SYSTEM, 0),
            ("counting", COUNT, 0),
            ("counting+sampling_512KiB", COUNT, sample::DEFAULT_RATE),
        ] {
            group.bench_function(name, |b| {
                sample::set_rate(rate);
                MODE.store(mode, Ordering::SeqCst);
                b.iter_custom(|iters| workload::run(threads, iters));
                MODE.store(SYSTEM, Ordering::SeqCst);
                sample::set_rate(0);
            });
        }
        group.finish();
    }
    let stats = sample::stats();
    println!(
        "sampler: {} sampled, {} freed, {} dropped (table full), {} filter false positives",
        stats.sampled, stats.freed, stats.dropped_table_full, stats.filter_false_positives
    );
}

// In a private module, the group function `criterion_group!` generates needs no docs.
mod group {
    criterion::criterion_group! {
        name = benches;
        config = criterion::Criterion::default()
            .sample_size(50)
            .warm_up_time(std::time::Duration::from_secs(1))
            .measurement_time(std::time::Duration::from_secs(4));
        targets = super::sampling
    }
}
criterion_main!(group::benches);
