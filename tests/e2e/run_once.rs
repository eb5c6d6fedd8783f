//! Tests that cannot run twice (tests/fixtures/controls/tests/run_once.rs): a plain leak test of
//! one fails saying which run failed and that it passed before; `runs = 1` checks it from its
//! single run, where a thread or fd left behind is a leak and heap growth only suspicious.

use crate::fixture::{cargo_test_with, record_of, records_dir, Run};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// One run of the fixture binary, with its records.
fn run() -> (Arc<Run>, &'static PathBuf) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| records_dir("run-once-records"));
    let run = cargo_test_with(
        "run_once",
        &["--test-threads=4"],
        &[("LEAKCHECK_DIR", dir.to_str().unwrap())],
    );
    (run, dir)
}

/// Asserts that `test` passed with `needles` in its output, and returns its record.
fn passed(test: &str, needles: &[&str]) -> serde_json::Value {
    let (run, dir) = run();
    run.assert_passed_with(test, needles);
    let record = record_of(dir, test);
    assert_eq!(record["outcome"], "passed", "{record:#}");
    record
}

const PASSED_BEFORE: &str = "passed on its first run and failed on run 2: the body depends on \
                             state left by an earlier run";
const WHAT_TO_DO: &str = "Check it from a single run with `#[leak_test(runs = 1)]`";

#[test]
fn a_global_drop_counter_fails_saying_it_passed_its_first_run() {
    let (run, dir) = run();
    run.assert_failed_with(
        "global_drop_counter",
        &[
            PASSED_BEFORE,
            "and a leak test runs it 10 or more times",
            WHAT_TO_DO,
            "or reset that state at the start of the body",
            // The body's own failure is kept.
            "On run 2 the body panicked: assertion `left == right` failed",
            "left: 20",
        ],
    );
    let record = record_of(dir, "global_drop_counter");
    assert_eq!(record["outcome"], "failed", "{record:#}");
    let message = record["message"].as_str().unwrap_or_default();
    assert!(message.contains(PASSED_BEFORE), "{message}");
}

#[test]
fn a_once_only_initialiser_and_a_process_wide_setting_say_so_too() {
    let (run, _) = run();
    run.assert_failed_with(
        "once_only_initialiser",
        &[
            PASSED_BEFORE,
            "On run 2 the body panicked: the initialiser did not run",
        ],
    );
    run.assert_failed_with(
        "process_wide_setting",
        &[
            PASSED_BEFORE,
            "On run 2 the body failed: Error: \"the setting is already \\\"/tmp/override\\\"\"",
        ],
    );
}

/// Negative control: a body wrong from its first run is a plain test failure.
#[test]
fn a_body_failing_on_its_first_run_keeps_the_plain_message() {
    let (run, dir) = run();
    run.assert_failed_with(
        "fails_on_its_first_run",
        &["the test body panicked (a test failure, not a leak): assertion `left == right` failed: wrong from the start"],
    );
    assert!(
        !run.section("fails_on_its_first_run")
            .contains("passed on its first run"),
        "{}",
        run.section("fails_on_its_first_run")
    );
    let record = record_of(dir, "fails_on_its_first_run");
    let message = record["message"].as_str().unwrap_or_default();
    assert!(!message.contains("passed on its first run"), "{message}");
}

/// In the test's own process the body's panic unwinds as it is; the explanation comes before it.
#[test]
fn in_place_the_explanation_is_printed_before_the_panic() {
    let run = cargo_test_with(
        "run_once",
        &["--exact", "global_drop_counter"],
        &[("LEAKCHECK_ISOLATE", "0")],
    );
    run.assert_failed_with(
        "global_drop_counter",
        &[PASSED_BEFORE, WHAT_TO_DO, "left: 20"],
    );
}

#[test]
fn a_single_run_that_leaves_a_thread_is_a_leak_naming_it() {
    let (run, dir) = run();
    run.assert_failed_with(
        "once_leaks_a_thread",
        &[
            "leakcheck: `once_leaks_a_thread` leaked threads",
            "a single run between two snapshots (runs = 1)",
            "threads  LEAK       +1 (+1.00 per iteration): +1 threads still there after the \
             single run and its settle (runs = 1)",
            "threads still alive that were not at the baseline:",
            "once-poller",
        ],
    );
    let record = record_of(dir, "once_leaks_a_thread");
    assert_eq!(record["outcome"], "leaked", "{record:#}");
    assert_eq!(record["figures"]["threads"], "leak", "{record:#}");
    // std's allocations for the thread stay with it: growth, but never a leak from one run.
    assert_eq!(record["figures"]["heap"], "suspicious", "{record:#}");
    assert_eq!(record["config"]["single_run"], true, "{record:#}");
    assert_eq!(record["report"]["single_run"], true, "{record:#}");
    assert_eq!(record["figures"]["measured"], 1, "{record:#}");
    assert_eq!(record["figures"]["warmup"], 0, "{record:#}");
}

#[test]
fn a_single_run_that_leaves_an_fd_is_a_leak_naming_it() {
    let (run, dir) = run();
    run.assert_failed_with(
        "once_leaks_an_fd",
        &[
            "leakcheck: `once_leaks_an_fd` leaked file descriptors",
            "fds      LEAK       +2 (+2.00 per iteration)",
            "file descriptors still open that were not at the baseline:",
            "tests/fixtures/controls/Cargo.toml",
            "]  tcp 127.0.0.1:",
            " (listening)",
        ],
    );
    let record = record_of(dir, "once_leaks_an_fd");
    assert_eq!(record["figures"]["fds"], "leak", "{record:#}");
}

/// The clean twin: the same kind of body, run once, leaving nothing behind.
#[test]
fn a_single_run_that_leaves_nothing_passes_clean() {
    let record = passed(
        "once_leaves_nothing",
        &[
            "leakcheck: `once_leaves_nothing` clean",
            "heap clean",
            "threads clean (+0)",
            "fds clean (+0)",
            "; a single run between two snapshots (runs = 1)",
        ],
    );
    assert_eq!(record["figures"]["verdict"], "clean", "{record:#}");
}

#[test]
fn a_lazy_static_filled_by_a_single_run_is_suspicious_not_a_leak() {
    let record = passed(
        "once_fills_a_lazy_static",
        &[
            "leakcheck: `once_fills_a_lazy_static` suspicious",
            "heap     suspicious",
            "one run cannot tell a leak from lazy initialisation",
            "threads  clean",
        ],
    );
    assert_eq!(record["figures"]["heap"], "suspicious", "{record:#}");
}

#[test]
fn a_single_async_run_that_leaves_a_task_is_a_leak_and_its_twin_passes() {
    let (run, dir) = run();
    run.assert_failed_with(
        "once_leaks_a_task",
        &[
            "leakcheck: `once_leaks_a_task` leaked",
            "tasks    LEAK       +1 (+1.00 per iteration)",
        ],
    );
    assert_eq!(
        record_of(dir, "once_leaks_a_task")["figures"]["tasks"],
        "leak"
    );
    passed(
        "once_awaits_its_task",
        &["tasks clean (+0)", "threads clean (+0)"],
    );
}
