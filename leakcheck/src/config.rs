//! Settings of a check: defaults, `#[leak_test(...)]` options and `LEAKCHECK_*` overrides.
//!
//! Precedence, most specific first: an option written on the test, then the environment, then
//! the default. A malformed environment value is an error that names the variable, never ignored.

use std::fmt;
use std::time::Duration;

/// Default measured iterations in the first round. With the default warmup this keeps a clean
/// test at 10 body runs.
pub const DEFAULT_ITERATIONS: usize = 8;
/// Default warmup iterations: the first call initialises lazy statics and pools, the second
/// catches state that is created on the second use (caches keyed by call count, rehashes).
pub const DEFAULT_WARMUP: usize = 2;
/// By default a run may extend to this many times `iterations` to confirm heap growth.
pub const DEFAULT_MAX_FACTOR: usize = 8;
/// Default bound on the wait for exiting threads and closing fds after each iteration.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(250);
/// Default time limit of an isolated test's child process.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The environment variables read by [`Config::resolve`].
pub mod env {
    /// Measured iterations in the first round.
    pub const ITERATIONS: &str = "LEAKCHECK_ITERATIONS";
    /// Warmup iterations (run, not judged).
    pub const WARMUP: &str = "LEAKCHECK_WARMUP";
    /// Most measured iterations when confirming growth.
    pub const MAX_ITERATIONS: &str = "LEAKCHECK_MAX_ITERATIONS";
    /// Settle bound in milliseconds.
    pub const SETTLE_MS: &str = "LEAKCHECK_SETTLE_MS";
    /// Time limit of an isolated test, in seconds.
    pub const TIMEOUT: &str = "LEAKCHECK_TIMEOUT";
    /// `0`/`false` runs leak tests in the test's own process instead of a child process.
    pub const ISOLATE: &str = "LEAKCHECK_ISOLATE";
    /// `0`/`false` skips the traced iterations that find where a suspected leak was allocated.
    pub const ATTRIBUTE: &str = "LEAKCHECK_ATTRIBUTE";
    /// Where records, `report.json` and `junit.xml` go (default `<target-dir>/leakcheck`).
    pub const DIR: &str = "LEAKCHECK_DIR";
    /// The run a test belongs to; set by `cargo leakcheck test` (see the README's "What a run is").
    pub const RUN_ID: &str = "LEAKCHECK_RUN_ID";
    /// The commit under test, when neither the CI's variables nor `git` can tell.
    pub const COMMIT: &str = "LEAKCHECK_COMMIT";
}

/// Options as written in `#[leak_test(...)]`; `None` means "not written".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `iterations = N`
    pub iterations: Option<usize>,
    /// `warmup = N`
    pub warmup: Option<usize>,
    /// `max_iterations = N`
    pub max_iterations: Option<usize>,
    /// `settle_ms = N`
    pub settle_ms: Option<u64>,
    /// `timeout = SECONDS`
    pub timeout_secs: Option<u64>,
    /// `isolate = BOOL`
    pub isolate: Option<bool>,
    /// `attribute = BOOL`
    pub attribute: Option<bool>,
    /// `max_allocs_per_iter = N`
    pub max_allocs_per_iter: Option<u64>,
    /// `max_bytes_per_iter = N`
    pub max_bytes_per_iter: Option<u64>,
}

impl Options {
    /// No option written.
    pub const NONE: Options = Options {
        iterations: None,
        warmup: None,
        max_iterations: None,
        settle_ms: None,
        timeout_secs: None,
        isolate: None,
        attribute: None,
        max_allocs_per_iter: None,
        max_bytes_per_iter: None,
    };
}

/// Fully resolved settings of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Measured iterations in the first round.
    pub iterations: usize,
    /// Iterations run before the baseline snapshot and not judged.
    pub warmup: usize,
    /// Most measured iterations the run extends to while confirming growth.
    pub max_iterations: usize,
    /// Bound on the wait for exiting threads and closing fds after each iteration.
    pub settle: Duration,
    /// Time limit of an isolated test's child process.
    pub timeout: Duration,
    /// Run each `#[leak_test]` in a child process (ignored by the function API).
    pub isolate: bool,
    /// After a suspected leak, run traced iterations to find where it was allocated.
    pub attribute: bool,
    /// Fail when the body makes more allocations than this per measured iteration (mean).
    pub max_allocs_per_iter: Option<u64>,
    /// Fail when the body allocates more bytes than this per measured iteration (mean).
    pub max_bytes_per_iter: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            iterations: DEFAULT_ITERATIONS,
            warmup: DEFAULT_WARMUP,
            max_iterations: DEFAULT_ITERATIONS * DEFAULT_MAX_FACTOR,
            settle: DEFAULT_SETTLE,
            timeout: DEFAULT_TIMEOUT,
            isolate: true,
            attribute: true,
            max_allocs_per_iter: None,
            max_bytes_per_iter: None,
        }
    }
}

/// A setting that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leakcheck: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Resolves `options` over the process environment and the defaults.
    pub fn from_options(options: &Options) -> Result<Config, ConfigError> {
        Self::resolve(options, |name| std::env::var(name).ok())
    }

    /// Resolves `options` over `env` (a lookup of environment variables) and the defaults.
    pub fn resolve(
        options: &Options,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let number = |name: &str| -> Result<Option<u64>, ConfigError> {
            env(name)
                .map(|raw| {
                    raw.trim().parse::<u64>().map_err(|_| {
                        ConfigError(format!(
                            "{name}={raw:?} is not a whole number; unset it or give e.g. {name}=10"
                        ))
                    })
                })
                .transpose()
        };
        let flag = |name: &str| -> Result<Option<bool>, ConfigError> {
            env(name)
                .map(|raw| match raw.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(ConfigError(format!(
                        "{name}={raw:?} is not a boolean; use 1/true or 0/false"
                    ))),
                })
                .transpose()
        };
        let usize_of = |v: Option<u64>| v.map(|v| usize::try_from(v).unwrap_or(usize::MAX));

        let iterations = options
            .iterations
            .or(usize_of(number(env::ITERATIONS)?))
            .unwrap_or(DEFAULT_ITERATIONS);
        let warmup = options
            .warmup
            .or(usize_of(number(env::WARMUP)?))
            .unwrap_or(DEFAULT_WARMUP);
        let max_iterations = options
            .max_iterations
            .or(usize_of(number(env::MAX_ITERATIONS)?))
            .unwrap_or(iterations.saturating_mul(DEFAULT_MAX_FACTOR));
        let settle = options
            .settle_ms
            .or(number(env::SETTLE_MS)?)
            .map_or(DEFAULT_SETTLE, Duration::from_millis);
        let timeout = options
            .timeout_secs
            .or(number(env::TIMEOUT)?)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let isolate = options.isolate.or(flag(env::ISOLATE)?).unwrap_or(true);
        let attribute = options.attribute.or(flag(env::ATTRIBUTE)?).unwrap_or(true);

        let config = Config {
            iterations,
            warmup,
            max_iterations,
            settle,
            timeout,
            isolate,
            attribute,
            // Budgets are about one test's body; a process-wide override would make no sense.
            max_allocs_per_iter: options.max_allocs_per_iter,
            max_bytes_per_iter: options.max_bytes_per_iter,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings make a run possible.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.iterations < 2 {
            return Err(ConfigError(format!(
                "iterations = {} is too few: the first round compares two halves, so it needs at least 2",
                self.iterations
            )));
        }
        if self.max_iterations < self.iterations {
            return Err(ConfigError(format!(
                "max_iterations = {} is below iterations = {}; raise it or leave it unset (default: {}× iterations)",
                self.max_iterations, self.iterations, DEFAULT_MAX_FACTOR
            )));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError(
                "timeout = 0 would kill every test; give seconds > 0".into(),
            ));
        }
        Ok(())
    }
}

/// An environment lookup over fixed pairs, for tests of code that reads the environment.
#[cfg(test)]
pub(crate) fn env_of(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = Config::resolve(&Options::NONE, env_of(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.max_iterations, 64);
    }

    #[test]
    fn options_beat_environment_which_beats_defaults() {
        let env = env_of(&[
            ("LEAKCHECK_ITERATIONS", "12"),
            ("LEAKCHECK_WARMUP", "5"),
            ("LEAKCHECK_ISOLATE", "false"),
            ("LEAKCHECK_TIMEOUT", "7"),
        ]);
        let c = Config::resolve(&Options::NONE, &env).unwrap();
        assert_eq!((c.iterations, c.warmup, c.max_iterations), (12, 5, 96));
        assert!(!c.isolate);
        assert_eq!(c.timeout, Duration::from_secs(7));
        let written = Options {
            iterations: Some(4),
            isolate: Some(true),
            ..Options::NONE
        };
        let c = Config::resolve(&written, &env).unwrap();
        assert_eq!((c.iterations, c.warmup, c.max_iterations), (4, 5, 32));
        assert!(c.isolate);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err =
            Config::resolve(&Options::NONE, env_of(&[("LEAKCHECK_WARMUP", "lots")])).unwrap_err();
        assert!(err.0.contains("LEAKCHECK_WARMUP=\"lots\""), "{err}");
        let err =
            Config::resolve(&Options::NONE, env_of(&[("LEAKCHECK_ISOLATE", "maybe")])).unwrap_err();
        assert!(err.0.contains("LEAKCHECK_ISOLATE"), "{err}");
        let few = Options {
            iterations: Some(1),
            ..Options::NONE
        };
        assert!(Config::resolve(&few, env_of(&[])).is_err());
        let below = Options {
            iterations: Some(10),
            max_iterations: Some(5),
            ..Options::NONE
        };
        let err = Config::resolve(&below, env_of(&[])).unwrap_err();
        assert!(err.0.contains("max_iterations = 5"), "{err}");
    }
}
