//! Unit tests of `convert`: the source edits on small crates written to a temporary directory,
//! the manifest edit, and the triage of a run's records.

use super::manifest::{self, Source};
use super::source::{CrateKind, Sources};
use super::triage::{self, Step};
use leakcheck::record::{Outcome, RunInfo, RunReport, TestRecord};
use leakcheck::{Config, TestId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A fresh directory holding `files` (relative path, text).
fn crate_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leakcheck-convert-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Converts the crates rooted at `roots` in `dir` and writes the result; the new texts of the
/// files that changed, by relative path.
fn convert(dir: &Path, roots: &[(&str, CrateKind)]) -> (BTreeMap<String, String>, Sources) {
    let mut sources = Sources::default();
    for (root, kind) in roots {
        sources.convert_crate(&dir.join(root), *kind);
    }
    let mut out = BTreeMap::new();
    for change in sources.changes() {
        std::fs::write(&change.path, &change.text).unwrap();
        let rel = change.path.strip_prefix(dir).unwrap();
        out.insert(rel.display().to_string(), change.text);
    }
    (out, sources)
}

/// Converts once, checks that a second conversion changes nothing, returns the first's texts.
fn convert_twice(dir: &Path, roots: &[(&str, CrateKind)]) -> BTreeMap<String, String> {
    let (first, _) = convert(dir, roots);
    let (second, _) = convert(dir, roots);
    assert!(second.is_empty(), "not idempotent: {second:#?}");
    first
}

const UNIT: CrateKind = CrateKind::Unit;
const INTEGRATION: CrateKind = CrateKind::Integration;

#[test]
fn an_inline_module_on_one_line_keeps_its_line() {
    let lib = "pub fn f() {}\n#[cfg(test)] mod tests { #[test] fn a() {} }\n";
    let dir = crate_dir("one-line", &[("src/lib.rs", lib)]);
    let out = convert_twice(&dir, &[("src/lib.rs", UNIT)]);
    assert_eq!(
        out["src/lib.rs"],
        "#[cfg(test)]\nleakcheck::global_allocator!();\n\npub fn f() {}\n\
         #[cfg(test)] mod tests { use leakcheck::leak_test; #[leak_test] fn a() {} }\n"
    );
}

#[test]
fn only_the_word_test_changes_and_comments_stay() {
    // Spacing inside the attribute, comments around it, and a multi-byte character before it
    // on the same line (columns count characters, edits count bytes).
    let file = "\u{feff}//! Docs.\n\nuse core::fmt; // keep me\n\n/* é */ #[ test ] // why\n\
                #[ignore]\nfn a() { let _ = fmt::Error; }\n";
    let dir = crate_dir("spacing", &[("tests/a.rs", file)]);
    let out = convert_twice(&dir, &[("tests/a.rs", INTEGRATION)]);
    assert_eq!(
        out["tests/a.rs"],
        "\u{feff}//! Docs.\n\nleakcheck::global_allocator!();\n\nuse core::fmt; // keep me\n\
         use leakcheck::leak_test;\n\n/* é */ #[ leak_test ] // why\n#[ignore]\n\
         fn a() { let _ = fmt::Error; }\n"
    );
}

#[test]
fn the_use_goes_where_rustfmt_sorts_it_in_the_last_group() {
    let file = "use zeta::z;\n\nuse super::*;\nuse crate::a;\nuse ::abs::b;\nuse std::fmt;\nuse Foo::Bar;\n\n#[test]\nfn t() {}\n";
    let dir = crate_dir("sorted", &[("tests/t.rs", file)]);
    let out = convert_twice(&dir, &[("tests/t.rs", INTEGRATION)]);
    assert!(
        out["tests/t.rs"].contains("use ::abs::b;\nuse leakcheck::leak_test;\nuse std::fmt;\n"),
        "{}",
        out["tests/t.rs"]
    );
}

#[test]
fn a_file_with_crlf_line_ends_gets_crlf_lines() {
    let file = "use std::fmt;\r\n\r\n#[global_allocator]\r\nstatic A: std::alloc::System = std::alloc::System;\r\n\r\n#[test]\r\nfn t() {}\r\n";
    let dir = crate_dir("crlf", &[("tests/t.rs", file)]);
    let out = convert_twice(&dir, &[("tests/t.rs", INTEGRATION)]);
    assert_eq!(
        out["tests/t.rs"],
        "use leakcheck::leak_test;\r\nuse std::fmt;\r\n\r\nstatic A: std::alloc::System = std::alloc::System;\r\n\
         leakcheck::global_allocator!(A);\r\n\r\n#[leak_test]\r\nfn t() {}\r\n"
    );
}

#[test]
fn a_global_allocator_of_a_library_is_kept_for_normal_builds() {
    let lib = "struct A;\n\n#[global_allocator]\nstatic ALLOC: A = A;\n\n\
               #[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n";
    let dir = crate_dir("lib-alloc", &[("src/lib.rs", lib)]);
    let out = convert_twice(&dir, &[("src/lib.rs", UNIT)]);
    assert_eq!(
        out["src/lib.rs"],
        "struct A;\n\n#[cfg_attr(not(test), global_allocator)]\nstatic ALLOC: A = A;\n\
         #[cfg(test)]\nleakcheck::global_allocator!(ALLOC);\n\n#[cfg(test)]\nmod tests {\n    \
         use leakcheck::leak_test;\n\n    #[leak_test]\n    fn t() {}\n}\n"
    );
}

#[test]
fn a_global_allocator_in_a_test_module_is_wrapped_where_it_is() {
    // In a module: the wrapped line goes next to the static, which the crate root cannot name.
    let main = "mod common;\n\n#[test]\nfn t() {}\n";
    let common = "    #[global_allocator] static A: std::alloc::System = std::alloc::System;\n";
    let dir = crate_dir(
        "module-alloc",
        &[("tests/it/main.rs", main), ("tests/it/common.rs", common)],
    );
    let out = convert_twice(&dir, &[("tests/it/main.rs", INTEGRATION)]);
    assert_eq!(
        out["tests/it/common.rs"],
        "    static A: std::alloc::System = std::alloc::System;\n    \
         leakcheck::global_allocator!(A);\n"
    );
    assert!(
        !out["tests/it/main.rs"].contains("global_allocator"),
        "{out:#?}"
    );
}

#[test]
fn modules_are_followed_through_files_and_path_attributes() {
    let lib = "#[cfg(test)]\nmod a;\n#[cfg(test)]\n#[path = \"elsewhere/b_tests.rs\"]\nmod b;\n";
    let a = "mod inner;\n";
    let inner = "#[test]\nfn deep() {}\n";
    let b = "#[test]\nfn b() {}\n";
    let unreachable = "#[test]\nfn never_compiled() {}\n";
    let dir = crate_dir(
        "modules",
        &[
            ("src/lib.rs", lib),
            ("src/a/mod.rs", a),
            ("src/a/inner.rs", inner),
            ("src/elsewhere/b_tests.rs", b),
            ("src/stray.rs", unreachable),
        ],
    );
    let out = convert_twice(&dir, &[("src/lib.rs", UNIT)]);
    let keys: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["src/a/inner.rs", "src/elsewhere/b_tests.rs", "src/lib.rs"]
    );
    assert_eq!(
        out["src/a/inner.rs"],
        "use leakcheck::leak_test;\n\n#[leak_test]\nfn deep() {}\n"
    );
}

#[test]
fn what_is_there_already_is_not_added_again() {
    // A glob of leakcheck names `leak_test`; an allocator line is there.
    let file = "leakcheck::global_allocator!();\nuse leakcheck::*;\n\n#[test]\nfn t() {}\n";
    // Half converted by hand: the `use` is there.
    let half = "leakcheck::global_allocator!();\nuse leakcheck::{leak_test, Check};\n\n\
                #[leak_test]\nfn done() {}\n#[test]\nfn t() {}\n";
    let dir = crate_dir("present", &[("tests/t.rs", file), ("tests/u.rs", half)]);
    let out = convert_twice(
        &dir,
        &[("tests/t.rs", INTEGRATION), ("tests/u.rs", INTEGRATION)],
    );
    assert_eq!(
        out["tests/t.rs"],
        "leakcheck::global_allocator!();\nuse leakcheck::*;\n\n#[leak_test]\nfn t() {}\n"
    );
    assert_eq!(out["tests/u.rs"], half.replace("#[test]", "#[leak_test]"));
}

#[test]
fn other_attributes_and_crates_without_tests_are_left_alone() {
    let file =
        "#[tokio::test]\nasync fn a() {}\n#[rstest]\nfn b() {}\n#[test_case(1)]\nfn c(_: u8) {}\n";
    let lib = "pub fn f() {}\n";
    let dir = crate_dir("alone", &[("tests/t.rs", file), ("src/lib.rs", lib)]);
    let (out, _) = convert(&dir, &[("tests/t.rs", INTEGRATION), ("src/lib.rs", UNIT)]);
    assert!(out.is_empty(), "{out:#?}");
}

#[test]
fn a_test_outside_cfg_test_and_a_file_syn_cannot_parse_are_reported_not_changed() {
    let lib = "pub mod checks {\n    #[test]\n    fn t() {}\n}\n#[cfg(test)]\nmod broken;\n";
    let broken = "#[test]\nfn t( {}\n";
    let dir = crate_dir(
        "reported",
        &[("src/lib.rs", lib), ("src/broken.rs", broken)],
    );
    let (out, sources) = convert(&dir, &[("src/lib.rs", UNIT)]);
    assert!(out.is_empty(), "{out:#?}");
    let left: Vec<_> = sources
        .left_alone
        .iter()
        .map(|(_, line, name)| (*line, name.as_str()))
        .collect();
    assert_eq!(left, [(2, "t")]);
    let unreadable: Vec<_> = sources.unreadable.iter().collect();
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].0.ends_with("src/broken.rs"), "{unreadable:?}");
}

#[test]
fn the_dev_dependency_is_added_keeping_the_manifest_as_it_was() {
    let text = "[package]\nname = \"x\" # the name\n\n[dev-dependencies]\n# a comment\nfoo = \"1\"\n\n[features]\nx = []\n";
    let added = manifest::add_dev_dependency(text, &Source::this_version())
        .unwrap()
        .unwrap();
    assert_eq!(
        added,
        "[package]\nname = \"x\" # the name\n\n[dev-dependencies]\n# a comment\nfoo = \"1\"\n\
         leakcheck = \"0.1\"\n\n[features]\nx = []\n"
    );
    assert_eq!(
        manifest::add_dev_dependency(&added, &Source::this_version()),
        Ok(None)
    );

    let bare = "[package]\nname = \"x\"\n";
    let path = Source::Path("/src/leakcheck".into());
    let added = manifest::add_dev_dependency(bare, &path).unwrap().unwrap();
    assert_eq!(added, "[package]\nname = \"x\"\n\n[dev-dependencies]\nleakcheck = { path = \"/src/leakcheck\" }\n");

    for present in [
        "[dependencies]\nleakcheck = \"0.1\"\n",
        "[dev-dependencies]\nleakcheck.workspace = true\n",
    ] {
        assert_eq!(
            manifest::add_dev_dependency(present, &path),
            Ok(None),
            "{present}"
        );
    }
    assert!(manifest::add_dev_dependency("[package", &path).is_err());
}

fn record(name: &str, outcome: Outcome, message: Option<&str>) -> TestRecord {
    let test = TestId::of_fn("p", "state", name, "tests/state.rs", 7);
    let took = std::time::Duration::ZERO;
    let message = message.map(str::to_owned);
    TestRecord::new(
        "r".into(),
        test,
        &Config::default(),
        outcome,
        message,
        None,
        took,
    )
}

#[test]
fn each_test_that_did_not_pass_gets_its_step() {
    let report = RunReport::new(
        RunInfo::default(),
        vec![
            record("clean", Outcome::Passed, None),
            record(
                "counter",
                Outcome::Failed,
                Some("passed on its first run and failed on run 2: …"),
            ),
            record("buffer", Outcome::Leaked, Some("leaked heap")),
            record(
                "broken",
                Outcome::Failed,
                Some("the test body panicked (a test failure, not a leak)"),
            ),
        ],
    );
    let steps = triage::next_steps(&report);
    let names = |step| -> Vec<String> {
        steps
            .iter()
            .find(|(s, _)| *s == step)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        names(Step::RunOnce),
        ["p::state::counter (tests/state.rs:7)"]
    );
    assert_eq!(names(Step::Leak), ["p::state::buffer (tests/state.rs:7)"]);
    assert_eq!(
        names(Step::Failure),
        ["p::state::broken (tests/state.rs:7)"]
    );
    let text = triage::render(&report);
    assert!(
        text.starts_with("leakcheck: convert: 1 of 4 leak tests passed\n"),
        "{text}"
    );
    assert!(text.contains("1 cannot run twice (passed on the first run, failed on a later one): mark each `#[leak_test(runs = 1)]`"), "{text}");

    let clean = RunReport::new(
        RunInfo::default(),
        vec![record("clean", Outcome::Passed, None)],
    );
    assert_eq!(
        triage::render(&clean),
        "leakcheck: convert: 1 of 1 leak tests passed; nothing left to do\n"
    );
}

#[test]
fn the_test_crates_of_a_package_come_from_its_targets() {
    let meta = serde_json::json!({
        "name": "p", "manifest_path": "/w/p/Cargo.toml",
        "targets": [
            {"kind": ["lib"], "src_path": "/w/p/src/lib.rs", "test": true},
            {"kind": ["bin"], "src_path": "/w/p/src/main.rs", "test": true},
            {"kind": ["bin"], "src_path": "/w/p/src/bin/tool.rs", "test": false},
            {"kind": ["test"], "src_path": "/w/p/tests/api.rs", "test": true},
            {"kind": ["example"], "src_path": "/w/p/examples/e.rs", "test": false},
            {"kind": ["bench"], "src_path": "/w/p/benches/b.rs", "test": false},
            {"kind": ["custom-build"], "src_path": "/w/p/build.rs", "test": false}
        ]
    });
    let package = super::package_of(&meta).unwrap();
    let crates: Vec<(&str, CrateKind)> = package
        .crates
        .iter()
        .map(|(p, k)| (p.to_str().unwrap(), *k))
        .collect();
    assert_eq!(
        crates,
        [
            ("/w/p/src/lib.rs", UNIT),
            ("/w/p/src/main.rs", UNIT),
            ("/w/p/tests/api.rs", INTEGRATION)
        ]
    );
    let two = [
        package.clone(),
        super::Package {
            name: "q".into(),
            ..package
        },
    ];
    assert_eq!(super::select(&two, Some("q")).unwrap().name, "q");
    let err = super::select(&two, Some("nope")).unwrap_err();
    assert!(err.to_string().contains("no package of that name"), "{err}");
    // The current directory (this crate's) is in neither: a name is needed.
    let err = super::select(&two, None).unwrap_err();
    assert!(err.to_string().contains("--package NAME"), "{err}");
}
