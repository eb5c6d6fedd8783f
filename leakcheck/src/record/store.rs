//! Where records are kept, and how many writers share them without losing or tearing any.
//!
//! Layout of the output directory (`<target-dir>/leakcheck/` unless `LEAKCHECK_DIR` says
//! otherwise):
//!
//! ```text
//! run.json                 the current run (RunInfo), the ids of runs it superseded, and
//!                          where the growing parts of report.json and junit.xml are
//! runs/<run id>/<test>.json one TestRecord per leak test of the current run
//! report.json              the current run with all its records (RunReport)
//! junit.xml                the same as JUnit
//! .lock                    serialises writers (flock); readers take it shared
//! ```
//!
//! Every save takes the lock and writes its record to a temporary file renamed over the
//! target, so two writers never interleave and a record is never torn. `report.json` and
//! `junit.xml` then grow by appending the one record in place (see `append`): a save costs the
//! same at the 10,000th test as at the first, and both files are complete after every save, so
//! they are when `cargo test` or `cargo nextest run` returns. A save cut short in an append (a
//! full disk, a killed process) leaves files whose length `run.json` does not expect, and the
//! next save rebuilds both from the records; so does a test saved twice in one run (a retry),
//! and the first save of a run.
//!
//! A test that runs in place (nextest, `isolate = false`) first saves a *provisional* record
//! ([`Store::save_pending`]), kept if its process dies, then the final one. `run.json` lists the
//! provisional records with the pid (and start time) of the process that will replace each; the
//! files hold the final records, then the provisional ones, and every save rewrites only that
//! end (see `append`). So the final save replaces its provisional record at the cost of the
//! records still provisional (about as many as tests running at once), not of the run. A save
//! that finds a listed process gone makes its provisional record final as it stands: the crash
//! keeps its record, and no later save pays for it again.
//!
//! A process killed between writing its record and appending it
//! loses only its own record from the reports (it stays in `runs/`, and `cargo leakcheck merge`
//! of the folder has it). [`read_report`](super::read_report) holds the lock shared, so a reader
//! never sees an append half done.
//!
//! A **run** is one invocation of a test runner: `cargo leakcheck test` sets `LEAKCHECK_RUN_ID`
//! for the tests it starts; otherwise the id is the identity of the process that started the
//! test binary (cargo or nextest: its pid and start time, and the boot id), so every test binary
//! of one `cargo test` belongs to one run. The first record of a new run starts it afresh: the
//! previous run's records are removed, and a writer of a superseded run still finishing keeps
//! its record in its own folder without touching the new run's report.

use super::append::{self, Layout, Which};
use super::{read_record, RunInfo, RunReport, TestRecord, SCHEMA_VERSION};
use crate::config::env;
use crate::report::TestId;
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
    /// Where the parts of the current run's `report.json` and `junit.xml` are; `None` until
    /// they are written.
    #[serde(default)]
    layout: Option<Layout>,
    /// The provisional records of the current run, shown after its final ones in the order they
    /// were saved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<Pending>,
}

/// A provisional record: its file in the run's folder, and the process that will replace it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    file: String,
    owner: Owner,
}

/// A process, told apart from a later one with the same pid by its start time (Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Owner {
    pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<u64>,
}

impl Owner {
    fn this_process() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start: os::process_start(pid),
        }
    }

    /// True while the process runs (a zombie has ended). Where that cannot be told, true: the
    /// record then stays provisional until the run ends, which costs time, not records.
    fn is_alive(&self) -> bool {
        os::is_alive(self.pid)
            && (self.start.is_none() || os::process_start(self.pid) == self.start)
    }
}

/// Counts of the work saves do, per thread, for the unit tests that check a save's cost does
/// not grow with the run (no-ops outside them).
pub(crate) mod work {
    #[cfg(test)]
    thread_local! {
        static COUNTS: std::cell::Cell<Counts> = const { std::cell::Cell::new(Counts { read: 0, rendered: 0, rebuilt: 0 }) };
    }

    /// What the saves on this thread did so far.
    #[cfg(test)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) struct Counts {
        /// Record files read.
        pub(crate) read: u64,
        /// Records (and other parts) serialized into report.json.
        pub(crate) rendered: u64,
        /// Rebuilds of report.json and junit.xml from all records.
        pub(crate) rebuilt: u64,
    }

    #[cfg(test)]
    pub(crate) fn counts() -> Counts {
        COUNTS.with(std::cell::Cell::get)
    }

    #[cfg(test)]
    fn bump(f: impl FnOnce(&mut Counts)) {
        COUNTS.with(|c| {
            let mut counts = c.get();
            f(&mut counts);
            c.set(counts);
        });
    }

    pub(crate) fn read() {
        #[cfg(test)]
        bump(|c| c.read += 1);
    }

    pub(crate) fn rendered() {
        #[cfg(test)]
        bump(|c| c.rendered += 1);
    }

    pub(crate) fn rebuilt() {
        #[cfg(test)]
        bump(|c| c.rebuilt += 1);
    }
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

    /// Writes the allocation profile of `test` (gzipped `profile.proto`) as
    /// `profiles/<test>.pb.gz`, replacing the one of an earlier run, and returns that path
    /// relative to the directory.
    pub(crate) fn save_profile(&self, test: &TestId, pprof: &[u8]) -> Result<String, StoreError> {
        let dir = self.dir.join("profiles");
        fs::create_dir_all(&dir).map_err(|e| context(e, Action::Create, &dir))?;
        let name = format!("profiles/{}.pb.gz", file_stem(&test.full_name()));
        write_atomically(&self.dir.join(&name), pprof)?;
        Ok(name)
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

    /// Adds `record` to its run and, if that run is current, adds it to `report.json` and
    /// `junit.xml` (replacing this test's provisional record, if [`save_pending`] left one).
    /// `info` describes the run if this record starts it (it is called at most once, under the
    /// lock).
    ///
    /// [`save_pending`]: Store::save_pending
    pub fn save(
        &self,
        record: &TestRecord,
        info: impl FnOnce() -> RunInfo,
    ) -> Result<Saved, StoreError> {
        self.save_as(record, info, None)
    }

    /// Saves a provisional record: what the run keeps of this test if the process ends before
    /// it saves the final one with [`save`](Store::save). It is shown after the final records
    /// and replaced by the final one without rebuilding the reports; once this process is gone
    /// it stays as it is (a later save makes it final).
    pub fn save_pending(
        &self,
        record: &TestRecord,
        info: impl FnOnce() -> RunInfo,
    ) -> Result<Saved, StoreError> {
        self.save_as(record, info, Some(Owner::this_process()))
    }

    fn save_as(
        &self,
        record: &TestRecord,
        info: impl FnOnce() -> RunInfo,
        pending: Option<Owner>,
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
            state.layout = None;
            state.pending.clear();
            self.remove_other_runs(&run_dir)?;
            write_atomically(&state_path, to_json(&state))?;
            Saved::Current
        };
        fs::create_dir_all(&run_dir).map_err(|e| context(e, Action::Create, &run_dir))?;
        let file = format!("{}.json", file_stem(&record.test.full_name()));
        let record_path = run_dir.join(&file);
        // A provisional record is replaced in place. Any other second record of the same test
        // (a retry) replaces the first: the reports are rebuilt rather than holding both.
        let was_pending = state.pending.iter().position(|p| p.file == file);
        let again = was_pending.is_none() && record_path.exists();
        write_atomically(&record_path, to_json(record))?;
        if saved == Saved::Current {
            if let Some(i) = was_pending {
                state.pending.remove(i);
            }
            // Provisional records whose process is gone will not be replaced: they become
            // final as they are (they say the test ended before it reported).
            let (live, dead): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut state.pending)
                .into_iter()
                .partition(|p| p.owner.is_alive());
            state.pending = live;
            let mut commit: Vec<String> = dead.into_iter().map(|p| p.file).collect();
            match pending {
                Some(owner) => state.pending.push(Pending {
                    file: file.clone(),
                    owner,
                }),
                None => commit.push(file.clone()),
            }
            let (report, junit) = (self.report_path(), self.junit_path());
            let updated = match state.layout.as_mut() {
                Some(layout) if !again && layout.matches(&report, &junit) => {
                    // The records to write are this one and the provisional ones; a provisional
                    // record that cannot be read makes this a rebuild, which reports it.
                    let read = |name: &String| {
                        if *name == file {
                            Some(record.clone())
                        } else {
                            work::read();
                            read_record(&run_dir.join(name)).ok()
                        }
                    };
                    let commit: Option<Vec<TestRecord>> = commit.iter().map(read).collect();
                    let shown: Option<Vec<TestRecord>> =
                        state.pending.iter().map(|p| read(&p.file)).collect();
                    match (commit, shown) {
                        (Some(commit), Some(shown)) => {
                            let commit: Vec<&TestRecord> = commit.iter().collect();
                            let shown: Vec<&TestRecord> = shown.iter().collect();
                            match layout.update(&commit, &shown, &state.current, &report, &junit) {
                                Ok(()) => true,
                                Err((which, e)) => {
                                    let path = match which {
                                        Which::Report => report,
                                        Which::Junit => junit,
                                    };
                                    // The layout no longer matches the files: the next save
                                    // rebuilds.
                                    return Err(context(e, Action::Write, &path));
                                }
                            }
                        }
                        _ => false,
                    }
                }
                _ => false,
            };
            if !updated {
                work::rebuilt();
                let (all, shown) = self.collect_with_pending(&run_dir, &mut state);
                let (json, xml, layout) = append::render_with_pending(&all, &shown);
                write_atomically(&report, &json)?;
                write_atomically(&junit, &xml)?;
                state.layout = Some(layout);
            }
            write_atomically(&state_path, to_json(&state))?;
        }
        Ok(saved)
    }

    /// The current run's report: `report.json`, with any record of the run that it lacks (one
    /// whose test was killed between saving the record and appending it). For `merge`.
    pub fn current_report(&self) -> Result<RunReport, super::ReadError> {
        let mut report = super::read_report(&self.report_path())?;
        let run_dir = self.run_dir(&report.run.id);
        let listed: std::collections::HashSet<String> = report
            .tests
            .iter()
            .map(|t| format!("{}.json", file_stem(&t.test.full_name())))
            .collect();
        let entries = fs::read_dir(&run_dir).into_iter().flatten().flatten();
        for path in entries.map(|e| e.path()) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if !name.ends_with(".json") || listed.contains(name.as_ref()) {
                continue;
            }
            match read_record(&path) {
                Ok(record) => report.tests.push(record),
                Err(e) => report.unreadable.push(e.to_string()),
            }
        }
        report
            .tests
            .sort_by_cached_key(|t| (t.test.binary_id(), t.test.name.clone()));
        Ok(report)
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
            work::read();
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

    /// [`collect`](Store::collect) with the provisional records of `state` apart, in the order
    /// they were saved; a provisional record whose file is gone is dropped from `state`.
    fn collect_with_pending(
        &self,
        run_dir: &Path,
        state: &mut RunState,
    ) -> (RunReport, Vec<TestRecord>) {
        let mut all = self.collect(run_dir, state.current.clone());
        let mut tests = std::mem::take(&mut all.tests);
        let file_of = |t: &TestRecord| format!("{}.json", file_stem(&t.test.full_name()));
        let mut shown = Vec::with_capacity(state.pending.len());
        state
            .pending
            .retain(|p| match tests.iter().position(|t| file_of(t) == p.file) {
                Some(i) => {
                    shown.push(tests.remove(i));
                    true
                }
                None => false,
            });
        all.tests = tests;
        (all, shown)
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
pub(crate) fn write_atomically(path: &Path, text: impl AsRef<[u8]>) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = File::create(&tmp)
        .and_then(|mut f| write_all(&mut f, text.as_ref()))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(context(e, Action::Write, path));
    }
    Ok(())
}

#[cfg(not(all(test, unix)))]
pub(super) fn write_all(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    file.write_all(bytes)
}

/// In unit tests, writes go through a hook that can pretend the disk fills up.
#[cfg(all(test, unix))]
pub(super) fn write_all(file: &mut File, bytes: &[u8]) -> io::Result<()> {
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
        os::lock(&file, true).map_err(|e| context(e, Action::Lock, path))?;
        Ok(Lock(file))
    }
}

/// Reads a file of a record store under the store's lock, shared, so that a save in progress
/// is never seen half done; a file outside a store (no `.lock` beside it) is read as it is.
pub(crate) fn read_shared(path: &Path) -> io::Result<Vec<u8>> {
    let lock = path.parent().map(|dir| dir.join(".lock"));
    // Only an existing lock file: a reader must not create one where it reads.
    let _held = match lock.and_then(|lock| File::open(lock).ok()) {
        Some(file) => os::lock(&file, false).map(|()| file).ok(),
        None => None,
    };
    fs::read(path)
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

mod os;

#[cfg(test)]
mod tests;
