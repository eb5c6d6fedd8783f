leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(isolate = 1)]
fn isolate_as_number() {}

fn main() {}
