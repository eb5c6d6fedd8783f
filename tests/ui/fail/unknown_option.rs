leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(iterashuns = 3)]
fn misspelled_option() {}

fn main() {}
