//! The crates are split by product, and what each product pulls into a user's build is checked
//! with `cargo tree`: a service that uses the production monitor compiles no proc-macro crate of
//! ours, no `toml` and no test harness; the allocator depends on nothing; the harness pulls in
//! no `serde_json` (whose comparison impls break type inference in the users' test crates).

use std::process::Command;

/// The packages in the normal (non-dev, non-build) dependency tree of `package`, as
/// `name version` lines, the package itself first.
fn normal_tree(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree", "--locked", "-e", "normal", "--prefix", "none", "-f", "{p}",
        ])
        .args(["-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("cargo tree prints UTF-8");
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.dedup();
    names
}

fn has(tree: &[String], name: &str) -> bool {
    tree.iter().any(|n| n == name)
}

#[test]
fn the_monitor_pulls_in_no_harness_no_macros_of_ours_and_no_toml() {
    let tree = normal_tree("leakcheck-monitor");
    assert_eq!(tree.first().map(String::as_str), Some("leakcheck-monitor"));
    assert!(has(&tree, "leakcheck-alloc"), "{tree:?}");
    for unwanted in ["leakcheck", "leakcheck-macros", "toml", "clap", "tokio"] {
        assert!(
            !has(&tree, unwanted),
            "a service using leakcheck-monitor would compile `{unwanted}`: {tree:?}"
        );
    }
}

#[test]
fn the_harness_has_what_the_monitor_must_not() {
    // The positive control of the test above: the same reading of `cargo tree` does see the
    // macro crate, toml and the allocator where they are.
    let tree = normal_tree("leakcheck");
    for wanted in [
        "leakcheck-macros",
        "toml",
        "leakcheck-alloc",
        "leakcheck-probe",
    ] {
        assert!(has(&tree, wanted), "`{wanted}` missing from {tree:?}");
    }
    assert!(!has(&tree, "leakcheck-monitor"), "{tree:?}");
}

#[test]
fn the_allocator_depends_on_nothing() {
    assert_eq!(normal_tree("leakcheck-alloc"), ["leakcheck-alloc"]);
}

#[test]
fn the_harness_pulls_in_no_serde_json() {
    // serde_json implements `PartialEq<serde_json::Value>` for `u8`, `i32`, `str`…: in every
    // crate depending on leakcheck, `assert_eq!(&v[..], &[])` would stop inferring its types
    // (tests/ui/pass/inference_bodies.rs). The positive control: the CLI does use it.
    let tree = normal_tree("leakcheck");
    assert!(
        !has(&tree, "serde_json"),
        "leakcheck depends on serde_json: {tree:?}"
    );
    assert!(has(&normal_tree("cargo-leakcheck"), "serde_json"));
}
