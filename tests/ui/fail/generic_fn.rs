leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test]
fn generic_test<T: Default>() {
    let _ = T::default();
}

fn main() {}
