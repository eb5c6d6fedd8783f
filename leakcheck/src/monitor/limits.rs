//! The limits a resource grows towards, for the predicted time to reach them: the cgroup v2
//! `memory.max` and `RLIMIT_AS` for memory, the cgroup `pids.max` for threads, `RLIMIT_NOFILE`
//! for fds — read from `/proc/PID/cgroup`, `/sys/fs/cgroup` and `/proc/PID/limits` — and
//! limits configured by the user, which win.
//!
//! Read once when the monitor starts: limits rarely change while a process runs, and reading
//! `/sys/fs/cgroup` on every sample would cost more than the sample itself.

use super::Resource;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One known limit and where it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// The value: bytes for memory, a count for threads and fds.
    pub value: f64,
    /// Where it was found, e.g. `cgroup memory.max`, `RLIMIT_NOFILE`, `configured`.
    pub source: String,
}

impl Limit {
    fn new(value: f64, source: &str) -> Self {
        Limit {
            value,
            source: source.to_owned(),
        }
    }
}

/// The limits of one process, per resource. The heap and RSS share the memory limit: the heap
/// lives in resident memory, so it cannot grow past it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory (heap and RSS): the lower of the cgroup's `memory.max` (the lowest along the
    /// cgroup's ancestors) and `RLIMIT_AS`. `RLIMIT_AS` bounds the address space, which is
    /// larger than the resident set, so a prediction against it is optimistic.
    pub memory: Option<Limit>,
    /// Threads: the cgroup's `pids.max` (it counts every thread of the cgroup, not only this
    /// process's).
    pub threads: Option<Limit>,
    /// Open fds: the soft `RLIMIT_NOFILE`.
    pub fds: Option<Limit>,
    /// Configured limits, which win over the ones read from the system.
    pub configured: Vec<(Resource, f64)>,
}

impl Limits {
    /// No known limit.
    pub fn none() -> Self {
        Limits::default()
    }

    /// The limits of this process.
    pub fn of_this_process() -> Self {
        Limits::read(Path::new("/proc/self"), Path::new("/sys/fs/cgroup"))
    }

    /// The limits of process `pid` (empty where `/proc/PID` cannot be read).
    pub fn of_process(pid: u32) -> Self {
        Limits::read(
            &PathBuf::from(format!("/proc/{pid}")),
            Path::new("/sys/fs/cgroup"),
        )
    }

    /// Reads the limits of the process whose `/proc` directory is `proc_dir`, with the cgroup v2
    /// hierarchy mounted at `cgroup_root`.
    pub fn read(proc_dir: &Path, cgroup_root: &Path) -> Self {
        let read = |name: &str| std::fs::read_to_string(proc_dir.join(name)).ok();
        let rlimits = read("limits")
            .map(|t| parse_rlimits(&t))
            .unwrap_or_default();
        let cgroup = read("cgroup").and_then(|t| cgroup_v2_path(&t));
        let in_cgroup = |file: &str| {
            cgroup
                .as_deref()
                .and_then(|path| lowest_along(cgroup_root, path, file))
        };
        let memory = [
            in_cgroup("memory.max").map(|v| Limit::new(v, "cgroup memory.max")),
            rlimits.address_space.map(|v| Limit::new(v, "RLIMIT_AS")),
        ]
        .into_iter()
        .flatten()
        .min_by(|a, b| a.value.total_cmp(&b.value));
        Limits {
            memory,
            threads: in_cgroup("pids.max").map(|v| Limit::new(v, "cgroup pids.max")),
            fds: rlimits.open_files.map(|v| Limit::new(v, "RLIMIT_NOFILE")),
            configured: Vec::new(),
        }
    }

    /// Sets a configured limit for `resource` (replacing an earlier one).
    pub fn configure(&mut self, resource: Resource, value: f64) {
        self.configured.retain(|(r, _)| *r != resource);
        self.configured.push((resource, value));
    }

    /// The limit that applies to `resource`: configured, else read from the system.
    pub fn get(&self, resource: Resource) -> Option<Limit> {
        if let Some(&(_, value)) = self.configured.iter().find(|(r, _)| *r == resource) {
            return Some(Limit::new(value, "configured"));
        }
        match resource {
            Resource::Heap | Resource::Rss => self.memory.clone(),
            Resource::Threads => self.threads.clone(),
            Resource::Fds => self.fds.clone(),
        }
    }

    /// The value of [`get`](Self::get).
    pub fn value(&self, resource: Resource) -> Option<f64> {
        self.get(resource).map(|l| l.value)
    }
}

/// Soft limits read from `/proc/PID/limits`; `None` where unlimited.
#[derive(Debug, Default, PartialEq)]
struct Rlimits {
    address_space: Option<f64>,
    open_files: Option<f64>,
}

/// Parses `/proc/PID/limits`: a header, then one line per limit, the name in the first 26
/// columns, then the soft and hard values (`unlimited` or a number) and the unit.
fn parse_rlimits(text: &str) -> Rlimits {
    let soft = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_ascii_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Rlimits {
        address_space: soft("Max address space"),
        open_files: soft("Max open files"),
    }
}

/// The cgroup v2 path in `/proc/PID/cgroup` (the `0::PATH` line), if the process is in one.
fn cgroup_v2_path(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(|path| path.trim().to_owned())
}

/// The lowest numeric value of `file` in the cgroup `path` and its ancestors up to the root
/// (`max` means no limit at that level): a parent's limit caps its children.
fn lowest_along(root: &Path, path: &str, file: &str) -> Option<f64> {
    let mut dir = root.to_path_buf();
    let mut values = Vec::new();
    let mut read = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join(file)).ok();
        values.extend(text.and_then(|t| t.trim().parse::<f64>().ok()));
    };
    read(&dir);
    for part in path.split('/').filter(|p| !p.is_empty() && *p != "..") {
        dir.push(part);
        read(&dir);
    }
    values.into_iter().min_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max address space         8589934592           unlimited            bytes     
Max open files            1024                 1048576              files     
";

    #[test]
    fn reads_soft_rlimits() {
        assert_eq!(
            parse_rlimits(LIMITS),
            Rlimits {
                address_space: Some(8589934592.0),
                open_files: Some(1024.0),
            }
        );
        let unlimited = LIMITS.replace("8589934592", "unlimited");
        assert_eq!(parse_rlimits(&unlimited).address_space, None);
    }

    #[test]
    fn reads_the_lowest_cgroup_limit_along_the_path() {
        let root = std::env::temp_dir().join(format!("leakcheck-limits-{}", std::process::id()));
        let leaf = root.join("system.slice/app.service");
        std::fs::create_dir_all(&leaf).unwrap();
        std::fs::write(root.join("system.slice/memory.max"), "1073741824\n").unwrap();
        std::fs::write(leaf.join("memory.max"), "max\n").unwrap();
        std::fs::write(leaf.join("pids.max"), "512\n").unwrap();
        let proc_dir = root.join("proc");
        std::fs::create_dir_all(&proc_dir).unwrap();
        std::fs::write(proc_dir.join("cgroup"), "0::/system.slice/app.service\n").unwrap();
        std::fs::write(proc_dir.join("limits"), LIMITS).unwrap();

        let mut limits = Limits::read(&proc_dir, &root);
        std::fs::remove_dir_all(&root).unwrap();
        // The parent's 1 GiB is lower than RLIMIT_AS's 8 GiB.
        assert_eq!(limits.get(Resource::Heap).unwrap().value, 1073741824.0);
        assert_eq!(
            limits.get(Resource::Rss).unwrap().source,
            "cgroup memory.max"
        );
        assert_eq!(limits.value(Resource::Threads), Some(512.0));
        assert_eq!(limits.value(Resource::Fds), Some(1024.0));
        limits.configure(Resource::Fds, 100.0);
        assert_eq!(limits.get(Resource::Fds).unwrap().source, "configured");
        assert_eq!(limits.value(Resource::Fds), Some(100.0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_an_fd_limit() {
        let limits = Limits::of_this_process();
        assert!(
            limits.value(Resource::Fds).is_some_and(|v| v > 0.0),
            "{limits:?}"
        );
    }
}
