//! What the record store asks of the operating system: file locks, and telling processes
//! apart (is one still running, when did it start, which process started this one).

#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    /// Takes the lock on `file`: exclusive for a writer, shared for a reader.
    pub(in crate::record::store) fn lock(file: &File, exclusive: bool) -> io::Result<()> {
        let how = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        loop {
            // SAFETY: flock on a descriptor we own; blocks until the lock is ours.
            if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// True while the process `pid` exists and has not ended (a zombie waiting for its parent
    /// has ended).
    pub(in crate::record::store) fn is_alive(pid: u32) -> bool {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !exists {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !matches!(super::state(&stat), Some('Z' | 'X')),
            Err(_) => true,
        }
    }

    /// When the process `pid` started (Linux: field 22 of its stat), to tell it from a later
    /// process given the same pid; `None` where that is not known.
    pub(in crate::record::store) fn process_start(pid: u32) -> Option<u64> {
        super::start_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// The process that started this one (cargo or nextest), as `pid-starttime-bootid` on
    /// Linux, where pids are reused; `pid` elsewhere.
    pub(in crate::record::store) fn parent_identity() -> String {
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
mod imp {
    use std::fs::File;
    use std::io;

    /// No lock without flock: concurrent writers may race (documented in the README).
    pub(in crate::record::store) fn lock(_file: &File, _exclusive: bool) -> io::Result<()> {
        Ok(())
    }

    /// Unknown: taken as alive (see [`Owner::is_alive`](super::super::Owner::is_alive)).
    pub(in crate::record::store) fn is_alive(_pid: u32) -> bool {
        true
    }

    pub(in crate::record::store) fn process_start(_pid: u32) -> Option<u64> {
        None
    }

    /// Without a portable parent identity each test binary is a run of its own.
    pub(in crate::record::store) fn parent_identity() -> String {
        format!("process-{}", std::process::id())
    }
}

/// Field 22 (start time) of a `/proc/<pid>/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
#[cfg_attr(not(unix), allow(dead_code))]
pub(super) fn start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Field 3 (state) of a `/proc/<pid>/stat` line.
#[cfg_attr(not(unix), allow(dead_code))]
fn state(stat: &str) -> Option<char> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().next()?.chars().next()
}

pub(super) use imp::{is_alive, lock, parent_identity, process_start};
