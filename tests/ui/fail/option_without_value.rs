leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(iterations)]
fn option_without_value() {}

fn main() {}
