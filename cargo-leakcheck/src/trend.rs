//! `cargo leakcheck trend FILES…|DIR [--out FILE] [--format text|json]`: the same tests across
//! many reports (saved baselines, CI artifacts of many commits), oldest run first.
//!
//! Prints a table — one row per test, one column per run, cells `allocs/iter / bytes/iter` with
//! leaks marked — and writes an HTML page with one plot per test of both figures over the runs
//! (see [`crate::html::trend_page`]). A test missing from a run is a gap, not a zero.

use crate::html::plot::{format_value, Unit};
use crate::{html, locate, CliError, LeakcheckExitCode};
use leakcheck::record::{self, Outcome, RunInfo, RunReport};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `trend`.
#[derive(Debug, clap::Args)]
pub struct TrendArgs {
    /// Report files (a report.json, saved baselines, CI artifacts), names of saved baselines, or
    /// directories: every `*.json` file directly in them.
    #[arg(required = true, value_name = "FILES…|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the HTML page.
    #[arg(long, value_name = "FILE", default_value = "leakcheck-trend.html")]
    pub out: PathBuf,
    /// What to print: a table for people, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Follow one call site instead of whole tests: a fingerprint, or part of a function path
    /// (`parse_records`). Cells are then that site's allocations and bytes in each run's
    /// profiled iteration (tests run with `profile`); a run whose profile does not list it is
    /// a gap.
    #[arg(long, value_name = "FINGERPRINT|FUNCTION")]
    pub site: Option<String>,
}

/// What `trend` prints on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table: one row per test, one column per run.
    Text,
    /// The [`Trend`] as JSON.
    Json,
}

/// The same tests across runs, oldest run first.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Trend {
    /// The runs, ordered by their start.
    pub runs: Vec<TrendRun>,
    /// Every test seen in any run: those that leaked in their latest run first. With a site
    /// followed, one row per test and matching site, named `test @ function`.
    pub tests: Vec<TestTrend>,
    /// The site followed (`--site`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// One run of a trend.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct TrendRun {
    /// The column heading: the short commit (7 characters), or the start time without a commit;
    /// `#2`, `#3`… added when runs would share one.
    pub label: String,
    /// The report file it was read from.
    pub file: String,
    /// The run as its report describes it.
    pub info: RunInfo,
    /// Leak tests in the run.
    pub tests: usize,
    /// Of those, the ones that leaked.
    pub leaked: usize,
}

/// One test across the runs.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct TestTrend {
    /// [`leakcheck::TestId::full_name`]: how a test is recognised across reports.
    pub name: String,
    /// One entry per run, in run order: `None` where the run did not have the test.
    pub points: Vec<Option<Point>>,
}

/// A test's figures in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Point {
    /// How the test ended in that run.
    pub outcome: Outcome,
    /// Mean allocations per measured iteration (`None` when the body did not run to the end).
    pub allocs_per_iter: Option<f64>,
    /// Mean bytes allocated per measured iteration.
    pub bytes_per_iter: Option<f64>,
}

impl Point {
    /// The table cell: `allocs / bytes`, with ` LEAK` (or the outcome) when it did not pass.
    pub fn cell(&self) -> String {
        let figures = match (self.allocs_per_iter, self.bytes_per_iter) {
            (Some(allocs), Some(bytes)) => format!(
                "{} / {}",
                format_value(allocs, Unit::Count),
                format_value(bytes, Unit::Bytes)
            ),
            _ => String::new(),
        };
        let mark = match self.outcome {
            Outcome::Passed => "",
            Outcome::Leaked => "LEAK",
            Outcome::OverBudget => "OVER BUDGET",
            Outcome::Failed => "failed",
        };
        [figures.as_str(), mark]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl TestTrend {
    /// True when the test leaked in the latest run that had it.
    pub fn leaked_last(&self) -> bool {
        self.points
            .iter()
            .rev()
            .flatten()
            .next()
            .is_some_and(|p| p.outcome == Outcome::Leaked)
    }

    fn leaked_ever(&self) -> bool {
        self.points
            .iter()
            .flatten()
            .any(|p| p.outcome == Outcome::Leaked)
    }
}

impl Trend {
    /// The trend of these reports (each with the file it came from), ordered by run start; runs
    /// that started at the same time keep the order they were given in.
    pub fn new(reports: Vec<(PathBuf, RunReport)>) -> Trend {
        Self::build(reports, None, |t| {
            vec![(
                t.test.full_name(),
                Point {
                    outcome: t.outcome,
                    allocs_per_iter: t.figures.as_ref().map(|f| f.allocs_per_iter),
                    bytes_per_iter: t.figures.as_ref().map(|f| f.bytes_per_iter),
                },
            )]
        })
    }

    /// One call site across the runs: `site` is a fingerprint or part of a function path.
    /// Each test whose profile lists a matching site gets a row per such site (by fingerprint),
    /// with its allocations and bytes in each run's profiled iteration.
    pub fn of_site(reports: Vec<(PathBuf, RunReport)>, site: &str) -> Trend {
        Self::build(reports, Some(site.to_owned()), |t| {
            let Some(profile) = t.report.as_ref().and_then(|r| r.profile.as_ref()) else {
                return Vec::new();
            };
            profile
                .sites
                .iter()
                .filter(|s| {
                    s.fingerprint == site
                        || s.frames.first().is_some_and(|f| f.function.contains(site))
                })
                .map(|s| {
                    let function = s.frames.first().map_or("?", |f| f.function.as_str());
                    (
                        format!("{} @ {function} ({})", t.test.full_name(), s.fingerprint),
                        Point {
                            outcome: t.outcome,
                            allocs_per_iter: Some(s.allocations as f64),
                            bytes_per_iter: Some(s.bytes as f64),
                        },
                    )
                })
                .collect()
        })
    }

    /// The runs of `reports`, and a row per name `points_of` gives a test, with a gap in each
    /// run that lacks it.
    fn build(
        mut reports: Vec<(PathBuf, RunReport)>,
        site: Option<String>,
        points_of: impl Fn(&leakcheck::record::TestRecord) -> Vec<(String, Point)>,
    ) -> Trend {
        reports.sort_by_key(|(_, r)| r.run.started_unix_ms);

        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let runs = reports
            .iter()
            .map(|(file, report)| {
                let base = run_label(&report.run);
                let n = seen.entry(base.clone()).or_insert(0);
                *n += 1;
                TrendRun {
                    label: if *n == 1 { base } else { format!("{base}#{n}") },
                    file: crate::shown(file),
                    info: report.run.clone(),
                    tests: report.tests.len(),
                    leaked: report
                        .tests
                        .iter()
                        .filter(|t| t.outcome == Outcome::Leaked)
                        .count(),
                }
            })
            .collect();

        // Every test of every run, by name, with a gap in each run that lacks it.
        let mut by_name: BTreeMap<String, Vec<Option<Point>>> = BTreeMap::new();
        for (i, (_, report)) in reports.iter().enumerate() {
            for t in &report.tests {
                for (name, point) in points_of(t) {
                    let points = by_name
                        .entry(name)
                        .or_insert_with(|| vec![None; reports.len()]);
                    points[i] = Some(point);
                }
            }
        }
        let mut tests: Vec<TestTrend> = by_name
            .into_iter()
            .map(|(name, points)| TestTrend { name, points })
            .collect();
        // What needs attention now first, then what leaked before; by name otherwise (stable).
        tests.sort_by_key(|t| (!t.leaked_last(), !t.leaked_ever()));
        Trend { runs, tests, site }
    }

    /// The text table: the runs, then one row per test with a column per run.
    pub fn text_table(&self) -> String {
        let mut out = String::from("runs, oldest first:\n");
        for (i, run) in self.runs.iter().enumerate() {
            out.push_str(&format!(
                "  {:>2}  {}  {}{}  {} tests, {} leaked  ({})\n",
                i + 1,
                run.label,
                run.info.started_at,
                run.info
                    .branch
                    .as_deref()
                    .map(|b| format!("  {b}"))
                    .unwrap_or_default(),
                run.tests,
                run.leaked,
                run.file
            ));
        }
        out.push('\n');

        let header: Vec<String> = std::iter::once("test".to_owned())
            .chain(self.runs.iter().map(|r| r.label.clone()))
            .collect();
        let rows: Vec<Vec<String>> = self
            .tests
            .iter()
            .map(|t| {
                std::iter::once(t.name.clone())
                    .chain(
                        t.points
                            .iter()
                            .map(|p| p.as_ref().map_or_else(|| "-".to_owned(), Point::cell)),
                    )
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                std::iter::once(&header)
                    .chain(&rows)
                    .map(|row| row[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        match &self.site {
            None => {
                if self.tests.is_empty() {
                    out.push_str("(no leak tests in these runs)\n");
                }
                out.push_str(
                    "\ncells: allocations / bytes allocated per iteration; LEAK: leaked in that \
                     run; -: not in that run\n",
                );
            }
            Some(site) => {
                if self.tests.is_empty() {
                    let _ = writeln!(
                        out,
                        "(no profiled test lists a site matching `{site}`: run the tests with \
                         `profile` on, e.g. `cargo leakcheck test --profile`)"
                    );
                }
                let _ = writeln!(
                    out,
                    "\ncells: allocations / bytes of the site `{site}` in each run's profiled \
                     iteration; LEAK: the test leaked in that run; -: not profiled there, or \
                     the site not listed"
                );
            }
        }
        out
    }
}

/// How a run is labelled: its short commit, or when it started.
fn run_label(run: &RunInfo) -> String {
    match run
        .commit
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(commit) => commit.chars().take(7).collect(),
        // `2026-11-21T16:40:45Z` → `2026-11-21 16:40`: short enough for a column heading.
        None => run
            .started_at
            .get(..16)
            .map_or_else(|| run.started_at.clone(), |s| s.replacen('T', " ", 1)),
    }
}

/// Reads the reports the arguments name: files, names of saved baselines, and every `*.json`
/// file directly in directories. Any file that cannot be read as a report is an error.
pub fn load(inputs: &[PathBuf]) -> Result<Vec<(PathBuf, RunReport)>, CliError> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let entries = std::fs::read_dir(input).map_err(|source| CliError::Read {
                path: input.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else if input.exists() || looks_like_path(input) {
            // Let `read_report` say what is wrong with it, naming the file.
            files.push(input.clone());
        } else {
            files.push(locate::report_file(&input.to_string_lossy())?);
        }
    }
    files
        .into_iter()
        .map(|file| {
            let report = record::read_report(&file)?;
            Ok((file, report))
        })
        .collect()
}

/// True for arguments that cannot be the name of a saved baseline.
fn looks_like_path(input: &Path) -> bool {
    let text = input.to_string_lossy();
    text.contains('/') || text.contains('\\') || text.ends_with(".json")
}

/// Runs `trend`: reads the reports, prints the table (or JSON), writes the page.
pub fn run(args: &TrendArgs) -> Result<i32, CliError> {
    let reports = load(&args.inputs)?;
    if reports.is_empty() {
        return Err(CliError::NoReports {
            inputs: args.inputs.clone(),
        });
    }
    let trend = match &args.site {
        Some(site) => Trend::of_site(reports, site),
        None => Trend::new(reports),
    };

    let page = locate::absolute(&args.out);
    std::fs::write(&page, html::trend_page(&trend)).map_err(|source| CliError::Write {
        path: page.clone(),
        source,
        hint: Some("choose another file with --out"),
    })?;
    match args.format {
        Format::Text => {
            print!("{}", trend.text_table());
            println!("\ntrend page: {}", page.display());
        }
        Format::Json => {
            let json = serde_json::to_string_pretty(&trend).map_err(|source| CliError::Encode {
                what: "the trend",
                source,
            })?;
            println!("{json}");
            // stdout is for the JSON; people still learn where the page is.
            eprintln!("trend page: {}", page.display());
        }
    }
    Ok(LeakcheckExitCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real profiled run (tests/e2e/profile.rs), and the same with `strings_from` making
    /// `strings` allocations, started `later` ms after.
    fn run(strings: u64, later: u64) -> (PathBuf, RunReport) {
        let text = include_str!("../tests/data/profiled-report.json");
        let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
        json["run"]["started_unix_ms"] =
            (json["run"]["started_unix_ms"].as_u64().unwrap() + later).into();
        json["run"]["commit"] = format!("{later:07}").into();
        for test in json["tests"].as_array_mut().unwrap() {
            for site in test["report"]["profile"]["sites"].as_array_mut().unwrap() {
                if site["frames"][0]["function"] == "profiled::strings_from" {
                    site["allocations"] = strings.into();
                }
            }
        }
        let report = record::parse_report(&json.to_string(), Path::new("profiled.json")).unwrap();
        (PathBuf::from(format!("run-{later}.json")), report)
    }

    #[test]
    fn a_site_is_followed_across_runs_by_function_or_fingerprint() {
        let runs = vec![run(13, 1000), run(10, 0)];
        let trend = Trend::of_site(runs.clone(), "strings_from");
        assert_eq!(trend.tests.len(), 2, "both tests list the site: {trend:#?}");
        for test in &trend.tests {
            assert!(
                test.name.contains(" @ profiled::strings_from ("),
                "{}",
                test.name
            );
            let allocs: Vec<Option<f64>> = test
                .points
                .iter()
                .map(|p| p.as_ref().and_then(|p| p.allocs_per_iter))
                .collect();
            assert_eq!(allocs, [Some(10.0), Some(13.0)], "oldest first");
        }
        let fingerprint = trend.tests[0]
            .name
            .rsplit('(')
            .next()
            .unwrap()
            .trim_end_matches(')');
        // A fingerprint covers the three innermost user functions, so the same function
        // reached from another test is another site.
        let by_fingerprint = Trend::of_site(runs.clone(), fingerprint);
        assert_eq!(by_fingerprint.tests.len(), 1);
        assert_eq!(by_fingerprint.tests[0].name, trend.tests[0].name);
        let text = Trend::of_site(runs, "no_such_function").text_table();
        assert!(
            text.contains("no profiled test lists a site matching `no_such_function`"),
            "{text}"
        );
    }
}
