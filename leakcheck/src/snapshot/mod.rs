//! What the harness reads after each iteration: the allocator's counters (`leakcheck-alloc`),
//! live threads and open file descriptors (`leakcheck-probe`, which counts them without
//! allocating). The detailed listings (names, states, link targets) allocate and are only taken
//! once before and once after the measured iterations.

use leakcheck_probe::Resource;
use serde::{Deserialize, Serialize};

pub(crate) use leakcheck_probe::{
    describe_sockets, fd_count, fds, other_threads_running, thread_count, threads,
    PROCESS_RESOURCES_OBSERVABLE,
};

/// One snapshot, taken after an iteration (or, at index 0 of a series, the baseline after warmup).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sample {
    /// Live heap bytes after the iteration settled.
    pub live_bytes: u64,
    /// Live heap blocks after the iteration settled.
    pub live_blocks: u64,
    /// Allocations made while the body ran (0 for the baseline).
    pub allocations: u64,
    /// Bytes requested by those allocations.
    pub bytes_allocated: u64,
    /// Wall time of the body, in nanoseconds (0 for the baseline).
    pub body_nanos: u64,
    /// Live threads after settling, where observable.
    pub threads: Option<u32>,
    /// Open file descriptors after settling, where observable.
    pub fds: Option<u32>,
    /// Live tasks of an async test's runtime after settling (async tests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<u32>,
}

impl Sample {
    /// The count of a counted resource (threads, fds, tasks) in this snapshot; `None` where it
    /// was not observed, and for the heap, which is bytes and blocks rather than a count.
    pub fn count(&self, resource: Resource) -> Option<u32> {
        match resource {
            Resource::Threads => self.threads,
            Resource::Fds => self.fds,
            Resource::Tasks => self.tasks,
            _ => None,
        }
    }
}
