//! The result of a check: verdicts with evidence, the series, and what was left behind.
//!
//! [`Report`] is what the function API returns, what an isolated test's child process hands back
//! to its parent (as JSON), and what a failing test prints (its `Display`).

use crate::analyze::{CountFinding, HeapFinding, Verdict};
use crate::attribute::{AllocationProfile, Attribution};
use crate::snapshot::Sample;
use leakcheck_probe::{FdInfo, FdKind, Resource, ThreadInfo};
use serde::{Deserialize, Serialize};
use std::fmt::{self, Write as _};

/// Which test a report is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TestId {
    /// The cargo package of the test (empty when not known).
    #[serde(default)]
    pub package: String,
    /// The test binary's crate name: the package's library for unit tests, the file name of an
    /// integration test (`tests/heap.rs` → `heap`).
    #[serde(default)]
    pub binary: String,
    /// The name libtest knows the test by (module path without the crate, then the fn name).
    pub name: String,
    /// `module_path!()` where the test was written.
    pub module_path: String,
    /// Source file of the test.
    pub file: String,
    /// Line of the test function.
    pub line: u32,
}

impl TestId {
    /// A test known by `name` only (checks run through the function API).
    pub fn named(name: String) -> Self {
        TestId {
            name,
            ..TestId::default()
        }
    }

    /// The identity of a test function written at `module_path`/`fn_name`, in `package`.
    pub fn of_fn(package: &str, module_path: &str, fn_name: &str, file: &str, line: u32) -> Self {
        // libtest names a test by its path inside the crate: drop the crate's own name.
        let (binary, name) = match module_path.split_once("::") {
            Some((krate, inner)) => (krate, format!("{inner}::{fn_name}")),
            None => (module_path, fn_name.to_owned()),
        };
        TestId {
            package: package.to_owned(),
            binary: binary.to_owned(),
            name,
            module_path: module_path.to_owned(),
            file: file.to_owned(),
            line,
        }
    }

    /// The test binary as nextest names it: the package for its library's unit tests,
    /// `package::binary` otherwise. Reports group tests by it (one JUnit testsuite each).
    pub fn binary_id(&self) -> String {
        if self.package.is_empty() {
            self.binary.clone()
        } else if self.binary.is_empty() || self.binary == self.package.replace('-', "_") {
            self.package.clone()
        } else {
            format!("{}::{}", self.package, self.binary)
        }
    }

    /// `binary_id` and `name`: unique within a workspace run.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.binary_id(), self.name)
    }
}

/// What a check found. `Display` renders the human report a failing test prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The test or check this is about, when known.
    pub test: Option<TestId>,
    /// The worst verdict of the judged resources.
    pub verdict: Verdict,
    /// Live heap bytes and blocks.
    pub heap: HeapFinding,
    /// Live threads.
    pub threads: CountFinding,
    /// Open file descriptors.
    pub fds: CountFinding,
    /// Live async tasks of the test's runtime (async tests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<CountFinding>,
    /// Warmup iterations run before the baseline.
    pub warmup: usize,
    /// Measured iterations after the baseline.
    pub measured: usize,
    /// `runs = 1`: the body ran once between the baseline and one snapshot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_run: bool,
    /// The baseline (index 0) and one snapshot per measured iteration.
    pub samples: Vec<Sample>,
    /// Threads alive at the end that were not alive at the baseline.
    pub new_threads: Vec<ThreadInfo>,
    /// File descriptors open at the end that were not open at the baseline.
    pub new_fds: Vec<FdInfo>,
    /// Where the leaked blocks were allocated, when the run traced them (only after a suspected
    /// leak).
    pub attribution: Option<Attribution>,
    /// Where one iteration's allocations come from, when the test was profiled (`profile`):
    /// one more iteration after the verdicts, traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<AllocationProfile>,
    /// Allocation budgets (`max_allocs_per_iter`, `max_bytes_per_iter`) the body went over.
    #[serde(default)]
    pub over_budget: Vec<BudgetBreach>,
    /// Leaked items that matched a suppression pattern: listed, not failing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<SuppressedItem>,
    /// `suspicious = "fail"` was set: a suspicious verdict fails the test.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspicious_fails: bool,
    /// Anything the reader should know about how the numbers were taken.
    pub notes: Vec<String>,
}

/// One resource's finding in a [`Report`]: the heap's bytes and blocks, or a count's.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Finding<'a> {
    /// The heap's finding.
    Heap(&'a HeapFinding),
    /// The finding of a counted resource: threads, fds or tasks.
    Count(&'a CountFinding),
}

impl<'a> Finding<'a> {
    /// The verdict.
    pub fn verdict(self) -> Verdict {
        match self {
            Finding::Heap(h) => h.verdict,
            Finding::Count(c) => c.verdict,
        }
    }

    /// Why, in one sentence.
    pub fn evidence(self) -> &'a str {
        match self {
            Finding::Heap(h) => &h.evidence,
            Finding::Count(c) => &c.evidence,
        }
    }
}

/// A leaked item that a suppression pattern accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SuppressedItem {
    /// Whose leak: the heap's, the threads' or the fds'.
    pub resource: Resource,
    /// What leaked: a thread's name and id, an fd and its target, an allocation site.
    pub item: String,
    /// The pattern it matched.
    pub pattern: String,
}

/// An allocation budget the body went over: a performance regression, not a leak.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BudgetBreach {
    /// The option that set the budget: `max_allocs_per_iter` or `max_bytes_per_iter`.
    pub option: String,
    /// The budget.
    pub limit: u64,
    /// The mean per measured iteration that went over it.
    pub per_iteration: f64,
}

impl BudgetBreach {
    /// The breaches of `config`'s budgets by a run with these per-iteration means.
    pub(crate) fn check(
        max_allocs: Option<u64>,
        max_bytes: Option<u64>,
        allocations: f64,
        bytes: f64,
    ) -> Vec<BudgetBreach> {
        [
            ("max_allocs_per_iter", max_allocs, allocations),
            ("max_bytes_per_iter", max_bytes, bytes),
        ]
        .into_iter()
        .filter_map(|(option, limit, per_iteration)| {
            let limit = limit?;
            (per_iteration > limit as f64).then(|| BudgetBreach {
                option: option.to_owned(),
                limit,
                per_iteration,
            })
        })
        .collect()
    }
}

impl Report {
    /// True when some resource leaked.
    pub fn is_leak(&self) -> bool {
        self.verdict == Verdict::Leak
    }

    /// True when every resource is clean or not judged (not even suspicious or suppressed).
    pub fn is_clean(&self) -> bool {
        self.verdict <= Verdict::Clean
    }

    /// True when the test fails for a suspicious verdict (`suspicious = "fail"`).
    pub fn is_strict_failure(&self) -> bool {
        self.suspicious_fails && self.verdict == Verdict::Suspicious
    }

    /// True when the body went over an allocation budget.
    pub fn is_over_budget(&self) -> bool {
        !self.over_budget.is_empty()
    }

    /// True when a `#[leak_test]` with this report passes: no leak and within its budgets.
    /// Suspicious findings pass unless `suspicious = "fail"`; suppressed leaks pass.
    pub fn passes(&self) -> bool {
        !self.is_leak() && !self.is_over_budget() && !self.is_strict_failure()
    }

    /// The finding for `resource`; `None` for tasks in a test that is not async (and for
    /// resources a leak test does not judge).
    pub fn finding(&self, resource: Resource) -> Option<Finding<'_>> {
        match resource {
            Resource::Heap => Some(Finding::Heap(&self.heap)),
            Resource::Threads => Some(Finding::Count(&self.threads)),
            Resource::Fds => Some(Finding::Count(&self.fds)),
            Resource::Tasks => self.tasks.as_ref().map(Finding::Count),
            _ => None,
        }
    }

    /// The finding of each resource the report has one for, in report order
    /// ([`Resource::LEAK_TEST`]: heap, threads, fds, then tasks for an async test).
    pub fn findings(&self) -> impl Iterator<Item = (Resource, Finding<'_>)> {
        Resource::LEAK_TEST
            .into_iter()
            .filter_map(|r| Some((r, self.finding(r)?)))
    }

    /// The verdict of each resource the report has a finding for, in report order.
    pub fn verdicts(&self) -> impl Iterator<Item = (Resource, Verdict)> + '_ {
        self.findings().map(|(r, f)| (r, f.verdict()))
    }

    /// The verdict for `resource`, when the report has a finding for it.
    pub fn verdict_of(&self, resource: Resource) -> Option<Verdict> {
        self.finding(resource).map(Finding::verdict)
    }

    /// Panics with the full report when some resource leaked or a budget was exceeded, as a
    /// `#[leak_test]` would fail. Suspicious findings pass unless `suspicious = "fail"`.
    #[track_caller]
    pub fn assert_no_leak(&self) {
        if !self.passes() {
            panic!("{self}");
        }
    }

    /// Total body runs: warmup, measured, traced and profiled iterations.
    pub fn body_runs(&self) -> usize {
        self.warmup
            + self.measured
            + self.attribution.as_ref().map_or(0, |a| a.traced_iterations)
            + usize::from(self.profile.is_some())
    }

    /// Mean allocations per measured iteration.
    pub fn allocations_per_iteration(&self) -> f64 {
        self.mean(|s| s.allocations)
    }

    /// Mean bytes allocated per measured iteration.
    pub fn bytes_allocated_per_iteration(&self) -> f64 {
        self.mean(|s| s.bytes_allocated)
    }

    fn mean(&self, pick: impl Fn(&Sample) -> u64) -> f64 {
        let measured = self.samples.get(1..).unwrap_or_default();
        if measured.is_empty() {
            return 0.0;
        }
        measured.iter().map(|s| pick(s) as f64).sum::<f64>() / measured.len() as f64
    }

    /// How the body was run: `W warmup + M measured iterations`, then ` + T{traced}`.
    fn runs(&self, traced: &str) -> String {
        if self.single_run {
            return "a single run between two snapshots (runs = 1)".to_owned();
        }
        format!(
            "{} warmup + {} measured iterations{}",
            self.warmup,
            self.measured,
            self.attribution
                .as_ref()
                .map(|a| format!(" + {}{traced}", a.traced_iterations))
                .unwrap_or_default()
        )
    }

    /// One line: the verdict per resource and the iteration counts.
    pub fn summary(&self) -> String {
        let per_resource: Vec<String> = self
            .findings()
            .map(|(r, finding)| match finding {
                Finding::Heap(h) => format!(
                    "{r} {} ({:+.1} B, {:+.2} blocks/iter)",
                    h.verdict, h.bytes_per_iteration, h.blocks_per_iteration
                ),
                Finding::Count(c) => format!("{r} {} ({:+})", c.verdict, c.net),
            })
            .collect();
        format!(
            "leakcheck: {}{} — {}; {}",
            self.test
                .as_ref()
                .map(|t| format!("`{}` ", t.name))
                .unwrap_or_default(),
            self.verdict,
            per_resource.join(", "),
            self.runs(" traced"),
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = |verdict: Verdict| -> Vec<&str> {
            self.verdicts()
                .filter(|&(_, v)| v == verdict)
                .map(|(r, _)| r.label())
                .collect()
        };
        let leaked = named(Verdict::Leak);
        let name = self
            .test
            .as_ref()
            .map(|t| format!("`{}` ", t.name))
            .unwrap_or_default();
        if !leaked.is_empty() {
            writeln!(f, "leakcheck: {name}leaked {}", leaked.join(", "))?;
        } else if self.is_strict_failure() {
            writeln!(
                f,
                "leakcheck: {name}is suspicious in {}, and `suspicious = \"fail\"` makes that a failure",
                named(Verdict::Suspicious).join(", ")
            )?;
        } else if self.is_over_budget() {
            writeln!(f, "leakcheck: {name}went over its allocation budget")?;
        } else {
            writeln!(f, "leakcheck: {name}{}", self.verdict)?;
        }
        if let Some(t) = self.test.as_ref().filter(|t| !t.file.is_empty()) {
            writeln!(f, "  test at {}:{}", t.file, t.line)?;
        }
        writeln!(f, "  {}", self.runs(" traced to find where"))?;

        let heap = &self.heap;
        writeln!(
            f,
            "  heap     {:<10} {} per iteration: {}",
            heap.verdict.to_string(),
            per_iteration_bytes(heap.bytes_per_iteration, heap.blocks_per_iteration),
            heap.evidence
        )?;
        if heap.verdict > Verdict::Clean {
            writeln!(
                f,
                "           live bytes after each iteration:  {}",
                series(&self.samples, |s| s.live_bytes)
            )?;
            writeln!(
                f,
                "           live blocks after each iteration: {}",
                series(&self.samples, |s| s.live_blocks)
            )?;
        }
        if let Some(attribution) = &self.attribution {
            write_attribution(f, attribution)?;
        }
        for (resource, finding) in self.findings() {
            let Finding::Count(finding) = finding else {
                continue;
            };
            writeln!(
                f,
                "  {:<8} {:<10} {:+} ({:+.2} per iteration): {}",
                resource.name(),
                finding.verdict.to_string(),
                finding.net,
                finding.per_iteration,
                finding.evidence
            )?;
            if finding.verdict > Verdict::Clean && finding.observed {
                writeln!(
                    f,
                    "           count after each iteration: {}",
                    series(&self.samples, |s| u64::from(s.count(resource).unwrap_or(0)))
                )?;
            }
        }
        if !self.new_threads.is_empty() {
            writeln!(f, "  threads still alive that were not at the baseline:")?;
            for t in self.new_threads.iter().take(MAX_LISTED) {
                let name = if t.name.is_empty() {
                    "<unnamed>"
                } else {
                    &t.name
                };
                write!(f, "    tid {:<8} {:<16} {}", t.tid, name, t.state)?;
                match (&t.waiting_in, &t.syscall) {
                    (Some(w), Some(call)) => write!(f, " in {w} ({call})")?,
                    (Some(w), None) => write!(f, " in {w}")?,
                    (None, Some(call)) => write!(f, " in {call}")?,
                    (None, None) => {}
                }
                if let Some(site) = &t.spawned_at {
                    write!(f, ", spawned at {site}")?;
                }
                writeln!(f)?;
            }
            more(f, self.new_threads.len())?;
        }
        if !self.new_fds.is_empty() {
            writeln!(
                f,
                "  file descriptors still open that were not at the baseline:"
            )?;
            for d in self.new_fds.iter().take(MAX_LISTED) {
                write!(
                    f,
                    "    fd {:<4} {:<10} {}",
                    d.fd,
                    kind_name(d.kind),
                    d.target
                )?;
                match &d.detail {
                    Some(detail) => writeln!(f, "  {detail}")?,
                    None => writeln!(f)?,
                }
            }
            more(f, self.new_fds.len())?;
        }
        writeln!(
            f,
            "  allocations per iteration: {:.1} ({:.0} B)",
            self.allocations_per_iteration(),
            self.bytes_allocated_per_iteration()
        )?;
        if let Some(profile) = &self.profile {
            write_profile(f, profile)?;
        }
        for breach in &self.over_budget {
            writeln!(
                f,
                "  budget   OVER       {:.1} per iteration, over `{} = {}`",
                breach.per_iteration, breach.option, breach.limit
            )?;
        }
        if !self.suppressed.is_empty() {
            writeln!(
                f,
                "  suppressed (known leaks, listed but not failing the test):"
            )?;
            for s in self.suppressed.iter().take(MAX_LISTED) {
                writeln!(
                    f,
                    "    {:<8} {}  (matches {:?})",
                    s.resource.name(),
                    s.item,
                    s.pattern
                )?;
            }
            more(f, self.suppressed.len())?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

const MAX_LISTED: usize = 20;

fn write_attribution(f: &mut fmt::Formatter<'_>, a: &Attribution) -> fmt::Result {
    writeln!(
        f,
        "  surviving allocations by call site (per iteration, from {} traced iterations):",
        a.traced_iterations
    )?;
    const INDENT: &str = "                          ";
    for site in &a.sites {
        writeln!(
            f,
            "    {:<21} at {}",
            format!(
                "{} / {}",
                blocks(site.blocks_per_iteration),
                bytes(site.bytes_per_iteration)
            ),
            site.location()
        )?;
        for caller in site.frames.iter().skip(1).take(2) {
            writeln!(f, "{INDENT}← {caller}")?;
        }
        write!(f, "{INDENT}fingerprint {}", site.fingerprint)?;
        if site.thread_spawn {
            write!(f, "; std's allocations for a thread spawned here")?;
        }
        if !site.threads.is_empty() {
            write!(f, "; allocated on {}", site.threads.join(", "))?;
        }
        writeln!(f)?;
    }
    if a.other_blocks_per_iteration > 0.0 {
        writeln!(
            f,
            "    and {} at other sites",
            blocks(a.other_blocks_per_iteration)
        )?;
    }
    for note in &a.notes {
        writeln!(f, "    note: {note}")?;
    }
    Ok(())
}

fn write_profile(f: &mut fmt::Formatter<'_>, p: &AllocationProfile) -> fmt::Result {
    writeln!(
        f,
        "  allocations by call site (one profiled iteration: {} allocations, {}):",
        p.allocations,
        bytes(p.bytes as f64)
    )?;
    for site in &p.sites {
        writeln!(
            f,
            "    {:>6} {:>5.1}%  {:>10} {:>5.1}%  at {}",
            site.allocations,
            site.allocation_share * 100.0,
            bytes(site.bytes as f64),
            site.byte_share * 100.0,
            site.location()
        )?;
    }
    if p.other_allocations > 0 {
        writeln!(
            f,
            "    {:>6}         {:>10}         at other sites",
            p.other_allocations,
            bytes(p.other_bytes as f64)
        )?;
    }
    writeln!(
        f,
        "    {:.1} B per allocation; {} of {} allocations ({:.1}%) are reallocations; at most {} of \
         the iteration's blocks alive at once, {} at its end",
        p.bytes_per_allocation,
        p.reallocations,
        p.allocations,
        p.reallocation_share * 100.0,
        bytes(p.peak_bytes as f64),
        bytes(p.end_bytes as f64)
    )?;
    if let Some(budget) = p.suggested_max_allocs_per_iter {
        writeln!(
            f,
            "    no allocation budget: `max_allocs_per_iter = {budget}` would fail this test when \
             it allocates 10% more"
        )?;
    }
    for note in &p.notes {
        writeln!(f, "    note: {note}")?;
    }
    Ok(())
}

fn blocks(n: f64) -> String {
    if n == 1.0 {
        "1 block".to_owned()
    } else if n.fract() == 0.0 {
        format!("{n:.0} blocks")
    } else {
        format!("{n:.1} blocks")
    }
}

fn bytes(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0} B")
    } else {
        format!("{n:.1} B")
    }
}

fn more(f: &mut fmt::Formatter<'_>, total: usize) -> fmt::Result {
    if total > MAX_LISTED {
        writeln!(f, "    ... and {} more", total - MAX_LISTED)?;
    }
    Ok(())
}

fn kind_name(kind: FdKind) -> &'static str {
    match kind {
        FdKind::File => "file",
        FdKind::Socket => "socket",
        FdKind::Pipe => "pipe",
        FdKind::AnonInode => "anon inode",
        FdKind::Other => "other",
    }
}

fn per_iteration_bytes(bytes: f64, blocks: f64) -> String {
    format!("{bytes:+.1} B / {blocks:+.2} blocks")
}

/// The first values of a series, then an ellipsis and the last one.
fn series(samples: &[Sample], pick: impl Fn(&Sample) -> u64) -> String {
    const SHOWN: usize = 12;
    let mut out = String::new();
    for (i, s) in samples.iter().enumerate() {
        if i == SHOWN && samples.len() > SHOWN + 1 {
            let _ = write!(out, "... ");
        }
        if i < SHOWN || i + 1 == samples.len() {
            let _ = write!(out, "{} ", pick(s));
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_follow_libtest() {
        assert_eq!(
            TestId::of_fn("app", "heap", "leaks", "tests/heap.rs", 3).name,
            "leaks"
        );
        let unit = TestId::of_fn(
            "my-crate",
            "my_crate::cache::tests",
            "insert",
            "src/cache.rs",
            9,
        );
        assert_eq!(unit.name, "cache::tests::insert");
        assert_eq!(unit.binary_id(), "my-crate");
        assert_eq!(unit.full_name(), "my-crate::cache::tests::insert");
        let integration = TestId::of_fn("my-crate", "heap", "leaks", "tests/heap.rs", 3);
        assert_eq!(integration.binary_id(), "my-crate::heap");
    }

    #[test]
    fn series_is_shortened_in_the_middle() {
        let samples: Vec<Sample> = (0..20)
            .map(|i| Sample {
                live_bytes: i,
                ..Sample::default()
            })
            .collect();
        assert_eq!(
            series(&samples, |s| s.live_bytes),
            "0 1 2 3 4 5 6 7 8 9 10 11 ... 19"
        );
        assert_eq!(series(&samples[..3], |s| s.live_bytes), "0 1 2");
    }
}
