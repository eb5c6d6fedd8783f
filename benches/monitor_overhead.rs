//! Overhead of a running production monitor on an allocation-heavy workload.
//!
//! The binary counts its allocations with leakcheck's allocator (as a monitored application
//! does, so that the monitor samples the live heap), and the workload is what a request handler
//! does to the heap: strings formatted, sorted and joined, a `HashMap` of byte vectors built
//! and dropped — about 130 allocations per call. It runs on the bench thread while the monitor
//! samples this process from its own thread (RSS, threads, fds from `/proc`, the heap from the
//! allocator's counters, four detectors, the status it publishes).
//!
//! Three measurements:
//! 1. criterion, `monitor_overhead/{no_monitor,idle_thread,interval_1s,interval_100ms}`: the
//!    workload alone, next to an idle thread, and next to a monitor sampling every second and
//!    every 100 ms;
//! 2. `monitor_overhead/one_tick`: what one sample costs the monitor's thread (the CPU it takes
//!    from the host, whatever the core count), from which the overhead at an interval follows;
//! 3. an A/B run printed at the end: fresh processes (this binary, re-executed), each with one
//!    setting active for its whole life as in an application, timing a one-second block of the
//!    workload; settings alternate over 20 rounds so that drift of the machine hits all alike,
//!    and each setting's time is compared with the same round's `no_monitor` time. An idle
//!    second thread is the control: its spread is the noise of the machine.
//!
//! Why fresh processes: in one process that starts and stops threads and monitors in turn
//! (criterion's comparison above), the monitored settings have measured anywhere from 7% faster
//! to 15% slower than `no_monitor` from one run to the next, whatever the interval, while the
//! monitor's thread was asleep; in fresh processes, with the monitor started at the start or
//! after seconds of heap churn, the medians stay within about 1.5% and within the idle thread's
//! spread. The in-process numbers are kept for criterion's history; the A/B is the figure.
//!
//! Why the per-tick cost matters more than the wall-clock comparison: the monitor's thread
//! sleeps between samples, so what it takes from the application is one tick's CPU per
//! interval (a few tens of µs per second), far below the ±5% that consecutive one-second
//! blocks of the same workload vary by on a shared virtual machine.
//!
//! Run with `cargo bench --bench monitor_overhead`.

use criterion::Criterion;
use leakcheck_monitor::detect::{DetectConfig, Detector};
use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
use leakcheck_monitor::source::{Source, ThisProcess};
use leakcheck_monitor::Resource;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

leakcheck::global_allocator!();

/// One call of a typical request handler: format, sort, index and join some strings.
fn body(seed: u64) -> usize {
    let mut words: Vec<String> = (0..32)
        .map(|i| format!("item-{}-{i}", seed.wrapping_mul(31) ^ i))
        .collect();
    words.sort_unstable();
    let mut index: HashMap<String, Vec<u8>> = HashMap::new();
    for w in &words {
        index.insert(w.clone(), w.as_bytes().to_vec());
    }
    let joined = words.join(",");
    black_box(index.len() + joined.len())
}

/// The settings compared: no monitor, an idle thread (the control: what any second thread
/// costs), or a monitor sampling at an interval.
#[derive(Clone, Copy)]
enum Setting {
    NoMonitor,
    IdleThread,
    Monitor(Duration),
}

const SETTINGS: [(&str, Setting); 4] = [
    ("no_monitor", Setting::NoMonitor),
    ("idle_thread", Setting::IdleThread),
    ("interval_1s", Setting::Monitor(Duration::from_secs(1))),
    (
        "interval_100ms",
        Setting::Monitor(Duration::from_millis(100)),
    ),
];

/// What runs next to the workload; dropping it stops it.
#[derive(Default)]
struct Running {
    idle: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
    _monitor: Option<Monitor>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.idle.take() {
            drop(tx);
            thread.join().expect("idle thread");
        }
    }
}

fn start(setting: Setting) -> Running {
    match setting {
        Setting::NoMonitor => Running::default(),
        Setting::IdleThread => {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let thread = std::thread::spawn(move || while rx.recv().is_ok() {});
            Running {
                idle: Some((tx, thread)),
                _monitor: None,
            }
        }
        Setting::Monitor(interval) => Running {
            idle: None,
            _monitor: Some(
                Monitor::start(MonitorConfig::new().interval(interval)).expect("monitor starts"),
            ),
        },
    }
}

fn criterion_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("monitor_overhead");
    for (name, setting) in SETTINGS {
        let running = start(setting);
        let mut seed = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                seed += 1;
                body(seed)
            })
        });
        drop(running);
    }
    let mut tick = Tick::new();
    group.bench_function("one_tick", |b| b.iter(|| tick.run()));
    group.finish();
}

/// What one tick of the sampler does, minus publishing: sample this process, feed the
/// detectors, build the status.
struct Tick {
    source: ThisProcess,
    detectors: Vec<Detector>,
    now: u64,
}

impl Tick {
    fn new() -> Self {
        let config = DetectConfig::default();
        Tick {
            source: ThisProcess::new(),
            detectors: Resource::MONITOR
                .iter()
                .map(|&r| Detector::new(r, &config))
                .collect(),
            now: 1_700_000_000_000,
        }
    }

    fn run(&mut self) -> usize {
        self.now += 1000;
        let sample = self.source.sample(self.now);
        let mut statuses = Vec::with_capacity(4);
        for d in &mut self.detectors {
            if let Some(v) = sample.value(d.resource()) {
                d.observe(self.now, v);
                statuses.push(d.status());
            }
        }
        black_box(statuses).len()
    }
}

/// The CPU a monitor takes at each interval: one tick's cost over the interval.
fn tick_cost() {
    let mut tick = Tick::new();
    let started = Instant::now();
    let mut ticks = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        tick.run();
        ticks += 1;
    }
    let per_tick = started.elapsed().as_secs_f64() / f64::from(ticks);
    println!(
        "\none tick: {:.1} µs of CPU; the monitor's share of one core: {:.4}% at 1 s, {:.3}% at 100 ms",
        per_tick * 1e6,
        per_tick * 100.0,
        per_tick * 1000.0
    );
}

/// Calls of `body` per second on this machine, roughly, to size the A/B blocks.
fn calibrate() -> u64 {
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_millis(300) {
        body(calls);
        calls += 1;
    }
    calls * 1000 / 300
}

/// The environment variable that makes this binary a child measuring one setting.
const CHILD: &str = "LEAKCHECK_MONITOR_OVERHEAD_CHILD";

/// In a child: run `SETTINGS[which]` for the life of the process, as an application would,
/// and print the mean time per call of a one-second block after a short warm-up.
fn child(which: usize, calls: u64) {
    let _running = start(SETTINGS[which].1);
    for i in 0..calls / 5 {
        body(i);
    }
    let started = Instant::now();
    for i in 0..calls {
        body(i);
    }
    println!("{}", started.elapsed().as_secs_f64() / calls as f64);
}

/// Fresh processes, each with one setting active from its start (an application starts its
/// monitor once, not once per second), alternating settings over the rounds.
fn interleaved() {
    const ROUNDS: usize = 20;
    let calls = calibrate();
    let exe = std::env::current_exe().expect("own path");
    // times[setting][round]: mean time per call in that process's block.
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); SETTINGS.len()];
    for round in 0..ROUNDS {
        for k in 0..SETTINGS.len() {
            // Rotate the order so that no setting always runs first or last.
            let which = (k + round) % SETTINGS.len();
            let out = std::process::Command::new(&exe)
                .env(CHILD, format!("{which} {calls}"))
                .output()
                .expect("child runs");
            let text = String::from_utf8_lossy(&out.stdout);
            times[which].push(text.trim().parse().expect("a time per call"));
        }
    }
    let quantiles = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(0.25), at(0.5), at(0.75))
    };
    println!(
        "\nA/B in fresh processes: {ROUNDS} rounds, one ~1 s block per setting and round; each \
         setting's time per call over the same round's no_monitor time"
    );
    for (which, (name, _)) in SETTINGS.iter().enumerate() {
        let (_, per_call, _) = quantiles(times[which].clone());
        let ratios = (0..ROUNDS).map(|r| times[which][r] / times[0][r]).collect();
        let (q1, median, q3) = quantiles(ratios);
        println!(
            "  {name:<15} {:>7.3} µs/call   overhead median {:+.2}%  (middle half {:+.2}% .. {:+.2}%)",
            per_call * 1e6,
            (median - 1.0) * 100.0,
            (q1 - 1.0) * 100.0,
            (q3 - 1.0) * 100.0
        );
    }
}

fn main() {
    // glibc's malloc takes a faster path while a process has never had a second thread, and
    // never goes back. Production applications have threads; so that every setting is measured
    // alike (not only those that start one), the process gets its second thread now.
    std::thread::spawn(|| ()).join().expect("thread");
    if let Ok(job) = std::env::var(CHILD) {
        let mut parts = job.split(' ').map(|p| p.parse::<u64>().expect("child job"));
        let (which, calls) = (parts.next().unwrap(), parts.next().unwrap());
        return child(which as usize, calls);
    }
    let mut criterion = Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs this binary in test mode: the A/B run is for `cargo bench`.
    if std::env::args().any(|a| a == "--bench") {
        tick_cost();
        interleaved();
    }
}
