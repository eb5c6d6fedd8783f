//! Simulated leaks: a catalogue of leak families, each case with a clean twin, to demonstrate
//! the checker and to measure how often it is right.
//!
//! Every [`Case`] knows its family ([`Kind`]), whether it really leaks ([`Case::leaky`]), and
//! the ranges its parameters are drawn from. [`Case::params`] draws a [`Params`] from a seed
//! (the same seed always gives the same parameters), and [`Case::body`] builds the closure to
//! check: its state (a global map, a channel, a runtime…) lives in the closure, so each body
//! starts from scratch. Leaky families cover threads that never end, async tasks that never
//! complete (`tokio` feature), forgotten files, pipes and sockets, structures that only grow,
//! reference cycles, callbacks never removed and `Box::leak`/`mem::forget`; the hard cases are
//! tiny, intermittent, sawtooth-hidden and amortized leaks, and clean code that fools naive
//! checkers (bounded caches, lazy tables, sawtooth and oscillating buffers, thread pools started
//! on first use, detached threads that finish late, output written every call).
//!
//! `cargo leakcheck simulate --all` runs the whole catalogue, each case in a process of its own,
//! and measures recall and the false-positive rate. In a program of your own:
//!
//! ```
//! leakcheck::global_allocator!();
//!
//! use cargo_leakcheck::simulate::catalogue::{catalogue, Kind};
//!
//! fn main() {
//!     for case in catalogue().iter().filter(|c| c.kind == Kind::Forgotten) {
//!         let params = case.params(0);
//!         let report = leakcheck::Check::new().name(case.name).run(case.body(&params));
//!         assert_eq!(report.is_leak(), case.leaky, "{}: {report}", case.name);
//!     }
//! }
//! ```
//!
//! Like any [`Check`](leakcheck::Check), a case should run where nothing else allocates, spawns
//! threads or opens files meanwhile. Threads a leaky body left blocked are released when the body
//! is dropped; memory leaked with `Box::leak` or `mem::forget`, and forgotten fds, stay leaked
//! until the process exits.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

mod hard;
mod references;
mod resources;
mod structures;
mod tasks;
mod threads;

/// The closure a case is checked with. `Send`, so that it can be handed to another thread.
pub type Body = Box<dyn FnMut() + Send>;

/// A leak family. On the command line and in JSON each is known by its singular name
/// ([`Kind::name`]: `"thread"`, `"fd"`, `"string"`, …).
///
/// The variants are plural on purpose: a public item named like a std type (`String`, `Vec`,
/// `Thread`, `Cycle`) would make the compiler spell out `std::string::String` in the error
/// messages of every crate that depends on leakcheck.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Kind {
    /// Threads blocked, parked or looping forever.
    #[serde(rename = "thread")]
    Threads,
    /// Async tasks that never complete (needs the `tokio` feature).
    #[serde(rename = "task")]
    Tasks,
    /// File descriptors of files and pipes that are never closed.
    #[serde(rename = "fd")]
    Fds,
    /// Listening sockets and accepted connections that are never closed.
    #[serde(rename = "socket")]
    Sockets,
    /// Maps that only grow.
    #[serde(rename = "map")]
    Maps,
    /// Vectors that only grow.
    #[serde(rename = "vec")]
    Vecs,
    /// Strings that only grow.
    #[serde(rename = "string")]
    Strings,
    /// Channels whose messages are never received.
    #[serde(rename = "channel")]
    Channels,
    /// Interners without a bound.
    #[serde(rename = "interner")]
    Interners,
    /// `Rc`/`Arc` reference cycles.
    #[serde(rename = "cycle")]
    Cycles,
    /// Callbacks registered and never removed.
    #[serde(rename = "listener")]
    Listeners,
    /// `Box::leak` and `mem::forget`.
    #[serde(rename = "forget")]
    Forgotten,
}

impl Kind {
    /// Every family, in catalogue order.
    pub const ALL: [Kind; 12] = [
        Kind::Threads,
        Kind::Tasks,
        Kind::Fds,
        Kind::Sockets,
        Kind::Maps,
        Kind::Vecs,
        Kind::Strings,
        Kind::Channels,
        Kind::Interners,
        Kind::Cycles,
        Kind::Listeners,
        Kind::Forgotten,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Threads => "thread",
            Kind::Tasks => "task",
            Kind::Fds => "fd",
            Kind::Sockets => "socket",
            Kind::Maps => "map",
            Kind::Vecs => "vec",
            Kind::Strings => "string",
            Kind::Channels => "channel",
            Kind::Interners => "interner",
            Kind::Cycles => "cycle",
            Kind::Listeners => "listener",
            Kind::Forgotten => "forget",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A family name that is not one of [`Kind::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        write!(
            f,
            "unknown leak type `{}`; the families are: {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownKind {}

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// The parameters of one run of a case, drawn by [`Case::params`] from the case's [`Ranges`].
/// What each one means depends on the case (its [`Case::about`] says); a case ignores those it
/// does not use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Params {
    /// The seed the parameters were drawn from.
    pub seed: u64,
    /// Bytes per call: what a leaky case leaks (or allocates around its leak), what its twin
    /// allocates and frees.
    pub size: usize,
    /// Every how many calls the case acts (1: every call): intermittent leaks, sawtooth periods.
    pub every: usize,
    /// How many things per call (threads, tasks, fds, entries), or the bound of a bounded
    /// structure.
    pub count: usize,
    /// A delay in milliseconds, for cases whose threads finish late.
    pub delay_ms: u64,
}

/// The ranges a case's [`Params`] are drawn from (inclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ranges {
    /// Range of [`Params::size`] (drawn log-uniformly: small and large sizes alike).
    pub size: RangeInclusive<usize>,
    /// Range of [`Params::every`].
    pub every: RangeInclusive<usize>,
    /// Range of [`Params::count`].
    pub count: RangeInclusive<usize>,
    /// Range of [`Params::delay_ms`].
    pub delay_ms: RangeInclusive<u64>,
}

impl Ranges {
    /// One value each: 64 bytes, every call, one thing, no delay. Cases start from this and widen
    /// what they vary.
    pub const FIXED: Ranges = Ranges {
        size: 64..=64,
        every: 1..=1,
        count: 1..=1,
        delay_ms: 0..=0,
    };
}

/// One simulated case: a body that leaks, or a clean twin doing similar work without leaking.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Case {
    /// Unique name, in snake_case (what `cargo leakcheck simulate` prints).
    pub name: &'static str,
    /// Its family.
    pub kind: Kind,
    /// The truth: whether the body really leaks.
    pub leaky: bool,
    /// One of the hard cases: a leak that is tiny, intermittent, hidden or amortized, or clean
    /// code with the patterns that fool naive checkers.
    pub hard: bool,
    /// For a leaky case, the clean case doing similar work without the leak.
    pub twin: Option<&'static str>,
    /// What the body does, in one sentence.
    pub about: &'static str,
    /// Where its parameters are drawn from.
    pub ranges: Ranges,
    make: fn(&Params) -> Body,
}

impl Case {
    /// A leaky case whose clean counterpart is `twin`.
    fn leak(
        name: &'static str,
        kind: Kind,
        twin: &'static str,
        about: &'static str,
        ranges: Ranges,
        make: fn(&Params) -> Body,
    ) -> Case {
        Case {
            name,
            kind,
            leaky: true,
            hard: false,
            twin: Some(twin),
            about,
            ranges,
            make,
        }
    }

    /// A clean case.
    fn clean(
        name: &'static str,
        kind: Kind,
        about: &'static str,
        ranges: Ranges,
        make: fn(&Params) -> Body,
    ) -> Case {
        Case {
            name,
            kind,
            leaky: false,
            hard: false,
            twin: None,
            about,
            ranges,
            make,
        }
    }

    /// Marks the case as one of the hard ones.
    fn hard(self) -> Case {
        Case { hard: true, ..self }
    }

    /// The parameters for `seed`, drawn from [`Case::ranges`]. The draw also depends on the
    /// case's name, so that one seed gives different cases different values.
    pub fn params(&self, seed: u64) -> Params {
        let mut rng = SplitMix(seed ^ fnv1a(self.name.as_bytes()));
        let r = &self.ranges;
        Params {
            seed,
            size: rng.log_uniform(r.size.clone()),
            every: rng.uniform(r.every.clone()),
            count: rng.uniform(r.count.clone()),
            delay_ms: rng.uniform_u64(r.delay_ms.clone()),
        }
    }

    /// A fresh body for these parameters, with state of its own.
    pub fn body(&self, params: &Params) -> Body {
        (self.make)(params)
    }
}

/// Every case, family by family.
pub fn catalogue() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(threads::cases());
    cases.extend(tasks::cases());
    cases.extend(resources::cases());
    cases.extend(structures::cases());
    cases.extend(references::cases());
    cases.extend(hard::cases());
    // Family order, then leaky before clean, keeping each file's order within.
    cases.sort_by_key(|c| (c.kind, !c.leaky));
    cases
}

/// The case called `name`.
pub fn find(name: &str) -> Option<Case> {
    catalogue().into_iter().find(|c| c.name == name)
}

/// SplitMix64: small, seedable, and good enough to spread parameters.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    /// A uniform draw in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform_u64(&mut self, range: RangeInclusive<u64>) -> u64 {
        let (lo, hi) = range.into_inner();
        if hi <= lo {
            return lo;
        }
        lo + self.next() % (hi - lo + 1)
    }

    fn uniform(&mut self, range: RangeInclusive<usize>) -> usize {
        let (lo, hi) = range.into_inner();
        self.uniform_u64(lo as u64..=hi as u64) as usize
    }

    /// Log-uniform between the bounds: 1..=4096 gives sizes below 64 as often as above.
    fn log_uniform(&mut self, range: RangeInclusive<usize>) -> usize {
        let (lo, hi) = range.into_inner();
        if hi <= lo {
            return lo;
        }
        let (a, b) = ((lo.max(1) as f64).ln(), ((hi + 1) as f64).ln());
        ((a + (b - a) * self.unit()).exp() as usize).clamp(lo, hi)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Spawns a named thread (the name shows in the report's list of threads left behind).
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("spawn a thread")
}

#[cfg(test)]
mod tests;
