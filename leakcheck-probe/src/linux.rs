//! Linux: `/proc/self` read with raw system calls for the counts, `std::fs` for the listings.

use super::{describe_state, FdInfo, FdKind, ThreadInfo};
use std::ffi::CStr;

pub(super) fn thread_count() -> Option<u32> {
    let mut buf = [0u8; 1024];
    let len = read_small_file(c"/proc/self/stat", &mut buf)?;
    parse_stat_num_threads(&buf[..len])
}

pub(super) fn fd_count() -> Option<u32> {
    let mut count = 0u32;
    for_each_numeric_entry(c"/proc/self/fd", |_| count += 1)?;
    Some(count)
}

pub(super) fn other_threads_running() -> Option<u32> {
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    let mut running = 0;
    for_each_numeric_entry(c"/proc/self/task", |tid| {
        if tid != me && task_state(tid) == Some('R') {
            running += 1;
        }
    })?;
    Some(running)
}

/// The state letter of one thread, read without allocating.
fn task_state(tid: u32) -> Option<char> {
    let mut path = [0u8; 64];
    let mut len = 0;
    for part in [
        &b"/proc/self/task/"[..],
        decimal(tid, &mut [0u8; 10]),
        b"/stat\0",
    ] {
        path.get_mut(len..len + part.len())?.copy_from_slice(part);
        len += part.len();
    }
    let path = CStr::from_bytes_until_nul(&path).ok()?;
    let mut buf = [0u8; 512];
    let read = read_small_file(path, &mut buf)?;
    parse_stat_state(&buf[..read])
}

/// Formats `n` in decimal into `buf`, returning the digits.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

pub(super) fn threads() -> Vec<ThreadInfo> {
    let mut tids = Vec::new();
    if for_each_numeric_entry(c"/proc/self/task", |tid| tids.push(tid)).is_none() {
        return Vec::new();
    }
    tids.sort_unstable();
    tids.into_iter()
        .filter_map(|tid| {
            let dir = format!("/proc/self/task/{tid}");
            // A thread can exit between the listing and these reads: skip it then.
            let name = std::fs::read(format!("{dir}/comm")).ok()?;
            let stat = std::fs::read(format!("{dir}/stat")).ok()?;
            let letter = parse_stat_state(&stat)?;
            let wchan = std::fs::read_to_string(format!("{dir}/wchan")).ok();
            let syscall = std::fs::read_to_string(format!("{dir}/syscall")).ok();
            Some(ThreadInfo {
                tid,
                name: thread_name(&name),
                state: describe_state(letter).to_owned(),
                waiting_in: wchan.filter(|w| !w.is_empty() && w != "0"),
                syscall: syscall.as_deref().and_then(describe_syscall),
                spawned_at: None,
            })
        })
        .collect()
}

/// The bytes the kernel keeps of a thread's name (`TASK_COMM_LEN` less the NUL).
const COMM_KEPT: usize = 15;

/// A thread's name from its `comm` file: a name that fills the 15 bytes the kernel keeps may
/// have been cut, and says so ([`ThreadInfo::CUT`]). A cut can split a character: its bytes
/// are dropped rather than shown as a replacement character.
fn thread_name(comm: &[u8]) -> String {
    let bytes = comm.strip_suffix(b"\n").unwrap_or(comm);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    let mut name = text.into_owned();
    if bytes.len() >= COMM_KEPT {
        name.push(ThreadInfo::CUT);
    }
    name
}

pub(super) fn fds() -> Vec<FdInfo> {
    let mut numbers = Vec::new();
    if for_each_numeric_entry(c"/proc/self/fd", |fd| numbers.push(fd)).is_none() {
        return Vec::new();
    }
    numbers.sort_unstable();
    numbers
        .into_iter()
        .filter_map(|fd| {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            let target = target.to_string_lossy().into_owned();
            Some(FdInfo {
                fd: fd as i32,
                kind: FdKind::of_target(&target),
                target,
                detail: None,
            })
        })
        .collect()
}

/// Names the system call in a `/proc/.../syscall` line (`202 0x7f.. ...`): `None` when the
/// thread is running or not in a system call.
fn describe_syscall(line: &str) -> Option<String> {
    let number: i64 = line.split_whitespace().next()?.parse().ok()?;
    if number < 0 {
        return None;
    }
    Some(syscall_name(number).map_or_else(|| format!("syscall {number}"), str::to_owned))
}

/// Names of the system calls threads commonly block in (x86_64 numbering).
fn syscall_name(number: i64) -> Option<&'static str> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    Some(match number {
        0 => "read",
        1 => "write",
        7 => "poll",
        23 => "select",
        34 => "pause",
        35 => "nanosleep",
        43 => "accept",
        45 => "recvfrom",
        47 => "recvmsg",
        61 => "wait4",
        202 => "futex",
        230 => "clock_nanosleep",
        232 => "epoll_wait",
        270 => "pselect6",
        271 => "ppoll",
        281 => "epoll_pwait",
        288 => "accept4",
        _ => return None,
    })
}

/// Reads a small file into `buf` with raw calls (no allocation). Returns the length read.
fn read_small_file(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `path` is NUL-terminated; the fd is closed on every path below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: writes at most `buf.len() - len` bytes into the tail of `buf`.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: `fd` was opened above.
    unsafe { libc::close(fd) };
    Some(len)
}

/// Calls `f` with each numeric entry of a `/proc` directory, leaving out the fd used to read it.
/// Allocation-free: `getdents64` into a stack buffer.
fn for_each_numeric_entry(dir: &CStr, mut f: impl FnMut(u32)) -> Option<()> {
    // SAFETY: `dir` is NUL-terminated; the fd is closed before returning.
    let dirfd = unsafe {
        libc::open(
            dir.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dirfd < 0 {
        return None;
    }
    // u64 elements keep the records 8-byte aligned, as the kernel writes them.
    let mut buf = [0u64; 512];
    let bytes = std::mem::size_of_val(&buf);
    let mut ok = true;
    loop {
        // SAFETY: the kernel writes at most `bytes` bytes into `buf`.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dirfd, buf.as_mut_ptr(), bytes) };
        if n < 0 {
            ok = false;
            break;
        }
        if n == 0 {
            break;
        }
        // SAFETY: the first `n` bytes of `buf` were written by the kernel just now.
        let filled = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        for name in dirent_names(filled) {
            if let Some(number) = parse_decimal(name) {
                if !(dir_is_fd_table(dir) && number == dirfd as u32) {
                    f(number);
                }
            }
        }
    }
    // SAFETY: `dirfd` was opened above.
    unsafe { libc::close(dirfd) };
    ok.then_some(())
}

fn dir_is_fd_table(dir: &CStr) -> bool {
    dir.to_bytes().ends_with(b"/fd")
}

/// The names in a buffer of `linux_dirent64` records.
fn dirent_names(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
    const NAME_OFFSET: usize = 19;
    let mut offset = 0;
    std::iter::from_fn(move || {
        let record = buf.get(offset..)?;
        let reclen = u16::from_ne_bytes([*record.get(16)?, *record.get(17)?]) as usize;
        if reclen < NAME_OFFSET || reclen > record.len() {
            return None;
        }
        offset += reclen;
        let name = &record[NAME_OFFSET..reclen];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(&name[..end])
    })
}

fn parse_decimal(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 9 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(name.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

/// The fields of a `stat` line after the command name, which may itself hold spaces and ')'.
fn stat_fields(stat: &[u8]) -> Option<impl Iterator<Item = &[u8]>> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    Some(
        stat[close + 1..]
            .split(|&b| b == b' ' || b == b'\n')
            .filter(|f| !f.is_empty()),
    )
}

/// Field 3 of `stat`: the state letter.
fn parse_stat_state(stat: &[u8]) -> Option<char> {
    let field = stat_fields(stat)?.next()?;
    field.first().map(|&b| b as char)
}

/// Field 20 of `stat`: the number of threads.
fn parse_stat_num_threads(stat: &[u8]) -> Option<u32> {
    parse_decimal(stat_fields(stat)?.nth(20 - 3)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = b"1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 12345 1000 200\n";
        assert_eq!(parse_stat_state(stat), Some('S'));
        assert_eq!(parse_stat_num_threads(stat), Some(7));
        assert_eq!(parse_stat_num_threads(b"garbage"), None);
        assert_eq!(parse_stat_num_threads(b"1 (x) S 1 2"), None);
    }

    #[test]
    fn parses_dirent_records_and_stops_on_bad_lengths() {
        let mut buf = Vec::new();
        for name in ["12", ".", "345"] {
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            let mut rec = vec![0u8; reclen];
            rec[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
            rec[19..19 + name.len()].copy_from_slice(name.as_bytes());
            buf.extend(rec);
        }
        let names: Vec<_> = dirent_names(&buf).collect();
        assert_eq!(names, [&b"12"[..], b".", b"345"]);
        let numbers: Vec<_> = names.iter().filter_map(|n| parse_decimal(n)).collect();
        assert_eq!(numbers, [12, 345]);
        // A record claiming more bytes than the buffer holds ends the walk instead of panicking.
        let mut bad = buf.clone();
        bad[16..18].copy_from_slice(&u16::MAX.to_ne_bytes());
        assert_eq!(dirent_names(&bad).count(), 0);
    }

    #[test]
    fn thread_names_that_fill_the_kernels_15_bytes_say_they_may_be_cut() {
        assert_eq!(thread_name(b"background-refr\n"), "background-refr…");
        assert_eq!(thread_name(b"short\n"), "short");
        assert_eq!(thread_name(b"fourteen-bytes\n"), "fourteen-bytes");
        assert_eq!(thread_name(b""), "");
        // The 15th byte is the first of a two-byte `ï`: the half character is dropped.
        let cut = &"naïve-worker-ïx".as_bytes()[..15];
        assert_eq!(thread_name(cut), "naïve-worker-…");
    }

    #[test]
    fn names_system_calls() {
        assert_eq!(describe_syscall("running"), None);
        assert_eq!(describe_syscall("-1 0x7ffc 0x5555"), None);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                describe_syscall("202 0x7f 0x80 0x0").as_deref(),
                Some("futex")
            );
        }
        assert_eq!(describe_syscall("999 0x0").as_deref(), Some("syscall 999"));
    }

    #[test]
    fn formats_decimals() {
        assert_eq!(decimal(0, &mut [0; 10]), b"0");
        assert_eq!(decimal(4_294_967_295, &mut [0; 10]), b"4294967295");
    }

    #[test]
    fn counting_allocates_nothing() {
        // The harness counts between heap readings; it must not show up in them. Other unit
        // tests allocate concurrently, so look at this thread's own slot only.
        let _ = (thread_count(), fd_count()); // warm any lazy state
        let before = leakcheck_alloc::thread_allocations();
        let (threads, fds) = (thread_count(), fd_count());
        let _ = other_threads_running();
        let after = leakcheck_alloc::thread_allocations();
        assert!(threads.is_some() && fds.is_some());
        assert_eq!(before, after);
        assert!(before.is_some());
    }
}

/// Property tests: the parsers of `/proc` formats on arbitrary and near-valid input.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// A `stat` line as the kernel writes it, for a command name that may hold anything.
    fn stat_line(comm: &str, state: char, threads: u64) -> Vec<u8> {
        format!(
            "4242 ({comm}) {state} 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 {threads} 0 \
             12345 1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0\n"
        )
        .into_bytes()
    }

    /// A buffer of `linux_dirent64` records as `getdents64` fills it.
    fn dirents(names: &[Vec<u8>]) -> Vec<u8> {
        let mut buf = Vec::new();
        for name in names {
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            let mut rec = vec![0u8; reclen];
            rec[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
            rec[19..19 + name.len()].copy_from_slice(name);
            buf.extend(rec);
        }
        buf
    }

    proptest! {
        #[test]
        fn stat_parsers_never_panic_on_bytes(stat in proptest::collection::vec(any::<u8>(), 0..600)) {
            let state = parse_stat_state(&stat);
            let threads = parse_stat_num_threads(&stat);
            // Both need the `)` that ends the command name.
            if !stat.contains(&b')') {
                prop_assert_eq!((state, threads), (None, None));
            }
        }

        #[test]
        fn stat_parsers_read_any_command_name(
            comm in "[ -~]{0,16}",
            state in "[RSDZTtXxKWPI]",
            threads in 1u64..1_000_000_000,
        ) {
            let state = state.chars().next().unwrap();
            let line = stat_line(&comm, state, threads);
            prop_assert_eq!(parse_stat_state(&line), Some(state));
            prop_assert_eq!(parse_stat_num_threads(&line), Some(threads as u32));
        }

        #[test]
        fn stat_parsers_survive_truncation_and_mutation(
            comm in "[ -~]{0,16}",
            cut in 0usize..200,
            flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..4),
        ) {
            let mut line = stat_line(&comm, 'S', 7);
            for (at, byte) in flips {
                let at = at % line.len();
                line[at] = byte;
            }
            line.truncate(cut.min(line.len()));
            let _ = parse_stat_state(&line);
            // A thread count is a plain decimal that fits a u32, or nothing.
            if let Some(n) = parse_stat_num_threads(&line) {
                prop_assert!(n < 1_000_000_000);
            }
        }

        #[test]
        fn huge_thread_counts_are_not_read(digits in "[0-9]{10,40}") {
            let line = String::from_utf8(stat_line("x", 'S', 1)).unwrap()
                .replacen(" 1 0 12345", &format!(" {digits} 0 12345"), 1);
            prop_assert_eq!(parse_stat_num_threads(line.as_bytes()), None);
        }

        #[test]
        fn decimals_are_exact_and_bounded(name in proptest::collection::vec(any::<u8>(), 0..12)) {
            let expected = std::str::from_utf8(&name)
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u32>().ok());
            prop_assert_eq!(parse_decimal(&name), expected);
        }

        #[test]
        fn dirent_walk_never_panics_on_bytes(buf in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut total = 0;
            for name in dirent_names(&buf) {
                prop_assert!(!name.contains(&0));
                total += 1;
            }
            // Every record is at least a header long.
            prop_assert!(total <= buf.len() / 19);
        }

        #[test]
        fn dirent_walk_reads_back_its_records(
            names in proptest::collection::vec(proptest::collection::vec(1u8..=255, 1..40), 0..20),
            cut in any::<proptest::sample::Index>(),
        ) {
            let buf = dirents(&names);
            let read: Vec<&[u8]> = dirent_names(&buf).collect();
            let expected: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(read, expected);
            // Cut anywhere: the whole records before the cut, and nothing torn.
            let cut = cut.index(buf.len() + 1);
            let read = dirent_names(&buf[..cut]).count();
            let whole = names
                .iter()
                .scan(0, |end, n| {
                    *end += (19 + n.len() + 1).div_ceil(8) * 8;
                    Some(*end)
                })
                .take_while(|&end| end <= cut)
                .count();
            prop_assert_eq!(read, whole);
        }

        #[test]
        fn syscall_lines_never_panic(line in "\\PC{0,60}") {
            let _ = describe_syscall(&line);
        }

        #[test]
        fn syscall_numbers_are_named_or_numbered(number in any::<i64>(), args in "( 0x[0-9a-f]{1,16}){0,6}") {
            let described = describe_syscall(&format!("{number}{args}"));
            prop_assert_eq!(described.is_some(), number >= 0);
            if let Some(text) = described {
                let numbered = format!("syscall {number}");
                prop_assert!(syscall_name(number).is_some() || text == numbered);
            }
        }
    }
}
