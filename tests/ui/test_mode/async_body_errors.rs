//! Errors in the user's own code inside `#[leak_test] async fn` bodies must point at that code,
//! not at the attribute. Built as a test target (see `test_mode` in tests/macro_ui.rs).

leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test]
async fn question_mark_with_wrong_error_type() -> Result<(), String> {
    let _n: u32 = "42".parse()?; //~ ERROR couldn't convert the error to `String`
    Ok(())
}

#[leak_test]
async fn wrong_ok_type() -> Result<(), String> {
    Ok(1) //~ ERROR mismatched types
}

#[leak_test]
async fn awaiting_a_non_future() {
    let n = 3u8;
    n.await; //~ ERROR is not a future
}

#[leak_test]
async fn unknown_name() {
    drop(not_defined_anywhere); //~ ERROR cannot find value `not_defined_anywhere`
}
