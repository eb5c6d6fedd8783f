//! Without leakcheck's `tokio` feature an async test is one compile error, on its `async`, that
//! says which feature to enable. Built as a test target of a package whose leakcheck dependency
//! has no features (see `without_the_tokio_feature` in tests/macro_ui.rs).

leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test]
async fn needs_a_runtime() {} //~ ERROR needs leakcheck's `tokio` feature

#[leak_test(flavor = "multi_thread", worker_threads = 2)]
pub async fn with_options() -> Result<(), String> { //~ ERROR features = ["tokio"]
    Ok(())
}

#[leak_test]
fn a_plain_test_still_builds() {}
