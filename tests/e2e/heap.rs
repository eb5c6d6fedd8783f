//! Heap positive controls: every test leaks heap memory and must fail naming the heap, and the
//! traced iterations must name where the surviving blocks were allocated.

use crate::fixture::{cargo_test, cargo_test_with, Outcome};

fn assert_heap_leak(test: &str, per_iteration: &str, site: &str) {
    let run = cargo_test("heap_leaks", &["--test-threads=4"]);
    run.assert_failed_with(
        test,
        &[
            &format!("leakcheck: `{test}` leaked heap"),
            "heap     LEAK",
            per_iteration,
            "threads  clean",
            "fds      clean",
            "live bytes after each iteration:",
            "surviving allocations by call site (per iteration, from 3 traced iterations):",
            site,
        ],
    );
}

#[test]
fn box_leak_of_one_byte() {
    assert_heap_leak(
        "box_leak_one_byte",
        "+1.0 B / +1.00 blocks per iteration",
        "1 block / 1 B         at heap_leaks::box_leak_one_byte::box_leak_one_byte (tests/heap_leaks.rs:14)",
    );
}

#[test]
fn mem_forget() {
    assert_heap_leak(
        "mem_forget_a_vec",
        "+100.0 B / +1.00 blocks per iteration",
        "1 block / 100 B       at heap_leaks::mem_forget_a_vec::mem_forget_a_vec (tests/heap_leaks.rs:19)",
    );
}

#[test]
fn growing_global_map() {
    assert_heap_leak(
        "growing_global_map",
        "+1.00 blocks per iteration",
        "at heap_leaks::growing_global_map::growing_global_map (tests/heap_leaks.rs:29)",
    );
}

#[test]
fn growing_global_vec_with_amortized_growth() {
    // Live bytes only move when the capacity doubles: no block is allocated in the traced
    // iterations, and the report says why instead of naming a wrong site.
    assert_heap_leak(
        "growing_global_vec",
        "+0.00 blocks per iteration",
        "no allocation made while tracing survived the next iteration",
    );
}

#[test]
fn rc_cycle() {
    assert_heap_leak(
        "rc_cycle",
        "+4.00 blocks per iteration",
        "4 blocks / 176 B      at heap_leaks::rc_cycle::rc_cycle (tests/heap_leaks.rs:47)",
    );
}

#[test]
fn callback_registry() {
    // The leak is made inside a helper of the library under test: the helper comes first, then
    // the test that called it.
    assert_heap_leak(
        "callback_registry",
        "+2.00 blocks per iteration",
        "at leakcheck_fixture_controls::register_listener (src/lib.rs:12)\n                          \
         ← heap_leaks::callback_registry::callback_registry (tests/heap_leaks.rs:54)",
    );
}

#[test]
fn allocation_made_on_another_thread() {
    // Attributed to the spawned thread's stack: the closure in the body that runs on it.
    assert_heap_leak(
        "allocation_made_on_another_thread",
        "+1.00 blocks per iteration",
        "1 block / 512 B       at heap_leaks::allocation_made_on_another_thread::allocation_made_on_another_thread::{{closure}} (tests/heap_leaks.rs:61)",
    );
    let run = cargo_test("heap_leaks", &["--test-threads=4"]);
    assert!(run
        .section("allocation_made_on_another_thread")
        .contains("allocated on 2 threads that have since exited"));
}

#[test]
fn intermittent_four_kib_every_other_iteration() {
    assert_heap_leak(
        "four_kib_every_other_iteration",
        "+2048.0 B / +0.50 blocks per iteration",
        "0.5 blocks / 2048 B   at heap_leaks::four_kib_every_other_iteration::four_kib_every_other_iteration (tests/heap_leaks.rs:70)",
    );
}

#[test]
fn no_heap_control_passes() {
    let run = cargo_test("heap_leaks", &["--test-threads=4"]);
    assert_eq!(run.outcomes.len(), 8, "{}", run.output);
    assert!(run.outcomes.values().all(|o| *o == Outcome::Failed));
}

/// A leak is not a panic in the harness: with `RUST_BACKTRACE=1`, as many CI setups set it, the
/// failure still ends with the report, not with leakcheck's own stack. In a child process (the
/// default) and in place.
#[test]
fn a_leak_fails_with_its_report_and_no_backtrace_of_the_harness() {
    let test = "box_leak_one_byte";
    for isolate in ["1", "0"] {
        let run = cargo_test_with(
            "heap_leaks",
            &["--exact", test],
            &[("RUST_BACKTRACE", "1"), ("LEAKCHECK_ISOLATE", isolate)],
        );
        let headline = format!("leakcheck: `{test}` leaked heap");
        run.assert_failed_with(test, &[&headline, "heap     LEAK"]);
        let section = run.section(test);
        let report = &section[section.find(&headline).unwrap()..];
        for noise in [
            "stack backtrace:",
            "leakcheck::entry",
            "panicked at",
            "RUST_BACKTRACE",
        ] {
            assert!(
                !report.contains(noise),
                "LEAKCHECK_ISOLATE={isolate}: {noise:?} after the report:\n{section}"
            );
        }
    }
}
