//! `#[leak_test] async fn` (leakcheck's `tokio` feature): every runtime option, a `Result` body
//! with `?`, and the attributes it must keep.

leakcheck::global_allocator!();

use leakcheck::leak_test;

async fn double(n: u32) -> u32 {
    n * 2
}

#[leak_test]
async fn on_the_default_runtime() {
    assert_eq!(double(2).await, 4);
}

#[leak_test(flavor = "current_thread", iterations = 4, tasks = false)]
async fn on_the_current_thread_runtime() {
    std::future::ready(()).await;
}

#[leak_test(flavor = "multi_thread")]
async fn on_the_multi_thread_runtime() {}

#[leak_test(flavor = "multi_thread", worker_threads = 2, warmup = 1)]
async fn with_two_workers() {}

/// A doc comment on an async leak test.
#[leak_test]
async fn question_mark_in_the_body() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "21".parse()?;
    assert_eq!(double(n).await, 42);
    Ok(())
}

#[leak_test]
#[should_panic(expected = "boom")]
async fn panics() {
    std::future::ready(()).await;
    panic!("boom");
}

#[leak_test]
#[ignore = "slow"]
pub async fn public_and_ignored() {}

fn main() {}
