//! A live service with the monitor embedded (`tests/fixtures/service`), under a bounded loopback
//! load from this process: the heap leaks from one handler of three, and the monitor must name
//! that handler — in `/api/status` (`heap.growing`), in the alert it logs, and in
//! `go tool pprof -top` of `/debug/pprof/heap`. The same service without the leak names
//! nothing; a cache that fills and then stays full is not named once it has stopped growing.
//!
//! Time is compressed: a 3 s detection window instead of 60 s, a sample every 8 KiB instead of
//! 512 KiB, the leak at 512 B per upload (about 7 MiB/min under this load). Waits are bounded
//! waits on states the service reports; assertions are on names and orders, never times.

use super::{fixture, go_pprof};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Requests at most, whatever happens: the load is bounded in count as well as in time.
const MAX_REQUESTS: u64 = 60_000;

/// The service binary, built once.
fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = fixture::cargo()
                .args(["build", "-p", "leakcheck-fixture-service"])
                .output()
                .expect("cargo build");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            fixture::target_dir().join("fixtures/debug/leakcheck-fixture-service")
        })
        .clone()
}

/// A running service: its two addresses and what it logged.
struct Service {
    child: Child,
    app: TcpStream,
    monitor: SocketAddr,
    log: Arc<Mutex<String>>,
    requests: u64,
}

impl Service {
    fn start(mode: &str) -> Service {
        let mut child = Command::new(binary())
            .args(["--mode", mode, "--sample-rate", "8192"])
            .args(["--interval-ms", "50", "--window-ms", "3000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the fixture service starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = |key: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
                .parse()
                .unwrap()
        };
        let (app, monitor) = (addr("app="), addr("monitor="));
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let app = TcpStream::connect(app).unwrap();
        // A request is a short line: sent at once, not held for the previous answer's ACK.
        app.set_nodelay(true).unwrap();
        app.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Service {
            child,
            app,
            monitor,
            log,
            requests: 0,
        }
    }

    /// One round of load: an upload, an echo and a lookup of `key`, each answered before the
    /// next is sent; then a pause, as a paced load generator makes.
    fn round(&mut self, key: u64) {
        assert!(self.requests < MAX_REQUESTS, "the load is bounded");
        let mut reader = BufReader::new(self.app.try_clone().unwrap());
        for request in [
            "upload".to_owned(),
            "echo".to_owned(),
            format!("lookup {key}"),
        ] {
            writeln!(self.app, "{request}").unwrap();
            let mut answer = String::new();
            reader.read_line(&mut answer).unwrap();
            assert!(!answer.is_empty(), "the service closed the connection");
            self.requests += 1;
        }
        std::thread::sleep(Duration::from_millis(4));
    }

    fn get(&self, path: &str) -> Vec<u8> {
        let mut stream = TcpStream::connect(self.monitor).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        assert_eq!(&bytes[9..12], b"200", "{}", String::from_utf8_lossy(&bytes));
        bytes[end + 4..].to_vec()
    }

    fn status(&self) -> Value {
        serde_json::from_slice(&self.get("/api/status")).unwrap()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The heap's state in a status.
fn heap_state(status: &Value) -> String {
    status["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["resource"] == "heap"))
        .and_then(|r| r["state"].as_str())
        .unwrap_or("none")
        .to_owned()
}

/// The functions of `heap.growing`, in order.
fn growing(status: &Value) -> Vec<String> {
    status["heap"]["growing"]
        .as_array()
        .map(|sites| {
            sites
                .iter()
                .map(|s| s["function"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Drives rounds until `done` says the status is what we wait for, checking every 25 rounds;
/// fails when the bound is reached first (a hang guard).
fn drive_until(
    service: &mut Service,
    mut key: impl FnMut(u64) -> u64,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut round = 0;
    loop {
        for _ in 0..25 {
            service.round(key(round));
            round += 1;
        }
        let status = service.status();
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {round} rounds: {status:#}\n{}",
            service.log()
        );
    }
}

#[test]
fn the_leaking_handler_is_named_first_in_status_alert_and_profile() {
    let mut service = Service::start("leak");
    // Lookups of 100 keys: a cache full from the start, not growing.
    let status = drive_until(&mut service, |r| r % 100, |s| heap_state(s) == "leaking");
    let sites = growing(&status);
    assert!(
        sites
            .first()
            .is_some_and(|f| f.ends_with("::handle_upload")),
        "{sites:?}\n{status:#}"
    );
    assert!(
        !sites
            .iter()
            .any(|f| f.contains("handle_echo") || f.contains("handle_lookup")),
        "{sites:?}"
    );
    // The alert, as the log sink wrote it, names the site.
    let log = service.log();
    let alert = log
        .lines()
        .find(|l| l.contains("heap is leaking"))
        .unwrap_or_else(|| panic!("no alert logged:\n{log}"));
    assert!(alert.contains("handle_upload"), "{alert}");

    // go tool pprof -top of the live endpoint: the first of the service's functions.
    let profile = service.get("/debug/pprof/heap");
    let dir = fixture::target_dir().join("tmp/service-pprof");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("heap.pb.gz");
    std::fs::write(&file, profile).unwrap();
    let top = go_pprof::pprof(
        &dir,
        &["-top", "-sample_index=inuse_space", file.to_str().unwrap()],
    );
    let first = go_pprof::top_rows(&top)
        .into_iter()
        .map(|r| r.2)
        .find(|f| f.starts_with("leakcheck_fixture_service::"));
    assert_eq!(
        first.as_deref(),
        Some("leakcheck_fixture_service::handle_upload"),
        "{top}"
    );
}

#[test]
fn without_the_leak_nothing_is_named() {
    let mut service = Service::start("clean");
    // Five windows of load (at least 3 s of it: 750 rounds take longer than that), checked as
    // it goes: never leaking, never a growing site.
    let mut checked = 0;
    drive_until(
        &mut service,
        |r| r % 100,
        |s| {
            assert_ne!(heap_state(s), "leaking", "{s:#}");
            assert_eq!(growing(s), Vec::<String>::new(), "{s:#}");
            checked += 1;
            checked >= 150
        },
    );
    assert!(
        !service.log().contains("heap is leaking"),
        "{}",
        service.log()
    );
}

#[test]
fn a_cache_that_fills_and_stays_full_is_not_named_once_full() {
    let mut service = Service::start("clean");
    // A new key every other round until the cache's 2,000 entries (4 MiB) are full: it grows
    // like a leak for a while, and is named while it does.
    let mut named_while_filling = false;
    let mut checks = 0;
    drive_until(
        &mut service,
        |r| r / 2,
        |s| {
            named_while_filling |= growing(s).iter().any(|f| f.ends_with("::handle_lookup"));
            checks += 1;
            checks * 25 >= 4_000
        },
    );
    assert!(named_while_filling, "the filling cache was never named");
    // Full: 1,500 rounds (at least 6 s, two windows) for the growth to leave the window, then
    // 500 more in which it must not be named.
    let mut checks = 0;
    drive_until(
        &mut service,
        |r| r % 2_000,
        |s| {
            checks += 1;
            if checks * 25 > 1_500 {
                assert!(
                    !growing(s).iter().any(|f| f.ends_with("::handle_lookup")),
                    "a full cache named as growing: {s:#}"
                );
            }
            checks * 25 >= 2_000
        },
    );
}
