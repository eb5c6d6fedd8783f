//! Under `cargo nextest run` a leak test runs in place, with no parent process to watch it: its
//! time limit is enforced by a watchdog, and a body that ends the process fails the test.

use crate::fixture::{nextest_with, Outcome, Run};
use std::path::PathBuf;
use std::sync::Arc;

/// The run's records, in a directory of its own.
fn records() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faults-nextest-records")
}

fn run() -> Arc<Run> {
    let dir = records();
    nextest_with(&["failures"], &[("LEAKCHECK_DIR", dir.to_str().unwrap())])
}

/// The record of `test` in the run's report.json.
fn record_of(test: &str) -> serde_json::Value {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(records().join("report.json")).unwrap()).unwrap();
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["test"]["name"] == test)
        .unwrap_or_else(|| panic!("no record of `{test}` in {report:#}"))
        .clone()
}

#[test]
fn under_nextest_a_hang_is_ended_by_the_watchdog_at_its_time_limit() {
    let run = run();
    run.assert_failed_with(
        "hangs_past_its_time_limit",
        &[
            "leakcheck: `hangs_past_its_time_limit` ran longer than its time limit of 2s and its \
           process was ended (exit code 101). Raise the limit with `#[leak_test(timeout = \
           SECONDS)]` or LEAKCHECK_TIMEOUT.",
        ],
    );
    // Ended by leakcheck as a failing test, not by nextest's own slow-test timeout.
    assert!(
        run.output.contains("FAIL [") && !run.output.contains("TIMEOUT ["),
        "{}",
        run.output
    );
}

#[test]
fn under_nextest_an_exit_in_the_body_is_a_failure_not_a_pass() {
    let run = run();
    for test in ["exits_with_code_zero", "exits_early"] {
        run.assert_failed_with(
            test,
            &[&format!(
                "leakcheck: the process running `{test}` is exiting before the test reported a \
                 result (`process::exit` in the test or the code it calls); the test fails (exit \
                 code 101)"
            )],
        );
    }
}

#[test]
fn under_nextest_crashes_fail_with_their_signal_and_last_output() {
    let run = run();
    for (test, needles) in [
        (
            "segfaults",
            ["SIGSEGV", "about to write through a null pointer"],
        ),
        (
            "killed_like_by_the_oom_killer",
            ["SIGKILL", "about to be killed"],
        ),
        (
            "runs_out_of_memory_under_a_limit",
            ["SIGABRT", "memory allocation of 1073741824 bytes failed"],
        ),
    ] {
        run.assert_failed_with(test, &needles);
        assert!(
            !run.section(test).contains(" leaked "),
            "{}",
            run.section(test)
        );
        // The crash left no verdict, but the run keeps a record that says the test ended early.
        let record = record_of(test);
        assert_eq!(record["outcome"], "failed", "{record:#}");
        assert!(
            record["message"]
                .as_str()
                .unwrap()
                .contains("ended before the test reported a result"),
            "{record:#}"
        );
    }
    // A test that ends normally replaces that first record with its own.
    let record = record_of("body_returns_err");
    assert!(
        record["message"].as_str().unwrap().contains("bad input"),
        "{record:#}"
    );
    // A test that runs to its end is not touched by the guards.
    assert_eq!(run.outcome("runs_under_another_name"), Outcome::Passed);
    assert!(run
        .section("runs_under_another_name")
        .contains("leakcheck: `a_name_libtest_does_not_know` clean"));
}
