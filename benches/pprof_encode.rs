//! What a heap profile costs to write and to read: `ProfileBuilder::encode_gzip` (symbolizing
//! every distinct address, reading `/proc/self/maps` and the build ids, protobuf, deflate) at
//! 10k and 100k live samples, and `decode` + `sites::top` of the result (what
//! `cargo leakcheck profile top` does).
//!
//! The samples are spread over 1,000 distinct stacks of depth 24 drawn from 4,000 distinct
//! return addresses inside this binary's code (a service with a few thousand hot call sites),
//! each with a thread and an age label as the monitor writes them. The symbolizer's caches are
//! warm (the first symbolization of a process parses its debug info once, seconds for a large
//! binary; the monitor pays that once, not per request).
//!
//! Run with `cargo bench --bench pprof_encode`.

use criterion::{BenchmarkId, Criterion};
use leakcheck_probe::pprof::{self, sites, HeapValues, Label, ProfileBuilder};

/// Addresses inside this binary's executable mapping, 48 bytes apart.
fn code_addresses(n: usize) -> Vec<usize> {
    let main = pprof::mappings::current()
        .into_iter()
        .next()
        .expect("this binary's mapping");
    let step = 48;
    let start = main.start as usize + 4096;
    assert!(start + n * step < main.limit as usize, "{main:?}");
    (0..n).map(|i| start + i * step + 1).collect()
}

fn builder(samples: usize) -> ProfileBuilder {
    let pool = code_addresses(4000);
    // A small deterministic generator (xorshift): the same profile every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let stacks: Vec<Vec<usize>> = (0..1000)
        .map(|_| {
            (0..24)
                .map(|_| pool[next() as usize % pool.len()])
                .collect()
        })
        .collect();
    let mut b = ProfileBuilder::heap(512 * 1024);
    for i in 0..samples {
        let size = 64 << (next() % 12);
        let weight = 1.0 / (1.0 - (-(size as f64) / 524_288.0).exp());
        b.add_sample(
            &stacks[i % stacks.len()],
            &HeapValues::live(size, weight).values(),
            vec![
                Label::str("thread", format!("worker-{}", i % 8)),
                Label::num("age", (i % 3600) as i64, "seconds"),
            ],
        );
    }
    b
}

fn main() {
    let mut c = Criterion::default().configure_from_args().sample_size(10);
    let mut group = c.benchmark_group("pprof");
    for samples in [10_000, 100_000] {
        let b = builder(samples);
        let bytes = b.encode_gzip(); // warms the symbolizer
        eprintln!(
            "pprof: {samples} samples -> {} KiB gzipped ({} KiB protobuf)",
            bytes.len() / 1024,
            b.encode().len() / 1024
        );
        group.bench_with_input(BenchmarkId::new("encode_gzip", samples), &b, |bench, b| {
            bench.iter(|| b.encode_gzip())
        });
        group.bench_with_input(
            BenchmarkId::new("decode_top", samples),
            &bytes,
            |bench, bytes| {
                bench.iter(|| {
                    let p = pprof::decode(bytes).unwrap();
                    sites::top(&p, p.default_index().unwrap())
                })
            },
        );
    }
    group.finish();
    c.final_summary();
}
