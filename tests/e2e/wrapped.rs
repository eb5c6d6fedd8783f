//! The heap sampler over other allocators than System: the fixture crate `tests/fixtures/wrapped`
//! wraps the system's real jemalloc and mimalloc in the counting allocator and runs the same
//! sampler checks as `leakcheck-alloc/tests/sampling.rs` (exact bookkeeping at rate 1, stacks,
//! unbiased estimates, full tables, threads, the filter), plus a check that the blocks came
//! from the wrapped allocator.

use super::fixture;

/// The checks every allocator must pass, by name (a check renamed or dropped from the shared
/// file fails here rather than passing unseen).
const CHECKS: [&str; 12] = [
    "rate_zero_samples_nothing",
    "every_sampled_block_is_recorded_and_freed_ones_leave_the_table",
    "stacks_name_the_allocating_function",
    "a_full_table_counts_drops_and_recovers",
    "concurrent_threads_lose_nothing",
    "estimate_of_a_known_live_heap_is_unbiased",
    "a_one_in_eight_pattern_is_sampled_in_proportion",
    "filter_false_positive_rate",
    "threads_without_a_slot_of_their_own_are_sampled_too",
    "the_live_table_fills_nearly_to_capacity_before_it_drops",
    "allocations_inside_the_allocator_are_never_sampled",
    "sampling_leaves_the_counters_exact",
];

fn passes_over(allocator: &str) {
    let out = fixture::cargo()
        .args([
            "test",
            "-p",
            "leakcheck-fixture-wrapped",
            "--test",
            allocator,
        ])
        .output()
        .expect("cargo test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the sampler's checks over {allocator} failed (the fixture links the system's \
         libjemalloc.so.2 and libmimalloc.so.2: Debian's libjemalloc2 and libmimalloc2.0, which \
         .ci/run installs)\n{stdout}\n{stderr}"
    );
    let check = format!("blocks_come_from_{allocator}");
    for name in CHECKS.iter().map(|c| format!("checks::{c}")).chain([check]) {
        assert!(
            stdout.contains(&format!("test {name} ... ok")),
            "{name} did not pass over {allocator}\n{stdout}"
        );
    }
}

#[test]
fn the_sampler_checks_pass_over_jemalloc() {
    passes_over("jemalloc");
}

#[test]
fn the_sampler_checks_pass_over_mimalloc() {
    passes_over("mimalloc");
}
