//! The background monitor: one thread, `leakcheck-monitor`, samples a [`Source`] every
//! `interval` into a bounded ring, feeds one [`Detector`] per resource and sends alerts; the
//! state is shared with any number of [`MonitorHandle`]s (the HTTP endpoint holds one).
//!
//! ```no_run
//! leakcheck_monitor::global_allocator!();
//!
//! use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
//! use std::time::Duration;
//!
//! fn main() -> std::io::Result<()> {
//!     let monitor = Monitor::start(
//!         MonitorConfig::new()
//!             .interval(Duration::from_secs(1))
//!             .log_alerts()
//!             .on_alert(|alert| eprintln!("{}", alert.summary)),
//!     )?;
//!     // … the application runs …
//!     println!("{:?}", monitor.status());
//!     monitor.stop();
//!     Ok(())
//! }
//! ```
//!
//! The monitor must not look like a leak itself: the ring, the detectors and their buffers
//! are allocated before the first sample, sampling reads `/proc` without allocating, and what
//! a tick allocates (the status it publishes) replaces the previous tick's.

use super::alert::{Alerter, CallbackSink, LogSink, Sink};
use super::detect::{DetectConfig, Detector};
use super::growth::HeapTracker;
use super::limits::Limits;
use super::profile::{ProfileError, ProfileStorage, Profiler, Store};
use super::source::{Source, ThisProcess};
use super::{Alert, Resource, Sample, State, Status};
use leakcheck_alloc::sample::{self, Snapshot};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How the monitor runs: a builder, consumed by [`Monitor::start`] or [`Monitor::watch`].
///
/// The fields are private so that every setting goes through a method: the floors (an interval
/// of at least [`MIN_INTERVAL`], a history of at least one sample) are applied where the monitor
/// starts, whatever was set.
pub struct MonitorConfig {
    /// Time between samples. Detection is about time, not samples: the detector's window and
    /// segments stay the same when this changes.
    interval: Duration,
    /// Trend detection.
    detect: DetectConfig,
    /// Samples kept for [`MonitorHandle::samples`].
    history: usize,
    /// Configured limits, which win over the ones read from the system.
    limits: Vec<(Resource, f64)>,
    /// Where alerts go.
    sinks: Vec<Box<dyn Sink>>,
    /// The heap profile directory, if any.
    profiles: Option<ProfileStorage>,
    /// The heap sampler's rate; `None`: the default (see [`MonitorConfig::heap_sampling`]).
    heap_sampling: Option<u64>,
}

/// The shortest time between samples: a shorter interval, zero included, is raised to it (a
/// zero interval would sample in a busy loop).
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: Duration::from_secs(1),
            detect: DetectConfig::default(),
            history: 1800,
            limits: Vec::new(),
            sinks: Vec::new(),
            profiles: None,
            heap_sampling: None,
        }
    }
}

impl fmt::Debug for MonitorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorConfig")
            .field("interval", &self.interval)
            .field("detect", &self.detect)
            .field("history", &self.history)
            .field("limits", &self.limits)
            .field("heap_sampling", &self.heap_sampling)
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field("profiles", &self.profiles)
            .finish()
    }
}

impl MonitorConfig {
    /// The defaults: a sample a second, the default detection, 30 minutes of history, no sinks.
    pub fn new() -> Self {
        MonitorConfig::default()
    }

    /// Samples every `interval` (default 1 s; at least [`MIN_INTERVAL`]).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The detection window (default 60 s; see [`DetectConfig::window`]).
    pub fn window(mut self, window: Duration) -> Self {
        self.detect.window = window;
        self
    }

    /// Replaces the detection settings.
    pub fn detect(mut self, detect: DetectConfig) -> Self {
        self.detect = detect;
        self
    }

    /// Keeps `samples` samples for [`MonitorHandle::samples`] (default 1800: 30 minutes at
    /// 1 s; at least 1).
    pub fn history(mut self, samples: usize) -> Self {
        self.history = samples;
        self
    }

    /// Sets the limit of `resource` (bytes or a count), for the predicted time to reach it.
    pub fn limit(mut self, resource: Resource, value: f64) -> Self {
        self.limits.retain(|(r, _)| *r != resource);
        self.limits.push((resource, value));
        self
    }

    /// Adds an alert sink, e.g. a [`WebhookSink`](super::alert::WebhookSink).
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Calls `f` with every alert (on the monitor's thread: keep it short).
    pub fn on_alert(self, f: impl FnMut(&Alert) + Send + 'static) -> Self {
        self.sink(CallbackSink::new(f))
    }

    /// Stores heap profiles of this process (see [`ProfileStorage`]): one every
    /// `storage.interval`, one whenever a resource's state changes and, when the heap starts
    /// to grow, the last periodic one again as the episode's `baseline`. Needs the counting
    /// allocator with heap sampling on; a monitor of another process writes none.
    pub fn profiles(mut self, storage: ProfileStorage) -> Self {
        self.profiles = Some(storage);
        self
    }

    /// Writes a line to stderr for every alert.
    pub fn log_alerts(self) -> Self {
        self.sink(LogSink::stderr())
    }

    /// Samples the heap (the counting allocator's profiler, [`leakcheck_alloc::sample`]) at one
    /// sample per `rate_bytes` allocated on average, so that the monitor can say where the heap
    /// grows ([`growth`](super::growth)); `0` turns sampling off.
    ///
    /// By default [`Monitor::start`] samples at [`DEFAULT_RATE`](leakcheck_alloc::sample::DEFAULT_RATE)
    /// (512 KiB, as Go and jemalloc) when the counting allocator is installed, or at the rate
    /// already set with [`sample::set_rate`]: measured, it
    /// costs 0.3–0.5 % over counting alone. The rate is process-wide and stays set when the
    /// monitor stops. [`Monitor::watch`] never samples (another process's heap cannot be).
    pub fn heap_sampling(mut self, rate_bytes: u64) -> Self {
        self.heap_sampling = Some(rate_bytes);
        self
    }
}

/// The settings a running monitor uses, as [`MonitorHandle::config`] shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MonitorSettings {
    /// The process watched.
    pub pid: u32,
    /// Time between samples.
    #[serde(with = "super::detect::millis")]
    pub interval: Duration,
    /// Samples kept.
    pub history: usize,
    /// Trend detection.
    pub detect: DetectConfig,
    /// The limits in use (read at start, plus the configured ones).
    pub limits: Limits,
    /// The alert sinks, by name.
    pub sinks: Vec<String>,
    /// The heap profile directory, if any.
    pub profiles: Option<ProfileStorage>,
    /// The heap sampler's rate in bytes (0: the monitor does not sample the heap).
    #[serde(default)]
    pub heap_sampling: u64,
}

/// The state shared between the sampling thread and the handles.
struct Shared {
    settings: MonitorSettings,
    inner: Mutex<Inner>,
    /// Signalled on stop requests (to the sampler) and when the sampler ends (to waiters).
    wake: Condvar,
    /// Heap profiles of this process (with their symbol cache).
    profiler: Profiler,
}

struct Inner {
    stop: bool,
    running: bool,
    ring: VecDeque<Sample>,
    status: Status,
    firing: Vec<Alert>,
    error: Option<String>,
    /// The heap snapshot the current episode started from.
    heap_baseline: Option<Arc<Snapshot>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` inconsistent (plain stores).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A cheap, cloneable view of a running (or stopped) monitor, for the HTTP layer and the
/// application. Reading takes a short lock; it never waits for a sample.
#[derive(Clone)]
pub struct MonitorHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorHandle")
            .field("pid", &self.shared.settings.pid)
            .field("running", &self.is_running())
            .finish()
    }
}

impl MonitorHandle {
    /// The current status: state, growth and time to limit per observed resource.
    pub fn status(&self) -> Status {
        self.shared.lock().status.clone()
    }

    /// The samples in the ring, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.shared.lock().ring.iter().copied().collect()
    }

    /// The samples taken after `unix_ms`, oldest first (for incremental polling).
    pub fn samples_since(&self, unix_ms: u64) -> Vec<Sample> {
        let inner = self.shared.lock();
        let start = inner.ring.partition_point(|s| s.unix_ms <= unix_ms);
        inner.ring.range(start..).copied().collect()
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<Sample> {
        self.shared.lock().ring.back().copied()
    }

    /// The settings in use.
    pub fn config(&self) -> &MonitorSettings {
        &self.shared.settings
    }

    /// The alerts firing now.
    pub fn firing(&self) -> Vec<Alert> {
        self.shared.lock().firing.clone()
    }

    /// Whether the sampling thread is still running.
    pub fn is_running(&self) -> bool {
        self.shared.lock().running
    }

    /// The heap sampler's snapshot from the start of the detector's window when the heap went
    /// from ok to suspected: the baseline of the current episode, until the heap is ok again.
    pub fn heap_baseline(&self) -> Option<Arc<Snapshot>> {
        self.shared.lock().heap_baseline.clone()
    }

    /// Why sampling stopped on its own (the watched process exited), if it did.
    pub fn error(&self) -> Option<String> {
        self.shared.lock().error.clone()
    }

    /// Asks the sampling thread to stop, without waiting (see [`Monitor::stop`]).
    pub fn request_stop(&self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
    }

    /// A heap profile of this process, gzipped pprof `profile.proto`: the live heap, or with
    /// `seconds` its change over the next `seconds` (returning early, with the change so far,
    /// if the monitor stops). A monitor watching another process has none: the heap sampler
    /// lives in each process's own allocator.
    pub fn heap_profile(&self, seconds: Option<Duration>) -> Result<Vec<u8>, ProfileError> {
        let pid = self.shared.settings.pid;
        if pid != std::process::id() {
            return Err(ProfileError::Unavailable(format!(
                "no heap profile: this monitor watches process {pid} from outside, and another \
                 process's allocator cannot be sampled. The service can serve its own: \
                 `leakcheck_monitor::global_allocator!()` in its main.rs, a Monitor and a \
                 serve::Server (see the README, \"Heap profiles of a live service\")"
            )));
        }
        let profiler = &self.shared.profiler;
        match seconds {
            None => profiler.heap(),
            Some(span) => profiler.delta(span, |span| {
                self.wait_stopped(Some(span));
            }),
        }
    }

    /// Waits until the sampling thread has ended, at most `timeout` (forever with `None`).
    /// Returns whether it has ended.
    pub fn wait_stopped(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut inner = self.shared.lock();
        while inner.running {
            inner = match deadline {
                None => self
                    .shared
                    .wake
                    .wait(inner)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.shared
                        .wake
                        .wait_timeout(inner, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        true
    }
}

/// The running monitor. Dropping it stops the sampling thread and joins it.
#[derive(Debug)]
pub struct Monitor {
    handle: MonitorHandle,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts monitoring this process. The heap is observed when the counting allocator is the
    /// global allocator (`leakcheck_monitor::global_allocator!()`); RSS, threads and fds always (Linux).
    ///
    /// The heap is also sampled, by default, to say where it grows (see
    /// [`MonitorConfig::heap_sampling`]).
    pub fn start(mut config: MonitorConfig) -> io::Result<Monitor> {
        let rate = if leakcheck_alloc::is_installed() {
            let rate = config.heap_sampling.unwrap_or(match sample::rate() {
                0 => sample::DEFAULT_RATE,
                set => set,
            });
            sample::set_rate(rate);
            rate
        } else {
            0
        };
        config.heap_sampling = Some(rate);
        Monitor::spawn(
            Box::new(ThisProcess::new()),
            Limits::of_this_process(),
            config,
        )
    }

    /// Starts monitoring `source`, e.g. [`OtherProcess`](super::source::OtherProcess). The
    /// limits are read for `source.pid()`. Sampling stops on its own when the source reports
    /// an error ([`Source::check`]); see [`MonitorHandle::error`].
    pub fn watch(source: Box<dyn Source>, config: MonitorConfig) -> io::Result<Monitor> {
        let limits = if source.pid() == std::process::id() {
            Limits::of_this_process()
        } else {
            Limits::of_process(source.pid())
        };
        Monitor::spawn(
            source,
            limits,
            MonitorConfig {
                heap_sampling: Some(0),
                ..config
            },
        )
    }

    fn spawn(
        source: Box<dyn Source>,
        mut limits: Limits,
        config: MonitorConfig,
    ) -> io::Result<Self> {
        for &(resource, value) in &config.limits {
            limits.configure(resource, value);
        }
        let source_pid = source.pid();
        let mut alerter = Alerter::new(source_pid);
        let sinks = config.sinks.iter().map(|s| s.name()).collect();
        for sink in config.sinks {
            alerter.add(sink);
        }
        let settings = MonitorSettings {
            pid: source.pid(),
            interval: config.interval.max(MIN_INTERVAL),
            history: config.history.max(1),
            detect: config.detect,
            limits,
            sinks,
            profiles: config.profiles.clone(),
            heap_sampling: config.heap_sampling.unwrap_or(0),
        };
        let heap = (settings.heap_sampling > 0).then(|| HeapTracker::new(settings.detect.window));
        let detectors = Resource::MONITOR
            .iter()
            .map(|&r| {
                let mut d = Detector::new(r, &settings.detect);
                d.set_limit(settings.limits.value(r));
                d
            })
            .collect();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                stop: false,
                running: true,
                ring: VecDeque::with_capacity(settings.history),
                status: Status {
                    interval_ms: settings.interval.as_millis() as u64,
                    pid: settings.pid,
                    ..Status::default()
                },
                firing: Vec::with_capacity(Resource::MONITOR.len()),
                error: None,
                heap_baseline: None,
            }),
            wake: Condvar::new(),
            profiler: Profiler::new(),
            settings,
        });
        let sampler = Sampler {
            shared: Arc::clone(&shared),
            source,
            detectors,
            alerter,
            taken: 0,
            store: config
                .profiles
                .filter(|_| source_pid == std::process::id())
                .map(Store::new),
            last_periodic: None,
            heap,
        };
        let thread = thread::Builder::new()
            .name("leakcheck-monitor".into())
            .spawn(move || sampler.run())?;
        Ok(Monitor {
            handle: MonitorHandle { shared },
            thread: Some(thread),
        })
    }

    /// A handle to share (e.g. with the HTTP endpoint).
    pub fn handle(&self) -> MonitorHandle {
        self.handle.clone()
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.handle.status()
    }

    /// The samples in the ring, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.handle.samples()
    }

    /// Stops sampling and joins the thread. Immediate: the thread waits on a condition
    /// variable between samples, not in a sleep.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.handle.request_stop();
        if let Some(thread) = self.thread.take() {
            // The sampler catches panics itself; a join error cannot carry anything useful.
            let _ = thread.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the sampling thread owns.
struct Sampler {
    shared: Arc<Shared>,
    source: Box<dyn Source>,
    detectors: Vec<Detector>,
    alerter: Alerter,
    taken: u64,
    /// The profile directory (this process only).
    store: Option<Store>,
    /// The snapshot of the last periodic profile: the baseline of an episode that starts.
    last_periodic: Option<Snapshot>,
    /// Where the heap grows, when the heap is sampled.
    heap: Option<HeapTracker>,
}

impl Sampler {
    fn run(mut self) {
        let interval = self.shared.settings.interval;
        // Timestamps are the wall clock at start plus monotonic time since: they never go
        // backwards when the system clock is adjusted.
        let started = Instant::now();
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let interval_ns = interval.as_nanos().max(1);
        loop {
            let now_ms = started_unix_ms + started.elapsed().as_millis() as u64;
            let outcome = catch_unwind(AssertUnwindSafe(|| self.tick(now_ms)));
            let ended = match outcome {
                Ok(ended) => ended,
                Err(_) => Some("the monitor's sampling panicked (a bug: please report it)".into()),
            };
            if let Some(reason) = ended {
                self.shared.lock().error = Some(reason);
                break;
            }
            // The next tick on the fixed schedule; ticks missed (a long sink call, a suspended
            // machine) are skipped rather than run in a burst.
            let next_ns = (started.elapsed().as_nanos() / interval_ns + 1) * interval_ns;
            let deadline = started + Duration::from_nanos(next_ns.min(u64::MAX as u128) as u64);
            let mut inner = self.shared.lock();
            while !inner.stop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                inner = self
                    .shared
                    .wake
                    .wait_timeout(inner, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if inner.stop {
                break;
            }
        }
        self.shared.lock().running = false;
        self.shared.wake.notify_all();
    }

    /// One sample: detectors, status, ring, alerts. Returns why sampling must end, if it must.
    fn tick(&mut self, now_ms: u64) -> Option<String> {
        let sample = self.source.sample(now_ms);
        // Judged at the time the source stamped, so that a source with its own (simulated)
        // clock drives detection and alerts on that clock.
        let now_ms = sample.unix_ms;
        self.taken += 1;
        let mut resources = Vec::with_capacity(self.detectors.len());
        for detector in &mut self.detectors {
            if let Some(value) = sample.value(detector.resource()) {
                detector.observe(now_ms, value);
                resources.push(detector.status());
            }
        }
        let changes: Vec<(Resource, State, State)> = {
            let before = &self.shared.lock().status.resources;
            resources
                .iter()
                .map(|r| {
                    let was = before
                        .iter()
                        .find(|b| b.resource == r.resource)
                        .map_or(State::Ok, |b| b.state);
                    (r.resource, was, r.state)
                })
                .filter(|(_, was, now)| was != now)
                .collect()
        };
        let heap_state = resources.iter().find(|r| r.resource == Resource::Heap);
        let heap_growing = heap_state.is_some_and(|r| r.state != State::Ok);
        let heap = self.heap.as_mut().map(|t| t.tick(heap_growing));
        if let Some(heap) = &heap {
            self.alerter.set_heap_growing(&heap.growing);
        }
        let heap_baseline = self.heap.as_ref().and_then(HeapTracker::baseline);
        self.store_profiles(now_ms, &changes, heap_baseline.as_deref());
        let status = Status {
            leak_suspected: resources.iter().any(|r| r.state != State::Ok),
            resources,
            samples_taken: self.taken,
            interval_ms: self.shared.settings.interval.as_millis() as u64,
            pid: self.shared.settings.pid,
            profiles: self.store.as_ref().map(|s| s.status().clone()),
            heap,
        };
        self.alerter.observe(now_ms, &status.resources);
        let firing = self.alerter.firing();
        let check = self.source.check();
        let mut inner = self.shared.lock();
        if inner.ring.len() == self.shared.settings.history {
            inner.ring.pop_front();
        }
        inner.ring.push_back(sample);
        inner.status = status;
        inner.firing.clear();
        inner.firing.extend_from_slice(firing);
        inner.heap_baseline = heap_baseline;
        check.err().map(|e| e.to_string())
    }
}

impl Sampler {
    /// Writes the heap profiles due at `now_ms`: one per state change of this tick (and, when
    /// the heap starts to grow, the episode's baseline as `baseline`: the growth ranking's
    /// snapshot from the window's start, else the last periodic one), else a periodic one
    /// when its interval has passed.
    fn store_profiles(
        &mut self,
        now_ms: u64,
        changes: &[(Resource, State, State)],
        episode_base: Option<&Snapshot>,
    ) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let periodic = store.periodic_due(now_ms);
        if !periodic && changes.is_empty() {
            return;
        }
        if let Some(why) = super::profile::unavailable() {
            store.failed(&why);
            log_failure(&why);
            return;
        }
        let profiler = &self.shared.profiler;
        let snapshot = leakcheck_alloc::sample::snapshot();
        let mut writes: Vec<(u64, String, Vec<u8>)> = Vec::new();
        for &(resource, was, now) in changes {
            if resource == Resource::Heap && was == State::Ok {
                if let Some(base) = episode_base.or(self.last_periodic.as_ref()) {
                    let at = base
                        .taken_at
                        .duration_since(UNIX_EPOCH)
                        .map_or(now_ms, |d| d.as_millis() as u64);
                    writes.push((at, "baseline".into(), profiler.encode(None, base)));
                }
            }
            let reason = format!("{}-{}", resource.name(), state_name(now));
            writes.push((now_ms, reason, Vec::new()));
        }
        if changes.is_empty() {
            writes.push((now_ms, "periodic".into(), Vec::new()));
        }
        let current = profiler.encode(None, &snapshot);
        for (at, reason, bytes) in writes {
            let bytes = if bytes.is_empty() { &current } else { &bytes };
            if let Err(e) = store.write(at, &reason, bytes) {
                log_failure(&e.to_string());
            }
        }
        if periodic {
            self.last_periodic = Some(snapshot);
        }
    }
}

/// A profile that could not be written: said on stderr (and kept in the status).
fn log_failure(why: &str) {
    eprintln!("leakcheck monitor: heap profile not written: {why}");
}

/// The word of a state in file names.
fn state_name(state: State) -> &'static str {
    match state {
        State::Ok => "ok",
        State::Suspected => "suspected",
        State::Leaking => "leaking",
    }
}

#[cfg(test)]
mod tests {
    use super::super::streams::{Pattern, Stream, StreamSource};
    use super::*;
    use std::sync::mpsc;

    /// Polls `f` until it returns `Some`, failing the test after a generous bound (a hang
    /// guard, not a timing assertion).
    fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn samples_this_process_into_a_bounded_ring() {
        let monitor = Monitor::start(
            MonitorConfig::new()
                .interval(Duration::from_millis(2))
                .history(4),
        )
        .unwrap();
        let handle = monitor.handle();
        eventually("10 samples", || {
            (handle.status().samples_taken >= 10).then_some(())
        });
        let samples = handle.samples();
        assert_eq!(samples.len(), 4);
        assert!(samples.windows(2).all(|w| w[0].unix_ms <= w[1].unix_ms));
        let last = handle.latest().unwrap();
        // The unit-test binary installs the counting allocator.
        assert!(
            last.heap_bytes.is_some() && last.rss_bytes.is_some(),
            "{last:?}"
        );
        let status = handle.status();
        assert_eq!(status.pid, std::process::id());
        assert_eq!(status.interval_ms, 2);
        let observed: Vec<_> = status.resources.iter().map(|r| r.resource).collect();
        assert!(observed.contains(&Resource::Heap), "{status:?}");
        assert!(handle.is_running());
        monitor.stop();
        assert!(!handle.is_running());
        assert!(handle.wait_stopped(Some(Duration::ZERO)));
        assert_eq!(handle.error(), None);
    }

    #[test]
    fn a_zero_interval_is_clamped_however_it_was_set() {
        // What the builder refuses must not get in another way: a zero interval would sample
        // in a busy loop, a zero history would keep nothing.
        let monitor = Monitor::start(MonitorConfig {
            interval: Duration::ZERO,
            history: 0,
            ..MonitorConfig::new().interval(Duration::ZERO).history(0)
        })
        .unwrap();
        let handle = monitor.handle();
        assert_eq!(handle.config().interval, Duration::from_millis(1));
        assert_eq!(handle.config().history, 1);
        eventually("2 samples", || {
            (handle.status().samples_taken >= 2).then_some(())
        });
        assert_eq!(handle.status().interval_ms, 1);
        assert_eq!(handle.samples().len(), 1);
        monitor.stop();
    }

    #[test]
    fn stop_does_not_wait_for_the_next_sample() {
        // An hour between samples: the test would hang if stop waited for the interval.
        let monitor =
            Monitor::start(MonitorConfig::new().interval(Duration::from_secs(3600))).unwrap();
        let handle = monitor.handle();
        eventually("the first sample", || handle.latest());
        drop(monitor);
        assert!(!handle.is_running());
    }

    #[test]
    fn a_watched_leak_fires_once_and_resolves_once() {
        // A simulated process on its own clock (one sample a second), sampled as fast as the
        // monitor goes: 10 simulated minutes run in well under a second.
        let stream = Stream::new(Pattern::LeakThenStop {
            per_min: 256.0 * 1024.0,
            stop_s: 300.0,
        })
        .leak_from(120.0);
        let source = StreamSource::new(stream, Resource::Heap, 4242).ending_after(600);
        let (tx, rx) = mpsc::channel();
        let monitor = Monitor::watch(
            Box::new(source),
            MonitorConfig::new()
                .interval(Duration::from_millis(1))
                .limit(Resource::Heap, 1024.0 * 1024.0 * 1024.0)
                .on_alert(move |a| tx.send(a.clone()).unwrap()),
        )
        .unwrap();
        let handle = monitor.handle();
        assert!(handle.wait_stopped(Some(Duration::from_secs(120))));
        assert_eq!(handle.error().as_deref(), Some("the stream ended"));
        let alerts: Vec<Alert> = rx.try_iter().collect();
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        let (firing, resolved) = (&alerts[0], &alerts[1]);
        assert!(firing.firing && !resolved.firing);
        assert_eq!(firing.pid, 4242);
        let start_ms = Stream::new(Pattern::Steady).start_ms;
        let fired_after = (firing.starts_at_unix_ms - start_ms) as f64 / 1000.0 - 120.0;
        assert!(
            fired_after <= 120.0,
            "flagged {fired_after} s after the leak began"
        );
        assert!(firing.status.seconds_to_limit.is_some(), "{firing:?}");
        assert!(
            firing.summary.contains("heap is leaking"),
            "{}",
            firing.summary
        );
        assert_eq!(resolved.starts_at_unix_ms, firing.starts_at_unix_ms);
        assert!(resolved.ends_at_unix_ms.unwrap() > start_ms + 300_000);
        assert!(handle.firing().is_empty());
        assert_eq!(handle.config().pid, 4242);
        assert_eq!(
            handle.config().limits.value(Resource::Heap),
            Some(1073741824.0)
        );
    }
}
