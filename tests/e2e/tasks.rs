//! `#[leak_test] async fn` on tokio, through real `cargo test` (a child process per test) and
//! `cargo nextest run` (in place): a task left behind per call fails the test on either runtime
//! flavor, with the task count per iteration and the line that spawned it; tasks that are
//! awaited, aborted, timed out, joined or dropped with their `JoinSet` are clean; an `Err` from
//! an async body is a test failure, not a leak; a plain test next to them has no tasks line.

use crate::fixture::{cargo_test, cargo_test_with, fixtures_dir, nextest, Run};
use std::sync::Arc;

/// The positive controls: each spawns one task per call that never completes.
const LEAKING: &[&str] = &[
    "task_pending_forever",
    "task_waiting_on_a_kept_sender",
    "task_pending_forever_multi_thread",
];

/// The negative controls: tasks (or a timed-out future) that end every way tokio offers.
const CLEAN: &[&str] = &[
    "task_spawned_and_awaited",
    "task_aborted_and_awaited",
    "task_aborted_without_awaiting",
    "future_timed_out",
    "task_timing_out_after_the_body",
    "tasks_joined",
    "join_set_dropped",
    "multi_thread_tasks_awaited",
    "question_mark_in_an_async_body",
];

fn under_cargo_test() -> Arc<Run> {
    cargo_test("tasks", &["--test-threads=4"])
}

fn under_nextest() -> Arc<Run> {
    nextest(&["tasks"])
}

/// The line of the `tokio::spawn(` in the fixture's `async fn test`.
fn spawn_line(test: &str) -> usize {
    let path = fixtures_dir().join("controls/tests/tasks.rs");
    let source = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(&format!("async fn {test}(")))
        .unwrap_or_else(|| panic!("no `async fn {test}` in {}", path.display()));
    start
        + 1
        + lines[start..]
            .iter()
            .position(|l| l.contains("tokio::spawn("))
            .unwrap_or_else(|| panic!("`{test}` spawns nothing"))
}

fn assert_task_leaks(run: &Run) {
    for &test in LEAKING {
        run.assert_failed_with(
            test,
            &[
                // Each task's future is still on the heap: a leak of its own.
                &format!("leakcheck: `{test}` leaked heap, tasks"),
                // One task per iteration, on top of the two left by the warmup.
                "tasks    LEAK       +8 (+1.00 per iteration): +8 tasks over 8 iterations, \
                 increasing in iterations 1, 2, 3, 4, 5, 6, 7, 8",
                "count after each iteration: 2 3 4 5 6 7 8 9 10",
                // The task's own allocation, attributed to the line that spawned it.
                &format!(
                    "1 block / 128 B       at tasks::{test}::{test}::{{{{closure}}}} (tests/tasks.rs:{})",
                    spawn_line(test)
                ),
                // The runtime's threads and fds are in the baseline.
                "threads  clean",
                "fds      clean",
            ],
        );
    }
}

fn assert_clean_async_tests(run: &Run) {
    for &test in CLEAN {
        run.assert_passed_with(
            test,
            &[
                &format!("leakcheck: `{test}` clean"),
                "heap clean (+0.0 B, +0.00 blocks/iter)",
                "threads clean (+0)",
                "fds clean (+0)",
                "tasks clean (+0)",
            ],
        );
    }
}

fn assert_err_is_a_test_failure(run: &Run) {
    let test = "async_body_returns_err";
    run.assert_failed_with(
        test,
        &["the test body failed (a test failure, not a leak): \
           Error: \"bad number: invalid digit found in string\""],
    );
    assert!(
        !run.section(test).contains("leaked"),
        "{}",
        run.section(test)
    );
}

fn assert_sync_test_has_no_tasks(run: &Run) {
    let test = "sync_test_next_to_async_ones";
    run.assert_passed_with(
        test,
        &[&format!("leakcheck: `{test}` clean"), "fds clean (+0);"],
    );
    assert!(
        !run.section(test).contains("tasks"),
        "{}",
        run.section(test)
    );
}

#[test]
fn cargo_test_fails_tasks_that_never_complete_on_both_flavors() {
    assert_task_leaks(&under_cargo_test());
}

#[test]
fn cargo_test_passes_tasks_that_end() {
    assert_clean_async_tests(&under_cargo_test());
}

#[test]
fn cargo_test_reports_an_async_err_as_a_test_failure() {
    assert_err_is_a_test_failure(&under_cargo_test());
}

#[test]
fn cargo_test_shows_no_tasks_for_a_sync_test() {
    assert_sync_test_has_no_tasks(&under_cargo_test());
}

#[test]
fn nextest_fails_tasks_that_never_complete_on_both_flavors() {
    assert_task_leaks(&under_nextest());
}

#[test]
fn nextest_passes_tasks_that_end() {
    assert_clean_async_tests(&under_nextest());
}

#[test]
fn nextest_reports_an_async_err_as_a_test_failure() {
    assert_err_is_a_test_failure(&under_nextest());
}

#[test]
fn nextest_shows_no_tasks_for_a_sync_test() {
    assert_sync_test_has_no_tasks(&under_nextest());
}

/// With the task count off, the leaked task is still caught: by the heap it keeps.
#[test]
fn with_tasks_off_the_heap_still_catches_a_leaked_task() {
    let test = "task_pending_forever";
    let run = cargo_test_with("tasks", &["--exact", test], &[("LEAKCHECK_TASKS", "0")]);
    run.assert_failed_with(
        test,
        &[
            &format!("leakcheck: `{test}` leaked heap"),
            "+128.0 B / +1.00 blocks per iteration",
            "tasks    off",
            &format!(
                "at tasks::{test}::{test}::{{{{closure}}}} (tests/tasks.rs:{})",
                spawn_line(test)
            ),
        ],
    );
}
