//! Errors in the user's own code inside `#[leak_test]` bodies must point at that code, not at
//! the attribute. Built as a test target (see `test_mode` in tests/macro_ui.rs); each error must
//! land on a line marked with `//~ ERROR` and a part of its message.

leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(iterations = 4)]
fn type_error_in_body() -> Result<(), String> {
    let count: usize = "three"; //~ ERROR mismatched types
    assert_eq!(count, 3);
    Ok(())
}

#[leak_test]
fn question_mark_with_wrong_error_type() -> Result<(), String> {
    let _n: u32 = "42".parse()?; //~ ERROR couldn't convert the error to `String`
    Ok(())
}

#[leak_test]
fn wrong_ok_type() -> Result<(), String> {
    Ok(1) //~ ERROR mismatched types
}

#[leak_test]
fn unknown_name() {
    drop(not_defined_anywhere); //~ ERROR cannot find value `not_defined_anywhere`
}

fn main() {}
