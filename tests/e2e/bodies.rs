//! Test bodies written for `#[test]` run as leak tests unchanged, and `#[leak_tests]` turns a
//! module's `#[test]`s into leak tests: the fixture's tests/bodies.rs under real `cargo test`.

use crate::fixture::{body_runs, cargo_test, Outcome, Run};
use std::sync::Arc;

fn run() -> Arc<Run> {
    cargo_test("bodies", &["--test-threads=4", "--include-ignored"])
}

#[test]
fn bodies_written_for_test_run_clean() {
    for test in ["inner_attribute_and_inference", "question_mark_and_return"] {
        run().assert_passed_with(test, &[&format!("leakcheck: `{test}` clean")]);
    }
}

#[test]
fn an_error_returned_through_question_mark_fails_the_test() {
    run().assert_failed_with(
        "question_mark_error_fails",
        &[
            "the test body failed (a test failure, not a leak)",
            "InvalidDigit",
        ],
    );
}

#[test]
fn should_panic_passes_when_every_run_panics_and_nothing_leaks() {
    let run = run();
    let test = "should_panic_clean";
    run.assert_passed_with(test, &["leakcheck: `should_panic_clean` clean"]);
    // Checked over every run, each of which panicked.
    let runs = body_runs(run.section(test));
    let panics = run.section(test).matches("\nno such key\n").count();
    assert_eq!(runs, Some(panics), "{}", run.section(test));
    assert!(panics >= 10, "{}", run.section(test));
    run.assert_passed_with(
        "should_panic_async_clean",
        &["leakcheck: `should_panic_async_clean` clean"],
    );
}

#[test]
fn should_panic_fails_on_a_leak_a_return_or_another_message() {
    let note = "is #[should_panic], so libtest reports the failure as";
    run().assert_failed_with("should_panic_but_leaks", &["leaked heap", note]);
    for test in ["should_panic_but_returns", "should_panic_async_but_returns"] {
        run().assert_failed_with(test, &["it returned without panicking", note]);
    }
    run().assert_failed_with(
        "should_panic_with_another_message",
        &[
            "it panicked with \"that message\"",
            "expects a message containing \"this message\"",
            note,
        ],
    );
}

#[test]
fn a_module_of_tests_becomes_leak_tests_with_its_options() {
    let run = run();
    let clean = "suite::clean_with_module_options";
    run.assert_passed_with(clean, &["clean"]);
    // The module's `iterations = 3` after the default 2 warmup runs.
    assert_eq!(
        body_runs(run.section(clean)),
        Some(5),
        "{}",
        run.section(clean)
    );
    run.assert_failed_with("suite::heap_leak_fails", &["leaked heap"]);
    run.assert_failed_with("suite::nested::thread_leak_fails", &["leaked", "threads"]);
    // Its own options: heap not judged, 4 iterations.
    let own = "suite::own_options_win";
    run.assert_passed_with(own, &[]);
    assert_eq!(body_runs(run.section(own)), Some(6), "{}", run.section(own));
}

#[test]
fn an_ignored_test_in_the_module_stays_ignored() {
    // Run with `--include-ignored`: it ran, as a leak test.
    let run = run();
    run.assert_passed_with("suite::ignored", &["leakcheck: `"]);
    assert_eq!(run.outcome("suite::ignored"), Outcome::Passed);
}
