//! `cargo leakcheck merge DIR|FILE… [--out FILE]`: one report, and one JUnit, from the record sets
//! of a sharded run (nextest partitions, a CI matrix), so that `diff`, `trend` and `baseline` see
//! the whole run.
//!
//! An input is a `report.json`, or a folder searched for them: an output directory
//! (`target/leakcheck`, whose records are read as well, so that a record a killed test never
//! appended is kept), or a folder of downloaded shard artifacts. Reports of different commits
//! are not mixed unless `--allow-mixed-commits` says so. A test found in two inputs is kept once:
//! the failing one when only one failed (a shard that failed must not be hidden by a retry that
//! passed), else the one that finished last; each such test is named on stderr.

use crate::locate::Workspace;
use crate::test_run::summary_table;
use crate::{shown, CliError, LeakcheckExitCode};
use leakcheck::_cargo_leakcheck_support::{report_files, Store};
use leakcheck::record::{self, RunInfo, RunReport, TestRecord};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `cargo leakcheck merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// `report.json` files, or folders holding them (searched below, e.g. one folder per
    /// downloaded shard).
    #[arg(required = true, value_name = "DIR|FILE")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the merged report (default `<target-dir>/leakcheck/merged/report.json`);
    /// `junit.xml` is written beside it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Merge reports of different commits (refused by default: a merged run is one commit).
    #[arg(long)]
    pub allow_mixed_commits: bool,
}

/// How deep a folder input is searched for reports.
const SEARCH_DEPTH: usize = 6;

/// Runs `cargo leakcheck merge`: exit 0 when every merged test passed, 1 when some failed.
pub fn run(args: &MergeArgs) -> Result<i32, CliError> {
    let out = match &args.out {
        Some(out) => out.clone(),
        None => Workspace::current()?
            .output_dir()
            .join("merged")
            .join("report.json"),
    };
    // A merge run again over the same folder must not take in its own last output.
    let previous = out.canonicalize().ok();
    let mut reports = Vec::new();
    for input in &args.inputs {
        reports.extend(
            read_input(input)?
                .into_iter()
                .filter(|(path, _)| path.canonicalize().ok() != previous || previous.is_none()),
        );
    }
    if reports.is_empty() {
        return Err(CliError::NoReports {
            inputs: args.inputs.clone(),
        });
    }
    let merged = merge(reports, args.allow_mixed_commits)?;
    for note in &merged.notes {
        eprintln!("leakcheck: {note}");
    }
    let junit = out.with_file_name("junit.xml");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CliError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let (json, xml) = report_files(&merged.report);
    write_whole(&out, &json)?;
    write_whole(&junit, &xml)?;
    print!("{}", summary_table(&merged.report));
    println!();
    println!("merged {} reports", merged.inputs);
    println!("report.json: {}", shown(&out));
    println!("junit.xml:   {}", shown(&junit));
    let failed = merged.report.tests.iter().any(|t| t.outcome.is_failure());
    Ok(if failed {
        LeakcheckExitCode::FAILED
    } else {
        LeakcheckExitCode::OK
    })
}

/// One input's reports, each with the file it came from.
fn read_input(input: &Path) -> Result<Vec<(PathBuf, RunReport)>, CliError> {
    if !input.is_dir() {
        return Ok(vec![(input.to_owned(), record::read_report(input)?)]);
    }
    let mut found = Vec::new();
    find_reports(input, SEARCH_DEPTH, &mut found)?;
    found.sort();
    let mut reports = Vec::new();
    for path in found {
        let dir = path.parent().unwrap_or(Path::new("."));
        // An output directory: its records as well, in case one was never appended.
        let report = if dir.join("runs").is_dir() {
            Store::at(dir).current_report()?
        } else {
            record::read_report(&path)?
        };
        reports.push((path, report));
    }
    Ok(reports)
}

fn find_reports(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let report = dir.join("report.json");
    if report.is_file() {
        found.push(report);
        // A report's own folder holds no other shard's (runs/ are its records).
        return Ok(());
    }
    if depth == 0 {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| CliError::Read {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            find_reports(&entry.path(), depth - 1, found)?;
        }
    }
    Ok(())
}

/// The merged report, and what the merge had to decide.
#[derive(Debug)]
pub struct Merged {
    /// The report of the whole run.
    pub report: RunReport,
    /// Tests seen in more than one input, and inputs of an unknown commit.
    pub notes: Vec<String>,
    /// How many reports went in.
    pub inputs: usize,
}

/// Merges reports (each with the path it came from, for messages).
pub fn merge(reports: Vec<(PathBuf, RunReport)>, allow_mixed: bool) -> Result<Merged, CliError> {
    let mut notes = Vec::new();
    let mut commits: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, report) in &reports {
        match &report.run.commit {
            Some(commit) => {
                commits
                    .entry(commit.clone())
                    .or_insert_with(|| path.clone());
            }
            None => notes.push(format!(
                "note: {} does not say which commit it tested",
                shown(path)
            )),
        }
    }
    if commits.len() > 1 && !allow_mixed {
        return Err(CliError::MixedCommits {
            commits: commits.into_iter().collect(),
        });
    }
    let inputs = reports.len();
    let run = merged_run(&reports);
    let mut tests: BTreeMap<String, (TestRecord, PathBuf)> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for (path, report) in reports {
        unreadable.extend(report.unreadable);
        for record in report.tests {
            let name = record.test.full_name();
            match tests.remove(&name) {
                None => {
                    tests.insert(name, (record, path.clone()));
                }
                Some((kept, kept_from)) => {
                    let (keep, from, other) = if prefer(&record, &kept) {
                        (record, path.clone(), kept_from)
                    } else {
                        (kept, kept_from, path.clone())
                    };
                    let why = if keep.outcome.is_failure() {
                        "the failing one"
                    } else {
                        "the one that finished last"
                    };
                    notes.push(format!(
                        "`{name}` is in {} and {}: kept {why} ({}, from {})",
                        shown(&from),
                        shown(&other),
                        keep.outcome,
                        shown(&from)
                    ));
                    tests.insert(name, (keep, from));
                }
            }
        }
    }
    let mut report = RunReport::new(run, tests.into_values().map(|(t, _)| t).collect());
    unreadable.sort();
    report.unreadable = unreadable;
    Ok(Merged {
        report,
        notes,
        inputs,
    })
}

/// Whether `new` should replace `kept` for the same test.
fn prefer(new: &TestRecord, kept: &TestRecord) -> bool {
    match (new.outcome.is_failure(), kept.outcome.is_failure()) {
        (true, false) => true,
        (false, true) => false,
        // RFC 3339 in UTC sorts as text.
        _ => new.finished_at > kept.finished_at,
    }
}

/// The merged run: the one run id when every shard had it (`LEAKCHECK_RUN_ID` set by the CI),
/// else the ids joined; the earliest start; the commit and toolchain of the first report.
fn merged_run(reports: &[(PathBuf, RunReport)]) -> RunInfo {
    let mut ids: Vec<&str> = reports.iter().map(|(_, r)| r.run.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let first = reports
        .iter()
        .map(|(_, r)| &r.run)
        .min_by_key(|run| run.started_unix_ms)
        .cloned()
        .unwrap_or_default();
    let commit = reports.iter().find_map(|(_, r)| r.run.commit.clone());
    let mut run = first;
    run.id = if ids.len() == 1 {
        ids[0].to_owned()
    } else {
        format!("merged:{}", ids.join("+"))
    };
    run.commit = commit;
    run
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`.
fn write_whole(path: &Path, text: &str) -> Result<(), CliError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let partial = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            CliError::write(path, e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakcheck::record::Outcome;
    use leakcheck::{Config, TestId};

    fn record(name: &str, outcome: Outcome, finished_at: &str) -> TestRecord {
        let mut record = TestRecord::new(
            "shard".into(),
            TestId::of_fn("pkg", "tests::m", name, "tests/m.rs", 1),
            &Config::default(),
            outcome,
            None,
            None,
            std::time::Duration::from_millis(3),
        );
        record.finished_at = finished_at.into();
        record
    }

    fn report(id: &str, commit: Option<&str>, tests: Vec<TestRecord>) -> (PathBuf, RunReport) {
        let mut run = RunInfo::starting_now(id.into());
        run.commit = commit.map(str::to_owned);
        (
            PathBuf::from(format!("{id}/report.json")),
            RunReport::new(run, tests),
        )
    }

    #[test]
    fn shards_become_one_run_and_a_test_seen_twice_keeps_the_failure() {
        let t = "2026-12-02T10:00:00Z";
        let later = "2026-12-02T10:05:00Z";
        let a = report(
            "a",
            Some("c0ffee"),
            vec![
                record("x", Outcome::Passed, t),
                record("dup", Outcome::Leaked, t),
            ],
        );
        let b = report(
            "b",
            Some("c0ffee"),
            vec![
                record("y", Outcome::Passed, t),
                record("dup", Outcome::Passed, later),
            ],
        );
        let merged = merge(vec![a, b], false).unwrap();
        let names: Vec<String> = merged
            .report
            .tests
            .iter()
            .map(|t| t.test.name.clone())
            .collect();
        assert_eq!(names, ["m::dup", "m::x", "m::y"]);
        assert_eq!(merged.report.tests[0].outcome, Outcome::Leaked);
        assert_eq!(merged.report.run.id, "merged:a+b");
        assert_eq!(merged.report.run.commit.as_deref(), Some("c0ffee"));
        assert_eq!(merged.notes.len(), 1, "{:?}", merged.notes);
        assert!(
            merged.notes[0].contains("kept the failing one"),
            "{:?}",
            merged.notes
        );

        // Both passed: the later one is kept.
        let a = report("a", None, vec![record("dup", Outcome::Passed, later)]);
        let b = report("b", None, vec![record("dup", Outcome::Passed, t)]);
        let merged = merge(vec![a, b], false).unwrap();
        assert_eq!(merged.report.tests[0].finished_at, later);
        assert!(merged.notes.iter().any(|n| n.contains("finished last")));
        assert!(merged
            .notes
            .iter()
            .any(|n| n.contains("does not say which commit")));
    }

    #[test]
    fn different_commits_are_refused_unless_allowed() {
        let t = "2026-12-02T10:00:00Z";
        let a = || report("a", Some("aaaa"), vec![record("x", Outcome::Passed, t)]);
        let b = || report("b", Some("bbbb"), vec![record("y", Outcome::Passed, t)]);
        let err = merge(vec![a(), b()], false).unwrap_err().to_string();
        assert!(
            err.contains("different commits: aaaa (a/report.json), bbbb (b/report.json)"),
            "{err}"
        );
        assert!(err.contains("--allow-mixed-commits"), "{err}");
        let merged = merge(vec![a(), b()], true).unwrap();
        assert_eq!(merged.report.tests.len(), 2);
    }
}
