//! The optional HTTP endpoint: `/metrics`, `/api/status`, `/api/samples`, `/dashboard` and
//! `/debug/pprof/heap`, served from a [`View`] of the monitor.
//!
//! Why not an HTTP crate: this server runs inside users' production binaries. hyper or axum
//! would bring an async runtime and an HTTP stack the application may not otherwise use, and
//! with them a much larger surface to trust. What is served here is tiny — a handful of GET
//! routes, one request per connection (`Connection: close`), no request bodies, no TLS (put a
//! proxy in front for that) — and that fits in a few hundred lines on [`std::net`].
//!
//! Why a fixed worker pool rather than a thread per connection: the monitor counts the host's
//! threads. A thread per scrape would make that count jitter with the traffic; a pool started
//! at [`Server::bind`] keeps it constant (one accept thread plus [`ServerConfig::workers`]).
//!
//! Hardening, because the endpoint may be reachable by anything on the network it is bound to:
//!
//! * the whole request head must arrive within [`ServerConfig::request_timeout`] (a client that
//!   trickles bytes — slowloris — is cut off at the deadline, not at each read), else `408`;
//! * the request line is limited ([`ServerConfig::max_request_line`], `414`) and the head too
//!   ([`ServerConfig::max_header_bytes`], `431`);
//! * only `GET` and `HEAD` (`405`), only `HTTP/1.x` (`505`), anything unparseable is `400`;
//! * at most [`ServerConfig::max_connections`] connections are held (served or waiting for a
//!   worker); beyond that a connection gets `503` at once;
//! * a panic while serving (in a [`View`], say) ends that connection with `500` and never
//!   reaches the host application;
//! * an optional bearer token ([`ServerConfig::bearer_token`]); `401` without it.
//!
//! `/debug/pprof/heap` is Go's heap profile endpoint: a gzipped pprof `profile.proto` of the
//! live heap, from the counting allocator's sampler ([`crate::profile`]), or with `?seconds=N`
//! the change over the next N seconds (a delta profile, N at most
//! [`MAX_DELTA`], one at a time, else `429`). `go tool pprof`,
//! Parca, Grafana Alloy / Pyroscope read it as they read a Go service's. It answers `404`
//! saying why when there is no profile: the counting allocator not installed, sampling off, or
//! a monitor watching another process (whose allocator it cannot sample).
//!
//! The renderers are plain functions ([`render`], [`dashboard`]),
//! and [`route`] maps a path to a [`Response`], so an application with its own HTTP server can
//! mount them instead of running this one.
//!
//! ```no_run
//! leakcheck_monitor::global_allocator!();
//!
//! use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
//! use leakcheck_monitor::serve::{Server, DEFAULT_BIND};
//!
//! fn main() -> std::io::Result<()> {
//!     let monitor = Monitor::start(MonitorConfig::new().log_alerts())?;
//!     let server = Server::bind((DEFAULT_BIND, 9464), monitor.handle())?;
//!     eprintln!("dashboard at http://{}/dashboard", server.local_addr());
//!     // … the application runs; dropping `server` and `monitor` stops both …
//!     Ok(())
//! }
//! ```

use super::profile::{ProfileError, MAX_DELTA};
use super::{dashboard, render, Sample, Status};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The address to bind when none is given: loopback only, so nothing outside the host can
/// reach the endpoint unless the operator says so.
pub const DEFAULT_BIND: &str = "127.0.0.1";

/// What the server shows: the monitor's current state. `MonitorHandle` implements it; tests
/// and applications can implement it for anything else.
pub trait View: Send + Sync + 'static {
    /// The current status (`/api/status`, the `leakcheck_*` state metrics).
    fn status(&self) -> Status;
    /// The recent samples, oldest first (`/api/samples`, the dashboard's charts).
    fn samples(&self) -> Vec<Sample>;
    /// The newest sample (the gauges of `/metrics`). The default takes the last of
    /// [`samples`](View::samples); implementations with a cheaper way should override it.
    fn latest(&self) -> Option<Sample> {
        self.samples().last().copied()
    }
    /// A heap profile, gzipped pprof `profile.proto` (`/debug/pprof/heap`): the live heap, or
    /// with `seconds` the change over the next `seconds`. The default has none (`404`).
    fn heap_profile(&self, seconds: Option<Duration>) -> Result<Vec<u8>, ProfileError> {
        let _ = seconds;
        Err(ProfileError::Unavailable(
            "no heap profile: this view has none".to_owned(),
        ))
    }
}

impl<V: View + ?Sized> View for Arc<V> {
    fn status(&self) -> Status {
        (**self).status()
    }
    fn samples(&self) -> Vec<Sample> {
        (**self).samples()
    }
    fn latest(&self) -> Option<Sample> {
        (**self).latest()
    }
    fn heap_profile(&self, seconds: Option<Duration>) -> Result<Vec<u8>, ProfileError> {
        (**self).heap_profile(seconds)
    }
}

/// The running monitor's handle is what the endpoint usually serves.
impl View for super::sampler::MonitorHandle {
    fn status(&self) -> Status {
        super::sampler::MonitorHandle::status(self)
    }
    fn samples(&self) -> Vec<Sample> {
        super::sampler::MonitorHandle::samples(self)
    }
    fn latest(&self) -> Option<Sample> {
        super::sampler::MonitorHandle::latest(self)
    }
    fn heap_profile(&self, seconds: Option<Duration>) -> Result<Vec<u8>, ProfileError> {
        super::sampler::MonitorHandle::heap_profile(self, seconds)
    }
}

/// Limits and options of a [`Server`]. The defaults suit a Prometheus scrape every few seconds
/// and a dashboard or two.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Threads that serve requests (at least 1). Default 4.
    pub workers: usize,
    /// Connections held at once, being served or waiting for a worker; more get `503`.
    /// Default 32.
    pub max_connections: usize,
    /// Time allowed for the whole request head to arrive, from the connection's acceptance.
    /// Default 5 s.
    pub request_timeout: Duration,
    /// Time allowed for writing the response. Default 5 s.
    pub write_timeout: Duration,
    /// Longest request line (`GET /path HTTP/1.1`). Default 2 KiB.
    pub max_request_line: usize,
    /// Largest request head (request line and headers). Default 8 KiB.
    pub max_header_bytes: usize,
    /// When set, every route but the dashboard page (which holds no data) requires
    /// `Authorization: Bearer TOKEN`. Default none.
    pub bearer_token: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: 4,
            max_connections: 32,
            request_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            max_request_line: 2048,
            max_header_bytes: 8192,
            bearer_token: None,
        }
    }
}

/// An HTTP response of [`route`]: what to send, whatever server sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Headers beyond `Content-Type`, `Content-Length` and the fixed ones.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    fn text(status: u16, body: impl Into<String>) -> Response {
        let mut body = body.into();
        body.push('\n');
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// The routes, for the answer to an unknown path.
const ROUTES: &str =
    "/metrics, /api/status, /api/samples, /dashboard, /debug/pprof/heap and /debug/pprof/allocs";

/// The response for a GET of `target` (a path, with or without its query string), from
/// `view`: the routing of [`Server`], for applications that serve the monitor from their own
/// HTTP server. A delta heap profile (`/debug/pprof/heap?seconds=N`) blocks for its N seconds.
pub fn route(view: &dyn View, target: &str) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/metrics" => Response::new(
            200,
            render::METRICS_CONTENT_TYPE,
            render::metrics(&view.status(), view.latest().as_ref()),
        ),
        "/api/status" => Response::new(
            200,
            render::JSON_CONTENT_TYPE,
            render::status_json(&view.status()),
        ),
        "/api/samples" => Response::new(
            200,
            render::JSON_CONTENT_TYPE,
            render::samples_json(&view.samples()),
        ),
        "/dashboard" => Response::new(200, dashboard::CONTENT_TYPE, dashboard::page().to_owned())
            .with(
                "Content-Security-Policy",
                dashboard::CONTENT_SECURITY_POLICY,
            ),
        // Relative, so that it also works when the routes are mounted under a prefix.
        "/" => Response::text(302, "see dashboard").with("Location", "dashboard"),
        // Go serves the same profile at both, `allocs` showing alloc_space by default; the
        // default only matters to a viewer, and scrapers (Grafana Alloy's memory profile reads
        // `allocs` unless told otherwise) ingest every sample type.
        "/debug/pprof/heap" | "/debug/pprof/allocs" => heap_profile(view, query),
        _ => Response::text(404, format!("not found; the routes are {ROUTES}")),
    }
}

/// `/debug/pprof/heap`, with the query Go's handler takes: `seconds=N` for a delta profile
/// (`0` or none: the live heap). Other parameters (`gc`, `debug`) are ignored.
fn heap_profile(view: &dyn View, query: &str) -> Response {
    let mut seconds = None;
    for (key, value) in query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
    {
        if key == "seconds" {
            match value.parse::<u64>() {
                Ok(0) => seconds = None,
                Ok(n) if n <= MAX_DELTA.as_secs() => seconds = Some(Duration::from_secs(n)),
                _ => {
                    return Response::text(
                        400,
                        format!(
                            "seconds must be a whole number from 0 to {}, not {value:?}",
                            MAX_DELTA.as_secs()
                        ),
                    )
                }
            }
        }
    }
    match view.heap_profile(seconds) {
        Ok(profile) => Response::new(200, "application/octet-stream", profile)
            .with("Content-Disposition", "attachment; filename=\"heap\""),
        Err(e @ ProfileError::Busy) => Response::text(429, e.to_string()).with("Retry-After", "1"),
        Err(e) => Response::text(404, e.to_string()),
    }
}

/// A running endpoint. Stops on [`stop`](Server::stop) or when dropped.
///
/// ```no_run
/// use leakcheck_monitor::serve::{Server, View, DEFAULT_BIND};
/// # fn demo(view: impl View) -> std::io::Result<()> {
/// let server = Server::bind((DEFAULT_BIND, 9464), view)?;
/// println!("metrics at http://{}/metrics", server.local_addr());
/// # Ok(()) }
/// ```
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    view: Box<dyn View>,
    config: ServerConfig,
    stop: AtomicBool,
    /// Connections accepted and not yet closed (queued or being served).
    held: AtomicUsize,
}

/// A connection on its way to a worker, with the moment it was accepted (its request deadline
/// counts from there, not from when a worker got to it).
struct Job {
    stream: TcpStream,
    accepted: Instant,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) with the default [`ServerConfig`] and starts
    /// serving `view`.
    pub fn bind(addr: impl ToSocketAddrs, view: impl View) -> io::Result<Server> {
        Server::bind_with(addr, view, ServerConfig::default())
    }

    /// Binds `addr` with `config` and starts serving `view`.
    pub fn bind_with(
        addr: impl ToSocketAddrs,
        view: impl View,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let workers = config.workers.max(1);
        let shared = Arc::new(Shared {
            view: Box::new(view),
            config,
            stop: AtomicBool::new(false),
            held: AtomicUsize::new(0),
        });
        // Never full: the acceptor holds at most `max_connections`, counted in `held`.
        let (tx, rx) = mpsc::sync_channel::<Job>(shared.config.max_connections.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let (rx, shared) = (Arc::clone(&rx), Arc::clone(&shared));
            thread::Builder::new()
                .name(format!("leakcheck-http-{i}"))
                .spawn(move || worker(&rx, &shared))?;
        }
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("leakcheck-http-accept".into())
                .spawn(move || accept(&listener, tx, &shared))?
        };
        Ok(Server {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the accept thread to end. Requests already
    /// being served finish on their own (within the timeouts); then the workers exit.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // `accept` blocks; a connection of our own wakes it to see the flag. If that
        // connection cannot be made, the thread is left to notice at the next connection
        // rather than blocking the caller.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Decrements `held` when a connection is done with, however it ends.
struct Held(Arc<Shared>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept(listener: &TcpListener, tx: SyncSender<Job>, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match conn {
            Ok(stream) => stream,
            // Out of fds or the like: back off a little instead of spinning on the error.
            Err(_) => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let accepted = Instant::now();
        if shared.held.fetch_add(1, Ordering::SeqCst) >= shared.config.max_connections {
            shared.held.fetch_sub(1, Ordering::SeqCst);
            reject(stream);
            continue;
        }
        match tx.try_send(Job { stream, accepted }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                shared.held.fetch_sub(1, Ordering::SeqCst);
            }
            Err(TrySendError::Disconnected(_)) => break,
        }
    }
    // Dropping `tx` here lets the workers drain the queue and exit.
}

/// Answers `503` on the acceptor's thread without ever waiting: everything non-blocking, so a
/// client that neither sends nor reads cannot stall accepting. What the client already sent is
/// read first, because closing with unread input resets the connection and can destroy the
/// answer before the client reads it.
fn reject(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
    let response = Response::text(503, "too many connections").with("Retry-After", "1");
    let mut bytes = head(&response, response.body.len());
    bytes.extend_from_slice(&response.body);
    let _ = stream.write_all(&bytes);
    let _ = stream.shutdown(Shutdown::Write);
}

fn worker(rx: &Mutex<Receiver<Job>>, shared: &Arc<Shared>) {
    loop {
        // The lock is held only while waiting for the next job, never while serving one.
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(Job {
            mut stream,
            accepted,
        }) = job
        else {
            return;
        };
        let _held = Held(Arc::clone(shared));
        let served = catch_unwind(AssertUnwindSafe(|| {
            connection(&mut stream, accepted, shared)
        }));
        if served.is_err() {
            let _ = respond(
                &mut stream,
                &Response::text(500, "internal error while serving"),
                false,
            );
            linger(&mut stream);
        }
    }
}

/// Serves one request on `stream` and closes it.
fn connection(stream: &mut TcpStream, accepted: Instant, shared: &Shared) {
    let config = &shared.config;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(config.write_timeout));
    let deadline = accepted + config.request_timeout;
    let response = match read_head(stream, deadline, config) {
        Ok(head) => match parse(&head) {
            Ok(request) => Some(handle(&request, shared)),
            Err(response) => Some((response, false)),
        },
        Err(HeadError::Closed) => None,
        Err(HeadError::Timeout) => Some((Response::text(408, "request timeout"), false)),
        Err(HeadError::LineTooLong) => Some((Response::text(414, "request line too long"), false)),
        Err(HeadError::TooLarge) => Some((
            Response::text(431, "request header fields too large"),
            false,
        )),
        Err(HeadError::Malformed) => Some((Response::text(400, "bad request"), false)),
    };
    if let Some((response, head_only)) = response {
        let _ = respond(stream, &response, head_only);
        linger(stream);
    }
}

/// The response to a parsed request, and whether it is a HEAD (no body sent).
fn handle(request: &Request, shared: &Shared) -> (Response, bool) {
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return (
            Response::text(405, "only GET and HEAD").with("Allow", "GET, HEAD"),
            false,
        );
    }
    let path = request.target.split('?').next().unwrap_or("/");
    let public = matches!(path, "/dashboard" | "/");
    if let (Some(token), false) = (&shared.config.bearer_token, public) {
        if !authorized(request.authorization.as_deref(), token) {
            return (
                Response::text(401, "a bearer token is required")
                    .with("WWW-Authenticate", "Bearer realm=\"leakcheck\""),
                head_only,
            );
        }
    }
    (route(shared.view.as_ref(), &request.target), head_only)
}

/// Whether `header` is `Bearer TOKEN`, compared in time independent of where they differ.
fn authorized(header: Option<&str>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    }) else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum HeadError {
    /// The client closed before sending anything.
    Closed,
    Timeout,
    LineTooLong,
    TooLarge,
    Malformed,
}

/// Reads the request head (up to the blank line) by `deadline`.
fn read_head(
    stream: &mut TcpStream,
    deadline: Instant,
    config: &ServerConfig,
) -> Result<Vec<u8>, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(HeadError::Timeout);
        }
        // The remaining time, not a fixed per-read timeout: a trickle of bytes cannot extend it.
        let _ = stream.set_read_timeout(Some(deadline - now));
        let n = match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(HeadError::Closed),
            Ok(0) => return Err(HeadError::Malformed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::Timeout)
            }
            Err(_) => return Err(HeadError::Closed),
        };
        buf.extend_from_slice(&chunk[..n]);
        let line_end = buf.iter().position(|&b| b == b'\n');
        if line_end.unwrap_or(buf.len()) > config.max_request_line {
            return Err(HeadError::LineTooLong);
        }
        if let Some(end) = head_end(&buf) {
            if end > config.max_header_bytes {
                return Err(HeadError::TooLarge);
            }
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() > config.max_header_bytes {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Where the head ends: after the first empty line (CRLF CRLF, or bare LFs, which RFC 9112
/// allows a server to accept).
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if buf[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else if buf[i..].starts_with(b"\n\r\n") {
            Some(i + 3)
        } else {
            None
        }
    })
}

struct Request {
    method: String,
    /// The path and query string, without a fragment.
    target: String,
    authorization: Option<String>,
}

/// Parses a request head; an error is the response to send.
fn parse(head: &[u8]) -> Result<Request, Response> {
    let bad = || Response::text(400, "bad request");
    let head = std::str::from_utf8(head).map_err(|_| bad())?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or_else(bad)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => {
            return Err(Response::text(505, "only HTTP/1.0 and HTTP/1.1"))
        }
        _ => return Err(bad()),
    }
    let mut authorization = None;
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(bad());
        }
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim().to_owned());
        }
    }
    // Origin form (`/path?query`) or absolute form (`http://host/path`).
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None if target.starts_with('/') => target,
        None => return Err(bad()),
    };
    let target = path.split('#').next().unwrap_or("/").to_owned();
    Ok(Request {
        method: method.to_owned(),
        target,
        authorization,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The status line and headers of `response` (its body not included).
fn head(response: &Response, body_len: usize) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        body_len,
    );
    for (name, value) in &response.headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn respond(stream: &mut TcpStream, response: &Response, head_only: bool) -> io::Result<()> {
    let body = &response.body;
    let mut bytes = head(response, body.len());
    if !head_only {
        bytes.extend_from_slice(body);
    }
    stream.write_all(&bytes)?;
    stream.flush()
}

/// Closes gracefully: stop sending, then read and discard what the client still sends for a
/// moment. Closing a socket with unread input makes the kernel send a reset, which can destroy
/// the response before the client reads it (a 431 to a client still sending its headers). The
/// moment is a deadline for the whole drain, not per read, so a client that keeps trickling
/// bytes cannot hold the worker here.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(250);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let _ = stream.set_read_timeout(Some(deadline - now));
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origin_and_absolute_targets() {
        let r = parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n\r\n")
            .unwrap_or_else(|r| panic!("{r:?}"));
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("GET", "/metrics?x=1")
        );
        assert_eq!(r.authorization.as_deref(), Some("Bearer t"));
        let r =
            parse(b"HEAD http://h:1/api/status HTTP/1.0\n\n").unwrap_or_else(|r| panic!("{r:?}"));
        assert_eq!(r.target, "/api/status");
    }

    #[test]
    fn rejects_what_is_not_http_1() {
        for head in [
            &b"hello\r\n\r\n"[..],
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET relative HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n\xff\xfe: x\r\n\r\n",
        ] {
            let status = parse(head).err().map(|r| r.status);
            assert_eq!(status, Some(400), "{}", String::from_utf8_lossy(head));
        }
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\n").err().map(|r| r.status),
            Some(505)
        );
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        assert!(authorized(Some("Bearer s3cret"), "s3cret"));
        assert!(authorized(Some("bearer  s3cret "), "s3cret"));
        assert!(!authorized(Some("Bearer s3cre"), "s3cret"));
        assert!(!authorized(Some("Basic s3cret"), "s3cret"));
        assert!(!authorized(None, "s3cret"));
    }

    #[test]
    fn the_head_ends_at_the_first_empty_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
