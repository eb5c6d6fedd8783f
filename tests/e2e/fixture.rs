//! Runs the fixture crate's test binaries and parses what libtest and nextest print.

#![allow(unreachable_pub)] // helpers of test binaries, which have no public API

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// How a test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Ignored,
}

/// One run of a fixture test binary.
#[derive(Debug)]
pub struct Run {
    /// The command line, for failure messages.
    pub command: String,
    /// Everything the command printed (stdout then stderr).
    pub output: String,
    /// Outcome per test name.
    pub outcomes: BTreeMap<String, Outcome>,
    /// Captured output per test name (libtest's `---- NAME stdout ----` sections, or nextest's
    /// output blocks).
    pub sections: BTreeMap<String, String>,
}

impl Run {
    /// A run read from libtest's output of `command` (for commands not run through this module).
    pub fn from_libtest(command: &str, output: &str) -> Run {
        let (outcomes, sections) = parse_libtest(output);
        Run {
            command: command.to_owned(),
            output: output.to_owned(),
            outcomes,
            sections,
        }
    }

    /// A run read from nextest's output of `command` (for commands not run through this module).
    pub fn from_nextest(command: &str, output: &str) -> Run {
        let (outcomes, sections) = parse_nextest(output);
        Run {
            command: command.to_owned(),
            output: output.to_owned(),
            outcomes,
            sections,
        }
    }

    /// The outcome of `test`, failing with the whole output if it did not run.
    pub fn outcome(&self, test: &str) -> Outcome {
        *self.outcomes.get(test).unwrap_or_else(|| {
            panic!(
                "`{test}` did not run in `{}`:\n{}",
                self.command, self.output
            )
        })
    }

    /// The captured output of `test` (empty if it printed nothing).
    pub fn section(&self, test: &str) -> &str {
        self.sections.get(test).map_or("", String::as_str)
    }

    /// Asserts that `test` failed and its output contains every one of `needles`.
    pub fn assert_failed_with(&self, test: &str, needles: &[&str]) {
        assert_eq!(
            self.outcome(test),
            Outcome::Failed,
            "{test}:\n{}",
            self.section(test)
        );
        self.assert_mentions(test, needles);
    }

    /// Asserts that `test` passed and its output contains every one of `needles`.
    pub fn assert_passed_with(&self, test: &str, needles: &[&str]) {
        assert_eq!(
            self.outcome(test),
            Outcome::Passed,
            "{test}:\n{}",
            self.section(test)
        );
        self.assert_mentions(test, needles);
    }

    fn assert_mentions(&self, test: &str, needles: &[&str]) {
        let section = self.section(test);
        for needle in needles {
            assert!(
                section.contains(needle),
                "output of `{test}` lacks {needle:?}:\n{section}"
            );
        }
    }

    /// Asserts that every test of the run passed clean, with the harness's summary line saying so.
    pub fn assert_all_clean(&self) {
        assert!(!self.outcomes.is_empty(), "no test ran:\n{}", self.output);
        for (test, outcome) in &self.outcomes {
            if *outcome == Outcome::Ignored {
                continue;
            }
            self.assert_passed_with(
                test,
                &[
                    &format!("leakcheck: `{test}` clean"),
                    "heap clean",
                    "threads clean",
                    "fds clean",
                ],
            );
        }
    }
}

/// A fresh, empty directory for the records of one e2e test (`LEAKCHECK_DIR`).
pub fn records_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The record of `test` in the `report.json` under `dir`, failing with the report if it is not
/// there.
pub fn record_of(dir: &Path, test: &str) -> serde_json::Value {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let report: serde_json::Value = serde_json::from_str(&text).expect("report.json is JSON");
    report["tests"]
        .as_array()
        .and_then(|tests| tests.iter().find(|r| r["test"]["name"] == test))
        .cloned()
        .unwrap_or_else(|| panic!("no record of `{test}` in {}:\n{text}", path.display()))
}

/// The body runs a test's summary line reports (`W warmup + M measured iterations`).
pub fn body_runs(section: &str) -> Option<usize> {
    let line = section
        .lines()
        .find(|l| l.starts_with("leakcheck: ") && l.contains(" warmup + "))?;
    let (head, tail) = line.split_once(" warmup + ")?;
    let warmup: usize = head.rsplit(' ').next()?.parse().ok()?;
    let measured: usize = tail.split(' ').next()?.parse().ok()?;
    Some(warmup + measured)
}

/// Runs `cargo test --test BINARY -- ARGS --show-output` on the fixture crate, once per distinct
/// command line per process (tests that look at the same binary share the run).
pub fn cargo_test(binary: &str, args: &[&str]) -> Arc<Run> {
    cargo_test_with(binary, args, &[])
}

/// [`cargo_test`] with extra environment variables for the fixture's tests.
pub fn cargo_test_with(binary: &str, args: &[&str], envs: &[(&str, &str)]) -> Arc<Run> {
    let mut command = cargo();
    command
        .args(["test", "--test", binary, "--", "--show-output"])
        .args(args)
        .envs(envs.iter().copied());
    run_once(command, parse_libtest)
}

/// Runs `cargo nextest run --test BINARY...` on the fixture crate, once per process.
pub fn nextest(binaries: &[&str]) -> Arc<Run> {
    nextest_with(binaries, &[])
}

/// [`nextest`] with extra environment variables for the fixture's tests.
pub fn nextest_with(binaries: &[&str], envs: &[(&str, &str)]) -> Arc<Run> {
    let mut command = cargo();
    command.envs(envs.iter().copied());
    command.args([
        "nextest",
        "run",
        "--no-fail-fast",
        "--failure-output",
        "final",
        "--success-output",
        "final",
    ]);
    for binary in binaries {
        command.args(["--test", binary]);
    }
    run_once(command, parse_nextest)
}

/// Outcomes and captured output per test, as read from a runner's output.
type Parsed = (BTreeMap<String, Outcome>, BTreeMap<String, String>);

/// One shared run per command line.
type Runs = Mutex<HashMap<String, Arc<OnceLock<Arc<Run>>>>>;

fn run_once(mut command: Command, parse: fn(&str) -> Parsed) -> Arc<Run> {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    let key = format!("{command:?}");
    let cell = RUNS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(key.clone())
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let output = output_of(&mut command);
        let (outcomes, sections) = parse(&output);
        Arc::new(Run {
            command: key,
            output,
            outcomes,
            sections,
        })
    })
    .clone()
}

/// Runs `command` to the end and returns everything it printed (stdout then stderr).
pub fn output_of(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `cargo` in the fixture workspace, see [`in_fixtures`].
pub fn cargo() -> Command {
    in_fixtures(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `program` run in the fixture workspace, with a clean environment: nothing of the outer test
/// run (nextest's or leakcheck's variables) may leak into the fixture's tests. The fixture builds
/// in `<target>/fixtures`.
pub fn in_fixtures(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.current_dir(fixtures_dir());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("LEAKCHECK_")
            || name.starts_with("NEXTEST")
            || name == "RUST_TEST_THREADS"
        {
            command.env_remove(&*name);
        }
    }
    command
        .env("CARGO_TARGET_DIR", target_dir().join("fixtures"))
        .env("RUST_BACKTRACE", "0")
        .env("CARGO_TERM_COLOR", "never");
    command
}

/// The fixture workspace; found from the manifest of whichever workspace package includes this
/// module.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/fixtures"))
        .find(|dir| dir.join("Cargo.toml").is_file())
        .expect("tests/fixtures in the workspace")
}

/// The target directory this test binary was built in (`<target>/debug/deps/e2e-…`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

fn parse_libtest(output: &str) -> Parsed {
    let mut outcomes = BTreeMap::new();
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in output.lines() {
        // Inside a test's captured output, a `test ... ok` line is its child's, relayed.
        if let Some(rest) = line.strip_prefix("test ").filter(|_| current.is_none()) {
            if let Some((name, result)) = rest.rsplit_once(" ... ") {
                let name = name.strip_suffix(" - should panic").unwrap_or(name);
                let outcome = match result.trim() {
                    "ok" => Some(Outcome::Passed),
                    "FAILED" => Some(Outcome::Failed),
                    r if r.starts_with("ignored") => Some(Outcome::Ignored),
                    _ => None,
                };
                if let Some(outcome) = outcome {
                    outcomes.insert(name.to_owned(), outcome);
                    continue;
                }
            }
        }
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            if let Some((name, text)) = current.take() {
                sections.insert(name, text);
            }
            current = Some((name.to_owned(), String::new()));
            continue;
        }
        if line == "successes:" || line == "failures:" {
            if let Some((name, text)) = current.take() {
                sections.insert(name, text);
            }
            continue;
        }
        if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some((name, text)) = current.take() {
        sections.insert(name, text);
    }
    (outcomes, sections)
}

fn parse_nextest(output: &str) -> Parsed {
    let mut outcomes = BTreeMap::new();
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        let trimmed = line.trim_start();
        let status = [
            "PASS", "FAIL", "SIGABRT", "SIGSEGV", "SIGKILL", "TIMEOUT", "ABORT",
        ]
        .iter()
        .find(|s| trimmed.starts_with(&format!("{s} [")));
        if let Some(status) = status {
            let name = trimmed.rsplit(' ').next().unwrap_or_default().to_owned();
            let outcome = if *status == "PASS" {
                Outcome::Passed
            } else {
                Outcome::Failed
            };
            outcomes.insert(name.clone(), outcome);
            // The final output block repeats the status line: keep the block after the last one.
            sections.insert(name.clone(), String::new());
            current = Some(name);
            continue;
        }
        if trimmed.starts_with("Summary [") || line.starts_with("────") {
            current = None;
            continue;
        }
        if let Some(text) = current.as_ref().and_then(|name| sections.get_mut(name)) {
            text.push_str(line.trim_start());
            text.push('\n');
        }
    }
    (outcomes, sections)
}
