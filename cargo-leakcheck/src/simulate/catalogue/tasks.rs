//! Async task leaks (the `tokio` feature): tasks spawned on a runtime that outlives them and
//! awaiting a future that never completes. Nothing ever polls them again, and the runtime keeps
//! each one's allocation for as long as it lives. The twins abort their task, or let it finish,
//! and await it.
//!
//! The runtime is a current-thread one owned by the body and kept across calls, as a server
//! keeps its runtime; it runs while the body blocks on it, and dropping the body drops it with
//! the tasks it still holds.

use super::{Body, Case, Kind, Params, Ranges};
use std::hint::black_box;
use tokio::runtime::{Builder, Runtime};

/// One to three tasks per call; the finishing twin's task owns `size` bytes.
const TASKS: Ranges = Ranges {
    size: 16..=4096,
    count: 1..=3,
    ..Ranges::FIXED
};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::leak(
            "task_awaiting_pending_forever",
            Kind::Tasks,
            "task_aborted_and_awaited",
            "spawns `count` tokio tasks per call that await `std::future::pending()`, and drops their handles",
            TASKS,
            awaiting_pending_forever,
        ),
        Case::clean(
            "task_aborted_and_awaited",
            Kind::Tasks,
            "spawns `count` tokio tasks per call that await `std::future::pending()`, then aborts and awaits them",
            TASKS,
            aborted_and_awaited,
        ),
        Case::clean(
            "task_completed_and_awaited",
            Kind::Tasks,
            "spawns `count` tokio tasks per call that each sum a buffer of `size` bytes, and awaits them",
            TASKS,
            completed_and_awaited,
        ),
    ]
}

fn runtime() -> Runtime {
    Builder::new_current_thread()
        .build()
        .expect("a current-thread tokio runtime")
}

fn awaiting_pending_forever(p: &Params) -> Body {
    let count = p.count;
    let runtime = runtime();
    Box::new(move || {
        runtime.block_on(async {
            for _ in 0..count {
                // The handle is dropped: the task is detached, and nothing will ever wake it.
                drop(tokio::spawn(std::future::pending::<()>()));
            }
            // Let the tasks start and park on their futures.
            tokio::task::yield_now().await;
        });
    })
}

fn aborted_and_awaited(p: &Params) -> Body {
    let count = p.count;
    let runtime = runtime();
    Box::new(move || {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..count)
                .map(|_| tokio::spawn(std::future::pending::<()>()))
                .collect();
            tokio::task::yield_now().await;
            for task in tasks {
                task.abort();
                let cancelled = task.await;
                black_box(cancelled.is_err());
            }
        });
    })
}

fn completed_and_awaited(p: &Params) -> Body {
    let (count, size) = (p.count, p.size);
    let runtime = runtime();
    Box::new(move || {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..count)
                .map(|i| {
                    let data = vec![i as u8; size];
                    tokio::spawn(async move { data.iter().map(|&b| u64::from(b)).sum::<u64>() })
                })
                .collect();
            for task in tasks {
                black_box(task.await.expect("the task completes"));
            }
        });
    })
}
