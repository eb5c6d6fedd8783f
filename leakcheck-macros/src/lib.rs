//! The `#[leak_test]` attribute of [leakcheck](https://docs.rs/leakcheck). Use it through the
//! `leakcheck` crate, which re-exports it and owns everything it expands to:
//!
//! ```
//! leakcheck::global_allocator!();
//!
//! #[leakcheck::leak_test(iterations = 4)]
//! fn fills_and_drops_a_buffer() {
//!     let buffer = vec![0u8; 1024];
//!     assert_eq!(buffer.len(), 1024);
//! }
//! # fn main() {}
//! ```
//!
//! The options are listed at [`leak_test`]. [`leak_tests`] on an inline module turns every
//! `#[test]` in it into a leak test.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod entry;
mod module;

use proc_macro::TokenStream;

/// Marks a leak-checked test: a `#[test]` whose body runs repeatedly under leakcheck and fails
/// when it leaks heap memory, threads, file descriptors or async tasks.
///
/// ```
/// # leakcheck::global_allocator!();
/// # #[derive(Debug)] struct Error;
/// #[leakcheck::leak_test(iterations = 16, warmup = 4, timeout = 60)]
/// fn pool_returns_connections() -> Result<(), Error> {
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// The function takes no arguments and returns `()` or a `Result<T, E: Debug>`, like a
/// `#[test]`; it may be an `async fn` (with leakcheck's `tokio` feature). Other attributes
/// (`#[ignore]`, `#[cfg]`, `#[should_panic]`, doc comments) are kept. Each option below
/// overrides its `LEAKCHECK_*` environment variable and the workspace's `leakcheck.toml`:
///
/// | option | default | meaning |
/// |---|---|---|
/// | `iterations = N` | 8 | measured iterations in the first round (at least 2) |
/// | `warmup = N` | 2 | iterations run before the baseline and not judged |
/// | `max_iterations = N` | 8 × `iterations` | most measured iterations while confirming growth |
/// | `settle_ms = N` | 250 | bound on the wait for exiting threads, closing fds and finishing tasks after each iteration |
/// | `timeout = SECONDS` | 300 | time limit of the whole test |
/// | `isolate = BOOL` | `true` | run the test in a child process under `cargo test` |
/// | `attribute = BOOL` | `true` | after a suspected leak, trace more iterations to find where it was allocated |
/// | `profile = BOOL` | `false` | after the verdicts, run one traced iteration and count its allocations by call site in the record |
/// | `heap = BOOL` | `true` | judge live heap memory |
/// | `threads = BOOL` | `true` | judge live threads |
/// | `fds = BOOL` | `true` | judge open file descriptors and sockets |
/// | `tasks = BOOL` | `true` | judge live tasks of an `async fn` test's runtime |
/// | `suspicious = "pass"\|"fail"` | `"pass"` | `"fail"`: a suspicious verdict fails the test |
/// | `suppress_threads = ["pat", …]` | none | thread names whose leaks are listed as suppressed instead of failing |
/// | `suppress_fds = ["pat", …]` | none | fd targets: a path, `socket:[inode]` or the socket's description |
/// | `suppress_heap = ["pat", …]` | none | functions: a heap leak whose every allocation site has a matching function in its stack |
/// | `max_allocs_per_iter = N` | none | fail when the body makes more than N allocations per measured iteration (mean) |
/// | `max_bytes_per_iter = N` | none | fail when the body allocates more than N bytes per measured iteration (mean) |
/// | `flavor = "current_thread"\|"multi_thread"` | `"current_thread"` | the tokio runtime of an `async fn` test |
/// | `worker_threads = N` | one per core | worker threads of the multi-thread runtime |
/// | `runs = 1` | unset | single-run mode for a body that cannot run twice: one run between two snapshots; threads, fds and tasks left behind are leaks, heap growth is suspicious at most |
/// | `crate = "path"` | `leakcheck` | where the leakcheck crate is, if it was renamed |
///
/// The function stays as written: it is nested, unchanged, in the generated test and handed to
/// the harness as a function, so a body that compiles under `#[test]` compiles the same way
/// (its inner attributes, `return`, `?`, labels and inference included).
///
/// `#[should_panic]` means every run must panic, with the `expected` message if one is given;
/// the panicking body (or `async fn`) is leak-checked like any other. A run that does not
/// panic, or a leak, fails the test (libtest words that as "did not panic as expected", after
/// leakcheck's own message).
///
/// A pattern may be one string or a list; `*` matches any run of characters, `?` one character.
/// A misspelt or mistyped option is a compile error on the offending tokens; the test is still
/// emitted (with the defaults), so editors keep showing and running it.
#[proc_macro_attribute]
pub fn leak_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::leak_test(args.into(), item.into()).into()
}

/// Makes every `#[test]` in an inline module a `#[leak_test]`, with the options given here:
///
/// ```
/// leakcheck::global_allocator!();
///
/// #[leakcheck::leak_tests(iterations = 4)]
/// mod tests {
///     #[test]
///     fn fills_a_buffer() {
///         assert_eq!(vec![0u8; 64].len(), 64);
///     }
///
///     // Its own options win; the module's fill in the rest (here `iterations = 4`).
///     #[leakcheck::leak_test(threads = false)]
///     fn spawns_a_worker() {
///         std::thread::spawn(|| {}).join().unwrap();
///     }
///
///     mod nested {
///         #[test]
///         #[ignore = "slow"]
///         fn also_a_leak_test() {}
///     }
/// }
/// # fn main() {}
/// ```
///
/// It takes the options of [`leak_test`]; `flavor` and `worker_threads` go to its `async fn`
/// tests only. Inline submodules are converted too; other attributes (`#[ignore]`,
/// `#[should_panic]`, `#[cfg]`) and items are kept as they are, and other test attributes
/// (`#[tokio::test]`, `#[rstest]`) are left alone. It needs the module inline: stable Rust runs no
/// attribute macro on `mod tests;` (a file of its own), which is a compile error.
// The example shows `#[test]`s being converted: as in any doctest, they are compiled, not run.
#[allow(clippy::test_attr_in_doctest)]
#[proc_macro_attribute]
pub fn leak_tests(args: TokenStream, item: TokenStream) -> TokenStream {
    module::leak_tests(args.into(), item.into()).into()
}
