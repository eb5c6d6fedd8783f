leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(flavor = "bogus")]
async fn unknown_flavor() {}

#[leak_test(flavor = multi_thread)]
async fn flavor_not_a_string() {}

fn main() {}
