//! End-to-end: the fixture crate's leak tests run through `cargo leakcheck test` and plain
//! `cargo test`, and what they leave behind (records, report.json, junit.xml, report.html) read
//! back by the CLI, by a real JUnit reader (Debian's python3-junitparser) and by xmllint against
//! the schema in docs/.

#[path = "../../tests/e2e/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use leakcheck::record::{self, Outcome, RunReport};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CLI: &str = env!("CARGO_BIN_EXE_cargo-leakcheck");

/// A fresh output directory for one test.
fn out_dir(name: &str) -> PathBuf {
    let dir = fixture::target_dir().join("leakcheck-e2e").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `program ARGS` in the fixture workspace with records going to `out`.
fn run(program: &str, args: &[&str], out: &Path, envs: &[(&str, &str)]) -> Output {
    let output = fixture::in_fixtures(program)
        .args(args)
        .env(leakcheck::env::DIR, out)
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    output
}

fn text(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn report(out: &Path) -> RunReport {
    record::read_report(&out.join("report.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn workspace_root() -> PathBuf {
    fixture::fixtures_dir()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_owned()
}

#[test]
fn test_command_runs_the_leak_tests_and_leaves_every_report() {
    let out = out_dir("test-command");
    let args = [
        "leakcheck",
        "test",
        "--no-fail-fast",
        "--test",
        "budgets",
        "--test",
        "perf",
        "--test",
        "clean",
        "--",
        "--test-threads=4",
    ];
    let output = run(CLI, &args, &out, &[]);
    let shown = text(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "budgets fail the run:\n{shown}"
    );

    let report = report(&out);
    assert!(report.run.id.starts_with("cli-"), "{}", report.run.id);
    assert_eq!(report.tests.len(), 3 + 2 + 14, "{shown}");
    let outcome = |name: &str| {
        report
            .test(&format!("leakcheck-fixture-controls::{name}"))
            .unwrap_or_else(|| panic!("{name} not in report.json"))
    };
    assert_eq!(outcome("budgets::within_budget").outcome, Outcome::Passed);
    let over = outcome("budgets::over_allocation_budget");
    assert_eq!(over.outcome, Outcome::OverBudget);
    let message = over.message.as_deref().unwrap_or_default();
    assert!(message.contains("`max_allocs_per_iter = 4`"), "{message}");
    assert_eq!(over.figures.as_ref().unwrap().allocs_per_iter, 6.0);
    assert_eq!(
        outcome("budgets::over_byte_budget").outcome,
        Outcome::OverBudget
    );
    let passed = report
        .tests
        .iter()
        .filter(|t| t.outcome == Outcome::Passed)
        .count();
    assert_eq!(passed, 17, "{shown}");
    // Each record carries its identity, config, figures and series.
    let perf = outcome("perf::parse_records");
    assert_eq!(perf.test.file, "controls/tests/perf.rs");
    assert!(perf.test.line > 0);
    assert_eq!(perf.config.iterations, 8);
    let figures = perf.figures.as_ref().unwrap();
    assert_eq!(figures.allocs_per_iter, 4.0);
    assert_eq!(
        perf.report.as_ref().unwrap().samples.len(),
        figures.measured + 1
    );
    assert!(report
        .run
        .rustc
        .as_deref()
        .unwrap_or("")
        .starts_with("rustc "));

    // One record file per test in the run's folder.
    let records = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .flatten()
        .map(|run| std::fs::read_dir(run.path()).unwrap().count())
        .collect::<Vec<_>>();
    assert_eq!(records, vec![19], "one run folder with a record per test");

    // The summary table and where the files are.
    let stdout = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "leakcheck-fixture-controls::budgets::over_byte_budget",
        "over budget",
        "19 leak tests: 17 passed, 0 leaked, 2 over budget, 0 failed",
        "report.json: ",
        "junit.xml: ",
        "report.html: ",
    ] {
        assert!(stdout.contains(needle), "lacks {needle:?}:\n{shown}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg"), "report.html has plots");

    // A real JUnit reader agrees on the counts.
    let junit = out.join("junit.xml");
    let parsed = junitparser_counts(&junit);
    assert_eq!(
        parsed,
        "leakcheck-fixture-controls::budgets 3 2\n\
         leakcheck-fixture-controls::clean 14 0\n\
         leakcheck-fixture-controls::perf 2 0\n",
        "junitparser's view of {}",
        junit.display()
    );
    // And the schema kept in the repository accepts it.
    let xsd = workspace_root().join("docs/junit.xsd");
    let lint = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&junit)
        .output()
        .expect("xmllint runs (Debian package libxml2-utils; .ci/run installs it)");
    assert!(
        lint.status.success(),
        "xmllint rejects junit.xml:\n{}",
        text(&lint)
    );
}

/// Per testsuite: name, testcases and failed testcases, as junitparser reads them.
fn junitparser_counts(junit: &Path) -> String {
    const SCRIPT: &str = r#"
import sys
from junitparser import JUnitXml
for suite in JUnitXml.fromfile(sys.argv[1]):
    cases = list(suite)
    failed = sum(1 for c in cases if not c.is_passed)
    assert all(c.classname == suite.name and c.time >= 0 for c in cases)
    print(suite.name, len(cases), failed)
"#;
    // Debian's python, where python3-junitparser is installed (not a pyenv shim's).
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or("python3");
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(junit)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "junitparser cannot read {} (install Debian's python3-junitparser; .ci/run does):\n{}",
        junit.display(),
        text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn plain_cargo_test_keeps_the_report_current_and_a_new_run_replaces_the_old() {
    let out = out_dir("plain-cargo-test");
    // One `cargo test` of two binaries is one run: both binaries' records are in the report.
    let first = run(
        &cargo(),
        &[
            "test",
            "--no-fail-fast",
            "--test",
            "perf",
            "--test",
            "budgets",
        ],
        &out,
        &[],
    );
    assert!(!first.status.success(), "budgets fail:\n{}", text(&first));
    let report1 = report(&out);
    assert_eq!(report1.tests.len(), 5, "{}", text(&first));
    assert!(!report1.run.id.starts_with("cli-"), "{}", report1.run.id);

    // The next `cargo test` is a new run: the old records go, whatever binaries it runs.
    let second = run(&cargo(), &["test", "--test", "perf"], &out, &[]);
    assert!(second.status.success(), "{}", text(&second));
    let report2 = report(&out);
    assert_ne!(report2.run.id, report1.run.id);
    let names: Vec<String> = report2.tests.iter().map(|t| t.test.full_name()).collect();
    assert_eq!(
        names,
        [
            "leakcheck-fixture-controls::perf::build_index",
            "leakcheck-fixture-controls::perf::parse_records"
        ]
    );
    assert_eq!(std::fs::read_dir(out.join("runs")).unwrap().count(), 1);
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 2, "{junit}");
}

#[test]
fn diff_flags_an_allocation_increase_between_runs_and_passes_identical_ones() {
    let out = out_dir("diff-runs");
    let run_perf = |extra: &str, keep_as: &str| {
        let output = run(
            CLI,
            &["leakcheck", "test", "--test", "perf"],
            &out,
            &[("CONTROLS_EXTRA_ALLOCS", extra)],
        );
        assert!(output.status.success(), "{}", text(&output));
        let kept = out.join(keep_as);
        std::fs::copy(out.join("report.json"), &kept).unwrap();
        kept
    };
    let base = run_perf("0", "base.json");
    let same = run_perf("0", "same.json");
    let more = run_perf("3", "more.json");

    let diff = |head: &Path| {
        Command::new(CLI)
            .args(["leakcheck", "diff"])
            .arg(&base)
            .arg(head)
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap()
    };
    let unchanged = diff(&same);
    assert_eq!(unchanged.status.code(), Some(0), "{}", text(&unchanged));
    let regressed = diff(&more);
    assert_eq!(regressed.status.code(), Some(1), "{}", text(&regressed));
    let stdout = String::from_utf8_lossy(&regressed.stdout);
    assert!(
        stdout.contains("parse_records"),
        "names the test:\n{stdout}"
    );
}

#[test]
fn profile_diff_and_trend_name_the_call_site_that_allocates_more() {
    let out = out_dir("profile-runs");
    let run_profiled = |extra: &str, keep_as: &str| {
        let output = run(
            CLI,
            &["leakcheck", "test", "--profile", "--test", "profiled"],
            &out,
            &[("PROFILED_EXTRA", extra)],
        );
        assert!(output.status.success(), "{}", text(&output));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        // The summary lists each profiled test's top sites after its table.
        assert!(
            stdout.contains("allocations by call site (one profiled iteration of each test):")
                && stdout.contains("profiled::strings_from ("),
            "{stdout}"
        );
        let kept = out.join(keep_as);
        std::fs::copy(out.join("report.json"), &kept).unwrap();
        kept
    };
    let base = run_profiled("0", "base.json");
    let head = run_profiled("3", "head.json");

    let diff = Command::new(CLI)
        .args(["leakcheck", "diff"])
        .arg(&base)
        .arg(&head)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff));
    let stdout = String::from_utf8_lossy(&diff.stdout);
    // Both tests of the binary regressed, each in `strings_from` and nowhere else.
    assert_eq!(
        stdout
            .matches("+3 allocs/iter at profiled::strings_from (")
            .count(),
        2,
        "{stdout}"
    );
    assert_eq!(stdout.matches(" allocs/iter at ").count(), 2, "{stdout}");

    let trend = Command::new(CLI)
        .args(["leakcheck", "trend", "--site", "strings_from", "--out"])
        .arg(out.join("trend.html"))
        .arg(&base)
        .arg(&head)
        .output()
        .unwrap();
    assert_eq!(trend.status.code(), Some(0), "{}", text(&trend));
    let table = String::from_utf8_lossy(&trend.stdout);
    let row = table
        .lines()
        .find(|l| l.contains("::known_sites @ profiled::strings_from ("))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells.len(), 3, "{row}");
    assert!(
        cells[1].starts_with("10 / ") && cells[2].starts_with("13 / "),
        "{row}"
    );
}

/// The async fixture test that leaks heap and, with `CONTROLS_LEAK_A_TASK=1`, a task too.
const GAINS_A_TASK_LEAK: &str = "heap_leak_gaining_a_task_leak";

/// Two real runs of [`GAINS_A_TASK_LEAK`] through `cargo leakcheck test`: BASE leaks heap, HEAD
/// also a task. Each is `(report.json kept, stdout)`; run once for the tests that read them.
fn task_leak_runs() -> &'static [(PathBuf, String); 2] {
    static RUNS: std::sync::OnceLock<[(PathBuf, String); 2]> = std::sync::OnceLock::new();
    RUNS.get_or_init(|| {
        let out = out_dir("diff-task-leak");
        let args = [
            "leakcheck",
            "test",
            "--test",
            "tasks",
            "--",
            "--exact",
            GAINS_A_TASK_LEAK,
        ];
        ["0", "1"].map(|leak_a_task| {
            let output = run(CLI, &args, &out, &[("CONTROLS_LEAK_A_TASK", leak_a_task)]);
            assert_eq!(
                output.status.code(),
                Some(1),
                "it leaks:\n{}",
                text(&output)
            );
            let kept = out.join(format!("leaks-a-task-{leak_a_task}.json"));
            std::fs::copy(out.join("report.json"), &kept).unwrap();
            if leak_a_task == "1" {
                let page = std::fs::read_to_string(out.join("report.html")).unwrap();
                std::fs::write(out.join("head.html"), page).unwrap();
            }
            (kept, String::from_utf8_lossy(&output.stdout).into_owned())
        })
    })
}

/// The verdicts of the one test in a kept report: heap and tasks.
fn heap_and_tasks(path: &Path) -> (leakcheck::Verdict, Option<leakcheck::Verdict>) {
    let report = record::read_report(path).unwrap_or_else(|e| panic!("{e}"));
    let name = format!("leakcheck-fixture-controls::tasks::{GAINS_A_TASK_LEAK}");
    let record = report
        .test(&name)
        .unwrap_or_else(|| panic!("{name} not run"));
    assert_eq!(record.outcome, Outcome::Leaked);
    let figures = record.figures.as_ref().expect("figures");
    (figures.heap, figures.tasks)
}

#[test]
fn the_real_records_leak_heap_in_base_and_heap_and_a_task_in_head() {
    use leakcheck::Verdict;
    let [(base, _), (head, _)] = task_leak_runs();
    assert_eq!(heap_and_tasks(base), (Verdict::Leak, Some(Verdict::Clean)));
    // The run stops at the task leak (8 iterations): HEAD's heap is suspicious or a leak.
    let (heap, tasks) = heap_and_tasks(head);
    assert!(heap >= Verdict::Suspicious, "{heap:?}");
    assert_eq!(tasks, Some(Verdict::Leak));
}

#[test]
fn the_summary_table_of_an_async_test_has_its_tasks_verdict() {
    let [(_, base), (_, head)] = task_leak_runs();
    for (stdout, tasks) in [(base, "clean"), (head, "LEAK")] {
        // After what libtest printed: the table's header, then a row per test.
        let header = stdout
            .lines()
            .find(|l| l.split_whitespace().take(2).eq(["test", "outcome"]))
            .unwrap_or_else(|| panic!("no summary table:\n{stdout}"));
        let row = stdout
            .lines()
            .find(|l| l.starts_with("leakcheck-fixture-controls::tasks::"))
            .unwrap_or_else(|| panic!("no row for the test:\n{stdout}"));
        let column = header.split_whitespace().position(|c| c == "tasks");
        let column = column.unwrap_or_else(|| panic!("no tasks column:\n{stdout}"));
        assert_eq!(
            row.split_whitespace().nth(column),
            Some(tasks),
            "\n{stdout}"
        );
    }
}

#[test]
fn report_html_shows_the_tasks_verdict_evidence_and_plot_of_an_async_test() {
    task_leak_runs();
    let page = fixture::target_dir().join("leakcheck-e2e/diff-task-leak/head.html");
    let page = std::fs::read_to_string(page).unwrap();
    // The summary table's tasks column (the last verdict cell before the figures), the
    // finding with its evidence, and the plot of the task count.
    let has = |needle: &str| page.contains(needle);
    assert!(has("<th>tasks</th>"), "no tasks column");
    assert!(
        has("<td class=\"v-leak\">LEAK</td><td class=\"num\">"),
        "no LEAK cell"
    );
    assert!(
        has("<li><b>tasks</b> <span class=\"v-leak\">LEAK</span>: +8 tasks over 8 iterations"),
        "no tasks finding"
    );
    assert!(has("<title>tasks</title>"), "no tasks plot");
}

#[test]
fn diff_calls_a_task_leak_added_to_a_heap_leak_a_regression_in_every_format() {
    let [(base, _), (head, _)] = task_leak_runs();
    // The spawn also allocates (+1 allocation, +128 B per iteration): a threshold above that
    // leaves the task leak as the only regression.
    let diff = |format: &str| {
        let output = Command::new(CLI)
            .args(["leakcheck", "diff", "--threshold", "200"])
            .arg(base)
            .arg(head)
            .args(["--format", format])
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&diff("json")).unwrap();
    assert_eq!(json["regression"], true, "{json:#}");
    let name = format!("leakcheck-fixture-controls::tasks::{GAINS_A_TASK_LEAK}");
    let new_leaks = json["new_leaks"].as_array().unwrap();
    assert_eq!(new_leaks.len(), 1, "{json:#}");
    assert_eq!(new_leaks[0]["test"], name.as_str(), "{json:#}");
    assert_eq!(new_leaks[0]["resources"], serde_json::json!(["tasks"]));
    assert_eq!(json["changes"], serde_json::json!([]), "{json:#}");

    let text = diff("text");
    assert!(
        text.starts_with("leakcheck diff: REGRESSION: 1 new leak\n"),
        "{text}"
    );
    assert!(text.contains("new leak: tasks"), "{text}");
    let markdown = diff("markdown");
    assert!(
        markdown.contains("❌ REGRESSION: 1 new leak\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains(&format!("| `{name}` | new leak: tasks |")),
        "{markdown}"
    );
}
