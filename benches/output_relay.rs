//! What printing costs a test under `#[leak_test]` against plain `#[test]`, as `cargo test` runs
//! it: a body that prints 100 000 lines per call with `eprintln!` (three arguments per line, as
//! bytes' `advance_bytes_mut_remaining_capacity` does), from the fixture
//! `tests/fixtures/controls/tests/chatty.rs`. Each sample runs the fixture's test binary on one
//! test, with libtest capturing the output as under `cargo test`; the `#[leak_test]` runs its
//! child process, which prints on every one of its 10 calls (2 warmup + 8 measured).
//!
//! Prints criterion's times and, at the end, the medians and their ratio: for the whole test, and
//! per call of the body (the leak test's time over 10 plain runs).
//!
//! Run with `cargo bench --bench output_relay` (`CHATTY_LINES=N` for another line count).

use criterion::{criterion_main, Criterion, SamplingMode};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Calls of the body in one `#[leak_test]` with the default settings (warmup + iterations).
const LEAK_TEST_CALLS: f64 = 10.0;
const DEFAULT_LINES: &str = "100000";

/// Wall times of the runs, per variant, for the summary.
static TIMES: Mutex<[Vec<Duration>; 2]> = Mutex::new([Vec::new(), Vec::new()]);

fn bench(c: &mut Criterion) {
    let binary = build_fixture();
    let lines = std::env::var("CHATTY_LINES").unwrap_or_else(|_| DEFAULT_LINES.to_owned());
    let mut group = c.benchmark_group(format!("print_{lines}_lines_per_call"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    for (variant, test) in [
        (0, "plain_test_prints_on_stderr"),
        (1, "prints_on_stderr_and_leaks_nothing"),
    ] {
        let name = ["plain_test", "leak_test"][variant];
        group.bench_function(name, |b| {
            b.iter_custom(|runs| {
                (0..runs)
                    .map(|_| {
                        let took = run_test(&binary, test, &lines);
                        TIMES.lock().unwrap()[variant].push(took);
                        took
                    })
                    .sum()
            })
        });
    }
    group.finish();
    summarize();
}

/// Runs one test of the fixture binary the way `cargo test` does (output captured by libtest),
/// failing the benchmark if the test fails.
fn run_test(binary: &PathBuf, test: &str, lines: &str) -> Duration {
    let started = Instant::now();
    let status = Command::new(binary)
        .args([test, "--exact", "--include-ignored"])
        .env("CHATTY_LINES", lines)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the fixture's test binary");
    let took = started.elapsed();
    assert!(status.success(), "{test} failed ({status})");
    took
}

fn summarize() {
    let times = TIMES.lock().unwrap();
    let [plain, leak] = [0, 1].map(|v| median(&times[v]));
    let ratio = leak.as_secs_f64() / plain.as_secs_f64();
    println!(
        "median wall time: plain #[test] {:.1} ms, #[leak_test] {:.1} ms; ratio {ratio:.1}, \
         {:.1} per call of the body",
        plain.as_secs_f64() * 1e3,
        leak.as_secs_f64() * 1e3,
        ratio / LEAK_TEST_CALLS
    );
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// Builds the fixture's `chatty` test binary as `cargo test` does (the `test` profile), in the
/// target directory the end-to-end tests build the fixtures in, and returns its path.
fn build_fixture() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).expect("<target>/<profile>/deps/");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root.join("tests/fixtures"))
        .env("CARGO_TARGET_DIR", target.join("fixtures"))
        .args([
            "test",
            "--no-run",
            "--test",
            "chatty",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo test --no-run");
    assert!(output.status.success(), "building the fixture failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|m| m["target"]["name"] == "chatty" && m["executable"].is_string())
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo named the chatty test binary")
}

// In a private module, the group function `criterion_group!` generates needs no docs.
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
