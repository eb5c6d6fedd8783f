//! What the monitor samples: this process ([`ThisProcess`]), or another one by pid
//! ([`OtherProcess`], through `/proc`).

use super::Sample;
pub use crate::error::SourceError;
use std::io;

/// Something that can be sampled: one [`Sample`] per call.
pub trait Source: Send {
    /// Takes one sample, stamped `now_unix_ms`. Values that cannot be read are `None`.
    fn sample(&mut self, now_unix_ms: u64) -> Sample;

    /// The process sampled.
    fn pid(&self) -> u32;

    /// Whether sampling can go on: `Err` once it cannot (the watched process exited). The
    /// monitor checks it after every sample and stops on an error.
    fn check(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// The current process: live heap and allocations from the counting allocator (when it is the
/// global allocator), RSS from `/proc/self/statm`, threads and fds from `/proc/self`.
///
/// Sampling does not allocate, so the monitor does not disturb the heap it measures.
#[derive(Debug)]
pub struct ThisProcess {
    counting: bool,
    pid: u32,
}

impl ThisProcess {
    /// A source for this process. Checks once whether the counting allocator is installed
    /// (without it the heap is not observed: `heap_bytes` and `allocations_total` are `None`).
    pub fn new() -> Self {
        ThisProcess {
            counting: leakcheck_alloc::is_installed(),
            pid: std::process::id(),
        }
    }

    /// Whether the live heap is observed (the counting allocator is installed).
    pub fn observes_heap(&self) -> bool {
        self.counting
    }
}

impl Default for ThisProcess {
    fn default() -> Self {
        ThisProcess::new()
    }
}

impl Source for ThisProcess {
    fn sample(&mut self, now_unix_ms: u64) -> Sample {
        let counters = self.counting.then(leakcheck_alloc::counters);
        Sample {
            unix_ms: now_unix_ms,
            heap_bytes: counters.map(|c| c.live_bytes()),
            heap_blocks: counters.map(|c| c.live_blocks()),
            allocations_total: counters.map(|c| c.allocations),
            rss_bytes: rss_bytes("/proc/self/statm"),
            threads: leakcheck_probe::thread_count(),
            fds: leakcheck_probe::fd_count(),
        }
    }

    fn pid(&self) -> u32 {
        self.pid
    }
}

/// Another process, watched through `/proc/PID`: RSS, threads and fds (its heap is not
/// observable from outside). Reading another user's process needs the usual ptrace-like
/// permission; fds are `None` where `/proc/PID/fd` cannot be listed.
#[derive(Debug)]
pub struct OtherProcess {
    pid: u32,
    statm: String,
    task: String,
    fd: String,
    /// Process start time (`/proc/PID/stat` field 22), to notice a pid reused by a new process.
    start_time: Option<u64>,
    gone: bool,
}

impl OtherProcess {
    /// Watches `pid`. Fails with `NotFound` and a clear message when there is no such process.
    pub fn new(pid: u32) -> io::Result<Self> {
        let start_time = start_time(pid).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no process with pid {pid} (nothing at /proc/{pid})"),
            )
        })?;
        Ok(OtherProcess {
            pid,
            statm: format!("/proc/{pid}/statm"),
            task: format!("/proc/{pid}/task"),
            fd: format!("/proc/{pid}/fd"),
            start_time: Some(start_time),
            gone: false,
        })
    }
}

impl Source for OtherProcess {
    fn sample(&mut self, now_unix_ms: u64) -> Sample {
        let count = |dir: &str| {
            std::fs::read_dir(dir)
                .ok()
                .map(|entries| entries.filter(|e| e.is_ok()).count() as u32)
        };
        let sample = Sample {
            unix_ms: now_unix_ms,
            rss_bytes: rss_bytes(&self.statm),
            threads: count(&self.task),
            fds: count(&self.fd),
            ..Sample::default()
        };
        if !self.gone {
            // A zombie still has /proc entries but no memory and no threads: it has exited.
            let exited = match start_time(self.pid) {
                None => true,
                Some(t) => Some(t) != self.start_time || state(self.pid) == Some('Z'),
            };
            if exited {
                self.gone = true;
            }
        }
        sample
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    fn check(&mut self) -> Result<(), SourceError> {
        if self.gone {
            return Err(SourceError::Exited { pid: self.pid });
        }
        Ok(())
    }
}

/// Resident set size from a `statm` file, read into a stack buffer.
fn rss_bytes(path: &str) -> Option<u64> {
    let mut buf = [0u8; 256];
    let len = read_small(path, &mut buf)?;
    // A page count no byte count can hold is not a reading.
    parse_statm_resident_pages(&buf[..len])?.checked_mul(page_size())
}

/// The resident page count in a `statm` file: `size resident shared text lib data dt`, in pages.
fn parse_statm_resident_pages(statm: &[u8]) -> Option<u64> {
    let field = statm
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty())
        .nth(1)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Reads up to `buf.len()` bytes of a small file. `std::fs::File::open` keeps short paths on
/// the stack, so this does not allocate.
fn read_small(path: &str, buf: &mut [u8]) -> Option<usize> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(len)
}

#[cfg(unix)]
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

#[cfg(not(unix))]
fn page_size() -> u64 {
    4096
}

/// The state and start time in `/proc/PID/stat`.
fn stat_fields(pid: u32) -> Option<(char, Option<u64>)> {
    let mut buf = [0u8; 1024];
    let len = read_small(&format!("/proc/{pid}/stat"), &mut buf)?;
    parse_stat(&buf[..len])
}

/// Field 3 (the state letter) and field 22 (the start time) of a `stat` line. Fields are counted
/// from the last `)`: the command name before it may hold spaces, parentheses and bytes that are
/// not UTF-8.
fn parse_stat(stat: &[u8]) -> Option<(char, Option<u64>)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[close + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty());
    let state = char::from(*fields.next()?.first()?);
    // Field 22 of the whole line is the 20th after the state (field 3).
    let start = fields
        .nth(18)
        .and_then(|f| std::str::from_utf8(f).ok()?.parse().ok());
    Some((state, start))
}

fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid).and_then(|(_, start)| start)
}

fn state(pid: u32) -> Option<char> {
    stat_fields(pid).map(|(state, _)| state)
}

/// Property tests: the `statm` and `stat` parsers on arbitrary and near-valid input.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn stat_line(comm: &[u8], state: char, start: u64) -> Vec<u8> {
        let mut line = b"4242 (".to_vec();
        line.extend_from_slice(comm);
        line.extend_from_slice(
            format!(
                ") {state} 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 {start} 1000 200\n"
            )
            .as_bytes(),
        );
        line
    }

    proptest! {
        #[test]
        fn statm_never_panics_on_bytes(statm in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_statm_resident_pages(&statm);
        }

        #[test]
        fn statm_reads_the_resident_pages(size in any::<u64>(), resident in any::<u64>(), rest in "( [0-9]{1,20}){0,5}") {
            let statm = format!("{size} {resident}{rest}\n");
            prop_assert_eq!(parse_statm_resident_pages(statm.as_bytes()), Some(resident));
        }

        #[test]
        fn statm_rejects_what_is_not_a_page_count(resident in "[-+]?[1-9][0-9]{20,39}|-[0-9]{1,5}|[0-9]*[a-z.][0-9]*") {
            prop_assert_eq!(parse_statm_resident_pages(format!("1 {resident} 3").as_bytes()), None);
        }

        #[test]
        fn stat_never_panics_on_bytes(stat in proptest::collection::vec(any::<u8>(), 0..600)) {
            if parse_stat(&stat).is_some() {
                prop_assert!(stat.contains(&b')'));
            }
        }

        #[test]
        fn stat_reads_any_command_name(
            comm in proptest::collection::vec(any::<u8>(), 0..16),
            state in "[RSDZTtXI]",
            start in any::<u64>(),
        ) {
            let state = state.chars().next().unwrap();
            prop_assert_eq!(parse_stat(&stat_line(&comm, state, start)), Some((state, Some(start))));
        }

        #[test]
        fn stat_survives_truncation_and_mutation(
            start in any::<u64>(),
            cut in 0usize..160,
            flips in proptest::collection::vec((0usize..160, any::<u8>()), 0..4),
        ) {
            let mut line = stat_line(b"app", 'S', start);
            for (at, byte) in flips {
                let at = at % line.len();
                line[at] = byte;
            }
            line.truncate(cut);
            let _ = parse_stat(&line);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_rss_threads_and_fds() {
        let sample = ThisProcess::new().sample(42);
        assert_eq!(sample.unix_ms, 42);
        assert!(sample.rss_bytes.is_some_and(|r| r > 0), "{sample:?}");
        assert!(sample.threads.is_some_and(|t| t >= 1), "{sample:?}");
        assert!(sample.fds.is_some_and(|f| f >= 1), "{sample:?}");
    }

    #[test]
    fn other_process_reads_a_child_and_notices_its_exit() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let mut source = OtherProcess::new(child.id()).expect("child exists");
        let sample = source.sample(1);
        assert!(sample.rss_bytes.is_some(), "{sample:?}");
        assert_eq!(sample.threads, Some(1), "{sample:?}");
        assert_eq!(sample.heap_bytes, None);
        assert!(source.check().is_ok());
        child.kill().expect("kill");
        child.wait().expect("reap");
        source.sample(2);
        let error = source.check().expect_err("the child is gone");
        assert!(
            matches!(error, SourceError::Exited { pid } if pid == child.id()),
            "{error}"
        );
        assert!(error.to_string().contains("exited"), "{error}");
    }

    #[test]
    fn a_missing_pid_is_a_clear_error() {
        let error = OtherProcess::new(u32::MAX - 1).expect_err("no such pid");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(error.to_string().contains("no process with pid"), "{error}");
    }
}
