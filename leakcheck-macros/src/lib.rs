//! The `#[leak_test]` attribute. Use it through the `leakcheck` crate, which re-exports it and
//! owns everything it expands to.

mod entry;

use proc_macro::TokenStream;

/// Marks a leak-checked test: a `#[test]` whose body runs repeatedly under leakcheck and fails
/// when it leaks heap memory, threads or file descriptors.
///
/// ```ignore
/// #[leakcheck::leak_test(iterations = 16, warmup = 4, timeout = 60)]
/// fn pool_returns_connections() -> Result<(), Error> { ... }
/// ```
///
/// Options: `iterations`, `warmup`, `max_iterations`, `settle_ms`, `timeout` (seconds) take
/// integers; `isolate` and `attribute` take a bool; `crate = "path"` names the leakcheck crate when it is
/// renamed. Other attributes (`#[ignore]`, `#[cfg]`, doc comments, `#[should_panic]`) are kept.
#[proc_macro_attribute]
pub fn leak_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::leak_test(args.into(), item.into()).into()
}
