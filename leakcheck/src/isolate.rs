//! One process per leak test, so that tests running in parallel in the same binary cannot be
//! blamed for each other's allocations, threads or file descriptors.
//!
//! Under `cargo nextest` (`NEXTEST_EXECUTION_MODE=process-per-test`) the test already has its
//! process and runs in place. Under plain `cargo test` the parent test re-executes its own binary
//! for exactly this test (`--exact NAME --include-ignored --nocapture --test-threads=1`) with
//! [`CHILD_ENV`] set, relays the child's output through `print!`/`eprint!` so that libtest
//! captures it as usual, and reads the child's result from a file named by [`RESULT_ENV`].
//! The relay (`relay`) is bounded in memory whatever the child prints (pieces of at most 64 KiB,
//! the first MiB forwarded, the last 4 KiB kept for a failure message).
//! A test in place has no parent to enforce its time limit: see `watchdog`.

use crate::report::{Report, TestId};
use relay::{Relay, Stream};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod relay;

/// Set in a child process to the name of the one test it runs.
pub(crate) const CHILD_ENV: &str = "LEAKCHECK_CHILD";
/// Set in a child process to the file it writes its [`ChildResult`] to.
pub(crate) const RESULT_ENV: &str = "LEAKCHECK_RESULT";

/// Where a leak test runs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// In this process: under nextest's process-per-test, or with isolation off.
    InPlace,
    /// This process is the child started for this test; write the result to the path.
    Child(PathBuf),
    /// Start a child process for the test.
    Parent,
}

/// Decides where `test` runs, from the environment and the `isolate` setting.
pub(crate) fn placement(
    test: &TestId,
    isolate: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Placement {
    if env(CHILD_ENV).as_deref() == Some(test.name.as_str()) {
        if let Some(path) = env(RESULT_ENV) {
            return Placement::Child(PathBuf::from(path));
        }
    }
    let nextest_process = env("NEXTEST_EXECUTION_MODE").as_deref() == Some("process-per-test");
    if !isolate || nextest_process {
        Placement::InPlace
    } else {
        Placement::Parent
    }
}

/// What a child process hands back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum ChildResult {
    /// The test has started: written before the body first runs and replaced by the final
    /// result, so that a child that ends in between (`process::exit(0)` in the body) is told
    /// apart from one where libtest found no test to run.
    Started,
    /// The run finished and produced a report.
    Completed {
        /// The report.
        report: Box<Report>,
    },
    /// The test body panicked.
    Panicked {
        /// The panic message.
        message: String,
        /// Which call of the body panicked, from 1.
        run: usize,
    },
    /// The test body returned an error.
    Failed {
        /// The error, formatted with `{:?}`.
        message: String,
        /// Which call of the body failed, from 1.
        run: usize,
    },
}

/// Writes the child's result where the parent will look for it.
pub(crate) fn write_result(path: &Path, result: &ChildResult) -> io::Result<()> {
    let json = crate::json::to_vec(result).map_err(io::Error::other)?;
    std::fs::write(path, json)
}

/// How the child process ended, as seen by the parent.
#[derive(Debug)]
pub(crate) enum ChildEnd {
    /// It wrote a result.
    Reported(ChildResult),
    /// It ran past the time limit and was killed.
    TimedOut { limit: Duration, output: String },
    /// It ended without writing a final result; `started` tells whether the test had begun.
    Vanished {
        status: ExitStatus,
        started: bool,
        output: String,
    },
    /// It wrote something that is not a result.
    BadResult { error: String, output: String },
}

/// Runs `test` in a child process of this test binary and waits (at most `timeout`) for it.
pub(crate) fn run_child(test: &TestId, timeout: Duration) -> io::Result<ChildEnd> {
    let result_path = result_path(&test.name);
    let _cleanup = RemoveOnDrop(result_path.clone());
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            test.name.as_str(),
            "--exact",
            "--include-ignored",
            // Not libtest's capture: in the child it keeps the output in a `Vec` on the
            // counted heap, where a chatty body that leaks nothing grows like a leak.
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &test.name)
        .env(RESULT_ENV, &result_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;

    // Bounded: a child that prints faster than the relay forwards is held back by the full
    // pipe, never buffered here.
    let (tx, rx) = mpsc::sync_channel(relay::PIECES_IN_FLIGHT);
    if let Some(pipe) = &child.stdout {
        relay::enlarge_pipe(pipe);
    }
    if let Some(pipe) = &child.stderr {
        relay::enlarge_pipe(pipe);
    }
    let readers = [
        relay::spawn_reader(child.stdout.take(), Stream::Out, tx.clone()),
        relay::spawn_reader(child.stderr.take(), Stream::Err, tx),
    ];
    let mut relay = Relay::new(&test.name);
    let deadline = Instant::now() + timeout;
    // When the child exited or was killed; its pipes may then stay open a little longer.
    let mut ended: Option<(ExitStatus, Instant)> = None;
    let mut timed_out = false;
    let mut next_check = Instant::now();
    loop {
        let now = Instant::now();
        match ended {
            // A grandchild may hold the pipes open after the child exits: stop relaying soon.
            Some((_, at)) if now.duration_since(at) > OUTPUT_GRACE => break,
            Some(_) => {}
            // Checked on a clock, not only when the output pauses: a flood never pauses.
            None if now >= next_check => {
                next_check = now + POLL;
                if let Some(status) = child.try_wait()? {
                    ended = Some((status, now));
                } else if now >= deadline {
                    timed_out = true;
                    let _ = child.kill();
                    ended = Some((child.wait()?, now));
                }
            }
            None => {}
        }
        match rx.recv_timeout(POLL) {
            Ok(piece) => relay.piece(&piece),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let status = match ended {
        Some((status, _)) => status,
        None => child.wait()?,
    };
    // Readers finish once the pipes close; do not wait on them if a grandchild holds them.
    while let Ok(piece) = rx.try_recv() {
        relay.piece(&piece);
    }
    drop(rx);
    drop(readers);
    relay.finish();

    let output = relay.tail();
    if timed_out {
        return Ok(ChildEnd::TimedOut {
            limit: timeout,
            output,
        });
    }
    match std::fs::read(&result_path) {
        Ok(bytes) => match crate::json::from_slice::<ChildResult>(&bytes) {
            Ok(ChildResult::Started) => Ok(ChildEnd::Vanished {
                status,
                started: true,
                output,
            }),
            Ok(result) => Ok(ChildEnd::Reported(result)),
            Err(e) => Ok(ChildEnd::BadResult {
                error: format!("{}: {e}", result_path.display()),
                output,
            }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ChildEnd::Vanished {
            status,
            started: false,
            output,
        }),
        Err(e) => Err(e),
    }
}

/// After the child exits, how long its pipes may stay open before the parent stops relaying.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// How often the parent looks at the child and the clock.
const POLL: Duration = Duration::from_millis(20);
/// The line in which the Rust runtime says an allocation failed before it aborts
/// ("memory allocation of N bytes failed"), if the output has one.
pub(crate) fn allocation_failure(output: &str) -> Option<&str> {
    output.lines().rev().map(str::trim).find(|line| {
        line.strip_prefix("memory allocation of ")
            .and_then(|rest| rest.strip_suffix(" bytes failed"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn result_path(test_name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let safe: String = test_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(64)
        .collect();
    std::env::temp_dir().join(format!(
        "leakcheck-{}-{}-{safe}.json",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Describes how a process ended without reporting, e.g. "was killed by signal 11 (SIGSEGV)".
pub(crate) fn describe_status(status: &ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = signal_name(signal).map_or_else(String::new, |name| format!(" ({name})"));
            return format!("was killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "ended without an exit code".to_owned(),
    }
}

/// The name of a signal that ends a process, with what usually sends it where that helps.
/// From `libc`: the numbers differ between Unixes (7 is SIGBUS on Linux, SIGEMT on macOS).
#[cfg(unix)]
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT: abort, e.g. a panic while panicking or std::process::abort",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL: killed, e.g. by the OOM killer",
        libc::SIGSEGV => "SIGSEGV: invalid memory access",
        libc::SIGPIPE => "SIGPIPE: a write to a pipe or socket with no reader",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU: over its CPU time limit",
        libc::SIGXFSZ => "SIGXFSZ: over its file size limit",
        libc::SIGSYS => "SIGSYS: a system call a seccomp filter forbids",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env_of;

    #[test]
    fn placement_follows_environment_and_setting() {
        let t = TestId::named("m::t".into());
        assert_eq!(placement(&t, true, env_of(&[])), Placement::Parent);
        assert_eq!(placement(&t, false, env_of(&[])), Placement::InPlace);
        let nextest = env_of(&[("NEXTEST_EXECUTION_MODE", "process-per-test")]);
        assert_eq!(placement(&t, true, nextest), Placement::InPlace);
        let child = env_of(&[
            ("LEAKCHECK_CHILD", "m::t"),
            ("LEAKCHECK_RESULT", "/tmp/r.json"),
        ]);
        assert_eq!(
            placement(&t, true, child),
            Placement::Child(PathBuf::from("/tmp/r.json"))
        );
        // The marker names another test: this process is not that test's child.
        let other = env_of(&[
            ("LEAKCHECK_CHILD", "m::u"),
            ("LEAKCHECK_RESULT", "/tmp/r.json"),
        ]);
        assert_eq!(placement(&t, true, other), Placement::Parent);
    }

    #[test]
    fn an_allocation_failure_is_found_in_the_output() {
        let output = "some output\nmemory allocation of 1073741824 bytes failed\n";
        assert_eq!(
            allocation_failure(output),
            Some("memory allocation of 1073741824 bytes failed")
        );
        assert_eq!(
            allocation_failure("memory allocation of many bytes failed"),
            None
        );
        assert_eq!(allocation_failure("all fine\n"), None);
    }

    #[cfg(unix)]
    #[test]
    fn statuses_are_described() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe_status(&ExitStatus::from_raw(libc::SIGSEGV)),
            format!(
                "was killed by signal {} (SIGSEGV: invalid memory access)",
                libc::SIGSEGV
            )
        );
        assert_eq!(
            describe_status(&ExitStatus::from_raw(3 << 8)),
            "exited with code 3"
        );
    }

    #[cfg(unix)]
    #[test]
    fn signals_are_named_by_their_number_on_this_platform() {
        use std::os::unix::process::ExitStatusExt;
        for (signal, name) in [
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGABRT, "SIGABRT"),
            (libc::SIGBUS, "SIGBUS"),
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGPIPE, "SIGPIPE"),
            (libc::SIGTERM, "SIGTERM"),
            (libc::SIGXCPU, "SIGXCPU"),
            (libc::SIGSYS, "SIGSYS"),
        ] {
            // A raw wait status whose low bits are the signal: killed by it, no core dump.
            let described = describe_status(&ExitStatus::from_raw(signal));
            let expected = format!("was killed by signal {signal} ({name}");
            assert!(described.starts_with(&expected), "{described}");
        }
    }
}
