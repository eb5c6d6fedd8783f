//! The counting allocator's exactness, in a process of its own (`harness = false`: no libtest
//! threads allocating beside us), so that process-wide totals can be compared exactly.
//!
//! Checked: live bytes/blocks and totals for known allocations, reallocation, blocks freed on a
//! thread other than the one that allocated them, more threads than the allocator has slots
//! (slot reuse and the shared overflow slot), and threads that allocate while exiting.

use leakcheck::{counters, is_installed, Counters};
use std::hint::black_box;
use std::sync::{Arc, Barrier};

leakcheck::global_allocator!();

fn main() {
    assert!(is_installed());
    same_thread_allocations_are_exact();
    reallocation_moves_bytes_not_blocks();
    blocks_freed_on_another_thread_net_to_zero();
    more_threads_than_slots_stay_exact();
    allocations_in_thread_local_destructors_are_counted();
    println!("allocator: 5 passed, 0 failed");
}

fn delta(before: Counters, after: Counters) -> (i64, i64, u64, u64) {
    (
        after.live_bytes() as i64 - before.live_bytes() as i64,
        after.live_blocks() as i64 - before.live_blocks() as i64,
        after.allocations - before.allocations,
        after.bytes_allocated - before.bytes_allocated,
    )
}

fn same_thread_allocations_are_exact() {
    let before = counters();
    let a = black_box(Box::new([0u8; 100]));
    let b = black_box(vec![0u64; 10]);
    let during = counters();
    assert_eq!(delta(before, during), (180, 2, 2, 180));
    drop((a, b));
    let after = counters();
    assert_eq!(delta(before, after), (0, 0, 2, 180));
}

fn reallocation_moves_bytes_not_blocks() {
    let mut v: Vec<u8> = Vec::with_capacity(16);
    black_box(&mut v);
    let before = counters();
    v.reserve_exact(1000); // 16 -> 1000: one realloc
    black_box(&mut v);
    let after = counters();
    assert_eq!(delta(before, after), (1000 - 16, 0, 1, 1000));
    drop(v);
}

fn blocks_freed_on_another_thread_net_to_zero() {
    let before = counters();
    let blocks: Vec<Box<[u8; 64]>> =
        std::thread::spawn(|| (0..1000).map(|_| Box::new([1u8; 64])).collect())
            .join()
            .unwrap();
    std::thread::spawn(move || drop(black_box(blocks)))
        .join()
        .unwrap();
    let after = counters();
    let (bytes, blocks, _, _) = delta(before, after);
    assert_eq!(
        (bytes, blocks),
        (0, 0),
        "cross-thread frees must net to zero"
    );
}

fn more_threads_than_slots_stay_exact() {
    // 300 threads alive at once: more than the slot table holds, so some share the overflow slot.
    const THREADS: usize = 300;
    let before = counters();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let kept = black_box(vec![0u8; 128]);
                barrier.wait();
                let freed = black_box(vec![0u8; 32]);
                drop(freed);
                kept
            })
        })
        .collect();
    let kept: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    drop(barrier);
    let while_kept = counters();
    let (bytes, _, _, _) = delta(before, while_kept);
    assert!(bytes >= (THREADS * 128) as i64, "{bytes}");
    drop(kept);
    // Everything the threads and this thread allocated for them is gone again.
    let after = counters();
    let (bytes, blocks, _, _) = delta(before, after);
    assert_eq!((bytes, blocks), (0, 0));
}

fn allocations_in_thread_local_destructors_are_counted() {
    struct AllocatesOnDrop;
    impl Drop for AllocatesOnDrop {
        fn drop(&mut self) {
            // Runs during thread exit, possibly after the allocator's own slot was returned.
            let v = black_box(vec![0u8; 256]);
            std::mem::forget(v);
        }
    }
    thread_local! {
        static ON_EXIT: AllocatesOnDrop = const { AllocatesOnDrop };
    }
    let before = counters();
    std::thread::spawn(|| ON_EXIT.with(|_| ())).join().unwrap();
    let after = counters();
    let (bytes, blocks, _, _) = delta(before, after);
    assert_eq!(
        (bytes, blocks),
        (256, 1),
        "the block forgotten during thread exit is counted"
    );
}
