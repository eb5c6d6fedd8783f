//! End to end with a real Alertmanager: a monitored (simulated) leak raises an alert that
//! Alertmanager shows as active, and when the leak stops the resolving alert makes it go away.
//!
//! The Alertmanager is Debian's `prometheus-alertmanager` (`/usr/bin/prometheus-alertmanager`,
//! or the binary named by `LEAKCHECK_ALERTMANAGER`), started on loopback with a free port, a
//! temporary storage directory, a route to a receiver that sends nothing, and clustering off.
//!
//! The monitor watches a simulated process on its own clock (one sample a second, replayed as
//! fast as the monitor samples), so the leak is flagged after a fraction of a real second. The
//! source pauses once the leak is well established, while the test checks Alertmanager, and
//! resumes for the leak to stop and the alert to resolve. Waits are bounded polls.

use leakcheck_monitor::alert::WebhookSink;
use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
use leakcheck_monitor::source::{Source, SourceError};
use leakcheck_monitor::streams::{Pattern, Stream, Values};
use leakcheck_monitor::{Alert, Resource, Sample};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The pid the simulated process reports (an alert label).
const PID: u32 = 4242;

/// A running Alertmanager, killed (and its directory removed) on drop, also when the test
/// panics.
struct Alertmanager {
    child: Child,
    dir: PathBuf,
    addr: String,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        let binary = std::env::var_os("LEAKCHECK_ALERTMANAGER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus-alertmanager"));
        assert!(
            binary.exists(),
            "{} not found: this test needs a real Alertmanager. Install Debian's \
             `prometheus-alertmanager` package (`sudo apt-get install prometheus-alertmanager`), \
             or point LEAKCHECK_ALERTMANAGER at an alertmanager binary.",
            binary.display()
        );
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "leakcheck-alertmanager-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n",
        )
        .unwrap();
        // A free port: bind port 0, note the port, release it for Alertmanager.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // Empty: no cluster listener, no gossip with other Alertmanagers.
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let am = Alertmanager { child, dir, addr };
        am.wait_for("Alertmanager to be ready", || {
            matches!(get(&am.addr, "/-/ready"), Ok((200, _))).then_some(())
        });
        am
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("alertmanager.log")).unwrap_or_default()
    }

    /// Polls `f` every 50 ms until it returns `Some`; fails after a minute with the log.
    fn wait_for<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}; Alertmanager's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The alerts Alertmanager lists for `job` (resolved ones are not listed).
    fn alerts(&self, job: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v2/alerts?filter=job%3D%22{job}%22");
        let (status, body) = get(&self.addr, &path).expect("Alertmanager answers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A GET over HTTP/1.0 (so the answer is not chunked and ends with the connection).
fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// A simulated process whose clock stops at `pause_at` samples until `open` is set: the
/// monitor keeps sampling, but sees no time pass, so nothing changes while the test looks.
struct PausingSource {
    values: Values,
    taken: u64,
    pause_at: u64,
    end_at: u64,
    open: Arc<AtomicBool>,
    last: Sample,
}

impl Source for PausingSource {
    fn sample(&mut self, _now_unix_ms: u64) -> Sample {
        if self.taken < self.pause_at || self.open.load(Ordering::Acquire) {
            let (unix_ms, heap) = self.values.next().expect("endless");
            self.taken += 1;
            self.last = Sample::default();
            self.last.unix_ms = unix_ms;
            self.last.heap_bytes = Some(heap as u64);
        }
        self.last
    }

    fn pid(&self) -> u32 {
        PID
    }

    fn check(&mut self) -> Result<(), SourceError> {
        if self.taken >= self.end_at {
            Err(SourceError::Ended("the simulation ended".into()))
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_leak_alert_fires_and_resolves_in_alertmanager() {
    let am = Alertmanager::start();
    let job = format!("leakcheck-e2e-{}", std::process::id());

    // The simulated process: flat for 2 minutes, leaking 1 MiB/min until 8 minutes, flat
    // again. Its clock ends 20 simulated minutes before now, so the resolving alert's endsAt is
    // in the past and Alertmanager stops listing the alert.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut stream = Stream::new(Pattern::LeakThenStop {
        per_min: 1024.0 * 1024.0,
        stop_s: 480.0,
    })
    .leak_from(120.0);
    stream.start_ms = now_ms - 2_400_000;
    let open = Arc::new(AtomicBool::new(false));
    let source = PausingSource {
        values: stream.iter(),
        taken: 0,
        pause_at: 400,
        end_at: 1200,
        open: Arc::clone(&open),
        last: Sample::default(),
    };

    let mut sink = WebhookSink::alertmanager(&format!("http://{}", am.addr)).unwrap();
    sink.labels.job = job.clone();
    let (tx, rx) = mpsc::channel::<Alert>();
    let monitor = Monitor::watch(
        Box::new(source),
        MonitorConfig::new()
            .interval(Duration::from_millis(1))
            .sink(sink)
            .on_alert(move |a| {
                let _ = tx.send(a.clone());
            }),
    )
    .unwrap();
    let handle = monitor.handle();

    // Firing: flagged during the first 400 simulated seconds, posted, listed as active.
    let firing = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a firing alert");
    assert!(
        firing.firing && firing.resource == Resource::Heap,
        "{firing:?}"
    );
    let listed = am.wait_for("the alert to be active", || {
        am.alerts(&job)
            .into_iter()
            .find(|a| a["status"]["state"] == "active")
    });
    assert_eq!(listed["labels"]["alertname"], "LeakcheckLeak");
    assert_eq!(listed["labels"]["resource"], "heap");
    assert_eq!(listed["labels"]["pid"], PID.to_string());
    let summary = listed["annotations"]["summary"].as_str().unwrap();
    assert!(summary.contains("heap is leaking"), "{summary}");
    assert_eq!(handle.firing().len(), 1);

    // Resolved: the simulation resumes, the leak stops, the resolving alert is posted and the
    // alert leaves Alertmanager's list of current alerts.
    open.store(true, Ordering::Release);
    let resolved = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a resolved alert");
    assert!(
        !resolved.firing && resolved.ends_at_unix_ms.is_some(),
        "{resolved:?}"
    );
    am.wait_for("the alert to be resolved", || {
        am.alerts(&job).is_empty().then_some(())
    });
    assert!(handle.wait_stopped(Some(Duration::from_secs(60))));
    assert_eq!(handle.error().as_deref(), Some("the simulation ended"));
    assert!(
        rx.try_recv().is_err(),
        "one firing and one resolved alert only"
    );
    drop(monitor);
}
