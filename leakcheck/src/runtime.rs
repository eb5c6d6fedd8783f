//! The tokio glue behind `#[leak_test] async fn` (the `tokio` feature).
//!
//! One runtime per test, built in the process that runs the body, before the warmup (so that
//! its worker threads, driver fds and allocations are part of the baseline) and kept for every
//! iteration; each iteration blocks on a fresh future of the body. The harness sees the runtime
//! through [`run::Runtime`]: the number of live tasks is judged like threads and fds, so a task
//! the body spawned that never completes is a leak, and settling drives the runtime so that
//! aborted or finishing tasks are gone before the count is read.
//!
//! Without the feature the macro's expansion still compiles against this module, and
//! [`__leak_test_requires_tokio!`](crate::__leak_test_requires_tokio) turns the test into one
//! compile error that says which feature to enable.

/// Expanded next to every `#[leak_test] async fn` with a `compile_error!` that names the
/// feature, spanned on the test's `async` (the macro cannot see leakcheck's features): with the
/// `tokio` feature it drops the error.
#[cfg(feature = "tokio")]
#[doc(hidden)]
#[macro_export]
macro_rules! __leak_test_requires_tokio {
    ($($error:tt)*) => {};
}

/// Expanded next to every `#[leak_test] async fn` with a `compile_error!` that names the
/// feature, spanned on the test's `async`: without the `tokio` feature it emits the error as
/// given, so that it points at the user's code rather than into leakcheck.
#[cfg(not(feature = "tokio"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __leak_test_requires_tokio {
    ($($error:tt)*) => {
        $($error)*
    };
}

#[cfg(feature = "tokio")]
pub use with_tokio::run_async_test;

/// Never runs: without the `tokio` feature the expansion also contains
/// [`__leak_test_requires_tokio!`](crate::__leak_test_requires_tokio)'s compile error. It exists
/// so that the error is the only one.
#[cfg(not(feature = "tokio"))]
#[track_caller]
pub fn run_async_test<F, Fut>(
    _meta: crate::entry::TestMeta,
    _options: crate::config::Options,
    _body: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
    Fut::Output: crate::entry::BodyResult,
{
    unreachable!("`#[leak_test] async fn` needs leakcheck's `tokio` feature")
}

#[cfg(feature = "tokio")]
mod with_tokio {
    use crate::config::{Config, Flavor, Options};
    use crate::entry::{self, BodyResult, TestMeta};
    use crate::run;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::runtime::{Builder, RuntimeMetrics};

    /// Runs one `#[leak_test] async fn`: like [`entry::run_test`], with `body` awaited on a
    /// runtime of the test's flavor in every iteration.
    #[track_caller]
    pub fn run_async_test<F, Fut>(meta: TestMeta, options: Options, mut body: F)
    where
        F: FnMut() -> Fut,
        Fut: Future,
        Fut::Output: BodyResult,
    {
        entry::run_measured(meta, options, &mut |config, test| {
            let runtime = TokioRuntime::new(config);
            let outcome = run::measure_on(
                config,
                test,
                &mut || runtime.runtime.block_on(body()).into_result(),
                Some(&runtime),
            );
            // Dropped here, like `#[tokio::test]`'s: leaked tasks go with it.
            drop(runtime);
            outcome
        });
    }

    /// A test's runtime with what the harness reads between iterations.
    pub(super) struct TokioRuntime {
        runtime: tokio::runtime::Runtime,
        /// Kept from the start: reading it is a counter load, while `Runtime::metrics()` clones
        /// the handle each time.
        metrics: RuntimeMetrics,
        /// Only a current-thread runtime needs the harness to drive it: a multi-thread one has
        /// workers that run woken and aborted tasks on their own.
        current_thread: bool,
    }

    impl TokioRuntime {
        /// The runtime `config` asks for, with every driver the tokio build has (`enable_all`,
        /// as `#[tokio::test]` does), so timers and I/O in the body work.
        ///
        /// # Panics
        /// When tokio cannot build it (it cannot start its threads or drivers).
        pub(super) fn new(config: &Config) -> Self {
            let mut builder = match config.flavor {
                Flavor::CurrentThread => Builder::new_current_thread(),
                Flavor::MultiThread => Builder::new_multi_thread(),
            };
            if let Some(n) = config.worker_threads {
                builder.worker_threads(n);
            }
            let runtime = builder.enable_all().build().unwrap_or_else(|e| {
                panic!(
                    "leakcheck: could not build the tokio runtime ({:?}) for this async test: {e}",
                    config.flavor
                )
            });
            TokioRuntime {
                metrics: runtime.metrics(),
                current_thread: config.flavor == Flavor::CurrentThread,
                runtime,
            }
        }
    }

    impl run::Runtime for TokioRuntime {
        fn alive_tasks(&self) -> u32 {
            u32::try_from(self.metrics.num_alive_tasks()).unwrap_or(u32::MAX)
        }

        fn drive(&self) {
            if self.current_thread {
                // One scheduler tick: runs what is ready (an aborted task is dropped, a woken
                // one finishes) and fires expired timers. Not `yield_now`, which parks its
                // waker in a list the runtime allocates anew for every `block_on`.
                self.runtime.block_on(YieldOnce(false));
            }
        }
    }

    /// Pending once (after waking itself), then ready: hands the scheduler one turn.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::run::Runtime;
        use leakcheck_alloc::thread_allocations as this_thread_allocations;

        fn runtime(flavor: Flavor) -> TokioRuntime {
            TokioRuntime::new(&Config {
                flavor,
                worker_threads: (flavor == Flavor::MultiThread).then_some(2),
                ..Config::default()
            })
        }

        /// Allocations the calling thread makes in `f`. The harness calls `alive_tasks` and
        /// `drive` on the test thread between iterations, so that is where they must not
        /// allocate; other test threads of this binary allocate in their own slots.
        fn allocations_of(f: impl FnOnce()) -> u64 {
            let before = this_thread_allocations().expect("this thread counts in its own slot");
            f();
            this_thread_allocations().unwrap() - before
        }

        #[test]
        fn reading_and_driving_a_warm_runtime_does_not_allocate() {
            for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
                let rt = runtime(flavor);
                // Warm: the body's first `block_on` sets up this thread's runtime context.
                rt.runtime
                    .block_on(async { tokio::task::yield_now().await });
                rt.drive();
                let made = allocations_of(|| {
                    for _ in 0..100 {
                        std::hint::black_box(rt.alive_tasks());
                        rt.drive();
                    }
                });
                assert_eq!(made, 0, "{flavor:?}: 100 reads and drives allocated");
            }
        }

        #[test]
        fn counts_tasks_that_never_complete_and_forgets_aborted_ones() {
            for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
                let rt = runtime(flavor);
                assert_eq!(rt.alive_tasks(), 0, "{flavor:?}");
                let handles: Vec<_> = (0..3)
                    .map(|_| rt.runtime.spawn(std::future::pending::<()>()))
                    .collect();
                assert_eq!(rt.alive_tasks(), 3, "{flavor:?}");
                for handle in &handles {
                    handle.abort();
                }
                // What settling does: drive until the count is back (bounded).
                let mut drives = 0;
                while rt.alive_tasks() > 0 && drives < 10_000 {
                    rt.drive();
                    std::thread::yield_now();
                    drives += 1;
                }
                assert_eq!(rt.alive_tasks(), 0, "{flavor:?} after {drives} drives");
            }
        }

        #[test]
        fn a_current_thread_runtime_needs_driving_to_drop_an_aborted_task() {
            let rt = runtime(Flavor::CurrentThread);
            let handle = rt.runtime.spawn(std::future::pending::<()>());
            handle.abort();
            // Nothing runs a current-thread runtime between `block_on`s.
            assert_eq!(rt.alive_tasks(), 1);
            rt.drive();
            assert_eq!(rt.alive_tasks(), 0);
        }

        #[test]
        fn builds_the_flavor_and_worker_count_asked_for() {
            let rt = runtime(Flavor::MultiThread);
            assert_eq!(rt.metrics.num_workers(), 2);
            assert!(!rt.current_thread);
            let rt = runtime(Flavor::CurrentThread);
            assert_eq!(rt.metrics.num_workers(), 1);
            assert!(rt.current_thread);
        }
    }
}
