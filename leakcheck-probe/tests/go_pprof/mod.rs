//! `go tool pprof`, the real pprof client, for the tests that check our profiles with it
//! (this crate's `pprof_readers.rs`, the monitor's `heap_profile.rs`). Go is required (Debian
//! golang-go; `.ci/run` installs it): a missing tool fails the test rather than skip it.

use std::path::Path;
use std::process::Command;

/// `go tool pprof ARGS` with Go's caches and home in `dir`, offline.
pub(crate) fn pprof(dir: &Path, args: &[&str]) -> String {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let output = Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .current_dir(dir)
        .env("HOME", &home)
        .env("GOPATH", home.join("go"))
        .env("GOCACHE", home.join("cache"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("PPROF_TMPDIR", dir)
        .output()
        .expect("go is installed (Debian golang-go; .ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "go tool pprof {args:?}:\n{text}");
    text
}

/// The rows of `go tool pprof -top`: (flat, cum, function).
pub(crate) fn top_rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() >= 6).then(|| (cols[0].to_owned(), cols[3].to_owned(), cols[5..].join(" ")))
        })
        .collect()
}
