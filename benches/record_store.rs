//! What keeping the reports current costs each leak test: saving one new record into a run that
//! already holds N records (10, 1,000, 10,000). A save appends to report.json and junit.xml in
//! place, so its cost must not grow with N. Records are shaped like a clean test's (10 samples,
//! no attribution).
//!
//! Run with `cargo bench --bench record_store`.

use criterion::{criterion_main, BenchmarkId, Criterion};
use leakcheck::_cargo_leakcheck_support::Store;
use leakcheck::record::{Outcome, RunInfo, TestRecord};
use leakcheck::{Check, Config, TestId};
use std::time::Duration;

leakcheck::global_allocator!();

fn record(i: usize, report: &leakcheck::Report) -> TestRecord {
    TestRecord::new(
        "bench".to_owned(),
        TestId::of_fn(
            "bench",
            "store::tests",
            &format!("test_{i}"),
            "benches/record_store.rs",
            1,
        ),
        &Config::default(),
        Outcome::Passed,
        None,
        Some(report.clone()),
        Duration::from_millis(5),
    )
}

fn save(c: &mut Criterion) {
    // A real clean report: 2 warmup + 8 measured iterations.
    let report = Check::new().run(|| drop(std::hint::black_box(vec![0u8; 64])));
    let mut group = c.benchmark_group("save_record");
    for existing in [10usize, 1_000, 10_000] {
        let dir = std::env::temp_dir().join(format!("leakcheck-bench-store-{existing}"));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::at(&dir);
        let info = || RunInfo::starting_now("bench".to_owned());
        for i in 0..existing {
            store.save(&record(i, &report), info).unwrap();
        }
        // Each iteration saves a test the run has not seen (a retry would rebuild).
        let mut next = existing;
        group.bench_function(BenchmarkId::from_parameter(existing), |b| {
            b.iter_batched(
                || {
                    next += 1;
                    record(next, &report)
                },
                |new| store.save(&new, info).unwrap(),
                criterion::BatchSize::SmallInput,
            )
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

fn benches() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    save(&mut c);
}

criterion_main!(benches);
