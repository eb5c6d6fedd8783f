//! The allocator's cost in instructions on typical code, for `valgrind --tool=callgrind` (the
//! companion of the `callgrind` example, which measures the worst case): 2000 calls of the
//! churn workload of `benches/churn_overhead.rs` — strings formatted, sorted and joined, a
//! `HashMap` of byte vectors built and dropped, ~130 allocations a call, most of them small —
//! through the global allocator: bare `System`, counting, or counting with heap sampling at
//! the default rate (512 KiB).
//!
//! ```text
//! cargo build --release -p leakcheck-alloc --example callgrind_churn
//! for a in system counting sampling; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='callgrind_churn::churn*' target/release/examples/callgrind_churn $a
//! done
//! ```

use leakcheck_alloc::CountingAlloc;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

static COUNTING: CountingAlloc<System> = CountingAlloc::system();

/// Whether the global allocator counts, or is bare `System`.
static GLOBAL_COUNTS: AtomicBool = AtomicBool::new(false);

/// The global allocator: `System`, or the counting allocator.
struct Switch;

// SAFETY: forwards every call unchanged to `System` or to the counting allocator over it; the
// switch is set once, before any block it decides about is allocated.
unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe {
            if GLOBAL_COUNTS.load(Ordering::Relaxed) {
                COUNTING.alloc(layout)
            } else {
                System.alloc(layout)
            }
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe {
            if GLOBAL_COUNTS.load(Ordering::Relaxed) {
                COUNTING.dealloc(ptr, layout)
            } else {
                System.dealloc(ptr, layout)
            }
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe {
            if GLOBAL_COUNTS.load(Ordering::Relaxed) {
                COUNTING.realloc(ptr, layout, new_size)
            } else {
                System.realloc(ptr, layout, new_size)
            }
        }
    }
}

#[global_allocator]
static GLOBAL: Switch = Switch;

/// One call of the churn workload (as in `benches/churn_overhead.rs`, with a fixed hasher).
fn body(seed: u64) -> usize {
    let mut words: Vec<String> = (0..32)
        .map(|i| format!("item-{}-{i}", seed.wrapping_mul(31) ^ i))
        .collect();
    words.sort();
    // A fixed hasher (not `RandomState`), so that every run executes the same instructions.
    let index: HashMap<u64, Vec<u8>, BuildHasherDefault<DefaultHasher>> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (i as u64, w.as_bytes().to_vec()))
        .collect();
    let joined = words.join(",");
    black_box(&index);
    joined.len() + index.len()
}

#[inline(never)]
fn churn_calls(calls: u64) -> usize {
    (0..calls).map(|i| black_box(body(i))).sum()
}

fn main() {
    match std::env::args().nth(1).unwrap_or_default().as_str() {
        "system" => {}
        "counting" => GLOBAL_COUNTS.store(true, Ordering::SeqCst),
        "sampling" => {
            GLOBAL_COUNTS.store(true, Ordering::SeqCst);
            leakcheck_alloc::sample::set_rate(leakcheck_alloc::sample::DEFAULT_RATE);
        }
        _ => {
            eprintln!("usage: callgrind_churn system|counting|sampling");
            std::process::exit(2);
        }
    }
    black_box(churn_calls(black_box(2000)));
}
