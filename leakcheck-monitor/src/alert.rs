//! Alerts: the [`Alerter`] turns the detectors' states into one firing alert per leak episode
//! and one resolved alert when it ends, and hands them to [`Sink`]s: a callback, a log line,
//! or an HTTP POST to a webhook (plain JSON, or Alertmanager's `/api/v2/alerts`).
//!
//! The webhook is a small HTTP/1.1 client over [`std::net::TcpStream`], `http://` only. Why no
//! HTTP client crate: the monitor runs inside the user's production binary, and pulling in an
//! HTTP and TLS stack (with its own threads, allocations and vulnerabilities) to post one small
//! JSON document per episode would cost more than everything else the monitor does. Reach an
//! Alertmanager over loopback or the cluster network (a sidecar, or its in-cluster service);
//! where TLS is required, point the webhook at a local relay.

use super::detect::{amount, fmt_secs};
use super::growth::GrowingSite;
use super::{Alert, Resource, ResourceStatus, State};
pub use crate::error::{AlertError, UrlProblem};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Where alerts go. Implementations must not block for long: they run on the monitor's
/// sampling thread (the webhook has connect and I/O timeouts).
pub trait Sink: Send {
    /// Delivers one alert (firing or resolved).
    fn send(&mut self, alert: &Alert) -> Result<(), AlertError>;

    /// How often an alert that is still firing must be sent again, if the receiver forgets
    /// alerts that are not repeated (Alertmanager does, after its `resolve_timeout`).
    fn resend_interval(&self) -> Option<Duration> {
        None
    }

    /// A short name for messages and the monitor's configuration, e.g. `webhook http://…`.
    fn name(&self) -> String;
}

/// Calls a function with every alert.
pub struct CallbackSink(pub Box<dyn FnMut(&Alert) + Send>);

impl CallbackSink {
    /// A sink calling `f`.
    pub fn new(f: impl FnMut(&Alert) + Send + 'static) -> Self {
        CallbackSink(Box::new(f))
    }
}

impl Sink for CallbackSink {
    fn send(&mut self, alert: &Alert) -> Result<(), AlertError> {
        (self.0)(alert);
        Ok(())
    }

    fn name(&self) -> String {
        "callback".into()
    }
}

/// Writes one line per alert, to stderr or any writer:
/// `leakcheck: FIRING heap (pid 1234): heap is leaking: …`.
pub struct LogSink {
    out: Box<dyn Write + Send>,
}

impl LogSink {
    /// Lines to standard error.
    pub fn stderr() -> Self {
        LogSink::to(io::stderr())
    }

    /// Lines to `out`.
    pub fn to(out: impl Write + Send + 'static) -> Self {
        LogSink { out: Box::new(out) }
    }
}

impl Sink for LogSink {
    fn send(&mut self, alert: &Alert) -> Result<(), AlertError> {
        let what = if alert.firing { "FIRING" } else { "RESOLVED" };
        writeln!(
            self.out,
            "leakcheck: {what} {} (pid {}): {}",
            alert.resource, alert.pid, alert.summary
        )
        .and_then(|()| self.out.flush())
        .map_err(AlertError::Write)
    }

    fn name(&self) -> String {
        "log".into()
    }
}

/// The body a [`WebhookSink`] posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookFormat {
    /// The [`Alert`] as a JSON object.
    Json,
    /// Alertmanager's `POST /api/v2/alerts` body: a JSON array with one alert (see
    /// [`alertmanager_body`]).
    Alertmanager,
}

/// The labels that identify this process's alerts in Alertmanager, besides
/// `alertname="LeakcheckLeak"`, `resource` and `pid`. They must not change while an alert
/// fires: Alertmanager tells alerts apart by their labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertLabels {
    /// `job` (default `leakcheck`).
    pub job: String,
    /// `instance` (default: the host name).
    pub instance: String,
    /// Any other labels, e.g. `("team", "storage")`.
    pub extra: Vec<(String, String)>,
}

impl Default for AlertLabels {
    fn default() -> Self {
        AlertLabels {
            job: "leakcheck".into(),
            instance: hostname(),
            extra: Vec::new(),
        }
    }
}

/// POSTs every alert to an `http://` URL, as JSON or in Alertmanager's format.
#[derive(Clone, Debug)]
pub struct WebhookSink {
    /// Where to post (for Alertmanager, the full `/api/v2/alerts` URL).
    pub url: String,
    /// The body's format.
    pub format: WebhookFormat,
    /// Labels (Alertmanager format only).
    pub labels: AlertLabels,
    /// `generatorURL` of Alertmanager alerts, e.g. the monitor's dashboard.
    pub generator_url: Option<String>,
    /// Connect, read and write timeout (2 s).
    pub timeout: Duration,
    /// Re-send firing alerts this often (Alertmanager format: 60 s, well inside Alertmanager's
    /// default `resolve_timeout` of 5 minutes).
    pub resend: Option<Duration>,
}

impl WebhookSink {
    /// Posts each [`Alert`] as a JSON object to `url`. Fails on a URL that is not `http://`.
    pub fn json(url: &str) -> Result<Self, AlertError> {
        parse_http_url(url)?;
        Ok(WebhookSink {
            url: url.to_owned(),
            format: WebhookFormat::Json,
            labels: AlertLabels::default(),
            generator_url: None,
            timeout: Duration::from_secs(2),
            resend: None,
        })
    }

    /// Posts to the Alertmanager at `base` (e.g. `http://127.0.0.1:9093`; a URL that already
    /// ends in `/api/v2/alerts` is used as it is), re-sending firing alerts every 60 s.
    pub fn alertmanager(base: &str) -> Result<Self, AlertError> {
        let url = if base.trim_end_matches('/').ends_with("/api/v2/alerts") {
            base.to_owned()
        } else {
            format!("{}/api/v2/alerts", base.trim_end_matches('/'))
        };
        let mut sink = WebhookSink::json(&url)?;
        sink.format = WebhookFormat::Alertmanager;
        sink.resend = Some(Duration::from_secs(60));
        Ok(sink)
    }

    /// The body posted for `alert`.
    pub fn body(&self, alert: &Alert) -> String {
        match self.format {
            WebhookFormat::Json => serde_json::to_string(alert).expect("alerts serialize"),
            WebhookFormat::Alertmanager => {
                alertmanager_body(alert, &self.labels, self.generator_url.as_deref())
            }
        }
    }
}

impl Sink for WebhookSink {
    fn send(&mut self, alert: &Alert) -> Result<(), AlertError> {
        post(&self.url, &self.body(alert), self.timeout)
    }

    fn resend_interval(&self) -> Option<Duration> {
        self.resend
    }

    fn name(&self) -> String {
        match self.format {
            WebhookFormat::Json => format!("webhook {}", self.url),
            WebhookFormat::Alertmanager => format!("alertmanager {}", self.url),
        }
    }
}

/// The Alertmanager v2 body for one alert: a JSON array of one object with `labels`
/// (`alertname="LeakcheckLeak"`, `resource`, `pid`, `job`, `instance`, `severity="warning"`,
/// and `labels.extra`), `annotations` (`summary`, `description`, and for a heap alert that
/// names where the heap grows `top_site`, e.g. `app::cache::insert (src/cache.rs:40) +3.1
/// MiB/min ± 0.4 MiB/min`, and `top_site_fingerprint`), `startsAt`, `endsAt` on the resolving
/// alert (RFC 3339, UTC) and `generatorURL` when given.
pub fn alertmanager_body(
    alert: &Alert,
    labels: &AlertLabels,
    generator_url: Option<&str>,
) -> String {
    let mut label_map = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        label_map.insert(k.to_owned(), serde_json::Value::String(v));
    };
    put("alertname", "LeakcheckLeak".into());
    put("resource", alert.resource.name().into());
    put("pid", alert.pid.to_string());
    put("job", labels.job.clone());
    put("instance", labels.instance.clone());
    put("severity", "warning".into());
    for (k, v) in &labels.extra {
        put(k, v.clone());
    }
    let mut object = serde_json::json!({
        "labels": label_map,
        "annotations": {
            "summary": alert.summary,
            "description": alert.status.reason,
        },
        "startsAt": rfc3339(alert.starts_at_unix_ms),
    });
    if let Some(top) = alert.growing.first() {
        object["annotations"]["top_site"] = top.to_string().into();
        object["annotations"]["top_site_fingerprint"] = top.fingerprint.clone().into();
    }
    if let Some(ends) = alert.ends_at_unix_ms {
        object["endsAt"] = rfc3339(ends).into();
    }
    if let Some(url) = generator_url {
        object["generatorURL"] = url.into();
    }
    serde_json::Value::Array(vec![object]).to_string()
}

/// `unix_ms` as RFC 3339 in UTC with milliseconds, e.g. `2024-05-01T12:00:00.000Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms);
    humantime::format_rfc3339_millis(time).to_string()
}

/// One sentence on a firing alert: what grows, how fast, and when it reaches its limit.
pub fn firing_summary(status: &ResourceStatus) -> String {
    let r = status.resource;
    let mut text = format!(
        "{r} is leaking: growing {}/min",
        amount(r, status.growth_per_sec * 60.0)
    );
    if let Some(value) = status.value {
        text += &format!(" (now {})", amount(r, value));
    }
    match (status.limit, status.seconds_to_limit) {
        (Some(limit), Some(secs)) => {
            text += &format!(
                "; reaches its limit of {} in {}",
                amount(r, limit),
                fmt_secs(secs)
            );
        }
        (Some(limit), None) => text += &format!("; limit {}", amount(r, limit)),
        _ => {}
    }
    text
}

/// The clause a heap alert's summary ends with when it knows where the heap grows:
/// `; grows most at FUNCTION (FILE:LINE) +R/min ± E/min` and how many other of the
/// `certain` sites grow; empty when `growing` is.
pub fn sites_clause(growing: &[GrowingSite], certain: usize) -> String {
    let Some(top) = growing.first() else {
        return String::new();
    };
    let mut text = format!("; grows most at {top}");
    match certain.max(growing.len()) - 1 {
        0 => {}
        1 => text += " (and 1 other site)",
        n => text += &format!(" (and {n} other sites)"),
    }
    text
}

/// One sentence on a resolved alert.
pub fn resolved_summary(status: &ResourceStatus, started_ms: u64, ended_ms: u64) -> String {
    let r = status.resource;
    let mut text = format!(
        "{r} stopped growing; the episode lasted {}",
        fmt_secs(ended_ms.saturating_sub(started_ms) as f64 / 1000.0)
    );
    if let Some(value) = status.value {
        text += &format!(" (now {})", amount(r, value));
    }
    text
}

/// A sink and when it last received something (for re-sends).
struct Slot {
    sink: Box<dyn Sink>,
    last_sent_ms: Option<u64>,
}

/// Turns detector states into alerts, one firing alert when a resource starts leaking and one
/// resolved alert when it stops, never one per sample; re-sends firing alerts to sinks that ask
/// for it ([`Sink::resend_interval`]). Deterministic: time is what the caller passes.
///
/// A sink that fails or panics is reported on stderr and skipped; it never takes the monitor
/// (or the host) down.
pub struct Alerter {
    pid: u32,
    slots: Vec<Slot>,
    firing: Vec<Alert>,
    /// Where the heap grows, for heap alerts (see [`Alerter::set_heap_growing`]).
    heap_growing: Vec<GrowingSite>,
    /// How many sites grow for certain (`heap_growing` holds the first few).
    heap_certain: usize,
}

impl Alerter {
    /// An alerter for process `pid`, without sinks.
    pub fn new(pid: u32) -> Self {
        Alerter {
            pid,
            slots: Vec::new(),
            firing: Vec::with_capacity(super::Resource::MONITOR.len()),
            heap_growing: Vec::new(),
            heap_certain: 0,
        }
    }

    /// The sites where the heap grows for certain now, largest first: heap alerts raised or
    /// re-sent from now on name the first [`Alert::MAX_SITES`]. A firing heap alert keeps the
    /// sites it last named while none is certain, and its resolving alert names them too.
    pub fn set_heap_growing(&mut self, growing: &[GrowingSite]) {
        self.heap_growing.clear();
        self.heap_certain = growing.len();
        self.heap_growing
            .extend_from_slice(&growing[..growing.len().min(Alert::MAX_SITES)]);
    }

    /// The sites an alert of `resource` names now.
    fn growing_of(&self, resource: Resource) -> Vec<GrowingSite> {
        if resource == Resource::Heap {
            self.heap_growing.clone()
        } else {
            Vec::new()
        }
    }

    /// Adds a sink.
    pub fn add(&mut self, sink: Box<dyn Sink>) {
        self.slots.push(Slot {
            sink,
            last_sent_ms: None,
        });
    }

    /// The names of the sinks.
    pub fn sink_names(&self) -> Vec<String> {
        self.slots.iter().map(|s| s.sink.name()).collect()
    }

    /// The alerts firing now, one per leaking resource.
    pub fn firing(&self) -> &[Alert] {
        &self.firing
    }

    /// Takes the statuses at `now_unix_ms`; sends the alerts that start or end an episode to
    /// every sink, and firing alerts again to sinks whose re-send interval has passed. Returns
    /// the new alerts (not the re-sends).
    pub fn observe(&mut self, now_unix_ms: u64, statuses: &[ResourceStatus]) -> Vec<Alert> {
        let mut new = Vec::new();
        for status in statuses {
            let position = self
                .firing
                .iter()
                .position(|a| a.resource == status.resource);
            match (status.state, position) {
                (State::Leaking, None) => {
                    let growing = self.growing_of(status.resource);
                    let alert = Alert {
                        resource: status.resource,
                        firing: true,
                        starts_at_unix_ms: status.since_unix_ms,
                        ends_at_unix_ms: None,
                        summary: firing_summary(status)
                            + &sites_clause(&growing, self.heap_certain),
                        status: status.clone(),
                        pid: self.pid,
                        growing,
                    };
                    self.firing.push(alert.clone());
                    new.push(alert);
                }
                (State::Leaking, Some(i)) => {
                    // Re-sends carry the current growth, time to the limit and sites.
                    let growing = self.growing_of(status.resource);
                    let certain = self.heap_certain;
                    let alert = &mut self.firing[i];
                    if !growing.is_empty() {
                        alert.growing = growing;
                    }
                    alert.summary = firing_summary(status) + &sites_clause(&alert.growing, certain);
                    alert.status = status.clone();
                }
                (_, Some(i)) => {
                    let mut alert = self.firing.remove(i);
                    alert.firing = false;
                    alert.ends_at_unix_ms = Some(now_unix_ms);
                    alert.summary = resolved_summary(status, alert.starts_at_unix_ms, now_unix_ms);
                    if let Some(top) = alert.growing.first() {
                        alert.summary += &format!("; it grew most at {}", top.function);
                    }
                    alert.status = status.clone();
                    new.push(alert);
                }
                (_, None) => {}
            }
        }
        for slot in &mut self.slots {
            let due = match (slot.sink.resend_interval(), slot.last_sent_ms) {
                (Some(every), Some(last)) => {
                    now_unix_ms.saturating_sub(last) >= every.as_millis() as u64
                }
                (Some(_), None) => true,
                (None, _) => false,
            };
            let resends = self
                .firing
                .iter()
                .filter(|a| due && !new.iter().any(|n| n.resource == a.resource));
            let mut sent = false;
            for alert in new.iter().chain(resends) {
                deliver(slot.sink.as_mut(), alert);
                sent = true;
            }
            if sent {
                slot.last_sent_ms = Some(now_unix_ms);
            }
        }
        new
    }
}

/// Sends one alert, reporting a failure or a panic of the sink on stderr.
fn deliver(sink: &mut dyn Sink, alert: &Alert) {
    let outcome = catch_unwind(AssertUnwindSafe(|| sink.send(alert)));
    let problem = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            format!("panicked: {text}")
        }
    };
    eprintln!(
        "leakcheck monitor: alert sink `{}` failed to deliver the {} alert for {}: {problem}",
        sink.name(),
        if alert.firing { "firing" } else { "resolved" },
        alert.resource
    );
}

/// `(host, port, path)` of an `http://` URL.
fn parse_http_url(url: &str) -> Result<(String, u16, String), AlertError> {
    let bad = |problem| AlertError::Url {
        url: url.to_owned(),
        problem,
    };
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some(("https", _)) => return Err(bad(UrlProblem::Https)),
        _ => return Err(bad(UrlProblem::NotHttp)),
    };
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad(UrlProblem::UnclosedBracket))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| bad(UrlProblem::BadPort(p.to_owned())))?,
        None => 80,
    };
    if host.is_empty() {
        return Err(bad(UrlProblem::NoHost));
    }
    Ok((host.to_owned(), port, path.to_owned()))
}

/// POSTs a JSON `body` to an `http://` URL over HTTP/1.1 and checks for a 2xx answer.
pub fn post(url: &str, body: &str, timeout: Duration) -> Result<(), AlertError> {
    let (host, port, path) = parse_http_url(url)?;
    let resolve_error = |source| AlertError::Resolve {
        url: url.to_owned(),
        host: host.clone(),
        source,
    };
    let addrs = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(resolve_error)?;
    let mut last_error = resolve_error(io::Error::new(
        io::ErrorKind::NotFound,
        "the name has no address",
    ));
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(source) => {
                last_error = AlertError::Connect {
                    url: url.to_owned(),
                    addr,
                    source,
                }
            }
        }
    }
    let mut stream = stream.ok_or(last_error)?;
    let io_error = |source: io::Error| AlertError::Io {
        url: url.to_owned(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: leakcheck-monitor\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(io_error)?;
    // The status line and a little of the body (for the error message) are all that matter;
    // the read is bounded so that a misbehaving receiver cannot make us buffer without end.
    let mut response = Vec::with_capacity(1024);
    stream
        .take(16 * 1024)
        .read_to_end(&mut response)
        .or_else(|e| if response.is_empty() { Err(e) } else { Ok(0) })
        .map_err(io_error)?;
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or("");
    let code: u16 = status_line
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| AlertError::NotHttp {
            url: url.to_owned(),
            status_line: status_line.to_owned(),
        })?;
    if (200..300).contains(&code) {
        return Ok(());
    }
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b.trim());
    Err(AlertError::Rejected {
        url: url.to_owned(),
        status_line: status_line.to_owned(),
        body: body.chars().take(300).collect(),
    })
}

/// The host name (`/proc/sys/kernel/hostname`), or `localhost`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::super::{Resource, ResourceStatus};
    use super::*;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    fn status(state: State, since: u64) -> ResourceStatus {
        ResourceStatus {
            resource: Resource::Heap,
            state,
            value: Some(52_428_800.0),
            growth_per_sec: 1024.0,
            limit: Some(1073741824.0),
            seconds_to_limit: Some(1_000_000.0),
            since_unix_ms: since,
            reason: "the floor keeps rising".into(),
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn one_firing_and_one_resolved_alert_per_episode_with_resends() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut alerter = Alerter::new(7);
        let log = Arc::clone(&seen);
        alerter.add(Box::new(CallbackSink::new(move |a: &Alert| {
            log.lock().unwrap().push(("callback", a.firing))
        })));
        struct Resending(Arc<Mutex<Vec<(&'static str, bool)>>>);
        impl Sink for Resending {
            fn send(&mut self, alert: &Alert) -> Result<(), AlertError> {
                self.0.lock().unwrap().push(("resending", alert.firing));
                Ok(())
            }
            fn resend_interval(&self) -> Option<Duration> {
                Some(Duration::from_secs(60))
            }
            fn name(&self) -> String {
                "resending".into()
            }
        }
        alerter.add(Box::new(Resending(Arc::clone(&seen))));

        let mut new = 0;
        for s in 0..300u64 {
            let state = if (100..200).contains(&s) {
                State::Leaking
            } else {
                State::Ok
            };
            new += alerter
                .observe(
                    s * 1000,
                    &[status(state, if s >= 100 { 100_000 } else { 0 })],
                )
                .len();
        }
        assert_eq!(new, 2, "one firing and one resolved alert");
        let seen = seen.lock().unwrap();
        let count = |sink, firing| seen.iter().filter(|&&e| e == (sink, firing)).count();
        assert_eq!(count("callback", true), 1);
        assert_eq!(count("callback", false), 1);
        // Sent at 100 s, re-sent at 160 s; resolved at 200 s.
        assert_eq!(count("resending", true), 2);
        assert_eq!(count("resending", false), 1);
        assert!(alerter.firing().is_empty());
    }

    fn site(function: &str, per_min: f64) -> GrowingSite {
        serde_json::from_value(serde_json::json!({
            "function": function, "file": "src/app.rs", "line": 7,
            "fingerprint": format!("{:016x}", function.len()), "user": true,
            "bytes_per_minute": per_min, "error_bytes_per_minute": per_min / 10.0,
            "live_bytes": 1e7, "samples": 30, "new_samples": 20, "certain": true,
        }))
        .unwrap()
    }

    #[test]
    fn heap_alerts_name_the_top_sites_and_other_resources_none() {
        let mut alerter = Alerter::new(7);
        let sites: Vec<_> = (0..5)
            .map(|i| site(&format!("app::site{i}"), 5e6 - f64::from(i)))
            .collect();
        alerter.set_heap_growing(&sites);
        let mut fds = status(State::Leaking, 1000);
        fds.resource = Resource::Fds;
        let new = alerter.observe(1000, &[status(State::Leaking, 1000), fds]);
        let (heap, fds) = (&new[0], &new[1]);
        assert_eq!(heap.growing.len(), Alert::MAX_SITES);
        assert_eq!(heap.growing[0].function, "app::site0");
        assert!(
            heap.summary
                .ends_with("; grows most at app::site0 (src/app.rs:7) +4.8 MiB/min ± 488.3 KiB/min (and 4 other sites)"),
            "{}",
            heap.summary
        );
        assert!(fds.growing.is_empty() && !fds.summary.contains("grows most"));
        let body: serde_json::Value =
            serde_json::from_str(&alertmanager_body(heap, &AlertLabels::default(), None)).unwrap();
        assert!(body[0]["annotations"]["top_site"]
            .as_str()
            .unwrap()
            .starts_with("app::site0 (src/app.rs:7) +"));
        let json: serde_json::Value =
            serde_json::from_str(&WebhookSink::json("http://127.0.0.1:1/").unwrap().body(heap))
                .unwrap();
        assert_eq!(json["growing"][0]["function"], "app::site0");
        // While firing with nothing certain, the alert keeps the sites it named; the resolving
        // alert names them too.
        alerter.set_heap_growing(&[]);
        alerter.observe(2000, &[status(State::Leaking, 1000)]);
        assert_eq!(alerter.firing()[0].growing[0].function, "app::site0");
        let resolved = alerter.observe(3000, &[status(State::Ok, 3000)]);
        assert_eq!(resolved[0].growing[0].function, "app::site0");
        assert!(
            resolved[0]
                .summary
                .ends_with("; it grew most at app::site0"),
            "{}",
            resolved[0].summary
        );
    }

    #[test]
    fn a_failing_or_panicking_sink_does_not_stop_the_others() {
        struct Broken;
        impl Sink for Broken {
            fn send(&mut self, _: &Alert) -> Result<(), AlertError> {
                panic!("broken sink")
            }
            fn name(&self) -> String {
                "broken".into()
            }
        }
        let delivered = Arc::new(Mutex::new(0));
        let mut alerter = Alerter::new(1);
        alerter.add(Box::new(Broken));
        alerter.add(Box::new(WebhookSink::json("http://127.0.0.1:1/").unwrap()));
        let counter = Arc::clone(&delivered);
        alerter.add(Box::new(CallbackSink::new(move |_: &Alert| {
            *counter.lock().unwrap() += 1
        })));
        alerter.observe(1000, &[status(State::Leaking, 1000)]);
        assert_eq!(*delivered.lock().unwrap(), 1);
    }

    #[test]
    fn alertmanager_body_has_the_labels_and_times() {
        let alert = Alert {
            resource: Resource::Fds,
            firing: false,
            starts_at_unix_ms: 1_700_000_000_000,
            ends_at_unix_ms: Some(1_700_000_060_000),
            summary: "fds stopped growing".into(),
            status: status(State::Ok, 0),
            pid: 42,
            growing: Vec::new(),
        };
        let labels = AlertLabels {
            job: "api".into(),
            instance: "host-1".into(),
            extra: vec![("team".into(), "storage".into())],
        };
        let body: serde_json::Value =
            serde_json::from_str(&alertmanager_body(&alert, &labels, Some("http://x/"))).unwrap();
        let a = &body[0];
        assert_eq!(a["labels"]["alertname"], "LeakcheckLeak");
        assert_eq!(a["labels"]["resource"], "fds");
        assert_eq!(a["labels"]["pid"], "42");
        assert_eq!(a["labels"]["job"], "api");
        assert_eq!(a["labels"]["instance"], "host-1");
        assert_eq!(a["labels"]["team"], "storage");
        assert_eq!(a["annotations"]["summary"], "fds stopped growing");
        assert_eq!(a["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(a["endsAt"], "2023-11-14T22:14:20.000Z");
        assert_eq!(a["generatorURL"], "http://x/");
    }

    /// Serves one request with `answer`, returning what was received.
    fn one_shot_server(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the headers, then the body by its Content-Length.
            loop {
                let n = conn.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if body.len() >= length || n == 0 {
                        break;
                    }
                }
            }
            conn.write_all(answer.as_bytes()).unwrap();
            String::from_utf8(request).unwrap()
        });
        (url, server)
    }

    #[test]
    fn posts_json_over_http() {
        let (url, server) = one_shot_server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        post(&url, "{\"a\":1}", Duration::from_secs(5)).unwrap();
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /hook HTTP/1.1\r\n"), "{request}");
        assert!(
            request.contains("Content-Type: application/json"),
            "{request}"
        );
        assert!(request.ends_with("\r\n\r\n{\"a\":1}"), "{request}");
    }

    #[test]
    fn reports_an_error_answer() {
        let (url, server) =
            one_shot_server("HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nno good");
        let error = post(&url, "[]", Duration::from_secs(5)).unwrap_err();
        server.join().unwrap();
        assert!(
            matches!(&error, AlertError::Rejected { status_line, body, .. }
                if status_line == "HTTP/1.1 400 Bad Request" && body == "no good"),
            "{error:?}"
        );
        assert!(error.to_string().contains("400 Bad Request"), "{error}");
    }

    #[test]
    fn rejects_urls_it_cannot_post_to() {
        let https = WebhookSink::json("https://example.com/").unwrap_err();
        assert!(
            matches!(
                &https,
                AlertError::Url {
                    problem: UrlProblem::Https,
                    ..
                }
            ),
            "{https:?}"
        );
        assert!(
            https.to_string().contains("https is not supported"),
            "{https}"
        );
        let bare = WebhookSink::json("example.com").unwrap_err();
        assert!(matches!(
            &bare,
            AlertError::Url {
                problem: UrlProblem::NotHttp,
                ..
            }
        ));
        let port = WebhookSink::json("http://h:99999/").unwrap_err();
        assert!(
            matches!(&port, AlertError::Url { problem: UrlProblem::BadPort(p), .. } if p == "99999")
        );
        let am = WebhookSink::alertmanager("http://[::1]:9093/").unwrap();
        assert_eq!(am.url, "http://[::1]:9093/api/v2/alerts");
        assert_eq!(
            parse_http_url(&am.url).unwrap(),
            ("::1".into(), 9093, "/api/v2/alerts".into())
        );
    }
}
