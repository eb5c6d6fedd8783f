//! The HTML pages: the structure of the report page (one plot per observed series, leaks first,
//! text escaped, nothing loaded from the network), and both pages as a real browser sees them —
//! headless Chromium's DOM and a screenshot.
//!
//! The reports are built here, shaped like a real run's `report.json`: no file outside the test
//! is read.

#[path = "../../tests/browser/mod.rs"]
mod browser;

use cargo_leakcheck::html;
use cargo_leakcheck::trend::Trend;
use leakcheck::record::{self, RunReport};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_cargo-leakcheck");

/// A test name that would be markup if it were not escaped.
const HOSTILE_NAME: &str = "weird::<b>bold</b>_&_\"quoted\"";
/// A failure message that would run a script if it were not escaped.
const HOSTILE_MESSAGE: &str = "panicked: <script>alert('x')</script> & <img src=x>";

/// One snapshot.
fn sample(live_bytes: u64, live_blocks: u64, threads: Option<u32>, fds: Option<u32>) -> Value {
    json!({"live_bytes": live_bytes, "live_blocks": live_blocks, "allocations": 3,
           "bytes_allocated": 96, "body_nanos": 1000, "threads": threads, "fds": fds})
}

fn finding(verdict: &str) -> Value {
    json!({"verdict": verdict, "observed": true, "net": 0, "per_iteration": 0.0,
           "increased_in": [], "evidence": "no new ones <here>"})
}

/// One test's record; `samples: None` is a test whose body did not run to the end.
fn record(name: &str, outcome: &str, samples: Option<Vec<Value>>, message: Option<&str>) -> Value {
    let heap = if outcome == "leaked" { "leak" } else { "clean" };
    let measured = samples.as_ref().map_or(0, |s| s.len().saturating_sub(1));
    let figures = json!({"verdict": heap, "heap": heap, "threads": "clean", "fds": "clean",
        "allocs_per_iter": 3.0, "bytes_per_iter": 96.0, "live_bytes_per_iter": 0.0,
        "nanos_per_iter": 1000.0, "warmup": 2, "measured": measured, "traced": 0});
    let report = samples.map(|samples| {
        json!({"test": null, "verdict": heap,
            "heap": {"verdict": heap, "bytes_per_iteration": 64.0, "blocks_per_iteration": 1.0,
                     "evidence": "grew in 4 of 4 rounds"},
            "threads": finding("clean"), "fds": finding("clean"),
            "warmup": 2, "measured": measured, "samples": samples,
            "new_threads": [], "new_fds": [], "attribution": null, "over_budget": [],
            "notes": []})
    });
    json!({"schema_version": 1, "run_id": "r1",
        "test": {"package": "demo", "binary": "heap", "name": name, "module_path": "heap",
                 "file": "tests/heap.rs", "line": 7},
        "outcome": outcome, "message": message, "finished_at": "2026-11-21T10:00:01Z",
        "duration_ms": 12,
        "config": {"iterations": 8, "warmup": 2, "max_iterations": 64, "settle_ms": 250,
                   "timeout_secs": 300, "isolate": true, "attribute": true},
        "figures": report.as_ref().map(|_| figures), "report": report})
}

fn run_report(commit: &str, started_unix_ms: u64, tests: Vec<Value>) -> RunReport {
    let json = json!({"schema_version": 1,
        "run": {"id": format!("run-{commit}"), "started_at": "2026-11-21T10:00:00Z",
                "started_unix_ms": started_unix_ms, "commit": commit, "branch": "main",
                "leakcheck_version": "0.1.0", "rustc": "rustc 1.95.0 (59807616e 2026-04-14)"},
        "tests": tests});
    record::parse_report(&json.to_string(), Path::new("built-in-test.json"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A run like a real one: clean tests, leaks, a test without threads/fds (another platform),
/// one with a gap in its threads, a single baseline, huge numbers, a failure and hostile text.
fn varied_report() -> RunReport {
    let steady = |n: usize| {
        (0..n)
            .map(|_| sample(25_028, 432, Some(2), Some(5)))
            .collect()
    };
    let growing = (0..65)
        .map(|i| sample(25_020 + 64 * i, 435 + 2 * i, Some(2), Some(5)))
        .collect();
    let thread_leak = (0..9)
        .map(|i| sample(25_028, 432, Some(2 + i as u32), Some(5)))
        .collect();
    let unobserved = (0..9).map(|_| sample(1000, 10, None, None)).collect();
    let with_gap = (0..9)
        .map(|i| sample(1000, 10, (i != 4).then_some(3), Some(6)))
        .collect();
    let huge = (0..5)
        .map(|i| sample(u64::MAX / 2 + i * (1 << 50), 1 << 40, Some(2), Some(5)))
        .collect();
    run_report(
        "b78a26643f878cf38cad1f22a39f652da9e3049e",
        1_795_279_245_194,
        vec![
            record("clean::steady", "passed", Some(steady(9)), None),
            record(
                "heap_leaks::callback_registry",
                "leaked",
                Some(growing),
                Some("leakcheck: `callback_registry` leaked heap"),
            ),
            record(
                "other_platform::no_threads_or_fds",
                "passed",
                Some(unobserved),
                None,
            ),
            record(
                "gap::thread_count_missing_once",
                "passed",
                Some(with_gap),
                None,
            ),
            record("single::baseline_only", "passed", Some(steady(1)), None),
            record("huge::numbers", "passed", Some(huge), None),
            record("broken::panics", "failed", None, Some(HOSTILE_MESSAGE)),
            record(HOSTILE_NAME, "passed", Some(steady(3)), None),
            record(
                "thread_leaks::spawned_and_forgotten",
                "leaked",
                Some(thread_leak),
                None,
            ),
        ],
    )
}

/// Plots and polylines the report page must have, counted from the data (not from the page):
/// one plot per series with any value, one polyline per unbroken stretch of values.
fn expected_report_counts(report: &RunReport) -> (usize, usize) {
    let mut plots = 0;
    let mut lines = 0;
    for t in &report.tests {
        let Some(r) = &t.report else { continue };
        let series: [Vec<Option<u64>>; 4] = [
            r.samples.iter().map(|s| Some(s.live_bytes)).collect(),
            r.samples.iter().map(|s| Some(s.live_blocks)).collect(),
            r.samples.iter().map(|s| s.threads.map(u64::from)).collect(),
            r.samples.iter().map(|s| s.fds.map(u64::from)).collect(),
        ];
        for values in series.iter().filter(|v| v.iter().any(Option::is_some)) {
            plots += 1;
            // A stretch starts at each value that follows a gap or the start.
            lines += (0..values.len())
                .filter(|&i| values[i].is_some() && (i == 0 || values[i - 1].is_none()))
                .count();
        }
    }
    (plots, lines)
}

/// Every `href`, `src` or URL in the page that points elsewhere (the SVG namespace aside).
fn external_references(page: &str) -> Vec<String> {
    let mut found = Vec::new();
    for scheme in ["http://", "https://", "//"] {
        for (at, _) in page.match_indices(scheme) {
            let rest = &page[at..];
            let end = rest.find(['"', '\'', ' ', ')', '>']).unwrap_or(rest.len());
            let url = &rest[..end];
            let is_namespace =
                page[..at].ends_with("xmlns=\"") && url == "http://www.w3.org/2000/svg";
            // `//` also matches inside the two schemes above; those are checked by them.
            let inside_scheme = scheme == "//" && page[..at].ends_with(':');
            if !is_namespace && !inside_scheme {
                found.push(url.to_owned());
            }
        }
    }
    for marker in [
        "<script", "<link", "<img", "<iframe", "url(", "@import", " src=\"",
    ] {
        if page.contains(marker) {
            found.push(marker.to_owned());
        }
    }
    // Links stay inside the page.
    for (at, _) in page.match_indices("href=\"") {
        if !page[at + 6..].starts_with('#') {
            found.push(page[at..].chars().take(40).collect());
        }
    }
    found
}

#[test]
fn report_page_has_one_plot_per_observed_series() {
    let report = varied_report();
    let page = html::report_page(&report);
    let (plots, lines) = expected_report_counts(&report);
    // 8 tests with samples: 7 × 4 plots, one without threads/fds (2), the failed one none.
    assert_eq!(plots, 30, "the fixture itself");
    assert_eq!(page.matches("<svg").count(), plots, "{page}");
    assert_eq!(page.matches("<polyline").count(), lines, "{page}");
    assert_eq!(
        lines,
        plots + 1,
        "the gap in the threads series breaks one line"
    );
    for points in page.split("<polyline points=\"").skip(1) {
        let points = &points[..points.find('"').unwrap()];
        assert!(
            !points.is_empty() && points.split(' ').all(|p| p.split_once(',').is_some()),
            "polyline points: {points:?}"
        );
    }
    // Every plot marks the baseline it is read against.
    assert_eq!(page.matches(">baseline</text>").count(), plots);
    assert!(
        page.contains("No measurement"),
        "the failed test says why it has no plots"
    );
}

#[test]
fn report_page_loads_nothing_from_elsewhere() {
    let page = html::report_page(&varied_report());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<style>"), "inline CSS");
    assert_eq!(external_references(&page), Vec::<String>::new());
    // The check itself can fail.
    let with_font = page.replace(
        "<style>",
        "<style>@import url(https://fonts.example/x.css);",
    );
    assert!(!external_references(&with_font).is_empty());
}

#[test]
fn report_page_escapes_names_and_messages() {
    let page = html::report_page(&varied_report());
    for raw in ["<b>bold</b>", "<script>", "<img src=x>", "<here>"] {
        assert!(!page.contains(raw), "{raw} must be escaped");
    }
    assert!(page.contains("demo::heap::weird::&lt;b&gt;bold&lt;/b&gt;_&amp;_&quot;quoted&quot;"));
    assert!(
        page.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &lt;img src=x&gt;")
    );
}

#[test]
fn report_page_shows_the_run_and_puts_leaks_first() {
    let page = html::report_page(&varied_report());
    for text in [
        "run-b78a26643f878cf38cad1f22a39f652da9e3049e",
        "2026-11-21T10:00:00Z",
        "b78a26643f878cf38cad1f22a39f652da9e3049e",
        "rustc 1.95.0 (59807616e 2026-04-14)",
        "9 leak tests",
    ] {
        assert!(page.contains(text), "{text}");
    }
    let sections: Vec<&str> = page.split("<section class=\"test ").skip(1).collect();
    assert_eq!(sections.len(), 9);
    // Both leaks first (in their report order), then the failure, then the rest.
    assert!(sections[0].starts_with("leaked") && sections[0].contains("callback_registry"));
    assert!(sections[1].starts_with("leaked") && sections[1].contains("spawned_and_forgotten"));
    assert!(sections[2].starts_with("failed"));
    assert!(sections[3..].iter().all(|s| s.starts_with("passed")));
    assert_eq!(
        page.matches("<span class=\"badge leaked\">LEAK</span>")
            .count(),
        4
    );
    // The summary table lists every test, leaks first too.
    let table = &page[page.find("<table").unwrap()..page.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr class=").count(), 9);
    let first_row = table.split("<tr class=").nth(1).unwrap();
    assert!(first_row.starts_with("\"leaked\"") && first_row.contains("callback_registry"));
    // Huge numbers are written in units, not as 19-digit numbers.
    assert!(page.contains(" EiB</text>"));
}

/// Three runs given newest first: the second lacks a test, the last one leaks.
fn trend_runs() -> Vec<(PathBuf, RunReport)> {
    let steady = || {
        Some(
            (0..9)
                .map(|_| sample(25_028, 432, Some(2), Some(5)))
                .collect(),
        )
    };
    let run = |commit: &str, ms: u64, leak: bool, with_second: bool| {
        let mut tests = vec![record(
            "heap_leaks::cache",
            if leak { "leaked" } else { "passed" },
            steady(),
            None,
        )];
        if with_second {
            tests.push(record(HOSTILE_NAME, "passed", steady(), None));
        }
        run_report(commit, ms, tests)
    };
    vec![
        ("c.json".into(), run("ccccccc3333", 3_000, true, true)),
        ("b.json".into(), run("bbbbbbb2222", 2_000, false, false)),
        ("a.json".into(), run("aaaaaaa1111", 1_000, false, true)),
    ]
}

#[test]
fn trend_page_has_one_plot_per_test_with_gaps_and_leak_flags() {
    let trend = Trend::new(trend_runs());
    let labels: Vec<&str> = trend.runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["aaaaaaa", "bbbbbbb", "ccccccc"], "oldest first");
    let page = html::trend_page(&trend);
    assert_eq!(page.matches("<svg").count(), 2, "one plot per test");
    // The leaking test: one line each for bytes and allocs. The other misses run 2: two each.
    assert_eq!(page.matches("<polyline").count(), 2 + 4);
    assert_eq!(
        page.matches("class=\"flag\"").count(),
        1,
        "the one leaked run"
    );
    assert_eq!(external_references(&page), Vec::<String>::new());
    assert!(!page.contains("<b>bold</b>"));
    let first = page.find("heap_leaks::cache").unwrap();
    let second = page.find("weird::").unwrap();
    assert!(first < second, "the leaking test first");
}

// --- In a browser ---------------------------------------------------------------------------

/// A fresh directory for one test under cargo's scratch space for integration tests; the
/// pages and screenshots stay there to look at after the test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("html-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium on a page written to disk.
fn headless(page: &Path, extra: &[&str], dir: &Path, name: &str) -> String {
    browser::headless(&format!("file://{}", page.display()), extra, dir, name)
}

/// The width and height in a PNG's header, or `None` when the bytes are no PNG.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let signature = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != signature || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    Some((word(16), word(20)))
}

/// Renders `page` in Chromium: the DOM must have exactly the plots the file has; the screenshot
/// must be a real picture of the page. Returns the screenshot's path and size.
fn check_in_browser(page_text: &str, dir: &Path, name: &str) -> (PathBuf, u64) {
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, page_text).unwrap();

    let dom = headless(&page, &["--dump-dom"], dir, &format!("{name}-dom"));
    let svgs = page_text.matches("<svg").count();
    let lines = page_text.matches("<polyline").count();
    assert!(svgs > 0 && lines > 0, "the page has plots");
    assert_eq!(
        dom.matches("<svg").count(),
        svgs,
        "plots in the DOM:\n{dom}"
    );
    assert_eq!(dom.matches("<polyline").count(), lines, "lines in the DOM");
    assert!(dom.matches("<circle").count() > 0, "points in the DOM");
    // The hostile name stayed text: no element came out of it.
    assert!(!dom.contains("<b>bold</b>") && !dom.contains("<script"));
    assert!(
        dom.contains("weird::&lt;b&gt;bold&lt;/b&gt;"),
        "the name shows as text"
    );

    let shot = dir.join(format!("{name}.png"));
    headless(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,2000",
            "--hide-scrollbars",
        ],
        dir,
        &format!("{name}-shot"),
    );
    let bytes = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("chromium wrote no screenshot {}: {e}", shot.display()));
    assert_eq!(png_size(&bytes), Some((1200, 2000)), "a 1200×2000 PNG");
    (shot, bytes.len() as u64)
}

#[test]
fn both_pages_render_in_headless_chromium() {
    let dir = scratch("chromium");

    // A blank page of the same size: what a screenshot of nothing weighs.
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank_shot = dir.join("blank.png");
    headless(
        &blank,
        &[
            &format!("--screenshot={}", blank_shot.display()),
            "--window-size=1200,2000",
        ],
        &dir,
        "blank",
    );
    let blank_size = std::fs::metadata(&blank_shot).unwrap().len();

    let (_, report_size) = check_in_browser(&html::report_page(&varied_report()), &dir, "report");

    // The trend page as the command writes it.
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    for (file, report) in trend_runs() {
        std::fs::write(
            reports.join(file),
            serde_json::to_string_pretty(&report).unwrap(),
        )
        .unwrap();
    }
    let trend_page = dir.join("written-trend.html");
    let output = Command::new(CLI)
        .args(["leakcheck", "trend"])
        .arg(&reports)
        .arg("--out")
        .arg(&trend_page)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trend_text = std::fs::read_to_string(&trend_page).unwrap();
    let (_, trend_size) = check_in_browser(&trend_text, &dir, "trend");

    // Text, tables and plots make a picture many times the size of a blank one.
    for (name, size) in [("report", report_size), ("trend", trend_size)] {
        assert!(
            size > 4 * blank_size && size > 20_000,
            "{name} screenshot {size} B against a blank page's {blank_size} B"
        );
    }
}

/// The report of a real run of the profiled fixture (`LEAKCHECK_PROFILE=1`), with one site's
/// function made hostile markup.
fn profiled_report() -> RunReport {
    let text = include_str!("data/profiled-report.json")
        .replace("\"profiled::pushes\"", "\"profiled::<b>pushes</b>\"");
    record::parse_report(&text, Path::new("data/profiled-report.json")).unwrap()
}

#[test]
fn report_page_shows_each_profiled_tests_sites_as_a_table_and_bars() {
    let report = profiled_report();
    let page = html::report_page(&report);
    let expected: usize = report
        .tests
        .iter()
        .filter_map(|t| t.report.as_ref()?.profile.as_ref())
        .map(|p| p.sites.len())
        .sum();
    assert_eq!(expected, 8, "the fixture: two tests of four sites");
    assert_eq!(page.matches("<table class=\"profile\">").count(), 2);
    assert_eq!(page.matches("class=\"bar\"").count(), expected);
    // Bars as wide as the share of the iteration: 10 of 23 allocations.
    assert!(page.contains("style=\"width:43.5%\""), "{page}");
    assert!(page.contains("leakcheck_fixture_dep::boxes"));
    assert!(
        !page.contains("<b>pushes</b>") && page.contains("profiled::&lt;b&gt;pushes&lt;/b&gt;")
    );
    assert_eq!(external_references(&page), Vec::<String>::new());
}

#[test]
fn profiled_sites_render_in_headless_chromium() {
    let dir = scratch("chromium-profile");
    let page = dir.join("profiled.html");
    std::fs::write(&page, html::report_page(&profiled_report())).unwrap();
    let dom = headless(&page, &["--dump-dom"], &dir, "profiled-dom");
    assert_eq!(dom.matches("<table class=\"profile\">").count(), 2, "{dom}");
    assert_eq!(dom.matches("class=\"bar\"").count(), 8, "{dom}");
    assert!(
        !dom.contains("<b>pushes</b>"),
        "the hostile name stays text"
    );
}
