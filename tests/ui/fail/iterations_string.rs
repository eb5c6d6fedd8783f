leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(iterations = "ten")]
fn iterations_in_words() {}

fn main() {}
