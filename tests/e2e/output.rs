//! Bodies that print a lot (`tests/fixtures/controls/tests/chatty.rs`, 20 000 lines per call).
//! Under `cargo test` their output goes through the child's pipes to the parent, never into the
//! child's heap: a chatty body that leaks nothing is clean, one that leaks is still caught, and
//! the first MiB of what they print is shown. Under nextest they run in place, unrelayed, with
//! the same verdicts.

use crate::fixture::{cargo_test, nextest, Run};
use std::sync::Arc;

const CLEAN: [&str; 2] = [
    "prints_on_stderr_and_leaks_nothing",
    "prints_on_stdout_and_leaks_nothing",
];
const LEAKY: &str = "prints_and_leaks_a_block_per_call";

fn assert_verdicts(run: &Run) {
    for test in CLEAN {
        run.assert_passed_with(test, &[&format!("leakcheck: `{test}` clean"), "heap clean"]);
    }
    run.assert_failed_with(LEAKY, &["leaked heap", "heap     LEAK"]);
}

fn run() -> Arc<Run> {
    cargo_test("chatty", &["--test-threads=3"])
}

#[test]
fn under_cargo_test_a_chatty_body_is_judged_on_its_own_heap() {
    assert_verdicts(&run());
}

#[test]
fn under_cargo_test_the_first_mib_of_a_chatty_body_is_shown_and_the_rest_counted() {
    let run = run();
    let section = run.section(CLEAN[0]);
    assert!(
        section.contains("testing capacity=0, len=0, advance=0\n"),
        "{}",
        &section[..section.len().min(2048)]
    );
    assert!(
        section.contains(" more bytes of output from the child process were not shown"),
        "{}",
        &section[section.len().saturating_sub(2048)..]
    );
    assert!(
        section.len() < (1 << 20) + 4096,
        "captured {} bytes",
        section.len()
    );
    // Whole lines only: the cap falls between two of the child's lines.
    let cut = section
        .lines()
        .filter(|l| l.starts_with("testing capacity="))
        .find(|l| !l.contains(", advance="));
    assert_eq!(cut, None);
}

#[test]
fn under_nextest_a_chatty_body_runs_in_place_with_the_same_verdicts() {
    assert_verdicts(&nextest(&["chatty"]));
}
