//! File-descriptor positive controls: each test leaves fds open and must fail naming them.

use crate::fixture::{cargo_test, cargo_test_with, record_of, records_dir};

fn assert_fd_leak(test: &str, per_iteration: &str, target: &str) {
    let run = cargo_test("fd_leaks", &["--test-threads=3"]);
    run.assert_failed_with(
        test,
        &[
            &format!("leakcheck: `{test}` leaked file descriptors"),
            per_iteration,
            "file descriptors still open that were not at the baseline:",
            target,
        ],
    );
}

#[test]
fn forgotten_file() {
    assert_fd_leak(
        "forgotten_file",
        "fds      LEAK       +8 (+1.00 per iteration)",
        "file       /",
    );
    let run = cargo_test("fd_leaks", &["--test-threads=3"]);
    assert!(run
        .section("forgotten_file")
        .contains("tests/fixtures/controls/Cargo.toml"));
}

#[test]
fn forgotten_tcp_listener() {
    assert_fd_leak(
        "forgotten_tcp_listener",
        "fds      LEAK       +8 (+1.00 per iteration)",
        "socket     socket:[",
    );
    let run = cargo_test("fd_leaks", &["--test-threads=3"]);
    let section = run.section("forgotten_tcp_listener");
    assert!(
        section.contains("]  tcp 127.0.0.1:") && section.contains(" (listening)"),
        "the socket's address and state are resolved:\n{section}"
    );
}

#[test]
fn forgotten_pipe_ends() {
    assert_fd_leak(
        "forgotten_pipe_ends",
        "fds      LEAK       +16 (+2.00 per iteration)",
        "pipe       pipe:[",
    );
}

/// Two real leaks in one body: the fd leak, confirmed in the first round, does not stop the run
/// before the heap's leak is confirmed too. An fd leak alone leaves the heap clean.
#[test]
fn a_heap_leak_beside_an_fd_leak_is_confirmed_too() {
    let dir = records_dir("fd-and-heap-records");
    let run = cargo_test_with(
        "fd_leaks",
        &[
            "--exact",
            "forgotten_file_and_its_buffers",
            "forgotten_file",
        ],
        &[("LEAKCHECK_DIR", dir.to_str().unwrap())],
    );
    run.assert_failed_with(
        "forgotten_file_and_its_buffers",
        &[
            "leaked heap, file descriptors",
            "+248.0 B / +4.00 blocks per iteration",
        ],
    );
    // (heap, fds) verdicts, as the records say.
    let verdicts = |test: &str| {
        let figures = &record_of(&dir, test)["figures"];
        (figures["heap"].clone(), figures["fds"].clone())
    };
    assert_eq!(
        verdicts("forgotten_file_and_its_buffers"),
        ("leak".into(), "leak".into())
    );
    assert_eq!(verdicts("forgotten_file"), ("clean".into(), "leak".into()));
}
