leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(heap = "off")]
fn heap_off_as_a_string() {}

fn main() {}
