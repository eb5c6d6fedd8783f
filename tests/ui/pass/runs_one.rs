//! `runs = 1`, the single-run mode, on a plain and an async test.

leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(runs = 1)]
fn once() {}

#[leak_test(runs = 1, settle_ms = 100, suspicious = "fail")]
async fn once_async() {}

fn main() {}
