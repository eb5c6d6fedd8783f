leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(suppress_threads = [pool, 2])]
fn numbers_are_not_patterns() {}

fn main() {}
