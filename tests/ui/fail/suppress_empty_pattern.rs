leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(suppress_fds = ["/tmp/*", ""])]
fn empty_pattern() {}

fn main() {}
