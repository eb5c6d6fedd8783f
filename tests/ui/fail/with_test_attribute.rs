leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test]
#[test]
fn tested_twice() {}

fn main() {}
