leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(flavor = "multi_thread", worker_threads = 2)]
fn not_async() {}

fn main() {}
