//! Attribution as a whole: it does not change verdicts, its fingerprints are stable from run to
//! run, and it survives a body whose threads allocate while it traces.

use crate::fixture::{cargo_test, cargo_test_with, Outcome};

const HEAP_LEAKS: [&str; 8] = [
    "box_leak_one_byte",
    "mem_forget_a_vec",
    "growing_global_map",
    "growing_global_vec",
    "rc_cycle",
    "callback_registry",
    "allocation_made_on_another_thread",
    "four_kib_every_other_iteration",
];

/// The measured part of a report: the verdict line, the iteration counts and each resource's
/// verdict (figures such as bytes per iteration are left out: the harness's own start-up may
/// shift them by a few bytes between processes; verdicts and counts may not move).
fn verdict_lines(section: &str) -> Vec<String> {
    section
        .lines()
        .filter_map(|l| {
            if l.starts_with("leakcheck: ") || l.contains(" measured iterations") {
                Some(l.replace(" + 3 traced to find where", ""))
            } else if ["  heap ", "  threads ", "  fds "]
                .iter()
                .any(|p| l.starts_with(p))
            {
                Some(l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn tracing_does_not_change_verdicts() {
    let traced = cargo_test("heap_leaks", &["--test-threads=4"]);
    let untraced = cargo_test_with(
        "heap_leaks",
        &["--test-threads=4"],
        &[("LEAKCHECK_ATTRIBUTE", "0")],
    );
    for test in HEAP_LEAKS {
        assert_eq!(traced.outcome(test), untraced.outcome(test), "{test}");
        assert!(
            !untraced.section(test).contains("surviving allocations"),
            "{test} traced with LEAKCHECK_ATTRIBUTE=0"
        );
        let (a, b) = (
            verdict_lines(traced.section(test)),
            verdict_lines(untraced.section(test)),
        );
        assert_eq!(a.len(), 5, "{test}: {a:?}");
        assert_eq!(a, b, "{test}");
    }
}

fn fingerprints(section: &str) -> Vec<String> {
    section
        .lines()
        .filter_map(|l| l.split("fingerprint ").nth(1))
        .map(|f| f.chars().take(16).collect())
        .collect()
}

#[test]
fn fingerprints_are_stable_across_runs() {
    let first = cargo_test("heap_leaks", &["--test-threads=4"]);
    let second = cargo_test("heap_leaks", &["--test-threads=2"]);
    for test in HEAP_LEAKS {
        let (a, b) = (
            fingerprints(first.section(test)),
            fingerprints(second.section(test)),
        );
        assert_eq!(a, b, "{test}");
    }
    let all: Vec<String> = HEAP_LEAKS
        .iter()
        .flat_map(|t| fingerprints(first.section(t)))
        .collect();
    assert!(all.len() >= 7, "{all:?}");
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        all.len(),
        "different leaks, different fingerprints: {all:?}"
    );
}

#[test]
fn tracing_survives_threads_that_allocate_meanwhile() {
    let run = cargo_test("tracing", &[]);
    assert_eq!(
        run.outcome("leaks_while_its_threads_allocate"),
        Outcome::Failed
    );
    run.assert_failed_with(
        "leaks_while_its_threads_allocate",
        &[
            "leaked heap",
            "+ 3 traced to find where",
            "1 block / 32 B        at tracing::leaks_while_its_threads_allocate::leaks_while_its_threads_allocate (tests/tracing.rs:26)",
        ],
    );
}
