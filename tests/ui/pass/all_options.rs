//! Every option of `#[leak_test]` and the attributes it must keep.

leakcheck::global_allocator!();

use leakcheck::leak_test;

/// A doc comment on a leak test.
#[leak_test(
    iterations = 16,
    warmup = 4,
    max_iterations = 64,
    settle_ms = 10,
    timeout = 60,
    isolate = false,
    attribute = false,
    profile = true,
    max_allocs_per_iter = 10,
    max_bytes_per_iter = 4096,
    heap = true,
    threads = false,
    fds = true,
    tasks = false,
    suspicious = "fail",
    suppress_threads = ["pool-*", "io"],
    suppress_fds = "/var/log/*",
    suppress_heap = ["regex::*",],
    crate = "leakcheck"
)]
fn every_option() {
    let v = vec![1u8, 2, 3];
    assert_eq!(v.len(), 3);
}

#[leak_test]
#[ignore = "slow"]
fn ignored() {}

#[leak_test(isolate = true)]
#[ignore]
fn ignored_without_reason() {}

#[cfg(any())]
#[leak_test]
fn compiled_out() {
    this_does_not_exist();
}

#[leak_test(iterations = 8)]
fn returns_io_result() -> Result<(), std::io::Error> {
    let _meta = std::fs::metadata(".")?;
    Ok(())
}

fn main() {}
