//! Heap profiles of this process from the counting allocator's sampler
//! ([`leakcheck_alloc::sample`]), as pprof `profile.proto`: what `/debug/pprof/heap` serves and
//! the profile directory stores.
//!
//! A profile has Go's four sample types (`alloc_objects`, `alloc_space`, `inuse_objects`,
//! `inuse_space`, the last shown by default) and period `space`/`bytes` at the sampling rate.
//! Each live sample is one pprof sample with its estimated in-use values (the sampler's
//! unbiasing weight applied) and labels `bytes` (the block's size), `age` (seconds alive) and
//! `thread` (the allocating thread's OS id); each stack's cumulative allocations are one more
//! sample with the `alloc_*` values. pprof adds up samples of the same stack.
//!
//! A stack is captured inside the allocator, so its innermost frames are the allocator's own
//! and `alloc`'s; they are left out ([`symbols::is_allocation_path`]), so that a sample's leaf
//! is the function that allocated and `go tool pprof -top` names it, as Go's runtime trims
//! `runtime.mallocgc`.
//!
//! A **delta** profile ([`HeapProfile::delta`]) is what Go's `/debug/pprof/heap?seconds=N`
//! gives: what changed between two snapshots. Blocks allocated in between and still live count
//! positive, sampled blocks freed in between negative (so `inuse_space` is the growth), and
//! `alloc_*` are the allocations made in between.

mod store;

pub(crate) use store::Store;
pub use store::{ProfileStorage, ProfileStoreStatus, MIN_FREE_BYTES};

use leakcheck_alloc::sample::{Snapshot, StackId};
use leakcheck_probe::pprof::{self, HeapValues, Label, ProfileBuilder};
use leakcheck_probe::symbols::{self, Frame};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

/// Most addresses whose frames [`Symbols`] keeps. A process samples from a bounded set of
/// stacks ([`leakcheck_alloc::sample::STACK_CAPACITY`] of at most
/// [`leakcheck_alloc::sample::MAX_FRAMES`] frames), and most share frames, so this is rarely
/// reached; when it is, the cache starts again rather than grow.
pub const SYMBOLS_CAPACITY: usize = 1 << 16;

/// A cache of resolved return addresses and of trimmed stacks, kept between profiles so that
/// a repeated request or a periodic write symbolizes only what is new.
#[derive(Debug, Default)]
pub struct Symbols {
    frames: HashMap<usize, Vec<Frame>>,
    /// The user part of each stack: how many innermost frames are the allocation path.
    trimmed: HashMap<StackId, usize>,
}

impl Symbols {
    /// An empty cache.
    pub fn new() -> Self {
        Symbols::default()
    }

    /// The frames of one return address, innermost (inlined) first; empty when nothing
    /// resolves it.
    pub fn frames(&mut self, ip: usize) -> &[Frame] {
        if self.frames.len() >= SYMBOLS_CAPACITY && !self.frames.contains_key(&ip) {
            self.frames.clear();
        }
        self.frames
            .entry(ip)
            .or_insert_with(|| pprof::location_frames(symbols::resolve(&[ip])))
    }

    /// `stack` without its innermost allocation-path frames (the whole stack when every
    /// frame is on the allocation path, or none resolves).
    fn user_part<'a>(&mut self, id: StackId, stack: &'a [usize]) -> &'a [usize] {
        if let Some(&skip) = self.trimmed.get(&id) {
            return &stack[skip.min(stack.len())..];
        }
        let skip = pprof::allocation_path_len(stack, &mut |ip| self.frames(ip).to_vec());
        if self.trimmed.len() >= SYMBOLS_CAPACITY {
            self.trimmed.clear();
        }
        self.trimmed.insert(id, skip);
        &stack[skip..]
    }
}

/// A heap profile built from sampler snapshots, ready to encode.
#[derive(Debug)]
pub struct HeapProfile {
    builder: ProfileBuilder,
}

impl HeapProfile {
    /// The heap as `head` saw it: every live sample, and every stack's allocations so far.
    pub fn snapshot(head: &Snapshot, symbols: &mut Symbols) -> Self {
        Self::build(None, head, symbols)
    }

    /// What changed from `base` to `head` (two snapshots of the same process, `base` first).
    pub fn delta(base: &Snapshot, head: &Snapshot, symbols: &mut Symbols) -> Self {
        Self::build(Some(base), head, symbols)
    }

    /// Samples in the profile (live samples plus stacks with allocations).
    pub fn len(&self) -> usize {
        self.builder.len()
    }

    /// Whether the profile has no sample.
    pub fn is_empty(&self) -> bool {
        self.builder.is_empty()
    }

    /// The profile as gzipped `profile.proto`, frames resolved through `symbols`.
    pub fn encode_gzip(&self, symbols: &mut Symbols) -> Vec<u8> {
        self.builder
            .encode_gzip_with(&mut |ip| symbols.frames(ip).to_vec())
    }

    fn build(base: Option<&Snapshot>, head: &Snapshot, symbols: &mut Symbols) -> Self {
        let span = base.map_or(Duration::ZERO, |b| {
            head.taken_at.duration_since(b.taken_at).unwrap_or_default()
        });
        let period = i64::try_from(head.rate).unwrap_or(i64::MAX);
        let mut builder = ProfileBuilder::heap(period)
            .time(base.map_or(head.taken_at, |b| b.taken_at), span)
            .comment(format!(
                "leakcheck heap profile: one sample every {} bytes on average; {} live samples; \
                 {} samples dropped (table full), {} (stack table full)",
                head.rate,
                head.live.len(),
                head.stats.dropped_table_full,
                head.stats.dropped_stacks_full
            ));
        if base.is_some() {
            builder = builder.comment(format!(
                "delta over {:.1} s: blocks allocated in it and still live count positive, \
                 sampled blocks freed in it negative",
                span.as_secs_f64()
            ));
        }

        // Live samples: in a delta, those of both snapshots cancel out.
        let key = |s: &leakcheck_alloc::sample::LiveSample| (s.address, s.allocated_at);
        let in_base: HashSet<_> =
            base.map_or_else(HashSet::new, |b| b.live.iter().map(key).collect());
        let in_head: HashSet<_> = match base {
            Some(_) => head.live.iter().map(key).collect(),
            None => HashSet::new(),
        };
        let mut add_live = |snapshot: &Snapshot, sign: i64, builder: &mut ProfileBuilder| {
            for live in &snapshot.live {
                let (present_in_other, now) = if sign > 0 {
                    (in_base.contains(&key(live)), head.taken_at)
                } else {
                    (in_head.contains(&key(live)), snapshot.taken_at)
                };
                if present_in_other {
                    continue;
                }
                let values = HeapValues::live(live.size, live.weight())
                    .values()
                    .map(|v| v * sign);
                let stack = symbols.user_part(live.stack, stack_of(snapshot, live.stack));
                builder.add_sample(stack, &values, labels(live, now));
            }
        };
        add_live(head, 1, &mut builder);
        if let Some(base) = base {
            add_live(base, -1, &mut builder);
        }

        // Allocations per stack, since the process started or since `base`.
        for stack in &head.stacks {
            let (mut objects, mut bytes) = (stack.allocated.objects, stack.allocated.bytes);
            if let Some(before) = base.and_then(|b| b.stack(stack.id)) {
                objects -= before.allocated.objects;
                bytes -= before.allocated.bytes;
            }
            let values = HeapValues::allocated(objects, bytes);
            if values == HeapValues::default() {
                continue;
            }
            let frames = symbols.user_part(stack.id, &stack.frames);
            builder.add_sample(frames, &values.values(), Vec::new());
        }
        HeapProfile { builder }
    }
}

/// The frames of stack `id` in `snapshot` (none when the stack is not listed yet).
fn stack_of(snapshot: &Snapshot, id: StackId) -> &[usize] {
    snapshot.stack(id).map_or(&[], |s| s.frames.as_slice())
}

/// The labels of a live sample: its size, its age at `now`, its thread.
fn labels(live: &leakcheck_alloc::sample::LiveSample, now: SystemTime) -> Vec<Label> {
    vec![
        Label::num(
            "bytes",
            i64::try_from(live.size).unwrap_or(i64::MAX),
            "bytes",
        ),
        Label::num(
            "age",
            i64::try_from(live.age(now).as_secs()).unwrap_or(i64::MAX),
            "seconds",
        ),
        Label::num("thread", i64::try_from(live.thread).unwrap_or(i64::MAX), ""),
    ]
}

/// Longest delta a `/debug/pprof/heap?seconds=N` request may ask for.
pub const MAX_DELTA: Duration = Duration::from_secs(600);

/// Why this process has no heap profile to give.
pub(crate) fn unavailable() -> Option<String> {
    if !leakcheck_alloc::is_installed() {
        return Some(
            "no heap profile: the counting allocator is not this process's global allocator \
             (add `leakcheck_monitor::global_allocator!();` to main.rs)"
                .to_owned(),
        );
    }
    if leakcheck_alloc::sample::rate() == 0 {
        return Some(
            "no heap profile: heap sampling is off (MonitorConfig::heap_sampling(0), or \
             leakcheck_alloc::sample::set_rate(0))"
                .to_owned(),
        );
    }
    None
}

/// This process's heap profiles, with one symbol cache for all of them (the HTTP endpoint's
/// requests and the profile directory's writes). At most one delta is taken at a time: each
/// holds a server worker for its whole span.
#[derive(Debug, Default)]
pub struct Profiler {
    symbols: std::sync::Mutex<Symbols>,
    delta_running: std::sync::atomic::AtomicBool,
}

/// Why a profile could not be given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileError {
    /// This process has none (allocator not installed, sampling off, another process watched).
    Unavailable(String),
    /// A delta profile is already being taken.
    Busy,
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileError::Unavailable(why) => f.write_str(why),
            ProfileError::Busy => {
                f.write_str("a delta heap profile is already being taken; retry when it is done")
            }
        }
    }
}

impl std::error::Error for ProfileError {}

impl Profiler {
    /// A profiler with an empty symbol cache.
    pub fn new() -> Self {
        Profiler::default()
    }

    /// The live heap now, gzipped `profile.proto`.
    pub fn heap(&self) -> Result<Vec<u8>, ProfileError> {
        if let Some(why) = unavailable() {
            return Err(ProfileError::Unavailable(why));
        }
        Ok(self.encode(None, &leakcheck_alloc::sample::snapshot()))
    }

    /// The change of the heap over the time `wait` takes (it is given the span asked for and
    /// may return early, e.g. when the monitor stops), gzipped `profile.proto`.
    pub fn delta(
        &self,
        span: Duration,
        wait: impl FnOnce(Duration),
    ) -> Result<Vec<u8>, ProfileError> {
        use std::sync::atomic::Ordering;
        if let Some(why) = unavailable() {
            return Err(ProfileError::Unavailable(why));
        }
        if self.delta_running.swap(true, Ordering::AcqRel) {
            return Err(ProfileError::Busy);
        }
        // Cleared however this ends (a panic in `wait` included).
        struct Running<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _running = Running(&self.delta_running);
        let base = leakcheck_alloc::sample::snapshot();
        wait(span.min(MAX_DELTA));
        Ok(self.encode(Some(&base), &leakcheck_alloc::sample::snapshot()))
    }

    /// Encodes a profile of `head` (a delta from `base` when given).
    pub fn encode(&self, base: Option<&Snapshot>, head: &Snapshot) -> Vec<u8> {
        let mut symbols = self.symbols.lock().unwrap_or_else(|e| e.into_inner());
        let profile = match base {
            Some(base) => HeapProfile::delta(base, head, &mut symbols),
            None => HeapProfile::snapshot(head, &mut symbols),
        };
        profile.encode_gzip(&mut symbols)
    }
}
