//! What a whole run of N trivial clean leak tests costs (N = 10, 1,000, 10,000 in one test
//! binary, debug test build, `--test-threads=2`, as `cargo test` runs it), with records on and
//! off, next to the same N as plain `#[test]`s. The per-test cost must not grow with N, and
//! records must cost at most 1.2x the run without them.
//!
//! The crate is generated under `<target>/leakcheck-bench-scale` (never committed) and built
//! once. Prints criterion's times and, at the end, each variant's median per test and the
//! records-on / records-off ratio.
//!
//! Run with `cargo bench --bench scale` (`SCALE_TESTS=10,1000` for other sizes; the 10,000 runs
//! take about a minute each, 20 samples of them about 20 minutes).

use criterion::{criterion_main, Criterion, SamplingMode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The variants, in the order they are reported.
const VARIANTS: [&str; 3] = [
    "plain_test",
    "leak_test_records_off",
    "leak_test_records_on",
];

/// Wall times per (tests, variant), for the summary.
static TIMES: Mutex<BTreeMap<(usize, usize), Vec<Duration>>> = Mutex::new(BTreeMap::new());

fn bench(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("SCALE_TESTS")
        .unwrap_or_else(|_| "10,1000,10000".to_owned())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("SCALE_TESTS: comma-separated test counts")
        })
        .collect();
    let binaries = build(&sizes);
    for &n in &sizes {
        let mut group = c.benchmark_group(format!("whole_run_{n}_tests"));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_secs(1));
        for (variant, name) in VARIANTS.iter().enumerate() {
            let binary = &binaries[&(n, variant == 0)];
            group.bench_function(*name, |b| {
                b.iter_custom(|runs| {
                    (0..runs)
                        .map(|_| {
                            let took = run(binary, n, variant == 2);
                            TIMES
                                .lock()
                                .unwrap()
                                .entry((n, variant))
                                .or_default()
                                .push(took);
                            took
                        })
                        .sum()
                })
            });
        }
        group.finish();
    }
    summarize();
}

/// Runs a whole test binary as `cargo test` does, failing the benchmark if a test fails.
fn run(binary: &Path, tests: usize, records: bool) -> Duration {
    let dir = binary.with_extension("records");
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let output = Command::new(binary)
        .args(["--test-threads=2", "-q"])
        .env("LEAKCHECK_DIR", &dir)
        .env("LEAKCHECK_RECORDS", if records { "on" } else { "off" })
        .stderr(Stdio::null())
        .output()
        .expect("run the generated test binary");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(&format!("{tests} passed")),
        "the generated tests failed: {stdout}"
    );
    took
}

fn summarize() {
    let times = TIMES.lock().unwrap();
    let median = |key| {
        let mut sorted = times.get(&key).cloned().unwrap_or_default();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied()
    };
    let sizes: std::collections::BTreeSet<usize> = times.keys().map(|&(n, _)| n).collect();
    for n in sizes {
        let per_test: Vec<String> = (0..VARIANTS.len())
            .filter_map(|v| {
                median((n, v))
                    .map(|m| format!("{} {:.2} ms", VARIANTS[v], m.as_secs_f64() * 1e3 / n as f64))
            })
            .collect();
        let ratio = match (median((n, 2)), median((n, 1))) {
            (Some(on), Some(off)) => format!("{:.2}", on.as_secs_f64() / off.as_secs_f64()),
            _ => "-".to_owned(),
        };
        println!(
            "{n} tests, median wall time per test (2 threads): {}; records on/off {ratio}",
            per_test.join(", ")
        );
    }
}

/// Generates the crate (one `leak{N}` and one `plain{N}` test file per size) and builds its
/// test binaries as `cargo test` does; returns them by (size, plain).
fn build(sizes: &[usize]) -> BTreeMap<(usize, bool), PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).expect("<target>/<profile>/deps/");
    let dir = target.join("leakcheck-bench-scale");
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"scale\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dev-dependencies]\nleakcheck = {{ path = {:?} }}\n\n[workspace]\n",
        root.join("leakcheck")
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    write_if_changed(&dir.join("src/lib.rs"), "");
    // The workspace's lock file: the same dependency versions, nothing to resolve.
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    }
    for &n in sizes {
        let mut leak = String::from("leakcheck::global_allocator!();\nuse leakcheck::leak_test;\n");
        let mut plain = String::new();
        for i in 0..n {
            leak.push_str(&format!(
                "#[leak_test] fn t{i:05}() {{ drop(std::hint::black_box(vec![0u8; 64])) }}\n"
            ));
            plain.push_str(&format!(
                "#[test] fn t{i:05}() {{ drop(std::hint::black_box(vec![0u8; 64])) }}\n"
            ));
        }
        write_if_changed(&dir.join(format!("tests/leak{n}.rs")), &leak);
        write_if_changed(&dir.join(format!("tests/plain{n}.rs")), &plain);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .args(["test", "--no-run", "--message-format=json"]);
    for &n in sizes {
        command.args([
            "--test",
            &format!("leak{n}"),
            "--test",
            &format!("plain{n}"),
        ]);
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo test --no-run");
    assert!(
        output.status.success(),
        "building the generated crate failed"
    );
    let mut binaries = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(name), Some(exe)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) else {
            continue;
        };
        let (plain, n) = match name.strip_prefix("plain") {
            Some(n) => (true, n),
            None => (false, name.trim_start_matches("leak")),
        };
        binaries.insert((n.parse().unwrap(), plain), PathBuf::from(exe));
    }
    binaries
}

/// Leaves a file that already holds `text` alone, so that cargo does not rebuild it.
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}

// In a private module, the group function `criterion_group!` generates needs no docs.
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
