//! What one `/debug/pprof/heap` costs the service: `Profiler::encode` of a sampler snapshot
//! (trimming the allocator's frames, symbolizing, protobuf, deflate) and `sample::snapshot`
//! itself, at 1k, 10k and 16k live samples — 16,384 is the sampler's table
//! (`leakcheck_alloc::sample::LIVE_CAPACITY`), so a service never has more; the encoder alone
//! at 100k samples is in `benches/pprof_encode.rs`.
//!
//! The heap is real: blocks allocated through the counting allocator with every allocation
//! sampled (rate 1 byte), from 256 distinct stacks (a recursion of depth 0..16 under 16
//! functions), then sampling is turned off so that the bench's own allocations are not
//! sampled. Symbol caches are warm, as they are for every request but a process's first.
//!
//! Run with `cargo bench --bench heap_request`.

use criterion::{BenchmarkId, Criterion};
use leakcheck_alloc::sample;
use leakcheck_monitor::profile::Profiler;
use std::hint::black_box;

leakcheck_monitor::global_allocator!();

#[inline(never)]
fn nest(depth: usize, keep: &mut Vec<Vec<u8>>) {
    if depth == 0 {
        keep.push(black_box(vec![0u8; 64]));
    } else {
        nest(black_box(depth - 1), keep);
    }
}

macro_rules! sites {
    ($($name:ident),*) => {
        $(#[inline(never)] fn $name(depth: usize, keep: &mut Vec<Vec<u8>>) { nest(depth, keep) })*
        const SITES: &[fn(usize, &mut Vec<Vec<u8>>)] = &[$($name),*];
    };
}
sites!(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15);

/// `n` live sampled blocks over 256 stacks.
fn heap(n: usize) -> Vec<Vec<u8>> {
    let mut keep = Vec::with_capacity(n);
    sample::set_rate(1);
    for i in 0..n {
        SITES[i % 16](i / 16 % 16, &mut keep);
    }
    sample::set_rate(0);
    keep
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("heap_request");
    group.sample_size(20);
    let profiler = Profiler::new();
    // The first profile parses this binary's debug info: what that keeps on the heap.
    let before = leakcheck_alloc::counters().live_bytes();
    drop(heap(10));
    black_box(profiler.encode(None, &sample::snapshot()));
    let symbols = leakcheck_alloc::counters()
        .live_bytes()
        .saturating_sub(before);
    eprintln!(
        "symbolizer caches after the first profile: {} KiB",
        symbols / 1024
    );
    for n in [1_000usize, 10_000, 16_000] {
        let kept = heap(n);
        let snapshot = sample::snapshot();
        assert!(
            snapshot.live.len() >= n * 95 / 100,
            "{} live samples for {n} blocks",
            snapshot.live.len()
        );
        // Warm the symbol cache once, as the first request does.
        let bytes = profiler.encode(None, &snapshot);
        eprintln!("{n} live samples: a {} KiB profile", bytes.len() / 1024);
        group.bench_with_input(BenchmarkId::new("snapshot", n), &n, |b, _| {
            b.iter(|| black_box(sample::snapshot().live.len()))
        });
        group.bench_with_input(BenchmarkId::new("encode", n), &n, |b, _| {
            b.iter(|| black_box(profiler.encode(None, &snapshot).len()))
        });
        drop(kept);
    }
    group.finish();
    c.final_summary();
}
