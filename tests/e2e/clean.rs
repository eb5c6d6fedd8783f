//! Negative controls: every clean pattern passes, and passes clean, while running in parallel with
//! the other tests of its binary (isolation keeps them from being blamed for each other).

use crate::fixture::{cargo_test, Outcome};

#[test]
fn every_clean_pattern_passes_clean() {
    let run = cargo_test("clean", &["--test-threads=4"]);
    for test in [
        "lazy_static_initialised_on_first_use",
        "bounded_cache_fills_then_plateaus",
        "sawtooth_buffer_flushed_every_five_calls",
        "oscillating_buffer",
        "thread_pool_started_on_first_use",
        "detached_thread_that_finishes_a_moment_later",
        "println_in_the_body",
        "allocator_noise_from_temporaries",
        "allocated_on_one_thread_freed_on_another",
        "file_opened_and_closed",
        "tcp_connection_opened_and_closed",
        "returns_ok",
        "reports_where_it_runs",
        "nested::in_a_module",
    ] {
        assert_eq!(
            run.outcome(test),
            Outcome::Passed,
            "{test}:\n{}",
            run.section(test)
        );
    }
    run.assert_all_clean();
    assert_eq!(run.outcome("ignored_but_clean"), Outcome::Ignored);
    // Clean tests never pay for attribution.
    for (test, outcome) in &run.outcomes {
        if *outcome == Outcome::Passed {
            let section = run.section(test);
            assert!(!section.contains("traced"), "{test} was traced:\n{section}");
        }
    }
}

#[test]
fn a_clean_test_needs_ten_body_runs() {
    let run = cargo_test("clean", &["--test-threads=4"]);
    for test in [
        "lazy_static_initialised_on_first_use",
        "allocator_noise_from_temporaries",
        "println_in_the_body",
    ] {
        run.assert_passed_with(test, &["2 warmup + 8 measured iterations"]);
    }
}

#[test]
fn output_of_the_body_is_relayed_to_libtest() {
    let run = cargo_test("clean", &["--test-threads=4"]);
    let section = run.section("println_in_the_body");
    // Once per body run, as the summary line counts them.
    let runs = crate::fixture::body_runs(section).expect("a summary line");
    assert_eq!(
        section.matches("some output from the body").count(),
        runs,
        "{section}"
    );
    assert_eq!(
        section.matches("and some on stderr").count(),
        runs,
        "{section}"
    );
    assert!(
        !section.contains("running 1 test"),
        "libtest framing relayed:\n{section}"
    );
}

#[test]
fn each_test_runs_in_a_child_process_under_cargo_test() {
    let run = cargo_test("clean", &["--test-threads=4"]);
    run.assert_passed_with(
        "reports_where_it_runs",
        &["leakcheck-child=Some(\"reports_where_it_runs\")"],
    );
}

#[test]
fn an_ignored_test_run_with_ignored_runs_in_its_child() {
    let run = cargo_test("clean", &["--ignored"]);
    run.assert_passed_with(
        "ignored_but_clean",
        &["leakcheck: `ignored_but_clean` clean"],
    );
}

#[test]
fn isolation_can_be_turned_off() {
    let run = cargo_test("in_place", &["--test-threads=1"]);
    run.assert_failed_with(
        "leaks_in_place",
        &["leakcheck: `leaks_in_place` leaked heap"],
    );
    // clean_in_place asserts it is not in a child process.
    run.assert_passed_with("clean_in_place", &["leakcheck: `clean_in_place` clean"]);
}
