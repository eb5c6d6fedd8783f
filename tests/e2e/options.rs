//! Options that change what fails a test, through real `cargo test` runs: suppressions (each
//! with a twin that must still fail), per-resource switches and `suspicious = "fail"`, set on
//! the test, by environment variable and in a workspace's `leakcheck.toml`.

use crate::fixture::{
    cargo_test, cargo_test_with, in_fixtures, record_of, records_dir, target_dir, Outcome, Run,
};
use std::sync::Arc;

fn run() -> Arc<Run> {
    cargo_test("options", &["--test-threads=4"])
}

#[test]
fn a_suppressed_thread_leak_passes_and_is_listed() {
    run().assert_passed_with(
        "known_thread_suppressed",
        &[
            "threads  suppressed",
            "suppressed (known leaks, listed but not failing the test):",
            "threads  `known-bg` × ",
            "(matches \"known-bg*\")",
            // The heap the threads hold goes with them.
            "(the spawn of suppressed threads)",
        ],
    );
}

#[test]
fn a_thread_suppression_does_not_hide_other_threads() {
    run().assert_failed_with(
        "unknown_thread_not_suppressed",
        &["leaked heap, threads", "rogue-bg"],
    );
    // The known thread is listed as suppressed; the rogue one beside it still fails the test.
    run().assert_failed_with(
        "unknown_thread_beside_a_known_one",
        &["leaked heap, threads", "threads  `known-bg` × ", "rogue-bg"],
    );
}

/// Linux keeps 15 bytes of a thread's name; a suppression is written with the name the code gave.
#[test]
fn a_thread_is_suppressed_by_the_name_it_was_given_and_shown_cut() {
    run().assert_passed_with(
        "long_thread_name_suppressed",
        &[
            "threads  suppressed",
            "threads  `background-refr…` × ",
            "(matches \"background-refresher\")",
        ],
    );
    run().assert_failed_with(
        "other_long_thread_name_not_suppressed",
        &["leaked heap, threads", "background-relo… "],
    );
}

#[test]
fn a_suppressed_fd_leak_passes_and_is_listed() {
    run().assert_passed_with(
        "known_file_suppressed",
        &[
            "fds      suppressed",
            "controls/Cargo.toml × ",
            "(matches \"*/controls/Cargo.toml\")",
        ],
    );
    run().assert_failed_with(
        "other_file_not_suppressed",
        &["leaked file descriptors", "controls/src/lib.rs"],
    );
}

#[test]
fn a_heap_leak_is_suppressed_by_a_function_in_its_stack() {
    run().assert_passed_with(
        "known_heap_site_suppressed",
        &[
            "heap     suppressed",
            "at leakcheck_fixture_controls::intern_forever",
            "(matches \"*::intern_forever\")",
        ],
    );
    run().assert_failed_with(
        "other_heap_site_not_suppressed",
        &["leaked heap", "leakcheck_fixture_controls::hoard"],
    );
    run().assert_failed_with(
        "other_heap_site_beside_a_suppressed_one",
        &[
            "leaked heap",
            "leakcheck_fixture_controls::hoard",
            "intern_forever",
        ],
    );
}

#[test]
fn a_switched_off_resource_is_not_judged_and_the_others_still_are() {
    run().assert_passed_with(
        "heap_leak_with_heap_off",
        &["heap off (", "threads clean", "fds clean"],
    );
    run().assert_passed_with("fd_leak_with_fds_off", &["fds off (", "heap clean"]);
    run().assert_failed_with("heap_leak_with_fds_off", &["leaked heap", "fds      off"]);
}

#[test]
fn suspicious_passes_by_default_and_fails_when_strict() {
    run().assert_passed_with("late_file_is_suspicious", &["fds      suspicious"]);
    run().assert_failed_with(
        "late_file_fails_when_strict",
        &["is suspicious in file descriptors, and `suspicious = \"fail\"` makes that a failure"],
    );
    // The same through the environment, for every test of a run.
    let strict = cargo_test_with(
        "options",
        &["--exact", "late_file_is_suspicious"],
        &[("LEAKCHECK_SUSPICIOUS", "fail")],
    );
    strict.assert_failed_with("late_file_is_suspicious", &["`suspicious = \"fail\"`"]);
}

#[test]
fn environment_switches_and_suppressions_add_to_the_tests_own() {
    let run = cargo_test_with(
        "options",
        &[
            "--exact",
            "unknown_thread_not_suppressed",
            "other_file_not_suppressed",
        ],
        &[
            ("LEAKCHECK_SUPPRESS_THREADS", "rogue-*"),
            ("LEAKCHECK_FDS", "0"),
        ],
    );
    run.assert_passed_with("unknown_thread_not_suppressed", &["(matches \"rogue-*\")"]);
    run.assert_passed_with("other_file_not_suppressed", &["fds off ("]);
}

/// A workspace of its own with a `leakcheck.toml` at its root, the way a user sets workspace-wide
/// suppressions: the file is found from the tested package, and applies to every test.
#[test]
fn a_workspace_leakcheck_toml_applies_to_every_test_and_a_bad_one_fails_them_by_name() {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("config_workspace");
    let package = root.join("member");
    std::fs::create_dir_all(package.join("tests")).unwrap();
    let leakcheck = crate::fixture::fixtures_dir().join("../../leakcheck");
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"member\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    std::fs::write(
        package.join("Cargo.toml"),
        format!(
            "[package]\nname = \"config-member\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dev-dependencies]\nleakcheck = {{ path = {:?} }}\n",
            leakcheck.canonicalize().unwrap()
        ),
    )
    .unwrap();
    std::fs::write(
        package.join("tests/workspace.rs"),
        r#"leakcheck::global_allocator!();

#[leakcheck::leak_test]
fn library_thread() {
    std::thread::Builder::new()
        .name("lib-pool".into())
        .spawn(|| loop {
            std::thread::park();
        })
        .unwrap();
}

#[leakcheck::leak_test]
fn own_thread() {
    std::thread::Builder::new()
        .name("mine".into())
        .spawn(|| loop {
            std::thread::park();
        })
        .unwrap();
}
"#,
    )
    .unwrap();
    let cargo_test = |config: &str| {
        std::fs::write(root.join("leakcheck.toml"), config).unwrap();
        let out = in_fixtures(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&root)
            .args([
                "test",
                "--offline",
                "--test",
                "workspace",
                "--",
                "--show-output",
            ])
            .env("CARGO_TARGET_DIR", target_dir().join("fixtures"))
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let output = cargo_test("[suppress]\nthreads = [\"lib-*\"]\n");
    let run = Run::from_libtest("workspace config", &output);
    run.assert_passed_with(
        "library_thread",
        &["(matches \"lib-*\")", "threads  suppressed"],
    );
    run.assert_failed_with("own_thread", &["leaked heap, threads"]);

    let output = cargo_test("[suppress]\nthread = [\"lib-*\"]\n");
    let run = Run::from_libtest("bad workspace config", &output);
    for test in ["library_thread", "own_thread"] {
        assert_eq!(run.outcome(test), Outcome::Failed, "{output}");
        run.assert_failed_with(
            test,
            &[
                "leakcheck.toml is not a valid leakcheck configuration",
                "thread",
                "LEAKCHECK_CONFIG=none",
            ],
        );
    }
}

/// A suppressed leak stays visible to CI: in the record, `report.json` and `junit.xml`.
#[test]
fn suppressed_items_are_kept_in_the_records() {
    let dir = records_dir("options-records");
    let run = cargo_test_with(
        "options",
        &["--exact", "known_file_suppressed"],
        &[("LEAKCHECK_DIR", dir.to_str().unwrap())],
    );
    assert_eq!(
        run.outcome("known_file_suppressed"),
        Outcome::Passed,
        "{}",
        run.output
    );
    let record = &record_of(&dir, "known_file_suppressed");
    assert_eq!(record["outcome"], "passed", "{record:#}");
    assert_eq!(record["figures"]["fds"], "suppressed", "{record:#}");
    assert_eq!(record["figures"]["suppressed"], 1, "{record:#}");
    assert_eq!(record["config"]["suppress"][0], "fds:*/controls/Cargo.toml");
    let item = &record["report"]["suppressed"][0];
    assert_eq!(item["resource"], "fds");
    assert_eq!(item["pattern"], "*/controls/Cargo.toml");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<property name=\"fds\" value=\"suppressed\"/>")
            && junit.contains("<property name=\"suppressed\" value=\"1\"/>"),
        "{junit}"
    );
}
