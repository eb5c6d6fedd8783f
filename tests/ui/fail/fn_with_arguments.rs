leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test]
fn takes_arguments(size: usize, name: &str) {
    let _ = (size, name);
}

fn main() {}
