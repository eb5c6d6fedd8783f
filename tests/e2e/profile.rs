//! Allocation profiles (`profile`, `LEAKCHECK_PROFILE=1`): one more iteration after the
//! verdicts, traced, whose allocations the record counts by call site. The fixture
//! `controls/tests/profiled.rs` allocates at known sites a known number of times per
//! iteration; `heap_leaks` shows that profiling changes no verdict and no measured iteration.

use super::fixture::{self, cargo_test_with, record_of, records_dir, Outcome};
use super::go_pprof;
use serde_json::Value;

/// `(allocations, dependency)` of the profile's site whose allocating function is `function`.
fn site(profile: &Value, function: &str) -> (u64, Option<String>, String) {
    let site = profile["sites"]
        .as_array()
        .and_then(|sites| {
            sites
                .iter()
                .find(|s| s["frames"][0]["function"] == function)
        })
        .unwrap_or_else(|| panic!("no site `{function}` in {profile:#}"));
    (
        site["allocations"].as_u64().unwrap(),
        site["dependency"].as_str().map(str::to_owned),
        site["frames"][1]["function"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

#[test]
fn each_known_site_is_named_with_its_exact_allocations_per_iteration() {
    let dir = records_dir("profile-known-sites");
    let run = cargo_test_with(
        "profiled",
        &[],
        &[
            ("LEAKCHECK_DIR", dir.to_str().unwrap()),
            ("LEAKCHECK_PROFILE", "1"),
        ],
    );
    for test in ["known_sites", "known_sites_profiled_by_option"] {
        assert_eq!(run.outcome(test), Outcome::Passed, "{}", run.output);
        let record = record_of(&dir, test);
        let profile = &record["report"]["profile"];
        assert_eq!(
            site(profile, "profiled::strings_from"),
            (10, None, "profiled::body".to_owned()),
            "{profile:#}"
        );
        assert_eq!(
            site(profile, "profiled::pushes"),
            (6, None, "profiled::body".to_owned()),
            "{profile:#}"
        );
        assert_eq!(
            site(profile, "leakcheck_fixture_dep::boxes"),
            (
                6,
                Some("leakcheck_fixture_dep".to_owned()),
                "profiled::body".to_owned()
            ),
            "{profile:#}"
        );
        assert_eq!(site(profile, "profiled::body").0, 1, "{profile:#}");
        // Nothing else allocated: the profile's total is the measured iterations' mean, and
        // the four sites are all of it.
        assert_eq!(profile["allocations"], 23, "{profile:#}");
        assert_eq!(record["figures"]["allocs_per_iter"], 23.0, "{record:#}");
        assert_eq!(profile["other_allocations"], 0, "{profile:#}");
        let shares: f64 = profile["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["allocation_share"].as_f64().unwrap())
            .sum();
        assert!((shares - 1.0).abs() < 1e-9, "{profile:#}");
        assert_eq!(record["figures"]["traced"], 1, "{record:#}");
        // Efficiency: `pushes` grows by 5 reallocations; at its largest (128 × 8 B) the body
        // holds the vector of strings (240 B), the strings (170 B) and the boxes with their
        // vector (80 B), and nothing at its end.
        assert_eq!(profile["reallocations"], 5, "{profile:#}");
        assert_eq!(profile["bytes"], 2506, "{profile:#}");
        assert_eq!(profile["peak_bytes"], 240 + 170 + 1024 + 80, "{profile:#}");
        assert_eq!(profile["end_bytes"], 0, "{profile:#}");
        assert_eq!(profile["suggested_max_allocs_per_iter"], 26, "{profile:#}");

        // The same counts in the pprof file next to the records, read by `go tool pprof`.
        let file = dir.join(profile["pprof"].as_str().expect("a pprof file"));
        let work = fixture::target_dir().join(format!("tmp/profile-pprof-{test}"));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let top = go_pprof::pprof(
            &work,
            &[
                "-top",
                "-sample_index=alloc_objects",
                file.to_str().unwrap(),
            ],
        );
        let flat = |function: &str| {
            go_pprof::top_rows(&top)
                .into_iter()
                .find(|row| row.2 == function)
                .map(|row| row.0)
        };
        for (function, count) in [
            ("profiled::strings_from", "10"),
            ("profiled::pushes", "6"),
            ("leakcheck_fixture_dep::boxes", "6"),
            ("profiled::body", "1"),
        ] {
            assert_eq!(flat(function).as_deref(), Some(count), "{function}:\n{top}");
        }
    }
}

#[test]
fn diff_names_the_one_function_that_allocates_more() {
    let runs: Vec<std::path::PathBuf> = [("0", "profile-diff-base"), ("3", "profile-diff-head")]
        .into_iter()
        .map(|(extra, name)| {
            let dir = records_dir(name);
            let run = cargo_test_with(
                "profiled",
                &["--exact", "known_sites"],
                &[
                    ("LEAKCHECK_DIR", dir.to_str().unwrap()),
                    ("LEAKCHECK_PROFILE", "1"),
                    ("PROFILED_EXTRA", extra),
                ],
            );
            assert_eq!(
                run.outcome("known_sites"),
                Outcome::Passed,
                "{}",
                run.output
            );
            dir.join("report.json")
        })
        .collect();
    let read = |path: &std::path::Path| leakcheck::record::read_report(path).unwrap();
    let diff = cargo_leakcheck::diff::compare(
        &read(&runs[0]),
        &read(&runs[1]),
        &cargo_leakcheck::diff::Threshold::default(),
    );
    assert!(diff.regression, "{diff:#?}");
    let allocs = diff
        .changes
        .iter()
        .find(|c| c.metric == cargo_leakcheck::diff::Metric::AllocsPerIter)
        .unwrap_or_else(|| panic!("no allocs/iter change: {diff:#?}"));
    assert_eq!((allocs.base, allocs.head), (23.0, 26.0), "{allocs:#?}");
    // The three new strings are in `strings_from`, and the vector that holds them grew in the
    // body but kept its one allocation: one site changed, and it is named.
    let sites: Vec<(&str, f64)> = allocs
        .sites
        .iter()
        .map(|s| (s.location.as_str(), s.head - s.base))
        .collect();
    assert_eq!(sites.len(), 1, "{sites:?}");
    assert!(
        sites[0].0.starts_with("profiled::strings_from ("),
        "{sites:?}"
    );
    assert_eq!(sites[0].1, 3.0, "{sites:?}");
    let text = cargo_leakcheck::diff::render::text(&diff);
    assert!(
        text.contains("+3 allocs/iter at profiled::strings_from ("),
        "{text}"
    );
    let markdown = cargo_leakcheck::diff::render::markdown(&diff);
    assert!(
        markdown.contains("<br>+3 allocs/iter at profiled::strings_from ("),
        "{markdown}"
    );
}

#[test]
fn without_the_switch_only_the_option_profiles() {
    let dir = records_dir("profile-by-option");
    let run = cargo_test_with(
        "profiled",
        &[],
        &[
            ("LEAKCHECK_DIR", dir.to_str().unwrap()),
            ("LEAKCHECK_PROFILE", "0"),
        ],
    );
    assert_eq!(
        run.outcome("known_sites"),
        Outcome::Passed,
        "{}",
        run.output
    );
    let plain = record_of(&dir, "known_sites");
    assert!(plain["report"].get("profile").is_none(), "{plain:#}");
    assert_eq!(plain["figures"]["traced"], 0, "{plain:#}");
    let by_option = record_of(&dir, "known_sites_profiled_by_option");
    assert_eq!(
        by_option["report"]["profile"]["allocations"], 23,
        "{by_option:#}"
    );
}

#[test]
fn profiling_changes_no_verdict_and_no_measured_iteration() {
    let (plain_dir, profiled_dir) = (
        records_dir("profile-heap-leaks-plain"),
        records_dir("profile-heap-leaks-profiled"),
    );
    let plain = cargo_test_with(
        "heap_leaks",
        &[],
        &[("LEAKCHECK_DIR", plain_dir.to_str().unwrap())],
    );
    let profiled = cargo_test_with(
        "heap_leaks",
        &[],
        &[
            ("LEAKCHECK_DIR", profiled_dir.to_str().unwrap()),
            ("LEAKCHECK_PROFILE", "1"),
        ],
    );
    assert!(!plain.outcomes.is_empty(), "{}", plain.output);
    let mut leaks = 0;
    for (test, outcome) in &plain.outcomes {
        if *outcome == Outcome::Ignored {
            continue;
        }
        assert_eq!(
            profiled.outcome(test),
            *outcome,
            "{test}: {}",
            profiled.output
        );
        let (a, b) = (record_of(&plain_dir, test), record_of(&profiled_dir, test));
        for figure in ["verdict", "heap", "warmup", "measured"] {
            assert_eq!(
                a["figures"][figure], b["figures"][figure],
                "{test}: {figure}"
            );
        }
        assert!(a["report"].get("profile").is_none(), "{test}");
        assert!(
            b["report"]["profile"]["allocations"].as_u64().is_some(),
            "{test}: {b:#}"
        );
        leaks += usize::from(a["figures"]["verdict"] == "leak");
    }
    assert!(leaks > 0, "the binary has leaking tests to compare");
}
