//! The child's output on its way into the parent test's captured output.
//!
//! The child runs with `--nocapture`, so what its body prints goes to its pipes, never into a
//! buffer of its own heap (which the counting allocator would see grow, as a leak). On stable
//! Rust that costs the child one `write` per piece of a `print!` (stderr is unbuffered: an
//! `eprintln!` with three arguments is seven writes) and nothing here can batch those. What the
//! parent does per byte is kept small: a reader takes the pipe a pipe-full at a time (it lets the
//! pipe fill for [`READ_PACE`] rather than waking on every write), hands over one piece of whole
//! lines per read, and the relay forwards each piece with one `print!`; past [`RELAY_CAP`] it only
//! counts and keeps the tail.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::mpsc;
use std::time::Duration;

/// Pieces of output on their way from the pipe readers to the relay.
pub(super) const PIECES_IN_FLIGHT: usize = 16;
/// Longest piece a reader hands over, and the most it reads at once: a line longer than this is
/// passed on in pieces, so that a child printing without newlines cannot make the parent buffer
/// without bound.
const MAX_PIECE: usize = 64 * 1024;
/// How much of the child's output goes into the test's captured output; the rest is counted.
const RELAY_CAP: usize = 1024 * 1024;
/// How much of the child's last output a failure message quotes.
const TAIL_BYTES: usize = 4 * 1024;
/// How long a reader that found its pipe empty lets it fill before the next read. A reader
/// blocked in `read` is woken by every write of the child — a few bytes each, seven per
/// `eprintln!` — which costs both processes a context switch per write.
const READ_PACE: Duration = Duration::from_millis(1);
/// The pipe size asked for (Linux's default limit for an unprivileged process): a child can
/// write this much while a reader waits out its pace.
#[cfg(target_os = "linux")]
const PIPE_BYTES: libc::c_int = 1024 * 1024;

/// Which of the child's streams a piece came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stream {
    Out,
    Err,
}

/// A run of the child's output from one stream: whole lines (the last ending in `\n`), a part of
/// a long line, or what was left when the stream closed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Piece {
    stream: Stream,
    bytes: Vec<u8>,
}

/// Asks for a larger pipe, so that a chatty child blocks less often while a reader waits out its
/// pace; without it (another OS, or over the per-user limit) the relay is only slower.
#[cfg(target_os = "linux")]
pub(super) fn enlarge_pipe(pipe: &impl std::os::fd::AsRawFd) {
    // SAFETY: F_SETPIPE_SZ on a pipe this process owns takes an int and changes nothing else;
    // on failure the pipe keeps its size.
    let _ = unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
}

/// Pipes keep their size where it cannot be changed.
#[cfg(not(target_os = "linux"))]
pub(super) fn enlarge_pipe<T>(_pipe: &T) {}

/// Starts a thread that reads `pipe` to its end and sends what it read as pieces.
pub(super) fn spawn_reader(
    pipe: Option<impl Read + Send + 'static>,
    stream: Stream,
    tx: mpsc::SyncSender<Piece>,
) -> Option<std::thread::JoinHandle<()>> {
    let mut pipe = pipe?;
    std::thread::Builder::new()
        .name("leakcheck-relay".into())
        .spawn(move || {
            let mut splitter = Splitter::default();
            let mut chunk = vec![0u8; MAX_PIECE];
            loop {
                let n = match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                for bytes in splitter.push(&chunk[..n]) {
                    if tx.send(Piece { stream, bytes }).is_err() {
                        return;
                    }
                }
                if n < chunk.len() {
                    std::thread::sleep(READ_PACE);
                }
            }
            if let Some(bytes) = splitter.finish() {
                let _ = tx.send(Piece { stream, bytes });
            }
        })
        .ok()
}

/// Cuts a byte stream into pieces of at most [`MAX_PIECE`] bytes that end at a line's end where
/// they can: what came in is passed on up to its last newline, a partial line waits for its end,
/// and a line too long for a piece is cut between UTF-8 characters where possible.
#[derive(Default)]
struct Splitter {
    pending: Vec<u8>,
}

impl Splitter {
    fn push(&mut self, mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (now, later) = bytes.split_at(bytes.len().min(MAX_PIECE - self.pending.len()));
            self.pending.extend_from_slice(now);
            bytes = later;
            if self.pending.len() == MAX_PIECE {
                let cut = self
                    .last_line_end()
                    .unwrap_or_else(|| char_boundary(&self.pending));
                out.push(self.take(cut));
            }
        }
        if let Some(cut) = self.last_line_end() {
            out.push(self.take(cut));
        }
        out
    }

    /// Where the last whole line in `pending` ends.
    fn last_line_end(&self) -> Option<usize> {
        self.pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|i| i + 1)
    }

    /// The first `cut` bytes of `pending`; the rest stays.
    fn take(&mut self, cut: usize) -> Vec<u8> {
        let rest = self.pending.split_off(cut);
        std::mem::replace(&mut self.pending, rest)
    }

    fn finish(self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then_some(self.pending)
    }
}

/// Where to cut `bytes` so that a UTF-8 character split at its end stays whole for the next
/// piece (invalid UTF-8 is cut anywhere).
fn char_boundary(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
        _ => bytes.len(),
    }
}

/// Forwards the child's output to this test's (captured) stdout/stderr, minus libtest's own
/// framing lines, up to [`RELAY_CAP`] bytes, and keeps the last [`TAIL_BYTES`] for failure
/// messages.
pub(super) struct Relay {
    test_name: String,
    test_prefix: String,
    /// Per stream (out, err): the last piece ended inside a line, so the next one continues it
    /// and is not a line of libtest's framing.
    mid_line: [bool; 2],
    relayed: usize,
    dropped: u64,
    tail: VecDeque<u8>,
    tail_cut: bool,
}

impl Relay {
    pub(super) fn new(test_name: &str) -> Self {
        Relay {
            test_name: test_name.to_owned(),
            test_prefix: format!("test {test_name} ... "),
            mid_line: [false; 2],
            relayed: 0,
            dropped: 0,
            tail: VecDeque::with_capacity(TAIL_BYTES),
            tail_cut: false,
        }
    }

    /// Takes one piece, line by line: the cap is applied to whole lines, so that what is shown
    /// ends where a line of the child's ended.
    pub(super) fn piece(&mut self, piece: &Piece) {
        let index = usize::from(piece.stream == Stream::Err);
        let text = String::from_utf8_lossy(&piece.bytes);
        let mut shown = String::new();
        for line in text.split_inclusive('\n') {
            let continues = std::mem::replace(&mut self.mid_line[index], !line.ends_with('\n'));
            let line = match piece.stream {
                Stream::Out if !continues => match self.strip_framing(line) {
                    Some(kept) => kept,
                    None => continue,
                },
                _ => line,
            };
            self.keep_tail(line.as_bytes());
            // Once output is dropped, all later output is: what is shown stays one piece.
            if self.dropped > 0 || self.relayed + line.len() > RELAY_CAP {
                self.dropped += line.len() as u64;
            } else {
                self.relayed += line.len();
                shown.push_str(line);
            }
        }
        if shown.is_empty() {
            return;
        }
        match piece.stream {
            Stream::Out => print!("{shown}"),
            Stream::Err => eprint!("{shown}"),
        }
    }

    fn keep_tail(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let excess = (self.tail.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        if excess > 0 {
            self.tail.drain(..excess);
            self.tail_cut = true;
        }
        self.tail.extend(bytes);
    }

    /// Says how much output was not relayed, if any.
    pub(super) fn finish(&self) {
        if self.dropped > 0 {
            println!(
                "\nleakcheck: {} more bytes of output from the child process were not shown: only \
                 the first {} KiB are kept (a failure message quotes the last {} KiB).",
                self.dropped,
                RELAY_CAP / 1024,
                TAIL_BYTES / 1024
            );
        }
    }

    /// Drops the lines libtest prints around the single test; keeps everything else.
    fn strip_framing<'a>(&self, line: &'a str) -> Option<&'a str> {
        let line = line.strip_prefix(self.test_prefix.as_str()).unwrap_or(line);
        let bare = line.trim_end_matches(['\n', '\r']);
        let framing = bare.is_empty()
            || bare == "running 1 test"
            || bare == "ok"
            || bare == "FAILED"
            || bare == "failures:"
            || bare.starts_with("test result: ")
            || bare.trim() == self.test_name; // the list after "failures:"
        (!framing).then_some(line)
    }

    /// The last output, marked `[...]` in front when older output was left out.
    pub(super) fn tail(&mut self) -> String {
        let bytes = self.tail.make_contiguous();
        if !self.tail_cut {
            return String::from_utf8_lossy(bytes).into_owned();
        }
        // Start at a character boundary, not inside one.
        let start = bytes
            .iter()
            .position(|&b| b & 0b1100_0000 != 0b1000_0000)
            .unwrap_or(bytes.len());
        format!("[...]{}", String::from_utf8_lossy(&bytes[start..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_strips_libtest_framing_only() {
        let r = Relay::new("m::t");
        assert_eq!(r.strip_framing("running 1 test\n"), None);
        assert_eq!(r.strip_framing("test m::t ... hello\n"), Some("hello\n"));
        assert_eq!(r.strip_framing("ok\n"), None);
        assert_eq!(
            r.strip_framing("test result: ok. 1 passed; 0 failed\n"),
            None
        );
        assert_eq!(r.strip_framing("    m::t\n"), None);
        assert_eq!(r.strip_framing("user output\n"), Some("user output\n"));
    }

    #[test]
    fn whole_lines_go_on_at_once_and_long_lines_in_bounded_pieces() {
        let mut s = Splitter::default();
        assert_eq!(s.push(b"one\ntw"), vec![b"one\n".to_vec()]);
        // All the whole lines of a read make one piece; the partial line waits.
        assert_eq!(s.push(b"o\nthree\nfo"), vec![b"two\nthree\n".to_vec()]);
        assert_eq!(s.push(b"ur"), Vec::<Vec<u8>>::new());
        let flood = vec![b'x'; 3 * MAX_PIECE + 10];
        let pieces = s.push(&flood);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() == MAX_PIECE));
        assert_eq!(&pieces[0][..4], b"four");
        assert_eq!(s.finish().map(|p| p.len()), Some(4 + 10));
        // A full piece ends at its last newline, not inside the next line.
        let mut s = Splitter::default();
        let mut text = b"short\n".to_vec();
        text.resize(MAX_PIECE + 1, b'z');
        assert_eq!(s.push(&text), vec![b"short\n".to_vec()]);
        assert_eq!(s.finish().map(|p| p.len()), Some(MAX_PIECE + 1 - 6));
        // A character split by the cap stays whole in the next piece.
        let mut s = Splitter::default();
        let mut text = vec![b'a'; MAX_PIECE - 1];
        text.extend_from_slice("é\n".as_bytes());
        let pieces = s.push(&text);
        assert_eq!(pieces[0].len(), MAX_PIECE - 1);
        assert_eq!(pieces[1], "é\n".as_bytes());
    }

    fn piece(stream: Stream, bytes: &[u8]) -> Piece {
        Piece {
            stream,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn relay_keeps_a_bounded_tail_and_counts_what_it_drops() {
        let mut r = Relay::new("m::t");
        r.piece(&piece(Stream::Err, b"first\n"));
        assert_eq!(r.tail(), "first\n");
        let big = vec![b'y'; MAX_PIECE];
        for _ in 0..RELAY_CAP / MAX_PIECE + 3 {
            r.piece(&piece(Stream::Err, &big));
        }
        r.piece(&piece(Stream::Err, b"last words\n"));
        assert!(r.relayed <= RELAY_CAP);
        // "first\n" took 6 bytes of the cap, so the last of the pieces that would fill it
        // exactly is the first one dropped.
        assert_eq!(r.relayed, "first\n".len() + RELAY_CAP - MAX_PIECE);
        assert_eq!(r.dropped, (4 * MAX_PIECE + "last words\n".len()) as u64);
        let tail = r.tail();
        assert!(tail.starts_with("[...]yyy"), "{tail}");
        assert!(tail.ends_with("yyylast words\n"), "{tail}");
        assert_eq!(tail.len(), "[...]".len() + TAIL_BYTES);
    }

    #[test]
    fn the_cap_falls_between_the_lines_of_a_piece() {
        let mut r = Relay::new("m::t");
        let line = [b"w".repeat(63), b"\n".to_vec()].concat();
        let lines = RELAY_CAP / line.len() + 5;
        r.piece(&piece(Stream::Err, &line.repeat(lines)));
        assert_eq!(r.relayed, RELAY_CAP);
        assert_eq!(r.dropped, 5 * 64);
    }

    #[test]
    fn libtest_framing_is_only_stripped_at_line_starts() {
        let mut r = Relay::new("m::t");
        r.piece(&piece(Stream::Out, b"partial "));
        r.piece(&piece(Stream::Out, b"ok\n"));
        r.piece(&piece(Stream::Out, b"ok\n"));
        assert_eq!(r.tail(), "partial ok\n");
        // Framing lines among the output of one piece go; the output stays, in order.
        let mut r = Relay::new("m::t");
        r.piece(&piece(
            Stream::Out,
            b"\nrunning 1 test\ntest m::t ... user line\nok\nsecond\n\ntest result: ok. 1 passed\n",
        ));
        assert_eq!(r.tail(), "user line\nsecond\n");
        assert_eq!(r.relayed, "user line\nsecond\n".len());
    }
}
