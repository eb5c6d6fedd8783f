leakcheck::global_allocator!();

#[leakcheck::leak_tests]
mod leak_tests_out_of_line_tests;

fn main() {}
