//! One child process per case run: `cargo-leakcheck __simulate-case NAME --seed N --out FILE`
//! (or `__simulate-service` for the monitor's service runs), at most `parallel` at once, each
//! with a deadline.
//!
//! Each child's stdout and stderr go to files (a body may print; nothing has to drain a pipe), and
//! its report to a JSON file read once it has exited. One thread per child blocks until the child
//! exits and reports on a channel; the scheduler waits on that channel until the earliest
//! deadline, and kills a child that is still running then. Waiting is always on the channel, with
//! a timeout, never a sleep.

use super::catalogue::Case;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The hidden command a child runs.
pub const CASE_COMMAND: &str = "__simulate-case";

/// One case run: a case, with the seed of its trial.
pub(crate) struct Job {
    /// The case.
    pub case: Case,
    /// The trial (0-based).
    pub trial: u64,
    /// The seed its parameters are drawn from.
    pub seed: u64,
}

/// How a case run ended, with what the child wrote (`T`: a check's `Report`, a service run's
/// row).
pub(crate) enum End<T> {
    /// The child ran the case and reported.
    Reported(Box<T>),
    /// The child crashed, hung or reported nothing: no verdict.
    Failed(String),
}

/// A finished case run.
pub(crate) struct Finished<T> {
    /// How it ended.
    pub end: End<T>,
    /// Wall time of the child process, start to exit.
    pub millis: u64,
}

/// A running child.
struct Running {
    /// Shared with the thread that waits for it, so that the scheduler can kill it.
    child: Arc<Mutex<Child>>,
    started: Instant,
    deadline: Instant,
    killed: bool,
}

/// A temporary directory for the children's files, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs every job as `exe COMMAND CASE --seed N --out FILE`, at most `parallel` at once, each
/// killed after `timeout`, and reads the JSON `T` each leaves in its `--out` file. `progress` is
/// called as each one finishes (with its index). Results are in the order of `jobs`. An error
/// only when the scratch directory cannot be made.
pub(crate) fn run_all<T: DeserializeOwned>(
    exe: &Path,
    command: &str,
    jobs: &[Job],
    parallel: usize,
    timeout: Duration,
    mut progress: impl FnMut(usize, &Finished<T>),
) -> Result<Vec<Finished<T>>, crate::CliError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let scratch = Scratch(
        std::env::temp_dir().join(format!("leakcheck-simulate-{}-{nanos}", std::process::id())),
    );
    std::fs::create_dir_all(&scratch.0).map_err(|source| crate::CliError::CreateDir {
        path: scratch.0.clone(),
        source,
    })?;

    let (done, exits) = mpsc::channel::<(usize, io::Result<ExitStatus>)>();
    let mut results: Vec<Option<Finished<T>>> = jobs.iter().map(|_| None).collect();
    let mut running: HashMap<usize, Running> = HashMap::new();
    let mut next = 0;
    loop {
        while running.len() < parallel.max(1) && next < jobs.len() {
            match start(exe, command, &scratch.0, next, &jobs[next], &done) {
                Ok(child) => {
                    let started = Instant::now();
                    running.insert(
                        next,
                        Running {
                            child,
                            started,
                            deadline: started + timeout,
                            killed: false,
                        },
                    );
                }
                Err(e) => {
                    let finished = Finished {
                        end: End::Failed(format!("could not start the case process: {e}")),
                        millis: 0,
                    };
                    progress(next, &finished);
                    results[next] = Some(finished);
                }
            }
            next += 1;
        }
        if running.is_empty() {
            break;
        }

        let earliest = running
            .values()
            .filter(|r| !r.killed)
            .map(|r| r.deadline)
            .min();
        let exit = match earliest {
            Some(deadline) => {
                exits.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => exits.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match exit {
            Ok((index, status)) => {
                let run = running.remove(&index).expect("a running child exited");
                let finished = finish(&scratch.0, index, run, status, timeout);
                progress(index, &finished);
                results[index] = Some(finished);
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                for run in running
                    .values_mut()
                    .filter(|r| !r.killed && r.deadline <= now)
                {
                    // Its waiting thread reports the exit that follows.
                    if let Ok(mut child) = run.child.try_lock() {
                        let _ = child.kill();
                    }
                    run.killed = true;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                unreachable!("the scheduler holds a sender")
            }
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every job finished"))
        .collect())
}

fn file(dir: &Path, index: usize, extension: &str) -> PathBuf {
    dir.join(format!("{index}.{extension}"))
}

/// Starts job `index` and the thread that waits for it.
fn start(
    exe: &Path,
    command: &str,
    dir: &Path,
    index: usize,
    job: &Job,
    done: &Sender<(usize, io::Result<ExitStatus>)>,
) -> io::Result<Arc<Mutex<Child>>> {
    let child = Command::new(exe)
        .arg(command)
        .arg(job.case.name)
        .arg("--seed")
        .arg(job.seed.to_string())
        .arg("--out")
        .arg(file(dir, index, "json"))
        .stdin(Stdio::null())
        .stdout(File::create(file(dir, index, "out"))?)
        .stderr(File::create(file(dir, index, "err"))?)
        .env("RUST_BACKTRACE", "0")
        .spawn()?;
    let pid = child.id();
    let child = Arc::new(Mutex::new(child));
    let (theirs, done) = (child.clone(), done.clone());
    std::thread::Builder::new()
        .name("simulate-wait".into())
        .spawn(move || {
            wait_for_exit(pid);
            let status = theirs.lock().unwrap_or_else(|e| e.into_inner()).wait();
            let _ = done.send((index, status));
        })?;
    Ok(child)
}

/// Blocks until the child `pid` has exited, without reaping it: the scheduler may still send it
/// a signal meanwhile, and an unreaped child's pid cannot be reused by another process.
#[cfg(unix)]
fn wait_for_exit(pid: u32) {
    loop {
        // SAFETY: `info` is a plain C struct that waitid fills in; zeroed is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waits on our own child; WNOWAIT leaves it to `Child::wait` to reap.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Elsewhere `Child::wait` blocks with the lock held, so a hung child is not killed.
#[cfg(not(unix))]
fn wait_for_exit(_pid: u32) {}

/// Reads what a child left: its report, or why there is none.
fn finish<T: DeserializeOwned>(
    dir: &Path,
    index: usize,
    run: Running,
    status: io::Result<ExitStatus>,
    timeout: Duration,
) -> Finished<T> {
    let millis = run.started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
    let failed = |what: String| {
        let stderr = std::fs::read_to_string(file(dir, index, "err")).unwrap_or_default();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        Finished {
            end: End::Failed(match last {
                Some(line) => format!("{what}; last output: {}", line.trim()),
                None => what,
            }),
            millis,
        }
    };
    if run.killed {
        return failed(format!(
            "ran past the time limit of {} s and was killed",
            timeout.as_secs()
        ));
    }
    let status = match status {
        Ok(status) => status,
        Err(e) => return failed(format!("could not wait for the case process: {e}")),
    };
    if !status.success() {
        return failed(format!("the case process {}", describe(status)));
    }
    let path = file(dir, index, "json");
    match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<T>(&bytes).map_err(|e| e.to_string()))
    {
        Ok(report) => Finished {
            end: End::Reported(Box::new(report)),
            millis,
        },
        Err(e) => failed(format!("the case process left no readable report: {e}")),
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => format!("ended with {status}"),
    }
}
