//! Running the `cargo-leakcheck` binary the way cargo does, for the test files that check its
//! exit codes and messages (included with `mod cli;`).

#![allow(dead_code)] // each includer uses a part
#![allow(unreachable_pub)] // helpers of test binaries, which have no public API

use std::path::Path;
use std::process::{Command, Output};

/// The binary under test.
pub const CLI: &str = env!("CARGO_BIN_EXE_cargo-leakcheck");

/// Runs `cargo leakcheck ARGS` in `dir` with `envs`, and with none of the outer environment's
/// leakcheck or GitHub variables (the tests may themselves run in GitHub Actions).
pub fn cli(dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    Command::new(CLI)
        .arg("leakcheck")
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove(leakcheck::env::DIR)
        .envs(envs.iter().map(|&(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// The exit code and both streams, for failure messages.
pub fn shown(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Makes a fresh crate called `name` in `dir` (emptied first) with `lib` as its src/lib.rs: a
/// workspace of its own, so that cargo looks for none above it.
pub fn scratch_crate(dir: &Path, name: &str, lib: &str) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
}
