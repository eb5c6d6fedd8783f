//! The record store under concurrency: many processes save records into one output directory at
//! once, and none is lost or torn; a new run replaces the old one's records; a superseded run's
//! late writer leaves the new report alone; a damaged record is reported, not fatal.
//!
//! The writers are this test binary started again (`--exact hammer_writer --ignored`) with the
//! directory and a writer index in the environment.
//!
//! The readers, fuzzed: arbitrary bytes, JSON of the right shape with wrong contents, and
//! truncations and mutations of real records and reports are each read as a report or refused
//! with an error that names the file, never a panic; a saved record reads back as it was.

// A real leak's report, attribution included, is the richest record to mutate.
leakcheck::global_allocator!();

use leakcheck::_cargo_leakcheck_support::{Saved, Store};
use leakcheck::record::{self, Outcome, RunInfo, TestRecord};
use leakcheck::{Check, Config, TestId};
use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
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

/// One writer process: saves its records as fast as it can. Odd writers save each record as a
/// test running in place does (under nextest): a provisional record first, then the final one.
#[test]
#[ignore = "started by many_processes_save_at_once_and_lose_nothing"]
fn hammer_writer() {
    let dir = std::env::var_os("HAMMER_DIR").expect("HAMMER_DIR");
    let writer: usize = std::env::var("HAMMER_WRITER").unwrap().parse().unwrap();
    let store = Store::at(PathBuf::from(dir));
    for i in 0..RECORDS_PER_WRITER {
        if writer % 2 == 1 {
            let mut provisional = record("hammer", writer, i);
            provisional.outcome = Outcome::Failed;
            provisional.message = Some("provisional".to_owned());
            let saved = store
                .save_pending(&provisional, || RunInfo::starting_now("hammer".to_owned()))
                .unwrap_or_else(|e| panic!("provisional save failed: {e}"));
            assert_eq!(saved, Saved::Current);
        }
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
            let test = report.test(&name);
            assert!(test.is_some(), "{name} lost");
            // Every provisional record was replaced by its final one.
            assert_ne!(
                test.unwrap().message.as_deref(),
                Some("provisional"),
                "{name} kept its provisional record"
            );
        }
    }
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert!(
        state["pending"].as_array().is_none_or(Vec::is_empty),
        "provisional records still listed: {state:#}"
    );
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
    // Appending a record does not read the others: a damaged one is found when the reports
    // are rebuilt, here because the same test is saved again (a retry).
    save(&store, &record("run", 0, 2));
    let report = record::read_report(&store.report_path()).unwrap();
    assert_eq!((report.tests.len(), report.unreadable.len()), (2, 0));
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

// ---------------------------------------------------------------------------------------------
// The readers, fuzzed

/// proptest's settings with `default` cases, unless `PROPTEST_CASES` asks for more (a long
/// campaign: `PROPTEST_CASES=20000 cargo test --test records`).
fn cases(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

/// A record of a real leak (series, verdicts, attribution) as the store writes it, and the
/// report.json that holds it.
fn leaky() -> &'static (String, String) {
    static LEAKY: OnceLock<(String, String)> = OnceLock::new();
    LEAKY.get_or_init(|| {
        // The heap is the process's, and this binary's other tests run on other threads: their
        // frees can hide a 48-byte leak from one measurement (seen about once in 50 runs), so
        // up to three are taken; the record must be of a leak.
        let measure = || {
            let mut kept = Vec::new();
            Check::new()
                .iterations(8)
                .name("records::leaky")
                .run(|| kept.push(vec![0u8; 48]))
        };
        let mut report = measure();
        for _ in 1..3 {
            if report.is_leak() {
                break;
            }
            report = measure();
        }
        assert!(report.is_leak(), "{report}");
        let record = TestRecord::new(
            "fuzz".to_owned(),
            TestId::of_fn("fuzz", "records::leaky", "leaks", "tests/records.rs", 1),
            &Config::default(),
            Outcome::of(&report),
            Some(report.to_string()),
            Some(report),
            Duration::from_millis(3),
        );
        let dir = fresh_dir("leaky");
        let store = Store::at(&dir);
        save(&store, &record);
        let file = only_record_file(&store.run_dir("fuzz"));
        let texts = (
            std::fs::read_to_string(file).unwrap(),
            std::fs::read_to_string(store.report_path()).unwrap(),
        );
        let _ = std::fs::remove_dir_all(&dir);
        texts
    })
}

fn only_record_file(run_dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// The report of tests/data in cargo-leakcheck: four records of a real fixture run.
fn data_report() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cargo-leakcheck/tests/data/report.json");
    std::fs::read_to_string(path).unwrap()
}

/// Checks what reading `bytes` as a report and as a record gives: a value, or an error whose
/// message starts with the file (so every caller's message names it). Returns whether either
/// was read.
fn read_both(bytes: &[u8]) -> Result<bool, TestCaseError> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("records-fuzz");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "case-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, bytes).unwrap();
    let report = record::read_report(&path);
    let test = record::read_record(&path);
    std::fs::remove_file(&path).unwrap();
    for error in [report.as_ref().err(), test.as_ref().err()]
        .into_iter()
        .flatten()
    {
        prop_assert_eq!(&error.path, &path);
        let message = error.to_string();
        prop_assert!(
            message.starts_with(&path.display().to_string()),
            "{}",
            message
        );
        prop_assert!(!error.problem.to_string().trim().is_empty());
    }
    // The same through the text entry points, when it is text.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let name = Path::new("given.json");
        prop_assert_eq!(record::parse_report(text, name).is_ok(), report.is_ok());
        prop_assert_eq!(record::parse_record(text, name).is_ok(), test.is_ok());
    }
    Ok(report.is_ok() || test.is_ok())
}

/// JSON made of the schema's own keys and values, nested at random: right shape, wrong contents.
fn schema_like_json() -> impl Strategy<Value = Value> {
    const KEYS: &[&str] = &[
        "schema_version",
        "run",
        "tests",
        "unreadable",
        "id",
        "started_at",
        "started_unix_ms",
        "commit",
        "leakcheck_version",
        "run_id",
        "test",
        "package",
        "binary",
        "name",
        "module_path",
        "file",
        "line",
        "outcome",
        "message",
        "finished_at",
        "duration_ms",
        "config",
        "iterations",
        "warmup",
        "max_iterations",
        "settle_ms",
        "timeout_secs",
        "isolate",
        "attribute",
        "figures",
        "verdict",
        "heap",
        "threads",
        "fds",
        "report",
        "samples",
        "allocs_per_iter",
        "measured",
        "traced",
        "",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from(1)),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(
            &[
                "passed",
                "leaked",
                "failed",
                "over_budget",
                "clean",
                "leak",
                "suspicious"
            ][..]
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 10, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..12).prop_map(|fields| {
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// Every JSON pointer into `value`, the root included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                pointers(
                    inner,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                pointers(inner, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Text cut at `at`, and with `flips` applied (an index taken modulo the length, and a byte).
fn mutate(text: &str, flips: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for &(at, byte) in flips {
        let at = at % bytes.len();
        bytes[at] = byte;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes_are_refused_naming_the_file(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        read_both(&bytes)?;
    }

    #[test]
    fn schema_shaped_garbage_is_read_or_refused_naming_the_file(value in schema_like_json()) {
        read_both(value.to_string().as_bytes())?;
    }

    #[test]
    fn a_real_report_with_a_field_replaced_is_read_or_refused(
        which in any::<prop::sample::Index>(),
        replacement in schema_like_json(),
        leaky_one in any::<bool>(),
    ) {
        let text = if leaky_one { leaky().1.clone() } else { data_report() };
        let mut value: Value = serde_json::from_str(&text).unwrap();
        let mut all = Vec::new();
        pointers(&value, String::new(), &mut all);
        let at = which.get(&all);
        *value.pointer_mut(at).unwrap() = replacement;
        read_both(value.to_string().as_bytes())?;
    }

    #[test]
    fn a_real_report_with_bytes_flipped_or_cut_is_read_or_refused(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<usize>()),
        leaky_one in any::<bool>(),
    ) {
        let text = if leaky_one { leaky().1.clone() } else { data_report() };
        read_both(&mutate(&text, &flips, cut))?;
    }

    #[test]
    fn a_real_record_with_bytes_flipped_or_cut_is_read_or_refused(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
    ) {
        read_both(&mutate(&leaky().0, &flips, cut))?;
    }
}

proptest! {
    // Each case saves through the store: files, a lock and renames.
    #![proptest_config(cases(64))]

    #[test]
    fn a_saved_record_reads_back_as_it_was(
        package in "\\PC{0,20}",
        module in "[a-z_]{1,10}(::[a-z_]{1,10}){0,3}",
        name in "\\PC{1,40}",
        outcome in prop::sample::select(&[Outcome::Passed, Outcome::Leaked, Outcome::OverBudget, Outcome::Failed][..]),
        message in prop::option::of("\\PC{0,200}"),
        numbers in (0usize..1_000_000, 0usize..1000, any::<u64>(), 0u64..1_000_000_000, any::<u32>()),
        switches in (any::<bool>(), any::<bool>(), prop::option::of(any::<u64>()), prop::option::of(any::<u64>())),
        suppress in prop::collection::vec("\\PC{0,16}", 0..3),
    ) {
        let (iterations, warmup, settle_ms, timeout_secs, millis) = numbers;
        let (isolate, attribute, max_allocs, max_bytes) = switches;
        let mut config = Config::default();
        config.iterations = iterations;
        config.warmup = warmup;
        config.settle = Duration::from_millis(settle_ms);
        config.timeout = Duration::from_secs(timeout_secs);
        config.isolate = isolate;
        config.attribute = attribute;
        config.max_allocs_per_iter = max_allocs;
        config.max_bytes_per_iter = max_bytes;
        config.heap = !isolate;
        config.suppress.threads = suppress.clone();
        config.suppress.heap = suppress;
        let record = TestRecord::new(
            "round-trip".to_owned(),
            TestId::of_fn(&package, &module, &name, "tests/x.rs", millis),
            &config,
            outcome,
            message,
            None,
            Duration::from_millis(u64::from(millis)),
        );
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = fresh_dir(&format!("round-trip-{}", N.fetch_add(1, Ordering::Relaxed)));
        let store = Store::at(&dir);
        prop_assert_eq!(save(&store, &record), Saved::Current);
        let read = record::read_record(&only_record_file(&store.run_dir("round-trip")));
        let report = record::read_report(&store.report_path());
        let _ = std::fs::remove_dir_all(&dir);
        prop_assert_eq!(read.unwrap(), record.clone());
        let report = report.unwrap();
        prop_assert_eq!(report.tests, vec![record]);
    }
}

#[test]
fn the_leaky_record_reads_back_with_its_report() {
    let (record_text, report_text) = leaky();
    let record = record::parse_record(record_text, "r.json".as_ref()).unwrap();
    assert_eq!(record.outcome, Outcome::Leaked);
    let report = record.report.as_ref().expect("the full measurement");
    assert!(report.is_leak());
    // Written again, it is the same record.
    let again: TestRecord = record::parse_record(
        &serde_json::to_string_pretty(&record).unwrap(),
        "r.json".as_ref(),
    )
    .unwrap();
    assert_eq!(again.test, record.test);
    assert_eq!(again.message, record.message);
    assert_eq!(
        again.figures.map(|f| f.verdict),
        record.figures.map(|f| f.verdict)
    );
    let run = record::parse_report(report_text, "report.json".as_ref()).unwrap();
    assert_eq!(run.tests.len(), 1);
}

#[test]
fn every_truncation_of_a_report_or_record_is_refused_naming_the_file() {
    let (leaky_record, _) = leaky();
    let data = data_report();
    let small = serde_json::to_string_pretty(&record("cut", 1, 5)).unwrap() + "\n";
    // Every length of the small ones; every 23rd of the big record (tens of kilobytes).
    for (text, step) in [
        (data.as_str(), 1),
        (small.as_str(), 1),
        (leaky_record.as_str(), 23),
    ] {
        let whole = text.trim_end().len();
        let mut cuts = 0;
        for len in (0..text.len()).step_by(step) {
            let cut = &text[..floor_char_boundary(text, len)];
            let path = Path::new("runs/cut/report.json");
            let (report, test) = (
                record::parse_report(cut, path),
                record::parse_record(cut, path),
            );
            if cut.len() < whole {
                // Both parsers refuse a cut document: neither may read it as a report or record.
                for (parser, result) in [("report", report.err()), ("record", test.err())] {
                    let Some(error) = result else {
                        panic!(
                            "the {parser} parser read the first {len} of {} bytes",
                            text.len()
                        )
                    };
                    let message = error.to_string();
                    assert!(message.starts_with("runs/cut/report.json: "), "{message}");
                    assert!(
                        message.contains("not valid JSON") && message.contains("truncated"),
                        "{message}"
                    );
                }
                cuts += 1;
            } else {
                // Only the trailing newline is gone: still the whole document.
                assert!(report.is_ok() || test.is_ok());
            }
        }
        // Every cut short of the whole document was tried.
        assert_eq!(cuts, whole.div_ceil(step), "{cuts} cuts of {whole} bytes");
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[test]
fn hostile_json_is_refused_without_a_stack_overflow() {
    let path = Path::new("deep.json");
    for text in [
        "[".repeat(200_000),
        "{\"schema_version\":".repeat(100_000),
        format!("{{\"schema_version\": 1, \"run\": {}}}", "[".repeat(50_000)),
        "{\"schema_version\": 1e400}".to_owned(),
        "{\"schema_version\": -1}".to_owned(),
        "{\"schema_version\": \"1\"}".to_owned(),
        "[1, 2, 3]".to_owned(),
        "\u{feff}{}".to_owned(),
        String::new(),
    ] {
        let error = record::parse_report(&text, path).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("deep.json: "), "{message}");
    }
    let error = record::parse_report("{\"schema_version\": \"1\"}", path).unwrap_err();
    assert!(
        matches!(
            &error.problem,
            record::ReadProblem::NotLeakcheck { schema_version: Some(v), .. } if v == "\"1\""
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("not a version number"),
        "{error}"
    );
    // Bytes that are not UTF-8 are damage, named as such.
    let dir = fresh_dir("not-utf8");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.json");
    std::fs::write(&file, b"{\"schema_version\": 1, \"run\": \"\xff\xfe\"}").unwrap();
    let error = record::read_report(&file).unwrap_err();
    assert!(error.to_string().contains("not UTF-8"), "{error}");
    // The cause travels with it, for callers that print the chain.
    assert!(
        matches!(error.problem, record::ReadProblem::NotUtf8(_)),
        "{error:?}"
    );
    assert!(std::error::Error::source(&error).is_some(), "{error:?}");
    assert!(
        error.to_string().starts_with(&file.display().to_string()),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
