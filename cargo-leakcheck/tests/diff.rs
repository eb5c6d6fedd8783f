//! `cargo leakcheck diff`: `compare` on small synthetic reports, and snapshots of the text,
//! markdown and JSON renderings. The binary itself is run in `diff_cli.rs`.

use cargo_leakcheck::diff::{self, compare, render, Diff, Metric, Threshold};
use leakcheck::record::{Figures, Outcome, RecordConfig, RunInfo, RunReport, TestRecord};
use leakcheck::{Config, Resource, TestId, Verdict};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Synthetic reports

/// A passing test `binary::name` of package `demo` with these allocation figures.
fn passed(name: &str, allocs: f64, bytes: f64) -> TestRecord {
    let (binary, name) = name.split_once("::").expect("binary::name");
    let test = TestId::of_fn("demo", binary, name, &format!("tests/{binary}.rs"), 1);
    let ten_ms = Duration::from_millis(10);
    let mut record = TestRecord::new(
        "run".into(),
        test,
        &Config::default(),
        Outcome::Passed,
        None,
        None,
        ten_ms,
    );
    record.finished_at = "2026-01-01T00:00:00Z".into();
    record.config = RecordConfig::default();
    let mut figures = Figures::default();
    figures.allocs_per_iter = allocs;
    figures.bytes_per_iter = bytes;
    figures.measured = 8;
    figures.warmup = 2;
    record.figures = Some(figures);
    record
}

/// The same test, leaking `resources`.
fn leaking(mut record: TestRecord, resources: &[Resource]) -> TestRecord {
    record.outcome = Outcome::Leaked;
    record.message = Some(format!("leakcheck: `{}` leaked", record.test.name));
    let figures = record.figures.as_mut().unwrap();
    for &r in resources {
        set_verdict(figures, r, Verdict::Leak);
    }
    figures.verdict = Verdict::Leak;
    record
}

/// The same test, with `resource` judged suspicious (the test still passes).
fn suspicious(mut record: TestRecord, resource: Resource) -> TestRecord {
    let figures = record.figures.as_mut().unwrap();
    set_verdict(figures, resource, Verdict::Suspicious);
    figures.verdict = figures.verdict.max(Verdict::Suspicious);
    record
}

/// Sets one resource's verdict in `figures`; setting the tasks' makes the test an async one.
fn set_verdict(figures: &mut Figures, resource: Resource, verdict: Verdict) {
    match resource {
        Resource::Heap => figures.heap = verdict,
        Resource::Threads => figures.threads = verdict,
        Resource::Fds => figures.fds = verdict,
        Resource::Tasks => figures.tasks = Some(verdict),
        other => panic!("a leak test has no {other} verdict"),
    }
}

/// The same test made async: its tasks were counted and clean.
fn async_test(mut record: TestRecord) -> TestRecord {
    record.figures.as_mut().unwrap().tasks = Some(Verdict::Clean);
    record
}

/// The same test, failed before its body ran to the end: no figures.
fn failed(mut record: TestRecord, message: &str) -> TestRecord {
    record.outcome = Outcome::Failed;
    record.message = Some(message.into());
    record.figures = None;
    record
}

fn over_budget(mut record: TestRecord) -> TestRecord {
    record.outcome = Outcome::OverBudget;
    record.message = Some("over budget: 12 allocations per iteration, budget 10".into());
    record
}

fn report(id: &str, commit: &str, tests: Vec<TestRecord>) -> RunReport {
    let mut run = RunInfo::default();
    run.id = id.into();
    run.started_at = "2026-01-01T00:00:00Z".into();
    run.started_unix_ms = 1_767_225_600_000;
    run.commit = Some(commit.into());
    run.branch = Some("main".into());
    run.leakcheck_version = "0.1.0".into();
    run.profile = Some("debug".into());
    RunReport::new(run, tests)
}

/// A base of three ordinary tests.
fn base() -> RunReport {
    report(
        "run-base",
        "1111111111111111111111111111111111111111",
        vec![
            passed("cache::insert", 10.0, 1000.0),
            passed("cache::evict", 4.0, 256.0),
            leaking(passed("pool::grows", 2.0, 64.0), &[Resource::Heap]),
        ],
    )
}

/// BASE with its tests replaced as `edit` says.
fn head_with(edit: impl FnOnce(&mut Vec<TestRecord>)) -> RunReport {
    let mut head = base();
    head.run.id = "run-head".into();
    head.run.commit = Some("2222222222222222222222222222222222222222".into());
    edit(&mut head.tests);
    head
}

fn find<'a>(tests: &'a mut [TestRecord], name: &str) -> &'a mut TestRecord {
    tests
        .iter_mut()
        .find(|t| t.test.name == name)
        .unwrap_or_else(|| panic!("no test {name}"))
}

fn figures<'a>(tests: &'a mut [TestRecord], name: &str) -> &'a mut Figures {
    find(tests, name).figures.as_mut().unwrap()
}

fn names(tests: &[diff::TestSummary]) -> Vec<&str> {
    tests.iter().map(|t| t.test.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// compare

#[test]
fn identical_reports_have_no_regression_and_every_test_unchanged() {
    let diff = compare(&base(), &base(), &Threshold::default());
    assert!(!diff.regression, "{diff:#?}");
    assert_eq!(diff.regression_count(), 0);
    assert_eq!(
        names(&diff.unchanged),
        [
            "demo::cache::evict",
            "demo::cache::insert",
            "demo::pool::grows"
        ]
    );
    assert!(diff.new_leaks.is_empty() && diff.fixed_leaks.is_empty());
    assert!(diff.new_failures.is_empty() && diff.changes.is_empty());
    assert!(diff.added.is_empty() && diff.removed.is_empty());
    assert!(diff.new_suspicious.is_empty());
}

#[test]
fn twenty_percent_more_allocations_is_a_regression_naming_the_test() {
    let head = head_with(|tests| figures(tests, "insert").allocs_per_iter = 12.0);
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(diff.regression);
    assert_eq!(diff.changes.len(), 1, "{:#?}", diff.changes);
    let change = &diff.changes[0];
    assert_eq!(change.test, "demo::cache::insert");
    assert_eq!(change.metric, Metric::AllocsPerIter);
    assert_eq!((change.base, change.head), (10.0, 12.0));
    assert!((change.change_pct.unwrap() - 20.0).abs() < 1e-9);
    assert!(change.regression);
    assert!(!names(&diff.unchanged).contains(&"demo::cache::insert"));
    assert!(render::text(&diff).contains("demo::cache::insert"));
}

#[test]
fn more_bytes_per_iteration_is_a_regression_too() {
    let head = head_with(|tests| figures(tests, "insert").bytes_per_iter = 1200.0);
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(diff.regression);
    assert_eq!(diff.changes[0].metric, Metric::BytesPerIter);
}

#[test]
fn a_higher_threshold_lets_the_same_increase_pass() {
    let head = head_with(|tests| figures(tests, "insert").allocs_per_iter = 12.0);
    let diff = compare(&base(), &head, &Threshold::pct(25.0));
    assert!(!diff.regression, "{diff:#?}");
    assert!(diff.changes.is_empty());
    assert_eq!(diff.threshold_pct, 25.0);
}

#[test]
fn a_decrease_is_reported_but_is_not_a_regression() {
    let head = head_with(|tests| figures(tests, "insert").bytes_per_iter = 500.0);
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(!diff.regression);
    assert_eq!(diff.changes.len(), 1);
    assert!(!diff.changes[0].regression);
    assert_eq!(diff.changes[0].change_pct, Some(-50.0));
}

#[test]
fn noise_under_the_threshold_or_the_floors_is_not_flagged() {
    let mut base = base();
    base.tests.push(passed("tiny::zero", 0.0, 8.0));
    let mut head = base.clone();
    figures(&mut head.tests, "zero").allocs_per_iter = 0.1; // +∞ %, but under 0.5
    figures(&mut head.tests, "zero").bytes_per_iter = 8.4; // +5 %, but under 16 B
    figures(&mut head.tests, "insert").allocs_per_iter = 10.4; // +4 %: under 5 %
    figures(&mut head.tests, "evict").allocs_per_iter = 4.4; // +10 %, but under 0.5
    figures(&mut head.tests, "evict").bytes_per_iter = 270.0; // +5.5 %, but under 16 B
    let diff = compare(&base, &head, &Threshold::default());
    assert!(!diff.regression, "{diff:#?}");
    assert!(diff.changes.is_empty(), "{:#?}", diff.changes);
    assert_eq!(diff.unchanged.len(), 4);
}

#[test]
fn a_change_exactly_at_the_threshold_is_not_beyond_it() {
    let head = head_with(|tests| figures(tests, "insert").bytes_per_iter = 1050.0);
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(diff.changes.is_empty(), "{:#?}", diff.changes);
}

#[test]
fn allocations_appearing_from_zero_are_a_regression_without_a_percentage() {
    let mut base = base();
    base.tests.push(passed("tiny::zero", 0.0, 0.0));
    let mut head = base.clone();
    figures(&mut head.tests, "zero").allocs_per_iter = 1.0;
    figures(&mut head.tests, "zero").bytes_per_iter = 64.0;
    let diff = compare(&base, &head, &Threshold::default());
    assert!(diff.regression);
    assert_eq!(diff.changes.len(), 2);
    assert!(diff
        .changes
        .iter()
        .all(|c| c.change_pct.is_none() && c.regression));
}

#[test]
fn a_new_leak_names_the_resources_that_started_leaking() {
    let head = head_with(|tests| {
        let evict = find(tests, "evict").clone();
        *find(tests, "evict") = leaking(evict, &[Resource::Heap, Resource::Fds]);
    });
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(diff.regression);
    assert_eq!(diff.new_leaks.len(), 1, "{:#?}", diff.new_leaks);
    let leak = &diff.new_leaks[0];
    assert_eq!(leak.test, "demo::cache::evict");
    assert_eq!(leak.resources, [Resource::Heap, Resource::Fds]);
    assert_eq!(leak.base_outcome, Some(Outcome::Passed));
    assert_eq!(leak.head_outcome, Outcome::Leaked);
    let text = render::text(&diff);
    assert!(text.contains("new leak: heap, fds"), "{text}");
}

#[test]
fn a_test_that_still_leaks_the_same_resource_is_not_new_but_another_resource_is() {
    let head = head_with(|tests| {
        let grows = find(tests, "grows").clone();
        *find(tests, "grows") = leaking(grows, &[Resource::Threads]);
    });
    let diff = compare(&base(), &head, &Threshold::default());
    assert_eq!(diff.new_leaks.len(), 1);
    assert_eq!(diff.new_leaks[0].resources, [Resource::Threads]);

    let diff = compare(&base(), &base(), &Threshold::default());
    assert!(diff.new_leaks.is_empty());
}

#[test]
fn a_task_leak_next_to_a_heap_leak_is_a_new_leak() {
    // BASE: the async test leaks heap; HEAD: heap and tasks.
    let mut base = base();
    let grows = find(&mut base.tests, "grows");
    *grows = async_test(grows.clone());
    let mut head = base.clone();
    let grows = find(&mut head.tests, "grows");
    *grows = leaking(grows.clone(), &[Resource::Tasks]);

    let diff = compare(&base, &head, &Threshold::default());
    assert!(diff.regression, "{diff:#?}");
    assert_eq!(diff.new_leaks.len(), 1, "{:#?}", diff.new_leaks);
    assert_eq!(diff.new_leaks[0].test, "demo::pool::grows");
    assert_eq!(diff.new_leaks[0].resources, [Resource::Tasks]);
    assert!(diff.fixed_leaks.is_empty(), "{:#?}", diff.fixed_leaks);
    let text = render::text(&diff);
    assert!(text.contains("new leak: tasks"), "{text}");
}

#[test]
fn a_fixed_leak_is_an_improvement() {
    let head = head_with(|tests| *find(tests, "grows") = passed("pool::grows", 2.0, 64.0));
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(!diff.regression, "{diff:#?}");
    assert_eq!(diff.fixed_leaks.len(), 1);
    assert_eq!(diff.fixed_leaks[0].test, "demo::pool::grows");
    assert_eq!(diff.fixed_leaks[0].resources, [Resource::Heap]);
    assert_eq!(diff.fixed_leaks[0].head_outcome, Outcome::Passed);
}

#[test]
fn a_leak_is_not_fixed_by_a_body_that_no_longer_runs_to_the_end() {
    let head = head_with(|tests| {
        let grows = find(tests, "grows").clone();
        *find(tests, "grows") = failed(grows, "panicked at src/pool.rs:3");
    });
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(diff.fixed_leaks.is_empty(), "{:#?}", diff.fixed_leaks);
    assert_eq!(diff.new_failures.len(), 1);
    assert_eq!(diff.new_failures[0].base_outcome, Some(Outcome::Leaked));
    assert!(diff.regression);
}

#[test]
fn new_failures_and_over_budget_are_regressions_and_keep_the_message() {
    let head = head_with(|tests| {
        let insert = find(tests, "insert").clone();
        *find(tests, "insert") = over_budget(insert);
        let evict = find(tests, "evict").clone();
        *find(tests, "evict") = failed(evict, "\npanicked at tests/cache.rs:9:\nboom");
    });
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(diff.regression);
    let failures: Vec<_> = diff
        .new_failures
        .iter()
        .map(|f| (f.test.as_str(), f.head_outcome, f.message.as_deref()))
        .collect();
    assert_eq!(
        failures,
        [
            (
                "demo::cache::evict",
                Outcome::Failed,
                Some("panicked at tests/cache.rs:9:")
            ),
            (
                "demo::cache::insert",
                Outcome::OverBudget,
                Some("over budget: 12 allocations per iteration, budget 10")
            ),
        ]
    );
}

#[test]
fn a_test_that_keeps_failing_is_not_a_new_failure_and_a_fixed_one_is_an_improvement() {
    let mut base = base();
    let insert = find(&mut base.tests, "insert").clone();
    *find(&mut base.tests, "insert") = failed(insert, "boom");
    let diff = compare(&base, &base, &Threshold::default());
    assert!(!diff.regression);
    assert!(diff.new_failures.is_empty());

    let diff = compare(&base, &head_with(|_| {}), &Threshold::default());
    assert!(!diff.regression, "{diff:#?}");
    assert_eq!(diff.fixed_failures.len(), 1);
    assert_eq!(diff.fixed_failures[0].test, "demo::cache::insert");
}

#[test]
fn added_and_removed_tests_are_listed_but_are_not_regressions() {
    let head = head_with(|tests| {
        tests.retain(|t| t.test.name != "evict");
        tests.push(passed("cache::clear", 3.0, 99.0));
    });
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(!diff.regression, "{diff:#?}");
    assert_eq!(names(&diff.added), ["demo::cache::clear"]);
    assert_eq!(names(&diff.removed), ["demo::cache::evict"]);
    assert_eq!(diff.removed[0].allocs_per_iter, Some(4.0));
    assert_eq!(
        names(&diff.unchanged),
        ["demo::cache::insert", "demo::pool::grows"]
    );
}

#[test]
fn an_added_test_that_leaks_is_a_new_leak() {
    let head = head_with(|tests| {
        tests.push(leaking(
            passed("cache::clear", 3.0, 99.0),
            &[Resource::Threads],
        ));
    });
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(diff.regression);
    assert_eq!(names(&diff.added), ["demo::cache::clear"]);
    assert_eq!(diff.new_leaks[0].test, "demo::cache::clear");
    assert_eq!(diff.new_leaks[0].base_outcome, None);
}

#[test]
fn new_suspicious_verdicts_are_informational() {
    let head = head_with(|tests| {
        let evict = find(tests, "evict").clone();
        *find(tests, "evict") = suspicious(evict, Resource::Threads);
    });
    let diff = compare(&base(), &head, &Threshold::default());
    assert!(!diff.regression, "{diff:#?}");
    assert_eq!(diff.new_suspicious.len(), 1);
    assert_eq!(diff.new_suspicious[0].test, "demo::cache::evict");
    assert_eq!(diff.new_suspicious[0].resources, [Resource::Threads]);
    // Still suspicious next time: not new any more.
    assert!(compare(&head, &head, &Threshold::default())
        .new_suspicious
        .is_empty());
}

#[test]
fn unreadable_records_and_a_different_profile_are_noted() {
    let mut head = head_with(|_| {});
    head.unreadable = vec!["records/x.json: is not valid JSON".into()];
    head.run.profile = Some("release".into());
    let diff = compare(&base(), &head, &Threshold::default());
    assert_eq!(diff.notes.len(), 2, "{:#?}", diff.notes);
    assert!(diff.notes[0].contains("HEAD has 1 record(s)"));
    assert!(diff.notes[1].contains("`debug`") && diff.notes[1].contains("`release`"));
}

// ---------------------------------------------------------------------------------------------
// Renderings

/// One diff with every kind of entry, from fixed reports (no paths, ids or dates that vary).
fn every_kind_of_change() -> Diff {
    let base = report(
        "run-base",
        "1111111111111111111111111111111111111111",
        vec![
            passed("cache::insert", 10.0, 1000.0),
            passed("cache::evict", 4.0, 256.0),
            passed("cache::lookup", 0.0, 0.0),
            passed("cache::resize", 20.0, 4096.0),
            over_budget(passed("codec::encode", 12.0, 480.0)),
            passed("codec::decode", 6.0, 300.0),
            passed("net::connect", 5.0, 700.0),
            leaking(passed("pool::grows", 2.0, 64.0), &[Resource::Heap]),
            leaking(passed("pool::forgets", 1.0, 100.0), &[Resource::Heap]),
            passed("pool::retired", 1.0, 8.0),
            passed("stable::a", 1.0, 10.0),
        ],
    );
    let mut head = base.clone();
    head.run.id = "run-head".into();
    head.run.commit = Some("2222222222222222222222222222222222222222".into());
    head.run.profile = Some("release".into());
    let tests = &mut head.tests;
    figures(tests, "insert").allocs_per_iter = 12.0;
    figures(tests, "lookup").bytes_per_iter = 48.0;
    figures(tests, "resize").bytes_per_iter = 2048.0;
    let evict = find(tests, "evict").clone();
    *find(tests, "evict") = leaking(evict, &[Resource::Heap, Resource::Threads]);
    *find(tests, "encode") = passed("codec::encode", 9.0, 480.0);
    let decode = find(tests, "decode").clone();
    *find(tests, "decode") = failed(
        decode,
        "panicked at tests/codec.rs:40:5: assertion `left == right` failed | <bad>",
    );
    let connect = find(tests, "connect").clone();
    *find(tests, "connect") = suspicious(connect, Resource::Fds);
    *find(tests, "grows") = passed("pool::grows", 2.0, 64.0);
    tests.retain(|t| t.test.name != "retired");
    tests.push(passed("pool::fresh", 2.0, 32.0));
    tests.push(leaking(
        passed("pool::spawns", 1.0, 16.0),
        &[Resource::Threads],
    ));

    let mut diff = compare(&base, &head, &Threshold::default());
    diff.base.path = "base/report.json".into();
    diff.head.path = "target/leakcheck/report.json".into();
    diff
}

#[test]
fn the_every_kind_diff_has_every_kind_of_entry() {
    // Guards the snapshots below: each section they show must be there.
    let diff = every_kind_of_change();
    assert!(diff.regression);
    assert_eq!(diff.new_leaks.len(), 2);
    assert_eq!(diff.fixed_leaks.len(), 1);
    assert_eq!(diff.new_failures.len(), 1);
    assert_eq!(diff.fixed_failures.len(), 1);
    assert_eq!(diff.changes.iter().filter(|c| c.regression).count(), 2);
    assert_eq!(diff.changes.iter().filter(|c| !c.regression).count(), 2);
    assert_eq!(diff.new_suspicious.len(), 1);
    assert_eq!((diff.added.len(), diff.removed.len()), (2, 1));
    assert_eq!(
        names(&diff.unchanged),
        ["demo::pool::forgets", "demo::stable::a"]
    );
    assert_eq!(diff.notes.len(), 1);
}

#[test]
fn text_rendering() {
    insta::assert_snapshot!(render::text(&every_kind_of_change()));
}

#[test]
fn markdown_rendering() {
    insta::assert_snapshot!(render::markdown(&every_kind_of_change()));
}

#[test]
fn json_rendering() {
    let diff = every_kind_of_change();
    let json = render::json(&diff);
    let back: Diff = serde_json::from_str(&json).unwrap();
    assert_eq!(back, diff, "the JSON reads back as the same diff");
    insta::assert_snapshot!(json);
}

#[test]
fn renderings_without_a_regression() {
    let mut diff = compare(&base(), &base(), &Threshold::default());
    diff.base.path = "a.json".into();
    diff.head.path = "b.json".into();
    let text = render::text(&diff);
    assert!(
        text.starts_with("leakcheck diff: no regression\n"),
        "{text}"
    );
    assert!(
        text.contains("Unchanged: 3 tests (2 passed, 1 leaked)"),
        "{text}"
    );
    assert!(!text.contains("Regressions"), "{text}");
    let markdown = render::markdown(&diff);
    assert!(
        markdown.starts_with("## leakcheck diff: ✅ no regression\n"),
        "{markdown}"
    );
    assert!(!markdown.contains("### Regressions"), "{markdown}");
    assert!(
        markdown.contains("<details><summary>Unchanged tests (3)</summary>"),
        "{markdown}"
    );
}
