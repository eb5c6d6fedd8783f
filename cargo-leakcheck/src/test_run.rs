//! `cargo leakcheck test [ARGS…]`: one fresh run of the leak tests through `cargo test` (or
//! `cargo nextest run`), then a summary table and where the reports are.

use crate::locate::Workspace;
use crate::{html, CliError, LeakcheckExitCode};
use leakcheck::record::{self, Outcome, RunReport};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{SystemTime, UNIX_EPOCH};

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Run the tests with `cargo nextest run` instead of `cargo test`.
    #[arg(long)]
    pub nextest: bool,
    /// Profile every leak test: one more iteration after its verdict, traced, whose allocations
    /// the record counts by call site (`LEAKCHECK_PROFILE=1`).
    #[arg(long)]
    pub profile: bool,
    /// Arguments passed on to `cargo test` (or `cargo nextest run`), e.g. `--workspace` or
    /// `-p my-crate -- my_test`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cargo_args: Vec<OsString>,
}

/// Runs the tests as a new run. The exit code is [`LeakcheckExitCode::OK`] when they passed,
/// [`LeakcheckExitCode::FAILED`] when one failed, and [`LeakcheckExitCode::BUILD_FAILED`] when
/// they could not be built.
pub fn run(args: &TestArgs) -> Result<i32, CliError> {
    run_and_report(args).map(|(code, _)| code)
}

/// [`run`], also handing back the run's report (`None` when no leak test of this run reported).
pub(crate) fn run_and_report(args: &TestArgs) -> Result<(i32, Option<RunReport>), CliError> {
    let workspace = Workspace::current()?;
    let out_dir = workspace.output_dir();
    let run_id = new_run_id();

    // `cargo test` exits 101 both when the build fails and when a test fails, so the tests are
    // built first by `cargo test --no-run` with the same arguments (the second build finds
    // everything fresh). nextest tells them apart itself: 101 for a build, 100 for tests.
    if !args.nextest {
        let (build, command) = run_cargo(args, &run_id, &out_dir, true)?;
        if build.code() == Some(CARGO_USAGE_ERROR) {
            return Err(CliError::CargoUsage { command });
        }
        if !build.success() {
            return Ok((build_failed(&build), None));
        }
    }
    let (status, _) = run_cargo(args, &run_id, &out_dir, false)?;
    if args.nextest && status.code() == Some(NEXTEST_BUILD_FAILED) {
        return Ok((build_failed(&status), None));
    }

    let report_path = out_dir.join("report.json");
    let report = match record::read_report(&report_path) {
        Ok(report) if report.run.id == run_id => Some(report),
        Ok(_) | Err(_) => None,
    };
    match &report {
        Some(report) => {
            print!("{}", summary_table(report));
            print!("{}", profile_summary(report));
            let page = out_dir.join("report.html");
            std::fs::write(&page, html::report_page(report))
                .map_err(|e| CliError::write(&page, e))?;
            for unreadable in &report.unreadable {
                eprintln!("leakcheck: warning: a record could not be read: {unreadable}");
            }
            println!();
            println!("report.json: {}", report_path.display());
            println!("junit.xml:   {}", out_dir.join("junit.xml").display());
            println!("report.html: {}", page.display());
        }
        None => println!(
            "leakcheck: no leak test ran in this run (no #[leak_test] matched); nothing was \
             written to {}",
            out_dir.display()
        ),
    }
    let code = if status.success() {
        LeakcheckExitCode::OK
    } else {
        LeakcheckExitCode::FAILED
    };
    Ok((code, report))
}

/// nextest's exit code for a build that failed (its `NextestExitCode::BUILD_FAILED`).
const NEXTEST_BUILD_FAILED: i32 = 101;

/// cargo's exit code for a command line it cannot parse (it exits 101 for every other error).
const CARGO_USAGE_ERROR: i32 = 1;

/// Runs `cargo test ARGS…` (or `cargo nextest run ARGS…`) for run `run_id`, or with
/// `build_only`, `cargo test --no-run ARGS…`; waits for it. Its status, and the command as run.
fn run_cargo(
    args: &TestArgs,
    run_id: &str,
    out_dir: &Path,
    build_only: bool,
) -> Result<(ExitStatus, String), CliError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    if args.nextest {
        command.args(["nextest", "run"]);
    } else {
        command.arg("test");
    }
    if build_only {
        command.arg("--no-run");
    }
    command
        .args(&args.cargo_args)
        // The same environment for both steps, so the second build is the first one.
        .env(leakcheck::env::RUN_ID, run_id)
        // Tests run in their package's directory: hand them the directory as resolved here.
        .env(leakcheck::env::DIR, out_dir);
    if args.profile {
        command.env(leakcheck::env::PROFILE, "1");
    }
    let described = describe(&command);
    if !build_only {
        eprintln!("leakcheck: run {run_id}: {described}");
    }
    match command.status() {
        Ok(status) => Ok((status, described)),
        Err(source) => Err(CliError::Spawn {
            program: described,
            source,
        }),
    }
}

/// Says that the build failed and returns [`LeakcheckExitCode::BUILD_FAILED`].
fn build_failed(status: &ExitStatus) -> i32 {
    eprintln!(
        "leakcheck: the build failed ({status}): no test ran and no report was written; fix the \
         errors above and run again"
    );
    LeakcheckExitCode::BUILD_FAILED
}

/// A run id that no other run shares: the time and this process's id.
fn new_run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("cli-{ms}-{}", std::process::id())
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The table printed after the run: one row per leak test, a verdict column per resource the
/// run's tests report (tasks when some test is async).
pub fn summary_table(report: &RunReport) -> String {
    let resources = report.resources();
    let mut header = vec!["test", "outcome"];
    header.extend(resources.iter().map(|r| r.name()));
    header.extend(["bytes/iter", "allocs/iter", "iters", "time"]);
    let text_columns = 2 + resources.len();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for t in &report.tests {
        let mut row = vec![t.test.full_name(), t.outcome.to_string()];
        row.extend(resources.iter().map(|&r| {
            t.figures
                .as_ref()
                .and_then(|f| f.verdict_of(r))
                .map_or_else(|| "-".to_owned(), |v| v.to_string())
        }));
        match &t.figures {
            Some(f) => row.extend([
                format!("{:.0}", f.bytes_per_iter),
                format!("{:.1}", f.allocs_per_iter),
                (f.warmup + f.measured + f.traced).to_string(),
            ]),
            None => row.extend(["-", "-", "-"].map(str::to_owned)),
        }
        row.push(format!("{:.2}s", t.duration_ms as f64 / 1000.0));
        rows.push(row);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, &w)) in cells.iter().zip(&widths).enumerate() {
            // Text columns left-aligned, figures right-aligned.
            if i < text_columns {
                let _ = write!(text, "{cell:<w$}  ");
            } else {
                let _ = write!(text, "{cell:>w$}  ");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&header);
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let count = |o: Outcome| report.tests.iter().filter(|t| t.outcome == o).count();
    let _ = writeln!(
        out,
        "\n{} leak tests: {} passed, {} leaked, {} over budget, {} failed",
        report.tests.len(),
        count(Outcome::Passed),
        count(Outcome::Leaked),
        count(Outcome::OverBudget),
        count(Outcome::Failed)
    );
    out
}

/// Sites shown per profiled test in the summary (the record and report.html have more).
const SUMMARY_SITES: usize = 3;

/// The top call sites of each profiled test (`profile`), after the table; empty when no test
/// was profiled.
pub fn profile_summary(report: &RunReport) -> String {
    let mut out = String::new();
    for t in &report.tests {
        let Some(profile) = t.report.as_ref().and_then(|r| r.profile.as_ref()) else {
            continue;
        };
        if out.is_empty() {
            out.push_str("\nallocations by call site (one profiled iteration of each test):\n");
        }
        let _ = writeln!(
            out,
            "  {}: {} allocations, {} B",
            t.test.full_name(),
            profile.allocations,
            profile.bytes
        );
        for site in profile.sites.iter().take(SUMMARY_SITES) {
            let _ = writeln!(
                out,
                "    {:>6} {:>5.1}%  {}",
                site.allocations,
                site.allocation_share * 100.0,
                site.location()
            );
        }
        let more = profile.sites.len().saturating_sub(SUMMARY_SITES);
        if more > 0 {
            let _ = writeln!(out, "    … {more} more sites in report.html and the record");
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn summary_table_lists_each_test_with_its_figures() {
        let report = record::parse_report(
            include_str!("../tests/data/report.json"),
            "tests/data/report.json".as_ref(),
        )
        .unwrap();
        insta::assert_snapshot!(summary_table(&report));
    }

    /// A real run of the profiled fixture (`LEAKCHECK_PROFILE=1`, tests/e2e/profile.rs).
    #[test]
    fn profiled_tests_list_their_top_sites_after_the_table() {
        let report = record::parse_report(
            include_str!("../tests/data/profiled-report.json"),
            "tests/data/profiled-report.json".as_ref(),
        )
        .unwrap();
        let summary = profile_summary(&report);
        for needle in [
            "leakcheck-fixture-controls::profiled::known_sites: 23 allocations",
            "10  43.5%  profiled::strings_from (",
            "6  26.1%  profiled::pushes (",
            "[in dependency `leakcheck_fixture_dep`, called from profiled::body (",
            "… 1 more sites",
        ] {
            assert!(summary.contains(needle), "{needle:?} in:\n{summary}");
        }
        // Not profiled: nothing.
        assert_eq!(profile_summary(&async_report()), "");
    }

    /// A real run of the tasks fixture: a leaked task, a clean async test and a sync one.
    pub(crate) fn async_report() -> RunReport {
        record::parse_report(
            include_str!("../tests/data/async-report.json"),
            "tests/data/async-report.json".as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn summary_table_has_the_tasks_verdict_of_async_tests() {
        let table = summary_table(&async_report());
        let cells = |test: &str| -> Vec<&str> {
            let row = table.lines().find(|l| l.contains(test)).unwrap();
            row.split_whitespace().collect()
        };
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        let tasks = header
            .iter()
            .position(|&c| c == "tasks")
            .expect("a tasks column");
        assert_eq!(cells("task_pending_forever")[tasks], "LEAK", "{table}");
        assert_eq!(cells("task_spawned_and_awaited")[tasks], "clean", "{table}");
        // A sync test has no tasks to count.
        assert_eq!(cells("sync_test_next_to_async_ones")[tasks], "-", "{table}");
        insta::assert_snapshot!(table);
    }
}
