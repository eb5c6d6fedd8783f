//! Data-structure leaks: a map, a vector or a string kept across calls that only grows, a channel
//! whose messages nobody receives, an interner without a bound. The twins do the same work and
//! remove, clear, drain or reuse what they added.

use super::{Body, Case, Kind, Params, Ranges};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::mpsc::channel;

/// 16 B to 4 KiB per entry, one to three entries per call.
const ENTRIES: Ranges = Ranges {
    size: 16..=4096,
    count: 1..=3,
    ..Ranges::FIXED
};

/// One to three names per call.
const NAMES: Ranges = Ranges {
    count: 1..=3,
    ..Ranges::FIXED
};

/// Lines of 16 to 256 bytes.
const LINES: Ranges = Ranges {
    size: 16..=256,
    ..Ranges::FIXED
};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::leak(
            "map_only_grows",
            Kind::Maps,
            "map_entry_removed",
            "inserts `count` entries of `size` bytes per call into a map under new keys, and never removes them",
            ENTRIES,
            map_only_grows,
        ),
        Case::clean(
            "map_entry_removed",
            Kind::Maps,
            "inserts `count` entries of `size` bytes per call into a map under new keys, reads them and removes them",
            ENTRIES,
            map_entry_removed,
        ),
        Case::leak(
            "vec_only_grows",
            Kind::Vecs,
            "vec_cleared",
            "pushes `count` buffers of `size` bytes per call onto a vector that is never cleared",
            ENTRIES,
            vec_only_grows,
        ),
        Case::clean(
            "vec_cleared",
            Kind::Vecs,
            "pushes `count` buffers of `size` bytes per call onto a vector, sums them and clears it",
            ENTRIES,
            vec_cleared,
        ),
        Case::leak(
            "string_only_grows",
            Kind::Strings,
            "string_flushed",
            "appends a formatted log line of about `size` bytes per call to a string that is never flushed",
            LINES,
            string_only_grows,
        ),
        Case::clean(
            "string_flushed",
            Kind::Strings,
            "appends a formatted log line of about `size` bytes per call to a string, writes it out and clears it",
            LINES,
            string_flushed,
        ),
        Case::leak(
            "channel_never_received",
            Kind::Channels,
            "channel_drained",
            "sends `count` messages of `size` bytes per call on a channel whose receiver is kept but never read",
            ENTRIES,
            channel_never_received,
        ),
        Case::clean(
            "channel_drained",
            Kind::Channels,
            "sends `count` messages of `size` bytes per call on a channel and receives them",
            ENTRIES,
            channel_drained,
        ),
        Case::leak(
            "interner_unbounded",
            Kind::Interners,
            "interner_fixed_vocabulary",
            "interns `count` new names per call (a fresh id each time) in an interner that never forgets",
            NAMES,
            interner_unbounded,
        ),
        Case::clean(
            "interner_fixed_vocabulary",
            Kind::Interners,
            "interns the same `count` × 8 names every call, as a parser interning the identifiers of one source",
            NAMES,
            interner_fixed_vocabulary,
        ),
    ]
}

fn map_only_grows(p: &Params) -> Body {
    let (count, size) = (p.count, p.size);
    let mut map: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut next = 0u64;
    Box::new(move || {
        for _ in 0..count {
            map.insert(next, vec![next as u8; size]);
            next += 1;
        }
    })
}

fn map_entry_removed(p: &Params) -> Body {
    let (count, size) = (p.count, p.size);
    let mut map: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut next = 0u64;
    Box::new(move || {
        let first = next;
        for _ in 0..count {
            map.insert(next, vec![next as u8; size]);
            next += 1;
        }
        for key in first..next {
            let value = map.remove(&key).expect("inserted above");
            black_box(value.len());
        }
    })
}

fn vec_only_grows(p: &Params) -> Body {
    let (count, size) = (p.count, p.size);
    let mut kept: Vec<Vec<u8>> = Vec::new();
    Box::new(move || {
        for i in 0..count {
            kept.push(vec![i as u8; size]);
        }
    })
}

fn vec_cleared(p: &Params) -> Body {
    let (count, size) = (p.count, p.size);
    let mut batch: Vec<Vec<u8>> = Vec::new();
    Box::new(move || {
        for i in 0..count {
            batch.push(vec![i as u8; size]);
        }
        black_box(batch.iter().map(Vec::len).sum::<usize>());
        batch.clear();
    })
}

/// Appends one log line to `log`: a request number and a message of `message.len()` bytes.
fn log_line(log: &mut String, n: u64, message: &str) {
    let _ = writeln!(log, "request {n}: {message}");
}

fn string_only_grows(p: &Params) -> Body {
    let message = "x".repeat(p.size);
    let mut log = String::new();
    let mut n = 0u64;
    Box::new(move || {
        n += 1;
        log_line(&mut log, n, &message);
    })
}

fn string_flushed(p: &Params) -> Body {
    let message = "x".repeat(p.size);
    let mut log = String::new();
    let mut n = 0u64;
    Box::new(move || {
        n += 1;
        log_line(&mut log, n, &message);
        std::io::Write::write_all(&mut std::io::sink(), log.as_bytes()).expect("write to a sink");
        log.clear();
    })
}

fn channel_never_received(p: &Params) -> Body {
    let (count, size) = (p.count, p.size);
    let (sender, receiver) = channel::<Vec<u8>>();
    Box::new(move || {
        // The receiver lives as long as the body, so every send succeeds and is kept.
        let _ = &receiver;
        for i in 0..count {
            sender
                .send(vec![i as u8; size])
                .expect("the receiver is alive");
        }
    })
}

fn channel_drained(p: &Params) -> Body {
    let (count, size) = (p.count, p.size);
    let (sender, receiver) = channel::<Vec<u8>>();
    Box::new(move || {
        for i in 0..count {
            sender
                .send(vec![i as u8; size])
                .expect("the receiver is alive");
        }
        black_box(receiver.try_iter().map(|m| m.len()).sum::<usize>());
    })
}

/// Names to small ids, and back.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }
}

fn interner_unbounded(p: &Params) -> Body {
    let count = p.count;
    let mut interner = Interner::default();
    let mut name = String::new();
    let mut next = 0u64;
    Box::new(move || {
        for _ in 0..count {
            name.clear();
            let _ = write!(name, "session-{next:08x}");
            next += 1;
            black_box(interner.intern(&name));
        }
    })
}

fn interner_fixed_vocabulary(p: &Params) -> Body {
    let vocabulary: Vec<String> = (0..p.count * 8).map(|i| format!("ident_{i}")).collect();
    let mut interner = Interner::default();
    Box::new(move || {
        for word in &vocabulary {
            black_box(interner.intern(word));
        }
    })
}
