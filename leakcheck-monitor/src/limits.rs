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
#[non_exhaustive]
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
#[non_exhaustive]
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
            _ => None,
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
            .and_then(parse_count)
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

/// A limit as the kernel writes it: a whole number (`unlimited`, `max`, a negative or fractional
/// number, `NaN` and the like are not a limit). As `f64`, the type predictions are made in.
fn parse_count(text: &str) -> Option<f64> {
    text.trim().parse::<u64>().ok().map(|v| v as f64)
}

/// The lowest numeric value of `file` in the cgroup `path` and its ancestors up to the root
/// (`max` means no limit at that level): a parent's limit caps its children.
fn lowest_along(root: &Path, path: &str, file: &str) -> Option<f64> {
    cgroup_dirs(root, path)
        .into_iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
        .filter_map(|text| parse_count(&text))
        .min_by(f64::total_cmp)
}

/// The directories of the cgroup `path` and of its ancestors, root first. `..` and `.` are
/// skipped, so a hostile `/proc/PID/cgroup` cannot point outside `root`.
fn cgroup_dirs(root: &Path, path: &str) -> Vec<PathBuf> {
    let mut dir = root.to_path_buf();
    let mut dirs = vec![dir.clone()];
    for part in path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".." && *p != ".")
    {
        dir.push(part);
        dirs.push(dir.clone());
    }
    dirs
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

    #[test]
    fn limits_are_whole_numbers() {
        for bad in ["NaN", "inf", "-1", "1.5", "1e999", "max", "unlimited", ""] {
            assert_eq!(parse_count(bad), None, "{bad}");
        }
        assert_eq!(parse_count("1024\n"), Some(1024.0));
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

/// Property tests: the `limits` and `cgroup` parsers on arbitrary and near-valid input.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// A limit as the kernel shows it: a number or `unlimited`.
    fn limit_value() -> impl Strategy<Value = Option<u64>> {
        proptest::option::of(any::<u64>())
    }

    fn shown(value: Option<u64>) -> String {
        value.map_or_else(|| "unlimited".to_owned(), |v| v.to_string())
    }

    proptest! {
        #[test]
        fn rlimits_never_panic_and_give_whole_numbers(text in "\\PC{0,400}") {
            let limits = parse_rlimits(&text);
            for value in [limits.address_space, limits.open_files].into_iter().flatten() {
                prop_assert!(value.is_finite() && value >= 0.0 && value.fract() == 0.0);
            }
        }

        #[test]
        fn rlimits_read_the_soft_values(
            address_space in limit_value(),
            open_files in limit_value(),
            hard in limit_value(),
        ) {
            let text = format!(
                "Limit                     Soft Limit           Hard Limit           Units     \n\
                 Max cpu time              unlimited            unlimited            seconds   \n\
                 Max address space         {:<20} {:<20} bytes     \n\
                 Max open files            {:<20} {:<20} files     \n",
                shown(address_space), shown(hard), shown(open_files), shown(hard)
            );
            let limits = parse_rlimits(&text);
            prop_assert_eq!(limits.address_space, address_space.map(|v| v as f64));
            prop_assert_eq!(limits.open_files, open_files.map(|v| v as f64));
        }

        #[test]
        fn rlimits_survive_truncation_and_mutation(
            value in any::<u64>(),
            cut in 0usize..200,
            flips in proptest::collection::vec((0usize..200, any::<char>()), 0..4),
        ) {
            let line = format!("Max open files            {value:<20} unlimited            files     \n");
            let mut chars: Vec<char> = format!("Limit  Soft Limit  Hard Limit  Units\n{line}").chars().collect();
            for (at, c) in flips {
                let at = at % chars.len();
                chars[at] = c;
            }
            chars.truncate(cut);
            let text: String = chars.into_iter().collect();
            if let Some(found) = parse_rlimits(&text).open_files {
                prop_assert!(found.is_finite() && found >= 0.0);
            }
        }

        #[test]
        fn cgroup_files_never_panic(text in "\\PC{0,300}", lines in proptest::collection::vec("[0-9]{0,2}:[a-z,]{0,10}:[ -~]{0,40}", 0..5)) {
            let _ = cgroup_v2_path(&text);
            let path = cgroup_v2_path(&lines.join("\n"));
            if let Some(path) = path {
                prop_assert!(lines.iter().any(|l| l.starts_with("0::") && l[3..].trim() == path));
            }
        }

        #[test]
        fn cgroup_paths_stay_under_the_root(path in "[a-z./]{0,60}|(/\\.\\.){1,6}/[a-z]{1,8}") {
            let root = Path::new("/sys/fs/cgroup");
            for dir in cgroup_dirs(root, &path) {
                prop_assert!(dir.starts_with(root), "{} for {path:?}", dir.display());
                prop_assert!(!dir.components().any(|c| c == std::path::Component::ParentDir));
            }
        }

        #[test]
        fn cgroup_limits_are_whole_numbers_or_none(text in "\\PC{0,30}", value in any::<u64>()) {
            if let Some(v) = parse_count(&text) {
                prop_assert!(v.is_finite() && v >= 0.0);
            }
            prop_assert_eq!(parse_count(&format!("{value}\n")), Some(value as f64));
            prop_assert_eq!(parse_count("max\n"), None);
        }
    }
}
