//! What attribution costs a failing test: the same leaky body checked with and without the
//! traced iterations. The difference is three traced iterations (a backtrace per allocation)
//! plus resolving the top call sites (warm after the first run in a process; the first
//! resolution in a process also loads the binary's debug info).
//!
//! Counting-only cost, which every test pays, is in `alloc_overhead` and `churn_overhead`.
//!
//! `profiled_check`: what `profile = true` adds to a clean test — one traced iteration, its
//! sites resolved and its pprof file encoded and written — for bodies of 20, 200 and 2,000
//! allocations per call, so that the cost per allocation and its growth can be read off.
//!
//! Run with `cargo bench --bench attribution_cost`.

use criterion::{criterion_main, Criterion};
use leakcheck::Check;
use std::hint::black_box;

leakcheck::global_allocator!();

/// Allocations per call of the body (plus the one it leaks).
const ALLOCATIONS: usize = 200;

fn leaky_body() {
    for i in 0..ALLOCATIONS {
        black_box(vec![i as u8; 32 + i % 64]);
    }
    Box::leak(Box::new([0u8; 16]));
}

fn attribution(c: &mut Criterion) {
    let mut group = c.benchmark_group("failing_check");
    for (name, on) in [("counting_only", false), ("with_attribution", true)] {
        group.bench_function(name, |b| {
            // One measured round: the heap is then suspicious (not confirmed) and is traced.
            let check = Check::new()
                .warmup(0)
                .iterations(2)
                .max_iterations(2)
                .attribute(on);
            b.iter(|| {
                let report = check.run(leaky_body);
                assert_eq!(report.attribution.is_some(), on);
                black_box(report)
            });
        });
    }
    group.finish();

    // The pprof file goes to a scratch records directory, as a named test's would.
    let dir = std::env::temp_dir().join("leakcheck-bench-profile");
    std::env::set_var("LEAKCHECK_DIR", &dir);
    let mut group = c.benchmark_group("profiled_check");
    for allocations in [20usize, 200, 2000] {
        let body = move || {
            for i in 0..allocations {
                black_box(vec![i as u8; 32 + i % 64]);
            }
        };
        for (name, on) in [("plain", false), ("profiled", true)] {
            group.bench_function(format!("{name}/{allocations}"), |b| {
                let check = Check::new()
                    .name("profiled_bench")
                    .warmup(0)
                    .iterations(2)
                    .max_iterations(2)
                    .profile(on);
                b.iter(|| {
                    let report = check.run(body);
                    assert_eq!(report.profile.is_some(), on);
                    black_box(report)
                });
            });
        }
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

// In a private module, the group function `criterion_group!` generates needs no docs.
mod group {
    criterion::criterion_group! {
        name = benches;
        config = criterion::Criterion::default()
            .sample_size(30)
            .warm_up_time(std::time::Duration::from_secs(1))
            .measurement_time(std::time::Duration::from_secs(4));
        targets = super::attribution
    }
}
criterion_main!(group::benches);
