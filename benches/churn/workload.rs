//! The churn workload the allocator benches share (`churn_overhead`, `sampling_overhead`): one
//! call of a typical test body — strings formatted, sorted and joined, a `HashMap` of byte
//! vectors built and dropped, about 130 allocations — and a timed run of many on N threads.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// One call of a typical test body: format, sort, index and join some strings.
pub(crate) fn body(seed: u64) -> usize {
    let mut words: Vec<String> = (0..32)
        .map(|i| format!("item-{}-{i}", seed.wrapping_mul(31) ^ i))
        .collect();
    words.sort();
    let index: HashMap<u64, Vec<u8>> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (i as u64, w.as_bytes().to_vec()))
        .collect();
    let joined = words.join(",");
    black_box(&index);
    joined.len() + index.len()
}

/// Runs `iters` bodies on each of `threads` threads; the time of the slowest thread.
pub(crate) fn run(threads: usize, iters: u64) -> Duration {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(body(i + t as u64));
                    }
                    start.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap_or_default()
    })
}
