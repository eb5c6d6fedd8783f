//! Bodies that fail and processes that die: each must fail with a message that says what
//! happened, never pass and never be reported as a leak.

use crate::fixture::{body_runs, cargo_test, cargo_test_with, target_dir, Run};
use std::path::Path;
use std::sync::Arc;

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
    // Calls 0 to 4 passed: the sixth run is the one that failed (tests/e2e/run_once.rs).
    run().assert_failed_with(
        "body_panics_in_a_later_iteration",
        &[
            "the test body passed on its first run and failed on run 6",
            "On run 6 the body panicked: gave up on call 5",
        ],
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
    assert_not_a_leak("aborts");
}

#[test]
fn a_segfaulting_child_is_a_failure_with_its_last_output() {
    run().assert_failed_with(
        "segfaults",
        &[
            "was killed by signal 11 (SIGSEGV: invalid memory access) before it reported a result",
            "--- last output of the child process ---\nabout to write through a null pointer",
        ],
    );
    assert_not_a_leak("segfaults");
}

#[test]
fn a_child_killed_as_by_the_oom_killer_says_so() {
    run().assert_failed_with(
        "killed_like_by_the_oom_killer",
        &[
            "was killed by signal 9 (SIGKILL: killed, e.g. by the OOM killer) before it reported",
            "--- last output of the child process ---\nabout to be killed",
        ],
    );
    assert_not_a_leak("killed_like_by_the_oom_killer");
}

#[test]
fn a_child_out_of_memory_under_a_limit_says_it_ran_out_of_memory() {
    run().assert_failed_with(
        "runs_out_of_memory_under_a_limit",
        &[
            "was killed by signal 6 (SIGABRT",
            "It ran out of memory: \"memory allocation of 1073741824 bytes failed\"",
            // Its stdout and stderr come through separate pipes: their order is not fixed.
            "--- last output of the child process ---\n",
            "address space limited to ",
        ],
    );
    assert_not_a_leak("runs_out_of_memory_under_a_limit");
    // Without the runtime's line, an abort is not blamed on memory.
    assert!(!run().section("aborts").contains("ran out of memory"));
}

#[test]
fn exit_code_zero_in_the_body_is_told_apart_from_a_test_that_did_not_run() {
    run().assert_failed_with(
        "exits_with_code_zero",
        &[
            "the child process running `exits_with_code_zero` exited with code 0 before it \
             reported a result",
            "--- last output of the child process ---\nabout to exit with 0",
        ],
    );
    assert!(!run()
        .section("exits_with_code_zero")
        .contains("ran no test"));
    assert_not_a_leak("exits_with_code_zero");
    // The real case: libtest knows no test by the name the harness was called with.
    run().assert_failed_with(
        "runs_under_another_name",
        &[
            "the child process for `a_name_libtest_does_not_know` ran no test: libtest found no \
           test named exactly `a_name_libtest_does_not_know`",
        ],
    );
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

/// Runs one of the fixture's ignored cases on its own: they flood the output or end the process.
fn alone(test: &str, envs: &[(&str, &str)]) -> Arc<Run> {
    cargo_test_with("failures", &["--ignored", "--exact", test], envs)
}

/// The number in the relay's note "N more bytes of output from the child process were not
/// shown", if the section has the note.
fn dropped_bytes(section: &str) -> Option<u64> {
    let (head, _) = section.split_once(" more bytes of output from the child process were not")?;
    head.rsplit(' ').next()?.parse().ok()
}

#[test]
fn a_flood_without_newlines_ends_at_the_time_limit_with_bounded_output() {
    let test = "floods_stdout_without_newlines_until_its_time_limit";
    let run = alone(test, &[]);
    run.assert_failed_with(
        test,
        &[
            "ran longer than its time limit of 3s and its child process was killed",
            "--- last output of the child process ---\n[...]xxxx",
        ],
    );
    let section = run.section(test);
    // The relay forwarded at most 1 MiB and counted the rest.
    assert!(
        section.len() < (1 << 20) + 16 * 1024,
        "captured {} bytes",
        section.len()
    );
    assert!(
        dropped_bytes(section).is_some_and(|n| n > 0),
        "{}",
        &section[section.len() - 2048..]
    );
    // The failure message quotes exactly the last 4 KiB.
    let (_, quoted) = section
        .split_once("--- last output of the child process ---\n[...]")
        .unwrap();
    assert_eq!(quoted.bytes().take_while(|&b| b == b'x').count(), 4096);
}

#[test]
fn a_16_mib_flood_that_leaks_nothing_still_passes_with_the_first_mib_shown() {
    let test = "floods_stdout_with_16_mib_and_leaks_nothing";
    let run = alone(test, &[]);
    run.assert_passed_with(test, &[&format!("leakcheck: `{test}` clean"), "heap clean"]);
    let section = run.section(test);
    let runs = body_runs(section).expect("summary line") as u64;
    assert!(runs >= 16, "{runs} runs");
    // Each run prints 1 MiB in 64-byte lines; the first MiB is relayed whole, the rest counted.
    let shown = section
        .lines()
        .filter(|l| l.len() == 63 && l.bytes().all(|b| b == b'y'))
        .count();
    assert_eq!(shown, (1 << 20) / 64);
    assert_eq!(dropped_bytes(section), Some((runs - 1) << 20));
    assert!(
        section.len() < (1 << 20) + 4096,
        "captured {} bytes",
        section.len()
    );
}

/// The record a test left in `dir` (`runs/<run>/<test>-<hash>.json`): there must be one.
fn the_record(dir: &Path, test: &str) -> serde_json::Value {
    let files: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flat_map(|run| std::fs::read_dir(run.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&format!("__{test}-")))
        })
        .collect();
    assert_eq!(files.len(), 1, "records of {test}: {files:?}");
    serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap()
}

/// Runs an in-place case, which ends the test binary, with its records in a directory of its own.
fn in_place(test: &str) -> (Arc<Run>, serde_json::Value) {
    let dir = target_dir().join("e2e-faults").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    let run = alone(test, &[("LEAKCHECK_DIR", dir.to_str().unwrap())]);
    // libtest never got to print a result line: the process ended, with a failure code.
    assert_eq!(run.outcomes.get(test), None, "{}", run.output);
    assert!(run.output.contains("error: test failed"), "{}", run.output);
    let record = the_record(&dir, test);
    (run, record)
}

#[test]
fn in_place_a_hang_is_ended_at_its_time_limit_and_recorded() {
    let test = "hangs_in_place_past_its_time_limit";
    let (run, record) = in_place(test);
    let message = format!(
        "leakcheck: `{test}` ran longer than its time limit of 2s and its process was ended (exit \
         code 101). Raise the limit with `#[leak_test(timeout = SECONDS)]` or LEAKCHECK_TIMEOUT."
    );
    assert!(run.output.contains(&message), "{}", run.output);
    assert_eq!(record["outcome"], "failed", "{record}");
    assert_eq!(record["message"], message.as_str(), "{record}");
}

#[test]
fn in_place_an_exit_in_the_body_fails_and_is_recorded() {
    let test = "exits_in_place_with_code_zero";
    let (run, record) = in_place(test);
    let message = format!(
        "leakcheck: the process running `{test}` is exiting before the test reported a result"
    );
    assert!(run.output.contains(&message), "{}", run.output);
    assert_eq!(record["outcome"], "failed", "{record}");
    assert!(
        record["message"].as_str().unwrap().starts_with(&message),
        "{record}"
    );
}
