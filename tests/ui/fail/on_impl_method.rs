leakcheck::global_allocator!();

use leakcheck::leak_test;

struct Pool;

impl Pool {
    #[leak_test]
    fn checkout(&self) {}
}

fn main() {}
