//! One process per leak test, so that tests running in parallel in the same binary cannot be
//! blamed for each other's allocations, threads or file descriptors.
//!
//! Under `cargo nextest` (`NEXTEST_EXECUTION_MODE=process-per-test`) the test already has its
//! process and runs in place. Under plain `cargo test` the parent test re-executes its own binary
//! for exactly this test (`--exact NAME --include-ignored --nocapture --test-threads=1`) with
//! [`CHILD_ENV`] set, relays the child's output through `print!`/`eprint!` so that libtest
//! captures it as usual, and reads the child's result from a file named by [`RESULT_ENV`].

use crate::report::{Report, TestId};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Set in a child process to the name of the one test it runs.
pub const CHILD_ENV: &str = "LEAKCHECK_CHILD";
/// Set in a child process to the file it writes its [`ChildResult`] to.
pub const RESULT_ENV: &str = "LEAKCHECK_RESULT";

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
    /// The run finished and produced a report.
    Completed {
        /// The report.
        report: Box<Report>,
    },
    /// The test body panicked.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The test body returned an error.
    Failed {
        /// The error, formatted with `{:?}`.
        message: String,
    },
}

/// Writes the child's result where the parent will look for it.
pub(crate) fn write_result(path: &Path, result: &ChildResult) -> io::Result<()> {
    let json = serde_json::to_vec(result).map_err(io::Error::other)?;
    std::fs::write(path, json)
}

/// How the child process ended, as seen by the parent.
#[derive(Debug)]
pub(crate) enum ChildEnd {
    /// It wrote a result.
    Reported(ChildResult),
    /// It ran past the time limit and was killed.
    TimedOut { limit: Duration, output: String },
    /// It ended without writing a result.
    Vanished { status: ExitStatus, output: String },
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
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &test.name)
        .env(RESULT_ENV, &result_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;

    let (tx, rx) = mpsc::channel();
    let readers = [
        spawn_reader(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            Stream::Out,
            tx.clone(),
        ),
        spawn_reader(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            Stream::Err,
            tx,
        ),
    ];
    let mut relay = Relay::new(&test.name);
    let deadline = Instant::now() + timeout;
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut timed_out = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok((stream, line)) => {
                relay.line(stream, &line);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if exited.is_none() {
            exited = child.try_wait()?.map(|status| (status, Instant::now()));
        }
        match exited {
            // A grandchild may hold the pipes open after the child exits: stop relaying soon.
            Some((_, at)) if at.elapsed() > OUTPUT_GRACE => break,
            Some(_) => {}
            None if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break;
            }
            None => {}
        }
    }
    let status = match exited {
        Some((status, _)) => status,
        None => child.wait()?,
    };
    // Readers finish once the pipes close; do not wait on them if a grandchild holds them.
    while let Ok((stream, line)) = rx.try_recv() {
        relay.line(stream, &line);
    }
    drop(readers);

    let output = relay.tail();
    if timed_out {
        return Ok(ChildEnd::TimedOut {
            limit: timeout,
            output,
        });
    }
    match std::fs::read(&result_path) {
        Ok(bytes) => match serde_json::from_slice::<ChildResult>(&bytes) {
            Ok(result) => Ok(ChildEnd::Reported(result)),
            Err(e) => Ok(ChildEnd::BadResult {
                error: format!("{}: {e}", result_path.display()),
                output,
            }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ChildEnd::Vanished { status, output }),
        Err(e) => Err(e),
    }
}

/// After the child exits, how long its pipes may stay open before the parent stops relaying.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

fn spawn_reader(
    pipe: Option<Box<dyn Read + Send>>,
    stream: Stream,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) -> Option<std::thread::JoinHandle<()>> {
    let pipe = pipe?;
    std::thread::Builder::new()
        .name("leakcheck-relay".into())
        .spawn(move || {
            let mut reader = io::BufReader::new(pipe);
            loop {
                let mut line = Vec::new();
                match io::BufRead::read_until(&mut reader, b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send((stream, line)).is_err() {
                            break;
                        }
                    }
                }
            }
        })
        .ok()
}

/// Forwards the child's output to this test's (captured) stdout/stderr, minus libtest's own
/// framing lines, and keeps the last lines for failure messages.
struct Relay {
    test_name: String,
    test_prefix: String,
    tail: VecDeque<String>,
    tail_bytes: usize,
}

/// How much of the child's last output a failure message quotes.
const TAIL_BYTES: usize = 8 * 1024;

impl Relay {
    fn new(test_name: &str) -> Self {
        Relay {
            test_name: test_name.to_owned(),
            test_prefix: format!("test {test_name} ... "),
            tail: VecDeque::new(),
            tail_bytes: 0,
        }
    }

    fn line(&mut self, stream: Stream, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let text = match stream {
            Stream::Out => match self.strip_framing(&text) {
                Some(kept) => kept,
                None => return,
            },
            Stream::Err => text.into_owned(),
        };
        match stream {
            Stream::Out => print!("{text}"),
            Stream::Err => eprint!("{text}"),
        }
        self.tail_bytes += text.len();
        self.tail.push_back(text);
        while self.tail_bytes > TAIL_BYTES && self.tail.len() > 1 {
            let dropped = self.tail.pop_front().map_or(0, |l| l.len());
            self.tail_bytes -= dropped;
        }
    }

    /// Drops the lines libtest prints around the single test; keeps everything else.
    fn strip_framing(&self, line: &str) -> Option<String> {
        let line = line.strip_prefix(self.test_prefix.as_str()).unwrap_or(line);
        let bare = line.trim_end_matches(['\n', '\r']);
        let framing = bare.is_empty()
            || bare == "running 1 test"
            || bare == "ok"
            || bare == "FAILED"
            || bare == "failures:"
            || bare.starts_with("test result: ")
            || bare.trim() == self.test_name; // the list after "failures:"
        (!framing).then(|| line.to_owned())
    }

    fn tail(&self) -> String {
        self.tail.iter().map(String::as_str).collect()
    }
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
            let name = match signal {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                4 => " (SIGILL)",
                6 => " (SIGABRT: abort, e.g. a panic while panicking or std::process::abort)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL: killed, e.g. by the OOM killer)",
                11 => " (SIGSEGV: invalid memory access)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("was killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "ended without an exit code".to_owned(),
    }
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
    fn relay_strips_libtest_framing_only() {
        let r = Relay::new("m::t");
        assert_eq!(r.strip_framing("running 1 test\n"), None);
        assert_eq!(
            r.strip_framing("test m::t ... hello\n").as_deref(),
            Some("hello\n")
        );
        assert_eq!(r.strip_framing("ok\n"), None);
        assert_eq!(
            r.strip_framing("test result: ok. 1 passed; 0 failed\n"),
            None
        );
        assert_eq!(r.strip_framing("    m::t\n"), None);
        assert_eq!(
            r.strip_framing("user output\n").as_deref(),
            Some("user output\n")
        );
    }

    #[cfg(unix)]
    #[test]
    fn statuses_are_described() {
        use std::os::unix::process::ExitStatusExt;
        assert!(describe_status(&ExitStatus::from_raw(11)).contains("SIGSEGV"));
        assert_eq!(
            describe_status(&ExitStatus::from_raw(3 << 8)),
            "exited with code 3"
        );
    }
}
