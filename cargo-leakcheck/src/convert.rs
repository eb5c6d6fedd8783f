//! `cargo leakcheck convert [--package P] [--check]`: turns a package's `#[test]`s into
//! `#[leak_test]`s — unit tests (the `src/` modules a library or binary reaches) and integration
//! tests (`tests/*.rs`, `tests/*/main.rs`) — adds the dev-dependency and one
//! `leakcheck::global_allocator!` line per test crate (counting over a `#[global_allocator]`
//! the crate already has), then runs the converted suite once and says what to do about each
//! test that did not pass.
//!
//! Other test attributes (`#[tokio::test]`, `#[rstest]`, …) and the attributes next to
//! `#[test]` (`#[ignore]`, `#[should_panic]`) are left as they are. A second run changes nothing.
//! `--check` changes nothing and exits 1 when something would change, like `cargo fmt --check`.

mod manifest;
mod source;
mod triage;

#[cfg(test)]
mod tests;

use crate::locate::{absolute, cargo_metadata};
use crate::test_run::{self, TestArgs};
use crate::{shown, CliError, LeakcheckExitCode};
use source::{CrateKind, Sources};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The package to convert; by default the one in the current directory, or the workspace's
    /// only package.
    #[arg(long, short = 'p', value_name = "SPEC")]
    pub package: Option<String>,
    /// Change nothing: list what would change, and exit 1 if anything would.
    #[arg(long)]
    pub check: bool,
    /// Do not run the converted tests afterwards.
    #[arg(long)]
    pub no_run: bool,
    /// Add the dev-dependency as `{ path = PATH }` (a checkout's `leakcheck/` folder) instead of
    /// the crates.io version.
    #[arg(long, value_name = "PATH")]
    pub leakcheck_path: Option<PathBuf>,
    /// Arguments for the test run after `--`, passed on to `cargo test` (e.g. `-- --lib` or
    /// `-- --features x`).
    #[arg(last = true)]
    pub cargo_args: Vec<OsString>,
}

/// A package of the workspace, as `cargo metadata` describes it.
#[derive(Clone, Debug)]
struct Package {
    name: String,
    manifest: PathBuf,
    /// Crate roots that have tests: (root file, kind).
    crates: Vec<(PathBuf, CrateKind)>,
}

/// Converts (or with `--check`, inspects) the package and, unless `--no-run`, runs its tests.
pub fn run(args: &ConvertArgs) -> Result<i32, CliError> {
    let package = select(&packages()?, args.package.as_deref())?;
    let source = match &args.leakcheck_path {
        Some(path) => manifest::Source::Path(absolute(path).display().to_string()),
        None => manifest::Source::this_version(),
    };

    let mut sources = Sources::default();
    for (root, kind) in &package.crates {
        sources.convert_crate(root, *kind);
    }
    let changes = sources.changes();
    let manifest_text = std::fs::read_to_string(&package.manifest).map_err(|e| CliError::Read {
        path: package.manifest.clone(),
        source: e,
    })?;
    let new_manifest =
        manifest::add_dev_dependency(&manifest_text, &source).map_err(|why| CliError::Read {
            path: package.manifest.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
        })?;

    let mut out = format!("leakcheck: convert `{}`\n", package.name);
    let tests: usize = changes.iter().map(|c| c.tests).sum();
    for change in &changes {
        let _ = writeln!(out, "  {}: {}", shown(&change.path), describe(change));
    }
    if new_manifest.is_some() {
        let line = manifest::describe(&source);
        let manifest = shown(&package.manifest);
        let _ = writeln!(out, "  {manifest}: [dev-dependencies] {line}");
    }
    for (path, why) in &sources.unreadable {
        let _ = writeln!(out, "  {}: left as it is: {why}", shown(path));
    }
    for (path, line, name) in &sources.left_alone {
        let _ = writeln!(
            out,
            "  {}:{line}: `{name}` left a #[test]: it is outside #[cfg(test)], where the \
             dev-dependency is not available",
            shown(path)
        );
    }
    let files = changes.len() + usize::from(new_manifest.is_some());
    let nothing = files == 0;
    if nothing {
        out.push_str("nothing to change: already converted\n");
    } else if args.check {
        let _ = writeln!(
            out,
            "{tests} tests to convert, {files} files to change; run without --check to apply"
        );
    } else {
        let _ = writeln!(out, "converted {tests} tests, changed {files} files");
    }
    print!("{out}");

    if args.check {
        return Ok(if nothing {
            LeakcheckExitCode::OK
        } else {
            LeakcheckExitCode::FAILED
        });
    }
    for change in &changes {
        write(&change.path, &change.text)?;
    }
    if let Some(text) = new_manifest {
        write(&package.manifest, &text)?;
    }
    if args.no_run {
        return Ok(LeakcheckExitCode::OK);
    }
    run_suite(&package.name, &args.cargo_args)
}

/// `2 #[test] → #[leak_test], use added, global_allocator! added`.
fn describe(change: &source::FileChange) -> String {
    let mut parts = Vec::new();
    if change.tests > 0 {
        parts.push(format!("{} #[test] → #[leak_test]", change.tests));
    }
    if change.imports > 0 {
        parts.push("+ use leakcheck::leak_test".to_owned());
    }
    if change.allocator {
        parts.push("+ leakcheck::global_allocator!()".to_owned());
    }
    if let Some(name) = &change.wrapped {
        parts.push(format!(
            "#[global_allocator] {name} wrapped: leakcheck::global_allocator!({name})"
        ));
    }
    parts.join(", ")
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| CliError::write(path, e))
}

/// Runs the package's tests once, as `cargo leakcheck test -p NAME --no-fail-fast ARGS…` does,
/// and lists the tests that need a step. The exit code is `test`'s.
fn run_suite(package: &str, extra: &[OsString]) -> Result<i32, CliError> {
    let mut cargo_args: Vec<OsString> = vec!["-p".into(), package.into(), "--no-fail-fast".into()];
    cargo_args.extend(extra.iter().cloned());
    let args = TestArgs {
        nextest: false,
        profile: false,
        cargo_args,
    };
    let (code, report) = test_run::run_and_report(&args)?;
    match report {
        Some(report) => print!("\n{}", triage::render(&report)),
        None => println!("leakcheck: convert: no leak test ran, so there is nothing to list"),
    }
    Ok(code)
}

/// The workspace's packages with their test crates, from `cargo metadata`.
fn packages() -> Result<Vec<Package>, CliError> {
    let meta = cargo_metadata()?;
    let packages = meta["packages"]
        .as_array()
        .ok_or_else(|| CliError::Metadata {
            problem: "no `packages`".into(),
        })?;
    Ok(packages.iter().filter_map(package_of).collect())
}

fn package_of(p: &serde_json::Value) -> Option<Package> {
    let mut crates = Vec::new();
    for target in p["targets"].as_array()? {
        // Targets with `test = false` build no test binary.
        if target["test"].as_bool() == Some(false) {
            continue;
        }
        let kinds: Vec<&str> = target["kind"]
            .as_array()?
            .iter()
            .filter_map(|k| k.as_str())
            .collect();
        let kind = if kinds.contains(&"test") {
            CrateKind::Integration
        } else if kinds
            .iter()
            .any(|k| k.ends_with("lib") || *k == "bin" || *k == "proc-macro")
        {
            CrateKind::Unit
        } else {
            continue; // examples, benches, build scripts
        };
        crates.push((PathBuf::from(target["src_path"].as_str()?), kind));
    }
    Some(Package {
        name: p["name"].as_str()?.to_owned(),
        manifest: PathBuf::from(p["manifest_path"].as_str()?),
        crates,
    })
}

/// The package named `spec`; without one, the package the current directory is in, or the
/// workspace's only package.
fn select(packages: &[Package], spec: Option<&str>) -> Result<Package, CliError> {
    let index = match spec {
        Some(name) => packages
            .iter()
            .position(|p| p.name == name)
            .ok_or(CliError::Usage {
                problem: "no package of that name in this workspace; `cargo metadata --no-deps` \
                      lists them",
            })?,
        None => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let around = packages
                .iter()
                .enumerate()
                .filter(|(_, p)| p.manifest.parent().is_some_and(|dir| cwd.starts_with(dir)))
                .max_by_key(|(_, p)| p.manifest.as_os_str().len())
                .map(|(i, _)| i);
            match around {
                Some(i) => i,
                None if packages.len() == 1 => 0,
                None => {
                    return Err(CliError::Usage {
                        problem: "the workspace has several packages: choose one with \
                                  `--package NAME`",
                    })
                }
            }
        }
    };
    Ok(packages[index].clone())
}
