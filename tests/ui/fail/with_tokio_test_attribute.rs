leakcheck::global_allocator!();

use leakcheck::leak_test;

mod tokio {
    pub use core::prelude::v1::test;
}

#[leak_test]
#[tokio::test]
fn twice_a_test() {}

fn main() {}
