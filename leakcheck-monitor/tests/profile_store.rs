//! The profile directory of a monitor inside this test process, on the real clock: periodic
//! profiles, rotation, the baseline kept when the heap starts to grow and the profiles of each
//! state change, read back by `go tool pprof -diff_base` and our own diff. A directory that
//! cannot be written is reported in the status while sampling goes on.
//!
//! Waits are bounded waits on conditions (files appearing, states reached), never sleeps that
//! hope something happened; the leak itself is paced by a sleep, as a load generator is.

#[path = "../../leakcheck-probe/tests/go_pprof/mod.rs"]
mod go_pprof;

use leakcheck_alloc::sample;
use leakcheck_monitor::profile::ProfileStorage;
use leakcheck_monitor::sampler::{Monitor, MonitorConfig, MonitorHandle};
use leakcheck_probe::pprof::{decode, sites};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

leakcheck_monitor::global_allocator!();

static LEAKED: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A leak into a global structure: 64 KiB every 10 ms (about 6 MiB/s), at most 64 MiB.
#[inline(never)]
fn leak_into_a_global(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let mut leaked = LEAKED.lock().unwrap();
        if leaked.len() >= 65_536 {
            break;
        }
        for _ in 0..64 {
            leaked.push(std::hint::black_box(vec![3u8; 1024]));
        }
        drop(leaked);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `f` until it is `Some`, failing after a generous bound (a hang guard).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn profiles(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn find(dir: &Path, suffix: &str) -> Option<PathBuf> {
    profiles(dir)
        .into_iter()
        .rev()
        .find(|n| n.ends_with(suffix))
        .map(|n| dir.join(n))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("profile-store")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn heap_state(handle: &MonitorHandle) -> Option<String> {
    let status = serde_json::to_value(handle.status()).unwrap();
    status["resources"]
        .as_array()?
        .iter()
        .find(|r| r["resource"] == "heap")
        .map(|r| r["state"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn a_leak_leaves_a_baseline_and_the_profiles_of_its_states() {
    sample::set_rate(4096);
    let dir = temp_dir("leak");
    let max_files = 12;
    let monitor = Monitor::start(
        MonitorConfig::new()
            .interval(Duration::from_millis(10))
            .window(Duration::from_millis(1200))
            .profiles(
                ProfileStorage::new(&dir)
                    .interval(Duration::from_millis(100))
                    .max_files(max_files),
            ),
    )
    .unwrap();
    let handle = monitor.handle();
    // Quiet first: periodic profiles, enough of them to rotate.
    eventually("periodic profiles to rotate", || {
        (handle.status().profiles?.written > max_files as u64).then_some(())
    });
    assert!(profiles(&dir).len() <= max_files, "{:?}", profiles(&dir));
    assert_eq!(heap_state(&handle).as_deref(), Some("ok"));

    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| leak_into_a_global(&stop));
        eventually("a profile of the heap leaking", || {
            find(&dir, "-heap-leaking.pb.gz")
        });
        stop.store(true, Ordering::SeqCst);
    });

    let names = profiles(&dir);
    assert!(names.len() <= max_files, "{names:?}");
    let baseline = find(&dir, "-baseline.pb.gz").unwrap_or_else(|| panic!("{names:?}"));
    let suspected = find(&dir, "-heap-suspected.pb.gz").unwrap_or_else(|| panic!("{names:?}"));
    let leaking = find(&dir, "-heap-leaking.pb.gz").unwrap();
    assert!(baseline < suspected && suspected < leaking, "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    let status = handle.status().profiles.unwrap();
    assert_eq!((status.failed, status.last_error), (0, None));
    assert_eq!(status.files, names.len());

    // What grew from the baseline to the leaking profile: our diff and go tool pprof's.
    let read = |p: &Path| decode(&std::fs::read(p).unwrap()).unwrap();
    let (base, head) = (read(&baseline), read(&leaking));
    let index = head.sample_index("inuse_space").unwrap();
    let diff = sites::diff(&base, index, &head, index);
    let grown = diff
        .sites
        .iter()
        .find(|c| c.delta > 0 && c.site.frame.function.starts_with("profile_store::"))
        .unwrap_or_else(|| panic!("{diff:#?}"));
    assert_eq!(
        grown.site.frame.function,
        "profile_store::leak_into_a_global"
    );

    let work = temp_dir("pprof");
    std::fs::create_dir_all(&work).unwrap();
    let top = go_pprof::pprof(
        &work,
        &[
            "-top",
            "-sample_index=inuse_space",
            &format!("-diff_base={}", baseline.display()),
            leaking.to_str().unwrap(),
        ],
    );
    let first = go_pprof::top_rows(&top)
        .into_iter()
        .map(|r| r.2)
        .find(|f| f.starts_with("profile_store::"));
    assert_eq!(
        first.as_deref(),
        Some("profile_store::leak_into_a_global"),
        "{top}"
    );
    monitor.stop();
}

#[test]
fn a_directory_that_cannot_be_written_is_reported_and_sampling_goes_on() {
    sample::set_rate(4096);
    let blocked = temp_dir("blocked");
    std::fs::create_dir_all(blocked.parent().unwrap()).unwrap();
    std::fs::write(&blocked, b"a file where the directory should be").unwrap();
    let monitor = Monitor::start(
        MonitorConfig::new()
            .interval(Duration::from_millis(10))
            .profiles(
                ProfileStorage::new(blocked.join("profiles")).interval(Duration::from_millis(50)),
            ),
    )
    .unwrap();
    let handle = monitor.handle();
    let status = eventually("two failed writes", || {
        let s = handle.status();
        (s.profiles.as_ref()?.failed >= 2).then_some(s)
    });
    let profiles = status.profiles.unwrap();
    assert_eq!(profiles.written, 0);
    let error = profiles.last_error.unwrap();
    assert!(error.contains("profiles"), "names the directory: {error}");
    let taken = status.samples_taken;
    eventually("sampling to go on", || {
        (handle.status().samples_taken > taken + 5).then_some(())
    });
    assert!(handle.is_running());
    monitor.stop();
    let _ = std::fs::remove_file(&blocked);
}
