//! Platforms without `/proc`: threads and fds are not observed; reports say so.

use super::{FdInfo, ThreadInfo};

pub(super) fn thread_count() -> Option<u32> {
    None
}

pub(super) fn fd_count() -> Option<u32> {
    None
}

pub(super) fn threads() -> Vec<ThreadInfo> {
    Vec::new()
}

pub(super) fn fds() -> Vec<FdInfo> {
    Vec::new()
}

pub(super) fn other_threads_running() -> Option<u32> {
    None
}
