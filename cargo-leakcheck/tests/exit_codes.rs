//! `cargo leakcheck test` tells a build that fails from tests that fail, through `cargo test` and
//! `cargo nextest run`: scratch crates of their own (no dependency, so they build in a second)
//! whose library does not compile, has a failing test, or passes.

mod cli;

use cargo_leakcheck::LeakcheckExitCode;
use cli::{cli, scratch_crate, shown};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A library that does not compile.
const BUILD_FAILS: &str = "pub fn answer() -> u32 { \"forty-two\" }\n";
/// A library with one passing and one failing test.
const TEST_FAILS: &str = "pub fn answer() -> u32 { 42 }\n\
    #[test] fn passes() { assert_eq!(answer(), 42); }\n\
    #[test] fn fails() { assert_eq!(answer(), 41, \"the failing test ran\"); }\n";
/// A library whose test passes.
const PASSES: &str = "pub fn answer() -> u32 { 42 }\n\
    #[test] fn passes() { assert_eq!(answer(), 42); }\n";

/// A fresh crate called `name` (a workspace of its own) with `lib` as its src/lib.rs.
fn scratch(name: &str, lib: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("exit-codes")
        .join(name);
    scratch_crate(&dir, name, lib);
    dir
}

/// `cargo leakcheck test ARGS` in the crate `dir`, building into a target directory of its own.
fn leakcheck_test(dir: &Path, args: &[&str]) -> Output {
    let target = dir.join("target");
    let out = dir.join("leakcheck-out");
    let args: Vec<&str> = std::iter::once("test")
        .chain(args.iter().copied())
        .collect();
    cli(
        dir,
        &args,
        &[("CARGO_TARGET_DIR", &target), (leakcheck::env::DIR, &out)],
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn nextest_installed() -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    std::process::Command::new(cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The runners to check: `cargo test`, and `cargo nextest run` when it is installed.
fn runners() -> Vec<&'static [&'static str]> {
    let mut runners: Vec<&'static [&'static str]> = vec![&[]];
    if nextest_installed() {
        runners.push(&["--nextest"]);
    } else {
        eprintln!("cargo-nextest is not installed: checking `cargo test` only");
    }
    runners
}

/// Runs `cargo leakcheck test` on a fresh crate `name` with `lib`, once per runner; asserts
/// each exits with `code`, and returns their output to check further.
fn exits_with(name: &str, lib: &str, code: i32) -> Vec<Output> {
    runners()
        .into_iter()
        .map(|runner| {
            let dir = scratch(&format!("{name}{}", runner.len()), lib);
            let output = leakcheck_test(&dir, runner);
            assert_eq!(
                output.status.code(),
                Some(code),
                "{runner:?}: {}",
                shown(&output)
            );
            output
        })
        .collect()
}

#[test]
fn a_build_that_fails_exits_101_and_says_the_build_failed() {
    for output in exits_with("build-fails", BUILD_FAILS, LeakcheckExitCode::BUILD_FAILED) {
        let stderr = stderr(&output);
        // The compiler's own message reaches the user, then leakcheck's verdict.
        assert!(stderr.contains("mismatched types"), "{}", shown(&output));
        assert!(
            stderr.contains("leakcheck: the build failed") && stderr.contains("no test ran"),
            "{}",
            shown(&output)
        );
    }
}

#[test]
fn a_test_that_fails_exits_1_and_not_as_a_build_failure() {
    for output in exits_with("test-fails", TEST_FAILS, LeakcheckExitCode::FAILED) {
        let all = shown(&output);
        assert!(all.contains("the failing test ran"), "{all}");
        assert!(!all.contains("the build failed"), "{all}");
    }
}

#[test]
fn tests_that_pass_exit_0_and_run_once() {
    for output in exits_with("passes", PASSES, LeakcheckExitCode::OK) {
        // The build step runs no test: the test's line (cargo test's, or nextest's PASS) is
        // there once.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout.matches("test passes ... ok").count() + stderr(&output).matches("PASS").count(),
            1,
            "{}",
            shown(&output)
        );
    }
}

#[test]
fn arguments_cargo_refuses_exit_2_as_a_usage_error() {
    let dir = scratch("bad-argument", PASSES);
    let output = leakcheck_test(&dir, &["--no-such-flag"]);
    assert_eq!(
        output.status.code(),
        Some(LeakcheckExitCode::ERROR),
        "{}",
        shown(&output)
    );
    let stderr = stderr(&output);
    assert!(
        stderr.contains("--no-such-flag"),
        "cargo says which: {stderr}"
    );
    assert!(
        stderr.contains("error: cargo refused the arguments of `")
            && stderr.contains("test --no-run --no-such-flag`"),
        "{stderr}"
    );
    assert!(!stderr.contains("the build failed"), "{stderr}");
}
