leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test]
async fn async_test() {}

fn main() {}
