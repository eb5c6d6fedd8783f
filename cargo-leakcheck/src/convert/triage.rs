//! After the converted suite ran once: which tests need a next step, and which step.

use leakcheck::record::{Outcome, RunReport, TestRecord};
use std::fmt::Write as _;

/// The phrase the harness's message has when a body passed its first run and failed a later one.
pub(crate) const NOT_REPEATABLE: &str = "passed on its first run";

/// What to do about one test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// It passed once and failed when run again (a global counter, a once-only initialiser, a
    /// process-wide setting): mark it `#[leak_test(runs = 1)]`.
    RunOnce,
    /// It leaked: a real leak, to fix (or suppress, when it is the intended behaviour).
    Leak,
    /// It failed for another reason (its first run failed, a `#[should_panic]` body that did not
    /// panic on every run, or over a budget).
    Failure,
}

impl Step {
    fn of(record: &TestRecord) -> Option<Step> {
        match record.outcome {
            Outcome::Passed => None,
            Outcome::Leaked => Some(Step::Leak),
            Outcome::Failed
                if record
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains(NOT_REPEATABLE)) =>
            {
                Some(Step::RunOnce)
            }
            _ => Some(Step::Failure),
        }
    }

    fn heading(self) -> &'static str {
        match self {
            Step::RunOnce => {
                "cannot run twice (passed on the first run, failed on a later one): mark each \
                 `#[leak_test(runs = 1)]`, which checks threads, fds and tasks over one run"
            }
            Step::Leak => {
                "leaked: a real leak — fix it, or suppress it when it is intended (see its report \
                 above)"
            }
            Step::Failure => {
                "failed for another reason: a real failure, or over a budget — read its message \
                 above"
            }
        }
    }
}

/// The tests of `report` that need a step, grouped by step, each as `name (file:line)`.
pub(crate) fn next_steps(report: &RunReport) -> Vec<(Step, Vec<String>)> {
    let mut groups: Vec<(Step, Vec<String>)> = Vec::new();
    for record in &report.tests {
        let Some(step) = Step::of(record) else {
            continue;
        };
        let t = &record.test;
        let name = if t.file.is_empty() {
            t.full_name()
        } else {
            format!("{} ({}:{})", t.full_name(), t.file, t.line)
        };
        match groups.iter_mut().find(|(s, _)| *s == step) {
            Some((_, names)) => names.push(name),
            None => groups.push((step, vec![name])),
        }
    }
    groups.sort_by_key(|(step, _)| *step);
    groups
}

/// The text printed after the run.
pub(crate) fn render(report: &RunReport) -> String {
    let groups = next_steps(report);
    let passed = report
        .tests
        .iter()
        .filter(|t| t.outcome == Outcome::Passed)
        .count();
    let mut out = format!(
        "leakcheck: convert: {passed} of {} leak tests passed",
        report.tests.len()
    );
    if groups.is_empty() {
        out.push_str("; nothing left to do\n");
        return out;
    }
    out.push('\n');
    for (step, names) in &groups {
        let _ = writeln!(out, "\n{} {}", names.len(), step.heading());
        for name in names {
            let _ = writeln!(out, "  {name}");
        }
    }
    out
}
