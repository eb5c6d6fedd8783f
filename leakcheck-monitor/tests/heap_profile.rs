//! `/debug/pprof/heap` of a monitor inside this test process, with the counting allocator's
//! sampler on: fetched over HTTP, decoded by our reader and by `go tool pprof` (the real
//! client). One test function, because the sampling rate is process-wide: tests running side
//! by side would change each other's.
//!
//! The heap is made by named functions: one keeps what it allocates (the leak), one frees it
//! (churn), one keeps allocating while a delta profile is being taken.

#[path = "../../leakcheck-probe/tests/go_pprof/mod.rs"]
mod go_pprof;

use leakcheck_alloc::sample;
use leakcheck_monitor::profile::{ProfileError, Profiler};
use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
use leakcheck_monitor::serve::Server;
use leakcheck_monitor::source::OtherProcess;
use leakcheck_probe::pprof::{decode, sites, Profile};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

leakcheck_monitor::global_allocator!();

/// One sample every 4 KiB on average: about a fifth of the 1 KiB blocks below are sampled.
const RATE: u64 = 4096;

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The leak: a cache filled on every request and never emptied (4 MiB).
#[inline(never)]
fn cache_every_request() {
    let mut kept = KEPT.lock().unwrap();
    for i in 0..4096 {
        kept.push(std::hint::black_box(vec![i as u8; 1024]));
    }
}

/// Work whose allocations are all freed (8 MiB allocated).
#[inline(never)]
fn transient_work() -> usize {
    let blocks: Vec<Vec<u8>> = (0..8192).map(|i| vec![i as u8; 1024]).collect();
    std::hint::black_box(blocks).len()
}

/// Keeps 1 KiB blocks until `stop` is set (at most 16 MiB), one every millisecond: a heap that
/// grows while a delta profile is taken.
#[inline(never)]
fn grows_during_the_delta(stop: &AtomicBool) -> Vec<Vec<u8>> {
    let mut kept = Vec::new();
    while !stop.load(Ordering::SeqCst) && kept.len() < 16_384 {
        kept.push(std::hint::black_box(vec![7u8; 1024]));
        std::thread::sleep(Duration::from_millis(1));
    }
    kept
}

/// GET `target`: (status, body).
fn get(addr: SocketAddr, target: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP reply");
    let status = std::str::from_utf8(&bytes[9..12]).unwrap().parse().unwrap();
    (status, bytes[end + 4..].to_vec())
}

/// In-use bytes by site function of this program, largest first. The monitor's own
/// symbolizer (gimli, addr2line: tens of MiB of debug info of a debug build, read once) is in
/// the heap too and is left out here: this checks how this program's heap is ranked.
fn inuse_by_site(profile: &Profile) -> Vec<(String, i64)> {
    let index = profile.sample_index("inuse_space").unwrap();
    sites::top(profile, index)
        .sites
        .iter()
        .map(|s| (s.site.frame.function.clone(), s.flat))
        .filter(|(f, _)| f.starts_with("heap_profile::"))
        .collect()
}

/// The first `go tool pprof -top` row of this program's functions.
fn first_of_ours(top: &str) -> String {
    go_pprof::top_rows(top)
        .into_iter()
        .map(|r| r.2)
        .find(|f| f.starts_with("heap_profile::"))
        .unwrap_or_default()
}

fn site_value(rows: &[(String, i64)], function: &str) -> i64 {
    rows.iter()
        .filter(|(f, _)| f.contains(function))
        .map(|(_, v)| *v)
        .sum()
}

fn temp_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("heap-profile");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_endpoint_serves_heap_profiles_that_name_the_leaking_function() {
    let monitor = Monitor::start(MonitorConfig::new()).unwrap();
    let server = Server::bind("127.0.0.1:0", monitor.handle()).unwrap();
    let addr = server.local_addr();

    // Sampling off: no profile, and the answer says how to turn it on.
    sample::set_rate(0);
    let (status, body) = get(addr, "/debug/pprof/heap");
    assert_eq!(status, 404);
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("heap sampling is off"), "{body}");

    sample::set_rate(RATE);
    // One delta at a time: each holds a server worker for its whole span.
    let profiler = Profiler::new();
    let inner = profiler.delta(Duration::ZERO, |_| {
        assert_eq!(
            profiler.delta(Duration::ZERO, |_| {}),
            Err(ProfileError::Busy)
        );
    });
    assert!(inner.is_ok());
    assert!(profiler.delta(Duration::ZERO, |_| {}).is_ok(), "free again");

    cache_every_request();
    assert_eq!(transient_work(), 8192);

    let (status, gz) = get(addr, "/debug/pprof/heap");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&gz));
    assert_eq!(&gz[..2], b"\x1f\x8b", "gzipped");
    let profile = decode(&gz).unwrap();
    assert_eq!(profile.default_sample_type.as_deref(), Some("inuse_space"));
    assert_eq!(profile.period, RATE as i64);
    let rows = inuse_by_site(&profile);
    assert!(
        rows[0].0.ends_with("heap_profile::cache_every_request"),
        "{rows:?}"
    );
    // The unbiased estimate of its 4 MiB: ~1,000 samples, so a few percent of error; 25 % is
    // more than 6 standard errors.
    let leak = site_value(&rows, "cache_every_request") as f64;
    assert!((leak / 4_194_304.0 - 1.0).abs() < 0.25, "{leak} of 4 MiB");
    // Freed blocks are not in use: at most the odd block still live.
    assert!(site_value(&rows, "transient_work") < 64 * 1024, "{rows:?}");
    // But they were allocated: alloc_space has both (8 MiB of churn).
    let alloc = profile.sample_index("alloc_space").unwrap();
    let allocated: Vec<_> = sites::top(&profile, alloc)
        .sites
        .iter()
        .map(|s| (s.site.frame.function.clone(), s.flat))
        .collect();
    let churn = site_value(&allocated, "transient_work") as f64;
    assert!((churn / 8_388_608.0 - 1.0).abs() < 0.25, "{churn} of 8 MiB");
    // Every live sample carries its size, age and thread; no leaf is the allocator's own.
    for s in profile.samples.iter().filter(|s| s.values[3] > 0) {
        assert!(s.num_label("bytes").is_some() && s.num_label("thread").is_some());
        assert_eq!(
            s.num_label("age").map(|(_, unit)| unit),
            Some(Some("seconds"))
        );
        let leaf = &s.frames[0].function;
        assert!(
            !leaf.starts_with("leakcheck_alloc"),
            "untrimmed leaf {leaf}"
        );
    }
    // The main binary's mapping has its build id.
    assert!(
        profile.mappings[0].build_id.is_some(),
        "{:?}",
        profile.mappings[0]
    );

    // go tool pprof: -top names the leak first, -traces shows its stack.
    let dir = temp_dir();
    let file = dir.join("heap.pb.gz");
    std::fs::write(&file, &gz).unwrap();
    let file = file.to_str().unwrap();
    let top = go_pprof::pprof(&dir, &["-top", "-sample_index=inuse_space", file]);
    assert_eq!(
        first_of_ours(&top),
        "heap_profile::cache_every_request",
        "{top}"
    );
    let traces = go_pprof::pprof(&dir, &["-traces", "-sample_index=inuse_space", file]);
    let label = |key: &str, value: &str| {
        traces.lines().any(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim() == value)
        })
    };
    assert!(
        traces.contains("heap_profile::cache_every_request") && label("bytes:", "1kB"),
        "{traces}"
    );
    assert!(
        traces.lines().any(|l| l.trim_start().starts_with("age:")),
        "{traces}"
    );

    // A delta over 2 s: what grew in it, not the cache filled before.
    let stop = AtomicBool::new(false);
    let (delta, grown) = std::thread::scope(|s| {
        let grower = s.spawn(|| grows_during_the_delta(&stop));
        let reply = get(addr, "/debug/pprof/heap?seconds=2");
        stop.store(true, Ordering::SeqCst);
        (reply, grower.join().unwrap())
    });
    assert_eq!(delta.0, 200, "{}", String::from_utf8_lossy(&delta.1));
    let profile = decode(&delta.1).unwrap();
    assert!(
        profile.duration_nanos >= 1_000_000_000,
        "{}",
        profile.duration_nanos
    );
    let rows = inuse_by_site(&profile);
    assert!(
        rows[0].0.ends_with("heap_profile::grows_during_the_delta"),
        "{rows:?} ({} blocks grown)",
        grown.len()
    );
    assert_eq!(site_value(&rows, "cache_every_request"), 0, "{rows:?}");
    let file = dir.join("delta.pb.gz");
    std::fs::write(&file, &delta.1).unwrap();
    let top = go_pprof::pprof(&dir, &["-top", file.to_str().unwrap()]);
    assert_eq!(
        first_of_ours(&top),
        "heap_profile::grows_during_the_delta",
        "{top}"
    );
    drop(grown);

    server.stop();
    monitor.stop();
    sample::set_rate(0);
}

/// A monitor watching another process cannot sample its allocator, and says so.
#[test]
fn a_monitor_of_another_process_has_no_heap_profile() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let monitor = Monitor::watch(
        Box::new(OtherProcess::new(child.id()).unwrap()),
        MonitorConfig::new(),
    )
    .unwrap();
    let response = leakcheck_monitor::serve::route(&monitor.handle(), "/debug/pprof/heap");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(response.status, 404);
    let body = String::from_utf8(response.body).unwrap();
    assert!(
        body.contains("another process's allocator cannot be sampled")
            && body.contains("global_allocator!()"),
        "{body}"
    );
    monitor.stop();
}
