//! Heap positive controls: every test leaks heap memory and must fail naming the heap.

use crate::fixture::cargo_test;

fn assert_heap_leak(test: &str, per_iteration: &str) {
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
        ],
    );
}

#[test]
fn box_leak_of_one_byte() {
    assert_heap_leak("box_leak_one_byte", "+1.0 B / +1.00 blocks per iteration");
}

#[test]
fn mem_forget() {
    assert_heap_leak("mem_forget_a_vec", "+100.0 B / +1.00 blocks per iteration");
}

#[test]
fn growing_global_map() {
    assert_heap_leak("growing_global_map", "+1.00 blocks per iteration");
}

#[test]
fn growing_global_vec_with_amortized_growth() {
    assert_heap_leak("growing_global_vec", "+0.00 blocks per iteration");
}

#[test]
fn rc_cycle() {
    assert_heap_leak("rc_cycle", "+4.00 blocks per iteration");
}

#[test]
fn callback_registry() {
    assert_heap_leak("callback_registry", "+2.00 blocks per iteration");
}

#[test]
fn allocation_made_on_another_thread() {
    assert_heap_leak(
        "allocation_made_on_another_thread",
        "+1.00 blocks per iteration",
    );
}

#[test]
fn intermittent_four_kib_every_other_iteration() {
    assert_heap_leak(
        "four_kib_every_other_iteration",
        "+2048.0 B / +0.50 blocks per iteration",
    );
}

#[test]
fn no_heap_control_passes() {
    let run = cargo_test("heap_leaks", &["--test-threads=4"]);
    assert_eq!(run.outcomes.len(), 8, "{}", run.output);
    assert!(run
        .outcomes
        .values()
        .all(|o| *o == crate::fixture::Outcome::Failed));
}
