//! A setting that cannot be used: which one, where it was written (the variable, the file) and
//! what to write instead.

use super::{env, DEFAULT_MAX_FACTOR};
use std::fmt;
use std::path::PathBuf;

/// A setting that cannot be used. Each variant names where the setting was written; the message
/// says what to write instead.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds a value that cannot be used.
    Env {
        /// The variable, e.g. `LEAKCHECK_WARMUP`.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        expected: Expected,
    },
    /// The configuration file cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML, has an unknown key or a value of the wrong type.
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML reader said (it names the key and the line).
        source: Box<toml::de::Error>,
    },
    /// A key of the configuration file holds a value that is not one of its choices.
    FileValue {
        /// The file.
        path: PathBuf,
        /// The key, e.g. `suspicious`.
        key: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        expected: Expected,
    },
    /// `iterations` below 2: the first round compares two halves.
    TooFewIterations {
        /// The value.
        iterations: usize,
    },
    /// `max_iterations` below `iterations`.
    MaxBelowIterations {
        /// `max_iterations`.
        max_iterations: usize,
        /// `iterations`.
        iterations: usize,
    },
    /// `timeout = 0`, which would kill every test.
    ZeroTimeout,
    /// `worker_threads = 0`, which leaves no thread to run tasks.
    ZeroWorkerThreads,
    /// `runs` other than 1: only the single-run mode is chosen by a number of runs.
    UnsupportedRuns {
        /// The value.
        runs: usize,
    },
}

/// What a setting's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// A whole number, e.g. `10`.
    WholeNumber,
    /// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
    Boolean,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("leakcheck: ")?;
        match self {
            ConfigError::Env {
                name,
                value,
                expected,
            } => {
                write!(f, "{name}={value:?} ")?;
                match expected {
                    Expected::WholeNumber => {
                        write!(f, "is not a whole number; unset it or give e.g. {name}=10")
                    }
                    Expected::Boolean => f.write_str("is not a boolean; use 1/true or 0/false"),
                    Expected::OneOf(choices) => {
                        write!(f, "is not a choice; use {}", choices.join(" or "))
                    }
                }
            }
            ConfigError::Read { path, source } => write!(
                f,
                "cannot read the configuration file {}: {source} (fix it, or set {}=none)",
                path.display(),
                env::CONFIG
            ),
            ConfigError::Parse { path, source } => write!(
                f,
                "{} is not a valid leakcheck configuration: {}\n(fix the file, or set {}=none to \
                 run without it; the README's \"Options\" table lists every key)",
                path.display(),
                source.to_string().trim_end(),
                env::CONFIG
            ),
            ConfigError::FileValue {
                path,
                key,
                value,
                expected,
            } => {
                write!(f, "{}: {key} = {value:?} ", path.display())?;
                match expected {
                    Expected::OneOf(choices) => {
                        let quoted: Vec<String> =
                            choices.iter().map(|c| format!("{c:?}")).collect();
                        write!(f, "is not a choice; use {}", quoted.join(" or "))
                    }
                    Expected::WholeNumber => f.write_str("is not a whole number"),
                    Expected::Boolean => f.write_str("is not a boolean; use true or false"),
                }
            }
            ConfigError::TooFewIterations { iterations } => write!(
                f,
                "iterations = {iterations} is too few: the first round compares two halves, so \
                 it needs at least 2"
            ),
            ConfigError::MaxBelowIterations {
                max_iterations,
                iterations,
            } => write!(
                f,
                "max_iterations = {max_iterations} is below iterations = {iterations}; raise it \
                 or leave it unset (default: {DEFAULT_MAX_FACTOR}× iterations)"
            ),
            ConfigError::ZeroTimeout => {
                f.write_str("timeout = 0 would kill every test; give seconds > 0")
            }
            ConfigError::ZeroWorkerThreads => {
                f.write_str("worker_threads = 0 leaves no thread to run tasks; give 1 or more")
            }
            ConfigError::UnsupportedRuns { runs } => write!(
                f,
                "runs = {runs} is not supported: `runs = 1` runs the body once (for a test that \
                 cannot run twice); otherwise leave `runs` unset and set `warmup` and \
                 `iterations`"
            ),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Parse { source, .. } => Some(source),
            _ => None,
        }
    }
}
