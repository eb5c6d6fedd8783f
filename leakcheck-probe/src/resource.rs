//! The one vocabulary of what leakcheck judges.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Something a process holds that can leak. Every leakcheck product names resources with this
/// type: a leak test's verdicts, records, suppressions, figures and pages; `cargo leakcheck
/// diff`; the production monitor's states, metrics and alerts.
///
/// In JSON, metric labels and on the command line each is known by [`Resource::name`]
/// (`"heap"`, `"threads"`, `"fds"`, `"tasks"`, `"rss"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Resource {
    /// Live heap memory (bytes and blocks, from the counting allocator).
    Heap,
    /// Live threads.
    Threads,
    /// Open file descriptors, sockets included.
    Fds,
    /// Live tasks of an async runtime.
    Tasks,
    /// Resident set size: memory the kernel holds for the process, whatever allocated it.
    Rss,
}

impl Resource {
    /// What a leak test judges, in report order.
    pub const LEAK_TEST: [Resource; 4] = [
        Resource::Heap,
        Resource::Threads,
        Resource::Fds,
        Resource::Tasks,
    ];

    /// What the production monitor watches, in display order.
    pub const MONITOR: [Resource; 4] = [
        Resource::Heap,
        Resource::Rss,
        Resource::Threads,
        Resource::Fds,
    ];

    /// The short snake_case name used in JSON, metric labels, options and the command line.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Heap => "heap",
            Resource::Threads => "threads",
            Resource::Fds => "fds",
            Resource::Tasks => "tasks",
            Resource::Rss => "rss",
        }
    }

    /// The name in a sentence for people ("leaked file descriptors").
    pub fn label(self) -> &'static str {
        match self {
            Resource::Heap => "heap",
            Resource::Threads => "threads",
            Resource::Fds => "file descriptors",
            Resource::Tasks => "tasks",
            Resource::Rss => "resident memory",
        }
    }

    /// Whether the resource is a count of discrete things (threads, fds, tasks) rather than an
    /// amount of memory.
    pub fn is_count(self) -> bool {
        matches!(self, Resource::Threads | Resource::Fds | Resource::Tasks)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a [`Resource`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownResource(pub String);

impl fmt::Display for UnknownResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a resource (expected heap, threads, fds, tasks or rss)",
            self.0
        )
    }
}

impl std::error::Error for UnknownResource {}

impl FromStr for Resource {
    type Err = UnknownResource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Resource::Heap,
            Resource::Threads,
            Resource::Fds,
            Resource::Tasks,
            Resource::Rss,
        ]
        .into_iter()
        .find(|r| r.name() == s)
        .ok_or_else(|| UnknownResource(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for r in Resource::LEAK_TEST.into_iter().chain(Resource::MONITOR) {
            assert_eq!(r.name().parse::<Resource>(), Ok(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.name()));
            assert_eq!(serde_json::from_str::<Resource>(&json).unwrap(), r);
        }
        assert!("memory".parse::<Resource>().is_err());
    }
}
