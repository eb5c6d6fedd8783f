//! Records on a disk that fails: the output directory (`LEAKCHECK_DIR`) on a read-only file
//! system and on a full one. The leak test must still fail with its leak report and the clean one
//! still pass; each says its record was not saved, naming the directory and what to do. A writable
//! directory is the control: the same tests, no such message, the records there.
//!
//! The file systems are tmpfs mounts in a user and mount namespace of their own
//! (`unshare -rm`), so no root and no cleanup are needed: they vanish with the namespace.

use crate::fixture::{in_fixtures, Outcome, Run};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const LEAKY: (&str, &str) = ("heap_leaks", "mem_forget_a_vec");
const CLEAN: (&str, &str) = ("clean", "println_in_the_body");

/// The mount point inside the namespace (created by the test, empty outside it).
fn mount_point() -> PathBuf {
    let dir = crate::fixture::target_dir()
        .join("leakcheck-e2e")
        .join("storage-mount");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The fixture's test binaries, built once: binary name → executable.
fn executables() -> &'static std::collections::HashMap<String, PathBuf> {
    static EXES: OnceLock<std::collections::HashMap<String, PathBuf>> = OnceLock::new();
    EXES.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = in_fixtures(cargo)
            .args(["test", "--no-run", "--message-format=json"])
            .args(["--test", LEAKY.0, "--test", CLEAN.0])
            .output()
            .expect("cargo test --no-run");
        assert!(
            out.status.success(),
            "building the fixture failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|msg| {
                let exe = msg.get("executable")?.as_str()?;
                let name = msg.get("target")?.get("name")?.as_str()?;
                Some((name.to_owned(), PathBuf::from(exe)))
            })
            .collect()
    })
}

/// How the output directory is mounted.
#[derive(Clone, Copy, Debug)]
enum Disk {
    Writable,
    ReadOnly,
    /// Writable for a first run of the clean test, then remounted read-only.
    ReadOnlyAfterARun,
    Full,
}

/// Runs the leaky and the clean control with `LEAKCHECK_DIR` on a tmpfs mounted as `disk`, in a
/// namespace of their own; the listing of the directory afterwards is in the output, after
/// `=== listing ===`.
fn run_on(disk: Disk) -> Run {
    run_with(disk, &[])
}

/// [`run_on`] with more environment variables for the tests.
fn run_with(disk: Disk, vars: &[(&str, &str)]) -> Run {
    let dir = mount_point();
    let prepare = match disk {
        Disk::Writable => "mount -t tmpfs -o size=1m tmpfs \"$DIR\"",
        Disk::ReadOnly => "mount -t tmpfs -o size=1m,ro tmpfs \"$DIR\"",
        Disk::ReadOnlyAfterARun => {
            "mount -t tmpfs -o size=1m tmpfs \"$DIR\"; \
             \"$CLEAN_EXE\" --exact println_in_the_body >/dev/null; \
             mount -o remount,ro \"$DIR\""
        }
        // Filled to the last byte: the mount succeeds, the first write of a record fails.
        Disk::Full => {
            "mount -t tmpfs -o size=64k tmpfs \"$DIR\"; \
             dd if=/dev/zero of=\"$DIR/filler\" bs=4k 2>/dev/null || true"
        }
    };
    let script = format!(
        "set -e; {prepare}; set +e\n\
         \"$LEAKY_EXE\" --exact {leaky} --show-output --test-threads=1\n\
         \"$CLEAN_EXE\" --exact {clean} --show-output --test-threads=1\n\
         echo '=== listing ==='; ls -laR \"$DIR\"\n\
         echo '=== report ==='; cat \"$DIR/report.json\" 2>/dev/null || true",
        leaky = LEAKY.1,
        clean = CLEAN.1,
    );
    let mut command = in_fixtures("unshare");
    command
        .args(["-rm", "sh", "-c", &script])
        .env("DIR", &dir)
        .env("LEAKCHECK_DIR", &dir)
        .env("LEAKY_EXE", &executables()[LEAKY.0])
        .env("CLEAN_EXE", &executables()[CLEAN.0])
        .envs(vars.iter().copied());
    let shown = format!("{disk:?}: {command:?}");
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run `unshare` ({e}): {}", unshare_missing()));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        output.contains("=== listing ==="),
        "{shown} did not run: {}\n{output}",
        unshare_missing()
    );
    Run::from_libtest(&shown, &output)
}

/// Why the tests cannot run without `unshare -rm`, said loudly rather than skipped.
fn unshare_missing() -> String {
    let probe = Command::new("unshare").args(["-rm", "true"]).output();
    format!(
        "these tests need `unshare -rm` (util-linux, with unprivileged user namespaces enabled: \
         sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0) to mount a \
         read-only and a full tmpfs; `unshare -rm true` gave {probe:?}"
    )
}

/// The directory listing printed after the tests.
fn listing(run: &Run) -> &str {
    let after = run
        .output
        .split_once("=== listing ===")
        .map_or("", |(_, listing)| listing);
    after.split_once("=== report ===").map_or(after, |(l, _)| l)
}

/// `report.json` as it was after the tests (empty when there was none).
fn report(run: &Run) -> &str {
    run.output
        .split_once("=== report ===")
        .map_or("", |(_, report)| report)
}

/// Asserts the verdicts stand: the leak fails with its report, the clean test passes.
fn assert_verdicts(run: &Run, extra: &[&str]) {
    let leak_report = format!("leakcheck: `{}` leaked heap", LEAKY.1);
    let clean_summary = format!("leakcheck: `{}` clean", CLEAN.1);
    let mut leaky = vec![leak_report.as_str(), "heap     LEAK"];
    leaky.extend(extra);
    run.assert_failed_with(LEAKY.1, &leaky);
    let mut clean = vec![clean_summary.as_str()];
    clean.extend(extra);
    run.assert_passed_with(CLEAN.1, &clean);
}

#[test]
fn a_writable_directory_keeps_the_records_and_says_nothing() {
    let run = run_on(Disk::Writable);
    assert_verdicts(&run, &[]);
    for test in [LEAKY.1, CLEAN.1] {
        assert!(
            !run.section(test).contains("was not saved"),
            "{test}:\n{}",
            run.section(test)
        );
    }
    let listing = listing(&run);
    for file in ["report.json", "junit.xml", "run.json"] {
        assert!(listing.contains(file), "{file} missing:\n{listing}");
    }
    assert!(!listing.contains(".tmp"), "{listing}");
    let report: serde_json::Value = serde_json::from_str(report(&run)).expect("report.json");
    // In the order the tests finished.
    let outcomes: Vec<(&str, &str)> = report["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|t| {
            let name = t["test"]["name"].as_str().unwrap_or_default();
            (name, t["outcome"].as_str().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        outcomes,
        [(LEAKY.1, "leaked"), (CLEAN.1, "passed")],
        "{report}"
    );
}

#[test]
fn records_off_writes_nothing_and_the_verdicts_stand() {
    let run = run_with(Disk::Writable, &[("LEAKCHECK_RECORDS", "off")]);
    assert_verdicts(&run, &[]);
    let listing = listing(&run);
    for file in ["report.json", "junit.xml", "run.json", "runs"] {
        assert!(!listing.contains(file), "{file} written:\n{listing}");
    }
}

#[test]
fn a_read_only_directory_fails_the_save_and_the_verdicts_stand() {
    let run = run_on(Disk::ReadOnly);
    let dir = mount_point().display().to_string();
    let not_saved = |test: &str| format!("the record of `{test}` was not saved");
    for (test, outcome) in [(LEAKY.1, Outcome::Failed), (CLEAN.1, Outcome::Passed)] {
        assert_eq!(run.outcome(test), outcome, "{}", run.output);
        let section = run.section(test);
        for needle in [
            not_saved(test).as_str(),
            &dir,
            "Read-only file system",
            "the file system is read-only: set LEAKCHECK_DIR to a writable directory",
            "its verdict below stands",
        ] {
            assert!(
                section.contains(needle),
                "{test} lacks {needle:?}:\n{section}"
            );
        }
    }
    assert_verdicts(&run, &[]);
    let listing = listing(&run);
    assert!(!listing.contains("report.json"), "{listing}");
}

#[test]
fn a_directory_turned_read_only_keeps_the_previous_report_whole() {
    let run = run_on(Disk::ReadOnlyAfterARun);
    let lock = format!("cannot open {}/.lock", mount_point().display());
    for test in [LEAKY.1, CLEAN.1] {
        let section = run.section(test);
        for needle in [
            &format!("the record of `{test}` was not saved"),
            &lock,
            "the file system is read-only",
        ] {
            assert!(
                section.contains(needle),
                "{test} lacks {needle:?}:\n{section}"
            );
        }
    }
    assert_verdicts(&run, &[]);
    // The first run's report, complete: its one clean test, not the leak that came after.
    let report: serde_json::Value = serde_json::from_str(report(&run))
        .unwrap_or_else(|e| panic!("report.json torn ({e}):\n{}", run.output));
    let tests = report["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 1, "{report}");
    assert_eq!(tests[0]["test"]["name"], CLEAN.1);
    assert!(!listing(&run).contains(".tmp"), "{}", listing(&run));
}

#[test]
fn a_full_disk_fails_the_save_and_the_verdicts_stand() {
    let run = run_on(Disk::Full);
    let dir = mount_point().display().to_string();
    for test in [LEAKY.1, CLEAN.1] {
        let section = run.section(test);
        for needle in [
            format!("the record of `{test}` was not saved"),
            format!("cannot write {dir}/"),
            "No space left on device".to_owned(),
            "the disk is full: free some space, or set LEAKCHECK_DIR".to_owned(),
        ] {
            assert!(
                section.contains(&needle),
                "{test} lacks {needle:?}:\n{section}"
            );
        }
    }
    assert_verdicts(&run, &[]);
    // Nothing torn and nothing half-written left behind: no report, no temporary files.
    let listing = listing(&run);
    assert!(listing.contains("filler"), "{listing}");
    assert!(!listing.contains("report.json"), "{listing}");
    assert!(!listing.contains(".tmp"), "{listing}");
}
