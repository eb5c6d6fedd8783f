//! `cargo leakcheck diff BASE HEAD`: what changed between two runs of the leak tests.
//!
//! [`compare`] is a pure function of two [`RunReport`]s and gives a [`Diff`]; the [`render`]
//! functions are pure functions of a `Diff`; [`run`] only reads the files and writes the output.
//!
//! Tests are matched by [`TestId::full_name`](leakcheck::TestId::full_name). A **regression**
//! (exit code 1) is any of:
//!
//! * a **new leak**: a resource (heap, threads, fds, tasks) leaks in HEAD that did not leak in
//!   BASE,
//!   including in a test that BASE does not have;
//! * a **new failure**: HEAD's outcome is `failed` or `over_budget` and BASE's was something else
//!   (or the test is new);
//! * an **allocation increase**: `allocs_per_iter` or `bytes_per_iter` grew by more than the
//!   threshold (default [`DEFAULT_THRESHOLD_PCT`]) *and* by at least an absolute floor
//!   ([`MIN_ALLOCS_PER_ITER`], [`MIN_BYTES_PER_ITER`]).
//!
//! Fixed leaks and failures, decreases, added and removed tests and new suspicious verdicts are
//! reported but are not regressions.

mod compare;
pub mod render;

pub use compare::compare;

use crate::{locate, BadValue, CliError, LeakcheckExitCode};
use leakcheck::record::{self, Outcome, RunReport, TestRecord};
use leakcheck::Resource;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The version of the `--format json` output; bumped when a field changes meaning or goes away.
pub const DIFF_SCHEMA_VERSION: u32 = 1;

/// Default relative change, in percent, beyond which allocation figures count as changed.
///
/// Allocation counts of a deterministic body are exact, so 5% is well above their noise; what
/// varies from run to run (hash-map growth points, lazily started pools caught in a measured
/// iteration) moves a mean by a fraction of an allocation, which the floors below absorb.
pub const DEFAULT_THRESHOLD_PCT: f64 = 5.0;

/// Smallest change in allocations per iteration that is reported, whatever the percentage.
///
/// The figure is a mean over the measured iterations: one extra allocation in one of 8
/// iterations (a lazy initialisation, a buffer growing once) moves it by 0.125, so a change under
/// half an allocation per iteration is not a change of what the body does every time.
pub const MIN_ALLOCS_PER_ITER: f64 = 0.5;

/// Smallest change in bytes allocated per iteration that is reported, whatever the percentage.
///
/// Below 16 B (one small allocation's worth, the allocator's granularity) the change is a
/// formatted number gaining a digit or a string a few bytes longer, not new work.
pub const MIN_BYTES_PER_ITER: f64 = 16.0;

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The base report: a report.json path or a saved baseline name.
    pub base: String,
    /// The head report: a report.json path or a saved baseline name.
    pub head: String,
    /// Output format. With `GITHUB_STEP_SUMMARY` set, markdown is also appended to that file.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Percent change of allocs/iter or bytes/iter beyond which a test counts as changed (an
    /// increase is a regression). Changes under 0.5 allocs/iter or 16 B/iter never count.
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = DEFAULT_THRESHOLD_PCT,
        value_parser = parse_pct,
        allow_negative_numbers = true
    )]
    pub threshold: f64,
}

/// The output formats of `diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Text,
    /// A PR comment or job summary.
    #[value(alias = "md")]
    Markdown,
    /// A stable JSON object (the `Diff` struct), for scripts.
    Json,
}

/// `--threshold`: a non-negative percentage, with or without a `%` sign.
fn parse_pct(text: &str) -> Result<f64, BadValue> {
    let pct: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| BadValue::new(text, "is not a percentage (e.g. 5 or 2.5)"))?;
    if pct.is_finite() && pct >= 0.0 {
        Ok(pct)
    } else {
        Err(BadValue::new(
            text,
            "is not a threshold: give a percentage of 0 or more",
        ))
    }
}

/// When allocation figures count as changed.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Threshold {
    /// Relative change in percent that must be exceeded.
    pub pct: f64,
    /// Absolute change in allocations per iteration that must be reached.
    pub min_allocs_per_iter: f64,
    /// Absolute change in bytes per iteration that must be reached.
    pub min_bytes_per_iter: f64,
}

impl Threshold {
    /// `pct` percent with the default floors.
    pub fn pct(pct: f64) -> Threshold {
        Threshold {
            pct,
            ..Threshold::default()
        }
    }
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold {
            pct: DEFAULT_THRESHOLD_PCT,
            min_allocs_per_iter: MIN_ALLOCS_PER_ITER,
            min_bytes_per_iter: MIN_BYTES_PER_ITER,
        }
    }
}

/// What changed from BASE to HEAD: the `--format json` output. Every list is sorted by test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Diff {
    /// [`DIFF_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The base run.
    pub base: Side,
    /// The head run.
    pub head: Side,
    /// Whether HEAD regressed: a new leak, a new failure or an allocation increase.
    pub regression: bool,
    /// [`Threshold::pct`].
    pub threshold_pct: f64,
    /// [`Threshold::min_allocs_per_iter`].
    pub min_allocs_per_iter: f64,
    /// [`Threshold::min_bytes_per_iter`].
    pub min_bytes_per_iter: f64,
    /// Resources that leak in HEAD and did not in BASE (regressions).
    pub new_leaks: Vec<LeakChange>,
    /// Resources that leaked in BASE and do not in HEAD.
    pub fixed_leaks: Vec<LeakChange>,
    /// Tests that fail or go over budget in HEAD and did not in BASE (regressions).
    pub new_failures: Vec<OutcomeChange>,
    /// Tests that failed or went over budget in BASE and pass in HEAD.
    pub fixed_failures: Vec<OutcomeChange>,
    /// Allocation figures that changed beyond the threshold, up (regressions) or down.
    pub changes: Vec<Change>,
    /// Resources judged suspicious in HEAD and not in BASE: informational, never a regression.
    pub new_suspicious: Vec<SuspiciousChange>,
    /// Tests only in HEAD.
    pub added: Vec<TestSummary>,
    /// Tests only in BASE.
    pub removed: Vec<TestSummary>,
    /// Tests in both with none of the above (as in HEAD).
    pub unchanged: Vec<TestSummary>,
    /// What the reader should know about the comparison itself (e.g. unreadable records).
    pub notes: Vec<String>,
}

/// One of the two runs compared.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Side {
    /// The report file, as given or found (empty when compared in memory).
    pub path: String,
    /// The run's id.
    pub run_id: String,
    /// The commit under test, when recorded.
    pub commit: Option<String>,
    /// When the run started, RFC 3339.
    pub started_at: String,
    /// How many leak tests the report has.
    pub tests: usize,
}

impl Side {
    /// The description of `report`, without a path.
    pub fn of(report: &RunReport) -> Side {
        Side {
            path: String::new(),
            run_id: report.run.id.clone(),
            commit: report.run.commit.clone(),
            started_at: report.run.started_at.clone(),
            tests: report.tests.len(),
        }
    }
}

/// A test whose leaking resources changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LeakChange {
    /// [`TestId::full_name`](leakcheck::TestId::full_name).
    pub test: String,
    /// The resources that started (new leak) or stopped (fixed leak) leaking. Empty when the
    /// record says the test leaked but not which resource.
    pub resources: Vec<Resource>,
    /// BASE's outcome; `None` when BASE does not have the test.
    pub base_outcome: Option<Outcome>,
    /// HEAD's outcome.
    pub head_outcome: Outcome,
}

/// A test whose failure (other than a leak) appeared or went away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutcomeChange {
    /// [`TestId::full_name`](leakcheck::TestId::full_name).
    pub test: String,
    /// BASE's outcome; `None` when BASE does not have the test.
    pub base_outcome: Option<Outcome>,
    /// HEAD's outcome.
    pub head_outcome: Outcome,
    /// The first line of HEAD's failure message, for a new failure.
    pub message: Option<String>,
}

/// An allocation figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// [`Figures::allocs_per_iter`](leakcheck::record::Figures::allocs_per_iter).
    AllocsPerIter,
    /// [`Figures::bytes_per_iter`](leakcheck::record::Figures::bytes_per_iter).
    BytesPerIter,
}

impl Metric {
    /// The short name used in tables.
    pub fn label(self) -> &'static str {
        match self {
            Metric::AllocsPerIter => "allocs/iter",
            Metric::BytesPerIter => "bytes/iter",
        }
    }
}

/// An allocation figure that changed beyond the threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Change {
    /// [`TestId::full_name`](leakcheck::TestId::full_name).
    pub test: String,
    /// Which figure.
    pub metric: Metric,
    /// BASE's value.
    pub base: f64,
    /// HEAD's value.
    pub head: f64,
    /// `(head - base) / base` in percent; `None` when BASE's value is 0.
    pub change_pct: Option<f64>,
    /// True for an increase (a regression), false for a decrease.
    pub regression: bool,
    /// Where the change is, when both runs profiled the test (`profile`): the call sites whose
    /// figure changed, largest change first (at most [`SITES_SHOWN`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<SiteChange>,
}

/// Call sites listed per changed figure.
pub const SITES_SHOWN: usize = 5;

/// How one call site's allocations changed between the profiles of two runs of a test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SiteChange {
    /// The site's fingerprint (the same in both runs, whatever moved in the file).
    pub fingerprint: String,
    /// The allocating function as `function (file:line)`, from HEAD (BASE for a site gone).
    pub location: String,
    /// BASE's figure: allocations or bytes in the profiled iteration (0 when absent).
    pub base: f64,
    /// HEAD's figure, likewise.
    pub head: f64,
}

/// A test with resources newly judged suspicious.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SuspiciousChange {
    /// [`TestId::full_name`](leakcheck::TestId::full_name).
    pub test: String,
    /// The resources judged suspicious in HEAD and not in BASE.
    pub resources: Vec<Resource>,
}

/// A test as one report has it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TestSummary {
    /// [`TestId::full_name`](leakcheck::TestId::full_name).
    pub test: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Allocations per iteration, when the body ran to the end.
    pub allocs_per_iter: Option<f64>,
    /// Bytes allocated per iteration, when the body ran to the end.
    pub bytes_per_iter: Option<f64>,
}

impl TestSummary {
    fn of(record: &TestRecord) -> TestSummary {
        TestSummary {
            test: record.test.full_name(),
            outcome: record.outcome,
            allocs_per_iter: record.figures.as_ref().map(|f| f.allocs_per_iter),
            bytes_per_iter: record.figures.as_ref().map(|f| f.bytes_per_iter),
        }
    }
}

impl Diff {
    /// How many regressions: new leaks, new failures and allocation increases.
    pub fn regression_count(&self) -> usize {
        self.new_leaks.len()
            + self.new_failures.len()
            + self.changes.iter().filter(|c| c.regression).count()
    }
}

/// Runs `diff`: reads both reports, prints the comparison, appends markdown to
/// `$GITHUB_STEP_SUMMARY` when set. Exit code 1 on a regression.
pub fn run(args: &DiffArgs) -> Result<i32, CliError> {
    let (base_path, base) = load(&args.base)?;
    let (head_path, head) = load(&args.head)?;
    let mut diff = compare(&base, &head, &Threshold::pct(args.threshold));
    diff.base.path = crate::shown(&base_path);
    diff.head.path = crate::shown(&head_path);

    let output = match args.format {
        Format::Text => render::text(&diff),
        Format::Markdown => render::markdown(&diff),
        Format::Json => render::json(&diff),
    };
    print!("{output}");

    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let summary = PathBuf::from(summary);
        // The job summary is a courtesy: failing to write it must not change the verdict.
        if let Err(e) = append(&summary, &render::markdown(&diff)) {
            eprintln!(
                "leakcheck: warning: cannot append to GITHUB_STEP_SUMMARY ({}): {e}",
                summary.display()
            );
        }
    }
    Ok(if diff.regression {
        LeakcheckExitCode::FAILED
    } else {
        LeakcheckExitCode::OK
    })
}

/// The report an argument names, read and validated.
fn load(spec: &str) -> Result<(PathBuf, RunReport), CliError> {
    let path = locate::report_file(spec)?;
    let report = record::read_report(&path)?;
    Ok((path, report))
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // Separated from whatever an earlier step wrote, which may not end with a blank line.
    write!(file, "\n{text}")
}
