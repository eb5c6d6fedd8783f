//! Settings of a check: defaults, `#[leak_test(...)]` options and `LEAKCHECK_*` overrides.
//!
//! Precedence, most specific first: an option written on the test, then the environment, then
//! the workspace's `leakcheck.toml` ([`file`]), then the default. Suppression lists are the union
//! of all three. A malformed environment value or file is an error that names the variable or the
//! file, never ignored.

mod error;
pub(crate) mod file;

pub use error::{ConfigError, Expected};
pub use file::{ConfigFile, CONFIG_FILE_NAME};

use leakcheck_probe::Resource;
use std::path::Path;
use std::time::Duration;

/// Default measured iterations in the first round. With the default warmup this keeps a clean
/// test at 10 body runs.
pub(crate) const DEFAULT_ITERATIONS: usize = 8;
/// Default warmup iterations: the first call initialises lazy statics and pools, the second
/// catches state that is created on the second use (caches keyed by call count, rehashes).
pub(crate) const DEFAULT_WARMUP: usize = 2;
/// By default a run may extend to this many times `iterations` to confirm heap growth.
pub(crate) const DEFAULT_MAX_FACTOR: usize = 8;
/// Default bound on the wait for exiting threads and closing fds after each iteration.
pub(crate) const DEFAULT_SETTLE: Duration = Duration::from_millis(250);
/// Default time limit of an isolated test's child process.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

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
    /// `1`/`true` profiles every leak test: one more iteration after the verdicts, traced, whose
    /// allocations are counted by call site in the record.
    pub const PROFILE: &str = "LEAKCHECK_PROFILE";
    /// Where records, `report.json` and `junit.xml` go (default `<target-dir>/leakcheck`).
    pub const DIR: &str = "LEAKCHECK_DIR";
    /// The run a test belongs to; set by `cargo leakcheck test` (see the README's "What a run is").
    pub const RUN_ID: &str = "LEAKCHECK_RUN_ID";
    /// The commit under test, when neither the CI's variables nor `git` can tell.
    pub const COMMIT: &str = "LEAKCHECK_COMMIT";
    /// `0`/`false` stops judging live heap memory.
    pub const HEAP: &str = "LEAKCHECK_HEAP";
    /// `0`/`false` stops judging live threads.
    pub const THREADS: &str = "LEAKCHECK_THREADS";
    /// `0`/`false` stops judging open file descriptors.
    pub const FDS: &str = "LEAKCHECK_FDS";
    /// `0`/`false` stops judging live async tasks.
    pub const TASKS: &str = "LEAKCHECK_TASKS";
    /// `fail` makes a suspicious verdict fail the test (default `pass`).
    pub const SUSPICIOUS: &str = "LEAKCHECK_SUSPICIOUS";
    /// Comma-separated thread-name patterns whose leaks are suppressed, added to the others.
    pub const SUPPRESS_THREADS: &str = "LEAKCHECK_SUPPRESS_THREADS";
    /// Comma-separated fd-target patterns whose leaks are suppressed, added to the others.
    pub const SUPPRESS_FDS: &str = "LEAKCHECK_SUPPRESS_FDS";
    /// Comma-separated function patterns whose heap leaks are suppressed, added to the others.
    pub const SUPPRESS_HEAP: &str = "LEAKCHECK_SUPPRESS_HEAP";
    /// The configuration file to read instead of looking for `leakcheck.toml`; `none` reads none.
    pub const CONFIG: &str = "LEAKCHECK_CONFIG";
    /// `off` (or `0`, `false`, `no`) keeps no records: pass/fail only, nothing written.
    pub const RECORDS: &str = "LEAKCHECK_RECORDS";
}

/// What a suspicious verdict (growth that was not confirmed) does to a test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Suspicious {
    /// It is reported and the test passes (the default: a false positive costs as much as a miss).
    #[default]
    Pass,
    /// It fails the test (strict mode).
    Fail,
}

impl Suspicious {
    /// What a `suspicious` setting may be.
    const CHOICES: Expected = Expected::OneOf(&["pass", "fail"]);

    fn parse(raw: &str) -> Option<Suspicious> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "pass" => Some(Suspicious::Pass),
            "fail" => Some(Suspicious::Fail),
            _ => None,
        }
    }
}

/// Which async runtime an `async fn` leak test gets (like `#[tokio::test(flavor = ...)]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flavor {
    /// One thread drives every task (the default).
    #[default]
    CurrentThread,
    /// A pool of worker threads.
    MultiThread,
}

/// Patterns of leaks that are known and accepted; a match is still listed in the report, as
/// suppressed. `*` matches any run of characters, `?` one character. Also the `[suppress]`
/// table of `leakcheck.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Suppressions {
    /// Thread names.
    pub threads: Vec<String>,
    /// File descriptor targets: a path, `socket:[inode]`, or the socket's description
    /// (`tcp 127.0.0.1:8080 listening`).
    pub fds: Vec<String>,
    /// Functions in the stack of a leaked allocation, e.g. `regex::*` or `*::GLOBAL_CACHE`.
    pub heap: Vec<String>,
}

impl Suppressions {
    /// True when nothing is suppressed.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty() && self.fds.is_empty() && self.heap.is_empty()
    }

    /// The patterns that suppress leaks of `resource` (none for tasks: a task has no name).
    pub fn patterns(&self, resource: Resource) -> &[String] {
        match resource {
            Resource::Heap => &self.heap,
            Resource::Threads => &self.threads,
            Resource::Fds => &self.fds,
            _ => &[],
        }
    }

    fn extend(&mut self, other: Suppressions) {
        for (mine, theirs) in [
            (&mut self.threads, other.threads),
            (&mut self.fds, other.fds),
            (&mut self.heap, other.heap),
        ] {
            for pattern in theirs {
                if !mine.contains(&pattern) {
                    mine.push(pattern);
                }
            }
        }
    }
}

/// Options as written in `#[leak_test(...)]`; `None` means "not written".
///
/// Built with [`Options::new`] and one method per option, named after it (`timeout` is
/// [`timeout_secs`](Options::timeout_secs)); new options may be added in any release.
///
/// ```
/// let options = leakcheck::Options::new().iterations(16).warmup(4).suppress_threads(&["pool-*"]);
/// assert_eq!(options.iterations, Some(16));
/// let check = leakcheck::Check::with_options(options);
/// # drop(check);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// `profile = BOOL`
    pub profile: Option<bool>,
    /// `max_allocs_per_iter = N`
    pub max_allocs_per_iter: Option<u64>,
    /// `max_bytes_per_iter = N`
    pub max_bytes_per_iter: Option<u64>,
    /// `heap = BOOL`
    pub heap: Option<bool>,
    /// `threads = BOOL`
    pub threads: Option<bool>,
    /// `fds = BOOL`
    pub fds: Option<bool>,
    /// `tasks = BOOL`
    pub tasks: Option<bool>,
    /// `suspicious = "pass" | "fail"`
    pub suspicious: Option<Suspicious>,
    /// `suppress_threads = ["pattern", ...]`
    pub suppress_threads: &'static [&'static str],
    /// `suppress_fds = ["pattern", ...]`
    pub suppress_fds: &'static [&'static str],
    /// `suppress_heap = ["pattern", ...]`
    pub suppress_heap: &'static [&'static str],
    /// `flavor = "current_thread" | "multi_thread"` (async tests)
    pub flavor: Option<Flavor>,
    /// `worker_threads = N` (async tests on the multi-thread runtime)
    pub worker_threads: Option<usize>,
    /// `runs = 1`: the single-run mode, for a body that cannot run twice
    pub runs: Option<usize>,
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
        profile: None,
        max_allocs_per_iter: None,
        max_bytes_per_iter: None,
        heap: None,
        threads: None,
        fds: None,
        tasks: None,
        suspicious: None,
        suppress_threads: &[],
        suppress_fds: &[],
        suppress_heap: &[],
        flavor: None,
        worker_threads: None,
        runs: None,
    };

    /// No option written: every setting comes from the environment, `leakcheck.toml` or the
    /// defaults.
    pub const fn new() -> Self {
        Self::NONE
    }

    /// Measured iterations in the first round.
    #[must_use]
    pub const fn iterations(mut self, value: usize) -> Self {
        self.iterations = Some(value);
        self
    }

    /// Iterations run before the baseline and not judged.
    #[must_use]
    pub const fn warmup(mut self, value: usize) -> Self {
        self.warmup = Some(value);
        self
    }

    /// Most measured iterations while confirming growth.
    #[must_use]
    pub const fn max_iterations(mut self, value: usize) -> Self {
        self.max_iterations = Some(value);
        self
    }

    /// Bound, in milliseconds, on the wait for exiting threads and closing fds after each iteration.
    #[must_use]
    pub const fn settle_ms(mut self, value: u64) -> Self {
        self.settle_ms = Some(value);
        self
    }

    /// Time limit of an isolated test, in seconds (`timeout = SECONDS`).
    #[must_use]
    pub const fn timeout_secs(mut self, value: u64) -> Self {
        self.timeout_secs = Some(value);
        self
    }

    /// Whether the test runs in a child process.
    #[must_use]
    pub const fn isolate(mut self, value: bool) -> Self {
        self.isolate = Some(value);
        self
    }

    /// Whether a suspected leak is traced to where it was allocated.
    #[must_use]
    pub const fn attribute(mut self, value: bool) -> Self {
        self.attribute = Some(value);
        self
    }

    /// Whether the test is profiled: one more iteration after the verdicts, traced, whose
    /// allocations are counted by call site.
    #[must_use]
    pub const fn profile(mut self, value: bool) -> Self {
        self.profile = Some(value);
        self
    }

    /// Most allocations per measured iteration (mean) before the test fails.
    #[must_use]
    pub const fn max_allocs_per_iter(mut self, value: u64) -> Self {
        self.max_allocs_per_iter = Some(value);
        self
    }

    /// Most bytes allocated per measured iteration (mean) before the test fails.
    #[must_use]
    pub const fn max_bytes_per_iter(mut self, value: u64) -> Self {
        self.max_bytes_per_iter = Some(value);
        self
    }

    /// Whether live heap memory is judged.
    #[must_use]
    pub const fn heap(mut self, value: bool) -> Self {
        self.heap = Some(value);
        self
    }

    /// Whether live threads are judged.
    #[must_use]
    pub const fn threads(mut self, value: bool) -> Self {
        self.threads = Some(value);
        self
    }

    /// Whether open file descriptors are judged.
    #[must_use]
    pub const fn fds(mut self, value: bool) -> Self {
        self.fds = Some(value);
        self
    }

    /// Whether live async tasks are judged.
    #[must_use]
    pub const fn tasks(mut self, value: bool) -> Self {
        self.tasks = Some(value);
        self
    }

    /// What a suspicious verdict does.
    #[must_use]
    pub const fn suspicious(mut self, value: Suspicious) -> Self {
        self.suspicious = Some(value);
        self
    }

    /// Thread-name patterns whose leaks are suppressed.
    #[must_use]
    pub const fn suppress_threads(mut self, value: &'static [&'static str]) -> Self {
        self.suppress_threads = value;
        self
    }

    /// Fd-target patterns whose leaks are suppressed.
    #[must_use]
    pub const fn suppress_fds(mut self, value: &'static [&'static str]) -> Self {
        self.suppress_fds = value;
        self
    }

    /// Function patterns whose heap leaks are suppressed.
    #[must_use]
    pub const fn suppress_heap(mut self, value: &'static [&'static str]) -> Self {
        self.suppress_heap = value;
        self
    }

    /// The async runtime's flavor (async tests).
    #[must_use]
    pub const fn flavor(mut self, value: Flavor) -> Self {
        self.flavor = Some(value);
        self
    }

    /// Worker threads of the multi-thread runtime (async tests).
    #[must_use]
    pub const fn worker_threads(mut self, value: usize) -> Self {
        self.worker_threads = Some(value);
        self
    }

    /// How many times the body runs: `1` is the single-run mode (the only value besides the
    /// default); see [`Config::single_run`].
    #[must_use]
    pub const fn runs(mut self, value: usize) -> Self {
        self.runs = Some(value);
        self
    }
}

/// Fully resolved settings of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// After the verdicts, run one traced iteration and count its allocations by call site.
    pub profile: bool,
    /// Fail when the body makes more allocations than this per measured iteration (mean).
    pub max_allocs_per_iter: Option<u64>,
    /// Fail when the body allocates more bytes than this per measured iteration (mean).
    pub max_bytes_per_iter: Option<u64>,
    /// Judge live heap memory.
    pub heap: bool,
    /// Judge live threads.
    pub threads: bool,
    /// Judge open file descriptors.
    pub fds: bool,
    /// Judge live async tasks (async tests only).
    pub tasks: bool,
    /// What a suspicious verdict does.
    pub suspicious: Suspicious,
    /// Known leaks that do not fail the test.
    pub suppress: Suppressions,
    /// The async runtime's flavor (async tests only).
    pub flavor: Flavor,
    /// Worker threads of the multi-thread runtime; `None`: tokio's default (one per core).
    pub worker_threads: Option<usize>,
    /// `runs = 1`: the body runs exactly once, between two snapshots, for a test that cannot
    /// run twice. Threads, fds and tasks it leaves behind are leaks; heap growth is suspicious at
    /// most, since one run cannot tell a leak from lazy initialisation.
    pub single_run: bool,
    /// Keep a record of the test and add it to `report.json` and `junit.xml` (run-wide: the
    /// environment or the file only).
    pub records: bool,
    /// The configuration file that was read, if any.
    pub file: Option<std::path::PathBuf>,
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
            profile: false,
            max_allocs_per_iter: None,
            max_bytes_per_iter: None,
            heap: true,
            threads: true,
            fds: true,
            tasks: true,
            suspicious: Suspicious::Pass,
            suppress: Suppressions::default(),
            flavor: Flavor::CurrentThread,
            worker_threads: None,
            single_run: false,
            records: true,
            file: None,
        }
    }
}

impl Config {
    /// Whether `resource` is judged (`heap = false`, ... switch one off). Tasks are judged only
    /// in async tests, whatever this says.
    pub fn judges(&self, resource: Resource) -> bool {
        match resource {
            Resource::Heap => self.heap,
            Resource::Threads => self.threads,
            Resource::Fds => self.fds,
            Resource::Tasks => self.tasks,
            _ => false,
        }
    }

    /// How many times a check runs the body at least: warmup and the first round, or once in
    /// the single-run mode.
    pub(crate) fn min_runs(&self) -> usize {
        if self.single_run {
            1
        } else {
            self.warmup + self.iterations
        }
    }

    /// Resolves `options` over the process environment, the `leakcheck.toml` found from the
    /// package being tested (`CARGO_MANIFEST_DIR`, else the current directory) and the defaults.
    pub fn from_options(options: &Options) -> Result<Config, ConfigError> {
        let start = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::current_dir().ok());
        Self::load(options, start.as_deref())
    }

    /// Resolves `options` over the process environment, the `leakcheck.toml` found from
    /// `manifest_dir` upwards (or named by `LEAKCHECK_CONFIG`) and the defaults.
    pub fn load(options: &Options, manifest_dir: Option<&Path>) -> Result<Config, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let file = ConfigFile::find(manifest_dir, env)?;
        Self::resolve_with(options, env, file.as_ref())
    }

    /// Resolves `options` over `env` (a lookup of environment variables) and the defaults,
    /// without a configuration file.
    pub fn resolve(
        options: &Options,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Self::resolve_with(options, env, None)
    }

    /// Resolves `options` over `env`, then `file`, then the defaults.
    pub fn resolve_with(
        options: &Options,
        env: impl Fn(&str) -> Option<String>,
        file: Option<&ConfigFile>,
    ) -> Result<Config, ConfigError> {
        let bad = |name: &'static str, value: String, expected: Expected| ConfigError::Env {
            name,
            value,
            expected,
        };
        let number = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            env(name)
                .map(|raw| {
                    raw.trim()
                        .parse::<u64>()
                        .map_err(|_| bad(name, raw, Expected::WholeNumber))
                })
                .transpose()
        };
        let flag = |name: &'static str| -> Result<Option<bool>, ConfigError> {
            env(name)
                .map(|raw| match raw.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(bad(name, raw, Expected::Boolean)),
                })
                .transpose()
        };
        let patterns = |name: &str| -> Vec<String> {
            env(name)
                .map(|raw| {
                    raw.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let usize_of = |v: Option<u64>| v.map(|v| usize::try_from(v).unwrap_or(usize::MAX));
        let f = file.cloned().unwrap_or_default();

        let iterations = options
            .iterations
            .or(usize_of(number(env::ITERATIONS)?))
            .or(f.iterations)
            .unwrap_or(DEFAULT_ITERATIONS);
        let warmup = options
            .warmup
            .or(usize_of(number(env::WARMUP)?))
            .or(f.warmup)
            .unwrap_or(DEFAULT_WARMUP);
        let max_iterations = options
            .max_iterations
            .or(usize_of(number(env::MAX_ITERATIONS)?))
            .or(f.max_iterations)
            .unwrap_or(iterations.saturating_mul(DEFAULT_MAX_FACTOR));
        let settle = options
            .settle_ms
            .or(number(env::SETTLE_MS)?)
            .or(f.settle_ms)
            .map_or(DEFAULT_SETTLE, Duration::from_millis);
        let timeout = options
            .timeout_secs
            .or(number(env::TIMEOUT)?)
            .or(f.timeout)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let switch = |written: Option<bool>, name: &'static str, in_file: Option<bool>| {
            Ok::<bool, ConfigError>(written.or(flag(name)?).or(in_file).unwrap_or(true))
        };
        let suspicious = match (options.suspicious, env(env::SUSPICIOUS)) {
            (Some(written), _) => written,
            (None, Some(raw)) => Suspicious::parse(&raw)
                .ok_or_else(|| bad(env::SUSPICIOUS, raw, Suspicious::CHOICES))?,
            (None, None) => f.suspicious()?.unwrap_or_default(),
        };
        let mut suppress = Suppressions {
            threads: options
                .suppress_threads
                .iter()
                .map(|p| p.to_string())
                .collect(),
            fds: options.suppress_fds.iter().map(|p| p.to_string()).collect(),
            heap: options
                .suppress_heap
                .iter()
                .map(|p| p.to_string())
                .collect(),
        };
        suppress.extend(Suppressions {
            threads: patterns(env::SUPPRESS_THREADS),
            fds: patterns(env::SUPPRESS_FDS),
            heap: patterns(env::SUPPRESS_HEAP),
        });
        suppress.extend(f.suppress.clone());

        let config = Config {
            iterations,
            warmup,
            max_iterations,
            settle,
            timeout,
            isolate: switch(options.isolate, env::ISOLATE, f.isolate)?,
            attribute: switch(options.attribute, env::ATTRIBUTE, f.attribute)?,
            profile: options
                .profile
                .or(flag(env::PROFILE)?)
                .or(f.profile)
                .unwrap_or(false),
            // Budgets are about one test's body; a process-wide override would make no sense.
            max_allocs_per_iter: options.max_allocs_per_iter,
            max_bytes_per_iter: options.max_bytes_per_iter,
            heap: switch(options.heap, env::HEAP, f.heap)?,
            threads: switch(options.threads, env::THREADS, f.threads)?,
            fds: switch(options.fds, env::FDS, f.fds)?,
            tasks: switch(options.tasks, env::TASKS, f.tasks)?,
            suspicious,
            suppress,
            // The runtime's shape is part of what the test exercises: written on the test only.
            flavor: options.flavor.unwrap_or_default(),
            worker_threads: options.worker_threads,
            // Whether a body can run twice is a property of that body: written on the test only.
            single_run: match options.runs {
                None => false,
                Some(1) => true,
                Some(runs) => return Err(ConfigError::UnsupportedRuns { runs }),
            },
            // Whether records are kept is about the run, not one test.
            records: switch(None, env::RECORDS, f.records)?,
            file: file.map(|f| f.path.clone()),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings make a run possible.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.iterations < 2 {
            return Err(ConfigError::TooFewIterations {
                iterations: self.iterations,
            });
        }
        if self.max_iterations < self.iterations {
            return Err(ConfigError::MaxBelowIterations {
                max_iterations: self.max_iterations,
                iterations: self.iterations,
            });
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.worker_threads == Some(0) {
            return Err(ConfigError::ZeroWorkerThreads);
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
        assert!(
            matches!(
                &err,
                ConfigError::Env { name: "LEAKCHECK_WARMUP", value, expected: Expected::WholeNumber }
                    if value == "lots"
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("LEAKCHECK_WARMUP=\"lots\""),
            "{err}"
        );
        let err =
            Config::resolve(&Options::NONE, env_of(&[("LEAKCHECK_ISOLATE", "maybe")])).unwrap_err();
        assert!(err.to_string().contains("LEAKCHECK_ISOLATE"), "{err}");
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
        assert!(err.to_string().contains("max_iterations = 5"), "{err}");
    }

    #[test]
    fn runs_one_is_the_single_run_mode_and_other_values_are_refused() {
        let c = Config::resolve(&Options::new().runs(1), env_of(&[])).unwrap();
        assert!(c.single_run);
        assert_eq!(c.min_runs(), 1);
        let c = Config::resolve(&Options::NONE, env_of(&[])).unwrap();
        assert!(!c.single_run);
        assert_eq!(c.min_runs(), 10);
        let err = Config::resolve(&Options::new().runs(3), env_of(&[])).unwrap_err();
        assert!(
            matches!(err, ConfigError::UnsupportedRuns { runs: 3 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("`runs = 1`"), "{err}");
    }
}
