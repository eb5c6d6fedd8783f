//! Bodies whose element types are inferred from a later comparison. They compile under
//! `#[test]` in a crate without leakcheck, and must compile unchanged under `#[leak_test]`.
//! Today they fail even as plain `#[test]`s (the twin at the end) in any crate that depends on
//! leakcheck: its dependency serde_json implements `PartialEq<serde_json::Value>` for `u8`,
//! `i32`, `u32`, …, so `u8: PartialEq<_>` has two candidates and inference stops (E0282/E0283).
//! Built by `inference_sensitive_bodies` in tests/macro_ui.rs, ignored until that is gone.

leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(iterations = 2)]
fn element_type_from_a_later_comparison() {
    let source = [3u8, 1, 4];
    let mut copied = Vec::new();
    copied.extend(source.iter());
    assert_eq!(&source[..], &copied[..]);
}

/// `&[]` has no element type of its own: it comes from the slice it is compared with.
#[leak_test(iterations = 2)]
fn empty_array_against_a_deref() {
    let mut stack: Vec<u32> = vec![9];
    stack.pop();
    assert_eq!(&*stack, &[]);
}

#[leak_test(iterations = 2)]
fn empty_array_against_a_full_range() {
    let counts: Vec<i32> = Vec::with_capacity(4);
    assert_eq!(&counts[..], &[]);
}

/// The same body as a plain test: it fails to compile here too, so the macro is not the cause.
#[test]
fn plain_twin() {
    let source = [2u8, 7];
    let mut copied = Vec::new();
    copied.extend(source.iter());
    assert_eq!(&source[..], &copied[..]);
}

fn main() {}
