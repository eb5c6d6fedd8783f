//! `cargo leakcheck simulate --service`: the catalogue's heap leaks inside a running service
//! with the monitor embedded, to measure whether the monitor's alert names the leak.
//!
//! Each run is a process of its own (`__simulate-service NAME --seed N --out FILE`): it starts
//! the monitor, a background load of clean work at sites of its own (allocations made and freed,
//! a cache that fills to 400 KiB in its first second and then stays, the case's clean twin),
//! lets it run clean for three windows, then calls the case's leaky body at a pace that leaks 2–10 MiB/min (drawn from
//! the seed). The true site is the case's own body (its function path holds the case's name).
//! The run reports the rank of the true site among the sites the first heap alert names, and
//! the time from the leak's start to the first alert that names it.
//!
//! Time is compressed tenfold, as in the monitor's end-to-end tests: a 6 s detection window
//! instead of 60 s, a sample every 100 ms instead of 1 s, and one heap sample per 51.2 KiB
//! instead of 512 KiB, so that a window holds as many samples of the leak as at the defaults.
//! Times are reported in real seconds and in windows (× 60 s at the default window).

use super::catalogue::{self, Case, Kind, SplitMix};
use super::children::{self, End, Finished, Job};
use super::{CaseArgs, Format, SimulateArgs};
use crate::{CliError, LeakcheckExitCode};
use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
use leakcheck_monitor::{Alert, Resource, State};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The hidden command each service run's process runs.
pub const SERVICE_COMMAND: &str = "__simulate-service";

/// How much faster than the defaults the service's clock runs.
const COMPRESSION: f64 = 10.0;
/// The detection window (60 s at the defaults).
const WINDOW: Duration = Duration::from_secs(6);
/// Between two samples (1 s at the defaults).
const INTERVAL: Duration = Duration::from_millis(100);
/// Bytes between two heap samples on average (512 KiB at the defaults).
const SAMPLING_RATE: u64 = 512 * 1024 / 10;
/// Clean windows before the leak starts (the cache's step at the start has left the window by
/// then).
const CLEAN_WINDOWS: u32 = 3;
/// Windows after the leak's start within which the alert must name it.
const CAP_WINDOWS: u32 = 12;
/// The leak rates drawn, MiB per minute.
const MIB_PER_MIN: (f64, f64) = (2.0, 10.0);
/// Most calls of the leaky body per second: a case that leaks a few bytes a call leaks less
/// than its drawn rate rather than spinning a core.
const MAX_CALLS_PER_SEC: f64 = 20_000.0;

/// Whether a family leaks heap (the monitor's heap profile can name its site).
pub fn is_heap(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Maps
            | Kind::Vecs
            | Kind::Strings
            | Kind::Channels
            | Kind::Interners
            | Kind::Cycles
            | Kind::Listeners
            | Kind::Forgotten
    )
}

/// One service run, as the child writes it and `--format json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceRow {
    /// The case's name.
    pub case: String,
    /// Its family.
    pub kind: Kind,
    /// The trial (0-based; also the seed).
    pub trial: u64,
    /// The leak rate the pace aimed at, bytes per minute (lower when the case leaks so little
    /// per call that the cap of 20,000 calls a second held it back).
    pub leak_bytes_per_min: f64,
    /// What one call of the leaky body leaked, measured before the service started.
    pub bytes_per_call: f64,
    /// The rank (1 = first) of the true site among the sites of the first heap alert that
    /// named any; `None` when no alert named a site or the true one was not among them.
    pub rank: Option<usize>,
    /// The functions that alert named, in its order.
    pub named: Vec<String>,
    /// Real seconds from the leak's start to the first heap alert naming the true site.
    pub seconds_to_named: Option<f64>,
    /// Real seconds from the leak's start to the heap's `leaking` alert.
    pub seconds_to_leaking: Option<f64>,
    /// Heap alerts raised before the leak started (false alarms of the clean service).
    #[serde(default)]
    pub alerts_before_leak: usize,
    /// Why the run has no result (the process crashed, hung, or the case leaked nothing).
    #[serde(default)]
    pub error: Option<String>,
    /// Wall time of the run's process, milliseconds.
    #[serde(default)]
    pub millis: u64,
}

impl ServiceRow {
    /// A run of `case` in trial `trial` with nothing measured yet.
    fn new(case: &Case, trial: u64) -> ServiceRow {
        ServiceRow {
            case: case.name.to_owned(),
            kind: case.kind,
            trial,
            leak_bytes_per_min: 0.0,
            bytes_per_call: 0.0,
            rank: None,
            named: Vec::new(),
            seconds_to_named: None,
            seconds_to_leaking: None,
            alerts_before_leak: 0,
            error: None,
            millis: 0,
        }
    }

    /// `first`, `ranked N`, `not named` or `error`.
    pub fn outcome(&self) -> String {
        match (&self.error, self.rank) {
            (Some(_), _) => "error".to_owned(),
            (None, Some(1)) => "first".to_owned(),
            (None, Some(n)) => format!("ranked {n}"),
            (None, None) => "not named".to_owned(),
        }
    }
}

/// Cases whose leaked blocks are allocated in a helper of theirs rather than in the body itself
/// (the innermost function of the case's code, which is what the monitor names).
const HELPER_SITES: &[(&str, &str)] = &[
    ("interner_unbounded", "::Interner::intern"),
    ("rc_cycle", "::Node::new"),
    ("arc_cycle", "references::shared"),
    ("callback_never_removed", "references::listener"),
];

/// Whether `function` allocates the case's leak: its body (the closure, or a function named
/// after the case), or the helper that allocates for it.
fn is_true_site(function: &str, case: &Case) -> bool {
    function.contains(&format!("::{}", case.name))
        || HELPER_SITES
            .iter()
            .any(|&(name, helper)| name == case.name && function.contains(helper))
}

/// The child's side: runs the service with the case's leak and writes its [`ServiceRow`].
pub fn run_one(args: &CaseArgs) -> Result<i32, CliError> {
    let case = catalogue::find(&args.case).ok_or_else(|| CliError::NoSuchCase {
        name: args.case.clone(),
    })?;
    let row = service_run(&case, args.seed);
    let json = serde_json::to_vec(&row).map_err(|source| CliError::Encode {
        what: "the service run",
        source,
    })?;
    std::fs::write(&args.out, json).map_err(|e| CliError::write(&args.out, e))?;
    Ok(LeakcheckExitCode::OK)
}

fn service_run(case: &Case, seed: u64) -> ServiceRow {
    let mut row = ServiceRow::new(case, seed);
    let params = case.params(seed);
    let mut leaky = case.body(&params);

    // What a call leaks, measured alone before anything else runs.
    const CALIBRATION_CALLS: u32 = 200;
    let before = leakcheck::counters().live_bytes();
    for _ in 0..CALIBRATION_CALLS {
        leaky();
    }
    let leaked = leakcheck::counters().live_bytes().saturating_sub(before);
    if leaked == 0 {
        row.error = Some(format!(
            "the case leaked nothing in {CALIBRATION_CALLS} calls"
        ));
        return row;
    }
    row.bytes_per_call = leaked as f64 / f64::from(CALIBRATION_CALLS);
    let (low, high) = MIB_PER_MIN;
    let target = (low + (high - low) * SplitMix(seed).unit()) * 1024.0 * 1024.0 / 60.0;
    let calls_per_sec = (target / row.bytes_per_call).min(MAX_CALLS_PER_SEC);
    row.leak_bytes_per_min = calls_per_sec * row.bytes_per_call * 60.0;

    let (alerts, alerted) = mpsc::channel::<Alert>();
    let alerts = Mutex::new(alerts);
    let monitor = match Monitor::start(
        MonitorConfig::new()
            .heap_sampling(SAMPLING_RATE)
            .interval(INTERVAL)
            .window(WINDOW)
            .on_alert(move |alert| {
                if let Ok(tx) = alerts.lock() {
                    let _ = tx.send(alert.clone());
                }
            }),
    ) {
        Ok(monitor) => monitor,
        Err(e) => {
            row.error = Some(format!("the monitor did not start: {e}"));
            return row;
        }
    };

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let twin = case
        .twin
        .and_then(catalogue::find)
        .map(|twin| twin.body(&twin.params(seed)));
    let background = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("service-load".into())
            .spawn(move || clean_load(&stop, twin))
    };
    if let Err(e) = background {
        row.error = Some(format!("the load thread did not start: {e}"));
        return row;
    }

    // Clean windows first: the monitor's baseline, the cache filling and settling.
    let clean_until = Instant::now() + WINDOW * CLEAN_WINDOWS;
    let leak_start = clean_until;
    let deadline = leak_start + WINDOW * CAP_WINDOWS;
    let leaker = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("service-leak".into())
            .spawn(move || {
                pace_until(clean_until);
                let mut owed = 0.0;
                let tick = Duration::from_millis(10);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    owed += calls_per_sec * tick.as_secs_f64();
                    while owed >= 1.0 {
                        leaky();
                        owed -= 1.0;
                    }
                    std::thread::sleep(tick);
                }
            })
    };
    if let Err(e) = leaker {
        row.error = Some(format!("the leak thread did not start: {e}"));
        return row;
    }

    // Alerts, until one names the true site, the heap is leaking without naming it, or the cap.
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let Ok(alert) = alerted.recv_timeout(deadline - now) else {
            break;
        };
        if alert.resource != Resource::Heap || !alert.firing {
            continue;
        }
        if Instant::now() < leak_start {
            row.alerts_before_leak += 1;
            continue;
        }
        let since = Instant::now()
            .saturating_duration_since(leak_start)
            .as_secs_f64();
        if !alert.growing.is_empty() && row.named.is_empty() {
            row.named = alert.growing.iter().map(|s| s.function.clone()).collect();
            row.rank = alert
                .growing
                .iter()
                .position(|s| is_true_site(&s.function, case))
                .map(|i| i + 1);
        }
        if row.seconds_to_named.is_none()
            && alert
                .growing
                .iter()
                .any(|s| is_true_site(&s.function, case))
        {
            row.seconds_to_named = Some(since);
        }
        if alert.status.state == State::Leaking {
            row.seconds_to_leaking = Some(since);
            // No heap alert follows `leaking` while the episode lasts.
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    monitor.stop();
    row
}

/// Sleeps until `when`: the load's pace, not a wait for a condition.
fn pace_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        std::thread::sleep(when - now);
    }
}

/// The service's clean work, until `stop`: requests that allocate and free, a cache that fills
/// to 200 entries of 2 KiB in the first window and then stays, and the case's clean twin.
fn clean_load(stop: &std::sync::atomic::AtomicBool, mut twin: Option<catalogue::Body>) {
    let mut cache: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut request = 0u64;
    let tick = Duration::from_millis(5);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        request += 1;
        black_box(handle_request(request));
        fill_cache(&mut cache, request);
        if let Some(twin) = twin.as_mut() {
            if request % 4 == 0 {
                twin();
            }
        }
        std::thread::sleep(tick);
    }
}

/// A request: a few formatted strings and a buffer, all freed.
#[inline(never)]
fn handle_request(n: u64) -> usize {
    let lines: Vec<String> = (0..16).map(|i| format!("request {n} line {i}")).collect();
    let body = vec![n as u8; 8 * 1024];
    lines.iter().map(String::len).sum::<usize>() + body.len()
}

/// A bounded cache: grows by an entry per request until full (about 1 s at this pace, within
/// the first window), then stays.
#[inline(never)]
fn fill_cache(cache: &mut HashMap<u64, Vec<u8>>, n: u64) {
    const ENTRIES: usize = 200;
    if cache.len() < ENTRIES {
        cache.insert(n, vec![n as u8; 2048]);
    }
}

/// Per family and overall: runs, the share whose true site ranked first, and times to naming.
fn render(rows: &[ServiceRow], min_first: f64) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>4} {:>7} {:>9} {:>9}  named instead",
        "case", "runs", "first", "median s", "worst s"
    );
    // Cases in the order first seen (the rows are trial by trial).
    let mut cases: Vec<&str> = Vec::new();
    for row in rows {
        if !cases.contains(&row.case.as_str()) {
            cases.push(&row.case);
        }
    }
    for case in cases {
        let of: Vec<&ServiceRow> = rows.iter().filter(|r| r.case == case).collect();
        let (first, times) = tally(&of);
        let others: Vec<String> = of
            .iter()
            .filter(|r| r.rank != Some(1))
            .map(|r| match &r.error {
                Some(e) => format!("error: {e}"),
                None => format!("{}: {}", r.outcome(), r.named.join(", ")),
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<28} {:>4} {:>6.0}% {:>9} {:>9}  {}",
            case,
            of.len(),
            first,
            median(&times).map_or("-".into(), |t| format!("{t:.1}")),
            times
                .iter()
                .copied()
                .reduce(f64::max)
                .map_or("-".into(), |t| format!("{t:.1}")),
            others.join("; ")
        );
    }
    let mut kinds: Vec<Kind> = rows.iter().map(|r| r.kind).collect();
    kinds.sort();
    kinds.dedup();
    let _ = writeln!(out, "\nby family:");
    for kind in kinds {
        let of: Vec<&ServiceRow> = rows.iter().filter(|r| r.kind == kind).collect();
        let (first, times) = tally(&of);
        let _ = writeln!(
            out,
            "  {:<10} {:>4} runs  first {:>5.1}%  median {} s",
            kind.name(),
            of.len(),
            first,
            median(&times).map_or("-".into(), |t| format!("{t:.1}"))
        );
    }
    let all: Vec<&ServiceRow> = rows.iter().collect();
    let (first, times) = tally(&all);
    let wrong = rows
        .iter()
        .filter(|r| !r.named.is_empty() && r.rank != Some(1))
        .count();
    let quiet = rows.iter().filter(|r| r.alerts_before_leak > 0).count();
    let _ = writeln!(
        out,
        "\nanother site named first: {wrong} runs; heap alerts while the service was still clean: \
         {quiet} runs"
    );
    let met = first >= min_first && rows.iter().all(|r| r.error.is_none());
    let _ = writeln!(
        out,
        "\ntrue site ranked first: {first:.1}% of {} runs (target ≥ {min_first}%): {}",
        rows.len(),
        if met { "met" } else { "MISSED" }
    );
    if let Some(m) = median(&times) {
        let worst = times.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "leak start to the alert naming it: median {m:.1} s, worst {worst:.1} s real = {:.2} / \
             {:.2} windows ({:.0} / {:.0} s at the default 60 s window)",
            m / WINDOW.as_secs_f64(),
            worst / WINDOW.as_secs_f64(),
            m * COMPRESSION,
            worst * COMPRESSION
        );
    }
    (out, met)
}

/// The share ranked first (percent) and the times to naming of `rows`.
fn tally(rows: &[&ServiceRow]) -> (f64, Vec<f64>) {
    let first = rows.iter().filter(|r| r.rank == Some(1)).count();
    let share = if rows.is_empty() {
        0.0
    } else {
        100.0 * first as f64 / rows.len() as f64
    };
    (
        share,
        rows.iter().filter_map(|r| r.seconds_to_named).collect(),
    )
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The parent's side: every leaky heap case of `cases`, `args.trials` times, each in a process.
pub fn run(args: &SimulateArgs, cases: &[Case], parallel: usize) -> Result<i32, CliError> {
    let cases: Vec<&Case> = cases
        .iter()
        .filter(|c| c.leaky && is_heap(c.kind))
        .collect();
    if cases.is_empty() {
        return Err(CliError::NoCases {
            families:
                "a heap family (map, vec, string, channel, interner, cycle, listener, forget)"
                    .to_owned(),
        });
    }
    let jobs: Vec<Job> = super::jobs(cases.iter().copied(), args.trials);
    let exe = std::env::current_exe().map_err(CliError::CurrentExe)?;
    eprintln!(
        "leakcheck: {} service runs ({} heap leaks × {} trial(s)), {parallel} at a time, each \
         about {} s of a service with the monitor embedded (time compressed {COMPRESSION}×)",
        jobs.len(),
        cases.len(),
        args.trials,
        (CLEAN_WINDOWS + 3) as u64 * WINDOW.as_secs()
    );
    let finished: Vec<Finished<ServiceRow>> = children::run_all(
        &exe,
        SERVICE_COMMAND,
        &jobs,
        parallel,
        Duration::from_secs(args.timeout),
        |_, _| {},
    )?;
    let rows: Vec<ServiceRow> = jobs
        .iter()
        .zip(finished)
        .map(|(job, finished)| match finished.end {
            End::Reported(row) => ServiceRow {
                millis: finished.millis,
                ..*row
            },
            End::Failed(why) => ServiceRow {
                error: Some(why),
                millis: finished.millis,
                ..ServiceRow::new(&job.case, job.trial)
            },
        })
        .collect();
    let (text, met) = render(&rows, args.min_first);
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&rows).map_err(|source| CliError::Encode {
                what: "the rows",
                source,
            })?;
            println!("{json}");
            eprint!("{text}");
        }
        Format::Text => print!("{text}"),
    }
    Ok(if met {
        LeakcheckExitCode::OK
    } else {
        LeakcheckExitCode::FAILED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case: &str, rank: Option<usize>, seconds: Option<f64>) -> ServiceRow {
        ServiceRow {
            case: case.to_owned(),
            rank,
            named: vec!["x::other".to_owned()],
            seconds_to_named: seconds,
            ..ServiceRow::new(&catalogue::find("map_only_grows").unwrap(), 0)
        }
    }

    #[test]
    fn the_target_counts_runs_whose_true_site_ranked_first() {
        let rows: Vec<ServiceRow> = (0..19)
            .map(|i| row("a", Some(1), Some(f64::from(i))))
            .chain([row("b", Some(2), Some(30.0))])
            .collect();
        let (text, met) = render(&rows, 95.0);
        assert!(met, "19 of 20 is 95%:\n{text}");
        assert!(text.contains("median 9.5 s, worst 30.0 s"), "{text}");
        assert!(text.contains("ranked 2: x::other"), "{text}");
        let (text, met) = render(&rows[1..], 95.0);
        assert!(!met, "18 of 19 is under 95%:\n{text}");
        let mut failed = rows.clone();
        failed[0].error = Some("crashed".into());
        assert!(!render(&failed, 0.0).1, "an error misses the target");
    }

    #[test]
    fn the_true_site_is_the_cases_own_body() {
        let case = catalogue::find("map_only_grows").unwrap();
        assert!(is_true_site(
            "cargo_leakcheck::simulate::catalogue::structures::map_only_grows::{{closure}}",
            &case
        ));
        assert!(!is_true_site(
            "cargo_leakcheck::simulate::service::fill_cache",
            &case
        ));
        let rc = catalogue::find("rc_cycle").unwrap();
        assert!(is_true_site(
            "cargo_leakcheck::simulate::catalogue::references::Node::new",
            &rc
        ));
        assert!(!is_true_site(
            "cargo_leakcheck::simulate::catalogue::references::Node::new",
            &case
        ));
    }
}
