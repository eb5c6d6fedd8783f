//! The allocator's cost in instructions, for `valgrind --tool=callgrind` (repeatable on a noisy
//! machine, unlike wall time): 1000 batches of the worst case — nothing but allocator calls, 64
//! blocks of 8 B–4 KiB, every eighth grown with `realloc`, freed out of order (136 calls a batch)
//! — through bare `System`, through the counting allocator over `System`, or through the
//! counting allocator with heap sampling on at the default rate (512 KiB).
//!
//! ```text
//! cargo build --release -p leakcheck-alloc --example callgrind
//! for a in system counting sampling; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='callgrind::batch*' target/release/examples/callgrind $a
//! done
//! ```
//!
//! "Collected" is the instructions of the 1000 batches; the difference over 136,000 calls is
//! the counting cost per call (and `sampling` − `counting` the sampling cost, stack captures of
//! the few sampled allocations included). Any change to the allocator's fast path reports these two
//! figures before and after.

use leakcheck_alloc::CountingAlloc;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

static COUNTING: CountingAlloc<System> = CountingAlloc::system();

const BATCH: usize = 64;
const BATCHES: usize = 1000;

#[inline(never)]
fn batch_system(sizes: &[usize; BATCH]) {
    batch(&System, sizes);
}

#[inline(never)]
fn batch_counting(sizes: &[usize; BATCH]) {
    batch(&COUNTING, sizes);
}

#[inline(always)]
fn batch(a: &impl GlobalAlloc, sizes: &[usize; BATCH]) {
    let layout = |size| Layout::from_size_align(size, 8).expect("valid layout");
    let mut blocks = [std::ptr::null_mut::<u8>(); BATCH];
    // SAFETY: every block is allocated with its layout, written inside its size, grown once with
    // realloc from that layout, and freed once with its final layout.
    unsafe {
        for (block, &size) in blocks.iter_mut().zip(sizes) {
            let p = a.alloc(layout(size));
            assert!(!p.is_null());
            p.write(1);
            *block = black_box(p);
        }
        for i in (0..BATCH).step_by(8) {
            let p = a.realloc(blocks[i], layout(sizes[i]), sizes[i] * 2);
            assert!(!p.is_null());
            blocks[i] = black_box(p);
        }
        for i in (1..BATCH).step_by(2).chain((0..BATCH).step_by(2).rev()) {
            let size = if i % 8 == 0 { sizes[i] * 2 } else { sizes[i] };
            black_box(blocks[i].read());
            a.dealloc(blocks[i], layout(size));
        }
    }
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let mut sizes = [0usize; BATCH];
    for (i, size) in sizes.iter_mut().enumerate() {
        *size = 8 << (i % 10);
    }
    let run: fn(&[usize; BATCH]) = match which.as_str() {
        "system" => batch_system,
        "counting" => batch_counting,
        "sampling" => {
            leakcheck_alloc::sample::set_rate(leakcheck_alloc::sample::DEFAULT_RATE);
            batch_counting
        }
        _ => {
            eprintln!("usage: callgrind system|counting|sampling");
            std::process::exit(2);
        }
    };
    for _ in 0..BATCHES {
        run(black_box(&sizes));
    }
}
