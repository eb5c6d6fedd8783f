//! Tests that run in place save a provisional record first and then their final one (issue 14):
//! through a real run, `report.json` and `junit.xml` hold every test once with its final record,
//! and a test whose process aborts keeps the provisional one, saying it crashed.

use crate::fixture::{cargo_test_with, nextest_with, records_dir, Outcome, Run};
use std::path::Path;

/// The fixture's trivial tests (`t00`…`t39`), besides `zz_aborts`.
const TRIVIAL: usize = 40;

/// Checks the records under `dir` after a run of the whole fixture binary: every test once, the
/// trivial ones passed with their final record, `zz_aborts` failed with the provisional one, and
/// junit.xml agreeing; no provisional record left listed as such.
fn assert_records(run: &Run, dir: &Path) {
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}):\n{}", run.output));
    let report: serde_json::Value = serde_json::from_str(&text).expect("report.json is JSON");
    let tests = report["tests"].as_array().unwrap();
    assert_eq!(tests.len(), TRIVIAL + 1, "{text}");
    let mut names: Vec<&str> = tests
        .iter()
        .map(|t| t["test"]["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), TRIVIAL + 1, "a test twice: {names:?}");
    let passed = tests.iter().filter(|t| t["outcome"] == "passed").count();
    assert_eq!(passed, TRIVIAL, "{text}");
    let aborted = tests
        .iter()
        .find(|t| t["test"]["name"] == "zz_aborts")
        .unwrap_or_else(|| panic!("no record of zz_aborts:\n{text}"));
    assert_eq!(aborted["outcome"], "failed", "{aborted:#}");
    assert!(
        aborted["message"]
            .as_str()
            .unwrap()
            .contains("ended before the test reported a result"),
        "{aborted:#}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), TRIVIAL + 1, "{junit}");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    assert!(
        junit.contains(&format!("tests=\"{}\" failures=\"1\"", TRIVIAL + 1)),
        "{junit}"
    );
    // One record file per test in the run's one folder.
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(std::fs::read_dir(&runs[0]).unwrap().count(), TRIVIAL + 1);
}

#[test]
fn under_nextest_every_test_keeps_its_final_record_and_an_abort_its_provisional_one() {
    let dir = records_dir("provisional-nextest");
    let run = nextest_with(
        &["provisional"],
        &[("LEAKCHECK_DIR", dir.to_str().unwrap())],
    );
    for i in 0..TRIVIAL {
        assert_eq!(
            run.outcome(&format!("t{i:02}")),
            Outcome::Passed,
            "{}",
            run.output
        );
    }
    assert_eq!(run.outcome("zz_aborts"), Outcome::Failed, "{}", run.output);
    assert_records(&run, &dir);
    // nextest ran every test in a process of its own, all gone now: the last save made every
    // provisional record it saw final; what `run.json` may still list is the aborted test only.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    let pending: Vec<&str> = state["pending"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|p| p["file"].as_str().unwrap())
        .collect();
    assert!(
        pending.is_empty() || (pending.len() == 1 && pending[0].contains("zz_aborts")),
        "{state:#}"
    );
}

#[test]
fn in_place_in_one_process_an_abort_keeps_the_records_of_the_tests_before_it() {
    let dir = records_dir("provisional-in-place");
    let run = cargo_test_with(
        "provisional",
        &["--test-threads=1"],
        &[
            ("LEAKCHECK_DIR", dir.to_str().unwrap()),
            ("LEAKCHECK_ISOLATE", "0"),
        ],
    );
    // The abort ended the test binary (its captured output went with it): libtest reports
    // no result for `zz_aborts`, and cargo says how the binary ended.
    assert!(!run.outcomes.contains_key("zz_aborts"), "{}", run.output);
    assert!(run.output.contains("SIGABRT"), "{}", run.output);
    assert_records(&run, &dir);
}
