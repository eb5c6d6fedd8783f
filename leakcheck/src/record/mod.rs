//! Machine-readable records of leak tests: the JSON schema, and reading it back.
//!
//! Every `#[leak_test]` leaves a [`TestRecord`] at `runs/<run>/<test>.json` in the output
//! directory (`<target-dir>/leakcheck/`, or `LEAKCHECK_DIR`) and keeps
//! `report.json` (a [`RunReport`]: the run, the artifact to keep as a baseline) and `junit.xml`
//! current (the layout is in the README's "Reports for CI" section). The schema is versioned by
//! [`SCHEMA_VERSION`] and documented field by field in `docs/record-schema.md`; readers accept
//! every version from [`OLDEST_READABLE`] up to this one and reject newer ones with a message
//! that says to upgrade.
//!
//! ```
//! use leakcheck::record::{self, RunReport};
//!
//! let json = r#"{"schema_version": 1,
//!     "run": {"id": "r1", "started_at": "2026-11-21T10:00:00Z", "started_unix_ms": 0,
//!             "leakcheck_version": "0.1.0"},
//!     "tests": []}"#;
//! let report: RunReport = record::parse_report(json, "report.json".as_ref()).unwrap();
//! assert_eq!(report.run.id, "r1");
//!
//! let newer = json.replace("\"schema_version\": 1", "\"schema_version\": 99");
//! let err = record::parse_report(&newer, "report.json".as_ref()).unwrap_err();
//! assert!(err.to_string().contains("newer leakcheck"));
//! ```

// Writing records is the harness's side: reachable only through the CLI's support module.
pub(crate) mod append;
pub(crate) mod store;

use crate::analyze::Verdict;
use crate::config::{Config, Suspicious};
use crate::json;
pub use crate::json::Error as JsonError;
use crate::report::{Report, TestId};
use leakcheck_probe::Resource;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The version of the record and report schema this crate writes.
pub const SCHEMA_VERSION: u32 = 1;
/// The oldest schema version this crate reads.
pub const OLDEST_READABLE: u32 = 1;

/// `report.json`: one run of leak tests, across all test binaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunReport {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// What the run was: id, time, commit, toolchain.
    pub run: RunInfo,
    /// One record per leak test, ordered by binary and name when read (the file holds them in
    /// the order the tests finished).
    pub tests: Vec<TestRecord>,
    /// Records of this run that could not be read (file and reason); they are not in `tests`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

impl RunReport {
    /// The report of `run` with these records, in the current schema.
    pub fn new(run: RunInfo, tests: Vec<TestRecord>) -> Self {
        RunReport {
            schema_version: SCHEMA_VERSION,
            run,
            tests,
            unreadable: Vec::new(),
        }
    }

    /// The record of the test with this [`TestId::full_name`].
    pub fn test(&self, full_name: &str) -> Option<&TestRecord> {
        self.tests.iter().find(|t| t.test.full_name() == full_name)
    }

    /// The resources the run's tests have verdicts for, in report order: what a table of the
    /// run has a column for. Heap, threads and fds always; tasks when some test is async.
    pub fn resources(&self) -> Vec<Resource> {
        Resource::LEAK_TEST
            .into_iter()
            .filter(|&r| {
                r != Resource::Tasks
                    || self.tests.iter().any(|t| {
                        t.figures
                            .as_ref()
                            .is_some_and(|f| f.verdict_of(r).is_some())
                    })
            })
            .collect()
    }
}

/// What a run was. Written by the run's first leak test and kept by the others.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunInfo {
    /// Identifies the run (see the README's "What a run is").
    pub id: String,
    /// When the run's first record was written, RFC 3339 in UTC.
    pub started_at: String,
    /// The same instant in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// The commit under test, from the CI's environment or `git rev-parse HEAD`.
    #[serde(default)]
    pub commit: Option<String>,
    /// The branch, when known.
    #[serde(default)]
    pub branch: Option<String>,
    /// The leakcheck version that wrote the record.
    pub leakcheck_version: String,
    /// `rustc -V` of the compiler that built leakcheck.
    #[serde(default)]
    pub rustc: Option<String>,
    /// The target triple the tests were built for.
    #[serde(default)]
    pub target: Option<String>,
    /// `debug` when built with debug assertions (the test profile), `release` otherwise.
    #[serde(default)]
    pub profile: Option<String>,
}

/// `records/<test>.json`: one leak test's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TestRecord {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The [`RunInfo::id`] of the run the test ran in.
    pub run_id: String,
    /// Which test.
    pub test: TestId,
    /// How the test ended.
    pub outcome: Outcome,
    /// Why it failed: the human report of a leak, or the failure message. `None` when it passed.
    #[serde(default)]
    pub message: Option<String>,
    /// When the test finished, RFC 3339 in UTC.
    pub finished_at: String,
    /// Wall time of the whole test (all iterations, child process included), in milliseconds.
    pub duration_ms: u64,
    /// The settings the test ran with.
    pub config: RecordConfig,
    /// Key figures, when the body ran to the end.
    #[serde(default)]
    pub figures: Option<Figures>,
    /// The full measurement (verdicts with evidence, series, leftovers, attribution), when the
    /// body ran to the end.
    #[serde(default)]
    pub report: Option<Report>,
}

/// How a leak test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No leak, within budget (possibly suspicious).
    Passed,
    /// A resource leaked.
    Leaked,
    /// No leak, but over an allocation budget.
    OverBudget,
    /// The body failed (panic, `Err`), or its process crashed or timed out: not a leak verdict.
    Failed,
}

impl Outcome {
    /// The outcome of a completed measurement.
    pub fn of(report: &Report) -> Outcome {
        if report.is_leak() || report.is_strict_failure() {
            Outcome::Leaked
        } else if report.is_over_budget() {
            Outcome::OverBudget
        } else {
            Outcome::Passed
        }
    }

    /// The name used in JSON and JUnit (`over_budget`, not the `over budget` of `Display`).
    pub fn key(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Leaked => "leaked",
            Outcome::OverBudget => "over_budget",
            Outcome::Failed => "failed",
        }
    }

    /// True for every outcome but [`Outcome::Passed`].
    pub fn is_failure(self) -> bool {
        self != Outcome::Passed
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Passed => "passed",
            Outcome::Leaked => "leaked",
            Outcome::OverBudget => "over budget",
            Outcome::Failed => "failed",
        })
    }
}

/// The settings of a test as recorded (durations in whole units).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecordConfig {
    /// Measured iterations in the first round.
    pub iterations: usize,
    /// Warmup iterations.
    pub warmup: usize,
    /// Most measured iterations.
    pub max_iterations: usize,
    /// Settle bound, milliseconds.
    pub settle_ms: u64,
    /// Time limit of the isolated child, seconds.
    pub timeout_secs: u64,
    /// Whether the test was meant to run in a child process.
    pub isolate: bool,
    /// Whether suspected leaks are traced.
    pub attribute: bool,
    /// Whether the test was profiled (one traced iteration after the verdicts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub profile: bool,
    /// Allocation budget per iteration, if any.
    #[serde(default)]
    pub max_allocs_per_iter: Option<u64>,
    /// Byte budget per iteration, if any.
    #[serde(default)]
    pub max_bytes_per_iter: Option<u64>,
    /// Resources not judged (`heap = false`, ...), by [`Resource::name`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub off: Vec<Resource>,
    /// `fail` when a suspicious verdict fails the test.
    #[serde(default = "pass", skip_serializing_if = "is_pass")]
    pub suspicious: String,
    /// Suppression patterns in force, each prefixed with its resource's [`Resource::name`]:
    /// `heap:PATTERN`, `threads:PATTERN`, `fds:PATTERN`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppress: Vec<String>,
    /// The `leakcheck.toml` that was read, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `runs = 1`: the body ran once, between two snapshots ([`Config::single_run`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_run: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn pass() -> String {
    "pass".to_owned()
}

fn is_pass(s: &str) -> bool {
    s == "pass"
}

impl From<&Config> for RecordConfig {
    fn from(c: &Config) -> Self {
        RecordConfig {
            iterations: c.iterations,
            warmup: c.warmup,
            max_iterations: c.max_iterations,
            settle_ms: u64::try_from(c.settle.as_millis()).unwrap_or(u64::MAX),
            timeout_secs: c.timeout.as_secs(),
            isolate: c.isolate,
            attribute: c.attribute,
            profile: c.profile,
            max_allocs_per_iter: c.max_allocs_per_iter,
            max_bytes_per_iter: c.max_bytes_per_iter,
            off: Resource::LEAK_TEST
                .into_iter()
                .filter(|&r| !c.judges(r))
                .collect(),
            suspicious: match c.suspicious {
                Suspicious::Pass => pass(),
                Suspicious::Fail => "fail".to_owned(),
            },
            suppress: Resource::LEAK_TEST
                .into_iter()
                .flat_map(|r| {
                    c.suppress
                        .patterns(r)
                        .iter()
                        .map(move |p| format!("{r}:{p}"))
                })
                .collect(),
            file: c.file.as_ref().map(|p| p.display().to_string()),
            single_run: c.single_run,
        }
    }
}

/// The figures CI compares across commits, taken from the measured iterations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Figures {
    /// The worst verdict of the judged resources.
    pub verdict: Verdict,
    /// Heap verdict.
    pub heap: Verdict,
    /// Threads verdict.
    pub threads: Verdict,
    /// File descriptors verdict.
    pub fds: Verdict,
    /// Async tasks verdict (async tests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Verdict>,
    /// Leaked items listed as suppressed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suppressed: usize,
    /// Mean allocations per measured iteration.
    pub allocs_per_iter: f64,
    /// Mean bytes allocated per measured iteration.
    pub bytes_per_iter: f64,
    /// Net live heap bytes left per measured iteration.
    pub live_bytes_per_iter: f64,
    /// Mean wall time of one body run, in nanoseconds.
    pub nanos_per_iter: f64,
    /// Warmup iterations.
    pub warmup: usize,
    /// Measured iterations.
    pub measured: usize,
    /// Traced iterations: after a suspected leak (attribution) and the profiled one (`profile`).
    pub traced: usize,
}

impl Figures {
    /// The verdict for `resource`; `None` for tasks in a test that is not async (and for
    /// resources a leak test does not judge).
    pub fn verdict_of(&self, resource: Resource) -> Option<Verdict> {
        match resource {
            Resource::Heap => Some(self.heap),
            Resource::Threads => Some(self.threads),
            Resource::Fds => Some(self.fds),
            Resource::Tasks => self.tasks,
            _ => None,
        }
    }

    /// The verdict of each resource the test has one for, in report order.
    pub fn verdicts(&self) -> impl Iterator<Item = (Resource, Verdict)> + '_ {
        Resource::LEAK_TEST
            .into_iter()
            .filter_map(|r| Some((r, self.verdict_of(r)?)))
    }

    /// The figures of a completed measurement.
    pub fn of(report: &Report) -> Figures {
        let measured = report.samples.get(1..).unwrap_or_default();
        let nanos_per_iter = if measured.is_empty() {
            0.0
        } else {
            measured.iter().map(|s| s.body_nanos as f64).sum::<f64>() / measured.len() as f64
        };
        Figures {
            verdict: report.verdict,
            heap: report.heap.verdict,
            threads: report.threads.verdict,
            fds: report.fds.verdict,
            tasks: report.verdict_of(Resource::Tasks),
            suppressed: report.suppressed.len(),
            allocs_per_iter: report.allocations_per_iteration(),
            bytes_per_iter: report.bytes_allocated_per_iteration(),
            live_bytes_per_iter: report.heap.bytes_per_iteration,
            nanos_per_iter,
            warmup: report.warmup,
            measured: report.measured,
            traced: report.body_runs() - report.warmup - report.measured,
        }
    }
}

/// A record or report that cannot be used. The message names the file and the next step.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: ReadProblem,
}

/// What is wrong with a record or report file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadProblem {
    /// There is no such file.
    Missing,
    /// The file cannot be read.
    Io(std::io::Error),
    /// The bytes are not UTF-8 text, so not JSON: the file is damaged.
    NotUtf8(std::str::Utf8Error),
    /// The text is not JSON: the file is damaged or was cut short.
    NotJson(JsonError),
    /// JSON without a whole-number `schema_version`: not something leakcheck wrote.
    NotLeakcheck {
        /// `"report"` or `"record"`.
        what: &'static str,
        /// The `schema_version` the file has, as JSON, when it has one.
        schema_version: Option<String>,
    },
    /// Written by a newer leakcheck.
    Newer {
        /// The file's schema version.
        version: u64,
    },
    /// Older than any schema version this leakcheck reads.
    Older {
        /// The file's schema version.
        version: u64,
    },
    /// A readable schema version, but not the shape of a record or report.
    Shape {
        /// `"report"` or `"record"`.
        what: &'static str,
        /// The file's schema version.
        version: u64,
        /// What does not fit.
        source: JsonError,
    },
}

impl ReadProblem {
    fn of(e: std::io::Error) -> ReadProblem {
        if e.kind() == std::io::ErrorKind::NotFound {
            ReadProblem::Missing
        } else {
            ReadProblem::Io(e)
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAMAGED: &str = "the file is damaged or truncated: run the leak tests again to \
                               rewrite it, or restore the baseline from version control";
        match self {
            ReadProblem::Missing => f.write_str(
                "no such file; run the leak tests first (`cargo leakcheck test`), or give the \
                 path of a report.json or a saved baseline",
            ),
            ReadProblem::Io(e) => write!(f, "cannot be read: {e}"),
            ReadProblem::NotUtf8(e) => {
                write!(f, "is not valid JSON (not UTF-8 text: {e}); {DAMAGED}")
            }
            ReadProblem::NotJson(e) => write!(f, "is not valid JSON ({e}); {DAMAGED}"),
            ReadProblem::NotLeakcheck {
                what,
                schema_version: Some(version),
            } => write!(
                f,
                "is not a leakcheck {what}: its `schema_version` is {version}, not a version number"
            ),
            ReadProblem::NotLeakcheck {
                what,
                schema_version: None,
            } => write!(
                f,
                "is not a leakcheck {what}: it has no `schema_version` field"
            ),
            ReadProblem::Newer { version } => write!(
                f,
                "was written by a newer leakcheck (schema version {version}; this one reads \
                 versions {OLDEST_READABLE} to {SCHEMA_VERSION}); upgrade with `cargo install \
                 cargo-leakcheck` and update the `leakcheck` dependency"
            ),
            ReadProblem::Older { version } => write!(
                f,
                "has schema version {version}, older than any this leakcheck reads \
                 ({OLDEST_READABLE} to {SCHEMA_VERSION}); run the leak tests again to write a \
                 new one"
            ),
            ReadProblem::Shape {
                what,
                version,
                source,
            } => write!(
                f,
                "is not a valid leakcheck {what} of schema version {version} ({source}); run the \
                 leak tests again to rewrite it"
            ),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            ReadProblem::Io(e) => Some(e),
            ReadProblem::NotUtf8(e) => Some(e),
            ReadProblem::NotJson(e) | ReadProblem::Shape { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl ReadError {
    fn new(path: &Path, problem: ReadProblem) -> ReadError {
        ReadError {
            path: path.to_owned(),
            problem,
        }
    }
}

/// Reads a `report.json` (or a saved baseline).
pub fn read_report(path: &Path) -> Result<RunReport, ReadError> {
    let bytes = store::read_shared(path).map_err(|e| ReadError::new(path, ReadProblem::of(e)))?;
    parse_report(text_of(&bytes, path)?, path)
}

/// Reads one test's record (`runs/<run id>/<test>.json`).
pub fn read_record(path: &Path) -> Result<TestRecord, ReadError> {
    parse_record(text_of(&read_bytes(path)?, path)?, path)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|e| ReadError::new(path, ReadProblem::of(e)))
}

/// The bytes of a record file as text: records are UTF-8 JSON, so anything else is damage.
fn text_of<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, ReadError> {
    std::str::from_utf8(bytes).map_err(|e| ReadError::new(path, ReadProblem::NotUtf8(e)))
}

/// Parses the text of a `report.json`; `path` only names it in errors.
pub fn parse_report(text: &str, path: &Path) -> Result<RunReport, ReadError> {
    let mut report: RunReport = parse(text, path, "report")?;
    // Records are appended as tests finish; readers see them by binary and name.
    report
        .tests
        .sort_by_cached_key(|t| (t.test.binary_id(), t.test.name.clone()));
    Ok(report)
}

/// Parses the text of one test's record; `path` only names it in errors.
pub fn parse_record(text: &str, path: &Path) -> Result<TestRecord, ReadError> {
    parse(text, path, "record")
}

fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
    what: &'static str,
) -> Result<T, ReadError> {
    let error = |problem| ReadError::new(path, problem);
    let value = json::parse(text).map_err(|e| error(ReadProblem::NotJson(e)))?;
    let version = match value.get("schema_version") {
        Some(version) => version.as_u64().ok_or_else(|| {
            error(ReadProblem::NotLeakcheck {
                what,
                schema_version: Some(version.to_string()),
            })
        })?,
        None => {
            return Err(error(ReadProblem::NotLeakcheck {
                what,
                schema_version: None,
            }))
        }
    };
    if version > u64::from(SCHEMA_VERSION) {
        return Err(error(ReadProblem::Newer { version }));
    }
    if version < u64::from(OLDEST_READABLE) {
        return Err(error(ReadProblem::Older { version }));
    }
    json::from_value(value).map_err(|source| {
        error(ReadProblem::Shape {
            what,
            version,
            source,
        })
    })
}

impl RunInfo {
    /// Describes a run that starts now in this process: the time, the commit (from
    /// `LEAKCHECK_COMMIT`, the CI's variables, or `git`), the toolchain leakcheck was built with.
    pub fn starting_now(id: String) -> RunInfo {
        let (started_at, started_unix_ms) = store::now();
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        let commit = var(&[
            crate::config::env::COMMIT,
            "GITHUB_SHA",
            "CI_COMMIT_SHA",
            "BUILDKITE_COMMIT",
            "CIRCLE_SHA1",
            "GIT_COMMIT",
        ])
        .or_else(|| git(&["rev-parse", "HEAD"]));
        let branch = var(&[
            "GITHUB_HEAD_REF",
            "GITHUB_REF_NAME",
            "CI_COMMIT_REF_NAME",
            "BUILDKITE_BRANCH",
            "CIRCLE_BRANCH",
            "GIT_BRANCH",
        ])
        .or_else(|| git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"));
        RunInfo {
            id,
            started_at,
            started_unix_ms,
            commit,
            branch,
            leakcheck_version: env!("CARGO_PKG_VERSION").to_owned(),
            rustc: option_env!("LEAKCHECK_BUILD_RUSTC").map(str::to_owned),
            target: option_env!("LEAKCHECK_BUILD_TARGET").map(str::to_owned),
            profile: Some(
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
                .to_owned(),
            ),
        }
    }
}

/// The output of `git ARGS` in the current directory, when git is there and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

impl TestRecord {
    /// The record of a test of run `run_id` that ended with `outcome`.
    pub fn new(
        run_id: String,
        test: TestId,
        config: &Config,
        outcome: Outcome,
        message: Option<String>,
        report: Option<Report>,
        duration: std::time::Duration,
    ) -> TestRecord {
        TestRecord {
            schema_version: SCHEMA_VERSION,
            run_id,
            test,
            outcome,
            message,
            finished_at: store::now().0,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            config: RecordConfig::from(config),
            figures: report.as_ref().map(Figures::of),
            report,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record keeps the names of the schema (docs/record-schema.md) for what is off and
    /// suppressed, and reads them back.
    #[test]
    fn resources_off_and_suppressed_are_recorded_by_name() {
        let mut config = Config {
            tasks: false,
            fds: false,
            ..Config::default()
        };
        config.suppress.threads.push("pool-*".to_owned());
        config.suppress.heap.push("regex::*".to_owned());
        let recorded = RecordConfig::from(&config);
        let json = serde_json::to_value(&recorded).unwrap();
        assert_eq!(json["off"], serde_json::json!(["fds", "tasks"]));
        assert_eq!(
            json["suppress"],
            serde_json::json!(["heap:regex::*", "threads:pool-*"])
        );
        let back: RecordConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back.off, [Resource::Fds, Resource::Tasks]);
    }
}
