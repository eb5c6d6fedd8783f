//! Under load: 200 leak tests in 4 test binaries (`tests/fixtures/load`, verdicts known by
//! construction from its `plan`) get the same verdicts under `cargo test` (libtest's threads, a
//! child process per test), under `cargo nextest run` (a process per test) and run alone, one
//! test per process; and the two shared runs keep all 200 records in `report.json`.

// The fixture's table of bodies and expected verdicts, compiled here too: one source of truth.
#[path = "../fixtures/load/src/plan.rs"]
#[allow(unreachable_pub)] // public in the fixture crate, private here
mod plan;

use crate::fixture::{cargo, in_fixtures, output_of, Outcome, Run};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

const PACKAGE: &str = "leakcheck-fixture-load";

/// Tests run at once in the "alone" phase (each in processes of its own).
const ALONE_AT_ONCE: usize = 2;

/// What one run said about one test.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    /// The runner's verdict (libtest's `ok`/`FAILED`, nextest's `PASS`/`FAIL`); `None` when the
    /// test is missing from its output.
    runner: Option<Outcome>,
    /// The test's record; `None` when there is none.
    record: Option<Verdicts>,
}

/// A record's outcome and per-resource verdicts (`docs/record-schema.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdicts {
    outcome: String,
    heap: String,
    threads: String,
    fds: String,
}

impl Verdicts {
    fn of(record: &Value) -> Verdicts {
        let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
        let figures = &record["figures"];
        Verdicts {
            outcome: text(&record["outcome"]),
            heap: text(&figures["heap"]),
            threads: text(&figures["threads"]),
            fds: text(&figures["fds"]),
        }
    }
}

impl Seen {
    fn expected(body: plan::Body) -> Seen {
        let e = body.expected();
        Seen {
            runner: Some(if e.outcome == "passed" {
                Outcome::Passed
            } else {
                Outcome::Failed
            }),
            record: Some(Verdicts {
                outcome: e.outcome.into(),
                heap: e.heap.into(),
                threads: e.threads.into(),
                fds: e.fds.into(),
            }),
        }
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runner = match self.runner {
            Some(Outcome::Passed) => "pass",
            Some(Outcome::Failed) => "FAIL",
            Some(Outcome::Ignored) => "ignored",
            None => "not-run",
        };
        match &self.record {
            Some(v) => write!(
                f,
                "{runner} {} h={} t={} f={}",
                v.outcome, v.heap, v.threads, v.fds
            ),
            None => write!(f, "{runner} no-record"),
        }
    }
}

/// One test of the plan.
struct Case {
    binary: usize,
    name: String,
    body: plan::Body,
}

fn cases() -> Vec<Case> {
    (0..plan::BINARIES.len())
        .flat_map(|binary| {
            (0..plan::TESTS_PER_BINARY).map(move |index| Case {
                binary,
                name: plan::test_name(binary, index),
                body: plan::body(binary, index),
            })
        })
        .collect()
}

#[test]
fn two_hundred_leak_tests_get_the_same_verdicts_under_cargo_test_nextest_and_alone() {
    let cases = cases();
    assert_eq!(cases.len(), 200);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut problems = Vec::new();

    let executables = timed("build", build);
    let cargo_test = timed("cargo test (4 binaries, libtest's threads)", || {
        shared_run(
            &["test", "-p", PACKAGE, "--no-fail-fast"],
            Run::from_libtest,
            &root.join("cargo-test"),
            &cases,
            &mut problems,
        )
    });
    let nextest = timed("cargo nextest run (a process per test)", || {
        shared_run(
            &[
                "nextest",
                "run",
                "-p",
                PACKAGE,
                "--no-fail-fast",
                "--failure-output",
                "never",
                "--success-output",
                "never",
            ],
            Run::from_nextest,
            &root.join("nextest"),
            &cases,
            &mut problems,
        )
    });
    let (alone, alone_outputs) = timed("each test alone, 2 at once", || {
        alone(&executables, &cases, &root.join("alone"))
    });

    if let Some(table) = differences(&cases, [&cargo_test, &nextest, &alone], &alone_outputs) {
        problems.push(table);
    }
    assert!(
        problems.is_empty(),
        "{}\n(records kept under {})",
        problems.join("\n"),
        root.display()
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Runs `phase`, printing its wall time (measured for the report, not asserted).
fn timed<T>(label: &str, phase: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = phase();
    println!("load: {label}: {:.1?}", started.elapsed());
    result
}

/// A table of the tests whose verdicts differ from the plan in any run, with the output of the
/// first few run alone; `None` when every run got every verdict expected.
fn differences(cases: &[Case], runs: [&[Seen]; 3], alone_outputs: &[String]) -> Option<String> {
    let row = |cells: [&str; 6]| {
        format!(
            "{:<5} {:<28} {:<42} {:<42} {:<42} {}\n",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
        )
    };
    let mut table = row([
        "test",
        "body",
        "expected",
        "cargo test",
        "cargo nextest run",
        "alone",
    ]);
    let mut outputs = String::new();
    let mut differing = 0;
    for (i, case) in cases.iter().enumerate() {
        let expected = Seen::expected(case.body);
        if runs.iter().all(|run| run[i] == expected) {
            continue;
        }
        differing += 1;
        table.push_str(&row([
            &case.name,
            &format!("{:?}", case.body),
            &expected.to_string(),
            &runs[0][i].to_string(),
            &runs[1][i].to_string(),
            &runs[2][i].to_string(),
        ]));
        if differing <= 3 {
            outputs.push_str(&format!(
                "---- {} alone:\n{}\n",
                case.name, alone_outputs[i]
            ));
        }
    }
    (differing > 0).then(|| {
        format!("{differing} tests differ (h/t/f: heap/threads/fds verdicts):\n{table}\n{outputs}")
    })
}

/// Builds the fixture's test binaries; their paths, in the order of [`plan::BINARIES`].
fn build() -> Vec<PathBuf> {
    let mut command = cargo();
    command.args(["test", "-p", PACKAGE, "--no-run", "--message-format=json"]);
    let output = output_of(&mut command);
    let mut found = BTreeMap::new();
    for line in output.lines().filter(|l| l.starts_with('{')) {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let target = &message["target"];
        let is_test = target["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "test"));
        if let (true, Some(name), Some(exe)) = (
            message["reason"] == "compiler-artifact" && is_test,
            target["name"].as_str(),
            message["executable"].as_str(),
        ) {
            found.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    plan::BINARIES
        .iter()
        .map(|binary| {
            found
                .remove(*binary)
                .unwrap_or_else(|| panic!("no test binary `{binary}` was built:\n{output}"))
        })
        .collect()
}

/// The settings every phase's tests run with: records into `dir`, and no `leakcheck.toml` (the
/// fixture workspace's, if another suite adds one, is not what this suite is about).
fn fixture_env<'a>(command: &'a mut Command, dir: &Path) -> &'a mut Command {
    command
        .env("LEAKCHECK_DIR", dir)
        .env("LEAKCHECK_CONFIG", "none")
}

/// An empty directory at `dir`.
fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir.to_owned()
}

/// Runs `cargo ARGS` over the whole fixture package with records in a fresh `dir`, and returns
/// what the runner (output read by `parse`) and the records said about each case, in the order
/// of `cases`. Adds a problem when the runner missed a test or `report.json` is not exactly the
/// 200 records of the run, each once, all readable.
fn shared_run(
    args: &[&str],
    parse: fn(&str, &str) -> Run,
    dir: &Path,
    cases: &[Case],
    problems: &mut Vec<String>,
) -> Vec<Seen> {
    let label = format!("cargo {}", args.join(" "));
    let dir = fresh(dir);
    let mut command = cargo();
    command.args(args);
    let run = parse(&label, &output_of(fixture_env(&mut command, &dir)));
    let ran = run.outcomes.len();
    if ran != cases.len() {
        problems.push(format!(
            "{label}: {ran} tests in the runner's output, not {}:\n{}",
            cases.len(),
            tail(&run.output)
        ));
    }
    let records = read_records(&dir).unwrap_or_else(|e| {
        problems.push(format!("{label}: {e}"));
        BTreeMap::new()
    });
    if records.len() != cases.len() {
        problems.push(format!(
            "{label}: report.json holds {} distinct tests, not {}",
            records.len(),
            cases.len()
        ));
    }
    for case in cases {
        if let Some((binary, _)) = records.get(&case.name) {
            if binary != plan::BINARIES[case.binary] {
                problems.push(format!(
                    "{label}: the record of `{}` names binary `{binary}`",
                    case.name
                ));
            }
        }
    }
    cases
        .iter()
        .map(|case| Seen {
            runner: run.outcomes.get(&case.name).copied(),
            record: records.get(&case.name).map(|(_, v)| v.clone()),
        })
        .collect()
}

/// The records of `dir/report.json` by test name, with each record's binary. Fails on an
/// unreadable file, unreadable records, a duplicate, or a record file count in the run's folder
/// that differs from `report.json`.
fn read_records(dir: &Path) -> Result<BTreeMap<String, (String, Verdicts)>, String> {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let report: Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    if let Some(unreadable) = report["unreadable"].as_array().filter(|u| !u.is_empty()) {
        return Err(format!("unreadable records: {unreadable:?}"));
    }
    let tests = report["tests"]
        .as_array()
        .ok_or_else(|| format!("{} has no `tests` array", path.display()))?;
    let mut records = BTreeMap::new();
    for record in tests {
        let name = record["test"]["name"].as_str().unwrap_or("-").to_owned();
        let binary = record["test"]["binary"].as_str().unwrap_or("-").to_owned();
        if records
            .insert(name.clone(), (binary, Verdicts::of(record)))
            .is_some()
        {
            return Err(format!("`{name}` is in {} twice", path.display()));
        }
    }
    // `report.json` is rebuilt from one file per test in the run's folder, the only folder of a
    // fresh directory: it must hold exactly those files.
    let folders: Vec<PathBuf> = std::fs::read_dir(dir.join("runs"))
        .map_err(|e| format!("cannot list {}/runs: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    let [run_dir] = folders.as_slice() else {
        return Err(format!("one run expected, found the folders {folders:?}"));
    };
    let files = std::fs::read_dir(run_dir)
        .map_err(|e| format!("cannot list {}: {e}", run_dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count();
    if files != tests.len() {
        return Err(format!(
            "{} holds {files} record files, report.json {} records",
            run_dir.display(),
            tests.len()
        ));
    }
    Ok(records)
}

/// Runs every case alone: its test binary directly, `--exact NAME`, with a records directory of
/// its own, [`ALONE_AT_ONCE`] at a time. What each said, and its output, in the order of `cases`.
fn alone(executables: &[PathBuf], cases: &[Case], root: &Path) -> (Vec<Seen>, Vec<String>) {
    let package_dir = crate::fixture::fixtures_dir().join("load");
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(Seen, String)>>> = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..ALONE_AT_ONCE {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let dir = fresh(&root.join(&case.name));
                // As cargo runs a test binary: from the package's directory.
                let mut command = in_fixtures(&executables[case.binary]);
                command
                    .current_dir(&package_dir)
                    .env("CARGO_MANIFEST_DIR", &package_dir)
                    .args(["--exact", &case.name]);
                let output = output_of(fixture_env(&mut command, &dir));
                let run = Run::from_libtest(&case.name, &output);
                let mut record = None;
                let mut output = output;
                match read_records(&dir) {
                    Ok(records) if run.outcomes.len() == 1 && records.len() == 1 => {
                        record = records.get(&case.name).map(|(_, v)| v.clone());
                    }
                    Ok(records) => output.push_str(&format!(
                        "\n(expected one test and one record: ran {:?}, records {:?})",
                        run.outcomes.keys().collect::<Vec<_>>(),
                        records.keys().collect::<Vec<_>>()
                    )),
                    Err(e) => output.push_str(&format!("\n({e})")),
                }
                let seen = Seen {
                    runner: run.outcomes.get(&case.name).copied(),
                    record,
                };
                results.lock().unwrap()[i] = Some((seen, output));
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .unzip()
}

/// The last lines of a long output, for messages.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
