//! End-to-end: the fixture crate under `tests/fixtures` driven through real `cargo test` and
//! `cargo nextest run`, the way a user runs leak tests. Each control asserts its outcome (pass or
//! fail) and what its report names: the resource, the thread, the file, the socket.

mod fixture;
/// `go tool pprof`, the real reader of the profiles (shared with leakcheck-probe's tests).
#[path = "../../leakcheck-probe/tests/go_pprof/mod.rs"]
mod go_pprof;

mod attribution;
mod bodies;
mod clean;
mod convert;
mod failures;
mod faults_nextest;
mod fds;
mod heap;
mod load;
mod nextest;
mod options;
mod output;
mod profile;
mod provisional;
mod run_once;
mod service;
mod shards;
mod storage;
mod tasks;
mod threads;
mod wrapped;
