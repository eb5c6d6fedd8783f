//! Stack capture for sampled allocations: return addresses, unresolved, at most
//! [`MAX_FRAMES`], from the platform unwinder called directly.
//!
//! Why the unwinder and not a capture function installed by the user: `_Unwind_Backtrace` is
//! already in every Rust binary on Unix (std panics through it; on linux-gnu it is libgcc_s,
//! which std links), so calling it adds no dependency and works with no setup, and it reads
//! the unwind tables that release builds keep (frame pointers are usually omitted). It takes
//! no lock of ours; what it allocates itself (libgcc may, the first time it sorts a module's
//! unwind tables) goes through the allocator with the thread marked as inside the sampler, so
//! it is counted but never sampled, and the unwinder is never re-entered. On targets without
//! it (Windows, 32-bit ARM's EHABI) stacks are empty.

/// Most frames kept per stack, innermost first.
pub const MAX_FRAMES: usize = 64;

/// A captured stack.
pub(crate) struct Frames {
    ips: [usize; MAX_FRAMES],
    len: usize,
}

impl Frames {
    pub(crate) fn ips(&self) -> &[usize] {
        &self.ips[..self.len]
    }
}

/// The calling thread's stack, skipping this function's own frame.
#[inline(never)]
pub(crate) fn capture() -> Frames {
    let mut frames = Frames {
        ips: [0; MAX_FRAMES],
        len: 0,
    };
    imp::walk(&mut frames);
    frames
}

#[cfg(all(unix, not(target_arch = "arm")))]
mod imp {
    use super::{Frames, MAX_FRAMES};
    use std::ffi::c_void;

    type Reason = i32;
    const NO_REASON: Reason = 0;
    const END_OF_STACK: Reason = 5;

    extern "C" {
        fn _Unwind_Backtrace(
            trace: extern "C" fn(*mut c_void, *mut c_void) -> Reason,
            arg: *mut c_void,
        ) -> Reason;
        fn _Unwind_GetIP(context: *mut c_void) -> usize;
    }

    /// State of one walk: where to write, and how many frames of ours are still to skip.
    struct Walk<'a> {
        frames: &'a mut Frames,
        skip: usize,
    }

    extern "C" fn step(context: *mut c_void, arg: *mut c_void) -> Reason {
        // SAFETY: `arg` is the `Walk` passed to `_Unwind_Backtrace` below, alive for the call.
        let walk = unsafe { &mut *arg.cast::<Walk<'_>>() };
        // SAFETY: `context` is the unwinder's context for this frame.
        let ip = unsafe { _Unwind_GetIP(context) };
        if ip == 0 {
            return END_OF_STACK;
        }
        if walk.skip > 0 {
            walk.skip -= 1;
            return NO_REASON;
        }
        walk.frames.ips[walk.frames.len] = ip;
        walk.frames.len += 1;
        if walk.frames.len == MAX_FRAMES {
            END_OF_STACK
        } else {
            NO_REASON
        }
    }

    #[inline(never)]
    pub(super) fn walk(frames: &mut Frames) {
        // The first frame reported is this function's; the next is `capture`.
        let mut walk = Walk { frames, skip: 2 };
        // SAFETY: `step` only writes into `walk`, which outlives the call.
        unsafe {
            _Unwind_Backtrace(step, std::ptr::from_mut(&mut walk).cast());
        }
    }
}

#[cfg(not(all(unix, not(target_arch = "arm"))))]
mod imp {
    use super::Frames;

    pub(super) fn walk(_frames: &mut Frames) {}
}
