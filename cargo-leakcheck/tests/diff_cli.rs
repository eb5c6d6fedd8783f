//! `cargo leakcheck diff` and `cargo leakcheck baseline`: the real binary run on report files in
//! a temporary directory (exit codes, formats, baselines, errors that name the file).

use std::path::{Path, PathBuf};
use std::process::Output;

mod cli;

use cli::{cli, shown};

/// The hand-made report of tests/data: four tests (passed, passed, passed, leaked) of a real run.
fn data_report() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report.json")
}

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("diff-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes the data report to `dir/NAME`, edited by `edit`.
fn write_report(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_report()).unwrap()).unwrap();
    edit(&mut json);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    path
}

/// The data report with 20% more allocations in `allocator_noise_from_temporaries` (18 → 21.6).
fn more_allocations(json: &mut serde_json::Value) {
    json["run"]["id"] = "run-head".into();
    let tests = json["tests"].as_array_mut().unwrap();
    let test = tests
        .iter_mut()
        .find(|t| t["test"]["name"] == "allocator_noise_from_temporaries")
        .unwrap();
    test["figures"]["allocs_per_iter"] = 21.6.into();
}

#[test]
fn binary_identical_reports_exit_0() {
    let dir = temp_dir("identical");
    let report = data_report();
    let report = report.to_str().unwrap();
    let output = cli(&dir, &["diff", report, report], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    assert!(
        stdout(&output).contains("no regression"),
        "{}",
        shown(&output)
    );
    assert!(stdout(&output).contains("Unchanged: 4 tests (3 passed, 1 leaked)"));
}

#[test]
fn binary_allocation_increase_exits_1_and_names_the_test() {
    let dir = temp_dir("increase");
    let head = write_report(&dir, "head.json", more_allocations);
    let base = data_report();
    let output = cli(&dir, &["diff", base.to_str().unwrap(), "head.json"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
    let out = stdout(&output);
    assert!(out.contains("REGRESSION: 1 allocation increase"), "{out}");
    assert!(
        out.contains("leakcheck-fixture-controls::clean::allocator_noise_from_temporaries"),
        "{out}"
    );
    assert!(out.contains("+20.0%"), "{out}");

    // The same comparison as JSON, and with a threshold above the change.
    let output = cli(
        &dir,
        &[
            "diff",
            base.to_str().unwrap(),
            head.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["regression"], true);
    assert_eq!(json["changes"][0]["metric"], "allocs_per_iter");
    assert_eq!(json["head"]["path"], "head.json");

    let output = cli(
        &dir,
        &[
            "diff",
            base.to_str().unwrap(),
            "head.json",
            "--threshold",
            "25%",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
}

#[test]
fn binary_corrupt_json_exits_2_naming_the_file() {
    let dir = temp_dir("corrupt");
    std::fs::write(
        dir.join("broken.json"),
        "{\"schema_version\": 1, \"run\": {",
    )
    .unwrap();
    let base = data_report();
    let output = cli(&dir, &["diff", base.to_str().unwrap(), "broken.json"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    let err = stderr(&output);
    assert!(
        err.contains("broken.json") && err.contains("not valid JSON"),
        "{err}"
    );
    assert!(output.stdout.is_empty(), "{}", shown(&output));
}

#[test]
fn binary_future_schema_version_exits_2_asking_for_a_newer_leakcheck() {
    let dir = temp_dir("future");
    write_report(&dir, "future.json", |json| {
        json["schema_version"] = 99.into()
    });
    let base = data_report();
    let output = cli(&dir, &["diff", "future.json", base.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    let err = stderr(&output);
    assert!(
        err.contains("future.json") && err.contains("newer leakcheck"),
        "{err}"
    );
}

#[test]
fn binary_missing_file_exits_2_naming_it() {
    let dir = temp_dir("missing");
    let base = data_report();
    let output = cli(
        &dir,
        &["diff", base.to_str().unwrap(), "nowhere/report.json"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(
        stderr(&output).contains("nowhere/report.json"),
        "{}",
        shown(&output)
    );
}

#[test]
fn binary_bad_threshold_is_a_usage_error() {
    let dir = temp_dir("bad-threshold");
    let base = data_report();
    let base = base.to_str().unwrap();
    for bad in ["-5", "lots"] {
        let output = cli(&dir, &["diff", base, base, "--threshold", bad], &[]);
        assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
        assert!(
            stderr(&output).contains("--threshold"),
            "{}",
            shown(&output)
        );
    }
}

#[test]
fn binary_appends_markdown_to_the_github_step_summary_whatever_the_format() {
    let dir = temp_dir("step-summary");
    let head = write_report(&dir, "head.json", more_allocations);
    let summary = dir.join("summary.md");
    std::fs::write(&summary, "# earlier step\n").unwrap();
    let base = data_report();
    let args = [
        "diff",
        base.to_str().unwrap(),
        head.to_str().unwrap(),
        "--format",
        "json",
    ];
    let output = cli(&dir, &args, &[("GITHUB_STEP_SUMMARY", &summary)]);
    assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
    // stdout is still the JSON asked for.
    serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON on stdout");
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(
        written.starts_with("# earlier step\n"),
        "kept what was there:\n{written}"
    );
    assert!(
        written.contains("## leakcheck diff: ❌ REGRESSION: 1 allocation increase"),
        "{written}"
    );
    assert!(written
        .contains("| `leakcheck-fixture-controls::clean::allocator_noise_from_temporaries` |"));

    // A missing file is created; an unwritable one is a warning, not a failure.
    let fresh = dir.join("fresh.md");
    let identical = ["diff", base.to_str().unwrap(), base.to_str().unwrap()];
    let output = cli(&dir, &identical, &[("GITHUB_STEP_SUMMARY", &fresh)]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    assert!(std::fs::read_to_string(&fresh)
        .unwrap()
        .contains("✅ no regression"));

    let output = cli(&dir, &identical, &[("GITHUB_STEP_SUMMARY", &dir)]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    assert!(stderr(&output).contains("warning: cannot append to GITHUB_STEP_SUMMARY"));
}

/// A cargo workspace of its own (so `cargo metadata` works and finds its root there, not in
/// this repository around it).
fn temp_workspace(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"baseline-test\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [workspace]\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    dir
}

#[test]
fn binary_baseline_save_list_and_diff_by_name() {
    let ws = temp_workspace("baseline-roundtrip");
    let base = data_report();
    let output = cli(
        &ws,
        &["baseline", "save", "main", "--from", base.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let saved = ws.join(".leakcheck/baselines/main.json");
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&base).unwrap(),
        "the baseline is the report as it was"
    );
    let out = stdout(&output);
    assert!(
        out.contains("saved baseline `main`: .leakcheck/baselines/main.json"),
        "{out}"
    );
    assert!(
        out.contains("git add .leakcheck/baselines/main.json"),
        "{out}"
    );

    // Saved again from the default place (LEAKCHECK_DIR's report.json) under another name.
    let out_dir = temp_dir("baseline-roundtrip-out");
    write_report(&out_dir, "report.json", more_allocations);
    let output = cli(
        &ws,
        &["baseline", "save", "pr-42"],
        &[(leakcheck::env::DIR, &out_dir)],
    );
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));

    let output = cli(&ws, &["baseline", "list"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let list = stdout(&output);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[0].starts_with("name"), "{list}");
    assert!(
        lines[1].starts_with("main ") && lines[1].contains("b78a26643f87"),
        "{list}"
    );
    assert!(
        lines[1].contains("2026-11-21T16:40:45Z") && lines[1].ends_with(" 4"),
        "{list}"
    );
    assert!(lines[2].starts_with("pr-42 "), "{list}");

    let output = cli(&ws, &["diff", "main", "main"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let output = cli(&ws, &["diff", "main", "pr-42"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
    assert!(
        stdout(&output).contains(".leakcheck/baselines/main.json"),
        "{}",
        shown(&output)
    );
    assert!(stdout(&output).contains("allocator_noise_from_temporaries"));

    let output = cli(&ws, &["diff", "release", "main"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(
        stderr(&output).contains("baseline save release"),
        "{}",
        shown(&output)
    );
}

#[test]
fn binary_baseline_save_refuses_bad_names_and_bad_reports() {
    let ws = temp_workspace("baseline-refuses");
    let base = data_report();
    for bad in ["../up", "with space", "", ".hidden", "main.json"] {
        let output = cli(
            &ws,
            &["baseline", "save", bad, "--from", base.to_str().unwrap()],
            &[],
        );
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", shown(&output));
        assert!(
            stderr(&output).contains("cannot be a baseline name"),
            "{}",
            shown(&output)
        );
    }

    std::fs::write(ws.join("broken.json"), "not json").unwrap();
    write_report(&ws, "future.json", |json| {
        json["schema_version"] = 99.into()
    });
    for (file, problem) in [
        ("broken.json", "not valid JSON"),
        ("future.json", "newer leakcheck"),
    ] {
        let output = cli(&ws, &["baseline", "save", "main", "--from", file], &[]);
        assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
        let err = stderr(&output);
        assert!(err.contains(file) && err.contains(problem), "{err}");
    }
    assert!(!ws.join(".leakcheck/baselines/main.json").exists());

    let output = cli(&ws, &["baseline", "list"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    assert!(
        stdout(&output).contains("no saved baselines"),
        "{}",
        shown(&output)
    );
}
