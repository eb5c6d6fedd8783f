//! Where `#[leak_test]` lands: one call per test that resolves the settings, checks the
//! allocator, decides where the test runs and turns the outcome into pass or fail.

use crate::config::{Config, Options};
use crate::isolate::{self, ChildEnd, ChildResult, Placement};
use crate::record::store::{self, Store};
use crate::record::{Outcome, RunInfo, TestRecord};
use crate::report::{Report, TestId};
use crate::run::{self, BodyFailure};
use std::fmt::Debug;
use std::panic::resume_unwind;
use std::time::Instant;

/// Where the test was written; filled in by the macro.
#[derive(Clone, Copy, Debug)]
pub struct TestMeta {
    /// The test function's name.
    pub fn_name: &'static str,
    /// The cargo package the test belongs to (`CARGO_PKG_NAME` when it was built).
    pub package: Option<&'static str>,
    /// `module_path!()` at the test.
    pub module_path: &'static str,
    /// `file!()` at the test.
    pub file: &'static str,
    /// `line!()` of the test function.
    pub line: u32,
    /// The package's directory (`CARGO_MANIFEST_DIR` when it was built): where the search for
    /// `leakcheck.toml` starts.
    pub manifest_dir: Option<&'static str>,
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
    let started = Instant::now();
    let test = TestId::of_fn(
        meta.package.unwrap_or_default(),
        meta.module_path,
        meta.fn_name,
        meta.file,
        meta.line,
    );
    let config = match Config::load(&options, meta.manifest_dir.map(std::path::Path::new)) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    };
    if !crate::alloc::is_installed() {
        panic!("{}", run::not_installed_message(Some(meta.file)));
    }
    let mut body = || body().into_result();
    match isolate::placement(&test, config.isolate, |name| std::env::var(name).ok()) {
        Placement::InPlace => {
            let outcome = run::measure(&config, Some(test.clone()), &mut body);
            let ended = match &outcome {
                Ok(report) => Ok(report.clone()),
                Err(failure) => Err(body_failed_message(failure)),
            };
            save_record(&test, &config, &ended, started);
            match outcome {
                Ok(report) => conclude(&report),
                // Unwind with the body's own payload: its location and backtrace stay intact.
                Err(BodyFailure::Panicked(payload)) => resume_unwind(payload),
                Err(failure) => panic!("{}", body_failed_message(&failure)),
            }
        }
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
            // The parent decides pass or fail and keeps the record; a panic here only keeps its
            // original location and backtrace in the relayed output.
            if let Err(BodyFailure::Panicked(payload)) = outcome {
                resume_unwind(payload);
            }
        }
        Placement::Parent => {
            let ended = match isolate::run_child(&test, config.timeout) {
                Ok(end) => child_outcome(&test, end),
                Err(e) => Err(format!(
                    "leakcheck: could not run `{}` in a child process: {e}\n\
                     (set LEAKCHECK_ISOLATE=0 or `isolate = false` to run it in this process)",
                    test.name
                )),
            };
            save_record(&test, &config, &ended, started);
            match ended {
                Ok(report) => conclude(&report),
                Err(message) => panic!("{message}"),
            }
        }
    }
}

/// Writes the test's record and refreshes `report.json`/`junit.xml`. A failure to write does
/// not change the test's verdict: it is printed, and the verdict stands.
fn save_record(test: &TestId, config: &Config, ended: &Result<Report, String>, started: Instant) {
    let (outcome, message, report) = match ended {
        Ok(report) => {
            let outcome = Outcome::of(report);
            let message = outcome.is_failure().then(|| report.to_string());
            (outcome, message, Some(report.clone()))
        }
        Err(message) => (Outcome::Failed, Some(message.clone()), None),
    };
    let record = TestRecord::new(
        store::run_id(),
        test.clone(),
        config,
        outcome,
        message,
        report,
        started.elapsed(),
    );
    let store = Store::for_this_process();
    if let Err(e) = store.save(&record, || RunInfo::starting_now(record.run_id.clone())) {
        eprintln!(
            "leakcheck: the record of `{}` was not saved ({e}); its verdict below stands. \
             Set LEAKCHECK_DIR to a writable directory to keep records.",
            test.name
        );
    }
}

/// Fails the test with the report when it leaked or went over budget.
#[track_caller]
fn conclude(report: &Report) {
    if !report.passes() {
        panic!("{report}");
    }
    println!("{}", report.summary());
    if !report.is_clean() {
        println!("{report}");
    }
}

fn body_failed_message(failure: &BodyFailure) -> String {
    match failure {
        BodyFailure::Panicked(_) => format!(
            "the test body panicked (a test failure, not a leak): {}",
            failure.message()
        ),
        BodyFailure::Returned(message) => {
            format!("the test body failed (a test failure, not a leak): {message}")
        }
    }
}

/// The child's report, or why the test failed without one.
fn child_outcome(test: &TestId, end: ChildEnd) -> Result<Report, String> {
    let name = &test.name;
    Err(match end {
        ChildEnd::Reported(ChildResult::Completed { report }) => return Ok(*report),
        ChildEnd::Reported(ChildResult::Panicked { message }) => {
            body_failed_message(&BodyFailure::Panicked(Box::new(message)))
        }
        ChildEnd::Reported(ChildResult::Failed { message }) => {
            body_failed_message(&BodyFailure::Returned(message))
        }
        ChildEnd::TimedOut { limit, output } => format!(
            "leakcheck: `{name}` ran longer than its time limit of {}s and its child process was \
             killed. Raise the limit with `#[leak_test(timeout = SECONDS)]` or LEAKCHECK_TIMEOUT.{}",
            limit.as_secs(),
            last_output(&output)
        ),
        ChildEnd::Vanished { status, output } if status.success() => format!(
            "leakcheck: the child process for `{name}` ran no test: libtest found no test named \
             exactly `{name}` in this binary. This happens under a custom test harness or when the \
             test is generated under another name; run it in place with `#[leak_test(isolate = \
             false)]` or LEAKCHECK_ISOLATE=0.{}",
            last_output(&output)
        ),
        ChildEnd::Vanished { status, output } => format!(
            "leakcheck: the child process running `{name}` {} before it reported a result (a \
             crash, abort, `process::exit` or a kill in the test or the code it calls).{}",
            isolate::describe_status(&status),
            last_output(&output)
        ),
        ChildEnd::BadResult { error, output } => format!(
            "leakcheck: the child process for `{name}` left an unreadable result ({error}).{}",
            last_output(&output)
        ),
    })
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
