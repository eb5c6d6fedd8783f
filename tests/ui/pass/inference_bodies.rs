//! Ordinary test bodies compile in a crate that depends on leakcheck. serde_json, once a
//! dependency of leakcheck, implements `PartialEq<serde_json::Value>` for `u8`, `i32`, `str`…;
//! every crate depending on leakcheck saw those impls and these comparisons stopped inferring
//! their types (E0282/E0283), under `#[leak_test]` and plain `#[test]` alike.

leakcheck::global_allocator!();

use leakcheck::leak_test;

macro_rules! bodies {
    () => {{
        let a = [1u8, 2, 3];
        let mut v = Vec::new();
        v.extend(a.iter());
        assert_eq!(&a[..], &v[..]);

        let w: Vec<i32> = vec![];
        assert_eq!(&w[..], &[]);

        let s = String::new();
        let mut sum = Vec::new();
        sum.extend(s.bytes());
        assert_eq!(s.as_bytes(), &sum[..]);

        let v: Vec<u32> = Vec::new();
        assert_eq!(&v[..], &[]);
    }};
}

#[test]
fn plain() {
    bodies!();
}

#[leak_test]
fn leak_checked() {
    bodies!();
}

fn main() {
    bodies!();
}
