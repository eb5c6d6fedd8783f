//! `leakcheck.toml`: workspace-wide defaults and suppressions, so that a known library leak or an
//! intentional cache is declared once rather than on every test.
//!
//! ```toml
//! # leakcheck.toml, next to the workspace's Cargo.toml
//! iterations = 12
//! suspicious = "fail"
//!
//! [suppress]
//! threads = ["tokio-runtime-worker"]   # thread names
//! fds = ["/var/log/*"]                # paths, socket:[inode] or "tcp 127.0.0.1:* listening"
//! heap = ["regex::*", "*::LOOKUP_TABLE*"] # functions in the leaked allocation's stack
//! ```
//!
//! The file is looked for in the tested package's directory and each directory above it; the
//! first one found is read. `LEAKCHECK_CONFIG=PATH` names one instead, `LEAKCHECK_CONFIG=none`
//! reads none.

use super::{env, ConfigError, Suppressions, Suspicious};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file name looked for.
pub const CONFIG_FILE_NAME: &str = "leakcheck.toml";

/// The settings a `leakcheck.toml` may hold; each is optional. Unknown keys are an error, so a
/// misspelt option cannot be silently ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConfigFile {
    /// Where the file was read from.
    #[serde(skip)]
    pub path: PathBuf,
    /// Measured iterations in the first round.
    pub iterations: Option<usize>,
    /// Warmup iterations.
    pub warmup: Option<usize>,
    /// Most measured iterations when confirming growth.
    pub max_iterations: Option<usize>,
    /// Settle bound in milliseconds.
    pub settle_ms: Option<u64>,
    /// Per-test time limit in seconds.
    pub timeout: Option<u64>,
    /// Run each leak test in a child process.
    pub isolate: Option<bool>,
    /// Keep records (`false`: pass/fail only).
    pub records: Option<bool>,
    /// Trace suspected leaks to where they were allocated.
    pub attribute: Option<bool>,
    /// Profile every leak test (one traced iteration after the verdicts).
    pub profile: Option<bool>,
    /// Judge live heap memory.
    pub heap: Option<bool>,
    /// Judge live threads.
    pub threads: Option<bool>,
    /// Judge open file descriptors.
    pub fds: Option<bool>,
    /// Judge live async tasks.
    pub tasks: Option<bool>,
    /// `"pass"` or `"fail"`.
    pub suspicious: Option<String>,
    /// Known leaks.
    #[serde(default)]
    pub suppress: Suppressions,
}

impl ConfigFile {
    /// Parses `text`, read from `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let mut file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        file.path = path.to_owned();
        file.suspicious()?;
        Ok(file)
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// The file named by `LEAKCHECK_CONFIG`, else the first `leakcheck.toml` in `start` or a
    /// directory above it.
    pub fn find(
        start: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ConfigFile>, ConfigError> {
        match env(env::CONFIG).as_deref().map(str::trim) {
            Some("" | "none") => return Ok(None),
            Some(path) => return Self::read(Path::new(path)).map(Some),
            None => {}
        }
        let Some(start) = start else { return Ok(None) };
        match start
            .ancestors()
            .map(|dir| dir.join(CONFIG_FILE_NAME))
            .find(|candidate| candidate.is_file())
        {
            Some(path) => Self::read(&path).map(Some),
            None => Ok(None),
        }
    }

    /// The `suspicious` setting, checked.
    pub(crate) fn suspicious(&self) -> Result<Option<Suspicious>, ConfigError> {
        self.suspicious
            .as_deref()
            .map(|raw| {
                Suspicious::parse(raw).ok_or_else(|| ConfigError::FileValue {
                    path: self.path.clone(),
                    key: "suspicious",
                    value: raw.to_owned(),
                    expected: Suspicious::CHOICES,
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{env_of, Config, Options};

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(Path::new("/ws/leakcheck.toml"), text)
    }

    #[test]
    fn profile_is_off_unless_the_file_the_environment_or_the_test_turns_it_on() {
        let on = parse("profile = true\n").unwrap();
        fn resolve(
            written: Option<bool>,
            env: &'static [(&'static str, &'static str)],
            file: Option<&ConfigFile>,
        ) -> bool {
            let options = Options {
                profile: written,
                ..Options::NONE
            };
            Config::resolve_with(&options, env_of(env), file)
                .unwrap()
                .profile
        }
        assert!(!resolve(None, &[], None));
        assert!(resolve(None, &[], Some(&on)));
        assert!(!resolve(None, &[("LEAKCHECK_PROFILE", "0")], Some(&on)));
        assert!(resolve(None, &[("LEAKCHECK_PROFILE", "1")], None));
        assert!(resolve(Some(true), &[("LEAKCHECK_PROFILE", "0")], None));
        assert!(!resolve(
            Some(false),
            &[("LEAKCHECK_PROFILE", "1")],
            Some(&on)
        ));
    }

    #[test]
    fn a_file_sets_defaults_below_the_environment_and_the_test() {
        let file = parse(
            "iterations = 12\nsuspicious = \"fail\"\nthreads = false\n\
             [suppress]\nthreads = [\"pool-*\"]\nheap = [\"regex::*\"]\n",
        )
        .unwrap();
        let c = Config::resolve_with(&Options::NONE, env_of(&[]), Some(&file)).unwrap();
        assert_eq!(c.iterations, 12);
        assert_eq!(c.suspicious, Suspicious::Fail);
        assert!(!c.threads && c.heap && c.fds);
        assert_eq!(c.suppress.threads, ["pool-*"]);
        assert_eq!(c.file.as_deref(), Some(Path::new("/ws/leakcheck.toml")));

        let env = env_of(&[
            ("LEAKCHECK_ITERATIONS", "6"),
            ("LEAKCHECK_SUSPICIOUS", "pass"),
            ("LEAKCHECK_SUPPRESS_THREADS", "io-*, ,timer"),
        ]);
        let written = Options {
            threads: Some(true),
            suppress_threads: &["mine"],
            ..Options::NONE
        };
        let c = Config::resolve_with(&written, env, Some(&file)).unwrap();
        assert_eq!(c.iterations, 6);
        assert_eq!(c.suspicious, Suspicious::Pass);
        assert!(c.threads);
        // Lists are the union, the test's own first.
        assert_eq!(c.suppress.threads, ["mine", "io-*", "timer", "pool-*"]);
        assert_eq!(c.suppress.heap, ["regex::*"]);
    }

    #[test]
    fn records_are_switched_off_by_the_file_or_the_environment() {
        let none = Config::resolve_with(&Options::NONE, env_of(&[]), None).unwrap();
        assert!(none.records);
        let file = parse("records = false\n").unwrap();
        let c = Config::resolve_with(&Options::NONE, env_of(&[]), Some(&file)).unwrap();
        assert!(!c.records);
        let on = env_of(&[("LEAKCHECK_RECORDS", "on")]);
        assert!(
            Config::resolve_with(&Options::NONE, on, Some(&file))
                .unwrap()
                .records
        );
        let off = env_of(&[("LEAKCHECK_RECORDS", "off")]);
        assert!(
            !Config::resolve_with(&Options::NONE, off, None)
                .unwrap()
                .records
        );
        let bad = env_of(&[("LEAKCHECK_RECORDS", "sometimes")]);
        let err = Config::resolve_with(&Options::NONE, bad, None).unwrap_err();
        assert!(err.to_string().contains("LEAKCHECK_RECORDS"), "{err}");
    }

    #[test]
    fn bad_files_are_errors_that_name_the_file_and_the_key() {
        let err = parse("iteration = 3\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::Parse { path, .. } if path == Path::new("/ws/leakcheck.toml")),
            "{err:?}"
        );
        // The TOML reader's own error is the cause.
        assert!(std::error::Error::source(&err).is_some(), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("/ws/leakcheck.toml"), "{err}");
        assert!(message.contains("iteration"), "{err}");
        assert!(message.contains("LEAKCHECK_CONFIG=none"), "{err}");
        let err = parse("iterations = \"many\"\n").unwrap_err();
        assert!(err.to_string().contains("iterations"), "{err}");
        let err = parse("[suppress]\nthread = [\"x\"]\n").unwrap_err();
        assert!(err.to_string().contains("thread"), "{err}");
        let err = parse("suspicious = \"maybe\"\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("/ws/leakcheck.toml: suspicious = \"maybe\" is not a choice; use \"pass\" or \"fail\""),
            "{err}"
        );
        let err = parse("iterations = [\n").unwrap_err();
        assert!(err.to_string().contains("/ws/leakcheck.toml"), "{err}");
    }

    #[test]
    fn the_nearest_file_above_the_package_is_found_and_the_variable_overrides_it() {
        let root = std::env::temp_dir().join(format!("leakcheck-config-{}", std::process::id()));
        let package = root.join("crates/app");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(root.join(CONFIG_FILE_NAME), "warmup = 5\n").unwrap();
        let found = ConfigFile::find(Some(&package), env_of(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(found.warmup, Some(5));
        assert_eq!(found.path, root.join(CONFIG_FILE_NAME));
        assert!(
            ConfigFile::find(Some(&package), env_of(&[("LEAKCHECK_CONFIG", "none")]))
                .unwrap()
                .is_none()
        );
        let missing = ConfigFile::find(
            Some(&package),
            env_of(&[("LEAKCHECK_CONFIG", "/nonexistent/leakcheck.toml")]),
        )
        .unwrap_err();
        assert!(
            matches!(&missing, ConfigError::Read { path, source }
                if path == Path::new("/nonexistent/leakcheck.toml")
                    && source.kind() == std::io::ErrorKind::NotFound),
            "{missing:?}"
        );
        assert!(
            missing.to_string().contains("/nonexistent/leakcheck.toml"),
            "{missing}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
