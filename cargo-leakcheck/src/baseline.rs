//! `cargo leakcheck baseline save NAME [--from FILE]` and `baseline list`: reports kept under
//! `.leakcheck/baselines/NAME.json` in the workspace, meant to be committed, so that later runs
//! can be compared with `cargo leakcheck diff NAME REPORT`.

use crate::error::NameRule;
use crate::locate::Workspace;
use crate::{shown, CliError, LeakcheckExitCode};
use leakcheck::record::{self, RunReport};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Baseline commands.
#[derive(Debug, clap::Subcommand)]
pub enum BaselineCommand {
    /// Saves a report (by default the last run's report.json) as the baseline NAME.
    Save {
        /// The baseline's name: letters, digits, `-`, `_` and `.` (e.g. `main`, `v0.3`).
        name: String,
        /// The report to save instead of `<target-dir>/leakcheck/report.json`.
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
    /// Lists the saved baselines: name, when the run started, commit, number of tests.
    List,
}

/// Runs a baseline command.
pub fn run(command: &BaselineCommand) -> Result<i32, CliError> {
    match command {
        BaselineCommand::Save { name, from } => save(name, from.as_deref()),
        BaselineCommand::List => list(),
    }
}

/// Checks that `name` can be a file name on every platform and be told from a path by
/// [`crate::locate::report_file`].
pub fn check_name(name: &str) -> Result<(), CliError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let broken = if name.is_empty() || !name.chars().all(allowed) {
        Some(NameRule::Characters)
    } else if name.starts_with('.') {
        Some(NameRule::NoLeadingDot)
    } else if name.ends_with(".json") {
        // `diff` reads an argument ending in `.json` as a path, so such a name could not be used.
        Some(NameRule::NoJsonSuffix)
    } else {
        None
    };
    match broken {
        Some(rule) => Err(CliError::BaselineName {
            name: name.to_owned(),
            rule,
        }),
        None => Ok(()),
    }
}

fn save(name: &str, from: Option<&Path>) -> Result<i32, CliError> {
    check_name(name)?;
    let workspace = Workspace::current()?;
    let source = match from {
        Some(path) => path.to_owned(),
        None => workspace.output_dir().join("report.json"),
    };
    // Refuse to keep a file that `diff` would later refuse to read.
    let report = record::read_report(&source)?;
    for unreadable in &report.unreadable {
        eprintln!(
            "leakcheck: warning: the report lacks a record that could not be read: {unreadable}"
        );
    }

    let dir = workspace.baselines_dir();
    let target = dir.join(format!("{name}.json"));
    std::fs::create_dir_all(&dir).map_err(|source| CliError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let replaced = target.exists();
    // Copy to a temporary file and rename it, so an interrupted save never leaves a truncated
    // baseline behind (nor destroys the previous one).
    let partial = dir.join(format!(".{name}.json.partial"));
    std::fs::copy(&source, &partial).map_err(|e| CliError::write(&partial, e))?;
    std::fs::rename(&partial, &target).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        CliError::write(&target, e)
    })?;

    let shown_target = shown(&target);
    println!(
        "{} baseline `{name}`: {} ({})",
        if replaced { "replaced" } else { "saved" },
        shown_target,
        describe(&report)
    );
    println!(
        "hint: commit it (`git add {shown_target}`), then compare a later run with \
         `cargo leakcheck diff {name} {}`",
        shown(&workspace.output_dir().join("report.json"))
    );
    Ok(LeakcheckExitCode::OK)
}

/// `run ID, started …, commit …, N tests`.
fn describe(report: &RunReport) -> String {
    let mut text = format!("run {}, started {}", report.run.id, report.run.started_at);
    if let Some(commit) = &report.run.commit {
        let _ = write!(text, ", commit {}", commit.get(..12).unwrap_or(commit));
    }
    let n = report.tests.len();
    let _ = write!(text, ", {n} test{}", if n == 1 { "" } else { "s" });
    text
}

fn list() -> Result<i32, CliError> {
    let dir = Workspace::current()?.baselines_dir();
    let names = baseline_names(&dir)?;
    if names.is_empty() {
        println!(
            "no saved baselines in {}; save one after a run with `cargo leakcheck baseline save \
             NAME`",
            shown(&dir)
        );
        return Ok(LeakcheckExitCode::OK);
    }
    print!("{}", list_table(&dir, &names));
    Ok(LeakcheckExitCode::OK)
}

/// The names of the `*.json` files in `dir`, sorted; none when it does not exist.
fn baseline_names(dir: &Path) -> Result<Vec<String>, CliError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CliError::Read {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            let name = file.strip_suffix(".json")?;
            (!name.starts_with('.')).then(|| name.to_owned())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// One row per baseline; one that cannot be read says why instead of failing the listing.
fn list_table(dir: &Path, names: &[String]) -> String {
    let header = ["name", "started", "commit", "tests"].map(str::to_owned);
    let mut rows = vec![header];
    let mut problems = Vec::new();
    for name in names {
        match record::read_report(&dir.join(format!("{name}.json"))) {
            Ok(report) => rows.push([
                name.clone(),
                report.run.started_at.clone(),
                report
                    .run
                    .commit
                    .as_deref()
                    .map_or("-", |c| c.get(..12).unwrap_or(c))
                    .to_owned(),
                report.tests.len().to_string(),
            ]),
            Err(e) => {
                rows.push([name.clone(), "unreadable".into(), "-".into(), "-".into()]);
                problems.push(e.to_string());
            }
        }
    }
    let mut widths = [0; 4];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let [name, started, commit, tests] = row;
        let [w0, w1, w2, w3] = widths;
        let line = format!("{name:<w0$}  {started:<w1$}  {commit:<w2$}  {tests:>w3$}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for problem in problems {
        eprintln!("leakcheck: warning: {problem}");
    }
    out
}
