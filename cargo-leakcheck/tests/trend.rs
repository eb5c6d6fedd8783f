//! `cargo leakcheck trend` through the built binary: run order, the table (labels, gaps, leak
//! marks), the page and where it goes, JSON, and the exit code 2 cases.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CLI: &str = env!("CARGO_BIN_EXE_cargo-leakcheck");

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("trend-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A test's record with its figures (no series: `trend` reads only the figures).
fn record(name: &str, outcome: &str, allocs: f64, bytes: f64) -> Value {
    let verdict = if outcome == "leaked" { "leak" } else { "clean" };
    json!({"schema_version": 1, "run_id": "r",
        "test": {"package": "demo", "binary": "heap", "name": name, "module_path": "heap",
                 "file": "tests/heap.rs", "line": 1},
        "outcome": outcome, "message": null, "finished_at": "2026-11-21T10:00:00Z",
        "duration_ms": 1,
        "config": {"iterations": 8, "warmup": 2, "max_iterations": 64, "settle_ms": 250,
                   "timeout_secs": 300, "isolate": true, "attribute": true},
        "figures": {"verdict": verdict, "heap": verdict, "threads": "clean", "fds": "clean",
                    "allocs_per_iter": allocs, "bytes_per_iter": bytes,
                    "live_bytes_per_iter": 0.0, "nanos_per_iter": 10.0, "warmup": 2,
                    "measured": 8, "traced": 0},
        "report": null})
}

fn write_report(path: &Path, commit: Option<&str>, started_unix_ms: u64, tests: Vec<Value>) {
    let report = json!({"schema_version": 1,
        "run": {"id": format!("run-{started_unix_ms}"), "started_at": "2026-11-21T10:00:00Z",
                "started_unix_ms": started_unix_ms, "commit": commit, "branch": "main",
                "leakcheck_version": "0.1.0"},
        "tests": tests});
    std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
}

/// Three runs whose file names are not in run order: `a.json` is the newest, `c.json` the
/// oldest and without a commit. `cache` leaks in the newest run; `parser` is missing from `b`.
fn three_runs(dir: &Path) -> PathBuf {
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    write_report(
        &reports.join("a.json"),
        Some("aaaaaaa1111111"),
        3_000,
        vec![
            record("cache", "leaked", 4.0, 2048.0),
            record("parser", "passed", 10.0, 640.0),
        ],
    );
    write_report(
        &reports.join("b.json"),
        Some("bbbbbbb2222222"),
        2_000,
        vec![record("cache", "passed", 2.0, 1024.0)],
    );
    write_report(
        &reports.join("c.json"),
        None,
        1_000,
        vec![
            record("cache", "passed", 2.0, 1024.0),
            record("parser", "passed", 9.0, 600.0),
        ],
    );
    reports
}

fn cli(args: &[&str], cwd: &Path) -> Output {
    Command::new(CLI)
        .args(["leakcheck", "trend"])
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run cargo-leakcheck")
}

fn shown(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn table_orders_runs_by_start_with_gaps_and_leak_marks() {
    let dir = scratch("table");
    let reports = three_runs(&dir);
    let page = dir.join("page.html");
    let output = cli(
        &[reports.to_str().unwrap(), "--out", page.to_str().unwrap()],
        &dir,
    );
    let text = shown(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);

    // Columns: the oldest run (no commit: its start), then by commit, newest last.
    let header = stdout
        .lines()
        .find(|l| l.starts_with("test "))
        .expect("a header row");
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        ["test", "2026-11-21 10:00", "bbbbbbb", "aaaaaaa"],
        "{text}"
    );

    // The leaking test comes first; the leak is marked in the newest run only.
    let cache = stdout
        .lines()
        .find(|l| l.starts_with("demo::heap::cache"))
        .unwrap();
    let parser = stdout
        .lines()
        .find(|l| l.starts_with("demo::heap::parser"))
        .unwrap();
    assert!(stdout.find(cache) < stdout.find(parser), "{text}");
    assert_eq!(cache.matches("LEAK").count(), 1, "{cache}");
    assert!(cache.trim_end().ends_with("4 / 2.0 KiB LEAK"), "{cache}");
    // `parser` is missing from the middle run: a gap, not a zero.
    let cells: Vec<&str> = parser
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        ["demo::heap::parser", "9 / 600 B", "-", "10 / 640 B"],
        "{text}"
    );

    assert!(
        stdout.contains(&format!("trend page: {}", page.display())),
        "says where the page is: {text}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "one plot per test");
    assert_eq!(html.matches("class=\"flag\"").count(), 1, "one leaked run");
    // `parser`: bytes and allocs each broken by the gap into two lines; `cache`: one each.
    assert_eq!(html.matches("<polyline").count(), 2 + 4);
}

#[test]
fn the_page_goes_to_the_current_directory_by_default() {
    let dir = scratch("default-out");
    let reports = three_runs(&dir);
    let output = cli(&[reports.join("a.json").to_str().unwrap()], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let page = dir.join("leakcheck-trend.html");
    assert!(page.is_file(), "{}", shown(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("leakcheck-trend.html"));
}

#[test]
fn json_lists_runs_in_order_with_null_gaps() {
    let dir = scratch("json");
    let reports = three_runs(&dir);
    // Files given in any order: the runs' start decides.
    let files: Vec<String> = ["a.json", "c.json", "b.json"]
        .iter()
        .map(|f| reports.join(f).display().to_string())
        .collect();
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend(["--format", "json", "--out", "trend.html"]);
    let output = cli(&args, &dir);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let value: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON only");
    let commits: Vec<Value> = value["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["commit"].clone())
        .collect();
    assert_eq!(
        commits,
        [
            json!(null),
            json!("bbbbbbb2222222"),
            json!("aaaaaaa1111111")
        ]
    );
    let parser = value["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "demo::heap::parser")
        .unwrap();
    assert_eq!(parser["points"][1], Value::Null, "a gap");
    assert_eq!(parser["points"][2]["bytes_per_iter"], json!(640.0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("trend page:"));
    assert!(dir.join("trend.html").is_file());
}

#[test]
fn an_unreadable_report_is_exit_2_naming_the_file() {
    let dir = scratch("unreadable");
    let reports = three_runs(&dir);
    let damaged = reports.join("damaged.json");
    std::fs::write(&damaged, "{\"schema_version\": 1, \"run\": ").unwrap();
    let page = dir.join("page.html");
    let output = cli(
        &[reports.to_str().unwrap(), "--out", page.to_str().unwrap()],
        &dir,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(stderr.contains("damaged.json"), "names the file: {stderr}");
    assert!(
        stderr.contains("run the leak tests again"),
        "the next step: {stderr}"
    );
    assert!(!page.exists(), "no page from a partial set of runs");

    let missing = dir.join("nowhere").join("report.json");
    let output = cli(&[missing.to_str().unwrap()], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(
        stderr.contains("nowhere/report.json") && stderr.contains("no such file"),
        "{stderr}"
    );
}

#[test]
fn no_report_at_all_is_exit_2() {
    let dir = scratch("none");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let output = cli(&[empty.to_str().unwrap()], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(stderr.contains("no reports to show"), "{stderr}");
    assert!(!dir.join("leakcheck-trend.html").exists());

    let output = cli(&[], &dir);
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
}
