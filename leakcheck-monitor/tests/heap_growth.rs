//! Where the heap grows, through the real counting allocator and its sampler: the growth of
//! call sites between snapshots ([`SiteCache::growth`]), and a running [`Monitor`] whose
//! `/api/status` and alerts name the leaking function first.
//!
//! The sampler is process-wide, so the tests take turns (`SERIAL`). They assert names and
//! orders, never times: every wait is a bounded wait on a condition.

leakcheck_monitor::global_allocator!();

use leakcheck_alloc::sample::{self, Snapshot};
use leakcheck_monitor::alert::{alertmanager_body, AlertLabels, LogSink, Sink};
use leakcheck_monitor::growth::{GrowingSite, SiteCache};
use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
use leakcheck_monitor::{render, Alert, Resource, State, Status};
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `f` until it returns `Some`, failing after a generous bound (a hang guard, not a
/// timing assertion).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

type Store = Vec<Box<[u8]>>;

/// A 4 KiB block, allocated in the calling function itself: a site is the innermost user
/// frame, so a helper function would be the site of every caller (inlined or not, debug info
/// names it).
macro_rules! block {
    () => {
        black_box(vec![1u8; 4096].into_boxed_slice())
    };
}

#[inline(never)]
fn leaky_handler(store: &mut Store, blocks: usize) {
    for _ in 0..blocks {
        store.push(block!());
    }
}

#[inline(never)]
fn cache_fill(store: &mut Store, blocks: usize) {
    for _ in 0..blocks {
        store.push(block!());
    }
}

#[inline(never)]
fn sawtooth_buffer(store: &mut Store, blocks: usize) {
    for _ in 0..blocks {
        store.push(block!());
    }
}

#[inline(never)]
fn one_block(store: &mut Store) {
    store.push(block!());
}

/// A snapshot that the sampler does not see: its own vectors are allocated with sampling off,
/// so the test's bookkeeping is not a growing site of its own.
fn snap(rate: u64) -> Snapshot {
    sample::set_rate(0);
    let s = sample::snapshot();
    sample::set_rate(rate);
    s
}

fn functions(sites: &[GrowingSite]) -> Vec<String> {
    sites.iter().map(|s| short(&s.function)).collect()
}

/// `heap_growth::leaky_handler` → `leaky_handler`.
fn short(function: &str) -> String {
    function.rsplit("::").next().unwrap_or(function).to_owned()
}

#[test]
fn the_leak_is_ranked_first_and_a_cache_a_sawtooth_and_a_lone_block_are_not_certain() {
    let _serial = serial();
    const RATE: u64 = 4096;
    sample::set_rate(RATE);
    let (mut leak, mut cache, mut saw, mut lone) =
        (Store::new(), Store::new(), Store::new(), Store::new());
    // A cache that filled before the base and stays as it is.
    cache_fill(&mut cache, 300);
    saw.reserve(400);
    leak.reserve(400);
    let base = snap(RATE);
    let mut between = Vec::new();
    // Four rounds: the leak keeps adding; the sawtooth fills and is reset every other round,
    // ending higher than it started.
    for round in 0..4 {
        leaky_handler(&mut leak, 80);
        if round % 2 == 1 {
            saw.clear();
        }
        sawtooth_buffer(&mut saw, 150);
        if round < 3 {
            between.push(snap(RATE));
        }
    }
    one_block(&mut lone);
    let head = snap(RATE);
    sample::set_rate(0);

    let mut cache_of_sites = SiteCache::new();
    let between_refs: Vec<&Snapshot> = between.iter().collect();
    let growth = cache_of_sites.growth(&base, &between_refs, &head);
    let certain: Vec<GrowingSite> = growth.certain().cloned().collect();
    assert_eq!(
        functions(&certain).first().map(String::as_str),
        Some("leaky_handler"),
        "{growth:#?}"
    );
    for name in ["cache_fill", "sawtooth_buffer", "one_block"] {
        assert!(
            !functions(&certain).iter().any(|f| f == name),
            "{name} is not certain: {growth:#?}"
        );
    }
    let top = &certain[0];
    assert!(top.user && top.fingerprint.len() == 16, "{top:?}");
    assert!(top.new_samples >= 3 && top.bytes_per_minute > 2.0 * top.error_bytes_per_minute);
    assert!(
        top.file
            .as_deref()
            .is_some_and(|f| f.ends_with("heap_growth.rs")),
        "{top:?}"
    );
    // Without the snapshots in between, only the ends: the sawtooth ended higher than it
    // started, and the fall test is what keeps it out above.
    let ends = cache_of_sites.growth(&base, &[], &head);
    assert_eq!(
        functions(&ends.certain().cloned().collect::<Vec<_>>())[0],
        "leaky_handler"
    );

    // Nothing allocated between two snapshots: nothing grows.
    sample::set_rate(RATE);
    let a = snap(RATE);
    let b = snap(RATE);
    sample::set_rate(0);
    let clean = cache_of_sites.growth(&a, &[], &b);
    assert_eq!(clean.certain().count(), 0, "{clean:#?}");
    drop((leak, cache, saw, lone));
}

/// A thread calling `work` every millisecond until stopped.
struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Worker {
    fn start(name: &str, mut work: impl FnMut() + Send + 'static) -> Worker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    work();
                    thread::sleep(Duration::from_millis(1));
                }
            })
            .unwrap();
        Worker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// A monitor with a short window, sampling the heap finely, sending alerts to `tx`.
fn monitor(tx: mpsc::Sender<Alert>) -> Monitor {
    Monitor::start(
        MonitorConfig::new()
            .interval(Duration::from_millis(5))
            .window(Duration::from_secs(1))
            .heap_sampling(32 * 1024)
            .on_alert(move |a| {
                let _ = tx.send(a.clone());
            }),
    )
    .unwrap()
}

fn heap_state(status: &Status) -> Option<State> {
    status
        .resources
        .iter()
        .find(|r| r.resource == Resource::Heap)
        .map(|r| r.state)
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn a_monitored_leak_is_named_first_in_the_status_and_the_alert_and_a_filled_cache_is_not() {
    let _serial = serial();
    let (tx, rx) = mpsc::channel();
    let monitor = monitor(tx);
    let handle = monitor.handle();
    assert_eq!(handle.config().heap_sampling, 32 * 1024);
    // A cache that fills for a while and stops, and a leak that goes on.
    let cache = Arc::new(Mutex::new(Store::new()));
    let filling = Arc::clone(&cache);
    let cache_worker = Worker::start("cache", move || {
        let mut c = filling.lock().unwrap();
        if c.len() < 1000 {
            cache_fill(&mut c, 4);
        }
    });
    let leak = Arc::new(Mutex::new(Store::new()));
    let leaking = Arc::clone(&leak);
    let leak_worker = Worker::start("leak", move || {
        leaky_handler(&mut leaking.lock().unwrap(), 1)
    });
    eventually("the cache to fill", || {
        (cache.lock().unwrap().len() >= 1000).then_some(())
    });
    let cache_full_ms = unix_ms_now();

    // The heap leaks; once the window has moved past the cache's growth, the status names the
    // leak, and the cache no more.
    let status = eventually(
        "a status naming a growing site after the cache filled",
        || {
            let status = handle.status();
            let heap = status.heap.as_ref()?;
            (heap.base_unix_ms? > cache_full_ms && !heap.growing.is_empty()).then_some(status)
        },
    );
    let heap = status.heap.as_ref().unwrap();
    assert_eq!(heap.sampling_rate, 32 * 1024);
    // The episode keeps the snapshot it started from (the leak goes on: it is still open).
    let baseline = handle.heap_baseline().expect("the episode's baseline");
    assert!(!baseline.live.is_empty());
    assert_ne!(heap_state(&status), Some(State::Ok), "{status:#?}");
    let names = functions(&heap.growing);
    assert_eq!(names[0], "leaky_handler", "{heap:#?}");
    assert!(!names.iter().any(|n| n == "cache_fill"), "{heap:#?}");
    assert!(heap.growing.iter().all(|s| s.certain));

    // /api/status, as served.
    let json: serde_json::Value = serde_json::from_str(&render::status_json(&status)).unwrap();
    let first = &json["heap"]["growing"][0];
    assert_eq!(short(first["function"].as_str().unwrap()), "leaky_handler");
    for key in [
        "file",
        "line",
        "fingerprint",
        "bytes_per_minute",
        "live_bytes",
        "samples",
    ] {
        assert!(!first[key].is_null(), "{key} in {first}");
    }

    // The alert fires, naming the leak first, in every sink's form.
    let alert = eventually("a firing heap alert naming a site", || {
        rx.try_iter()
            .find(|a| a.resource == Resource::Heap && a.firing && !a.growing.is_empty())
            .or_else(|| {
                handle
                    .firing()
                    .into_iter()
                    .find(|a| a.resource == Resource::Heap && !a.growing.is_empty())
            })
    });
    assert_eq!(
        short(&alert.growing[0].function),
        "leaky_handler",
        "{alert:#?}"
    );
    assert!(
        alert
            .summary
            .contains("grows most at heap_growth::leaky_handler"),
        "{}",
        alert.summary
    );
    let webhook: serde_json::Value = serde_json::to_value(&alert).unwrap();
    assert_eq!(
        short(webhook["growing"][0]["function"].as_str().unwrap()),
        "leaky_handler"
    );
    let am: serde_json::Value =
        serde_json::from_str(&alertmanager_body(&alert, &AlertLabels::default(), None)).unwrap();
    let top_site = am[0]["annotations"]["top_site"].as_str().unwrap();
    assert!(
        top_site.starts_with("heap_growth::leaky_handler ("),
        "{top_site}"
    );
    assert_eq!(
        am[0]["annotations"]["top_site_fingerprint"],
        alert.growing[0].fingerprint
    );
    let line = Arc::new(Mutex::new(Vec::new()));
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    LogSink::to(Shared(Arc::clone(&line))).send(&alert).unwrap();
    let line = String::from_utf8(line.lock().unwrap().clone()).unwrap();
    assert!(
        line.contains("grows most at heap_growth::leaky_handler"),
        "{line}"
    );

    drop(leak_worker);
    drop(cache_worker);
    monitor.stop();
    sample::set_rate(0);
    drop(leak);
    drop(cache);
}

#[test]
fn without_a_leak_no_site_is_named() {
    let _serial = serial();
    let (tx, rx) = mpsc::channel();
    // A cache that filled before the monitor started, and churn that frees what it allocates.
    let mut cache = Store::new();
    cache_fill(&mut cache, 1000);
    let churn = Worker::start("churn", || {
        let mut buffer = Store::new();
        sawtooth_buffer(&mut buffer, 16);
        drop(black_box(buffer));
    });
    let monitor = monitor(tx);
    let handle = monitor.handle();
    // Three windows of ticks at 5 ms.
    let mut named = Vec::new();
    eventually("three windows of samples", || {
        let status = handle.status();
        if let Some(heap) = &status.heap {
            named.extend(functions(&heap.growing));
        }
        (status.samples_taken >= 600).then_some(())
    });
    let status = handle.status();
    assert!(status.heap.is_some(), "{status:#?}");
    assert_eq!(named, Vec::<String>::new(), "{status:#?}");
    let alerts: Vec<Alert> = rx.try_iter().collect();
    assert!(alerts.iter().all(|a| a.growing.is_empty()), "{alerts:#?}");
    drop(churn);
    monitor.stop();
    sample::set_rate(0);
    drop(cache);
}
