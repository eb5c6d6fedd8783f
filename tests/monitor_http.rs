//! The monitor's surfaces from the outside: the HTTP endpoint driven by a raw TCP client (every
//! route, garbage, oversized and slow requests, the connection cap, bearer tokens, a panicking
//! view), the Prometheus text checked by `promtool`, the alert rules run through
//! `promtool test rules`, the Grafana dashboard checked against the metrics we emit, and the
//! dashboard page rendered by headless Chromium.
//!
//! The server is given a fake [`View`], so what it serves is known exactly. promtool and
//! Chromium are required: a missing tool fails the test with what to install, as `.ci/run` does.

#[path = "browser/mod.rs"]
mod browser;

use leakcheck_monitor::profile::ProfileError;
use leakcheck_monitor::render;
use leakcheck_monitor::serve::{Server, ServerConfig, View};
use leakcheck_monitor::{HeapStatus, Resource, ResourceStatus, Sample, State, Status};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A client never waits longer than this for an answer: a hung server fails the test instead
/// of hanging it.
const CLIENT_WAIT: Duration = Duration::from_secs(30);

// --- The fake monitor ------------------------------------------------------------------------

/// A process whose heap leaks, whose RSS is suspected, with steady threads and fds.
struct Fake {
    profile: Option<Vec<u8>>,
    panic: AtomicBool,
    /// The `seconds` of the last heap profile asked for.
    asked: std::sync::Mutex<Vec<Option<Duration>>>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            profile: None,
            panic: AtomicBool::new(false),
            asked: Default::default(),
        }
    }
}

fn resource(
    resource: Resource,
    state: State,
    value: f64,
    growth: f64,
    limit: Option<f64>,
) -> ResourceStatus {
    let mut status = ResourceStatus::new(resource, state);
    status.value = Some(value);
    status.growth_per_sec = growth;
    status.limit = limit;
    status.seconds_to_limit = limit.filter(|_| growth > 0.0).map(|l| (l - value) / growth);
    status.since_unix_ms = 1_795_279_245_000;
    // Markup and quotes, to see that they are escaped everywhere.
    status.reason = format!("{resource} <b>grew</b> \"steadily\"\nfor a while");
    status
}

fn fake_status() -> Status {
    let mut status = Status::default();
    status.leak_suspected = true;
    status.resources = vec![
        resource(
            Resource::Heap,
            State::Leaking,
            2_600_000.0,
            1024.0,
            Some(8e9),
        ),
        resource(Resource::Rss, State::Suspected, 9e6, 300.0, Some(1.6e10)),
        resource(Resource::Threads, State::Ok, 5.0, 0.0, None),
        resource(Resource::Fds, State::Ok, 9.0, 0.0, Some(1024.0)),
    ];
    status.samples_taken = 40;
    status.interval_ms = 1000;
    status.pid = 4242;
    // Where the heap grows: two sites, the first with markup in its name (escaped as text).
    let mut heap = HeapStatus::new(524_288);
    heap.growing = serde_json::from_value(serde_json::json!([
        {"function": "svc::<b>handler</b>::leak", "file": "/src/svc/src/handler.rs", "line": 42,
         "fingerprint": "00112233445566ff", "user": true, "bytes_per_minute": 3_145_728.0,
         "error_bytes_per_minute": 409_600.0, "live_bytes": 9_437_184.0, "samples": 18,
         "new_samples": 12, "certain": true},
        {"function": "svc::cache::insert", "file": null, "line": null,
         "fingerprint": "aabbccddeeff0011", "user": true, "bytes_per_minute": 1_048_576.0,
         "error_bytes_per_minute": 300_000.0, "live_bytes": 2e6, "samples": 6,
         "new_samples": 5, "certain": true}
    ]))
    .unwrap();
    heap.uncertain = 2;
    status.heap = Some(heap);
    status
}

/// 40 samples a second apart; the RSS could not be read twice (a gap in its chart).
fn fake_samples() -> Vec<Sample> {
    (0..40u64)
        .map(|i| {
            let mut sample = Sample::default();
            sample.unix_ms = 1_795_279_245_000 + i * 1000;
            sample.heap_bytes = Some(2_560_000 + i * 1024);
            sample.heap_blocks = Some(1000 + i);
            sample.allocations_total = Some(50_000 + i * i * 10);
            sample.rss_bytes = (i != 20 && i != 21).then_some(8_000_000 + i * 300 + (i % 5) * 4096);
            sample.threads = Some(5);
            sample.fds = Some(9 + (i % 2) as u32);
            sample
        })
        .collect()
}

impl View for Fake {
    fn status(&self) -> Status {
        assert!(
            !self.panic.load(Ordering::SeqCst),
            "the view panics on purpose"
        );
        fake_status()
    }
    fn samples(&self) -> Vec<Sample> {
        fake_samples()
    }
    fn heap_profile(&self, seconds: Option<Duration>) -> Result<Vec<u8>, ProfileError> {
        self.asked.lock().unwrap().push(seconds);
        if seconds.is_some() && self.panic.load(Ordering::SeqCst) {
            // Stands for "a delta is already being taken".
            return Err(ProfileError::Busy);
        }
        self.profile
            .clone()
            .ok_or_else(|| ProfileError::Unavailable("the fake has no profile".into()))
    }
}

fn start(config: ServerConfig) -> Server {
    Server::bind_with("127.0.0.1:0", Fake::new(), config).expect("bind 127.0.0.1:0")
}

// --- A raw HTTP client -----------------------------------------------------------------------

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as is and reads the reply until the server closes the connection.
fn send(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(CLIENT_WAIT)).unwrap();
    // The server may answer (and close) before all of an oversized request is written.
    let _ = stream.write_all(request);
    read_reply(&mut stream)
}

fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        // A reset after the reply was read is fine; nothing at all is not.
        assert!(!bytes.is_empty(), "no reply: {e}");
    }
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP reply: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap_or_else(|| panic!("header {l:?}"));
            (n.to_owned(), v.to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    get_with(addr, path, "")
}

fn get_with(addr: SocketAddr, path: &str, extra_headers: &str) -> Reply {
    send(
        addr,
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
}

// --- The routes ------------------------------------------------------------------------------

#[test]
fn every_route_answers_with_its_content() {
    let server = start(ServerConfig::default());
    let addr = server.local_addr();

    let metrics = get(addr, "/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("Content-Type"),
        Some(render::METRICS_CONTENT_TYPE)
    );
    assert!(
        metrics
            .body
            .contains("process_resident_memory_bytes 8028084\n"),
        "{}",
        metrics.body
    );
    assert!(metrics
        .body
        .contains("leakcheck_resource_state{resource=\"heap\"} 2\n"));
    assert!(metrics.body.contains("leakcheck_leak_suspected 1\n"));
    assert_eq!(
        metrics
            .header("Content-Length")
            .map(|n| n.parse::<usize>().unwrap()),
        Some(metrics.body.len())
    );

    let status = get(addr, "/api/status?pretty=no");
    assert_eq!(status.status, 200);
    assert_eq!(status.header("Content-Type"), Some("application/json"));
    let json: Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(json["leak_suspected"], Value::Bool(true));
    assert_eq!(
        json["heap"]["growing"][0]["function"],
        "svc::<b>handler</b>::leak"
    );
    assert_eq!(json["heap"]["growing"][1]["line"], Value::Null);
    let states: Vec<(&str, &str)> = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resource"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("heap", "leaking"),
            ("rss", "suspected"),
            ("threads", "ok"),
            ("fds", "ok")
        ]
    );
    assert_eq!(json["resources"][0]["growth_per_sec"], 1024.0);

    let samples: Value = serde_json::from_str(&get(addr, "/api/samples").body).unwrap();
    assert_eq!(samples.as_array().unwrap().len(), 40);
    assert_eq!(samples[20]["rss_bytes"], Value::Null);
    assert_eq!(samples[39]["heap_bytes"], 2_560_000 + 39 * 1024);

    let page = get(addr, "/dashboard");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page
        .header("Content-Security-Policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert!(page.body.contains("<svg"));

    let root = get(addr, "/");
    assert_eq!(
        (root.status, root.header("Location")),
        (302, Some("dashboard"))
    );

    let heap = get(addr, "/debug/pprof/heap");
    assert_eq!(heap.status, 404);
    assert!(
        heap.body.contains("the fake has no profile"),
        "{}",
        heap.body
    );
    assert_eq!(get(addr, "/nothing/here").status, 404);

    // HEAD: the same head, no body.
    let head = send(addr, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("Content-Length"),
        metrics.header("Content-Length")
    );
    server.stop();
}

#[test]
fn the_heap_profile_is_served_when_the_view_has_one() {
    let view = Arc::new(Fake {
        profile: Some(b"\x1f\x8b profile bytes".to_vec()),
        ..Fake::new()
    });
    let server = Server::bind("127.0.0.1:0", Arc::clone(&view)).unwrap();
    let heap = get(server.local_addr(), "/debug/pprof/heap");
    assert_eq!(heap.status, 200);
    assert_eq!(
        heap.header("Content-Type"),
        Some("application/octet-stream")
    );
    assert!(heap.body.ends_with(" profile bytes"), "{:?}", heap.body);
    // `seconds` asks for a delta; 0 is the live heap, as in Go's handler; other parameters
    // are ignored.
    for (query, status) in [
        ("?seconds=30", 200),
        ("?gc=1&seconds=0", 200),
        ("?debug=1", 200),
    ] {
        let reply = get(server.local_addr(), &format!("/debug/pprof/heap{query}"));
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
    }
    assert_eq!(
        *view.asked.lock().unwrap(),
        [None, Some(Duration::from_secs(30)), None, None]
    );
}

/// A bad `seconds` is refused before anything waits, saying what is allowed.
#[test]
fn a_bad_delta_is_refused_with_what_is_allowed() {
    let view = Fake {
        profile: Some(b"profile".to_vec()),
        ..Fake::new()
    };
    for bad in ["-1", "1.5", "x", "601", ""] {
        let reply =
            leakcheck_monitor::serve::route(&view, &format!("/debug/pprof/heap?seconds={bad}"));
        assert_eq!(reply.status, 400, "{bad}");
        let body = String::from_utf8(reply.body).unwrap();
        assert!(body.contains("from 0 to 600"), "{body}");
    }
    assert!(view.asked.lock().unwrap().is_empty());

    // While another delta is being taken: 429, retry later.
    view.panic.store(true, Ordering::SeqCst);
    let busy = leakcheck_monitor::serve::route(&view, "/debug/pprof/heap?seconds=5");
    assert_eq!(busy.status, 429);
    assert!(busy.headers.contains(&("Retry-After", "1".to_owned())));
}

/// Without a profile the answer says why there is none, and the old text route is gone.
#[test]
fn without_a_profile_the_heap_route_says_why() {
    let heap = leakcheck_monitor::serve::route(&Fake::new(), "/debug/pprof/heap");
    assert_eq!(heap.status, 404);
    let body = String::from_utf8(heap.body).unwrap();
    assert!(body.contains("the fake has no profile"), "{body}");
    let old = leakcheck_monitor::serve::route(&Fake::new(), "/debug/heap");
    assert_eq!(old.status, 404);
    let body = String::from_utf8(old.body).unwrap();
    assert!(
        body.contains("/debug/pprof/heap"),
        "names the routes: {body}"
    );
}

#[test]
fn metrics_pass_promtool_check_metrics() {
    let server = start(ServerConfig::default());
    let served = get(server.local_addr(), "/metrics").body;
    // Also what a fresh monitor and one watching another process (no heap) render.
    let mut other_process = fake_samples()[0];
    other_process.heap_bytes = None;
    other_process.heap_blocks = None;
    other_process.allocations_total = None;
    for text in [
        served,
        render::metrics(&Status::default(), None),
        render::metrics(&fake_status(), Some(&other_process)),
    ] {
        let mut child = Command::new(promtool())
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start promtool");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics failed:\n{}{}\non:\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// --- Hostile and broken clients --------------------------------------------------------------

#[test]
fn garbage_gets_400_and_the_server_answers_the_next_request() {
    let server = start(ServerConfig::default());
    let addr = server.local_addr();
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..], // a TLS hello
        b"hello there\r\n\r\n",
        b"GET /metrics\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nno-colon-here\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\n", // closed before the head ends
    ] {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(CLIENT_WAIT)).unwrap();
        stream.write_all(garbage).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let reply = read_reply(&mut stream);
        assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(garbage));
    }
    let post = send(
        addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(
        (post.status, post.header("Allow")),
        (405, Some("GET, HEAD"))
    );
    assert_eq!(send(addr, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").status, 505);
    assert_eq!(get(addr, "/metrics").status, 200);
}

#[test]
fn oversized_requests_get_431_and_414() {
    let server = start(ServerConfig::default());
    let addr = server.local_addr();
    let big = format!("X-Big: {}\r\n", "a".repeat(16 * 1024));
    assert_eq!(get_with(addr, "/metrics", &big).status, 431);
    // Many small headers add up the same way.
    let many: String = (0..800).map(|i| format!("X-H{i}: value\r\n")).collect();
    assert_eq!(get_with(addr, "/metrics", &many).status, 431);
    let long_path = format!("/metrics?{}", "q".repeat(4096));
    assert_eq!(get(addr, &long_path).status, 414);
    assert_eq!(get(addr, "/metrics").status, 200);
}

#[test]
fn a_slow_client_is_cut_off_while_others_are_served() {
    let server = start({
        let mut config = ServerConfig::default();
        config.request_timeout = Duration::from_millis(500);
        config
    });
    let addr = server.local_addr();

    // One client connects and says nothing; another trickles a byte at a time, which a
    // per-read timeout would never end.
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(CLIENT_WAIT)).unwrap();
    let mut trickle = TcpStream::connect(addr).unwrap();
    trickle.set_read_timeout(Some(CLIENT_WAIT)).unwrap();
    let writer = {
        let mut trickle = trickle.try_clone().unwrap();
        std::thread::spawn(move || {
            for b in b"GET /metrics HTTP/1.1\r\nX-Slow: "
                .iter()
                .chain(&[b'z'; 400])
            {
                if trickle.write_all(&[*b]).is_err() {
                    return true; // cut off
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
    };

    // Both are held open by the server, and yet it serves others.
    for _ in 0..3 {
        assert_eq!(get(addr, "/api/status").status, 200);
    }

    let mut bytes = Vec::new();
    silent
        .read_to_end(&mut bytes)
        .expect("the server closes a silent connection (the client gave up waiting first)");
    assert_eq!(parse_reply(&bytes).status, 408);
    assert_eq!(read_reply(&mut trickle).status, 408);
    assert!(writer.join().unwrap(), "the trickling client was cut off");
}

#[test]
fn connections_beyond_the_cap_get_503_until_one_closes() {
    let server = start({
        let mut config = ServerConfig::default();
        config.workers = 1;
        config.max_connections = 2;
        config.request_timeout = Duration::from_secs(120);
        config
    });
    let addr = server.local_addr();
    // Two idle connections: one with the worker, one waiting for it. The acceptor counts them
    // in the order the kernel completed them, so the third is over the cap.
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let over = get(addr, "/metrics");
    assert_eq!((over.status, over.header("Retry-After")), (503, Some("1")));
    drop(idle);
    // The worker sees both close and lets them go; until then the server may still say 503.
    let mut attempts = 0;
    loop {
        let reply = get(addr, "/metrics");
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503);
        attempts += 1;
        assert!(attempts < 500, "the cap never freed up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_bearer_token_is_required_when_configured() {
    let server = start({
        let mut config = ServerConfig::default();
        config.bearer_token = Some("s3cret-token".into());
        config
    });
    let addr = server.local_addr();
    for path in [
        "/metrics",
        "/api/status",
        "/api/samples",
        "/debug/pprof/heap",
    ] {
        let missing = get(addr, path);
        assert_eq!(missing.status, 401, "{path}");
        assert_eq!(
            missing.header("WWW-Authenticate"),
            Some("Bearer realm=\"leakcheck\"")
        );
        assert!(!missing.body.contains("leakcheck_"), "nothing leaks out");
        assert_eq!(
            get_with(addr, path, "Authorization: Bearer wrong\r\n").status,
            401
        );
        assert_eq!(
            get_with(addr, path, "Authorization: Basic s3cret-token\r\n").status,
            401
        );
    }
    let ok = get_with(addr, "/metrics", "Authorization: Bearer s3cret-token\r\n");
    assert_eq!(ok.status, 200);
    // The page holds no data; it asks for the token itself (from the URL fragment).
    assert_eq!(get(addr, "/dashboard").status, 200);
}

#[test]
fn a_panicking_view_answers_500_and_the_server_stays_up() {
    let view = Arc::new(Fake::new());
    let server = Server::bind("127.0.0.1:0", Arc::clone(&view)).unwrap();
    let addr = server.local_addr();
    view.panic.store(true, Ordering::SeqCst);
    assert_eq!(get(addr, "/api/status").status, 500);
    assert_eq!(get(addr, "/metrics").status, 500);
    view.panic.store(false, Ordering::SeqCst);
    assert_eq!(get(addr, "/api/status").status, 200);
}

#[test]
fn a_stopped_server_no_longer_listens() {
    let server = start(ServerConfig::default());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/metrics").status, 200);
    server.stop();
    let refused = TcpStream::connect(addr);
    assert!(refused.is_err(), "still accepting after stop()");
}

// --- deploy/: alert rules and the Grafana dashboard -------------------------------------------

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

/// promtool: Debian's `/usr/bin/promtool` or `promtool` on PATH. Missing is a failure.
fn promtool() -> PathBuf {
    browser::tool(
        "promtool",
        "this test checks the Prometheus text and alert rules with promtool, and none was found \
         at /usr/bin/promtool or on PATH: install Debian's `prometheus` package \
         (`sudo apt-get install prometheus`), as `.ci/run` does",
    )
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    for args in [
        ["check", "rules", "leakcheck-rules.yml"],
        ["test", "rules", "leakcheck-rules.test.yml"],
    ] {
        let out = Command::new(promtool())
            .args(args)
            .current_dir(deploy("prometheus"))
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every metric name (`leakcheck_…`, `process_…`) in `text`, a PromQL expression or rule file.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("leakcheck_") || w.starts_with("process_"))
        // `leakcheck_*` in a comment is a prefix, not a name.
        .filter(|w| !w.ends_with('_'))
        .map(str::to_owned)
        .collect()
}

/// The families `metrics()` emits when everything is known.
fn emitted() -> BTreeSet<String> {
    let text = render::metrics(&fake_status(), fake_samples().last());
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

#[test]
fn grafana_dashboard_and_rules_use_only_metrics_we_emit() {
    let emitted = emitted();
    assert_eq!(
        emitted.iter().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut all = render::METRIC_NAMES.to_vec();
            all.sort_unstable();
            all
        },
        "a full status emits every listed family"
    );

    let text = std::fs::read_to_string(deploy("grafana/leakcheck-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "panel ids are unique"
        );
        let targets = panel["targets"].as_array().expect("every panel queries");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for t in targets {
            used.extend(metric_names(t["expr"].as_str().expect("expr")));
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["definition"].as_str() {
            used.extend(metric_names(q));
        }
    }
    let unknown: Vec<_> = used.difference(&emitted).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics we never emit: {unknown:?}"
    );
    for needed in [
        "leakcheck_heap_live_bytes",
        "process_resident_memory_bytes",
        "process_threads",
        "process_open_fds",
        "leakcheck_resource_state",
        "leakcheck_seconds_to_limit",
    ] {
        assert!(used.contains(needed), "the dashboard shows {needed}");
    }

    let rules = std::fs::read_to_string(deploy("prometheus/leakcheck-rules.yml")).unwrap();
    let unknown: Vec<_> = metric_names(&rules)
        .into_iter()
        .filter(|m| !emitted.contains(m))
        .collect();
    assert!(
        unknown.is_empty(),
        "the rules use metrics we never emit: {unknown:?}"
    );
}

// --- The dashboard in a browser ----------------------------------------------------------------

/// Loads `url` in headless Chromium and returns the DOM after 5 s of virtual time.
fn dump_dom(url: &str, name: &str) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("monitor-http")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    browser::headless(
        url,
        &["--virtual-time-budget=5000", "--dump-dom"],
        &dir,
        "dom",
    )
}

/// The `data-drawn` counts of the charts in a dumped DOM, in page order.
fn drawn(dom: &str) -> Vec<u64> {
    dom.split("data-drawn=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect()
}

fn check_dashboard_dom(dom: &str) {
    // Heap, RSS (two missing), threads, fds, and the allocation rate (one fewer than samples).
    assert_eq!(drawn(dom), [40, 38, 40, 40, 39], "charts drawn:\n{dom}");
    // One line per unbroken stretch: the RSS gap splits its line in two.
    assert_eq!(dom.matches("<polyline").count(), 6, "lines in the DOM");
    assert!(
        dom.contains("<tr class=\"leaking\" data-resource=\"heap\">"),
        "{dom}"
    );
    assert!(dom.contains("<tr class=\"suspected\" data-resource=\"rss\">"));
    assert!(dom.contains("<figure class=\"chart leaking\" data-key=\"heap_bytes\""));
    assert!(dom.contains("id=\"banner\" class=\"leaking\""));
    // Text from the server stays text.
    assert!(dom.contains("heap &lt;b&gt;grew&lt;/b&gt;") && !dom.contains("<b>grew</b>"));
    assert!(dom.contains("pid 4242"));
    // The growing sites, in order, names as text.
    let growing = &dom[dom.find("id=\"growing\"").expect("the growing section")..];
    let growing = &growing[..growing.find("</section>").unwrap()];
    assert!(!growing.contains("hidden"), "{growing}");
    let first = growing
        .find("data-fingerprint=\"00112233445566ff\"")
        .expect(growing);
    let second = growing
        .find("data-fingerprint=\"aabbccddeeff0011\"")
        .expect(growing);
    assert!(first < second, "{growing}");
    assert!(
        growing.contains("svc::&lt;b&gt;handler&lt;/b&gt;::leak"),
        "{growing}"
    );
    assert!(
        growing.contains("src/handler.rs:42") && growing.contains("+3.00 MiB/min"),
        "{growing}"
    );
    assert!(growing.contains("2 other site(s)"), "{growing}");
}

#[test]
fn the_dashboard_draws_its_charts_in_headless_chromium() {
    let server = start(ServerConfig::default());
    let dom = dump_dom(
        &format!("http://{}/dashboard", server.local_addr()),
        "plain",
    );
    check_dashboard_dom(&dom);

    // With a token, given in the fragment; without it the page says what is missing.
    let server = start({
        let mut config = ServerConfig::default();
        config.bearer_token = Some("tok-123".into());
        config
    });
    let base = format!("http://{}/dashboard", server.local_addr());
    check_dashboard_dom(&dump_dom(&format!("{base}#token=tok-123"), "token"));
    let refused = dump_dom(&base, "no-token");
    assert_eq!(
        drawn(&refused),
        Vec::<u64>::new(),
        "nothing drawn without the token"
    );
    assert!(refused.contains("401"), "{refused}");
}

/// The Parca and Alloy configurations scrape paths the endpoint serves (neither tool runs on our
/// CI machines; this checks what we can: that the paths are routes with a profile).
#[test]
fn profilers_are_configured_to_scrape_routes_we_serve() {
    let view = Fake {
        profile: Some(b"profile".to_vec()),
        ..Fake::new()
    };
    for file in ["parca/parca.yaml", "alloy/leakcheck.alloy"] {
        let text = std::fs::read_to_string(deploy(file)).unwrap();
        let paths: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with(['#', '/']))
            .filter_map(|l| {
                let rest = l.trim_start().strip_prefix("path")?;
                Some(
                    rest.trim_start_matches([' ', ':', '='])
                        .trim()
                        .trim_matches('"'),
                )
            })
            .collect();
        assert_eq!(paths, ["/debug/pprof/heap"], "{file}");
        for path in paths {
            let reply = leakcheck_monitor::serve::route(&view, path);
            assert_eq!(reply.status, 200, "{file}: {path}");
        }
        assert!(text.contains("9464"), "{file} scrapes the documented port");
    }
}
