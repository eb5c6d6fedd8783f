//! pprof's `profile.proto` (github.com/google/pprof, `proto/profile.proto`): a [`ProfileBuilder`]
//! that writes one, gzipped as `go tool pprof`, Parca, Grafana Alloy / Pyroscope read it, a
//! [`decode`]r that reads one back into a [`Profile`], and the [`sites`] analysis (top call sites,
//! growth between two profiles) fingerprinted like the test harness's attribution.
//!
//! The production monitor serves heap profiles with it (`/debug/pprof/heap`) and stores them;
//! `cargo leakcheck profile top|diff` reads them. A sampler snapshot maps onto the builder
//! directly: each live sample is a stack of return addresses (innermost first) with
//! [`HeapValues::live`] and its labels (thread, age), each stack's cumulative allocations one
//! more sample with [`HeapValues::allocated`]; pprof adds up samples of the same stack.
//!
//! ```
//! use leakcheck_probe::pprof::{decode, HeapValues, Label, ProfileBuilder};
//!
//! #[inline(never)]
//! fn here() -> Vec<usize> {
//!     let mut ips = Vec::new();
//!     backtrace::trace(|frame| { ips.push(frame.ip() as usize); true });
//!     ips
//! }
//!
//! let mut profile = ProfileBuilder::heap(512 * 1024);
//! let live = HeapValues::live(4096, 1.0);
//! profile.add_sample(&here(), &live.values(), vec![Label::str("thread", "main"), Label::num("age", 3, "seconds")]);
//! let bytes = profile.encode_gzip();
//!
//! let read = decode(&bytes).unwrap();
//! let inuse = read.sample_index("inuse_space").unwrap();
//! assert_eq!(read.samples[0].values[inuse], 4096);
//! assert_eq!(read.default_sample_type.as_deref(), Some("inuse_space"));
//! ```

use crate::symbols::Frame;
use serde::{Deserialize, Serialize};
use std::fmt;

mod decode;
mod encode;
mod gzip;
pub mod mappings;
mod schema;
pub mod sites;
mod wire;

pub use decode::{decode, DecodeError};
pub use encode::ProfileBuilder;

/// What a value of a sample measures, e.g. `inuse_space` in `bytes` (protobuf `ValueType`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ValueType {
    /// The name, e.g. `alloc_objects`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The unit, e.g. `count`, `bytes`.
    pub unit: String,
}

impl ValueType {
    /// `kind` measured in `unit`.
    pub fn new(kind: impl Into<String>, unit: impl Into<String>) -> Self {
        ValueType {
            kind: kind.into(),
            unit: unit.into(),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.unit)
    }
}

/// How many innermost addresses of `stack` are the allocation path (the counting allocator,
/// `alloc`, a tracer's capture): a profile leaves them out so that a sample's leaf is the
/// function that allocated and `go tool pprof -top` names it, as Go's runtime trims its own
/// frames. 0 when no address resolves to anything else. `frames_of` resolves one address to
/// its frames, innermost (inlined) first.
pub fn allocation_path_len(
    stack: &[usize],
    frames_of: &mut dyn FnMut(usize) -> Vec<Frame>,
) -> usize {
    stack
        .iter()
        .position(|&ip| {
            let frames = frames_of(ip);
            !frames.is_empty() && !frames.iter().all(crate::symbols::is_allocation_path)
        })
        .unwrap_or(0)
}

/// What a profile's location shows of one address, from what [`symbols::resolve`] gave for it:
/// nothing when it did not resolve (the location stays unsymbolized), and without its innermost
/// inlined frames on the allocation path (`Box::new` inlined into the function that called it),
/// so that the allocating function is the leaf.
///
/// [`symbols::resolve`]: crate::symbols::resolve
pub fn location_frames(mut frames: Vec<Frame>) -> Vec<Frame> {
    drop_placeholders(&mut frames);
    let path = frames
        .iter()
        .take_while(|f| crate::symbols::is_allocation_path(f))
        .count();
    if path < frames.len() {
        frames.drain(..path);
    }
    frames
}

/// Drops the `0x…` placeholder [`crate::symbols::resolve`] gives an address that resolves to
/// nothing, so that its location stays unsymbolized rather than named after a number.
pub(crate) fn drop_placeholders(frames: &mut Vec<Frame>) {
    frames.retain(|f| !(f.file.is_none() && f.function.starts_with("0x")));
}

/// The names of Go's four heap sample types, in Go's order; [`heap_sample_types`] has the units.
pub const HEAP_SAMPLE_TYPES: [&str; 4] = [
    "alloc_objects",
    "alloc_space",
    "inuse_objects",
    "inuse_space",
];

/// Go's heap sample types: `alloc_objects`/count, `alloc_space`/bytes, `inuse_objects`/count,
/// `inuse_space`/bytes (the order of `runtime/pprof`, so that tools that assume it work).
pub fn heap_sample_types() -> Vec<ValueType> {
    HEAP_SAMPLE_TYPES
        .iter()
        .zip(["count", "bytes", "count", "bytes"])
        .map(|(kind, unit)| ValueType::new(*kind, unit))
        .collect()
}

/// The four values of a heap sample, in the order of [`heap_sample_types`]. Weighted values
/// (a sample stands for `weight` allocations of its size) are rounded to whole numbers, as
/// pprof stores integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapValues {
    /// Allocations made (estimated).
    pub alloc_objects: i64,
    /// Bytes allocated (estimated).
    pub alloc_space: i64,
    /// Allocations still live (estimated).
    pub inuse_objects: i64,
    /// Bytes still live (estimated).
    pub inuse_space: i64,
}

impl HeapValues {
    /// A live sampled block of `size` bytes that stands for `weight` blocks (the sampler's
    /// unbiasing weight, `1 / (1 - exp(-size / rate))`; 1.0 when every block is recorded).
    pub fn live(size: u64, weight: f64) -> Self {
        HeapValues {
            inuse_objects: weight.round() as i64,
            inuse_space: (size as f64 * weight).round() as i64,
            ..HeapValues::default()
        }
    }

    /// A stack's cumulative allocations: `objects` blocks of `bytes` bytes in all (estimated).
    pub fn allocated(objects: f64, bytes: f64) -> Self {
        HeapValues {
            alloc_objects: objects.round() as i64,
            alloc_space: bytes.round() as i64,
            ..HeapValues::default()
        }
    }

    /// The values in the order of [`heap_sample_types`].
    pub fn values(&self) -> [i64; 4] {
        [
            self.alloc_objects,
            self.alloc_space,
            self.inuse_objects,
            self.inuse_space,
        ]
    }
}

/// A label of a sample: a key with a string, or a number with an optional unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// The key, e.g. `thread`, `age`.
    pub key: String,
    /// The value.
    pub value: LabelValue,
}

/// The value of a [`Label`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelValue {
    /// A string, e.g. a thread name.
    Str(String),
    /// A number, with its unit when it has one (`seconds`, `bytes`, ...).
    Num {
        /// The number.
        value: i64,
        /// The unit.
        unit: Option<String>,
    },
}

impl Label {
    /// A string label, e.g. `Label::str("thread", "worker-1")`.
    pub fn str(key: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            key: key.into(),
            value: LabelValue::Str(value.into()),
        }
    }

    /// A numeric label with a unit, e.g. `Label::num("age", 30, "seconds")`.
    pub fn num(key: impl Into<String>, value: i64, unit: impl Into<String>) -> Self {
        Label {
            key: key.into(),
            value: LabelValue::Num {
                value,
                unit: Some(unit.into()).filter(|u: &String| !u.is_empty()),
            },
        }
    }
}

/// One mapped executable file (or `[vdso]`): where it is in memory, from which file offset,
/// and its build id. [`mappings::current`] lists this process's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub limit: u64,
    /// Offset in the file of `start`.
    pub offset: u64,
    /// The file, or a kernel name such as `[vdso]`.
    pub file: String,
    /// The GNU build id as hex, when the file has one.
    pub build_id: Option<String>,
    /// Whether the locations in this mapping have function names. Read from a profile; the
    /// builder sets it from what symbolization found, whatever it is given.
    pub has_functions: bool,
    /// Whether they have file names (read from a profile, like `has_functions`).
    pub has_filenames: bool,
    /// Whether they have line numbers (read from a profile, like `has_functions`).
    pub has_line_numbers: bool,
    /// Whether inlined frames were expanded (read from a profile, like `has_functions`).
    pub has_inline_frames: bool,
}

impl Mapping {
    /// `file` mapped at `start..limit` from file offset `offset`, without build id.
    pub fn new(start: u64, limit: u64, offset: u64, file: impl Into<String>) -> Self {
        Mapping {
            start,
            limit,
            offset,
            file: file.into(),
            ..Mapping::default()
        }
    }
}

/// A decoded profile: what [`decode`] reads from a `profile.proto`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// What each value of a sample measures.
    pub sample_types: Vec<ValueType>,
    /// The sample type viewers show first, when the profile names one.
    pub default_sample_type: Option<String>,
    /// The kind of events between samples, e.g. `space`/`bytes`.
    pub period_type: Option<ValueType>,
    /// Events between samples, e.g. 524288 bytes.
    pub period: i64,
    /// When the profile was taken, in nanoseconds since the Unix epoch (0: unknown).
    pub time_nanos: i64,
    /// How long it covers, in nanoseconds (0: a snapshot).
    pub duration_nanos: i64,
    /// Free-form comments.
    pub comments: Vec<String>,
    /// The samples, in file order.
    pub samples: Vec<Sample>,
    /// The mappings, the main binary first.
    pub mappings: Vec<Mapping>,
}

impl Profile {
    /// The index in [`Sample::values`] of the sample type called `kind`.
    pub fn sample_index(&self, kind: &str) -> Option<usize> {
        self.sample_types.iter().position(|t| t.kind == kind)
    }

    /// The sample type viewers show by default: `default_sample_type`, else the last one
    /// (profile.proto's rule). `None` when the profile has no sample type.
    pub fn default_index(&self) -> Option<usize> {
        self.default_sample_type
            .as_deref()
            .and_then(|kind| self.sample_index(kind))
            .or_else(|| self.sample_types.len().checked_sub(1))
    }
}

/// One sample of a decoded profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sample {
    /// The address of each location of the stack, innermost first.
    pub addresses: Vec<u64>,
    /// The resolved stack, innermost first, inlined frames expanded (one location with two
    /// lines gives two frames). A location without lines gives one frame named by its address
    /// (`0x…`).
    pub frames: Vec<Frame>,
    /// One value per sample type.
    pub values: Vec<i64>,
    /// The labels.
    pub labels: Vec<Label>,
}

impl Sample {
    /// The string value of label `key`.
    pub fn str_label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find_map(|l| match &l.value {
            LabelValue::Str(s) if l.key == key => Some(s.as_str()),
            _ => None,
        })
    }

    /// The numeric value of label `key`, with its unit.
    pub fn num_label(&self, key: &str) -> Option<(i64, Option<&str>)> {
        self.labels.iter().find_map(|l| match &l.value {
            LabelValue::Num { value, unit } if l.key == key => Some((*value, unit.as_deref())),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
