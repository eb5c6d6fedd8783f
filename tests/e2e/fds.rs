//! File-descriptor positive controls: each test leaves fds open and must fail naming them.

use crate::fixture::cargo_test;

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
