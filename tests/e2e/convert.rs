//! `cargo leakcheck convert` on a copy of the fixture crate `tests/fixtures/convert` (plain
//! `#[test]`s, one of each pattern a real suite has): `--check` changes nothing and exits 1, the
//! conversion edits only what it must, a second one changes nothing, and the converted suite
//! compiles, passes its repeatable tests and lists the others with what to do.

use crate::fixture::{in_fixtures, output_of, records_dir, target_dir, Outcome, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The test crates of the fixture other than `tests/inference.rs`, which has a test of its own
/// ([`the_inference_sensitive_body_compiles_converted`]).
const BUILDING: [&str; 9] = [
    "--lib",
    "--test",
    "state",
    "--test",
    "suite",
    "--test",
    "own_allocator",
    "--test",
    "grouped",
];

/// The `cargo-leakcheck` binary, built once per process in a target directory of its own (this
/// package depends on the CLI's library only, and a build in the outer target directory with
/// other features would rebuild what the outer run is using).
fn cli() -> &'static Path {
    static CLI: OnceLock<PathBuf> = OnceLock::new();
    CLI.get_or_init(|| {
        let dir = target_dir().join("convert-cli");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "-p", "cargo-leakcheck", "--bin", "cargo-leakcheck"])
            .arg("--target-dir")
            .arg(&dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo build runs");
        assert!(out.status.success(), "{}", shown(&out));
        dir.join("debug").join("cargo-leakcheck")
    })
}

fn shown(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh copy of the fixture crate at `<tmp>/name`: its own workspace, with the fixtures'
/// lock file so that nothing is resolved anew.
fn copy_of_fixture(name: &str) -> PathBuf {
    let from = crate::fixture::fixtures_dir();
    let to = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&to);
    copy_dir(&from.join("convert"), &to);
    std::fs::copy(from.join("Cargo.lock"), to.join("Cargo.lock")).unwrap();
    let manifest = to.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}\n[workspace]\n")).unwrap();
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file of the crate and its text, but `Cargo.lock`, which cargo rewrites as it resolves.
fn files(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name() != Some("Cargo.lock".as_ref()) {
                let rel = path.strip_prefix(dir).unwrap().to_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// `program ARGS` in the crate `dir`, with the fixtures' target directory and `records` as the
/// output directory of the leak tests.
fn run_in(
    dir: &Path,
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    records: &Path,
) -> Output {
    in_fixtures(program)
        .current_dir(dir)
        .args(args)
        .env("LEAKCHECK_DIR", records)
        .output()
        .expect("the command runs")
}

fn convert(dir: &Path, extra: &[&str], records: &Path) -> Output {
    let path = crate::fixture::fixtures_dir().join("../../leakcheck");
    let path = path.canonicalize().unwrap();
    let mut args = vec![
        "leakcheck",
        "convert",
        "--leakcheck-path",
        path.to_str().unwrap(),
    ];
    args.extend(extra);
    run_in(dir, cli(), &args, records)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn convert_checks_rewrites_once_and_lists_what_cannot_run_twice() {
    let dir = copy_of_fixture("convert-e2e");
    let records = records_dir("convert-records");
    let original = files(&dir);

    // Negative control: as plain #[test]s every test passes (the ignored ones aside).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut plain_args = vec!["test", "--no-fail-fast", "--test", "inference"];
    plain_args.extend(BUILDING);
    let plain = run_in(&dir, &cargo, &plain_args, &records);
    assert!(plain.status.success(), "{}", shown(&plain));

    let fmt = run_in(&dir, &cargo, &["fmt", "--check"], &records);
    assert!(
        fmt.status.success(),
        "the fixture is formatted: {}",
        shown(&fmt)
    );

    // --check: exit 1, each file listed with what would change, nothing written.
    let check = convert(&dir, &["--check"], &records);
    let said = stdout(&check);
    assert_eq!(check.status.code(), Some(1), "{}", shown(&check));
    for line in [
        "tests/state.rs: 3 #[test] → #[leak_test], + use leakcheck::leak_test, + leakcheck::global_allocator!()",
        "tests/suite.rs: 4 #[test] → #[leak_test]",
        "tests/own_allocator.rs: 1 #[test] → #[leak_test], + use leakcheck::leak_test, #[global_allocator] TALLY wrapped",
        "src/more_tests.rs: 1 #[test] → #[leak_test], + use leakcheck::leak_test",
        "tests/grouped/parts.rs: 1 #[test] → #[leak_test]",
        "Cargo.toml: [dev-dependencies] leakcheck = { path = ",
        "`outside_cfg_test` left a #[test]",
        "14 tests to convert, 9 files to change",
    ] {
        assert!(said.contains(line), "--check does not say {line:?}:\n{said}");
    }
    assert_eq!(files(&dir), original, "--check changed files");

    // The conversion, and its run of the converted suite (the inference file aside).
    let mut args = vec!["--"];
    args.extend(BUILDING);
    let converted = convert(&dir, &args, &records);
    let said = stdout(&converted);
    assert_eq!(
        converted.status.code(),
        Some(1),
        "tests fail: {}",
        shown(&converted)
    );
    let after = files(&dir);
    let file = |name: &str| after[Path::new(name)].as_str();
    let was = |name: &str| original[Path::new(name)].as_str();

    // Exact texts: everything but the edits is byte for byte what it was.
    let expected = was("tests/own_allocator.rs")
        .replace(
            "use std::alloc::",
            "use leakcheck::leak_test;\nuse std::alloc::",
        )
        .replace("#[global_allocator]\n", "")
        .replace(
            "static TALLY: Tally = Tally;\n",
            "static TALLY: Tally = Tally;\nleakcheck::global_allocator!(TALLY);\n",
        )
        .replace("#[test]", "#[leak_test]");
    assert_eq!(file("tests/own_allocator.rs"), expected);
    let expected = was("src/lib.rs")
        .replace(
            "\n/// The sum",
            "\n#[cfg(test)]\nleakcheck::global_allocator!();\n\n/// The sum",
        )
        .replace(
            "    use super::*;\n",
            "    use super::*;\n    use leakcheck::leak_test;\n",
        )
        .replace("    #[test]\n    fn sums", "    #[leak_test]\n    fn sums")
        .replace(
            "    #[test]\n    #[ignore",
            "    #[leak_test]\n    #[ignore",
        );
    assert_eq!(
        file("src/lib.rs"),
        expected,
        "the #[test] outside #[cfg(test)] stays"
    );
    let expected = was("Cargo.toml").replace(
        "features = [\"macros\", \"rt\"] }\n",
        &format!(
            "features = [\"macros\", \"rt\"] }}\nleakcheck = {{ path = {:?} }}\n",
            crate::fixture::fixtures_dir()
                .join("../../leakcheck")
                .canonicalize()
                .unwrap()
        ),
    );
    assert_eq!(file("Cargo.toml"), expected);
    let suite = file("tests/suite.rs");
    assert_eq!(suite.matches("\n#[leak_test]\n").count(), 4, "{suite}");
    assert!(!suite.contains("\n#[test]\n"), "{suite}");
    for kept in [
        "#[leak_test]\n#[should_panic(expected = \"index out of bounds\")]",
        "#[leak_test]\n#[ignore]\nfn ignored_as_a_leak_test_too",
        "#[tokio::test]\nasync fn an_async_test_of_another_harness",
        "    // Passes as a plain test; a real leak under #[leak_test].\n",
    ] {
        assert!(suite.contains(kept), "lost {kept:?}:\n{suite}");
    }
    assert_eq!(
        file("tests/grouped/main.rs")
            .matches("global_allocator!")
            .count(),
        1
    );
    assert!(!file("tests/grouped/parts.rs").contains("global_allocator"));

    // What the run found: the leak; the #[should_panic] test passes, measured on every run.
    let listed = |heading: &str| -> Vec<String> {
        let mut lines = said.lines().skip_while(|l| !l.contains(heading)).skip(1);
        std::iter::from_fn(|| {
            lines
                .next()
                .filter(|l| l.starts_with("  "))
                .map(str::to_owned)
        })
        .collect()
    };
    let leaked = listed("leaked: a real leak");
    assert!(
        leaked.len() == 1 && leaked[0].contains("suite::keeps_a_buffer_per_call (tests/suite.rs:"),
        "{said}"
    );
    assert!(!said.contains("#[should_panic]:"), "{said}");
    assert!(
        said.contains("suite::indexing_past_the_end_panics")
            && said
                .lines()
                .any(|l| l.contains("indexing_past_the_end_panics") && l.contains(" passed ")),
        "the #[should_panic] test is a passing leak test:\n{said}"
    );

    // Formatted as rustfmt would have it, as the fixture was.
    let fmt = run_in(&dir, &cargo, &["fmt", "--check"], &records);
    assert!(fmt.status.success(), "{}", shown(&fmt));

    // A second conversion changes nothing.
    let again = convert(&dir, &["--no-run"], &records);
    assert_eq!(again.status.code(), Some(0), "{}", shown(&again));
    assert!(
        stdout(&again).contains("nothing to change: already converted"),
        "{}",
        shown(&again)
    );
    assert_eq!(files(&dir), after, "the second conversion changed files");
    let check = convert(&dir, &["--check"], &records);
    assert_eq!(check.status.code(), Some(0), "{}", shown(&check));

    // The user's own `cargo test` of the converted suite: it compiles, the repeatable tests pass
    // as leak tests, the others fail.
    let mut test_args = vec!["test", "--no-fail-fast"];
    test_args.extend(BUILDING);
    test_args.extend(["--", "--show-output"]);
    let mut command = in_fixtures(&cargo);
    command
        .current_dir(&dir)
        .args(&test_args)
        .env("LEAKCHECK_DIR", &records);
    let text = output_of(&mut command);
    let run = Run::from_libtest("cargo test (converted)", &text);
    for test in [
        "tests::sums",
        "more_tests::sums_nothing",
        "in_the_main_file",
        "parts::in_a_module_file",
        "the_own_allocator_still_counts",
        "a_chatty_body",
    ] {
        run.assert_passed_with(test, &[&format!("leakcheck: `{test}` clean")]);
    }
    for test in [
        "checks::outside_cfg_test",
        // A #[should_panic] leak test: every run panicked, nothing leaked.
        "indexing_past_the_end_panics",
        "an_async_test_of_another_harness",
    ] {
        assert_eq!(
            run.outcome(test),
            Outcome::Passed,
            "{test}:\n{}",
            run.section(test)
        );
    }
    for test in ["tests::ignored_but_converted", "ignored_as_a_leak_test_too"] {
        assert_eq!(run.outcome(test), Outcome::Ignored, "{test}");
    }
    run.assert_failed_with("keeps_a_buffer_per_call", &["leaked heap"]);
    for test in [
        "a_global_drop_counter",
        "a_once_only_initialiser",
        "a_process_wide_setting",
    ] {
        assert_eq!(
            run.outcome(test),
            Outcome::Failed,
            "{test}:\n{}",
            run.section(test)
        );
    }

    // The harness says "passed on its first run" of a body that failed when run again; convert
    // lists those as tests that cannot run twice, with `runs = 1` as the next step.
    let twice = listed("cannot run twice");
    for test in [
        "a_global_drop_counter",
        "a_once_only_initialiser",
        "a_process_wide_setting",
    ] {
        assert!(
            twice
                .iter()
                .any(|l| l.contains(&format!("state::{test} (tests/state.rs:"))),
            "`{test}` is not listed as a test that cannot run twice:\n{said}"
        );
    }
    assert_eq!(twice.len(), 3, "{said}");
}

/// Issue 16 point 1: the body compiles as a `#[test]` (the negative control above) and compiles
/// unchanged as a `#[leak_test]`. It failed with E0283 while leakcheck depended on `serde_json`,
/// whose `impl PartialEq<Value> for u8` made `&s[..] == &sum[..]` ambiguous in every crate that
/// linked it.
#[test]
fn the_inference_sensitive_body_compiles_converted() {
    let dir = copy_of_fixture("convert-e2e-inference");
    let records = records_dir("convert-inference-records");
    let converted = convert(&dir, &["--no-run"], &records);
    assert_eq!(converted.status.code(), Some(0), "{}", shown(&converted));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = ["test", "--test", "inference", "--", "--show-output"];
    let mut command = in_fixtures(cargo);
    command
        .current_dir(&dir)
        .args(args)
        .env("LEAKCHECK_DIR", &records);
    let run = Run::from_libtest("cargo test --test inference", &output_of(&mut command));
    run.assert_passed_with(
        "extend_then_compare",
        &["leakcheck: `extend_then_compare` clean"],
    );
}
