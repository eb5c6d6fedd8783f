//! What a process holds, read cheaply: the [`Resource`] vocabulary every leakcheck product
//! speaks, live threads and open file descriptors from `/proc` (counted without allocating,
//! listed with names, states, link targets and socket addresses), stack frames resolved to
//! the user's code with a stable fingerprint, and pprof heap profiles written, read and
//! compared by call site ([`pprof`]).
//!
//! It is the layer under both products: the test harness (`leakcheck`) snapshots a process after
//! every iteration with it, the production monitor (`leakcheck-monitor`) samples a live service
//! with it. Neither product's code is in here, and it depends on nothing heavier than `libc`,
//! `serde` and the `backtrace` crate's symbolizer (and `miniz_oxide`, which that symbolizer
//! already builds, for gzip).
//!
//! Counting threads and fds must not disturb what is measured, so [`thread_count`],
//! [`fd_count`] and [`other_threads_running`] use stack buffers and raw system calls: no heap
//! allocation, and the one fd they open to list `/proc/self/fd` is left out of the count. The
//! detailed listings ([`threads`], [`fds`]) allocate.
//!
//! ```
//! use leakcheck_probe::{fd_count, fds, Resource};
//!
//! let before = fd_count();
//! let file = std::fs::File::open("Cargo.toml").unwrap();
//! if let (Some(before), Some(after)) = (before, fd_count()) {
//!     assert_eq!(after, before + 1);
//!     assert!(fds().iter().any(|fd| fd.target.ends_with("Cargo.toml")));
//! }
//! drop(file);
//! assert_eq!("fds".parse::<Resource>(), Ok(Resource::Fds));
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

use serde::{Deserialize, Serialize};

pub mod pprof;
mod resource;
mod sockets;
pub mod symbols;

pub use resource::{Resource, UnknownResource};
pub use sockets::describe_sockets;
pub use symbols::Frame;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as os;

#[cfg(not(target_os = "linux"))]
mod fallback;
#[cfg(not(target_os = "linux"))]
use fallback as os;

/// Whether threads and fds can be observed on this platform (Linux: through `/proc`).
pub const PROCESS_RESOURCES_OBSERVABLE: bool = cfg!(target_os = "linux");

/// Number of live threads in this process, or `None` where that cannot be observed.
pub fn thread_count() -> Option<u32> {
    os::thread_count()
}

/// Number of open file descriptors in this process, or `None` where that cannot be observed.
pub fn fd_count() -> Option<u32> {
    os::fd_count()
}

/// Number of threads of this process, other than the caller, that are running or runnable right
/// now (state `R`), or `None` where that cannot be observed. Allocation-free.
pub fn other_threads_running() -> Option<u32> {
    os::other_threads_running()
}

/// The live threads of this process, with names and states. Empty where not observable.
pub fn threads() -> Vec<ThreadInfo> {
    os::threads()
}

/// The open file descriptors of this process, with what they point to. Empty where not observable.
pub fn fds() -> Vec<FdInfo> {
    os::fds()
}

/// One live thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ThreadInfo {
    /// Kernel thread id.
    pub tid: u32,
    /// Thread name as the kernel knows it. Linux keeps 15 bytes of a name (Rust cuts longer
    /// ones when it names the thread): a name of 15 bytes may have been longer and ends with
    /// [`ThreadInfo::CUT`], e.g. `background-refr…` for `background-refresher`.
    pub name: String,
    /// Scheduler state, e.g. `sleeping`, `running`, `disk sleep` (blocked in the kernel).
    pub state: String,
    /// The kernel function the thread sleeps in (`/proc/.../wchan`), when readable.
    pub waiting_in: Option<String>,
    /// The system call the thread is blocked in (`/proc/.../syscall`), e.g. `futex`, when readable.
    pub syscall: Option<String>,
    /// Where the thread was spawned, when attribution found it.
    pub spawned_at: Option<crate::symbols::Frame>,
}

impl ThreadInfo {
    /// Ends a name the kernel may have cut short (see [`ThreadInfo::name`]).
    pub const CUT: char = '…';

    /// A thread known by its id and name only (state `unknown`, nothing else read), for tools
    /// and tests that describe threads they did not list.
    pub fn new(tid: u32, name: impl Into<String>) -> Self {
        ThreadInfo {
            tid,
            name: name.into(),
            state: describe_state('?').to_owned(),
            waiting_in: None,
            syscall: None,
            spawned_at: None,
        }
    }
}

/// One open file descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FdInfo {
    /// The descriptor number.
    pub fd: i32,
    /// What it is.
    pub kind: FdKind,
    /// The link target: a path, `socket:[inode]`, `pipe:[inode]`, `anon_inode:[eventfd]`, ...
    pub target: String,
    /// For a socket: protocol, addresses and state, e.g. `tcp 127.0.0.1:8080 (listening)`.
    pub detail: Option<String>,
}

/// The kind of object a file descriptor refers to, read from its link target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FdKind {
    /// A path in the file system (regular file, directory, device).
    File,
    /// A socket (`socket:[inode]`).
    Socket,
    /// A pipe or FIFO end (`pipe:[inode]`).
    Pipe,
    /// An anonymous inode: eventfd, epoll, timerfd, signalfd, ...
    AnonInode,
    /// Anything else.
    Other,
}

impl FdKind {
    /// Classifies a `/proc/self/fd/N` link target.
    pub fn of_target(target: &str) -> Self {
        if target.starts_with("socket:") {
            FdKind::Socket
        } else if target.starts_with("pipe:") {
            FdKind::Pipe
        } else if target.starts_with("anon_inode:") {
            FdKind::AnonInode
        } else if target.starts_with('/') {
            FdKind::File
        } else {
            FdKind::Other
        }
    }
}

/// Describes a `/proc` scheduler state letter.
pub fn describe_state(letter: char) -> &'static str {
    match letter {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'Z' => "zombie",
        'T' => "stopped",
        't' => "tracing stop",
        'X' | 'x' => "dead",
        'I' => "idle",
        'P' => "parked",
        'W' => "waking",
        'K' => "wakekill",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_link_targets() {
        assert_eq!(FdKind::of_target("/tmp/x"), FdKind::File);
        assert_eq!(FdKind::of_target("socket:[123]"), FdKind::Socket);
        assert_eq!(FdKind::of_target("pipe:[9]"), FdKind::Pipe);
        assert_eq!(FdKind::of_target("anon_inode:[eventfd]"), FdKind::AnonInode);
        assert_eq!(FdKind::of_target("net:[4026531840]"), FdKind::Other);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn counts_match_listings_and_see_a_new_fd_and_thread() {
        // Other unit tests run in parallel threads of this process, so compare a count with a
        // listing taken around it only loosely, and check the exact effect of our own fd.
        let before = fds();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let after = fds();
        let new: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
        assert!(
            new.iter()
                .any(|f| f.target == "/proc/self/stat" || f.target.ends_with("/stat")),
            "{new:?}"
        );
        drop(file);
        assert!(fd_count().unwrap() >= 3);

        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("snapshot-probe".into())
            .spawn(move || {
                ready_tx.send(()).unwrap();
                rx.recv().ok();
            })
            .unwrap();
        ready_rx.recv().unwrap();
        // The probe reaches its blocking `recv` a moment after signalling: wait for that, bounded.
        let state = (0..2000)
            .find_map(|_| {
                let listed = threads();
                let probe = listed.iter().find(|t| t.name == "snapshot-probe")?;
                if probe.state == "sleeping" {
                    return Some(probe.state.clone());
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
                None
            })
            .expect("the probe thread is listed and goes to sleep");
        assert_eq!(state, "sleeping");
        assert!(thread_count().unwrap() >= 2);
        tx.send(()).unwrap();
        handle.join().unwrap();
    }
}

#[cfg(test)]
leakcheck_alloc::global_allocator!();
