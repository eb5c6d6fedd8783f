//! The store under faults: full disks, damaged files, appends against rebuilds.

use super::os::start_time;
use super::*;

#[test]
fn dates_are_rfc3339_utc() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_795_262_461), "2026-11-21T12:01:01Z");
}

#[test]
fn file_stems_are_safe_and_distinct() {
    let a = file_stem("pkg::bin::a::b");
    let b = file_stem("pkg::bin::a_b");
    assert!(a.starts_with("pkg__bin__a__b-"), "{a}");
    assert_ne!(a, b);
    assert!(file_stem(&"x".repeat(500)).len() < 140);
}

proptest::proptest! {
    #[test]
    fn start_time_reads_any_command_name(comm in "\\PC{0,20}", start in proptest::prelude::any::<u64>()) {
        let stat = format!("42 ({comm}) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} 1000");
        proptest::prop_assert_eq!(start_time(&stat), Some(start));
    }

    #[test]
    fn start_time_never_panics(stat in "\\PC{0,200}") {
        let _ = start_time(&stat);
    }
}

#[test]
fn start_time_survives_odd_command_names() {
    let stat = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000";
    assert_eq!(start_time(stat), Some(98765));
    assert_eq!(start_time("garbage"), None);
}

#[test]
fn output_dir_prefers_the_override_then_the_binary_location() {
    let root = std::env::temp_dir().join(format!("leakcheck-dir-{}", std::process::id()));
    let deps = root.join("target/x86_64-unknown-linux-gnu/debug/deps");
    fs::create_dir_all(&deps).unwrap();
    fs::write(root.join("target/CACHEDIR.TAG"), "").unwrap();
    let exe = deps.join("heap-0123");
    let none = |_: &str| None;
    assert_eq!(
        resolve_output_dir(none, Some(&exe)),
        root.join("target/leakcheck")
    );
    let set = |name: &str| (name == env::DIR).then(|| PathBuf::from("/elsewhere"));
    assert_eq!(
        resolve_output_dir(set, Some(&exe)),
        PathBuf::from("/elsewhere")
    );
    let target = |name: &str| (name == "CARGO_TARGET_DIR").then(|| PathBuf::from("/t"));
    assert_eq!(
        resolve_output_dir(target, Some(Path::new("/nowhere/x"))),
        PathBuf::from("/t/leakcheck")
    );
    fs::remove_dir_all(&root).unwrap();
}

fn temp_store(name: &str) -> (PathBuf, Store) {
    let dir = std::env::temp_dir().join(format!("leakcheck-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    (dir.clone(), Store::at(dir))
}

/// Attempt `i` of one of four tests, `t0` to `t3`; the message tells the attempts apart.
fn record(run: &str, i: usize) -> TestRecord {
    TestRecord::new(
        run.to_owned(),
        crate::TestId::of_fn(
            "pkg",
            "faults::m",
            &format!("t{}", i % 4),
            "tests/faults.rs",
            1,
        ),
        &crate::Config::default(),
        super::super::Outcome::Failed,
        Some(format!("attempt {i}")),
        None,
        std::time::Duration::from_millis(5),
    )
}

fn info(run: &str) -> RunInfo {
    RunInfo {
        id: run.to_owned(),
        ..RunInfo::default()
    }
}

/// Files under `dir` whose name marks them temporary.
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for path in fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                found.push(path);
            }
        }
    }
    found
}

#[cfg(unix)]
#[test]
fn a_full_disk_fails_the_save_naming_the_file_and_tears_nothing() {
    let (dir, store) = temp_store("disk-full");
    for i in 0..4 {
        store.save(&record("run", i), || info("run")).unwrap();
    }
    let mut report = fs::read(store.report_path()).unwrap();
    let (mut failures, mut successes) = (0, 0);
    // From no space at all to enough for the record, the report and junit.xml: every write
    // of a save is cut short somewhere along the way.
    for (i, space) in (4..).zip((0..8_000).step_by(97)) {
        let result = {
            let _full = fault::disk_full_after(space);
            store.save(&record("run", i), || info("run"))
        };
        let now = fs::read(store.report_path()).unwrap();
        let parsed =
            super::super::parse_report(std::str::from_utf8(&now).unwrap(), &store.report_path())
                .unwrap_or_else(|e| panic!("report.json torn with {space} bytes of space: {e}"));
        assert_eq!(parsed.tests.len(), 4);
        assert!(parsed.unreadable.is_empty(), "{:?}", parsed.unreadable);
        let name = format!("pkg::faults::m::t{}", i % 4);
        let attempt = format!("attempt {i}");
        let has_this_attempt =
            parsed.test(&name).and_then(|t| t.message.as_deref()) == Some(attempt.as_str());
        match result {
            Ok(_) => {
                successes += 1;
                assert!(has_this_attempt, "{name}: {attempt} not in the report");
            }
            Err(e) => {
                failures += 1;
                let message = e.to_string();
                assert!(message.contains("No space left on device"), "{message}");
                assert!(message.contains("the disk is full"), "{message}");
                assert!(message.contains("LEAKCHECK_DIR"), "{message}");
                assert!(message.contains(&dir.display().to_string()), "{message}");
                // Either report.json is the one before, or it was written whole and the
                // save failed after it (at junit.xml or run.json).
                let after = message.contains("junit.xml") || message.contains("run.json");
                assert!(
                    now == report || (has_this_attempt && after),
                    "report.json changed by a failed save with {space} bytes: {message}"
                );
            }
        }
        assert_eq!(
            temporary_files(&dir),
            Vec::<PathBuf>::new(),
            "{space} bytes"
        );
        report = now;
    }
    assert!(
        failures > 10 && successes > 10,
        "{failures} failures, {successes} successes: the space range misses a case"
    );
    // Once there is space again, report.json and junit.xml agree with the records.
    store.save(&record("run", 0), || info("run")).unwrap();
    let report = crate::record::read_report(&store.report_path()).unwrap();
    assert_eq!(report.tests.len(), 4);
    let junit = fs::read_to_string(store.junit_path()).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 4);
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_first_save_on_a_full_disk_leaves_no_files_behind() {
    let (dir, store) = temp_store("disk-full-first");
    let error = {
        let _full = fault::disk_full_after(0);
        store.save(&record("run", 1), || info("run")).unwrap_err()
    };
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot write {}", dir.join("run.json").display())),
        "{message}"
    );
    assert!(message.contains("No space left on device"), "{message}");
    assert_eq!(
        (error.action, &error.path),
        (Action::Write, &dir.join("run.json"))
    );
    assert!(!store.report_path().exists());
    assert_eq!(temporary_files(&dir), Vec::<PathBuf>::new());
    // The next save with space starts the run properly.
    store.save(&record("run", 2), || info("run")).unwrap();
    let report = crate::record::read_report(&store.report_path()).unwrap();
    assert_eq!((report.run.id.as_str(), report.tests.len()), ("run", 1));
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn write_errors_say_what_to_do() {
    let path = Path::new("/records/report.json");
    let cases = [
        (libc::ENOSPC, "the disk is full"),
        (libc::EDQUOT, "quota"),
        (
            libc::EROFS,
            "read-only: set LEAKCHECK_DIR to a writable directory",
        ),
        (libc::EACCES, "make the directory writable"),
    ];
    for (errno, needle) in cases {
        let e = context(io::Error::from_raw_os_error(errno), Action::Write, path);
        let message = e.to_string();
        assert!(
            message.starts_with("cannot write /records/report.json: "),
            "{message}"
        );
        assert!(message.contains(needle), "{message}");
        // The cause is kept, not only its text.
        assert_eq!(e.source.raw_os_error(), Some(errno));
        assert!(e.hint().is_some_and(|h| message.ends_with(h)), "{message}");
    }
    // Others are named without a guess.
    let e = context(io::Error::from_raw_os_error(libc::EIO), Action::Write, path);
    assert!(!e.to_string().contains(';'), "{e}");
    assert_eq!(e.hint(), None);
}

/// A test of its own, `u<i>` in binary `bin<binary>`.
fn distinct(run: &str, binary: usize, i: usize) -> TestRecord {
    TestRecord::new(
        run.to_owned(),
        crate::TestId::of_fn(
            "pkg",
            &format!("bin{binary}::m"),
            &format!("u{i:04}"),
            "tests/bin.rs",
            1,
        ),
        &crate::Config::default(),
        if i % 3 == 0 {
            super::super::Outcome::Failed
        } else {
            super::super::Outcome::Passed
        },
        Some(format!("attempt {i} <&>")),
        None,
        std::time::Duration::from_millis(i as u64),
    )
}

/// The reports a rebuild from the records would write, next to the files the appends left.
fn rebuilt(store: &Store, run: &str) -> (String, String, String, String) {
    let state: RunState =
        crate::json::from_str(&fs::read_to_string(store.dir().join("run.json")).unwrap()).unwrap();
    let (json, xml, _) = append::render(&store.collect(&store.run_dir(run), state.current));
    (
        fs::read_to_string(store.report_path()).unwrap(),
        json,
        fs::read_to_string(store.junit_path()).unwrap(),
        xml,
    )
}

#[test]
fn appending_writes_what_a_rebuild_would() {
    let (dir, store) = temp_store("append");
    // In the order a rebuild sorts them: binary, then name.
    for (binary, i) in (0..3).flat_map(|b| (0..5).map(move |i| (b, i))) {
        store
            .save(&distinct("run", binary, i), || info("run"))
            .unwrap();
        let (report, json, junit, xml) = rebuilt(&store, "run");
        assert_eq!(report, json, "report.json after bin{binary}::u{i}");
        assert_eq!(junit, xml, "junit.xml after bin{binary}::u{i}");
    }
    let report = crate::record::read_report(&store.report_path()).unwrap();
    assert_eq!(report.tests.len(), 15);
    let junit = fs::read_to_string(store.junit_path()).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");
    assert!(junit.contains("tests=\"15\" failures=\"6\""), "{junit}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interleaved_binaries_start_new_suites_and_readers_sort() {
    let (dir, store) = temp_store("interleaved");
    for i in 0..6 {
        store
            .save(&distinct("run", i % 2, 5 - i), || info("run"))
            .unwrap();
    }
    let junit = fs::read_to_string(store.junit_path()).unwrap();
    // Each record of the other binary than the last one starts a suite.
    assert_eq!(junit.matches("<testsuite ").count(), 6, "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), 6, "{junit}");
    let report = crate::record::read_report(&store.report_path()).unwrap();
    let names: Vec<String> = report.tests.iter().map(|t| t.test.full_name()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // A retry rebuilds both files, grouped by binary again.
    store.save(&distinct("run", 0, 5), || info("run")).unwrap();
    let junit = fs::read_to_string(store.junit_path()).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 2, "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), 6, "{junit}");
    fs::remove_dir_all(&dir).unwrap();
}

/// Every record in the run's folder is in report.json and junit.xml, once.
fn assert_complete(store: &Store) {
    let records = fs::read_dir(store.run_dir("run")).unwrap().count();
    let report = crate::record::read_report(&store.report_path()).unwrap();
    assert_eq!(report.tests.len(), records);
    let junit = fs::read_to_string(store.junit_path()).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), records, "{junit}");
}

#[cfg(unix)]
#[test]
fn an_append_cut_short_by_a_full_disk_tears_nothing_and_the_next_save_repairs() {
    let (dir, store) = temp_store("append-full");
    store.save(&distinct("run", 0, 0), || info("run")).unwrap();
    let (mut failures, mut successes) = (0, 0);
    let mut tests = 1..;
    // From no space to enough for the record, its two appends and run.json.
    for space in (0..6_000).step_by(53) {
        let i = tests.next().unwrap();
        let before = fs::read(store.report_path()).unwrap();
        let result = {
            let _full = fault::disk_full_after(space);
            store.save(&distinct("run", i % 2, i), || info("run"))
        };
        let text = fs::read_to_string(store.report_path()).unwrap();
        let report = super::super::parse_report(&text, &store.report_path())
            .unwrap_or_else(|e| panic!("report.json torn with {space} bytes of space: {e}"));
        let junit = fs::read_to_string(store.junit_path()).unwrap();
        assert!(
            junit.trim_end().ends_with("</testsuites>"),
            "junit.xml torn: {junit}"
        );
        let cases = junit.matches("<testcase ").count();
        assert_eq!(
            temporary_files(&dir),
            Vec::<PathBuf>::new(),
            "{space} bytes"
        );
        match result {
            Ok(_) => {
                successes += 1;
                assert_complete(&store);
            }
            Err(e) => {
                failures += 1;
                assert!(e.to_string().contains("the disk is full"), "{e}");
                // report.json holds the records it held or the new one as well, whole;
                // junit.xml holds the records report.json holds or one fewer.
                let held = super::super::parse_report(
                    std::str::from_utf8(&before).unwrap(),
                    &store.report_path(),
                )
                .unwrap()
                .tests
                .len();
                let now = report.tests.len();
                assert!(
                    now == held || now == held + 1,
                    "{space} bytes: {held} → {now}"
                );
                assert!(
                    cases == now || (cases == held && now == held + 1),
                    "{space} bytes: {e}"
                );
                // The next save, with space, repairs both.
                let i = tests.next().unwrap();
                store
                    .save(&distinct("run", i % 2, i), || info("run"))
                    .unwrap();
                assert_complete(&store);
            }
        }
    }
    assert!(
        failures > 10 && successes > 10,
        "{failures} failures, {successes} successes: the space range misses a case"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// `distinct(run, 0, i)` as a provisional record: failed, saying the process ended early.
fn provisional(run: &str, i: usize) -> TestRecord {
    let mut record = distinct(run, 0, i);
    record.outcome = super::super::Outcome::Failed;
    record.message = Some("ended before the test reported a result".to_owned());
    record
}

fn state_of(store: &Store) -> RunState {
    crate::json::from_str(&fs::read_to_string(store.dir().join("run.json")).unwrap()).unwrap()
}

/// The work of a provisional save and the final save of one more test, in a run that holds
/// `held` final records already.
fn work_of_replacing_one(held: usize) -> (work::Counts, work::Counts) {
    let (dir, store) = temp_store(&format!("replace-{held}"));
    for i in 0..held {
        store.save(&distinct("run", 0, i), || info("run")).unwrap();
    }
    let before = work::counts();
    store
        .save_pending(&provisional("run", held), || info("run"))
        .unwrap();
    let pending = work::counts();
    store
        .save(&distinct("run", 0, held), || info("run"))
        .unwrap();
    let done = work::counts();
    // In between, the files showed the provisional record; now they hold the final one, as a
    // rebuild would write them.
    let (report, json, junit, xml) = rebuilt(&store, "run");
    assert_eq!(report, json);
    assert_eq!(junit, xml);
    assert_complete(&store);
    assert!(state_of(&store).pending.is_empty());
    fs::remove_dir_all(&dir).unwrap();
    let delta = |a: work::Counts, b: work::Counts| work::Counts {
        read: b.read - a.read,
        rendered: b.rendered - a.rendered,
        rebuilt: b.rebuilt - a.rebuilt,
    };
    (delta(before, pending), delta(pending, done))
}

#[test]
fn the_final_save_replaces_the_provisional_record_without_reading_the_run() {
    let small = work_of_replacing_one(10);
    let large = work_of_replacing_one(1000);
    // The same work at 10 and at 1000 records: no rebuild, no record read back, and only the
    // one record serialized into report.json by each save.
    assert_eq!(small, large);
    for counts in [small.0, small.1] {
        assert_eq!(
            counts,
            work::Counts {
                read: 0,
                rendered: 1,
                rebuilt: 0
            }
        );
    }
}

#[test]
fn provisional_records_come_after_the_final_ones_until_replaced_or_their_process_ends() {
    let (dir, store) = temp_store("provisional");
    for i in 0..3 {
        store.save(&distinct("run", 0, i), || info("run")).unwrap();
    }
    let failures = |store: &Store| {
        let report = crate::record::read_report(&store.report_path()).unwrap();
        let failed = report
            .tests
            .iter()
            .filter(|t| t.outcome.is_failure())
            .count();
        let junit = fs::read_to_string(store.junit_path()).unwrap();
        (report.tests.len(), failed, junit)
    };
    // u0000 failed, u0001 and u0002 passed.
    assert!(failures(&store).2.contains("tests=\"3\" failures=\"1\""));
    // Two tests start; one of them in a process that is gone (its pid, another start time).
    store
        .save_pending(&provisional("run", 3), || info("run"))
        .unwrap();
    let gone = Owner {
        pid: std::process::id(),
        start: Some(u64::MAX),
    };
    #[cfg(target_os = "linux")]
    assert!(!gone.is_alive() && Owner::this_process().is_alive());
    store
        .save_as(&provisional("run", 4), || info("run"), Some(gone))
        .unwrap();
    let (tests, failed, junit) = failures(&store);
    assert_eq!((tests, failed), (5, 3));
    assert!(junit.contains("tests=\"5\" failures=\"3\""), "{junit}");
    assert_complete(&store);
    // A third finishes: the provisional records move behind it; the one of the process that is
    // gone becomes final as it stands.
    let before = work::counts();
    store.save(&distinct("run", 0, 5), || info("run")).unwrap();
    assert_eq!(work::counts().rebuilt, before.rebuilt);
    let (tests, failed, junit) = failures(&store);
    assert_eq!((tests, failed), (6, 3));
    assert!(junit.contains("tests=\"6\" failures=\"3\""), "{junit}");
    assert_complete(&store);
    #[cfg(target_os = "linux")]
    assert_eq!(state_of(&store).pending.len(), 1);
    // The first finishes (failing: u0003 fails by its number, with its own message).
    store.save(&distinct("run", 0, 3), || info("run")).unwrap();
    assert_eq!(work::counts().rebuilt, before.rebuilt);
    let (tests, failed, junit) = failures(&store);
    assert_eq!((tests, failed), (6, 3));
    assert!(junit.contains("tests=\"6\" failures=\"3\""), "{junit}");
    let report = crate::record::read_report(&store.report_path()).unwrap();
    let message = |name: &str| {
        report
            .test(&format!("pkg::bin0::m::{name}"))
            .and_then(|t| t.message.clone())
            .unwrap()
    };
    assert_eq!(message("u0003"), "attempt 3 <&>");
    assert!(message("u0004").contains("ended before"));
    assert!(state_of(&store).pending.is_empty());
    // The files are what a rebuild from the records writes, record for record.
    store.save(&distinct("run", 0, 5), || info("run")).unwrap();
    let rebuilt = crate::record::read_report(&store.report_path()).unwrap();
    assert_eq!(
        serde_json::to_value(&report.tests).unwrap(),
        serde_json::to_value(&rebuilt.tests).unwrap()
    );
    assert_complete(&store);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_rebuild_keeps_provisional_records_provisional() {
    let (dir, store) = temp_store("provisional-rebuild");
    store.save(&distinct("run", 0, 1), || info("run")).unwrap();
    store
        .save_pending(&provisional("run", 2), || info("run"))
        .unwrap();
    // A retry of u0001 rebuilds; u0002 is still shown, and still replaced in place after.
    store.save(&distinct("run", 0, 1), || info("run")).unwrap();
    assert_eq!(state_of(&store).pending.len(), 1);
    assert_complete(&store);
    let before = work::counts();
    store.save(&distinct("run", 0, 2), || info("run")).unwrap();
    assert_eq!(work::counts().rebuilt, before.rebuilt);
    let (report, json, junit, xml) = rebuilt(&store, "run");
    assert_eq!(report, json);
    assert_eq!(junit, xml);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_test_retried_in_place_after_a_crash_is_shown_once_with_its_last_attempt() {
    let (dir, store) = temp_store("provisional-retry");
    store.save(&distinct("run", 0, 0), || info("run")).unwrap();
    let gone = Owner {
        pid: std::process::id(),
        start: Some(u64::MAX),
    };
    // u0001 crashes; another test's save makes its provisional record final as it stands.
    // u0002 crashes and nothing is saved before its retry.
    for i in [1, 2] {
        store
            .save_as(&provisional("run", i), || info("run"), Some(gone))
            .unwrap();
    }
    store.save(&distinct("run", 0, 4), || info("run")).unwrap();
    // Both are retried (nextest --retries): a provisional record, then the final one.
    for i in [1, 2] {
        store
            .save_pending(&provisional("run", i), || info("run"))
            .unwrap();
        assert_complete(&store);
        store.save(&distinct("run", 0, i), || info("run")).unwrap();
        assert_complete(&store);
    }
    let report = crate::record::read_report(&store.report_path()).unwrap();
    let mut names: Vec<&str> = report.tests.iter().map(|t| t.test.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["m::u0000", "m::u0001", "m::u0002", "m::u0004"]);
    for i in [1, 2] {
        let test = report.test(&format!("pkg::bin0::m::u{i:04}")).unwrap();
        assert_eq!(
            test.message.as_deref(),
            Some(format!("attempt {i} <&>").as_str())
        );
    }
    let junit = fs::read_to_string(store.junit_path()).unwrap();
    // u0000 fails by its number; the retries passed.
    assert!(junit.contains("tests=\"4\" failures=\"1\""), "{junit}");
    assert!(state_of(&store).pending.is_empty());
    fs::remove_dir_all(&dir).unwrap();
}
