//! `#[should_panic]` on a `#[leak_test]`: the body must panic on every run (with a message
//! containing `expected`, if given), and is leak-checked like any other, its panics caught.
//!
//! libtest passes a `#[should_panic]` test that panics and fails one that returns, so the
//! verdict is turned over at the end: a clean run panics (with `expected` in its message, for
//! libtest's own check) and a failure (a leak, a run that did not panic or panicked with another
//! message) returns, after saying why, and libtest reports it as "did not panic as expected".

use super::{run_measured, BodyResult, TestMeta};
use crate::config::Options;
use crate::run;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs one `#[should_panic]` `#[leak_test]` of a plain `fn`.
#[track_caller]
pub fn run_should_panic_test<R: BodyResult>(
    meta: TestMeta,
    options: Options,
    expected: Option<&'static str>,
    mut body: impl FnMut() -> R,
) {
    let mut body = || judge(expected, catch_unwind(AssertUnwindSafe(&mut body))).map_err(|e| e.0);
    turn_over(meta, expected, Location::caller(), || {
        run_measured(meta, options, &mut |config, test| {
            run::measure(config, test, &mut body)
        });
    });
}

/// Runs one `#[should_panic]` `#[leak_test] async fn`: each run's future is polled with its
/// panics caught.
#[track_caller]
pub fn run_async_should_panic_test<F, Fut>(
    meta: TestMeta,
    options: Options,
    expected: Option<&'static str>,
    mut body: F,
) where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: BodyResult,
{
    turn_over(meta, expected, Location::caller(), || {
        crate::runtime::run_async_test(meta, options, || ExpectPanic {
            future: Box::pin(body()),
            expected,
        });
    });
}

/// Why a run did not meet `#[should_panic]`; shown as written.
struct Unmet(String);

impl fmt::Debug for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One run's outcome under `#[should_panic]`: a panic with the expected message is a success.
fn judge<R: BodyResult>(
    expected: Option<&str>,
    ran: Result<R, Box<dyn Any + Send>>,
) -> Result<(), Unmet> {
    let unmet = match ran {
        Err(payload) => {
            let message = run::panic_message(payload.as_ref());
            match expected {
                Some(expected) if !message.contains(expected) => format!(
                    "it panicked with \"{message}\", and #[should_panic] expects a message \
                     containing \"{expected}\""
                ),
                _ => return Ok(()),
            }
        }
        Ok(returned) => match returned.into_result() {
            Ok(()) => "it returned without panicking, and the test is #[should_panic]: a leak \
                       test runs the body many times, and every run must panic"
                .to_owned(),
            Err(error) => format!("it returned {error} instead of panicking (#[should_panic])"),
        },
    };
    Err(Unmet(unmet))
}

/// Runs the leak test and turns its verdict over for libtest.
fn turn_over(meta: TestMeta, expected: Option<&str>, caller: &Location<'_>, run: impl FnOnce()) {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(()) => resume_unwind(Box::new(format!(
            "leakcheck: every run of `{}` panicked as #[should_panic] expects{} and nothing leaked",
            meta.fn_name,
            expected.map_or_else(String::new, |e| format!(" (with \"{e}\")"))
        ))),
        // Already printed by the harness (the report, or the panic's message).
        Err(_) => eprintln!(
            "leakcheck: `{}` ({caller}) failed as a leak test, above; it is #[should_panic], so \
             libtest reports the failure as \"test did not panic as expected\"",
            meta.fn_name
        ),
    }
}

/// A run's future, with a panic in any poll caught and judged as [`judge`] does.
struct ExpectPanic<Fut> {
    future: Pin<Box<Fut>>,
    expected: Option<&'static str>,
}

impl<Fut: Future> Future for ExpectPanic<Fut>
where
    Fut::Output: BodyResult,
{
    type Output = Result<(), Unmet>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let expected = self.expected;
        match catch_unwind(AssertUnwindSafe(|| self.future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(returned)) => Poll::Ready(judge(expected, Ok(returned))),
            Err(payload) => Poll::Ready(judge::<()>(expected, Err(payload))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_meets_should_panic_only_by_panicking_with_the_expected_text() {
        let panicked = |text: &'static str| Err::<(), _>(Box::new(text) as Box<dyn Any + Send>);
        assert!(judge(None, panicked("anything")).is_ok());
        assert!(judge(Some("out of range"), panicked("index 3 out of range")).is_ok());
        let other = judge(Some("out of range"), panicked("empty"))
            .unwrap_err()
            .0;
        assert!(other.contains("it panicked with \"empty\""), "{other}");
        let returned = judge(None, Ok(())).unwrap_err().0;
        assert!(
            returned.contains("returned without panicking"),
            "{returned}"
        );
        let failed = judge(None, Ok(Err::<(), _>("bad"))).unwrap_err().0;
        assert!(
            failed.contains("returned Error: \"bad\" instead"),
            "{failed}"
        );
    }
}
