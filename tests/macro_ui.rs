//! Compile-time checks of `#[leak_test]`.
//!
//! `ui`: each misuse under `tests/ui/fail/` must be rejected with a helpful message spanned on
//! the offending tokens (the expected diagnostics are the `.stderr` files next to the cases), and
//! every option and kept attribute in `tests/ui/pass/` must be accepted. After a deliberate
//! change to a message, regenerate them with `TRYBUILD=overwrite cargo test --test macro_ui` and
//! read the diff.
//!
//! `test_mode`: trybuild builds its cases as plain binaries, and outside `--test` rustc deletes
//! `#[test]` functions before type-checking them, so neither the expansion of an accepted
//! `#[leak_test]` nor an error in its body is ever checked there. This test builds the pass cases
//! and `tests/ui/test_mode/` as test targets of a scratch package (`cargo build --tests`) and
//! requires every error to land on a line marked `//~ ERROR <part of the message>`, and every
//! marked line to get one: errors in the user's body must point at the body, not at the macro.
//! That package has leakcheck's `tokio` feature (async pass cases); `without_the_tokio_feature`
//! builds `tests/ui/without_tokio/` the same way against leakcheck without it.
//!
//! Pass cases of `#[leak_test]` bodies (`bodies.rs`) and of `#[leak_tests]` modules
//! (`module.rs`) are built this way too; tests/e2e/bodies.rs runs them for real.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

#[test]
fn test_mode() {
    build_as_tests(
        "macro-ui-test-mode",
        &["tokio"],
        &["tests/ui/pass", "tests/ui/test_mode"],
    );
}

/// Bodies whose types are inferred from a later comparison (issue 16, point 1) compile as
/// leak tests, and as plain tests next to them: nothing in leakcheck's dependencies adds
/// `PartialEq` impls for primitives (serde_json's did) that would make them ambiguous.
#[test]
fn inference_sensitive_bodies() {
    build_as_tests("macro-ui-inference", &[], &["tests/ui/inference"]);
}

/// An `async fn` test without leakcheck's `tokio` feature: one error, on the `async`, naming the
/// feature (the root package's leakcheck has the feature, so trybuild cannot show this).
#[test]
fn without_the_tokio_feature() {
    build_as_tests("macro-ui-without-tokio", &[], &["tests/ui/without_tokio"]);
}

/// Builds every case in `dirs` as a test target of a scratch package `name` whose leakcheck
/// dependency has `features`, and checks its errors against the cases' `//~ ERROR` marks.
fn build_as_tests(name: &str, features: &[&str], dirs: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|dir| fs::read_dir(root.join(dir)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    cases.sort();

    // (file, line, part of the message) of every expected error.
    let mut expected = BTreeSet::new();
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         publish = false\n\n[dependencies]\nleakcheck = {{ path = {:?}, features = {features:?} }}\n\n\
         [workspace]\n",
        root.join("leakcheck"),
    );
    for (i, case) in cases.iter().enumerate() {
        manifest += &format!("\n[[test]]\nname = \"case{i}\"\npath = {case:?}\n");
        for (n, line) in fs::read_to_string(case).unwrap().lines().enumerate() {
            if let Some((_, message)) = line.split_once("//~ ERROR ") {
                expected.insert((case.clone(), n as u64 + 1, message.trim().to_owned()));
            }
        }
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    fs::write(dir.join("src/lib.rs"), "").unwrap();
    fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let out = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--tests",
            "--keep-going",
            "--offline",
            "--message-format=json",
        ])
        .current_dir(&dir)
        // Shared by the scratch packages: their dependencies are built once.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("macro_ui_target"),
        )
        .output()
        .unwrap();

    let mut found = BTreeSet::new();
    let mut rendered = String::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let msg: serde_json::Value = serde_json::from_str(line).unwrap();
        let diag = &msg["message"];
        if msg["reason"] != "compiler-message" || diag["level"] != "error" {
            continue;
        }
        rendered += diag["rendered"].as_str().unwrap_or_default();
        let spans = diag["spans"].as_array().unwrap();
        if let Some(span) = spans.iter().find(|s| s["is_primary"] == true) {
            let file = PathBuf::from(span["file_name"].as_str().unwrap());
            let line = span["line_start"].as_u64().unwrap();
            found.insert((file, line, diag["message"].as_str().unwrap().to_owned()));
        }
    }
    let missing: Vec<_> = expected
        .iter()
        .filter(|(file, line, part)| {
            !found
                .iter()
                .any(|(f, l, m)| f == file && l == line && m.contains(part.as_str()))
        })
        .collect();
    let unexpected: Vec<_> = found
        .iter()
        .filter(|(file, line, _)| !expected.iter().any(|(f, l, _)| f == file && l == line))
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty() && out.status.success() == expected.is_empty(),
        "missing errors: {missing:#?}\nunexpected errors: {unexpected:#?}\n\n{rendered}\n{}",
        String::from_utf8_lossy(&out.stderr),
    );
}
