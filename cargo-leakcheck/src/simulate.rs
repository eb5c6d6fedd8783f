//! `cargo leakcheck simulate`: runs the simulation [`catalogue`] through the
//! real harness, each case run in a process of its own, and measures how often the verdict is
//! right.
//!
//! Every case run re-executes this binary with a hidden command (`__simulate-case NAME --seed N
//! --out FILE`) that checks the one case with [`leakcheck::Check`] — the default settings and
//! `LEAKCHECK_*` variables, as a `#[leak_test]` — and writes the [`Report`] as JSON. The parent
//! runs up to `--jobs` children at once, kills one that runs past `--timeout`, and turns the
//! reports into a table (or JSON rows), recall, false-positive rate and body runs per verdict.
//!
//! Counting: recall is the share of leaky runs whose verdict is **leak**; a **suspicious** verdict
//! on a leaky case counts as not detected. The false-positive rate is the share of clean runs
//! whose verdict is **leak**; suspicious on a clean case is not a false positive (it does not
//! fail a test). A run that crashed or hung has no verdict: it is listed as an error, left out of
//! both rates, and fails the command.

use crate::{BadValue, CliError, LeakcheckExitCode};
use catalogue::{Case, Kind, Params};
use children::{End, Finished, Job};
use leakcheck::{Finding, Report, Resource, Verdict};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub mod catalogue;
mod children;
pub mod service;

pub use children::CASE_COMMAND;
pub use service::SERVICE_COMMAND;

/// The text after `--help`: how the rates are counted.
const COUNTING: &str = "\
Recall is the share of runs of leaky cases whose verdict is `leak`: a `suspicious` verdict on a \
leaky case counts as not detected. The false-positive rate is the share of runs of clean cases \
whose verdict is `leak`: `suspicious` on a clean case is not a false positive (it would not fail \
a test). A case process that crashes or hangs gives no verdict: it is listed as an error, left \
out of both rates, and makes the exit code 1.

Exit codes: 0 the targets were met, 1 recall or false-positive rate missed its target or a case \
run failed, 2 usage or I/O error.";

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("which").required(true).args(["leak_type", "all"])),
    after_long_help = COUNTING
)]
pub struct SimulateArgs {
    /// Runs one family: thread, task, fd, socket, map, vec, string, channel, interner, cycle,
    /// listener or forget (`goroutine`: thread and task).
    #[arg(long, value_name = "KIND", value_parser = parse_leak_type)]
    pub leak_type: Option<LeakType>,
    /// Runs the whole catalogue.
    #[arg(long)]
    pub all: bool,
    /// Runs each case this many times; trial T draws the case's parameters from seed T.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub trials: u64,
    /// `text`: a table and the rates; `json`: an array of one object per case run on stdout
    /// (the rates go to stderr).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Case processes run at once [default: the number of CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: Option<u64>,
    /// Exit 1 when recall, in percent, is below this (suspicious counts as not detected).
    #[arg(long, value_name = "PCT", default_value_t = 99.0, value_parser = percent_target)]
    pub min_recall: f64,
    /// Exit 1 when the false-positive rate, in percent, is above this (suspicious is not a
    /// false positive).
    #[arg(long, value_name = "PCT", default_value_t = 1.0, value_parser = percent_target)]
    pub max_fp: f64,
    /// Seconds a case process may run before it is killed and reported as an error.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
    /// Service runs instead: each heap leak of the selection inside a running service with
    /// the monitor embedded; measures whether the monitor's alert names the leak's call site
    /// first, and how soon (see `cargo_leakcheck::simulate::service`).
    #[arg(long)]
    pub service: bool,
    /// With `--service`: exit 1 when fewer runs than this, in percent, rank the true site first.
    #[arg(long, value_name = "PCT", default_value_t = 95.0, value_parser = percent_target)]
    pub min_first: f64,
}

/// A target in percent: a finite number ≥ 0. NaN would make every comparison false and switch
/// the check off without a word.
fn percent_target(raw: &str) -> Result<f64, BadValue> {
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(BadValue::new(
            raw,
            "is not a percentage: give a number ≥ 0, e.g. 99",
        )),
    }
}

/// Output format of `simulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table, then the rates.
    Text,
    /// A JSON array of case runs.
    Json,
}

/// The families `--leak-type` selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakType(pub Vec<Kind>);

/// Parses `--leak-type`: a family name, or `goroutine` (threads and async tasks, the nearest
/// Rust has to a leaked goroutine).
pub fn parse_leak_type(s: &str) -> Result<LeakType, BadValue> {
    if s == "goroutine" {
        return Ok(LeakType(vec![Kind::Threads, Kind::Tasks]));
    }
    s.parse::<Kind>()
        .map(|kind| LeakType(vec![kind]))
        .map_err(|e| BadValue::new(s, format!("{e} (or goroutine, for thread and task)")))
}

/// Arguments of the hidden command each case process runs.
#[derive(Debug, clap::Args)]
pub struct CaseArgs {
    /// The case's name.
    pub case: String,
    /// The seed of its parameters.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the report (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

/// Checks one case in this process and writes its report: the child's side of `simulate`.
pub fn run_case(args: &CaseArgs) -> Result<i32, CliError> {
    let case = catalogue::find(&args.case).ok_or_else(|| CliError::NoSuchCase {
        name: args.case.clone(),
    })?;
    let params = case.params(args.seed);
    let report = leakcheck::Check::new()
        .name(case.name)
        .run(case.body(&params));
    let json = serde_json::to_vec(&report).map_err(|source| CliError::Encode {
        what: "the report",
        source,
    })?;
    std::fs::write(&args.out, json).map_err(|e| CliError::write(&args.out, e))?;
    Ok(LeakcheckExitCode::OK)
}

/// One case run, as `--format json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Row {
    /// The case's name.
    pub case: String,
    /// Its family.
    pub kind: Kind,
    /// The truth: whether the case leaks.
    pub leaky: bool,
    /// One of the hard cases.
    pub hard: bool,
    /// The trial (0-based).
    pub trial: u64,
    /// The seed the parameters were drawn from (the trial's number).
    pub seed: u64,
    /// The parameters drawn.
    pub params: Params,
    /// The verdict (`leak`, `suspicious` or `clean`); `null` when the run failed.
    pub verdict: Option<Verdict>,
    /// The resource the verdict is about (`heap`, `threads`, `fds`, `tasks`); `null` when clean.
    pub resource: Option<Resource>,
    /// Why: the analyzer's sentence for that resource (for a clean run, the heap's).
    pub evidence: String,
    /// How much, in a few words: per iteration for the heap, the net count for a counted
    /// resource.
    pub figure: String,
    /// Body runs: warmup, measured and traced iterations.
    pub body_runs: Option<usize>,
    /// Wall time of the case process, in milliseconds.
    pub millis: u64,
    /// Why there is no verdict: the process crashed, hung or left no report.
    pub error: Option<String>,
}

impl Row {
    fn new(job: &Job, finished: Finished<Report>) -> Row {
        let mut row = Row {
            case: job.case.name.to_owned(),
            kind: job.case.kind,
            leaky: job.case.leaky,
            hard: job.case.hard,
            trial: job.trial,
            seed: job.seed,
            params: job.case.params(job.seed),
            verdict: None,
            resource: None,
            evidence: String::new(),
            figure: String::new(),
            body_runs: None,
            millis: finished.millis,
            error: None,
        };
        match finished.end {
            End::Reported(report) => {
                let (resource, evidence) = deciding(&report);
                row.figure = figure(&report, resource);
                row.verdict = Some(report.verdict);
                row.resource = resource;
                row.evidence = evidence;
                row.body_runs = Some(report.body_runs());
            }
            End::Failed(why) => row.error = Some(why),
        }
        row
    }

    /// `ok`, `missed`, `false positive`, `suspicious` or `error`.
    pub fn outcome(&self) -> &'static str {
        match (self.verdict, self.leaky) {
            (None, _) => "error",
            (Some(Verdict::Suspicious), _) => "suspicious",
            // The catalogue sets no switches or suppressions: anything short of suspicious is
            // "no leak found".
            (Some(Verdict::Leak), true)
            | (Some(Verdict::Off | Verdict::Clean | Verdict::Suppressed), false) => "ok",
            (Some(Verdict::Off | Verdict::Clean | Verdict::Suppressed), true) => "missed",
            (Some(Verdict::Leak), false) => "false positive",
        }
    }

    /// The evidence in a few words, for the table: the resource and how much, then the
    /// analyzer's first clause.
    fn short_evidence(&self) -> String {
        if let Some(error) = &self.error {
            return error.chars().take(60).collect();
        }
        let first = self
            .evidence
            .split([':', ',', '('])
            .next()
            .unwrap_or("")
            .trim();
        match self.resource {
            Some(Resource::Heap) => format!("heap {}; {first}", self.figure),
            _ => first.to_owned(),
        }
    }
}

/// The resource a report's verdict comes from, and its evidence. Counted resources before the
/// heap: a leaked thread or task also leaves heap behind, but the thread or task is the story.
fn deciding(report: &Report) -> (Option<Resource>, String) {
    if report.verdict == Verdict::Clean {
        return (None, report.heap.evidence.clone());
    }
    let mut findings: Vec<_> = report.findings().collect();
    // Stable: the counted resources keep their report order.
    findings.sort_by_key(|&(r, _)| !r.is_count());
    findings
        .into_iter()
        .find(|(_, finding)| finding.verdict() == report.verdict)
        .map_or((None, String::new()), |(r, finding)| {
            (Some(r), finding.evidence().to_owned())
        })
}

/// How much the deciding resource changed: per iteration for the heap (and for a clean run),
/// the net count for a counted resource.
fn figure(report: &Report, resource: Option<Resource>) -> String {
    match resource.and_then(|r| Some((r, report.finding(r)?))) {
        Some((r, Finding::Count(count))) => format!("{:+} {r}", count.net),
        _ => format!("{:+.1} B/iter", report.heap.bytes_per_iteration),
    }
}

/// The accuracy figures of a set of case runs.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// Runs of leaky cases with a verdict.
    pub leaky_runs: usize,
    /// Of those, runs whose verdict is leak.
    pub detected: usize,
    /// Runs of clean cases with a verdict.
    pub clean_runs: usize,
    /// Of those, runs whose verdict is leak.
    pub false_positives: usize,
    /// Runs whose verdict is suspicious (leaky or clean).
    pub suspicious: usize,
    /// Runs without a verdict.
    pub errors: usize,
    /// Body runs of the runs that got each verdict: leak, suspicious, clean.
    pub body_runs: [Vec<usize>; 3],
}

impl Summary {
    /// The figures of `rows`.
    pub fn of(rows: &[Row]) -> Summary {
        let mut s = Summary::default();
        for row in rows {
            let Some(verdict) = row.verdict else {
                s.errors += 1;
                continue;
            };
            if row.leaky {
                s.leaky_runs += 1;
                s.detected += usize::from(verdict == Verdict::Leak);
            } else {
                s.clean_runs += 1;
                s.false_positives += usize::from(verdict == Verdict::Leak);
            }
            s.suspicious += usize::from(verdict == Verdict::Suspicious);
            let slot = match verdict {
                Verdict::Leak => 0,
                Verdict::Suspicious => 1,
                Verdict::Off | Verdict::Clean | Verdict::Suppressed => 2,
            };
            s.body_runs[slot].push(row.body_runs.unwrap_or(0));
        }
        s
    }

    /// Recall in percent (100 when there is no leaky run).
    pub fn recall(&self) -> f64 {
        percent(self.detected, self.leaky_runs, 100.0)
    }

    /// False-positive rate in percent (0 when there is no clean run).
    pub fn false_positive_rate(&self) -> f64 {
        percent(self.false_positives, self.clean_runs, 0.0)
    }

    /// The summary's lines: rates, suspicious count, body runs per verdict.
    pub fn render(&self, min_recall: f64, max_fp: f64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "recall:          {:>6.2}%  {} of {} runs of leaky cases reported as leaks (target ≥ {min_recall}%)",
            self.recall(),
            self.detected,
            self.leaky_runs
        );
        let _ = writeln!(
            out,
            "false positives: {:>6.2}%  {} of {} runs of clean cases reported as leaks (target ≤ {max_fp}%)",
            self.false_positive_rate(),
            self.false_positives,
            self.clean_runs
        );
        let _ = writeln!(
            out,
            "suspicious:      {:>6}   runs (not detected when leaky, not a false positive when clean)",
            self.suspicious
        );
        if self.errors > 0 {
            let _ = writeln!(
                out,
                "errors:          {:>6}   runs without a verdict (crashed or hung)",
                self.errors
            );
        }
        let _ = writeln!(out, "body runs per verdict (median, max):");
        for (name, runs) in ["leak", "suspicious", "clean"].iter().zip(&self.body_runs) {
            match median_max(runs) {
                Some((median, max)) => {
                    let _ = writeln!(
                        out,
                        "  {name:<11} {median:>5}, {max:>3}   over {} runs",
                        runs.len()
                    );
                }
                None => {
                    let _ = writeln!(out, "  {name:<11}     -,   -");
                }
            }
        }
        let _ = writeln!(
            out,
            "  for comparison: CPython's `-R 3:3` runs a test 6 times, node's `leakage` 180 times"
        );
        out
    }

    /// Whether the figures meet the targets and every run got a verdict.
    pub fn passes(&self, min_recall: f64, max_fp: f64) -> bool {
        self.errors == 0 && self.recall() >= min_recall && self.false_positive_rate() <= max_fp
    }
}

fn percent(part: usize, whole: usize, if_none: f64) -> f64 {
    if whole == 0 {
        if_none
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The median (halfway between the middle two of an even count) and the maximum.
pub fn median_max(values: &[usize]) -> Option<(String, usize)> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let max = *sorted.last()?;
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2].to_string()
    } else {
        let (a, b) = (sorted[n / 2 - 1], sorted[n / 2]);
        if (a + b) % 2 == 0 {
            ((a + b) / 2).to_string()
        } else {
            format!("{}.5", (a + b) / 2)
        }
    };
    Some((median, max))
}

/// A job per case and trial, trial by trial; trial T's seed is T.
fn jobs<'a>(cases: impl IntoIterator<Item = &'a Case> + Clone, trials: u64) -> Vec<Job> {
    (0..trials)
        .flat_map(|trial| {
            cases.clone().into_iter().map(move |case| Job {
                case: case.clone(),
                trial,
                seed: trial,
            })
        })
        .collect()
}

/// Runs the selected cases for every trial and reports; the exit code says whether the targets
/// were met.
pub fn run(args: &SimulateArgs) -> Result<i32, CliError> {
    let kinds: Vec<Kind> = match &args.leak_type {
        Some(LeakType(kinds)) => kinds.clone(),
        None => Kind::ALL.to_vec(),
    };
    let cases: Vec<_> = catalogue::catalogue()
        .into_iter()
        .filter(|c| kinds.contains(&c.kind))
        .collect();
    if cases.is_empty() {
        return Err(CliError::NoCases {
            families: kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let jobs = jobs(&cases, args.trials);
    let parallel = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        |n| n as usize,
    );
    if args.service {
        return service::run(args, &cases, parallel);
    }
    let exe = std::env::current_exe().map_err(CliError::CurrentExe)?;

    eprintln!(
        "leakcheck: simulating {} cases × {} trial(s), {} at a time, each in a process of its own",
        cases.len(),
        args.trials,
        parallel
    );
    let started = Instant::now();
    let show_progress = std::io::stderr().is_terminal();
    let mut finished_count = 0;
    let finished = children::run_all(
        &exe,
        CASE_COMMAND,
        &jobs,
        parallel,
        Duration::from_secs(args.timeout),
        |index, _| {
            finished_count += 1;
            if show_progress {
                eprint!(
                    "\r\x1b[K[{finished_count}/{}] {}",
                    jobs.len(),
                    jobs[index].case.name
                );
                let _ = std::io::stderr().flush();
            }
        },
    )?;
    if show_progress {
        eprint!("\r\x1b[K");
    }
    let wall = started.elapsed();
    let rows: Vec<Row> = jobs
        .iter()
        .zip(finished)
        .map(|(job, finished)| Row::new(job, finished))
        .collect();
    let summary = Summary::of(&rows);
    let figures = format!(
        "{}wall time: {:.1} s for {} case runs on {} jobs\n",
        summary.render(args.min_recall, args.max_fp),
        wall.as_secs_f64(),
        rows.len(),
        parallel
    );
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&rows).map_err(|source| CliError::Encode {
                what: "the rows",
                source,
            })?;
            println!("{json}");
            eprint!("{figures}");
        }
        Format::Text => {
            print!("{}", table(&rows, args.trials > 1));
            println!();
            print!("{figures}");
        }
    }
    Ok(if summary.passes(args.min_recall, args.max_fp) {
        LeakcheckExitCode::OK
    } else {
        LeakcheckExitCode::FAILED
    })
}

/// The table: one line per case run.
pub fn table(rows: &[Row], with_trial: bool) -> String {
    let mut header = vec!["case", "family", "truth", "verdict", "result", "evidence"];
    header.extend(["runs", "time"]);
    if with_trial {
        header.insert(1, "trial");
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![
                row.case.clone(),
                row.kind.to_string(),
                if row.leaky { "leaks" } else { "clean" }.to_owned(),
                row.verdict.map_or("-".to_owned(), |v| v.to_string()),
                row.outcome().to_owned(),
                row.short_evidence(),
                row.body_runs.map_or("-".to_owned(), |n| n.to_string()),
                format!("{:.2}s", row.millis as f64 / 1000.0),
            ];
            if with_trial {
                cells.insert(1, row.trial.to_string());
            }
            cells
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Figures (trial, runs, time) right-aligned, text left-aligned.
    let right = |name: &str| matches!(name, "trial" | "runs" | "time");
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for cells in std::iter::once(&header).chain(&lines) {
        let mut text = String::new();
        for ((cell, w), name) in cells.iter().zip(&widths).zip(&header) {
            let pad = w - cell.chars().count();
            if right(name) {
                let _ = write!(text, "{}{cell}  ", " ".repeat(pad));
            } else {
                let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    out
}

#[cfg(test)]
mod tests;
