//! Guards for a test that runs in place (under nextest's process-per-test, or with
//! `isolate = false`), where no parent process watches it: a time limit, and a check that the
//! body does not end the process (`process::exit(0)` would otherwise pass the test unchecked).
//!
//! The watchdog thread is started before the warmup, so that it is part of the baseline and its
//! own allocations are made before the heap is measured; while it waits it only blocks on a
//! condition variable, which neither allocates nor opens anything.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The exit code of a process ended by a guard: libtest's for a failing test.
pub(crate) const EXIT_CODE: i32 = 101;

/// What went wrong while the test ran in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The test ran past its time limit.
    TimedOut(Duration),
    /// The process is exiting while the test runs (`process::exit` in the body).
    Exited,
}

/// What the guard does about a fault before the process ends: say so and keep the record. It
/// must write to the real stderr (`io::stderr()`), not through `eprintln!`, which libtest may be
/// capturing into a buffer that is lost when the process ends.
pub(crate) type OnFault = dyn Fn(Fault) + Send + Sync;

/// Watches one test that runs in place; stops watching when stopped or dropped.
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    phase: Mutex<Phase>,
    changed: Condvar,
    /// Set by whichever guard acts first, so that a fault is handled once.
    fired: AtomicBool,
    on_fault: Box<OnFault>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Starting,
    Watching,
    Stopped,
}

impl Watchdog {
    /// Starts watching: after `limit`, `on_fault(Fault::TimedOut)` runs on the watchdog thread
    /// and the process exits with [`EXIT_CODE`]; if the process exits before [`Watchdog::stop`],
    /// `on_fault(Fault::Exited)` runs and the exit code becomes [`EXIT_CODE`]. Returns once the
    /// watchdog thread is waiting.
    pub(crate) fn start(
        limit: Duration,
        on_fault: impl Fn(Fault) + Send + Sync + 'static,
    ) -> std::io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            phase: Mutex::new(Phase::Starting),
            changed: Condvar::new(),
            fired: AtomicBool::new(false),
            on_fault: Box::new(on_fault),
        });
        let watched = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("leakcheck-watchdog".into())
            .spawn(move || watch(&watched, limit))?;
        // Wait until the thread has started (its start-up allocates), so that it is settled
        // before the caller's warmup rather than during it.
        let mut phase = lock(&shared.phase);
        while *phase == Phase::Starting {
            phase = shared
                .changed
                .wait(phase)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        drop(phase);
        exit_guard::arm(&shared);
        Ok(Watchdog {
            shared,
            thread: Some(thread),
        })
    }

    /// Stops watching and joins the watchdog thread.
    pub(crate) fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        exit_guard::disarm(&self.shared);
        *lock(&self.shared.phase) = Phase::Stopped;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.halt();
    }
}

fn watch(shared: &Shared, limit: Duration) {
    let mut phase = lock(&shared.phase);
    *phase = Phase::Watching;
    shared.changed.notify_all();
    let deadline = Instant::now() + limit;
    loop {
        if *phase == Phase::Stopped {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        phase = shared
            .changed
            .wait_timeout(phase, left)
            .map_or_else(|poisoned| poisoned.into_inner().0, |(phase, _)| phase);
    }
    drop(phase);
    if shared.fired.swap(true, Ordering::SeqCst) {
        return;
    }
    (shared.on_fault)(Fault::TimedOut(limit));
    end_process();
}

/// Ends the process at once with [`EXIT_CODE`], after flushing stdout: no exit handlers run, so
/// the exit guard does not report tests that are cut short as having exited by themselves.
fn end_process() -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` takes no pointers and does not return.
    unsafe { libc::_exit(EXIT_CODE) }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An `atexit` handler that reports the tests still running in place when the process exits.
mod exit_guard {
    use super::{end_process, lock, Fault, Shared};
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};

    /// The tests running in place now (several with `isolate = false` and parallel tests).
    pub(super) static ARMED: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

    pub(super) fn arm(shared: &Arc<Shared>) {
        static REGISTER: super::Once = super::Once::new();
        REGISTER.call_once(|| {
            // SAFETY: registers a function with the C ABI that never unwinds (see `on_exit`).
            // If registration fails, `process::exit` in a body goes unnoticed, as before.
            unsafe { libc::atexit(on_exit) };
        });
        lock(&ARMED).push(Arc::clone(shared));
    }

    pub(super) fn disarm(shared: &Arc<Shared>) {
        lock(&ARMED).retain(|armed| !Arc::ptr_eq(armed, shared));
    }

    extern "C" fn on_exit() {
        let armed = std::mem::take(&mut *lock(&ARMED));
        let mut reported = false;
        for shared in armed {
            if !shared.fired.swap(true, Ordering::SeqCst) {
                // A panic must not unwind out of an `extern "C"` function.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    (shared.on_fault)(Fault::Exited)
                }));
                reported = true;
            }
        }
        if reported {
            end_process();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn armed(shared: &Arc<Shared>) -> bool {
        lock(&exit_guard::ARMED)
            .iter()
            .any(|a| Arc::ptr_eq(a, shared))
    }

    #[test]
    fn a_stopped_watchdog_never_fires() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let dog = Watchdog::start(Duration::from_secs(3600), move |fault| {
            let _ = lock(&tx).send(fault);
        })
        .unwrap();
        assert_eq!(*lock(&dog.shared.phase), Phase::Watching);
        let shared = Arc::clone(&dog.shared);
        assert!(armed(&shared));
        dog.stop();
        assert!(!armed(&shared));
        assert_eq!(*lock(&shared.phase), Phase::Stopped);
        assert!(!shared.fired.load(Ordering::SeqCst));
        assert!(rx.try_recv().is_err());
    }
}
