leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(max_bytes_per_iter = -1)]
fn negative_budget() {}

fn main() {}
