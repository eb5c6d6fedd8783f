//! What can stop a command, and the exit codes it ends with.
//!
//! Every error that ends a command with [`LeakcheckExitCode::ERROR`] is a [`CliError`]: each
//! variant carries what went wrong with what (the file, the program, the pid) and the cause, and
//! its message says what to do next. Values that clap rejects while parsing arguments are a
//! [`BadValue`].
//!
//! The impls are written by hand rather than with `thiserror`: most messages are computed (a
//! path shown relative to the current directory, a hint that depends on the error), which a
//! format attribute would only move into helper functions, and the `source` arms are a few lines.

use crate::locate::absolute;
use crate::shown;
use leakcheck::record::ReadError;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// The exit codes of `cargo leakcheck`, as named constants (nextest's `NextestExitCode`); the
/// [crate docs](crate#exit-codes) have the table.
#[derive(Debug)]
pub enum LeakcheckExitCode {}

impl LeakcheckExitCode {
    /// Success: the tests passed, no regression was found, the targets were met.
    pub const OK: i32 = 0;
    /// A check failed: a test failed or leaked (`test`), a regression was found (`diff`), the
    /// recall or false-positive target was missed (`simulate`).
    pub const FAILED: i32 = 1;
    /// A usage or I/O error: a bad argument, a missing or unreadable file, a program that
    /// cannot be started. Nothing was checked.
    pub const ERROR: i32 = 2;
    /// `test`: building the tests failed (a compile error, a build script that failed, a
    /// package that does not exist), so no test ran. The code cargo itself exits with when a build fails, and nextest's
    /// `BUILD_FAILED`.
    pub const BUILD_FAILED: i32 = 101;
}

/// An error that ends a command with [`LeakcheckExitCode::ERROR`]; its message says what to do
/// next.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// A file or directory cannot be read.
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A directory cannot be created.
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file cannot be written.
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
        /// What the user can do instead, when there is something (`--out` to choose another file).
        hint: Option<&'static str>,
    },
    /// A report or record that cannot be used: missing, damaged, or of another schema version.
    Record(ReadError),
    /// An argument names neither a report file nor a saved baseline.
    NoReport {
        /// The argument.
        spec: String,
        /// Where the baseline of that name would be, when inside a workspace.
        baseline: Option<PathBuf>,
    },
    /// `trend` was given inputs that hold no report.
    NoReports {
        /// The inputs.
        inputs: Vec<PathBuf>,
    },
    /// `merge` was given reports of different commits without `--allow-mixed-commits`.
    MixedCommits {
        /// Each commit, with the first report that tested it.
        commits: Vec<(String, PathBuf)>,
    },
    /// A name that cannot be a baseline's.
    BaselineName {
        /// The name.
        name: String,
        /// The rule it breaks.
        rule: NameRule,
    },
    /// A program cannot be started (cargo, `cargo metadata`, the command to monitor).
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// A started program could not be waited for.
    Wait {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// cargo refused the arguments given to `cargo leakcheck test` (it exited 1, its code for a
    /// command line it cannot parse, and printed why).
    CargoUsage {
        /// The cargo command, as run.
        command: String,
    },
    /// `cargo metadata` failed: the current directory is not in a cargo workspace.
    NotInWorkspace {
        /// What cargo said.
        stderr: String,
    },
    /// `cargo metadata` printed something this version cannot read.
    Metadata {
        /// What is missing or wrong.
        problem: String,
    },
    /// An environment variable holds a value that cannot be used.
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong with it and what to do.
        problem: &'static str,
    },
    /// Arguments that do not make a command (checked after parsing).
    Usage {
        /// What is missing and what to write.
        problem: &'static str,
    },
    /// A webhook URL the monitor's client cannot post to.
    Webhook {
        /// The flag, `--webhook` or `--alertmanager`.
        flag: &'static str,
        /// What is wrong with the URL.
        source: leakcheck_monitor::alert::AlertError,
    },
    /// `monitor --pid`: no process has that pid.
    NoSuchProcess {
        /// The pid.
        pid: u32,
    },
    /// `monitor`: the process cannot be watched (its /proc files cannot be read).
    Watch {
        /// The pid.
        pid: u32,
        /// Why.
        source: io::Error,
    },
    /// `monitor`: the endpoint cannot listen on the address.
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// `simulate`: no case of the selected families is in this build.
    NoCases {
        /// The families asked for, e.g. `tasks`.
        families: String,
    },
    /// `__simulate-case`: no case has that name.
    NoSuchCase {
        /// The name.
        name: String,
    },
    /// This executable cannot be found to run the simulated cases.
    CurrentExe(io::Error),
    /// A file that is not a readable pprof profile (`profile top|diff`).
    Profile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: leakcheck_probe::pprof::DecodeError,
    },
    /// `profile`: the profile has no sample type of that name (or none at all).
    SampleType {
        /// The profile.
        path: PathBuf,
        /// The `--sample-type` given; `None` when the profile's default was looked for.
        asked: Option<String>,
        /// The sample types the profile has.
        available: Vec<String>,
    },
    /// A value cannot be encoded as JSON.
    Encode {
        /// What was encoded.
        what: &'static str,
        /// Why.
        source: serde_json::Error,
    },
}

/// A rule a baseline name must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameRule {
    /// Letters, digits, `-`, `_` and `.` only, and not empty.
    Characters,
    /// Not starting with `.` (hidden files, and `.partial` copies, are not baselines).
    NoLeadingDot,
    /// Not ending in `.json`: `diff` reads such an argument as a path.
    NoJsonSuffix,
}

impl CliError {
    /// A failure to write `path`.
    pub fn write(path: impl Into<PathBuf>, source: io::Error) -> CliError {
        CliError::Write {
            path: path.into(),
            source,
            hint: None,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", absolute(path).display())
            }
            CliError::CreateDir { path, source } => {
                write!(f, "cannot create {}: {source}", absolute(path).display())
            }
            CliError::Write { path, source, hint } => {
                write!(f, "cannot write {}: {source}", absolute(path).display())?;
                hint.map_or(Ok(()), |hint| write!(f, "; {hint}"))
            }
            CliError::Record(e) => e.fmt(f),
            CliError::NoReport {
                spec,
                baseline: Some(saved),
            } => write!(
                f,
                "`{spec}` is neither a report file nor a saved baseline (looked for {}); save one \
                 with `cargo leakcheck baseline save {spec}` after a run, or give the path of a \
                 report.json",
                shown(saved)
            ),
            CliError::NoReport {
                spec,
                baseline: None,
            } => write!(
                f,
                "{spec}: no such file; run the leak tests first (`cargo leakcheck test`) or give \
                 the path of a report.json or the name of a saved baseline"
            ),
            CliError::NoReports { inputs } => {
                let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "no reports to show: {} holds no *.json report; give report files (a \
                     report.json, saved baselines from `.leakcheck/baselines/`, CI artifacts) or \
                     a directory of them",
                    inputs.join(", ")
                )
            }
            CliError::MixedCommits { commits } => {
                let each: Vec<String> = commits
                    .iter()
                    .map(|(commit, path)| {
                        format!("{} ({})", commit.get(..12).unwrap_or(commit), shown(path))
                    })
                    .collect();
                write!(
                    f,
                    "refusing to merge reports of different commits: {}; a merged run is one \
                     commit's. Merge each commit's shards on their own, or pass \
                     --allow-mixed-commits to merge them anyway",
                    each.join(", ")
                )
            }
            CliError::BaselineName { name, rule } => {
                write!(f, "`{name}` cannot be a baseline name: ")?;
                match rule {
                    NameRule::Characters => f.write_str(
                        "use letters, digits, `-`, `_` and `.` only (e.g. `main` or `v0.3`)",
                    ),
                    NameRule::NoLeadingDot => f.write_str("it must not start with `.`"),
                    NameRule::NoJsonSuffix => write!(
                        f,
                        "leave out `.json` (it is added), e.g. `{}`",
                        name.trim_end_matches(".json")
                    ),
                }
            }
            CliError::Spawn { program, source } => {
                write!(f, "cannot start `{program}`: {source}")?;
                if source.kind() == io::ErrorKind::NotFound {
                    f.write_str("; check that it is installed and on PATH")?;
                }
                Ok(())
            }
            CliError::Wait { program, source } => {
                write!(f, "cannot wait for `{program}`: {source}")
            }
            CliError::CargoUsage { command } => write!(
                f,
                "cargo refused the arguments of `{command}` (its message is above); options \
                 for the test binaries go after `--`, e.g. `cargo leakcheck test -- --exact NAME`"
            ),
            CliError::NotInWorkspace { stderr } => write!(
                f,
                "`cargo metadata` failed; run this inside a cargo workspace:\n{stderr}"
            ),
            CliError::Metadata { problem } => write!(
                f,
                "`cargo metadata` printed something unexpected ({problem}); is this cargo older \
                 than the `rust-version` of cargo-leakcheck?"
            ),
            CliError::Env { name, problem } => write!(f, "{name} {problem}"),
            CliError::Usage { problem } => f.write_str(problem),
            CliError::Webhook { flag, source } => write!(f, "{flag}: {source}"),
            CliError::NoSuchProcess { pid } => write!(
                f,
                "no process with pid {pid}; check the pid (`pgrep NAME`), or start the command \
                 under the monitor with `-- CMD ARGS…`"
            ),
            CliError::Watch { pid, source } => {
                write!(f, "cannot watch pid {pid}: {source}")?;
                if source.kind() == io::ErrorKind::PermissionDenied {
                    f.write_str("; run the monitor as the process's user (or root)")?;
                }
                Ok(())
            }
            CliError::Listen { addr, source } => write!(
                f,
                "cannot listen on {addr}: {source}; choose another --port (0 picks a free one)"
            ),
            CliError::NoCases { families } => write!(
                f,
                "this build has no simulated case of {families}: the task family needs \
                 leakcheck's `tokio` feature"
            ),
            CliError::NoSuchCase { name } => write!(
                f,
                "no simulated case is called `{name}`: this hidden command checks the cases \
                 that `cargo leakcheck simulate` names"
            ),
            CliError::CurrentExe(source) => write!(
                f,
                "cannot find this executable to run the simulated cases: {source}"
            ),
            CliError::Encode { what, source } => write!(f, "cannot encode {what}: {source}"),
            CliError::Profile { path, source } => write!(f, "{}: {source}", shown(path)),
            CliError::SampleType {
                path,
                asked: Some(asked),
                available,
            } if !available.is_empty() => write!(
                f,
                "{} has no sample type `{asked}`; it has {}: give one of them with --sample-type",
                shown(path),
                available.join(", ")
            ),
            CliError::SampleType { path, .. } => write!(
                f,
                "{} has no sample types, so there is nothing to rank; give a profile that \
                 has values, e.g. a heap profile from /debug/pprof/heap",
                shown(path)
            ),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Read { source, .. }
            | CliError::CreateDir { source, .. }
            | CliError::Write { source, .. }
            | CliError::Spawn { source, .. }
            | CliError::Wait { source, .. }
            | CliError::Watch { source, .. }
            | CliError::Listen { source, .. }
            | CliError::CurrentExe(source) => Some(source),
            CliError::Encode { source, .. } => Some(source),
            CliError::Profile { source, .. } => Some(source),
            CliError::Webhook { source, .. } => Some(source),
            CliError::Record(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ReadError> for CliError {
    fn from(e: ReadError) -> Self {
        CliError::Record(e)
    }
}

/// A command-line value clap refuses (it prints "invalid value '…' for '--flag': MESSAGE").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadValue {
    /// The value as given.
    pub value: String,
    /// What is wrong with it and what to write instead: the rest of the sentence after the
    /// value.
    pub problem: String,
}

impl BadValue {
    /// `value` refused because it `problem` (e.g. "has no unit: write it as 2s").
    pub fn new(value: &str, problem: impl Into<String>) -> BadValue {
        BadValue {
            value: value.to_owned(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.value, self.problem)
    }
}

impl std::error::Error for BadValue {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::path::Path;

    #[test]
    fn the_cause_is_kept_and_a_hint_given_only_when_it_applies() {
        let missing = CliError::Spawn {
            program: "cargo".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(missing.to_string().ends_with("on PATH"), "{missing}");
        assert!(missing.source().is_some());
        let denied = CliError::Spawn {
            program: "cargo".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert!(!denied.to_string().contains("PATH"), "{denied}");

        // A record error keeps its own chain: the report, then what reading it hit.
        let read = leakcheck::record::read_report(Path::new("/nonexistent/dir/report.json"));
        let record = CliError::from(read.unwrap_err());
        assert!(
            record
                .to_string()
                .starts_with("/nonexistent/dir/report.json: no such file"),
            "{record}"
        );
        assert!(record.source().is_some());

        let page = CliError::Write {
            path: "/ro/trend.html".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
            hint: Some("choose another file with --out"),
        };
        let text = page.to_string();
        assert!(text.starts_with("cannot write /ro/trend.html: "), "{text}");
        assert!(text.ends_with("; choose another file with --out"), "{text}");
    }

    #[test]
    fn baseline_names_say_which_rule_they_break() {
        let name = |name: &str, rule| CliError::BaselineName {
            name: name.into(),
            rule,
        };
        assert!(name("v1.json", NameRule::NoJsonSuffix)
            .to_string()
            .ends_with("e.g. `v1`"));
        assert!(name(".x", NameRule::NoLeadingDot)
            .to_string()
            .contains("must not start with `.`"));
    }
}
