leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(worker_threads = 2)]
async fn on_the_default_runtime() {}

#[leak_test(flavor = "current_thread", worker_threads = 4)]
async fn on_the_current_thread_runtime() {}

fn main() {}
