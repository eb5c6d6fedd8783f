//! Thread positive controls: each test leaves threads behind and must fail naming them: name,
//! state, what they are blocked in, and where they were spawned.

use crate::fixture::cargo_test;

fn assert_thread_leak(test: &str, thread_name: &str, blocked_in: &str) {
    let run = cargo_test("thread_leaks", &["--test-threads=3"]);
    run.assert_failed_with(
        test,
        &[
            // The heap std allocated for each thread is still held: a leak of its own.
            &format!("leakcheck: `{test}` leaked heap, threads"),
            "threads  LEAK       +8 (+1.00 per iteration)",
            "increasing in iterations 1, 2, 3, 4, 5, 6, 7, 8",
            "threads still alive that were not at the baseline:",
            &format!("{thread_name:<16} sleeping in "),
            blocked_in,
            // Found from the allocations std made to spawn each thread.
            &format!(", spawned at thread_leaks::{test}::{test} (tests/thread_leaks.rs:"),
        ],
    );
    let listed = run.section(test).matches(thread_name).count();
    assert!(
        listed >= 8,
        "{listed} `{thread_name}` threads listed:\n{}",
        run.section(test)
    );
}

#[test]
fn thread_blocked_on_a_channel() {
    assert_thread_leak("thread_blocked_on_a_channel", "blocked-recv", "(futex)");
}

#[test]
fn thread_looping_forever() {
    assert_thread_leak("thread_looping_forever", "poller", "(clock_nanosleep)");
}

#[test]
fn thread_waiting_on_a_condvar() {
    assert_thread_leak("thread_waiting_on_a_condvar", "cv-waiter", "(futex)");
}
