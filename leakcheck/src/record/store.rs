//! Where records are kept, and how many writers share them without losing or tearing any.
//!
//! Layout of the output directory (`<target-dir>/leakcheck/` unless `LEAKCHECK_DIR` says
//! otherwise):
//!
//! ```text
//! run.json                 the current run (RunInfo) and the ids of runs it superseded
//! runs/<run id>/<test>.json one TestRecord per leak test of the current run
//! report.json              the current run with all its records (RunReport)
//! junit.xml                the same as JUnit
//! .lock                    serialises writers (flock)
//! ```
//!
//! Every write takes the lock, writes a temporary file next to its target and renames it over
//! the target, so a reader sees the old file or the new one, never a torn one, and two writers
//! never interleave. `report.json` and `junit.xml` are rebuilt from the run's records on every
//! save: each test binary and each process adds its record and leaves both files complete.
//!
//! A **run** is one invocation of a test runner: `cargo leakcheck test` sets `LEAKCHECK_RUN_ID`
//! for the tests it starts; otherwise the id is the identity of the process that started the
//! test binary (cargo or nextest: its pid and start time, and the boot id), so every test binary
//! of one `cargo test` belongs to one run. The first record of a new run starts it afresh: the
//! previous run's records are removed, and a writer of a superseded run still finishing keeps
//! its record in its own folder without touching the new run's report.

use super::{read_record, RunInfo, RunReport, TestRecord, SCHEMA_VERSION};
use crate::config::env;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The output directory of the leak tests in this process: `LEAKCHECK_DIR` when set, else
/// `leakcheck/` in the target directory the test binary was built in.
pub(crate) fn output_dir() -> PathBuf {
    resolve_output_dir(
        |name| std::env::var_os(name).map(PathBuf::from),
        std::env::current_exe().ok().as_deref(),
    )
}

fn resolve_output_dir(env: impl Fn(&str) -> Option<PathBuf>, exe: Option<&Path>) -> PathBuf {
    if let Some(dir) = env(env::DIR).filter(|d| !d.as_os_str().is_empty()) {
        return dir;
    }
    // Test binaries live in <target>/[<triple>/]<profile>/deps/; cargo marks <target> with
    // CACHEDIR.TAG. This follows CARGO_TARGET_DIR and `build.target-dir` without asking cargo.
    let from_exe = exe.and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .take(5)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(Path::to_owned)
    });
    let target = from_exe
        .or_else(|| env("CARGO_TARGET_DIR"))
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("leakcheck")
}

/// The id of the run this process belongs to (see the module docs).
pub(crate) fn run_id() -> String {
    match std::env::var(env::RUN_ID) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => os::parent_identity(),
    }
}

/// What became of a saved record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// The record is in the current run, and `report.json`/`junit.xml` include it.
    Current,
    /// A newer run started meanwhile: the record was kept in its own run's folder only.
    Superseded,
}

/// The output directory and the files in it.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

/// `run.json`: which run is current.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RunState {
    schema_version: u32,
    current: RunInfo,
    #[serde(default)]
    superseded: Vec<String>,
}

/// How many superseded run ids `run.json` remembers.
const REMEMBERED_RUNS: usize = 32;

impl Store {
    /// The store in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    /// The store of this process's leak tests ([`output_dir`]).
    pub fn for_this_process() -> Store {
        Store::at(output_dir())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `report.json`.
    pub fn report_path(&self) -> PathBuf {
        self.dir.join("report.json")
    }

    /// `junit.xml`.
    pub fn junit_path(&self) -> PathBuf {
        self.dir.join("junit.xml")
    }

    /// The folder of one run's records.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.dir.join("runs").join(file_stem(run_id))
    }

    /// Adds `record` to its run and, if that run is current, rewrites `report.json` and
    /// `junit.xml` to include it. `info` describes the run if this record starts it (it is
    /// called at most once, under the lock).
    pub fn save(
        &self,
        record: &TestRecord,
        info: impl FnOnce() -> RunInfo,
    ) -> Result<Saved, StoreError> {
        let runs = self.dir.join("runs");
        fs::create_dir_all(&runs).map_err(|e| context(e, Action::Create, &runs))?;
        let _lock = Lock::acquire(&self.dir.join(".lock"))?;

        let state_path = self.dir.join("run.json");
        // A missing or damaged run.json only means no run is known: the next one starts afresh.
        let mut state: RunState = fs::read_to_string(&state_path)
            .ok()
            .and_then(|text| crate::json::from_str(&text).ok())
            .unwrap_or_default();
        let run_dir = self.run_dir(&record.run_id);
        let saved = if state.current.id == record.run_id {
            Saved::Current
        } else if state.superseded.contains(&record.run_id) {
            Saved::Superseded
        } else {
            let previous = std::mem::take(&mut state.current);
            if !previous.id.is_empty() {
                state.superseded.push(previous.id);
            }
            let excess = state.superseded.len().saturating_sub(REMEMBERED_RUNS);
            state.superseded.drain(..excess);
            state.schema_version = SCHEMA_VERSION;
            state.current = RunInfo {
                id: record.run_id.clone(),
                ..info()
            };
            self.remove_other_runs(&run_dir)?;
            write_atomically(&state_path, &to_json(&state))?;
            Saved::Current
        };
        fs::create_dir_all(&run_dir).map_err(|e| context(e, Action::Create, &run_dir))?;
        let record_path = run_dir.join(format!("{}.json", file_stem(&record.test.full_name())));
        write_atomically(&record_path, &to_json(record))?;
        if saved == Saved::Current {
            let report = self.collect(&run_dir, state.current);
            write_atomically(&self.report_path(), &to_json(&report))?;
            write_atomically(&self.junit_path(), &crate::junit::render(&report))?;
        }
        Ok(saved)
    }

    /// The report of the records in `run_dir`.
    fn collect(&self, run_dir: &Path, run: RunInfo) -> RunReport {
        let mut tests = Vec::new();
        let mut unreadable = Vec::new();
        let entries = fs::read_dir(run_dir).into_iter().flatten().flatten();
        for path in entries.map(|e| e.path()) {
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match read_record(&path) {
                Ok(record) => tests.push(record),
                Err(e) => unreadable.push(e.to_string()),
            }
        }
        tests.sort_by_key(|r| (r.test.binary_id(), r.test.name.clone()));
        unreadable.sort();
        RunReport {
            schema_version: SCHEMA_VERSION,
            run,
            tests,
            unreadable,
        }
    }

    fn remove_other_runs(&self, keep: &Path) -> Result<(), StoreError> {
        let runs = self.dir.join("runs");
        for entry in fs::read_dir(&runs).map_err(|e| context(e, Action::List, &runs))? {
            let path = entry.map_err(|e| context(e, Action::List, &runs))?.path();
            if path != keep {
                fs::remove_dir_all(&path).map_err(|e| context(e, Action::Remove, &path))?;
            }
        }
        Ok(())
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    let mut text = crate::json::to_string_pretty(value).expect("records serialize");
    text.push('\n');
    text
}

/// A file or folder of the record store that cannot be written: what was being done, the path
/// and the cause; for the faults people can fix (a full disk, a read-only file system,
/// permissions), the message says what to do.
#[derive(Debug)]
#[non_exhaustive]
pub struct StoreError {
    /// What was being done.
    pub action: Action,
    /// The file or folder.
    pub path: PathBuf,
    /// Why it failed.
    pub source: io::Error,
}

/// What the record store was doing when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Creating a folder.
    Create,
    /// Opening the lock file.
    Open,
    /// Taking the lock.
    Lock,
    /// Listing a folder.
    List,
    /// Removing a superseded run's folder.
    Remove,
    /// Writing a file.
    Write,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Open => "open",
            Action::Lock => "lock",
            Action::List => "list",
            Action::Remove => "remove",
            Action::Write => "write",
        })
    }
}

impl StoreError {
    /// What to do about it, for the usual faults (a full disk, a read-only file system,
    /// permissions).
    pub fn hint(&self) -> Option<&'static str> {
        hint(&self.source)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )?;
        self.hint().map_or(Ok(()), |hint| write!(f, "; {hint}"))
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn context(source: io::Error, action: Action, path: &Path) -> StoreError {
    StoreError {
        action,
        path: path.to_owned(),
        source,
    }
}

/// What to do about an error writing records, when it is one of the usual faults.
fn hint(e: &io::Error) -> Option<&'static str> {
    #[cfg(unix)]
    const FULL: &str =
        "the disk is full: free some space, or set LEAKCHECK_DIR to a directory on another disk";
    #[cfg(unix)]
    const QUOTA: &str = "the disk quota is used up: free some space, or set LEAKCHECK_DIR to a \
                         directory elsewhere";
    #[cfg(unix)]
    const READ_ONLY: &str =
        "the file system is read-only: set LEAKCHECK_DIR to a writable directory";
    const DENIED: &str = "this user may not write there: make the directory writable, or set \
                          LEAKCHECK_DIR to a writable directory";
    #[cfg(unix)]
    match e.raw_os_error() {
        Some(libc::ENOSPC) => return Some(FULL),
        Some(libc::EDQUOT) => return Some(QUOTA),
        Some(libc::EROFS) => return Some(READ_ONLY),
        _ => {}
    }
    (e.kind() == io::ErrorKind::PermissionDenied).then_some(DENIED)
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`. On any error the
/// temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = File::create(&tmp)
        .and_then(|mut f| write_all(&mut f, text.as_bytes()))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(context(e, Action::Write, path));
    }
    Ok(())
}

#[cfg(not(all(test, unix)))]
fn write_all(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    file.write_all(bytes)
}

/// In unit tests, writes go through a hook that can pretend the disk fills up.
#[cfg(all(test, unix))]
fn write_all(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    fault::write_all(file, bytes)
}

/// A disk that fills up, for unit tests: per thread, so tests running at once do not interfere.
#[cfg(all(test, unix))]
mod fault {
    use std::cell::Cell;
    use std::fs::File;
    use std::io::{self, Write as _};

    thread_local! {
        static SPACE_LEFT: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Until the guard drops, writes on this thread fail with ENOSPC once `bytes` more bytes
    /// have been written (the bytes up to that point are written, as a real disk does).
    pub(super) fn disk_full_after(bytes: usize) -> Guard {
        SPACE_LEFT.with(|left| left.set(Some(bytes)));
        Guard
    }

    pub(super) struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            SPACE_LEFT.with(|left| left.set(None));
        }
    }

    pub(super) fn write_all(file: &mut File, bytes: &[u8]) -> io::Result<()> {
        let Some(left) = SPACE_LEFT.with(Cell::get) else {
            return file.write_all(bytes);
        };
        let fits = left.min(bytes.len());
        file.write_all(&bytes[..fits])?;
        SPACE_LEFT.with(|cell| cell.set(Some(left - fits)));
        if fits < bytes.len() {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }
}

/// A name that is safe as a file name on every platform and unique for `name`: its readable
/// characters, then a hash of the whole (`a::b` and `a_b` differ).
fn file_stem(name: &str) -> String {
    let readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{readable}-{:08x}", hash as u32)
}

/// An exclusive lock on a file, released on drop.
struct Lock(#[allow(dead_code)] File);

impl Lock {
    fn acquire(path: &Path) -> Result<Lock, StoreError> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| context(e, Action::Open, path))?;
        os::lock(&file).map_err(|e| context(e, Action::Lock, path))?;
        Ok(Lock(file))
    }
}

/// The current time as RFC 3339 in UTC, and in milliseconds since the Unix epoch.
pub(crate) fn now() -> (String, u64) {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    (rfc3339(ms / 1000), ms)
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
}

#[cfg(unix)]
mod os {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    pub(super) fn lock(file: &File) -> io::Result<()> {
        loop {
            // SAFETY: flock on a descriptor we own; blocks until the lock is ours.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// The process that started this one (cargo or nextest), as `pid-starttime-bootid` on
    /// Linux, where pids are reused; `pid` elsewhere.
    pub(super) fn parent_identity() -> String {
        // SAFETY: getppid has no preconditions.
        let ppid = unsafe { libc::getppid() };
        let stat = std::fs::read_to_string(format!("/proc/{ppid}/stat")).unwrap_or_default();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        match super::start_time(&stat) {
            Some(start) => format!("p{ppid}-{start}-{}", boot.trim().get(..8).unwrap_or("")),
            None => format!("p{ppid}"),
        }
    }
}

#[cfg(not(unix))]
mod os {
    use std::fs::File;
    use std::io;

    /// No lock without flock: concurrent writers may race (documented in the README).
    pub(super) fn lock(_file: &File) -> io::Result<()> {
        Ok(())
    }

    /// Without a portable parent identity each test binary is a run of its own.
    pub(super) fn parent_identity() -> String {
        format!("process-{}", std::process::id())
    }
}

/// Field 22 (start time) of a `/proc/<pid>/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
#[cfg_attr(not(unix), allow(dead_code))]
fn start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_262_461), "2026-11-21T12:01:01Z");
    }

    #[test]
    fn file_stems_are_safe_and_distinct() {
        let a = file_stem("pkg::bin::a::b");
        let b = file_stem("pkg::bin::a_b");
        assert!(a.starts_with("pkg__bin__a__b-"), "{a}");
        assert_ne!(a, b);
        assert!(file_stem(&"x".repeat(500)).len() < 140);
    }

    proptest::proptest! {
        #[test]
        fn start_time_reads_any_command_name(comm in "\\PC{0,20}", start in proptest::prelude::any::<u64>()) {
            let stat = format!("42 ({comm}) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} 1000");
            proptest::prop_assert_eq!(start_time(&stat), Some(start));
        }

        #[test]
        fn start_time_never_panics(stat in "\\PC{0,200}") {
            let _ = start_time(&stat);
        }
    }

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000";
        assert_eq!(start_time(stat), Some(98765));
        assert_eq!(start_time("garbage"), None);
    }

    #[test]
    fn output_dir_prefers_the_override_then_the_binary_location() {
        let root = std::env::temp_dir().join(format!("leakcheck-dir-{}", std::process::id()));
        let deps = root.join("target/x86_64-unknown-linux-gnu/debug/deps");
        fs::create_dir_all(&deps).unwrap();
        fs::write(root.join("target/CACHEDIR.TAG"), "").unwrap();
        let exe = deps.join("heap-0123");
        let none = |_: &str| None;
        assert_eq!(
            resolve_output_dir(none, Some(&exe)),
            root.join("target/leakcheck")
        );
        let set = |name: &str| (name == env::DIR).then(|| PathBuf::from("/elsewhere"));
        assert_eq!(
            resolve_output_dir(set, Some(&exe)),
            PathBuf::from("/elsewhere")
        );
        let target = |name: &str| (name == "CARGO_TARGET_DIR").then(|| PathBuf::from("/t"));
        assert_eq!(
            resolve_output_dir(target, Some(Path::new("/nowhere/x"))),
            PathBuf::from("/t/leakcheck")
        );
        fs::remove_dir_all(&root).unwrap();
    }

    fn temp_store(name: &str) -> (PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("leakcheck-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        (dir.clone(), Store::at(dir))
    }

    /// Attempt `i` of one of four tests, `t0` to `t3`; the message tells the attempts apart.
    fn record(run: &str, i: usize) -> TestRecord {
        TestRecord::new(
            run.to_owned(),
            crate::TestId::of_fn(
                "pkg",
                "faults::m",
                &format!("t{}", i % 4),
                "tests/faults.rs",
                1,
            ),
            &crate::Config::default(),
            super::super::Outcome::Failed,
            Some(format!("attempt {i}")),
            None,
            std::time::Duration::from_millis(5),
        )
    }

    fn info(run: &str) -> RunInfo {
        RunInfo {
            id: run.to_owned(),
            ..RunInfo::default()
        }
    }

    /// Files under `dir` whose name marks them temporary.
    fn temporary_files(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for path in fs::read_dir(&d)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
            {
                if path.is_dir() {
                    stack.push(path);
                } else if path.to_string_lossy().ends_with(".tmp") {
                    found.push(path);
                }
            }
        }
        found
    }

    #[cfg(unix)]
    #[test]
    fn a_full_disk_fails_the_save_naming_the_file_and_tears_nothing() {
        let (dir, store) = temp_store("disk-full");
        for i in 0..4 {
            store.save(&record("run", i), || info("run")).unwrap();
        }
        let mut report = fs::read(store.report_path()).unwrap();
        let (mut failures, mut successes) = (0, 0);
        // From no space at all to enough for the record, the report and junit.xml: every write
        // of a save is cut short somewhere along the way.
        for (i, space) in (4..).zip((0..8_000).step_by(97)) {
            let result = {
                let _full = fault::disk_full_after(space);
                store.save(&record("run", i), || info("run"))
            };
            let now = fs::read(store.report_path()).unwrap();
            let parsed = super::super::parse_report(
                std::str::from_utf8(&now).unwrap(),
                &store.report_path(),
            )
            .unwrap_or_else(|e| panic!("report.json torn with {space} bytes of space: {e}"));
            assert_eq!(parsed.tests.len(), 4);
            assert!(parsed.unreadable.is_empty(), "{:?}", parsed.unreadable);
            let name = format!("pkg::faults::m::t{}", i % 4);
            let attempt = format!("attempt {i}");
            let has_this_attempt =
                parsed.test(&name).and_then(|t| t.message.as_deref()) == Some(attempt.as_str());
            match result {
                Ok(_) => {
                    successes += 1;
                    assert!(has_this_attempt, "{name}: {attempt} not in the report");
                }
                Err(e) => {
                    failures += 1;
                    let message = e.to_string();
                    assert!(message.contains("No space left on device"), "{message}");
                    assert!(message.contains("the disk is full"), "{message}");
                    assert!(message.contains("LEAKCHECK_DIR"), "{message}");
                    assert!(message.contains(&dir.display().to_string()), "{message}");
                    // Either report.json is the one before, or it was written whole and the
                    // save failed after it (at junit.xml).
                    assert!(
                        now == report || (has_this_attempt && message.contains("junit.xml")),
                        "report.json changed by a failed save with {space} bytes: {message}"
                    );
                }
            }
            assert_eq!(
                temporary_files(&dir),
                Vec::<PathBuf>::new(),
                "{space} bytes"
            );
            report = now;
        }
        assert!(
            failures > 10 && successes > 10,
            "{failures} failures, {successes} successes: the space range misses a case"
        );
        // Once there is space again, report.json and junit.xml agree with the records.
        store.save(&record("run", 0), || info("run")).unwrap();
        let report = crate::record::read_report(&store.report_path()).unwrap();
        assert_eq!(report.tests.len(), 4);
        let junit = fs::read_to_string(store.junit_path()).unwrap();
        assert_eq!(junit.matches("<testcase ").count(), 4);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_first_save_on_a_full_disk_leaves_no_files_behind() {
        let (dir, store) = temp_store("disk-full-first");
        let error = {
            let _full = fault::disk_full_after(0);
            store.save(&record("run", 1), || info("run")).unwrap_err()
        };
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("cannot write {}", dir.join("run.json").display())),
            "{message}"
        );
        assert!(message.contains("No space left on device"), "{message}");
        assert_eq!(
            (error.action, &error.path),
            (Action::Write, &dir.join("run.json"))
        );
        assert!(!store.report_path().exists());
        assert_eq!(temporary_files(&dir), Vec::<PathBuf>::new());
        // The next save with space starts the run properly.
        store.save(&record("run", 2), || info("run")).unwrap();
        let report = crate::record::read_report(&store.report_path()).unwrap();
        assert_eq!((report.run.id.as_str(), report.tests.len()), ("run", 1));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn write_errors_say_what_to_do() {
        let path = Path::new("/records/report.json");
        let cases = [
            (libc::ENOSPC, "the disk is full"),
            (libc::EDQUOT, "quota"),
            (
                libc::EROFS,
                "read-only: set LEAKCHECK_DIR to a writable directory",
            ),
            (libc::EACCES, "make the directory writable"),
        ];
        for (errno, needle) in cases {
            let e = context(io::Error::from_raw_os_error(errno), Action::Write, path);
            let message = e.to_string();
            assert!(
                message.starts_with("cannot write /records/report.json: "),
                "{message}"
            );
            assert!(message.contains(needle), "{message}");
            // The cause is kept, not only its text.
            assert_eq!(e.source.raw_os_error(), Some(errno));
            assert!(e.hint().is_some_and(|h| message.ends_with(h)), "{message}");
        }
        // Others are named without a guess.
        let e = context(io::Error::from_raw_os_error(libc::EIO), Action::Write, path);
        assert!(!e.to_string().contains(';'), "{e}");
        assert_eq!(e.hint(), None);
    }
}
