//! The `cargo leakcheck` command: run leak tests, compare their reports across commits, plot
//! trends.
//!
//! # Exit codes
//!
//! The same for every command ([`LeakcheckExitCode`] names them):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success: the tests passed, no regression, the targets were met; `profile top\|diff` read their files |
//! | 1 | a check failed: a test failed or leaked (`test`, `merge`), a regression (`diff`), the targets were missed (`simulate`) |
//! | 2 | usage or I/O error: a bad argument, a missing or unreadable file, a program that cannot be started ([`CliError`]) |
//! | 101 | `test` only: the tests could not be built (a compile error, a failed build script, a package that does not exist), so none ran |
//!
//! `monitor` started with a command exits with the command's exit code (128 + N when signal N
//! ended it).
//!
//! `main` only calls [`run`]; each command lives in a module of its own.
//!
//! The commands are also a library: [`diff::compare`] is what `cargo leakcheck diff` runs on two
//! reports, here on a test that is clean at BASE and leaks at HEAD.
//!
//! ```
//! leakcheck::global_allocator!();
//!
//! use cargo_leakcheck::diff::{compare, render, Threshold};
//! use leakcheck::record::{Outcome, RunInfo, RunReport, TestRecord};
//! use leakcheck::{Check, Config, TestId};
//!
//! fn main() {
//!     let record_of = |body: &mut dyn FnMut()| {
//!         let report = Check::new().run(body);
//!         let (test, outcome) = (TestId::named("cache".into()), Outcome::of(&report));
//!         let took = std::time::Duration::ZERO;
//!         TestRecord::new("run".into(), test, &Config::default(), outcome, None, Some(report), took)
//!     };
//!     let mut kept = Vec::new();
//!     let base = RunReport::new(RunInfo::default(), vec![record_of(&mut || drop(vec![0u8; 64]))]);
//!     let head = RunReport::new(RunInfo::default(), vec![record_of(&mut || kept.push(vec![0u8; 64]))]);
//!
//!     let diff = compare(&base, &head, &Threshold::default());
//!     assert!(diff.regression, "{}", render::text(&diff));
//!     assert_eq!(diff.new_leaks.len(), 1);
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

pub mod baseline;
pub mod convert;
pub mod diff;
pub mod error;
pub mod html;
pub mod locate;
pub mod merge;
pub mod monitor;
pub mod profile;
pub mod simulate;
pub mod test_run;
pub mod trend;

pub use error::{BadValue, CliError, LeakcheckExitCode};

/// `cargo leakcheck`.
#[derive(Debug, Parser)]
#[command(name = "cargo leakcheck", bin_name = "cargo leakcheck", version, about)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs `cargo test ARGS…` as a fresh run and summarises its leak tests.
    ///
    /// The tests are built first (`cargo test --no-run ARGS…`), so that a build that fails
    /// (exit code 101) is told apart from tests that fail (exit code 1).
    Test(test_run::TestArgs),
    /// Compares two reports (files or saved baselines): new and fixed leaks, allocation changes.
    Diff(diff::DiffArgs),
    /// Saves or lists baselines: reports kept under `.leakcheck/baselines/` to commit.
    #[command(subcommand)]
    Baseline(baseline::BaselineCommand),
    /// Merges the reports of a sharded run (nextest partitions, CI jobs) into one report and
    /// one JUnit file.
    Merge(merge::MergeArgs),
    /// Shows the same tests across many reports (commits): a table and an HTML page of plots.
    Trend(trend::TrendArgs),
    /// Runs the simulation catalogue — leak families and their clean twins, each case in a
    /// process of its own — and measures recall and the false-positive rate.
    Simulate(simulate::SimulateArgs),
    /// Checks one simulated case in this process (what `simulate` runs for each case).
    #[command(name = simulate::CASE_COMMAND, hide = true)]
    SimulateCase(simulate::CaseArgs),
    /// Runs one service run of a simulated heap leak in this process (what `simulate
    /// --service` runs for each).
    #[command(name = simulate::SERVICE_COMMAND, hide = true)]
    SimulateService(simulate::CaseArgs),
    /// Converts a package's `#[test]`s to `#[leak_test]`s (with the dev-dependency and the
    /// allocator line), then runs them once and lists the tests that need a next step.
    Convert(convert::ConvertArgs),
    /// Watches a process (one it starts, or `--pid`) through /proc: trend detection, alerts,
    /// and an HTTP endpoint with /metrics, /api/status and a live /dashboard.
    Monitor(monitor::MonitorArgs),
    /// Reads heap profiles (pprof profile.proto, as the monitor serves and stores them): the
    /// top call sites of one, or what grew between two.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
}

/// Parses `args` (as from `std::env::args_os`, whether started as `cargo leakcheck …` or
/// `cargo-leakcheck …`), runs the command and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let mut args: Vec<OsString> = args.into_iter().collect();
    // Cargo runs `cargo-leakcheck leakcheck ARGS…` for `cargo leakcheck ARGS…`.
    if args.get(1).is_some_and(|a| a == "leakcheck") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                LeakcheckExitCode::ERROR
            } else {
                LeakcheckExitCode::OK
            };
        }
    };
    let result = match cli.command {
        Command::Test(args) => test_run::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Baseline(command) => baseline::run(&command),
        Command::Merge(args) => merge::run(&args),
        Command::Trend(args) => trend::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::SimulateCase(args) => simulate::run_case(&args),
        Command::SimulateService(args) => simulate::service::run_one(&args),
        Command::Monitor(args) => monitor::run(&args),
        Command::Convert(args) => convert::run(&args),
        Command::Profile(command) => profile::run(&command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            LeakcheckExitCode::ERROR
        }
    }
}

/// A path for messages: relative to the current directory when it is inside it.
pub fn shown(path: &std::path::Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    path.strip_prefix(&cwd)
        .unwrap_or(path)
        .display()
        .to_string()
}
