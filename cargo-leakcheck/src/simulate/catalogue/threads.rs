//! Thread leaks: a thread per call that waits for something that never comes — a message, a
//! condition, a lock, an unpark — or loops without end. Each twin spawns the same thread and
//! then gives it what it waits for and joins it.
//!
//! The leaked threads wait on state the body owns, and the body wakes them when it is dropped,
//! so a process can go on to check other cases.

use super::{spawn, Body, Case, Kind, Params, Ranges};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, Thread};
use std::time::Duration;

/// One or two threads per call.
const THREADS: Ranges = Ranges {
    count: 1..=2,
    ..Ranges::FIXED
};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::leak(
            "thread_blocked_on_channel",
            Kind::Threads,
            "thread_joined_after_message",
            "spawns `count` threads per call that wait on a channel whose sender is kept but never used",
            THREADS,
            blocked_on_channel,
        ),
        Case::clean(
            "thread_joined_after_message",
            Kind::Threads,
            "spawns `count` threads per call that wait on a channel, sends them their message and joins them",
            THREADS,
            joined_after_message,
        ),
        Case::leak(
            "thread_waiting_on_condvar",
            Kind::Threads,
            "thread_woken_by_condvar",
            "spawns `count` threads per call that wait on a condition variable nobody signals",
            THREADS,
            waiting_on_condvar,
        ),
        Case::clean(
            "thread_woken_by_condvar",
            Kind::Threads,
            "spawns `count` threads per call that wait on a condition variable, signals it and joins them",
            THREADS,
            woken_by_condvar,
        ),
        Case::leak(
            "thread_blocked_on_lock",
            Kind::Threads,
            "thread_gets_released_lock",
            "spawns `count` threads per call that block on a mutex another thread holds forever",
            THREADS,
            blocked_on_lock,
        ),
        Case::clean(
            "thread_gets_released_lock",
            Kind::Threads,
            "spawns `count` threads per call that block on a mutex the body holds, releases it and joins them",
            THREADS,
            gets_released_lock,
        ),
        Case::leak(
            "thread_looping_forever",
            Kind::Threads,
            "thread_loop_stopped",
            "spawns `count` threads per call that poll in a loop with no way out (work, then a 1 ms nap)",
            THREADS,
            looping_forever,
        ),
        Case::clean(
            "thread_loop_stopped",
            Kind::Threads,
            "spawns `count` polling threads per call, sets their stop flag and joins them",
            THREADS,
            loop_stopped,
        ),
        Case::leak(
            "thread_parked_forever",
            Kind::Threads,
            "thread_unparked_and_joined",
            "spawns `count` threads per call that park until unparked, and never unparks them",
            THREADS,
            parked_forever,
        ),
        Case::clean(
            "thread_unparked_and_joined",
            Kind::Threads,
            "spawns `count` parking threads per call, unparks them and joins them",
            THREADS,
            unparked_and_joined,
        ),
    ]
}

fn blocked_on_channel(p: &Params) -> Body {
    let count = p.count;
    // Kept, never used: each receiver waits forever. Dropped with the body, which wakes them.
    let mut senders: Vec<Sender<u64>> = Vec::new();
    Box::new(move || {
        for _ in 0..count {
            let (tx, rx) = channel::<u64>();
            spawn("sim-recv", move || rx.recv().unwrap_or(0));
            senders.push(tx);
        }
    })
}

fn joined_after_message(p: &Params) -> Body {
    let count = p.count;
    Box::new(move || {
        for i in 0..count as u64 {
            let (tx, rx) = channel::<u64>();
            let waiter = spawn("sim-recv", move || rx.recv().unwrap_or(0));
            tx.send(i).expect("the waiter is alive");
            black_box(waiter.join().expect("the waiter ends"));
        }
    })
}

/// A flag and the condition variable signalled when it is set.
type Gate = Arc<(Mutex<bool>, Condvar)>;

fn wait_for(gate: &Gate) {
    let (open, signal) = &**gate;
    let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
    while !*open {
        open = signal.wait(open).unwrap_or_else(|e| e.into_inner());
    }
}

fn open(gate: &Gate) {
    let (open, signal) = &**gate;
    *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
    signal.notify_all();
}

/// Gates that nobody opens while the body lives; opened when it is dropped.
struct OpenOnDrop(Vec<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(open);
    }
}

fn waiting_on_condvar(p: &Params) -> Body {
    let count = p.count;
    let mut gates = OpenOnDrop(Vec::new());
    Box::new(move || {
        for _ in 0..count {
            let gate: Gate = Arc::default();
            let theirs = gate.clone();
            spawn("sim-condvar", move || wait_for(&theirs));
            gates.0.push(gate);
        }
    })
}

fn woken_by_condvar(p: &Params) -> Body {
    let count = p.count;
    Box::new(move || {
        for _ in 0..count {
            let gate: Gate = Arc::default();
            let theirs = gate.clone();
            let waiter = spawn("sim-condvar", move || wait_for(&theirs));
            open(&gate);
            waiter.join().expect("the waiter ends");
        }
    })
}

/// A mutex held by a thread of its own until the body is dropped.
struct HeldLock {
    lock: Arc<Mutex<()>>,
    /// Dropping it lets the holder go, and then every thread blocked on the lock.
    _release: Sender<()>,
}

impl HeldLock {
    fn new() -> HeldLock {
        let lock = Arc::new(Mutex::new(()));
        let (release, released) = channel::<()>();
        let (held, is_held) = channel::<()>();
        let theirs = lock.clone();
        spawn("sim-lock-holder", move || {
            let _guard = theirs.lock().unwrap_or_else(|e| e.into_inner());
            let _ = held.send(());
            let _ = released.recv();
        });
        // Hand back the lock only once it is held, so that no waiter gets it first.
        is_held.recv().expect("the holder took the lock");
        HeldLock {
            lock,
            _release: release,
        }
    }
}

fn blocked_on_lock(p: &Params) -> Body {
    let count = p.count;
    // Taken on the first call, like a long-lived lock owner in real code.
    let mut held: Option<HeldLock> = None;
    Box::new(move || {
        let lock = &held.get_or_insert_with(HeldLock::new).lock;
        for _ in 0..count {
            let theirs = lock.clone();
            spawn("sim-lock", move || drop(theirs.lock()));
        }
    })
}

fn gets_released_lock(p: &Params) -> Body {
    let count = p.count;
    let lock = Arc::new(Mutex::new(()));
    Box::new(move || {
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let waiters: Vec<_> = (0..count)
            .map(|_| {
                let theirs = lock.clone();
                spawn("sim-lock", move || drop(theirs.lock()))
            })
            .collect();
        drop(guard);
        for waiter in waiters {
            waiter.join().expect("the waiter ends");
        }
    })
}

/// Polls until `stop` is set: a bit of arithmetic, then a 1 ms nap, so that leaked pollers do
/// not take the CPU away from the rest of the process. Allocation-free.
fn poll_until(stop: &AtomicBool) -> u64 {
    let mut x = 0u64;
    while !stop.load(Ordering::Acquire) {
        for i in 0..1000u64 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        thread::sleep(Duration::from_millis(1));
    }
    x
}

/// A stop flag set when the body is dropped, and the threads to unpark then.
#[derive(Default)]
struct StopOnDrop {
    stop: Arc<AtomicBool>,
    parked: Vec<Thread>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.parked.iter().for_each(Thread::unpark);
    }
}

fn looping_forever(p: &Params) -> Body {
    let count = p.count;
    let state = StopOnDrop::default();
    Box::new(move || {
        for _ in 0..count {
            let stop = state.stop.clone();
            spawn("sim-poller", move || poll_until(&stop));
        }
    })
}

fn loop_stopped(p: &Params) -> Body {
    let count = p.count;
    Box::new(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let pollers: Vec<_> = (0..count)
            .map(|_| {
                let theirs = stop.clone();
                spawn("sim-poller", move || poll_until(&theirs))
            })
            .collect();
        stop.store(true, Ordering::Release);
        for poller in pollers {
            black_box(poller.join().expect("the poller ends"));
        }
    })
}

fn park_until(stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        thread::park();
    }
}

fn parked_forever(p: &Params) -> Body {
    let count = p.count;
    let mut state = StopOnDrop::default();
    Box::new(move || {
        for _ in 0..count {
            let stop = state.stop.clone();
            let parked = spawn("sim-parked", move || park_until(&stop));
            state.parked.push(parked.thread().clone());
        }
    })
}

fn unparked_and_joined(p: &Params) -> Body {
    let count = p.count;
    Box::new(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let parked: Vec<_> = (0..count)
            .map(|_| {
                let theirs = stop.clone();
                spawn("sim-parked", move || park_until(&theirs))
            })
            .collect();
        stop.store(true, Ordering::Release);
        for thread in parked {
            thread.thread().unpark();
            thread.join().expect("the parked thread ends");
        }
    })
}
