//! Under `cargo nextest run` every test already has its own process: leak tests run in place and
//! reach the same verdicts.

use crate::fixture::{nextest, Outcome};

#[test]
fn nextest_runs_in_place_with_the_same_verdicts() {
    let run = nextest(&["clean", "fd_leaks", "heap_leaks"]);
    assert_eq!(
        run.outcome("box_leak_one_byte"),
        Outcome::Failed,
        "{}",
        run.output
    );
    assert!(
        run.section("box_leak_one_byte").contains("leaked heap"),
        "{}",
        run.output
    );
    for test in [
        "forgotten_file",
        "forgotten_tcp_listener",
        "forgotten_pipe_ends",
    ] {
        assert_eq!(run.outcome(test), Outcome::Failed, "{test}");
        assert!(
            run.section(test).contains("leaked file descriptors"),
            "{}",
            run.section(test)
        );
    }
    for test in [
        "bounded_cache_fills_then_plateaus",
        "thread_pool_started_on_first_use",
        "println_in_the_body",
    ] {
        assert_eq!(
            run.outcome(test),
            Outcome::Passed,
            "{test}:\n{}",
            run.section(test)
        );
        assert!(
            run.section(test)
                .contains(&format!("leakcheck: `{test}` clean")),
            "{}",
            run.section(test)
        );
    }
    // In place: no child process marker.
    assert!(
        run.section("reports_where_it_runs")
            .contains("leakcheck-child=None"),
        "{}",
        run.output
    );
}
