//! Where things are: the workspace, its leakcheck output directory, saved baselines, and the
//! report a command-line argument names.

use crate::CliError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cargo workspace around the current directory.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The workspace root (where `Cargo.lock` is).
    pub root: PathBuf,
    /// The target directory (honours `CARGO_TARGET_DIR` and `build.target-dir`).
    pub target_dir: PathBuf,
}

impl Workspace {
    /// Asks `cargo metadata` about the workspace around the current directory.
    pub fn current() -> Result<Workspace, CliError> {
        let meta = cargo_metadata()?;
        let path = |key: &str| {
            meta.get(key)
                .and_then(|v| v.as_str())
                .map(PathBuf::from)
                .ok_or_else(|| CliError::Metadata {
                    problem: format!("no `{key}`"),
                })
        };
        Ok(Workspace {
            root: path("workspace_root")?,
            target_dir: path("target_directory")?,
        })
    }

    /// Where the leak tests write their records: `LEAKCHECK_DIR`, or `<target-dir>/leakcheck`.
    pub fn output_dir(&self) -> PathBuf {
        output_dir_override().unwrap_or_else(|| self.target_dir.join("leakcheck"))
    }

    /// Where `cargo leakcheck baseline save` keeps baselines: `.leakcheck/baselines/` in the
    /// workspace root, a folder meant to be committed.
    pub fn baselines_dir(&self) -> PathBuf {
        self.root.join(".leakcheck").join("baselines")
    }
}

/// `cargo metadata --no-deps` of the workspace around the current directory, as JSON.
pub fn cargo_metadata() -> Result<serde_json::Value, CliError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|source| CliError::Spawn {
            program: "cargo metadata".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(CliError::NotInWorkspace {
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    serde_json::from_slice(&out.stdout).map_err(|e| CliError::Metadata {
        problem: format!("not JSON: {e}"),
    })
}

/// `LEAKCHECK_DIR` as an absolute path, when set. Tests run in their package's directory, so a
/// relative value is anchored here, where the user typed it.
pub fn output_dir_override() -> Option<PathBuf> {
    let dir = std::env::var_os(leakcheck::env::DIR).filter(|d| !d.is_empty())?;
    Some(absolute(Path::new(&dir)))
}

/// `path` made absolute against the current directory.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_owned())
    }
}

/// The report file an argument names: a path to a file, or the name of a saved baseline.
pub fn report_file(spec: &str) -> Result<PathBuf, CliError> {
    let path = Path::new(spec);
    if path.is_file() {
        return Ok(path.to_owned());
    }
    let looks_like_path = spec.contains('/') || spec.contains('\\') || spec.ends_with(".json");
    if !looks_like_path {
        if let Ok(ws) = Workspace::current() {
            let saved = ws.baselines_dir().join(format!("{spec}.json"));
            if saved.is_file() {
                return Ok(saved);
            }
            return Err(CliError::NoReport {
                spec: spec.to_owned(),
                baseline: Some(saved),
            });
        }
    }
    Err(CliError::NoReport {
        spec: spec.to_owned(),
        baseline: None,
    })
}
