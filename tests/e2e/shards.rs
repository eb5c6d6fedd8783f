//! A sharded run: the fixture suite run whole under nextest, and the same suite archived once and
//! run as three nextest partitions, each extracted into a target directory of its own with its own
//! records (as three CI machines would), then put together by `cargo leakcheck merge`. Both must
//! give the same tests, outcomes and verdicts.

use crate::fixture::{cargo, fixtures_dir, nextest_with, records_dir};
use leakcheck::record::{self, RunReport};
use std::collections::BTreeMap;
use std::path::Path;

const BINARIES: [&str; 3] = ["clean", "fd_leaks", "heap_leaks"];

/// Each test's outcome and verdicts, by full name.
fn verdicts(report: &RunReport) -> BTreeMap<String, String> {
    report
        .tests
        .iter()
        .map(|t| {
            let verdicts: Vec<String> = t
                .figures
                .iter()
                .flat_map(|f| f.verdicts())
                .map(|(resource, verdict)| format!("{}={verdict}", resource.name()))
                .collect();
            (
                t.test.full_name(),
                format!("{} {}", t.outcome, verdicts.join(" ")),
            )
        })
        .collect()
}

fn run(command: &mut std::process::Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let text = format!(
        "{command:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // nextest exits 100 when tests failed: the fixture's leaks do.
    assert!(
        matches!(out.status.code(), Some(0 | 100)),
        "{:?}: {text}",
        out.status
    );
    text
}

#[test]
fn three_partitions_merged_give_the_whole_run() {
    let whole_dir = records_dir("shards-whole");
    let whole_dir_text = whole_dir.to_string_lossy().into_owned();
    let whole = nextest_with(&BINARIES, &[("LEAKCHECK_DIR", &whole_dir_text)]);
    let whole = record::read_report(&whole_dir.join("report.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}", whole.output));
    assert!(whole.tests.len() > 20, "{} tests", whole.tests.len());

    let root = records_dir("shards");
    std::fs::create_dir_all(&root).unwrap();
    let archive = root.join("suite.tar.zst");
    let mut archiving = cargo();
    archiving
        .args(["nextest", "archive", "--archive-file"])
        .arg(&archive);
    for binary in BINARIES {
        archiving.args(["--test", binary]);
    }
    run(&mut archiving);

    let mut counts = Vec::new();
    for k in 1..=3 {
        let shard = root.join(format!("shard-{k}"));
        let target = shard.join("target");
        std::fs::create_dir_all(&target).unwrap();
        let mut partition = cargo();
        partition
            .env_remove("CARGO_TARGET_DIR")
            .env("LEAKCHECK_DIR", shard.join("leakcheck"))
            .args(["nextest", "run", "--no-fail-fast", "--archive-file"])
            .arg(&archive)
            .arg("--workspace-remap")
            .arg(fixtures_dir())
            .arg("--extract-to")
            .arg(&target)
            .arg("--partition")
            .arg(format!("count:{k}/3"));
        let output = run(&mut partition);
        let report = record::read_report(&shard.join("leakcheck/report.json"))
            .unwrap_or_else(|e| panic!("{e}\n{output}"));
        counts.push(report.tests.len());
    }
    assert!(
        counts.iter().all(|&n| n > 0),
        "a partition ran no test: {counts:?}"
    );

    let merged = root.join("merged/report.json");
    let code = cargo_leakcheck::run(
        ["cargo-leakcheck", "merge"]
            .map(Into::into)
            .into_iter()
            .chain([
                root.clone().into_os_string(),
                "--out".into(),
                merged.clone().into_os_string(),
            ]),
    );
    // The fixture leaks on purpose: the merged run has failing tests.
    assert_eq!(code, 1);
    let merged_report = record::read_report(&merged).unwrap();
    assert_eq!(merged_report.tests.len(), counts.iter().sum::<usize>());
    assert_eq!(verdicts(&merged_report), verdicts(&whole));
    assert!(
        merged_report.run.id.starts_with("merged:"),
        "{}",
        merged_report.run.id
    );

    // junit.xml beside it holds every test once.
    let junit = std::fs::read_to_string(merged.with_file_name("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), whole.tests.len());
    assert_eq!(
        junit.matches("<testsuite ").count(),
        BINARIES.len(),
        "{junit}"
    );

    // `diff` reads the merged report: the same verdicts as the whole run, no regression. Only
    // verdicts count here: allocations per iteration of a clean test that starts a thread pool
    // differ from one run to the next (2 or 3 allocs/iter seen), which is what the threshold is
    // for in real use, so it is set out of reach.
    let diff = cargo_leakcheck::run(
        ["cargo-leakcheck", "diff", "--threshold", "100000"]
            .map(Into::into)
            .into_iter()
            .chain([
                whole_dir.join("report.json").into_os_string(),
                merged.into_os_string(),
            ]),
    );
    assert_eq!(diff, 0);
    let _ = std::fs::remove_dir_all(Path::new(&root));
}
