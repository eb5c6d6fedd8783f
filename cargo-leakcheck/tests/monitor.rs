//! `cargo leakcheck monitor` end to end: the real binary watches a command that leaks file
//! descriptors, its endpoint reports the leak, and it exits with the command's exit code; and it
//! watches a running process by `--pid` until that process is gone.
//!
//! The command is a small bash script: it opens one more fd every 50 ms (up to 400, well below
//! any fd limit) until its stdin closes, then exits 7. Its stdin is the monitor's stdin, which
//! the test holds: closing it is how the test ends the command, with no timing involved.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CLI: &str = env!("CARGO_BIN_EXE_cargo-leakcheck");

/// The longest any condition is waited for: a monitor that never reports fails the test.
const LIMIT: Duration = Duration::from_secs(120);

/// Opens an fd every 50 ms until stdin closes (read's status ≤ 128: a line or end of file; >128
/// is its timeout), then exits 7.
const LEAKER: &str = r#"
n=0
while true; do
    read -r -t 0.05 _; rc=$?
    if [ "$rc" -le 128 ]; then exit 7; fi
    if [ "$n" -lt 400 ]; then exec {fd}</dev/null; n=$((n + 1)); fi
done
"#;

/// A monitor started by the test; killed when the test fails midway.
struct Monitor {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts the monitor with `args`, and waits for the line that says where it serves.
fn start(args: &[&str]) -> Monitor {
    let mut child = Command::new(CLI)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cargo-leakcheck");
    let stdin = child.stdin.take();
    // Its stderr, line by line, through a channel so that waits are bounded.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("the monitor never said where it serves: {seen:#?}"));
        if let Some(rest) = line.split("serving http://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
        seen.push(line);
    };
    Monitor {
        child,
        stdin,
        addr,
        stderr: rx,
    }
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the monitor");
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    (head[9..12].parse().unwrap(), body.to_owned())
}

/// Polls `/api/status` until `done` says so; the last status.
fn wait_for_status(m: &Monitor, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (code, body) = get(m.addr, "/api/status");
        assert_eq!(code, 200, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        if done(&status) {
            return status;
        }
        assert!(
            started.elapsed() < LIMIT,
            "{what} never happened; the last status: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state_of<'a>(status: &'a Value, resource: &str) -> &'a str {
    status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == resource)
        .and_then(|r| r["state"].as_str())
        .unwrap_or("absent")
}

/// Waits for the process to exit; its exit code.
fn wait_exit(child: &mut Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(started.elapsed() < LIMIT, "the monitor did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_command_that_leaks_fds_is_flagged_and_its_exit_code_passed_on() {
    let mut m = start(&[
        "leakcheck",
        "monitor",
        "--port",
        "0",
        "--interval",
        "100ms",
        "--window",
        "3s",
        "--",
        "bash",
        "-c",
        LEAKER,
    ]);
    let status = wait_for_status(&m, "an fd leak", |s| {
        s["leak_suspected"] == true && state_of(s, "fds") != "ok"
    });
    assert_ne!(state_of(&status, "fds"), "absent");
    assert!(status["pid"].as_u64().unwrap() > 0);

    // Another process: RSS, threads and fds, no heap.
    let (code, metrics) = get(m.addr, "/metrics");
    assert_eq!(code, 200);
    for name in [
        "process_open_fds ",
        "process_threads ",
        "process_resident_memory_bytes ",
    ] {
        assert!(metrics.contains(name), "{name}in:\n{metrics}");
    }
    assert!(!metrics.contains("leakcheck_heap_live_bytes"), "{metrics}");
    assert!(
        metrics.contains("leakcheck_leak_suspected 1\n"),
        "{metrics}"
    );
    let (code, samples) = get(m.addr, "/api/samples");
    assert_eq!(code, 200);
    let samples: Value = serde_json::from_str(&samples).unwrap();
    let fds: Vec<u64> = samples
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["fds"].as_u64())
        .collect();
    assert!(
        fds.len() >= 2 && fds.last() > fds.first(),
        "fds grow: {fds:?}"
    );

    // End the command: the monitor exits with its code.
    drop(m.stdin.take());
    assert_eq!(wait_exit(&mut m.child), Some(7));
    let rest: Vec<String> = m.stderr.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("exited (7)")),
        "the last words: {rest:#?}"
    );
}

#[test]
fn a_running_process_is_watched_by_pid_until_it_is_gone() {
    // A process the monitor did not start: a bash that waits for its stdin to close.
    let mut target = Command::new("bash")
        .args(["-c", "read -r _; exit 0"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = target.id().to_string();
    let mut m = start(&[
        "leakcheck",
        "monitor",
        "--port",
        "0",
        "--interval",
        "100ms",
        "--pid",
        &pid,
    ]);
    let status = wait_for_status(&m, "two samples", |s| {
        s["samples_taken"].as_u64() >= Some(2)
    });
    assert_eq!(status["pid"].as_u64().map(|p| p.to_string()), Some(pid));
    assert_eq!(state_of(&status, "threads"), "ok", "{status:#}");

    drop(target.stdin.take());
    target.wait().unwrap();
    assert_eq!(wait_exit(&mut m.child), Some(0));
}

#[test]
fn usage_errors_exit_2() {
    let run = |args: &[&str]| {
        Command::new(CLI)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Neither a pid nor a command; both; a bad interval; no such process; no such program.
    for args in [
        &["leakcheck", "monitor", "--port", "0"][..],
        &[
            "leakcheck",
            "monitor",
            "--port",
            "0",
            "--pid",
            "1",
            "--",
            "true",
        ],
        &[
            "leakcheck",
            "monitor",
            "--port",
            "0",
            "--interval",
            "2",
            "--",
            "true",
        ],
        &["leakcheck", "monitor", "--port", "0", "--pid", "4000000000"],
        &[
            "leakcheck",
            "monitor",
            "--port",
            "0",
            "--",
            "/nonexistent/program",
        ],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
