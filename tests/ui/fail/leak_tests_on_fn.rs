leakcheck::global_allocator!();

#[leakcheck::leak_tests]
fn not_a_module() {}

fn main() {}
