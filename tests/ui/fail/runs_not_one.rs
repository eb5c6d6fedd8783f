leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(runs = 3)]
fn three_runs() {}

#[leak_test(runs = 1, warmup = 2)]
fn once_with_warmup() {}

fn main() {}
