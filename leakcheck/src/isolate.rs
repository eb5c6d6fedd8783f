//! One process per leak test, so that tests running in parallel in the same binary cannot be
//! blamed for each other's allocations, threads or file descriptors.
//!
//! Under `cargo nextest` (`NEXTEST_EXECUTION_MODE=process-per-test`) the test already has its
//! process and runs in place. Under plain `cargo test` the parent test re-executes its own binary
//! for exactly this test (`--exact NAME --include-ignored --nocapture --test-threads=1`) with
//! [`CHILD_ENV`] set, relays the child's output through `print!`/`eprint!` so that libtest
//! captures it as usual, and reads the child's result from a file named by [`RESULT_ENV`].
//! The relay is bounded in memory whatever the child prints (pieces of at most `MAX_PIECE`,
//! the first `RELAY_CAP` bytes forwarded, the last `TAIL_BYTES` kept for a failure message).
//! A test in place has no parent to enforce its time limit: see `watchdog`.

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
    let (tx, rx) = mpsc::sync_channel(PIECES_IN_FLIGHT);
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
/// Pieces of output on their way from the pipe readers to the relay.
const PIECES_IN_FLIGHT: usize = 64;
/// Longest piece a reader hands over: a longer line is passed on in pieces, so that a child
/// printing without newlines cannot make the parent buffer without bound.
const MAX_PIECE: usize = 4 * 1024;
/// How much of the child's output goes into the test's captured output; the rest is counted.
const RELAY_CAP: usize = 1024 * 1024;
/// How much of the child's last output a failure message quotes.
const TAIL_BYTES: usize = 4 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

/// A run of the child's output from one stream: a whole line (ending in `\n`), a part of a long
/// line, or what was left when the stream closed.
#[derive(Debug, PartialEq, Eq)]
struct Piece {
    stream: Stream,
    bytes: Vec<u8>,
}

fn spawn_reader(
    pipe: Option<Box<dyn Read + Send>>,
    stream: Stream,
    tx: mpsc::SyncSender<Piece>,
) -> Option<std::thread::JoinHandle<()>> {
    let mut pipe = pipe?;
    std::thread::Builder::new()
        .name("leakcheck-relay".into())
        .spawn(move || {
            let mut splitter = Splitter::default();
            let mut chunk = [0u8; 8 * 1024];
            loop {
                let n = match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                for bytes in splitter.push(&chunk[..n]) {
                    if tx.send(Piece { stream, bytes }).is_err() {
                        return;
                    }
                }
            }
            if let Some(bytes) = splitter.finish() {
                let _ = tx.send(Piece { stream, bytes });
            }
        })
        .ok()
}

/// Cuts a byte stream into lines of at most [`MAX_PIECE`] bytes; longer lines come out in
/// pieces, cut between UTF-8 characters where possible.
#[derive(Default)]
struct Splitter {
    pending: Vec<u8>,
}

impl Splitter {
    fn push(&mut self, mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let room = MAX_PIECE - self.pending.len();
            let window = &bytes[..bytes.len().min(room)];
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                self.pending.extend_from_slice(&window[..=i]);
                out.push(std::mem::take(&mut self.pending));
                bytes = &bytes[i + 1..];
            } else {
                self.pending.extend_from_slice(window);
                bytes = &bytes[window.len()..];
                if self.pending.len() == MAX_PIECE {
                    let cut = char_boundary(&self.pending);
                    let rest = self.pending.split_off(cut);
                    out.push(std::mem::replace(&mut self.pending, rest));
                }
            }
        }
        out
    }

    fn finish(self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then_some(self.pending)
    }
}

/// Where to cut `bytes` so that a UTF-8 character split at its end stays whole for the next
/// piece (invalid UTF-8 is cut anywhere).
fn char_boundary(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
        _ => bytes.len(),
    }
}

/// Forwards the child's output to this test's (captured) stdout/stderr, minus libtest's own
/// framing lines, up to [`RELAY_CAP`] bytes, and keeps the last [`TAIL_BYTES`] for failure
/// messages.
struct Relay {
    test_name: String,
    test_prefix: String,
    /// Per stream (out, err): the last piece ended inside a line, so the next one continues it
    /// and is not a line of libtest's framing.
    mid_line: [bool; 2],
    relayed: usize,
    dropped: u64,
    tail: VecDeque<u8>,
    tail_cut: bool,
}

impl Relay {
    fn new(test_name: &str) -> Self {
        Relay {
            test_name: test_name.to_owned(),
            test_prefix: format!("test {test_name} ... "),
            mid_line: [false; 2],
            relayed: 0,
            dropped: 0,
            tail: VecDeque::with_capacity(TAIL_BYTES),
            tail_cut: false,
        }
    }

    fn piece(&mut self, piece: &Piece) {
        let index = usize::from(piece.stream == Stream::Err);
        let continues = std::mem::replace(&mut self.mid_line[index], !piece.bytes.ends_with(b"\n"));
        let text = String::from_utf8_lossy(&piece.bytes);
        let text = match piece.stream {
            Stream::Out if !continues => match self.strip_framing(&text) {
                Some(kept) => kept,
                None => return,
            },
            _ => text.into_owned(),
        };
        self.keep_tail(text.as_bytes());
        // Once output is dropped, all later output is: what is shown stays one piece.
        if self.dropped > 0 || self.relayed + text.len() > RELAY_CAP {
            self.dropped += text.len() as u64;
            return;
        }
        self.relayed += text.len();
        match piece.stream {
            Stream::Out => print!("{text}"),
            Stream::Err => eprint!("{text}"),
        }
    }

    fn keep_tail(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let excess = (self.tail.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        if excess > 0 {
            self.tail.drain(..excess);
            self.tail_cut = true;
        }
        self.tail.extend(bytes);
    }

    /// Says how much output was not relayed, if any.
    fn finish(&self) {
        if self.dropped > 0 {
            println!(
                "\nleakcheck: {} more bytes of output from the child process were not shown: only \
                 the first {} KiB are kept (a failure message quotes the last {} KiB).",
                self.dropped,
                RELAY_CAP / 1024,
                TAIL_BYTES / 1024
            );
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

    /// The last output, marked `[...]` in front when older output was left out.
    fn tail(&mut self) -> String {
        let bytes = self.tail.make_contiguous();
        if !self.tail_cut {
            return String::from_utf8_lossy(bytes).into_owned();
        }
        // Start at a character boundary, not inside one.
        let start = bytes
            .iter()
            .position(|&b| b & 0b1100_0000 != 0b1000_0000)
            .unwrap_or(bytes.len());
        format!("[...]{}", String::from_utf8_lossy(&bytes[start..]))
    }
}

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

    #[test]
    fn long_lines_are_passed_on_in_bounded_pieces() {
        let mut s = Splitter::default();
        assert_eq!(s.push(b"one\ntw"), vec![b"one\n".to_vec()]);
        assert_eq!(s.push(b"o\nthr"), vec![b"two\n".to_vec()]);
        let flood = vec![b'x'; 3 * MAX_PIECE + 10];
        let pieces = s.push(&flood);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() == MAX_PIECE));
        assert_eq!(&pieces[0][..3], b"thr");
        assert_eq!(s.finish().map(|p| p.len()), Some(3 + 10));
        // A character split by the cap stays whole in the next piece.
        let mut s = Splitter::default();
        let mut text = vec![b'a'; MAX_PIECE - 1];
        text.extend_from_slice("é\n".as_bytes());
        let pieces = s.push(&text);
        assert_eq!(pieces[0].len(), MAX_PIECE - 1);
        assert_eq!(pieces[1], "é\n".as_bytes());
    }

    #[test]
    fn relay_keeps_a_bounded_tail_and_counts_what_it_drops() {
        let mut r = Relay::new("m::t");
        let piece = |bytes: &[u8]| Piece {
            stream: Stream::Err,
            bytes: bytes.to_vec(),
        };
        r.piece(&piece(b"first\n"));
        assert_eq!(r.tail(), "first\n");
        let big = vec![b'y'; MAX_PIECE];
        for _ in 0..RELAY_CAP / MAX_PIECE + 3 {
            r.piece(&piece(&big));
        }
        r.piece(&piece(b"last words\n"));
        assert!(r.relayed <= RELAY_CAP);
        // "first\n" took 6 bytes of the cap, so the last of the pieces that would fill it
        // exactly is the first one dropped.
        assert_eq!(r.relayed, "first\n".len() + RELAY_CAP - MAX_PIECE);
        assert_eq!(r.dropped, (4 * MAX_PIECE + "last words\n".len()) as u64);
        let tail = r.tail();
        assert!(tail.starts_with("[...]yyy"), "{tail}");
        assert!(tail.ends_with("yyylast words\n"), "{tail}");
        assert_eq!(tail.len(), "[...]".len() + TAIL_BYTES);
    }

    #[test]
    fn libtest_framing_is_only_stripped_at_line_starts() {
        let mut r = Relay::new("m::t");
        let out = |bytes: &[u8]| Piece {
            stream: Stream::Out,
            bytes: bytes.to_vec(),
        };
        r.piece(&out(b"partial "));
        r.piece(&out(b"ok\n"));
        r.piece(&out(b"ok\n"));
        assert_eq!(r.tail(), "partial ok\n");
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
