//! Bodies that fail and processes that die: each must fail with a message that says what
//! happened, never pass and never be reported as a leak.

use crate::fixture::cargo_test;

fn run() -> std::sync::Arc<crate::fixture::Run> {
    cargo_test("failures", &["--test-threads=6"])
}

fn assert_not_a_leak(test: &str) {
    let section = run().section(test).to_owned();
    assert!(
        !section.contains(" leaked "),
        "{test} reported as a leak:\n{section}"
    );
}

#[test]
fn a_panicking_body_fails_the_test_with_its_message() {
    run().assert_failed_with(
        "body_panics",
        &["the test body panicked (a test failure, not a leak): boom from the body"],
    );
    run().assert_failed_with(
        "body_panics_in_a_later_iteration",
        &["the test body panicked (a test failure, not a leak): gave up on call 5"],
    );
    assert_not_a_leak("body_panics");
}

#[test]
fn an_err_from_the_body_fails_the_test_with_the_error() {
    run().assert_failed_with(
        "body_returns_err",
        &["the test body failed (a test failure, not a leak): Error: \"bad input\""],
    );
    assert_not_a_leak("body_returns_err");
}

#[test]
fn a_hung_child_is_killed_at_its_time_limit() {
    run().assert_failed_with(
        "hangs_past_its_time_limit",
        &["ran longer than its time limit of 2s and its child process was killed"],
    );
}

#[test]
fn an_aborting_child_is_a_failure_that_says_so() {
    run().assert_failed_with("aborts", &["was killed by signal 6 (SIGABRT"]);
}

#[test]
fn an_exiting_child_is_a_failure_with_its_last_output() {
    run().assert_failed_with(
        "exits_early",
        &[
            "exited with code 3 before it reported a result",
            "--- last output of the child process ---\nabout to exit",
        ],
    );
}

#[test]
fn a_missing_allocator_fails_with_the_line_to_add() {
    let run = cargo_test("no_allocator", &[]);
    run.assert_failed_with(
        "without_the_allocator",
        &[
            "the counting allocator is not installed",
            "    leakcheck::global_allocator!();",
            "tests/no_allocator.rs",
        ],
    );
}
