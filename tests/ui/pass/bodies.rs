//! Bodies that compile under `#[test]` compile unchanged under `#[leak_test]`: the function is
//! kept as written, so its own inner attributes, `return`, `?`, labels and locals work as in any
//! function. (As a closure, the inner attribute was a compile error: E0658.)

leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(iterations = 2)]
fn inner_attribute_on_the_body() {
    #![allow(unused_variables)]
    let never_read = 7;
}

#[leak_test(iterations = 2)]
fn early_return() {
    let limit = 3;
    for n in 0.. {
        if n == limit {
            return;
        }
    }
    unreachable!();
}

#[leak_test(iterations = 2)]
fn question_mark() -> Result<(), std::num::ParseIntError> {
    let n: u16 = "512".parse()?;
    assert_eq!(n, 512);
    Ok(())
}

#[leak_test(iterations = 2)]
fn labelled_break() {
    let found = 'search: {
        for row in 0..4 {
            for col in 0..4 {
                if row * col == 6 {
                    break 'search Some((row, col));
                }
            }
        }
        None
    };
    assert_eq!(found, Some((2, 3)));
}

#[leak_test(iterations = 2)]
fn impl_trait_locals() {
    fn evens(up_to: u32) -> impl Iterator<Item = u32> {
        (0..up_to).filter(|n| n % 2 == 0)
    }
    let doubled = evens(7).map(|n| n * 2);
    let add = |a: u32| move |b: u32| a + b;
    assert_eq!(doubled.map(add(1)).collect::<Vec<_>>(), [1, 5, 9, 13]);
}

/// Kept on the test, as are the lint attributes.
#[leak_test(iterations = 2)]
#[allow(clippy::needless_return)]
#[cfg_attr(any(), ignore)]
fn attributes_on_the_function() {
    return;
}

#[leak_test(iterations = 2)]
#[should_panic]
fn should_panic_without_a_message() {
    panic!("every run");
}

#[leak_test(iterations = 2)]
#[should_panic(expected = "out of range")]
fn should_panic_with_a_message() {
    let v: Vec<u8> = Vec::new();
    let i = 3;
    assert!(i < v.len(), "index {i} out of range");
}

#[leak_test(iterations = 2)]
#[should_panic = "boom"]
fn should_panic_name_value() {
    panic!("boom");
}

#[leak_test(iterations = 2)]
#[should_panic(expected = "async boom")]
async fn should_panic_async() {
    std::future::ready(()).await;
    panic!("async boom");
}

fn main() {}
