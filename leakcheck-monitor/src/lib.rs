//! The production leak monitor: a background sampler of the live heap,
//! allocation rate, RSS, threads and fds, online trend detection per resource, alerts when a
//! resource starts leaking (and when it stops), and renderers for Prometheus, JSON and a
//! dashboard, with an optional small HTTP endpoint.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! source (what is sampled: this process, or another by pid)
//!   → Sample, every `interval`, into a bounded ring (history)
//!   → detect (a Detector per resource: ok / suspected / leaking, growth rate, time to limit)
//!   → growth (while the heap is not ok: heap-sampler snapshots compared, call sites ranked)
//!   → alert (sinks: callback, log line, webhook, Alertmanager) on state changes
//!   → render (Prometheus text, /api/status JSON, /api/samples JSON, dashboard HTML)
//!   → serve (optional HTTP endpoint, loopback by default)
//! ```
//!
//! The types shared by the stages are defined here.
//!
//! A service installs the counting allocator (the one line of a binary that has leak tests too:
//! one global allocator, one set of counters for both), starts the monitor and serves or reads
//! what it sees:
//!
//! ```
//! leakcheck_monitor::global_allocator!();
//!
//! use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
//! use std::time::{Duration, Instant};
//!
//! fn main() -> std::io::Result<()> {
//!     let monitor = Monitor::start(MonitorConfig::new().log_alerts())?;
//!     let handle = monitor.handle();
//!     // The first sample is taken as the monitor starts.
//!     let deadline = Instant::now() + Duration::from_secs(30);
//!     while handle.latest().is_none() && Instant::now() < deadline {
//!         std::thread::sleep(Duration::from_millis(5));
//!     }
//!     let sample = handle.latest().expect("a first sample");
//!     assert!(sample.heap_bytes.is_some(), "the counting allocator is installed");
//!
//!     let prometheus = leakcheck_monitor::render::metrics(&handle.status(), Some(&sample));
//!     assert!(prometheus.contains("leakcheck_heap_live_bytes"), "{prometheus}");
//!     monitor.stop();
//!     Ok(())
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

use serde::{Deserialize, Serialize};

pub use leakcheck_alloc::global_allocator;
pub use leakcheck_probe::Resource;

pub mod alert;
pub mod dashboard;
pub mod detect;
mod error;
pub mod growth;
pub mod limits;
pub mod profile;
pub mod render;
pub mod sampler;
pub mod serve;
pub mod source;
#[doc(hidden)]
pub mod streams;

/// One observation of a process. `None` where the value cannot be read (no counting allocator
/// installed, no `/proc`, another process's heap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sample {
    /// Milliseconds since the Unix epoch when the sample was taken.
    pub unix_ms: u64,
    /// Live heap bytes (counting allocator).
    pub heap_bytes: Option<u64>,
    /// Live heap blocks (counting allocator).
    pub heap_blocks: Option<u64>,
    /// Allocations since the process started (the rate is the difference between samples).
    pub allocations_total: Option<u64>,
    /// Resident set size in bytes (`/proc/PID/statm`).
    pub rss_bytes: Option<u64>,
    /// Live threads.
    pub threads: Option<u32>,
    /// Open file descriptors.
    pub fds: Option<u32>,
}

impl Sample {
    /// The value of `resource` in this sample, as a number; `None` where it was not observed
    /// and for resources the monitor does not sample (tasks).
    pub fn value(&self, resource: Resource) -> Option<f64> {
        match resource {
            Resource::Heap => self.heap_bytes.map(|v| v as f64),
            Resource::Rss => self.rss_bytes.map(|v| v as f64),
            Resource::Threads => self.threads.map(f64::from),
            Resource::Fds => self.fds.map(f64::from),
            _ => None,
        }
    }
}

/// The state of one resource.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum State {
    /// No persistent growth.
    #[default]
    Ok,
    /// Growth seen, not yet persistent enough to alert.
    Suspected,
    /// Persistent growth: an alert is firing.
    Leaking,
}

/// What the monitor knows about one resource now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceStatus {
    /// Which resource.
    pub resource: Resource,
    /// Its state.
    pub state: State,
    /// The latest value (bytes, or a count).
    pub value: Option<f64>,
    /// Estimated growth per second over the detection window (0 when not growing).
    pub growth_per_sec: f64,
    /// The limit it grows towards, when known (cgroup `memory.max`, `RLIMIT_AS`,
    /// `RLIMIT_NOFILE`, or configured).
    pub limit: Option<f64>,
    /// Seconds until `limit` at `growth_per_sec`, when both are known and it is growing.
    pub seconds_to_limit: Option<f64>,
    /// Since when (Unix ms) the resource has been in this state.
    pub since_unix_ms: u64,
    /// Why, in one sentence.
    pub reason: String,
}

impl ResourceStatus {
    /// `resource` in `state` with nothing else known: no value, no growth, no limit. The
    /// monitor's detector fills in the rest; this is for other sources of a
    /// [`View`](serve::View), and for tests.
    pub fn new(resource: Resource, state: State) -> Self {
        ResourceStatus {
            resource,
            state,
            value: None,
            growth_per_sec: 0.0,
            limit: None,
            seconds_to_limit: None,
            since_unix_ms: 0,
            reason: String::new(),
        }
    }
}

/// The monitor's view of the process: what `/api/status` serves.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Status {
    /// True when any resource is suspected or leaking.
    pub leak_suspected: bool,
    /// One entry per observed resource.
    pub resources: Vec<ResourceStatus>,
    /// Samples taken so far.
    pub samples_taken: u64,
    /// The sampling interval in milliseconds.
    pub interval_ms: u64,
    /// The process watched.
    pub pid: u32,
    /// The heap profile directory, when one is configured.
    pub profiles: Option<profile::ProfileStoreStatus>,
    /// The heap profile's view: where the heap grows. `None` when the monitor does not sample
    /// the heap (another process, or sampling turned off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap: Option<HeapStatus>,
}

/// What the heap sampler says about the heap (see [`growth`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HeapStatus {
    /// The sampling rate: one sample per this many bytes allocated on average (0: off).
    pub sampling_rate: u64,
    /// While the heap is suspected or leaking, the call sites whose in-use bytes grow for
    /// certain over the detector's window, largest growth first (at most
    /// [`HeapStatus::MAX_GROWING`]); empty while the heap is ok.
    #[serde(default)]
    pub growing: Vec<growth::GrowingSite>,
    /// Sites that grew over the same span but not for certain (left out of `growing`).
    #[serde(default)]
    pub uncertain: usize,
    /// When the snapshot compared against was taken (Unix ms): about a window before
    /// `head_unix_ms`.
    #[serde(default)]
    pub base_unix_ms: Option<u64>,
    /// When the current snapshot was taken (Unix ms).
    #[serde(default)]
    pub head_unix_ms: Option<u64>,
}

impl HeapStatus {
    /// The most growing sites `/api/status` lists.
    pub const MAX_GROWING: usize = 10;

    /// Sampling at `sampling_rate`, nothing growing.
    pub fn new(sampling_rate: u64) -> Self {
        HeapStatus {
            sampling_rate,
            ..HeapStatus::default()
        }
    }
}

/// An alert: a resource started leaking (firing) or stopped (resolved). One per episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alert {
    /// Which resource.
    pub resource: Resource,
    /// True while the episode lasts; false on the alert that resolves it.
    pub firing: bool,
    /// When the episode started (Unix ms).
    pub starts_at_unix_ms: u64,
    /// When it ended (Unix ms), on the resolving alert.
    pub ends_at_unix_ms: Option<u64>,
    /// One line for people: what grows, how fast, when it reaches its limit.
    pub summary: String,
    /// The status of the resource when the alert was raised.
    pub status: ResourceStatus,
    /// The process watched.
    pub pid: u32,
    /// Heap alerts: the call sites that grow for certain, largest first (at most
    /// [`Alert::MAX_SITES`]); empty when none is certain yet, or for other resources. A
    /// resolving alert names the sites of the episode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub growing: Vec<growth::GrowingSite>,
}

impl Alert {
    /// The most growing sites an alert names.
    pub const MAX_SITES: usize = 3;
}
#[cfg(test)]
global_allocator!();
