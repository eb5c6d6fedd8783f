//! A `#[leak_test]` with a bad option is still emitted as a test, with the defaults, next to the
//! error (as `#[tokio::test]` is; leakcheck-macros' unit tests check the expansion): the only
//! errors are the option's and the body's own, none from the test built around the body. Built
//! as a test target (see `test_mode` in tests/macro_ui.rs), where the test is type-checked.

#![deny(dead_code)]

leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(iterations = "ten")] //~ ERROR `iterations` takes a whole number
fn bad_value() {}

#[leak_test(iterashuns = 3)] //~ ERROR unknown option `iterashuns`
fn unknown_option() {}

#[leak_test(warmup = 2, flavor = "multi_thread")] //~ ERROR configures the runtime of an `async fn`
fn runtime_option_on_plain_fn() {}

#[leak_test(warmup = -1)] //~ ERROR `warmup` cannot be negative
async fn async_with_bad_value() {}

#[leak_test(timeout = "ten")] //~ ERROR `timeout` takes a whole number
fn body_is_still_checked() {
    let _n: usize = "three"; //~ ERROR mismatched types
}

fn main() {}
