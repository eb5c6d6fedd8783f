//! The measured run: warmup, baseline, rounds of iterations with a settle and a snapshot after
//! each, extension while the analyzer asks for confirmation, then the report.
//!
//! The harness keeps its own footprint out of the numbers: the series buffer is allocated before
//! the baseline with room for the longest run, counts are read with allocation-free system calls,
//! and the detailed listings of threads and fds (which allocate) are taken before the baseline and
//! after the last snapshot only.

use crate::analyze::{self, Assessment, CountFinding, HeapFinding, Plan, Verdict};
use crate::attribute;
use crate::config::{Config, ConfigError, Options, Suspicious};
use crate::report::{BudgetBreach, Report, TestId};
use crate::snapshot::{self, Sample};
use crate::suppress;
use leakcheck_probe::Resource;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

mod failure;

pub(crate) use failure::{panic_message, BodyFailure, Cause};

/// A leak check to run on a closure: the function API behind `#[leak_test]`, for custom
/// harnesses, benchmarks or `main`.
///
/// It runs in the calling process (no isolation), so run it where nothing else allocates, spawns
/// threads or opens files at the same time. The counting allocator must be installed with
/// [`global_allocator!`](crate::global_allocator).
///
/// ```
/// leakcheck::global_allocator!();
///
/// fn main() {
///     let report = leakcheck::Check::new().run(|| {
///         let v: Vec<u32> = (0..100).collect();
///         assert_eq!(v.len(), 100);
///     });
///     report.assert_no_leak();
///     assert!(report.is_clean());
///
///     let leaky = leakcheck::Check::new().run(|| {
///         Box::leak(Box::new([0u8; 32]));
///     });
///     assert!(leaky.is_leak());
///     assert_eq!(leaky.heap.blocks_per_iteration, 1.0);
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Check {
    options: Options,
    test: Option<TestId>,
}

impl Check {
    /// A check with the defaults; `LEAKCHECK_*` environment variables apply to what the builder
    /// methods leave unset, as they do for `#[leak_test]`.
    pub fn new() -> Self {
        Self::default()
    }

    /// A check with these options, as `#[leak_test(...)]` would write them.
    pub fn with_options(options: Options) -> Self {
        Check {
            options,
            test: None,
        }
    }

    /// Measured iterations in the first round.
    pub fn iterations(mut self, n: usize) -> Self {
        self.options.iterations = Some(n);
        self
    }

    /// Iterations run before the baseline and not judged.
    pub fn warmup(mut self, n: usize) -> Self {
        self.options.warmup = Some(n);
        self
    }

    /// Most measured iterations while confirming growth (default: 8 × `iterations`).
    pub fn max_iterations(mut self, n: usize) -> Self {
        self.options.max_iterations = Some(n);
        self
    }

    /// Bound on the wait for exiting threads and closing fds after each iteration.
    pub fn settle(mut self, bound: Duration) -> Self {
        self.options.settle_ms = Some(bound.as_millis().min(u128::from(u64::MAX)) as u64);
        self
    }

    /// Whether a suspected leak is traced to where it was allocated (default: yes).
    pub fn attribute(mut self, on: bool) -> Self {
        self.options.attribute = Some(on);
        self
    }

    /// Whether one more iteration runs after the verdicts, traced, to count its allocations by
    /// call site ([`Report::profile`]; default: no).
    ///
    /// ```
    /// leakcheck::global_allocator!();
    ///
    /// # fn main() {
    /// let report = leakcheck::Check::new().profile(true).run(|| {
    ///     let names: Vec<String> = (0..3).map(|i| i.to_string()).collect();
    ///     std::hint::black_box(names);
    /// });
    /// let profile = report.profile.as_ref().expect("profiled");
    /// // Three strings and the vector: the listed sites hold all of the iteration.
    /// assert_eq!(profile.allocations, 4);
    /// assert_eq!(profile.sites.iter().map(|s| s.allocations).sum::<u64>(), 4);
    /// # }
    /// ```
    pub fn profile(mut self, on: bool) -> Self {
        self.options.profile = Some(on);
        self
    }

    /// Fails the check (see [`Report::passes`]) when the body makes more than `n` allocations per
    /// measured iteration, on average.
    pub fn max_allocs_per_iter(mut self, n: u64) -> Self {
        self.options.max_allocs_per_iter = Some(n);
        self
    }

    /// Fails the check when the body allocates more than `n` bytes per measured iteration, on
    /// average.
    pub fn max_bytes_per_iter(mut self, n: u64) -> Self {
        self.options.max_bytes_per_iter = Some(n);
        self
    }

    /// Whether live heap memory is judged (default: yes).
    pub fn heap(mut self, on: bool) -> Self {
        self.options.heap = Some(on);
        self
    }

    /// Whether live threads are judged (default: yes).
    pub fn threads(mut self, on: bool) -> Self {
        self.options.threads = Some(on);
        self
    }

    /// Whether open file descriptors are judged (default: yes).
    pub fn fds(mut self, on: bool) -> Self {
        self.options.fds = Some(on);
        self
    }

    /// `runs(1)` is the single-run mode, for a body that cannot run twice (a global counter, a
    /// once-only initialiser): the body runs once between two snapshots after a bounded settle.
    /// Threads, fds and tasks it leaves behind are leaks; heap growth is suspicious at most, since
    /// one run cannot tell a leak from lazy initialisation. Other values are refused when the
    /// check runs.
    ///
    /// ```
    /// leakcheck::global_allocator!();
    ///
    /// static READY: std::sync::Once = std::sync::Once::new();
    ///
    /// fn main() {
    ///     let report = leakcheck::Check::new().runs(1).run(|| {
    ///         let mut ran = false;
    ///         READY.call_once(|| ran = true);
    ///         assert!(ran, "the initialiser runs once");
    ///     });
    ///     assert!(report.passes(), "{report}");
    ///     assert_eq!(report.body_runs(), 1);
    /// }
    /// ```
    pub fn runs(mut self, n: usize) -> Self {
        self.options.runs = Some(n);
        self
    }

    /// What a suspicious verdict does: with [`Suspicious::Fail`], [`Report::passes`] is false
    /// for it.
    pub fn suspicious(mut self, what: Suspicious) -> Self {
        self.options.suspicious = Some(what);
        self
    }

    /// Thread-name patterns whose leaks are listed as suppressed instead of failing.
    pub fn suppress_threads(mut self, patterns: &'static [&'static str]) -> Self {
        self.options.suppress_threads = patterns;
        self
    }

    /// Fd-target patterns (paths, `socket:[inode]`, socket descriptions) whose leaks are listed
    /// as suppressed instead of failing.
    pub fn suppress_fds(mut self, patterns: &'static [&'static str]) -> Self {
        self.options.suppress_fds = patterns;
        self
    }

    /// Function patterns: a heap leak whose every allocation site has a matching function in its
    /// stack is listed as suppressed instead of failing.
    ///
    /// ```
    /// leakcheck::global_allocator!();
    ///
    /// #[inline(never)]
    /// fn intern(registry: &mut Vec<Box<[u8]>>) {
    ///     registry.push(vec![0u8; 64].into_boxed_slice());
    /// }
    ///
    /// fn main() {
    ///     let mut registry = Vec::with_capacity(1024);
    ///     let report = leakcheck::Check::new()
    ///         .suppress_heap(&["*::intern"])
    ///         .run(|| intern(&mut registry));
    ///     assert!(report.passes(), "{report}");
    ///     assert_eq!(report.heap.verdict, leakcheck::Verdict::Suppressed);
    ///     assert_eq!(report.suppressed[0].pattern, "*::intern");
    /// }
    /// ```
    pub fn suppress_heap(mut self, patterns: &'static [&'static str]) -> Self {
        self.options.suppress_heap = patterns;
        self
    }

    /// Names the check in its report.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.test = Some(TestId::named(name.into()));
        self
    }

    /// The settings this check would run with now (options over environment over defaults).
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::from_options(&self.options)
    }

    /// Runs `body` repeatedly and reports what it leaked. A panic in `body` propagates.
    ///
    /// # Panics
    /// If the counting allocator is not installed, if the settings are invalid (the message
    /// says which), or if `body` panics.
    pub fn run(&self, mut body: impl FnMut()) -> Report {
        match self.try_run(|| {
            body();
            Ok::<(), std::convert::Infallible>(())
        }) {
            Ok(report) => report,
            Err(never) => match never {},
        }
    }

    /// Like [`Check::run`], for a body that can fail: the first `Err` stops the run and is
    /// returned.
    pub fn try_run<E>(&self, mut body: impl FnMut() -> Result<(), E>) -> Result<Report, E> {
        let config = self.config().unwrap_or_else(|e| panic!("{e}"));
        if !leakcheck_alloc::is_installed() {
            panic!("{}", not_installed_message(None));
        }
        let mut error = None;
        let outcome = measure(&config, self.test.clone(), &mut || {
            body().map_err(|e| {
                error = Some(e);
                String::new()
            })
        });
        let failure = match outcome {
            Ok(report) => return Ok(report),
            Err(failure) => failure,
        };
        // The caller gets the body's own panic or error; why a later run failed goes to stderr.
        if failure.run > 1 {
            eprintln!("leakcheck: {}", failure.describe(config.min_runs()));
        }
        match failure.cause {
            Cause::Panicked(payload) => resume_unwind(payload),
            Cause::Returned(_) => Err(error.expect("the body's error was kept")),
        }
    }
}

/// The message for a test binary without the counting allocator.
pub(crate) fn not_installed_message(root_file: Option<&str>) -> String {
    let place = root_file.map_or_else(
        || "the crate root (e.g. tests/my_test.rs, or src/main.rs)".to_owned(),
        |file| format!("the crate root ({file} for an integration test)"),
    );
    format!(
        "leakcheck: the counting allocator is not installed in this binary, so heap use cannot be \
         measured.\nAdd this line at the top of {place}:\n\n    leakcheck::global_allocator!();\n"
    )
}

/// The async runtime an async test's body runs on, as the harness sees it.
pub(crate) trait Runtime {
    /// Tasks spawned on the runtime that have neither completed nor been dropped. Called between
    /// iterations while the heap is being measured, so it must not allocate.
    fn alive_tasks(&self) -> u32;
    /// Lets the runtime run what is ready (woken tasks finish, aborted ones are dropped), the
    /// way settling waits for exiting threads. Must not allocate once the runtime is warm.
    fn drive(&self);
}

/// Runs `body` under `config` and analyses the series. The allocator must be installed.
pub(crate) fn measure(
    config: &Config,
    test: Option<TestId>,
    body: &mut dyn FnMut() -> Result<(), String>,
) -> Result<Report, BodyFailure> {
    measure_on(config, test, body, None)
}

/// [`measure`] for a body that runs on `runtime`, whose live tasks are judged too.
pub(crate) fn measure_on(
    config: &Config,
    test: Option<TestId>,
    body: &mut dyn FnMut() -> Result<(), String>,
    runtime: Option<&dyn Runtime>,
) -> Result<Report, BodyFailure> {
    let single = config.single_run;
    // The single-run mode is one measured iteration with no warmup, judged on its own.
    let (plan, warmup) = if single {
        (Plan { first: 1, max: 1 }, 0)
    } else {
        let plan = Plan {
            first: config.iterations,
            max: config.max_iterations,
        };
        (plan, config.warmup)
    };
    let mut calls = 0;
    let mut run_once = || -> Result<(u64, u64, u64), BodyFailure> {
        calls += 1;
        let before = leakcheck_alloc::counters();
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(&mut *body));
        let nanos = start.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        let after = leakcheck_alloc::counters();
        let cause = match result {
            Ok(Ok(())) => {
                return Ok((
                    after.allocations.wrapping_sub(before.allocations),
                    after.bytes_allocated.wrapping_sub(before.bytes_allocated),
                    nanos,
                ))
            }
            Ok(Err(message)) => Cause::Returned(message),
            Err(payload) => Cause::Panicked(payload),
        };
        Err(BodyFailure { run: calls, cause })
    };

    let before_warmup = counts(runtime);
    for _ in 0..warmup {
        run_once()?;
    }
    // Baseline: let warmup's detached threads finish (bounded), list what exists, then reserve
    // the series so that neither shows up as growth later.
    let counts0 = settle(before_warmup, config.settle, runtime);
    quiesce(config.settle);
    let threads_before = snapshot::threads();
    let fds_before = snapshot::fds();
    let mut samples: Vec<Sample> = Vec::with_capacity(plan.max + 1);
    let heap0 = leakcheck_alloc::counters();
    samples.push(Sample {
        live_bytes: heap0.live_bytes(),
        live_blocks: heap0.live_blocks(),
        threads: counts0.threads,
        fds: counts0.fds,
        tasks: counts0.tasks,
        ..Sample::default()
    });

    let judged = Judged {
        heap: config.heap,
        threads: config.threads,
        fds: config.fds,
        tasks: config.tasks && runtime.is_some(),
    };
    let mut measured = 0;
    let findings = if single {
        step(&mut run_once, &mut samples, counts0, config.settle, runtime)?;
        measured = 1;
        Findings::of_one_run(&samples, judged, runtime.is_some())
    } else {
        let mut decided = Decided::new(judged);
        while let Some(end) = plan.next_end(measured) {
            for _ in measured..end {
                let last = samples.last().copied().unwrap_or_default();
                let target = decided.settle_target(&last);
                step(&mut run_once, &mut samples, target, config.settle, runtime)?;
            }
            measured = end;
            if decided.update(&samples, &plan) {
                break;
            }
        }
        decided.findings(&samples, &plan, runtime.is_some())
    };

    // Attribution, only on suspicion: extra iterations in tracing mode, after the verdicts. A
    // leaked task or thread is found by where its allocations were made. A body that runs once
    // cannot be run again to be traced.
    let suspected = |v: Verdict| v > Verdict::Clean;
    let tasks_suspected = findings
        .tasks
        .as_ref()
        .is_some_and(|t| suspected(t.verdict));
    let traced = if config.attribute
        && !single
        && (suspected(findings.heap.verdict)
            || suspected(findings.threads.verdict)
            || tasks_suspected)
    {
        let last = samples.last().copied().unwrap_or_default();
        Some(trace(&mut run_once, || {
            settle(Counts::of(&last), config.settle, runtime);
        })?)
    } else {
        None
    };

    // The allocation profile, when asked for: one more iteration, traced, after the verdicts and
    // the attribution (so neither sees it). A body that runs once cannot run again.
    let profiled = if config.profile && !single {
        let last = samples.last().copied().unwrap_or_default();
        Some(profile_iteration(&mut run_once, || {
            settle(Counts::of(&last), config.settle, runtime);
        })?)
    } else {
        None
    };

    let mut new_threads: Vec<_> = snapshot::threads()
        .into_iter()
        .filter(|t| !threads_before.iter().any(|b| b.tid == t.tid))
        .collect();
    let mut new_fds: Vec<_> = snapshot::fds()
        .into_iter()
        .filter(|f| !fds_before.contains(f))
        .collect();
    snapshot::describe_sockets(&mut new_fds);
    let attribution = traced.map(|(traced, harness_tid)| {
        let survivors_of = usize::from(attribute::TRACED_ITERATIONS - 1);
        let attribution = attribute::sites(
            traced,
            survivors_of,
            harness_tid,
            &new_threads,
            &config.suppress.heap,
        );
        attribute::spawn_sites(&mut new_threads, &attribution);
        attribution
    });
    let mut notes = Vec::new();
    if single {
        notes.push(
            "runs = 1: the body ran once between two snapshots, without warmup; threads, fds and \
             tasks it left behind are leaks, heap growth is suspicious at most (one run cannot \
             tell a leak from lazy initialisation), and nothing is traced (the body cannot run \
             again)"
                .to_owned(),
        );
    }
    if !snapshot::PROCESS_RESOURCES_OBSERVABLE {
        notes.push(
            "threads and file descriptors are not observed on this platform (they need Linux /proc); \
             this report covers the heap only"
                .to_owned(),
        );
    }
    let profile = profiled.map(|traced| {
        let unnamed = TestId::default();
        let id = test.as_ref().unwrap_or(&unnamed);
        let mut profile = attribute::profile::profile(&traced, id);
        let stacks = &traced.allocated;
        // The pprof file is written here, in the process whose addresses the stacks are.
        if config.records && test.is_some() {
            let pprof = attribute::profile::pprof(stacks, id);
            match crate::record::store::Store::for_this_process().save_profile(id, &pprof) {
                Ok(path) => profile.pprof = Some(path),
                Err(e) => profile
                    .notes
                    .push(format!("the pprof file was not written: {e}")),
            }
        }
        profile
    });
    let mut report = Report {
        test,
        verdict: Verdict::Clean,
        heap: findings.heap,
        threads: findings.threads,
        fds: findings.fds,
        tasks: findings.tasks,
        warmup,
        measured,
        single_run: single,
        samples,
        new_threads,
        new_fds,
        attribution,
        profile,
        over_budget: Vec::new(),
        suppressed: Vec::new(),
        suspicious_fails: config.suspicious == Suspicious::Fail,
        notes,
    };
    suppress::apply(&mut report, &config.suppress);
    report.verdict = report
        .verdicts()
        .map(|(_, verdict)| verdict)
        .max()
        .unwrap_or_default();
    let allocs_per_iter = report.allocations_per_iteration();
    if let Some(profile) = report
        .profile
        .as_mut()
        .filter(|_| config.max_allocs_per_iter.is_none())
    {
        profile.suggested_max_allocs_per_iter =
            Some(attribute::profile::suggested_budget(allocs_per_iter));
    }
    report.over_budget = BudgetBreach::check(
        config.max_allocs_per_iter,
        config.max_bytes_per_iter,
        report.allocations_per_iteration(),
        report.bytes_allocated_per_iteration(),
    );
    Ok(report)
}

/// Runs the body once, settles towards `target` and appends the snapshot to `samples`.
fn step(
    run_once: &mut impl FnMut() -> Result<(u64, u64, u64), BodyFailure>,
    samples: &mut Vec<Sample>,
    target: Counts,
    bound: Duration,
    runtime: Option<&dyn Runtime>,
) -> Result<(), BodyFailure> {
    let (allocations, bytes_allocated, body_nanos) = run_once()?;
    let now = settle(target, bound, runtime);
    let heap = leakcheck_alloc::counters();
    samples.push(Sample {
        live_bytes: heap.live_bytes(),
        live_blocks: heap.live_blocks(),
        allocations,
        bytes_allocated,
        body_nanos,
        threads: now.threads,
        fds: now.fds,
        tasks: now.tasks,
    });
    Ok(())
}

/// Runs the traced iterations (settling after each) and returns what the tracer kept, with the
/// test thread's id. The tracer is stopped however the body ends.
fn trace(
    run_once: &mut impl FnMut() -> Result<(u64, u64, u64), BodyFailure>,
    mut settle: impl FnMut(),
) -> Result<(attribute::tracer::Traced, u32), BodyFailure> {
    use attribute::tracer;
    tracer::start();
    let mut outcome = Ok(());
    for iteration in 0..attribute::TRACED_ITERATIONS {
        tracer::next_iteration(iteration);
        if let Err(failure) = run_once() {
            outcome = Err(failure);
            break;
        }
        settle();
    }
    let traced = tracer::stop(attribute::TRACED_ITERATIONS - 1);
    outcome.map(|()| (traced, tracer::current_tid()))
}

/// Runs the profiled iteration with the tracer on and returns what the tracer kept: every
/// allocation it made, by stack, and the peak of its blocks.
fn profile_iteration(
    run_once: &mut impl FnMut() -> Result<(u64, u64, u64), BodyFailure>,
    settle: impl FnOnce(),
) -> Result<attribute::tracer::Traced, BodyFailure> {
    use attribute::tracer;
    tracer::start();
    let outcome = run_once();
    // Stopped before settling: what the harness allocates to settle is not the body's.
    let traced = tracer::stop(1);
    settle();
    outcome.map(|_| traced)
}

/// After how many measured iterations each resource was decided.
///
/// Only positions are kept during the run: findings carry strings, and anything the harness
/// keeps alive between snapshots would show up as heap growth. The findings are rebuilt from the
/// series (a pure function of it) once the run is over.
///
/// A leak confirmed early does not end the run while another resource still needs rounds: a
/// body that leaks fds and heap has both confirmed (the heap's leak would otherwise go out as
/// merely suspicious), within `max_iterations` as always.
struct Decided {
    judged: Judged,
    heap: Option<usize>,
    threads: Option<usize>,
    fds: Option<usize>,
    tasks: Option<usize>,
    /// The resources decided as leaks so far.
    leaking: Judged,
}

/// Which resources a run judges (or, in [`Decided::leaking`], which were found leaking).
#[derive(Clone, Copy, Default)]
struct Judged {
    heap: bool,
    threads: bool,
    fds: bool,
    /// An async test whose runtime counts its tasks, with `tasks` on.
    tasks: bool,
}

/// The findings of a run, one per resource.
struct Findings {
    heap: HeapFinding,
    threads: CountFinding,
    fds: CountFinding,
    tasks: Option<CountFinding>,
}

impl Decided {
    fn new(judged: Judged) -> Self {
        Decided {
            judged,
            heap: None,
            threads: None,
            fds: None,
            tasks: None,
            leaking: Judged::default(),
        }
    }

    /// What settling waits for after an iteration: the counts of the last snapshot, except for
    /// resources already found leaking, whose count is not coming back (waiting would only cost
    /// the settle bound every iteration while the run goes on to decide the others).
    fn settle_target(&self, last: &Sample) -> Counts {
        let open = |leaking: bool, count: Option<u32>| if leaking { None } else { count };
        Counts {
            threads: open(self.leaking.threads, last.threads),
            fds: open(self.leaking.fds, last.fds),
            tasks: open(self.leaking.tasks, last.tasks),
        }
    }

    /// Assesses the undecided resources after a round. True when the run can stop: everything
    /// judged is decided.
    fn update(&mut self, samples: &[Sample], plan: &Plan) -> bool {
        let n = samples.len() - 1;
        let note = |slot: &mut Option<usize>, leaking: &mut bool, verdict: Option<Verdict>| {
            if verdict.is_some() {
                *slot = Some(n);
            }
            *leaking = verdict == Some(Verdict::Leak);
        };
        if self.judged.heap && self.heap.is_none() {
            let verdict = analyze_heap(samples, plan).decided().map(|f| f.verdict);
            note(&mut self.heap, &mut self.leaking.heap, verdict);
        }
        for (on, slot, leaking, resource) in [
            (
                self.judged.threads,
                &mut self.threads,
                &mut self.leaking.threads,
                Resource::Threads,
            ),
            (
                self.judged.fds,
                &mut self.fds,
                &mut self.leaking.fds,
                Resource::Fds,
            ),
            (
                self.judged.tasks,
                &mut self.tasks,
                &mut self.leaking.tasks,
                Resource::Tasks,
            ),
        ] {
            if on && slot.is_none() {
                let verdict = analyze_count(samples, plan, resource).decided();
                note(slot, leaking, verdict.map(|f| f.verdict));
            }
        }
        let done = |on: bool, slot: Option<usize>| !on || slot.is_some();
        done(self.judged.heap, self.heap)
            && done(self.judged.threads, self.threads)
            && done(self.judged.fds, self.fds)
            && done(self.judged.tasks, self.tasks)
    }

    /// The findings, each from the series as it was when that resource was decided.
    ///
    /// The last round decides whatever is still open, so every judged resource has a position
    /// once the run is over; one without (a run that ended otherwise) is judged on all the
    /// iterations run, as if they were the whole budget.
    fn findings(&self, samples: &[Sample], plan: &Plan, async_test: bool) -> Findings {
        let last = samples.len() - 1;
        let run = Plan { max: last, ..*plan };
        let upto = |n: Option<usize>| &samples[..=n.unwrap_or(last)];
        let decided = |n: Option<usize>| if n.is_some() { plan } else { &run };
        let position = |resource: Resource| match resource {
            Resource::Threads => self.threads,
            Resource::Fds => self.fds,
            _ => self.tasks,
        };
        Findings::judged(
            self.judged,
            async_test,
            || {
                analyze_heap(upto(self.heap), decided(self.heap))
                    .decided()
                    .expect("a series that spends the budget is decided")
            },
            |resource| {
                let n = position(resource);
                analyze_count(upto(n), decided(n), resource)
                    .decided()
                    .expect("a series that spends the budget is decided")
            },
        )
    }
}

impl Findings {
    /// The findings from `heap` and `count` for the resources `judged`; the others are off.
    fn judged(
        judged: Judged,
        async_test: bool,
        heap: impl FnOnce() -> HeapFinding,
        count: impl Fn(Resource) -> CountFinding,
    ) -> Findings {
        let count_if = |on: bool, resource: Resource| {
            if on {
                count(resource)
            } else {
                CountFinding::off(&format!("{resource} = false"))
            }
        };
        Findings {
            heap: if judged.heap {
                heap()
            } else {
                HeapFinding::off("heap = false")
            },
            threads: count_if(judged.threads, Resource::Threads),
            fds: count_if(judged.fds, Resource::Fds),
            // Only async tests have tasks to judge (or to report as switched off).
            tasks: async_test.then(|| count_if(judged.tasks, Resource::Tasks)),
        }
    }

    /// The findings of the single run of `runs = 1`: the baseline and one snapshot.
    fn of_one_run(samples: &[Sample], judged: Judged, async_test: bool) -> Findings {
        Findings::judged(
            judged,
            async_test,
            || {
                let (bytes, blocks) = heap_series(samples);
                analyze::heap_of_one_run(&bytes, &blocks)
            },
            |resource| {
                observed_series(samples, resource).map_or_else(CountFinding::unobserved, |counts| {
                    analyze::count_of_one_run(&counts, resource)
                })
            },
        )
    }
}

fn analyze_heap(samples: &[Sample], plan: &Plan) -> Assessment<HeapFinding> {
    let (bytes, blocks) = heap_series(samples);
    analyze::heap(&bytes, &blocks, plan)
}

fn analyze_count(samples: &[Sample], plan: &Plan, resource: Resource) -> Assessment<CountFinding> {
    match observed_series(samples, resource) {
        Some(counts) => analyze::count(&counts, plan, resource),
        None => Assessment::Decided(CountFinding::unobserved()),
    }
}

fn heap_series(samples: &[Sample]) -> (Vec<u64>, Vec<u64>) {
    samples
        .iter()
        .map(|s| (s.live_bytes, s.live_blocks))
        .unzip()
}

/// The counts of `resource` in the series; `None` when the platform does not observe it.
fn observed_series(samples: &[Sample], resource: Resource) -> Option<Vec<u32>> {
    samples.iter().map(|s| s.count(resource)).collect()
}

/// Waits, with backoff up to `bound`, until no other thread of the process is running.
///
/// Threads outside the body allocate when they first block: libtest's main thread, for one,
/// allocates its channel waker when it parks to wait for the test thread. On a loaded machine
/// that can happen after the warmup, and would show up as a step in the heap series. Called
/// once, before the baseline; threads that stay busy only cost the bound.
fn quiesce(bound: Duration) {
    wait_until(bound, || {
        snapshot::other_threads_running().is_none_or(|n| n == 0)
    });
}

/// Calls `done` with exponential backoff until it returns true or `bound` has passed.
/// Allocation-free (as long as `done` is).
fn wait_until(bound: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    let mut pause = Duration::from_micros(500);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if done() || left.is_zero() {
            return;
        }
        std::thread::sleep(pause.min(left));
        pause *= 2;
    }
}

/// Live threads, open fds and live tasks at one moment.
#[derive(Clone, Copy, Default)]
struct Counts {
    threads: Option<u32>,
    fds: Option<u32>,
    tasks: Option<u32>,
}

impl Counts {
    fn of(sample: &Sample) -> Counts {
        Counts {
            threads: sample.threads,
            fds: sample.fds,
            tasks: sample.tasks,
        }
    }
}

/// The counts now. Allocation-free.
fn counts(runtime: Option<&dyn Runtime>) -> Counts {
    Counts {
        threads: snapshot::thread_count(),
        fds: snapshot::fd_count(),
        tasks: runtime.map(|r| r.alive_tasks()),
    }
}

/// Waits, with exponential backoff up to `bound`, until threads, fds and tasks are back at or
/// below `target` (threads still exiting, fds being closed by another thread, aborted tasks not
/// yet dropped), driving the runtime while it waits. Returns the counts read last.
/// Allocation-free.
fn settle(target: Counts, bound: Duration, runtime: Option<&dyn Runtime>) -> Counts {
    let at_most = |now: Option<u32>, target: Option<u32>| match (now, target) {
        (Some(n), Some(t)) => n <= t,
        _ => true,
    };
    let mut now = Counts::default();
    wait_until(bound, || {
        if let Some(runtime) = runtime {
            runtime.drive();
        }
        now = counts(runtime);
        at_most(now.threads, target.threads)
            && at_most(now.fds, target.fds)
            && at_most(now.tasks, target.tasks)
    });
    now
}
