//! Leak-checked tests for Rust, in ordinary `cargo test`.
//!
//! Install the counting allocator once per test crate and write `#[leak_test]` instead of
//! `#[test]`. The body runs a few warmup iterations, then measured ones; after each, the harness
//! snapshots live heap bytes and blocks, live threads and open file descriptors, and the test
//! fails when one of them grows persistently — with a report that says what grew, by how much per
//! iteration, and which threads and fds were left behind.
//!
//! ```
//! // tests/cache.rs
//! leakcheck::global_allocator!();
//!
//! use leakcheck::leak_test;
//!
//! #[leak_test]
//! fn cache_does_not_leak() {
//!     let mut cache = std::collections::HashMap::new();
//!     cache.insert("key", vec![1, 2, 3]);
//! }
//!
//! #[leak_test(iterations = 16, warmup = 4)]
//! fn parses() -> Result<(), std::num::ParseIntError> {
//!     let n: u32 = "42".parse()?;
//!     assert_eq!(n, 42);
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! Each `#[leak_test]` runs in a process of its own: under `cargo nextest` (one process per test)
//! in place, under `cargo test` in a child process of the test binary. The same check is
//! available as a function for other harnesses, see [`Check`]:
//!
//! ```
//! leakcheck::global_allocator!();
//!
//! fn main() {
//!     let mut registry = Vec::new();
//!     let report = leakcheck::Check::new().run(|| registry.push(vec![0u8; 64]));
//!     assert!(report.is_leak(), "{report}");
//!     assert_eq!(report.heap.blocks_per_iteration, 1.0);
//! }
//! ```
//!
//! How verdicts are reached, the options and the environment variables are described in the
//! README of the repository; the options of the attribute at [`leak_test`]. To convert a module
//! of `#[test]`s at once, put [`leak_tests`] on it.
//!
//! # Features
//!
//! - `tokio`: `#[leak_test] async fn`, run on a tokio runtime whose live tasks are judged too.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod analyze;
mod attribute;
mod config;
mod entry;
mod isolate;
mod json;
mod junit;
pub mod record;
mod report;
mod run;
mod runtime;
mod snapshot;
mod suppress;
mod watchdog;

pub use analyze::{CountFinding, HeapFinding, Plan, Verdict};
pub use attribute::{AllocationProfile, Attribution, ProfileSite, Site};
pub use config::{
    env, Config, ConfigError, ConfigFile, Expected, Flavor, Options, Suppressions, Suspicious,
    CONFIG_FILE_NAME,
};
pub use leakcheck_alloc::{counters, global_allocator, is_installed, Counters, CountingAlloc};
pub use leakcheck_macros::{leak_test, leak_tests};
pub use leakcheck_probe::{FdInfo, FdKind, Frame, Resource, ThreadInfo};
pub use report::{BudgetBreach, Finding, Report, SuppressedItem, TestId};
pub use run::Check;
pub use snapshot::Sample;

/// What leakcheck's own CLI, suites and benchmarks use of the harness and users should not (as
/// insta's `_cargo_insta_support`): the XML escaping of the CLI's pages, and the writing side of
/// the record store (users read records with [`record`]). Not a public API: it may change in any
/// release (`cargo-leakcheck` depends on this crate's exact version).
#[doc(hidden)]
pub mod _cargo_leakcheck_support {
    pub use crate::junit::escape;
    pub use crate::record::store::{Action, Saved, Store, StoreError};

    /// The texts of `report.json` and `junit.xml` holding `report` (what `merge` writes).
    pub fn report_files(report: &crate::record::RunReport) -> (String, String) {
        let (json, xml, _) = crate::record::append::render(report);
        (json, xml)
    }
}

/// What `#[leak_test]` expands to. Not a public API: it may change in
/// any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::__leak_test_requires_tokio as requires_tokio;
    pub use crate::config::{Flavor, Options, Suspicious};
    pub use crate::entry::{
        run_async_should_panic_test, run_should_panic_test, run_test, BodyResult, TestMeta,
    };
    pub use crate::runtime::run_async_test;
}

#[cfg(test)]
global_allocator!();
