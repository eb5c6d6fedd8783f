//! How a body failed, and how the test tells it: on its first run, a test failure like any
//! other; on a later run, a body that cannot run twice, with what to do about it.

use std::any::Any;

/// Why a run stopped without a report: the body itself failed (a test failure, not a leak).
pub(crate) struct BodyFailure {
    /// Which call of the body failed, from 1 (warmup and traced runs count).
    pub(crate) run: usize,
    /// How it failed.
    pub(crate) cause: Cause,
}

/// How the body failed.
pub(crate) enum Cause {
    /// The body panicked; the payload is kept to resume unwinding.
    Panicked(Box<dyn Any + Send>),
    /// The body returned an error, formatted.
    Returned(String),
}

impl BodyFailure {
    /// The body's own failure as text: the panic message or the error.
    pub(crate) fn message(&self) -> String {
        match &self.cause {
            Cause::Panicked(payload) => panic_message(payload.as_ref()),
            Cause::Returned(message) => message.clone(),
        }
    }

    /// The failure as the test reports it. On the first run it is a test failure like any
    /// other; on a later run the body passed before, so it most likely cannot run twice, and
    /// the text says so and what to do. `min_runs` is how often a check runs the body at least
    /// (warmup + iterations).
    pub(crate) fn describe(&self, min_runs: usize) -> String {
        let what = match self.cause {
            Cause::Panicked(_) => "panicked",
            Cause::Returned(_) => "failed",
        };
        let message = self.message();
        let run = self.run;
        if run <= 1 {
            return format!("the test body {what} (a test failure, not a leak): {message}");
        }
        // `cargo leakcheck convert` finds these tests by "passed on its first run": keep it.
        format!(
            "the test body passed on its first run and failed on run {run}: the body depends on \
             state left by an earlier run — a global counter or a once-only initialiser — and a \
             leak test runs it {min_runs} or more times.\n\
             Check it from a single run with `#[leak_test(runs = 1)]` (`Check::runs(1)`), or \
             reset that state at the start of the body.\n\
             On run {run} the body {what}: {message}"
        )
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a non-string panic payload)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicked(run: usize, message: &'static str) -> BodyFailure {
        BodyFailure {
            run,
            cause: Cause::Panicked(Box::new(message)),
        }
    }

    #[test]
    fn a_failure_on_the_first_run_is_a_plain_test_failure() {
        assert_eq!(
            panicked(1, "boom").describe(10),
            "the test body panicked (a test failure, not a leak): boom"
        );
        let returned = BodyFailure {
            run: 1,
            cause: Cause::Returned("Error: \"bad\"".to_owned()),
        };
        assert_eq!(
            returned.describe(10),
            "the test body failed (a test failure, not a leak): Error: \"bad\""
        );
    }

    #[test]
    fn a_failure_on_a_later_run_says_it_passed_before_and_what_to_do() {
        let text = panicked(4, "left: 20").describe(12);
        assert!(
            text.starts_with("the test body passed on its first run and failed on run 4: "),
            "{text}"
        );
        for part in [
            "a leak test runs it 12 or more times",
            "`#[leak_test(runs = 1)]`",
            "reset that state at the start of the body",
            "On run 4 the body panicked: left: 20",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
        assert!(!text.contains("not a leak"), "{text}");
    }
}
