leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(suspicious = "strict")]
fn strict() {}

fn main() {}
