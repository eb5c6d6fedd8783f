//! Where `#[leak_test]` lands: one call per test that resolves the settings, checks the
//! allocator, decides where the test runs and turns the outcome into pass or fail.

use crate::config::{Config, Options};
use crate::isolate::{self, ChildEnd, ChildResult, Placement};
use crate::record::store::{self, Store};
use crate::record::{Outcome, RunInfo, TestRecord};
use crate::report::{Report, TestId};
use crate::run::{self, BodyFailure, Cause};
use crate::watchdog::{self, Fault, Watchdog};
use std::fmt::Debug;
use std::io::Write;
use std::panic::resume_unwind;
use std::time::Instant;

mod should_panic;
pub use should_panic::{run_async_should_panic_test, run_should_panic_test};

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
    let mut body = || body().into_result();
    run_measured(meta, options, &mut |config, test| {
        run::measure(config, test, &mut body)
    });
}

/// Measures a test's body under its settings: called only in the process that runs the body
/// (not in a parent that only spawns the child), so an async test builds its runtime there.
pub(crate) type Measure<'a> =
    dyn FnMut(&Config, Option<TestId>) -> Result<Report, BodyFailure> + 'a;

/// [`run_test`] for any way of running the body (plain, or on an async runtime).
#[track_caller]
pub(crate) fn run_measured(meta: TestMeta, options: Options, measure: &mut Measure<'_>) {
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
    if !leakcheck_alloc::is_installed() {
        panic!("{}", run::not_installed_message(Some(meta.file)));
    }
    match isolate::placement(&test, config.isolate, |name| std::env::var(name).ok()) {
        Placement::InPlace => {
            // No parent watches this process. A failed record first, replaced by the real one
            // at the end: if a crash or a kill ends the process in between, the run still has a
            // record of this test that says so. The watchdog enforces the time limit.
            let crashed = format!(
                "leakcheck: the process running `{}` ended before the test reported a result: \
                 it crashed, aborted or was killed (the test runner's output says how)",
                test.name
            );
            save_record(&test, &config, &Err(crashed), started, Save::Pending);
            let watchdog = watch_in_place(&test, &config, started);
            let outcome = measure(&config, Some(test.clone()));
            if let Some(watchdog) = watchdog {
                watchdog.stop();
            }
            let ended = match &outcome {
                Ok(report) => Ok(report.clone()),
                Err(failure) => Err(failure.describe(config.min_runs())),
            };
            save_record(&test, &config, &ended, started, Save::Final);
            let failure = match outcome {
                Ok(report) => return conclude(&report),
                Err(failure) => failure,
            };
            let message = ended.expect_err("a failed body was described for its record");
            match failure.cause {
                // Unwind with the body's own payload: its location and backtrace stay intact.
                // That it passed on an earlier run is said before it.
                Cause::Panicked(payload) => {
                    if failure.run > 1 {
                        eprintln!("\n{message}");
                    }
                    resume_unwind(payload)
                }
                Cause::Returned(_) => panic!("{message}"),
            }
        }
        Placement::Child(result_path) => {
            let hand_over = |result: &ChildResult| {
                if let Err(e) = isolate::write_result(&result_path, result) {
                    panic!(
                        "leakcheck: could not hand the result to the parent test through {}: {e}",
                        result_path.display()
                    );
                }
            };
            // Replaced by the final result: if the process ends in between, the parent knows
            // the test ran (and did not just go unfound).
            hand_over(&ChildResult::Started);
            let outcome = measure(&config, Some(test));
            let result = match &outcome {
                Ok(report) => ChildResult::Completed {
                    report: Box::new(report.clone()),
                },
                Err(failure) => {
                    let (message, run) = (failure.message(), failure.run);
                    match failure.cause {
                        Cause::Panicked(_) => ChildResult::Panicked { message, run },
                        Cause::Returned(_) => ChildResult::Failed { message, run },
                    }
                }
            };
            hand_over(&result);
            // The parent decides pass or fail and keeps the record; a panic here only keeps its
            // original location and backtrace in the relayed output.
            if let Err(BodyFailure {
                cause: Cause::Panicked(payload),
                ..
            }) = outcome
            {
                resume_unwind(payload);
            }
        }
        Placement::Parent => {
            let ended = match isolate::run_child(&test, config.timeout) {
                Ok(end) => child_outcome(&test, &config, end),
                Err(e) => Err(format!(
                    "leakcheck: could not run `{}` in a child process: {e}\n\
                     (set LEAKCHECK_ISOLATE=0 or `isolate = false` to run it in this process)",
                    test.name
                )),
            };
            save_record(&test, &config, &ended, started, Save::Final);
            match ended {
                Ok(report) => conclude(&report),
                Err(message) => panic!("{message}"),
            }
        }
    }
}

/// Whether a record is the test's last word or stands in for it until then.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Save {
    /// Kept if the process ends before the final record replaces it.
    Pending,
    Final,
}

/// Writes the test's record and adds it to `report.json`/`junit.xml`, unless records are off. A
/// failure to write does not change the test's verdict: it is printed, and the verdict stands.
fn save_record(
    test: &TestId,
    config: &Config,
    ended: &Result<Report, String>,
    started: Instant,
    save: Save,
) {
    if !config.records {
        return;
    }
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
    let info = || RunInfo::starting_now(record.run_id.clone());
    let saved = match save {
        Save::Pending => store.save_pending(&record, info),
        Save::Final => store.save(&record, info),
    };
    if let Err(e) = saved {
        eprintln!(
            "leakcheck: the record of `{}` was not saved ({e}); its verdict below stands. \
             Set LEAKCHECK_DIR to a writable directory to keep records.",
            test.name
        );
    }
}

/// Fails the test with the report when it leaked or went over budget.
///
/// A leak is the test's failure, not a panic in the harness: the report is printed (libtest
/// captures it like a panic message) and the test unwinds with it as the payload, without the
/// panic hook, so `RUST_BACKTRACE=1` adds no stack of leakcheck's own after the report. The
/// report names the test's file and line itself.
fn conclude(report: &Report) {
    if !report.passes() {
        let report = report.to_string();
        eprintln!("\n{report}");
        resume_unwind(Box::new(report));
    }
    println!("{}", report.summary());
    if !report.is_clean() {
        println!("{report}");
    }
}

/// The child's report, or why the test failed without one.
fn child_outcome(test: &TestId, config: &Config, end: ChildEnd) -> Result<Report, String> {
    let name = &test.name;
    let failed = |run, cause| BodyFailure { run, cause }.describe(config.min_runs());
    Err(match end {
        ChildEnd::Reported(ChildResult::Completed { report }) => return Ok(*report),
        ChildEnd::Reported(ChildResult::Panicked { message, run }) => {
            failed(run, Cause::Panicked(Box::new(message)))
        }
        ChildEnd::Reported(ChildResult::Failed { message, run }) => {
            failed(run, Cause::Returned(message))
        }
        // Read as `Vanished { started: true }` by `run_child`.
        ChildEnd::Reported(ChildResult::Started) => format!(
            "leakcheck: the child process running `{name}` ended before it reported a result."
        ),
        ChildEnd::TimedOut { limit, output } => format!(
            "leakcheck: `{name}` ran longer than its time limit of {}s and its child process was \
             killed. Raise the limit with `#[leak_test(timeout = SECONDS)]` or LEAKCHECK_TIMEOUT.{}",
            limit.as_secs(),
            last_output(&output)
        ),
        ChildEnd::Vanished {
            status,
            started: false,
            output,
        } if status.success() => format!(
            "leakcheck: the child process for `{name}` ran no test: libtest found no test named \
             exactly `{name}` in this binary. This happens under a custom test harness or when the \
             test is generated under another name; run it in place with `#[leak_test(isolate = \
             false)]` or LEAKCHECK_ISOLATE=0.{}",
            last_output(&output)
        ),
        ChildEnd::Vanished { status, output, .. } => {
            let out_of_memory = match isolate::allocation_failure(&output) {
                Some(line) => format!(
                    " It ran out of memory: \"{line}\" (an allocation failed, e.g. under a \
                     memory limit such as RLIMIT_AS or a cgroup's memory.max)."
                ),
                None => String::new(),
            };
            format!(
                "leakcheck: the child process running `{name}` {} before it reported a result (a \
                 crash, abort, `process::exit` or a kill in the test or the code it calls).{}{}",
                isolate::describe_status(&status),
                out_of_memory,
                last_output(&output)
            )
        }
        ChildEnd::BadResult { error, output } => format!(
            "leakcheck: the child process for `{name}` left an unreadable result ({error}).{}",
            last_output(&output)
        ),
    })
}

/// Starts the guards of a test that runs in place: its time limit, and a failure (not a pass)
/// if the body ends the process. Either fault is reported and recorded like a failed test, then
/// the process exits with a failure code. `None` (with a note) if no thread can be started.
fn watch_in_place(test: &TestId, config: &Config, started: Instant) -> Option<Watchdog> {
    let limit = config.timeout;
    let (test, config) = (test.clone(), config.clone());
    let watched = test.name.clone();
    let on_fault = move |fault| {
        let name = &test.name;
        let message = match fault {
            Fault::TimedOut(limit) => format!(
                "leakcheck: `{name}` ran longer than its time limit of {}s and its process was \
                 ended (exit code {}). Raise the limit with `#[leak_test(timeout = SECONDS)]` or \
                 LEAKCHECK_TIMEOUT.",
                limit.as_secs(),
                watchdog::EXIT_CODE
            ),
            Fault::Exited => format!(
                "leakcheck: the process running `{name}` is exiting before the test reported a \
                 result (`process::exit` in the test or the code it calls); the test fails \
                 (exit code {}) rather than pass unchecked.",
                watchdog::EXIT_CODE
            ),
        };
        // Straight to stderr: libtest's capture of this test's output is lost when the process
        // ends.
        let _ = writeln!(std::io::stderr().lock(), "\n{message}");
        save_record(&test, &config, &Err(message), started, Save::Final);
    };
    match Watchdog::start(limit, on_fault) {
        Ok(watchdog) => Some(watchdog),
        Err(e) => {
            eprintln!(
                "leakcheck: could not start the watchdog of `{watched}` ({e}); its time limit is \
                 not enforced."
            );
            None
        }
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
