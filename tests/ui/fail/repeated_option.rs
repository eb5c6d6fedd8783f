leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(iterations = 3, iterations = 4)]
fn repeated_option() {}

fn main() {}
