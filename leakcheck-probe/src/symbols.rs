//! From return addresses to the user's code: symbol resolution, trimming of the machinery frames
//! (std, core, alloc, leakcheck, the backtrace crate, libtest) and fingerprints that stay the
//! same for the same leak across runs and commits.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One resolved stack frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Frame {
    /// Demangled function path, without the hash suffix.
    pub function: String,
    /// Source file, when debug info has it.
    pub file: Option<String>,
    /// Source line, when debug info has it.
    pub line: Option<u32>,
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.function)?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " ({}:{line})", short_path(file)),
            (Some(file), None) => write!(f, " ({})", short_path(file)),
            _ => Ok(()),
        }
    }
}

/// Resolves return addresses (innermost first) to frames; an inlined call yields several frames
/// for one address. Addresses that resolve to nothing are kept as `0x…`.
pub fn resolve(ips: &[usize]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for &ip in ips {
        let before = frames.len();
        backtrace::resolve(ip as *mut std::ffi::c_void, |symbol| {
            frames.push(Frame {
                function: symbol
                    .name()
                    .map_or_else(|| format!("{ip:#x}"), |n| format!("{n:#}")),
                file: symbol.filename().map(|p| p.display().to_string()),
                line: symbol.lineno(),
            });
        });
        if frames.len() == before {
            frames.push(Frame {
                function: format!("{ip:#x}"),
                file: None,
                line: None,
            });
        }
    }
    frames
}

/// Crates whose frames are machinery, not the user's code: the standard library, the harness,
/// libtest and what they use to allocate and unwind.
const MACHINERY_CRATES: &[&str] = &[
    "std",
    "core",
    "alloc",
    "leakcheck",
    "leakcheck_alloc",
    "leakcheck_probe",
    "leakcheck_monitor",
    "backtrace",
    "hashbrown",
    "test",
];

/// Symbol prefixes of frames outside any crate: allocator shims, start-up, unresolved addresses.
const MACHINERY_SYMBOLS: &[&str] = &[
    "__rust",
    "__rdl",
    "__rg_",
    "rust_begin_unwind",
    "_start",
    "__libc",
    "start_thread",
    "clone",
    "0x",
];

/// Module paths of an async runtime's own task machinery (spawning, scheduling, `block_on`): a
/// spawned task's allocation is attributed to the user's `spawn` call, not to the runtime's
/// internals, and the scheduler frames under an async test's body are left out.
const TASK_MACHINERY: &[&str] = &[
    "tokio::runtime::",
    "tokio::task::spawn::",
    "tokio::task::coop::",
];

/// Crates whose frames are the allocation path itself (skipped even when nothing else is left).
const ALLOCATION_PATH: &[&str] = &["leakcheck", "leakcheck_alloc", "backtrace", "alloc", "core"];

/// The crate a demangled function belongs to: the crate of its path, or for a method of a
/// reference, a generic parameter or a primitive (`<&dyn core::ops::Fn as ..>`, `<T as
/// alloc::slice::..>`), the crate of the trait.
pub fn crate_of(function: &str) -> &str {
    let mut s = function;
    loop {
        let t = s
            .trim_start_matches(['<', '&', '(', '['])
            .trim_start_matches("mut ")
            .trim_start_matches("dyn ")
            .trim_start_matches("*const ")
            .trim_start_matches("*mut ");
        if t.len() == s.len() {
            break;
        }
        s = t;
    }
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let (head, rest) = s.split_at(end);
    if !rest.starts_with("::") {
        if let Some(i) = rest.find(" as ") {
            return crate_of(&rest[i + 4..]);
        }
    }
    head
}

/// Whether a frame is machinery (the allocator path, std wrappers, the harness, libtest).
pub fn is_machinery(frame: &Frame) -> bool {
    frame.function == "main"
        || MACHINERY_SYMBOLS
            .iter()
            .any(|p| frame.function.starts_with(p))
        || MACHINERY_CRATES.contains(&crate_of(&frame.function))
        || TASK_MACHINERY
            .iter()
            .any(|p| frame.function.trim_start_matches('<').starts_with(p))
}

/// Whether a frame is on the allocation path itself: the allocator and its shims, `alloc`,
/// `core`, the unwinder, the harness. The innermost frames of a stack captured inside the
/// allocator are these; a heap profile leaves them out so that a sample's leaf is the code
/// that allocated.
pub fn is_allocation_path(frame: &Frame) -> bool {
    MACHINERY_SYMBOLS
        .iter()
        .any(|p| frame.function.starts_with(p))
        || ALLOCATION_PATH.contains(&crate_of(&frame.function))
}

/// The user's frames, innermost first, without consecutive repeats. When the whole stack is
/// machinery (an allocation std makes on its own, e.g. for a thread), the frames past the
/// allocation path instead, so that the site still says where it is; `false` then.
pub fn user_frames(frames: &[Frame]) -> (Vec<Frame>, bool) {
    let dedup = |it: &mut dyn Iterator<Item = &Frame>| {
        let mut out: Vec<Frame> = Vec::new();
        for frame in it {
            if out.last() != Some(frame) {
                out.push(frame.clone());
            }
        }
        out
    };
    let user = dedup(&mut frames.iter().filter(|f| !is_machinery(f)));
    if !user.is_empty() {
        return (user, true);
    }
    let past_allocation = frames.iter().skip_while(|f| is_allocation_path(f));
    (dedup(&mut past_allocation.take(3)), false)
}

/// Whether the allocation was made by `std::thread` spawning a thread for the user's code (its
/// handle, name and result packet): a spawn frame of std inside the innermost user frame. The
/// spawn frames at the bottom of every thread's own stack do not count.
pub fn is_thread_spawn(frames: &[Frame]) -> bool {
    frames.iter().take_while(|f| is_machinery(f)).any(|f| {
        crate_of(&f.function) == "std"
            && f.function.contains("thread")
            && f.function.contains("spawn")
            && !f.function.contains("{{closure}}")
    })
}

/// How many user frames a fingerprint covers.
const FINGERPRINT_FRAMES: usize = 3;

/// A stable identity for a call site: a hash of its innermost user function paths. Lines and
/// addresses are left out, so the fingerprint survives edits elsewhere in the file, rebuilds and
/// other commits.
pub fn fingerprint(user: &[Frame]) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64; // FNV-1a 64
    for frame in user.iter().take(FINGERPRINT_FRAMES) {
        for b in frame.function.bytes().chain(std::iter::once(b'\n')) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    format!("{h:016x}")
}

/// A path relative to the current directory (the package root under `cargo test`) when inside
/// it; the toolchain's sources from `library/` on (`std/src/...`), a registry crate's from its
/// `name-version/` folder on.
fn short_path(path: &str) -> String {
    if let Ok(cwd) = std::env::current_dir() {
        if let Ok(rest) = std::path::Path::new(path).strip_prefix(&cwd) {
            return rest.display().to_string();
        }
    }
    if let Some((_, rest)) = path.split_once("/library/") {
        return rest.to_owned();
    }
    if let Some((_, rest)) = path.split_once("/registry/src/") {
        if let Some((_index, rest)) = rest.split_once('/') {
            return rest.to_owned();
        }
    }
    path.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, line: u32) -> Frame {
        Frame {
            function: function.into(),
            file: Some("src/lib.rs".into()),
            line: Some(line),
        }
    }

    #[test]
    fn trims_machinery_and_keeps_user_frames_in_order() {
        let stack = [
            frame("backtrace::backtrace::trace_unsynchronized", 1),
            frame("leakcheck::attribute::tracer::on_alloc", 2),
            frame(
                "<leakcheck_alloc::CountingAlloc<A> as core::alloc::global::GlobalAlloc>::alloc",
                3,
            ),
            frame("__rustc::__rust_alloc", 4),
            frame("alloc::alloc::alloc", 5),
            frame("my_crate::cache::insert", 42),
            frame("my_test::cache_does_not_leak::{{closure}}", 10),
            frame("my_test::cache_does_not_leak::{{closure}}", 10),
            frame("leakcheck::entry::run_test", 9),
            frame("my_test::cache_does_not_leak", 8),
            frame("core::ops::function::FnOnce::call_once", 1),
        ];
        let (user, is_user) = user_frames(&stack);
        assert!(is_user);
        let user: Vec<String> = user.iter().map(|f| f.function.clone()).collect();
        assert_eq!(
            user,
            [
                "my_crate::cache::insert",
                "my_test::cache_does_not_leak::{{closure}}",
                "my_test::cache_does_not_leak"
            ]
        );
    }

    #[test]
    fn a_spawned_tasks_allocation_is_attributed_to_the_spawn_call() {
        let stack = [
            frame("__rustc::__rust_alloc", 1),
            frame("tokio::runtime::task::core::Cell<T,S>::new", 2),
            frame("tokio::runtime::task::raw::RawTask::new", 3),
            frame("<tokio::runtime::scheduler::Handle>::spawn", 4),
            frame("tokio::runtime::context::current::with_current", 5),
            frame("tokio::task::spawn::spawn_inner", 6),
            frame("tokio::task::spawn::spawn", 7),
            frame("my_test::leaks_a_task::leaks_a_task::{{closure}}", 20),
            frame(
                "tokio::runtime::scheduler::current_thread::CoreGuard::block_on::{{closure}}",
                8,
            ),
            frame("my_test::leaks_a_task", 19),
        ];
        let (user, is_user) = user_frames(&stack);
        assert!(is_user);
        let user: Vec<&str> = user.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            user,
            [
                "my_test::leaks_a_task::leaks_a_task::{{closure}}",
                "my_test::leaks_a_task"
            ]
        );
    }

    #[test]
    fn crate_of_looks_through_references_and_generic_parameters() {
        assert_eq!(crate_of("my_crate::cache::insert"), "my_crate");
        assert_eq!(
            crate_of("<my_crate::Foo as core::fmt::Display>::fmt"),
            "my_crate"
        );
        assert_eq!(
            crate_of("<T as alloc::slice::<impl [T]>::to_vec_in::ConvertVec>::to_vec"),
            "alloc"
        );
        assert_eq!(
            crate_of("<&dyn core::ops::function::Fn<(), Output = i32> + core::marker::Sync as core::ops::function::FnOnce<()>>::call_once"),
            "core"
        );
        assert_eq!(
            crate_of("<<std::thread::ThreadNameString as core::convert::From<alloc::string::String>>::from as core::ops::function::FnOnce<(alloc::string::String,)>>::call_once"),
            "std"
        );
        assert_eq!(crate_of("<u8 as core::clone::Clone>::clone"), "core");
    }

    #[test]
    fn a_stack_of_only_std_frames_keeps_the_frames_past_the_allocator() {
        let stack = [
            frame("leakcheck::attribute::tracer::on_alloc", 1),
            frame("__rustc::__rust_alloc", 2),
            frame("alloc::alloc::alloc", 3),
            frame("std::thread::current::init_current", 4),
            frame("std::thread::current::current_or_unnamed", 5),
        ];
        let (frames, is_user) = user_frames(&stack);
        assert!(!is_user);
        assert_eq!(frames[0].function, "std::thread::current::init_current");
    }

    #[test]
    fn shortens_toolchain_and_registry_paths() {
        assert_eq!(
            short_path("/rustc/5980/library/std/src/thread/mod.rs"),
            "std/src/thread/mod.rs"
        );
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c/serde-1.0.200/src/de.rs"
            ),
            "serde-1.0.200/src/de.rs"
        );
    }

    #[test]
    fn fingerprints_ignore_lines_but_not_functions() {
        let a = [frame("my_crate::insert", 42), frame("my_test::t", 10)];
        let moved = [frame("my_crate::insert", 50), frame("my_test::t", 12)];
        let other = [frame("my_crate::remove", 42), frame("my_test::t", 10)];
        assert_eq!(fingerprint(&a), fingerprint(&moved));
        assert_ne!(fingerprint(&a), fingerprint(&other));
        assert_eq!(fingerprint(&a).len(), 16);
    }

    #[test]
    fn recognises_thread_spawn_stacks() {
        let spawn = [
            frame("alloc::sync::Arc<T>::new", 1),
            frame("std::thread::Builder::spawn_unchecked_", 2),
            frame("std::thread::Builder::spawn", 3),
            frame("my_test::leaks_a_thread", 4),
        ];
        assert!(is_thread_spawn(&spawn));
        let in_thread = [
            frame("alloc::alloc::alloc", 1),
            frame("my_test::leaks_a_thread::{{closure}}", 5),
            frame("std::thread::Builder::spawn_unchecked_::{{closure}}", 6),
            frame("std::thread::Builder::spawn_unchecked_", 7),
        ];
        assert!(!is_thread_spawn(&in_thread));
    }
}
