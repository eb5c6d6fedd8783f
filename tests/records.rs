//! The record store under concurrency: many processes save records into one output directory at
//! once, and none is lost or torn; a new run replaces the old one's records; a superseded run's
//! late writer leaves the new report alone; a damaged record is reported, not fatal.
//!
//! The writers are this test binary started again (`--exact hammer_writer --ignored`) with the
//! directory and a writer index in the environment.

use leakcheck::record::store::{Saved, Store};
use leakcheck::record::{self, Outcome, RunInfo, TestRecord};
use leakcheck::{Config, TestId};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WRITERS: usize = 8;
const RECORDS_PER_WRITER: usize = 25;

fn record(run_id: &str, writer: usize, i: usize) -> TestRecord {
    let failed = i % 5 == 0;
    TestRecord::new(
        run_id.to_owned(),
        TestId::of_fn(
            "hammer",
            "writes::w",
            &format!("w{writer}_r{i}"),
            "tests/records.rs",
            1,
        ),
        &Config::default(),
        if failed {
            Outcome::Failed
        } else {
            Outcome::Passed
        },
        // Markup and control characters must survive into JUnit as escaped text.
        failed.then(|| format!("writer {writer} <failed> & \"stopped\"\u{1b}[0m")),
        None,
        Duration::from_millis(i as u64),
    )
}

fn save(store: &Store, record: &TestRecord) -> Saved {
    store
        .save(record, || RunInfo::starting_now(record.run_id.clone()))
        .unwrap_or_else(|e| panic!("save failed: {e}"))
}

/// One writer process: saves its records as fast as it can.
#[test]
#[ignore = "started by many_processes_save_at_once_and_lose_nothing"]
fn hammer_writer() {
    let dir = std::env::var_os("HAMMER_DIR").expect("HAMMER_DIR");
    let writer: usize = std::env::var("HAMMER_WRITER").unwrap().parse().unwrap();
    let store = Store::at(PathBuf::from(dir));
    for i in 0..RECORDS_PER_WRITER {
        assert_eq!(save(&store, &record("hammer", writer, i)), Saved::Current);
        // Once saved, a record stays in the report: no other writer may put back an older one.
        let report = record::read_report(&store.report_path()).unwrap();
        for mine in 0..=i {
            let name = format!("hammer::writes::w::w{writer}_r{mine}");
            assert!(report.test(&name).is_some(), "{name} lost from report.json");
        }
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leakcheck-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn many_processes_save_at_once_and_lose_nothing() {
    let dir = fresh_dir("hammer");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WRITERS)
        .map(|writer| {
            Command::new(&exe)
                .args(["--exact", "hammer_writer", "--ignored", "--test-threads=1"])
                .env("HAMMER_DIR", &dir)
                .env("HAMMER_WRITER", writer.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a writer failed");
    }

    let store = Store::at(&dir);
    let report = record::read_report(&store.report_path()).unwrap();
    assert_eq!(report.run.id, "hammer");
    assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
    assert_eq!(report.tests.len(), WRITERS * RECORDS_PER_WRITER);
    for writer in 0..WRITERS {
        for i in 0..RECORDS_PER_WRITER {
            let name = format!("hammer::writes::w::w{writer}_r{i}");
            assert!(report.test(&name).is_some(), "{name} lost");
        }
    }
    let junit = std::fs::read_to_string(store.junit_path()).unwrap();
    assert_eq!(
        junit.matches("<testcase ").count(),
        WRITERS * RECORDS_PER_WRITER
    );
    assert_eq!(
        junit.matches("<failure ").count(),
        WRITERS * RECORDS_PER_WRITER / 5
    );
    assert!(junit.contains("&lt;failed&gt; &amp; &quot;stopped&quot;[0m"));
    assert_eq!(
        leftovers(&dir),
        Vec::<String>::new(),
        "temporary files left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Temporary files anywhere under `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn a_new_run_replaces_the_old_and_a_superseded_writer_leaves_it_alone() {
    let dir = fresh_dir("runs");
    let store = Store::at(&dir);
    for i in 0..3 {
        save(&store, &record("first", 0, i));
    }
    assert_eq!(
        record::read_report(&store.report_path())
            .unwrap()
            .tests
            .len(),
        3
    );

    assert_eq!(save(&store, &record("second", 0, 7)), Saved::Current);
    let report = record::read_report(&store.report_path()).unwrap();
    assert_eq!(report.run.id, "second");
    assert_eq!(report.tests.len(), 1, "the first run's records are gone");
    assert!(!store.run_dir("first").exists());

    // A test of the first run that finishes late keeps its record to itself.
    assert_eq!(save(&store, &record("first", 0, 9)), Saved::Superseded);
    let report = record::read_report(&store.report_path()).unwrap();
    assert_eq!((report.run.id.as_str(), report.tests.len()), ("second", 1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_record_is_listed_and_the_others_are_kept() {
    let dir = fresh_dir("damaged");
    let store = Store::at(&dir);
    save(&store, &record("run", 0, 1));
    std::fs::write(
        store.run_dir("run").join("truncated.json"),
        "{\"schema_version\": 1, \"te",
    )
    .unwrap();
    save(&store, &record("run", 0, 2));
    let report = record::read_report(&store.report_path()).unwrap();
    assert_eq!(report.tests.len(), 2);
    assert_eq!(report.unreadable.len(), 1, "{:?}", report.unreadable);
    assert!(report.unreadable[0].contains("truncated.json"));
    assert!(report.unreadable[0].contains("not valid JSON"));

    // A damaged run.json is written anew; the run's own records stay.
    std::fs::write(dir.join("run.json"), "garbage").unwrap();
    save(&store, &record("run", 0, 3));
    let report = record::read_report(&store.report_path()).unwrap();
    assert_eq!((report.run.id.as_str(), report.tests.len()), ("run", 3));
    let _ = std::fs::remove_dir_all(&dir);
}
