//! Where `#[leak_test]` lands: one call per test that resolves the settings, checks the
//! allocator, decides where the test runs and turns the outcome into pass or fail.

use crate::config::{Config, Options};
use crate::isolate::{self, ChildEnd, ChildResult, Placement};
use crate::report::{Report, TestId};
use crate::run::{self, BodyFailure};
use std::fmt::Debug;
use std::panic::resume_unwind;

/// Where the test was written; filled in by the macro.
#[derive(Clone, Copy, Debug)]
pub struct TestMeta {
    /// The test function's name.
    pub fn_name: &'static str,
    /// `module_path!()` at the test.
    pub module_path: &'static str,
    /// `file!()` at the test.
    pub file: &'static str,
    /// `line!()` of the test function.
    pub line: u32,
}

/// What a test body may return: `()` or any `Result<T, E: Debug>`, like `#[test]`.
pub trait BodyResult {
    /// `Err` with the formatted error when the body failed.
    fn into_result(self) -> Result<(), String>;
}

impl BodyResult for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<T, E: Debug> BodyResult for Result<T, E> {
    fn into_result(self) -> Result<(), String> {
        self.map(drop).map_err(|e| format!("Error: {e:?}"))
    }
}

/// Runs one `#[leak_test]`: the whole test, from settings to verdict. Failures are reported at
/// the test function (`#[track_caller]`), not inside leakcheck.
#[track_caller]
pub fn run_test<R: BodyResult>(meta: TestMeta, options: Options, mut body: impl FnMut() -> R) {
    let test = TestId::of_fn(meta.module_path, meta.fn_name, meta.file, meta.line);
    let config = match Config::from_options(&options) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    };
    if !crate::alloc::is_installed() {
        panic!("{}", run::not_installed_message(Some(meta.file)));
    }
    let mut body = || body().into_result();
    match isolate::placement(&test, config.isolate, |name| std::env::var(name).ok()) {
        Placement::InPlace => match run::measure(&config, Some(test), &mut body) {
            Ok(report) => conclude(&report),
            Err(BodyFailure::Panicked(payload)) => resume_unwind(payload),
            Err(BodyFailure::Returned(message)) => body_failed_panic(&message),
        },
        Placement::Child(result_path) => {
            let outcome = run::measure(&config, Some(test), &mut body);
            let result = match &outcome {
                Ok(report) => ChildResult::Completed {
                    report: Box::new(report.clone()),
                },
                Err(failure @ BodyFailure::Panicked(_)) => ChildResult::Panicked {
                    message: failure.message(),
                },
                Err(BodyFailure::Returned(message)) => ChildResult::Failed {
                    message: message.clone(),
                },
            };
            if let Err(e) = isolate::write_result(&result_path, &result) {
                panic!(
                    "leakcheck: could not hand the result to the parent test through {}: {e}",
                    result_path.display()
                );
            }
            // The parent decides pass or fail; a panic here only keeps its original location
            // and backtrace in the relayed output.
            if let Err(BodyFailure::Panicked(payload)) = outcome {
                resume_unwind(payload);
            }
        }
        Placement::Parent => match isolate::run_child(&test, config.timeout) {
            Ok(end) => conclude_child(&test, end),
            Err(e) => panic!(
                "leakcheck: could not run `{}` in a child process: {e}\n\
                     (set LEAKCHECK_ISOLATE=0 or `isolate = false` to run it in this process)",
                test.name
            ),
        },
    }
}

#[track_caller]
fn conclude(report: &Report) {
    if report.is_leak() {
        panic!("{report}");
    }
    println!("{}", report.summary());
    if !report.is_clean() {
        println!("{report}");
    }
}

#[track_caller]
fn body_failed_panic(message: &str) -> ! {
    panic!("the test body failed (a test failure, not a leak): {message}")
}

#[track_caller]
fn conclude_child(test: &TestId, end: ChildEnd) {
    let name = &test.name;
    match end {
        ChildEnd::Reported(ChildResult::Completed { report }) => conclude(&report),
        ChildEnd::Reported(ChildResult::Panicked { message }) => {
            panic!("the test body panicked (a test failure, not a leak): {message}")
        }
        ChildEnd::Reported(ChildResult::Failed { message }) => body_failed_panic(&message),
        ChildEnd::TimedOut { limit, output } => panic!(
            "leakcheck: `{name}` ran longer than its time limit of {}s and its child process was \
             killed. Raise the limit with `#[leak_test(timeout = SECONDS)]` or LEAKCHECK_TIMEOUT.{}",
            limit.as_secs(),
            last_output(&output)
        ),
        ChildEnd::Vanished { status, output } if status.success() => panic!(
            "leakcheck: the child process for `{name}` ran no test: libtest found no test named \
             exactly `{name}` in this binary. This happens under a custom test harness or when the \
             test is generated under another name; run it in place with `#[leak_test(isolate = \
             false)]` or LEAKCHECK_ISOLATE=0.{}",
            last_output(&output)
        ),
        ChildEnd::Vanished { status, output } => panic!(
            "leakcheck: the child process running `{name}` {} before it reported a result (a \
             crash, abort, `process::exit` or a kill in the test or the code it calls).{}",
            isolate::describe_status(&status),
            last_output(&output)
        ),
        ChildEnd::BadResult { error, output } => panic!(
            "leakcheck: the child process for `{name}` left an unreadable result ({error}).{}",
            last_output(&output)
        ),
    }
}

fn last_output(output: &str) -> String {
    if output.trim().is_empty() {
        "\n(the child printed nothing)".to_owned()
    } else {
        format!(
            "\n--- last output of the child process ---\n{}",
            output.trim_end()
        )
    }
}
