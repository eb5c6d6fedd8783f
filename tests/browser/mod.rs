//! Headless Chromium and other system tools for the tests that render pages or check files with
//! them (`cargo-leakcheck/tests/html.rs`, `tests/monitor_http.rs`, included with `#[path]`).
//! A missing tool is a failure, not a skip: CI installs them, and a silently skipped check proves
//! nothing.

#![allow(dead_code)] // each includer uses a part
#![allow(unreachable_pub)] // helpers of test binaries, which have no public API

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `/usr/bin/NAME` (Debian's packages), or `NAME` on PATH; panics with `missing` otherwise.
pub fn tool(name: &str, missing: &str) -> PathBuf {
    let fixed = Path::new("/usr/bin").join(name);
    if fixed.is_file() {
        return fixed;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{missing}"))
}

/// Chromium, or a failure that says how to install it.
pub fn chromium() -> PathBuf {
    tool(
        "chromium",
        "this test renders a page in a headless browser, and no Chromium was found at \
         /usr/bin/chromium or on PATH: install Debian's `chromium` package \
         (`sudo apt-get install chromium`), as `.ci/run` does",
    )
}

/// Runs headless Chromium on `url` with `extra` arguments, in a fresh profile under `dir`, and
/// returns what it printed on stdout. It runs in its own process group; when it takes longer than
/// a minute it is killed with everything it started, and the test fails with its stderr.
pub fn headless(url: &str, extra: &[&str], dir: &Path, name: &str) -> String {
    use std::os::unix::process::CommandExt as _;
    let profile = dir.join(format!("{name}-profile"));
    std::fs::create_dir_all(&profile).unwrap();
    let stdout_file = dir.join(format!("{name}.stdout"));
    let stderr_file = dir.join(format!("{name}.stderr"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            // Without these, Chromium's own connections are refused by a closed network.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        // Files, not pipes: a large DOM would fill a pipe nobody reads while we wait.
        .stdout(Stdio::from(std::fs::File::create(&stdout_file).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr_file).unwrap()))
        .stdin(Stdio::null())
        // Its own process group, so a timeout can end the renderer and GPU helpers as well.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromium: {e}"));
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {limit:?}; its stderr:\n{}",
                std::fs::read_to_string(&stderr_file).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Helpers that outlive the browser would hold the profile directory; end them.
    kill_group(child.id());
    let _ = std::fs::remove_dir_all(&profile);
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    std::fs::read_to_string(&stdout_file).unwrap()
}

/// Sends SIGKILL to the process group `pgid` (a chromium started in its own group).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}
