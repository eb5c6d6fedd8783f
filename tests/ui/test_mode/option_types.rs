//! A value the macro accepts but its option's type does not (a suffixed integer) is reported on
//! that value, not on the attribute or inside leakcheck: each option is a builder call spanned on
//! its value. Built as a test target (see `test_mode` in tests/macro_ui.rs).

leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(
    warmup = 2,
    iterations = 4u8, //~ ERROR mismatched types
    max_bytes_per_iter = 4096,
)]
fn suffixed_integer() {}

#[leak_test(
    settle_ms = 10,
    timeout = 60i32, //~ ERROR mismatched types
)]
fn suffixed_timeout() {}

fn main() {}
