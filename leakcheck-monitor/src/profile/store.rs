//! The profile directory: heap profiles written every [`ProfileStorage::interval`] and on every
//! change of a resource's state, at most [`ProfileStorage::max_files`] files and
//! [`ProfileStorage::max_bytes`] bytes, oldest out first.
//!
//! A file is written beside its final name and renamed into place, so a reader (`go tool
//! pprof`, `cargo leakcheck profile`) never sees half a profile. Room is made before writing:
//! old profiles go until the new one fits both limits, and a profile is not written at all
//! when it would not fit alone or when the filesystem would be left with less than
//! [`MIN_FREE_BYTES`]: the directory never fills the disk. A write that fails is counted and
//! its error kept for `/api/status`; sampling goes on.
//!
//! Names are `heap-<unix ms, 13 digits>-<reason>.pb.gz`, so that they sort by time. The
//! newest `baseline` profile (the heap before the current episode of growth) is kept by
//! rotation while newer ones come and go.

use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Space a write must leave free on the profile directory's filesystem.
pub const MIN_FREE_BYTES: u64 = 64 << 20;

/// Where and how the monitor stores heap profiles ([`MonitorConfig::profiles`]).
///
/// [`MonitorConfig::profiles`]: crate::sampler::MonitorConfig::profiles
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileStorage {
    /// The directory (created if missing).
    pub dir: PathBuf,
    /// Time between periodic profiles. Default 5 minutes.
    #[serde(with = "crate::detect::millis")]
    pub interval: Duration,
    /// Most profiles kept. Default 288 (a day at the default interval, before state changes).
    pub max_files: usize,
    /// Most bytes kept. Default 256 MiB.
    pub max_bytes: u64,
}

impl ProfileStorage {
    /// Profiles in `dir`, with the default interval and limits.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ProfileStorage {
            dir: dir.into(),
            interval: Duration::from_secs(300),
            max_files: 288,
            max_bytes: 256 << 20,
        }
    }

    /// A periodic profile every `interval`.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// At most `files` profiles (at least 1).
    pub fn max_files(mut self, files: usize) -> Self {
        self.max_files = files.max(1);
        self
    }

    /// At most `bytes` bytes of profiles.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }
}

/// What the profile directory holds and how writing it went (`/api/status` `profiles`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileStoreStatus {
    /// The directory.
    pub dir: PathBuf,
    /// Profiles written since the monitor started.
    pub written: u64,
    /// Writes that failed (or were refused for lack of room) since the monitor started.
    pub failed: u64,
    /// The newest profile written.
    pub last_written: Option<PathBuf>,
    /// The error of the last failed write, when the last write failed.
    pub last_error: Option<String>,
    /// Profiles in the directory now, and their bytes.
    pub files: usize,
    /// Bytes of the profiles in the directory now.
    pub bytes: u64,
}

/// The directory and its bookkeeping.
#[derive(Debug)]
pub(crate) struct Store {
    config: ProfileStorage,
    status: ProfileStoreStatus,
    last_periodic_ms: Option<u64>,
}

/// One stored profile: its name and size.
struct Stored {
    path: PathBuf,
    bytes: u64,
}

impl Store {
    pub(crate) fn new(config: ProfileStorage) -> Self {
        Store {
            status: ProfileStoreStatus {
                dir: config.dir.clone(),
                ..ProfileStoreStatus::default()
            },
            config,
            last_periodic_ms: None,
        }
    }

    pub(crate) fn status(&self) -> &ProfileStoreStatus {
        &self.status
    }

    /// Whether a periodic profile is due at `now_ms` (the first one is due at once).
    pub(crate) fn periodic_due(&mut self, now_ms: u64) -> bool {
        let interval = self.config.interval.as_millis() as u64;
        let due = self
            .last_periodic_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= interval.max(1));
        if due {
            self.last_periodic_ms = Some(now_ms);
        }
        due
    }

    /// Writes `profile` (gzipped profile.proto) as taken at `now_ms` for `reason` (a
    /// lowercase word or two joined by `-`), making room first. Failures are kept in the
    /// status and returned.
    pub(crate) fn write(
        &mut self,
        now_ms: u64,
        reason: &str,
        profile: &[u8],
    ) -> io::Result<PathBuf> {
        let result = self.try_write(now_ms, reason, profile);
        match &result {
            Ok(path) => {
                self.status.written += 1;
                self.status.last_written = Some(path.clone());
                self.status.last_error = None;
            }
            Err(e) => {
                self.status.failed += 1;
                self.status.last_error = Some(e.to_string());
            }
        }
        if let Ok(stored) = self.list() {
            self.status.files = stored.len();
            self.status.bytes = stored.iter().map(|s| s.bytes).sum();
        }
        result
    }

    /// Counts a profile that could not even be made (sampling off, say).
    pub(crate) fn failed(&mut self, why: &str) {
        self.status.failed += 1;
        self.status.last_error = Some(why.to_owned());
    }

    fn try_write(&mut self, now_ms: u64, reason: &str, profile: &[u8]) -> io::Result<PathBuf> {
        let dir = &self.config.dir;
        let context = |what: &str, path: &Path, e: io::Error| {
            io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| context("cannot create", dir, e))?;
        let size = profile.len() as u64;
        if size > self.config.max_bytes {
            return Err(io::Error::other(format!(
                "a heap profile of {size} bytes is larger than the profile directory's limit \
                 of {} bytes (ProfileStorage::max_bytes); not written",
                self.config.max_bytes
            )));
        }
        self.make_room(size)
            .map_err(|e| context("cannot rotate", dir, e))?;
        if let Some(free) = free_bytes(dir) {
            if free < size + MIN_FREE_BYTES {
                return Err(io::Error::other(format!(
                    "{} has {free} bytes free: a {size}-byte heap profile would leave less than \
                     {MIN_FREE_BYTES}; not written",
                    dir.display()
                )));
            }
        }
        let name = format!("heap-{now_ms:013}-{reason}.pb.gz");
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(profile)?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(context("cannot write", &path, e));
        }
        Ok(path)
    }

    /// Removes the oldest profiles until one more of `size` bytes fits both limits. The newest
    /// baseline stays while anything else can go.
    fn make_room(&self, size: u64) -> io::Result<()> {
        let stored = self.list()?;
        let keep = stored
            .iter()
            .rposition(|s| s.path.to_string_lossy().ends_with("-baseline.pb.gz"));
        // Oldest first, the kept baseline last of all.
        let order = (0..stored.len()).filter(|&i| Some(i) != keep).chain(keep);
        let mut files = stored.len();
        let mut bytes: u64 = stored.iter().map(|s| s.bytes).sum();
        for victim in order {
            if files < self.config.max_files && bytes + size <= self.config.max_bytes {
                break;
            }
            match std::fs::remove_file(&stored[victim].path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            files -= 1;
            bytes -= stored[victim].bytes;
        }
        Ok(())
    }

    /// The profiles in the directory, oldest first.
    fn list(&self) -> io::Result<Vec<Stored>> {
        let mut stored = Vec::new();
        for entry in std::fs::read_dir(&self.config.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with("heap-") && name.ends_with(".pb.gz")) {
                continue;
            }
            let bytes = entry.metadata().map_or(0, |m| m.len());
            stored.push(Stored {
                path: entry.path(),
                bytes,
            });
        }
        stored.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(stored)
    }
}

/// Bytes available to this process on the filesystem of `dir`, when it can be asked.
#[cfg(unix)]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a statvfs to fill.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir()
            .join(format!("leakcheck-profile-store-{}", std::process::id()))
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn files_rotate_oldest_first_within_both_limits() {
        let d = dir("rotate");
        let mut store = Store::new(ProfileStorage::new(&d).max_files(3).max_bytes(250));
        for t in 1..=5 {
            store.write(t, "periodic", &[0u8; 60]).unwrap();
        }
        assert_eq!(
            names(&d),
            [
                "heap-0000000000003-periodic.pb.gz",
                "heap-0000000000004-periodic.pb.gz",
                "heap-0000000000005-periodic.pb.gz"
            ]
        );
        // The byte limit: a 200-byte profile leaves room for nothing else.
        store.write(6, "heap-leaking", &[0u8; 200]).unwrap();
        assert_eq!(names(&d), ["heap-0000000000006-heap-leaking.pb.gz"]);
        assert_eq!(
            (
                store.status().written,
                store.status().files,
                store.status().bytes
            ),
            (6, 1, 200)
        );
        // Too large alone: refused, nothing removed, counted and said.
        let err = store.write(7, "periodic", &[0u8; 251]).unwrap_err();
        assert!(err.to_string().contains("max_bytes"), "{err}");
        assert_eq!(names(&d).len(), 1);
        assert_eq!(store.status().failed, 1);
        assert!(store.status().last_error.is_some());
        // The next good write clears the error.
        store.write(8, "periodic", &[0u8; 10]).unwrap();
        assert_eq!(store.status().last_error, None);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_newest_baseline_outlives_newer_profiles() {
        let d = dir("baseline");
        let mut store = Store::new(ProfileStorage::new(&d).max_files(3));
        store.write(1, "periodic", b"a").unwrap();
        store.write(2, "baseline", b"b").unwrap();
        for t in 3..=9 {
            store.write(t, "periodic", b"c").unwrap();
        }
        assert_eq!(
            names(&d),
            [
                "heap-0000000000002-baseline.pb.gz",
                "heap-0000000000008-periodic.pb.gz",
                "heap-0000000000009-periodic.pb.gz"
            ]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_an_error_that_names_it() {
        let d = dir("blocked");
        std::fs::create_dir_all(d.parent().unwrap()).unwrap();
        std::fs::write(&d, b"a file where the directory should be").unwrap();
        let mut store = Store::new(ProfileStorage::new(d.join("profiles")));
        let err = store.write(1, "periodic", b"x").unwrap_err();
        assert!(err.to_string().contains("profiles"), "{err}");
        assert_eq!((store.status().written, store.status().failed), (0, 1));
        let _ = std::fs::remove_file(&d);
    }

    #[test]
    fn periodic_profiles_are_due_once_per_interval() {
        let mut store = Store::new(ProfileStorage::new("unused").interval(Duration::from_secs(10)));
        let due: Vec<bool> = [0, 5_000, 9_999, 10_000, 15_000, 20_001]
            .iter()
            .map(|&t| store.periodic_due(t))
            .collect();
        assert_eq!(due, [true, false, false, true, false, true]);
    }
}
