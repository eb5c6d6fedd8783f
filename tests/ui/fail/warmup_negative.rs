leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(warmup = -1)]
fn negative_warmup() {}

fn main() {}
