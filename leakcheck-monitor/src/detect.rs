//! Online trend detection: one [`Detector`] per resource turns a stream of timestamped values
//! into a [`State`] (ok / suspected / leaking), a growth rate and a time to the limit.
//!
//! # The rule
//!
//! Live memory is a *floor* (what stays allocated) with *churn* on top of it (requests in
//! flight, buffers filled and flushed, caches cycling). A leak raises the floor; churn, however
//! large, does not. So the detector judges the floor, the way the test analyzer judges the low
//! of each round. Defaults in parentheses.
//!
//! 1. **Segments.** Time is cut into segments of `window / segments` (60 s / 12 = 5 s), aligned
//!    on the first sample. A segment keeps only its lowest value, separately for the samples of
//!    even and odd rank: memory is fixed and a sample costs two comparisons.
//! 2. **Floor.** At the end of each segment (a *checkpoint*) the floor is the lowest value of the
//!    last `window` (60 s). A sawtooth whose period is at most the window has a trough in every
//!    window, so its floor stays flat; spikes only go up, so they never move it. Before the
//!    first full window the floor is the lowest value since the start, which can only go down:
//!    nothing is judged until there is a full window of data.
//! 3. **Noise.** The floor of pure noise still wanders as low samples enter and leave the window.
//!    How much is measured, not assumed: the lowest even-rank and the lowest odd-rank sample of
//!    the window are two floors of the same data with independent noise (a trend moves both
//!    alike), so their difference is a sample of the floor's own noise. The noise is the mean
//!    of that difference over the last 10 windows of checkpoints (each new value clipped at 8
//!    times the current mean, so that one step cannot inflate it). On simulated churn and
//!    Gaussian noise alike, the floor's largest chance rise within 3 minutes is about 3.5 times
//!    this mean at the 99th percentile and 5 times at the 99.9th; `noise_factor` (6) times it
//!    is the *tolerance*.
//! 4. **Run.** A *run* starts when the floor rises and goes on while the floor keeps setting new
//!    highs. It ends when the floor falls back more than the tolerance below its high (the
//!    memory was released: a burst that ended, a cycle longer than the window) or when no new
//!    high came for two windows (growth stopped: a cache that filled up). Runs are replayed over
//!    the last 3 windows of checkpoints, so small rises of noise cannot add up without end.
//! 5. **Material** growth is at least the tolerance and the resource's `min_rise`, and the
//!    floor rose by at least `min_rate_per_min` over the last window.
//! 6. **Suspected** when the run has 2 new highs or more, its rise is material and its rise
//!    outside its steepest segments (see 7) is half-way there: growth that already looks spread
//!    out, waiting for persistence. A lone step is not suspected.
//! 7. **Leaking** when the run has `rises` (3) new highs or more, the rate over the last window
//!    is material, its rise *outside its steepest `step_segments` (5, so 25 s) consecutive
//!    segments* is still material, and those steepest segments hold at most 75% of its rise.
//!    The last two conditions tell a leak from a one-time step (a cache warming up, a pool
//!    growing once): a step puts nearly all of its rise into a few seconds, together with the
//!    floor's climb through the noise just before it lands, and then stops; a leak keeps adding.
//! 8. **Resolved** (leaking → ok) once all of these hold: the leaking test above fails, the
//!    episode has lasted `resolve_after` (120 s), and over the last `resolve_after` the floor
//!    rose less than half of what it takes to be flagged (half the tolerance, half of
//!    `min_rate_per_min`, and less than `min_rise`). That is hysteresis: a leak near the
//!    thresholds, or a slow stepwise one, does not flap between firing and resolved. The floor
//!    lags the values by up to a window, so an alert resolves 2 to 4 minutes after the growth
//!    stopped. After a resolution, runs start afresh.
//!
//! With the defaults, a steady leak is flagged 95 s to 2 minutes after it starts as long as it
//! outgrows the floor's noise within about 30 s (e.g. 2 KiB/min under 1 KiB of churn); a leak
//! of one thread or fd a minute after about 3.5 minutes (three separate rises); a sawtooth is
//! ignored when its period is at most the window, a step when it completes within about 10 s.
//! Longer cycles need a longer `window`; detection takes longer by the same amount. Memory that
//! stays up for longer than the window and climbs in several steps (a sustained rise of load)
//! looks like a leak until it comes down.
//!
//! The detector is a pure function of the values and their timestamps: it never reads a clock,
//! so it can be driven by simulated streams on a fake clock (see [`streams`](super::streams)).

use super::{Resource, ResourceStatus, State};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

#[cfg(test)]
mod tests;

/// What counts as material growth for one resource: below these, growth is never flagged.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Materiality {
    /// The slowest growth worth flagging, per minute (bytes or a count).
    pub min_rate_per_min: f64,
    /// The smallest rise worth flagging (bytes or a count), whatever the noise.
    pub min_rise: f64,
}

/// Settings of the detectors. The defaults are the ones described in the [module
/// documentation](self).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DetectConfig {
    /// How far back the floor looks: the longest sawtooth period that is ignored (60 s).
    #[serde(with = "millis")]
    pub window: Duration,
    /// Segments per window: checkpoints happen every `window / segments` (12, so every 5 s).
    pub segments: u32,
    /// New highs of the floor needed before a run is a leak (3).
    pub rises: u32,
    /// A rise concentrated in this many consecutive segments is a step, not a leak (5, so
    /// 25 s: a step that completes within 10 s, with the floor's climb through the noise just
    /// before it; at most 8).
    pub step_segments: u32,
    /// Rises and falls are judged against this many times the measured noise (6).
    pub noise_factor: f64,
    /// A leak resolves when the floor has not grown materially for this long (120 s).
    #[serde(with = "millis")]
    pub resolve_after: Duration,
    /// Live heap: at least 1 KiB/min.
    pub heap: Materiality,
    /// Resident set size: at least 256 KiB/min and a rise of at least 64 KiB (page-level
    /// jitter of the allocator and the kernel is not a leak).
    pub rss: Materiality,
    /// Threads: at least 1 per minute, and at least 1 thread besides the largest step.
    pub threads: Materiality,
    /// File descriptors: at least 1 per minute, and at least 1 fd besides the largest step.
    pub fds: Materiality,
}

impl Default for DetectConfig {
    fn default() -> Self {
        let discrete = Materiality {
            min_rate_per_min: 1.0,
            min_rise: 1.0,
        };
        DetectConfig {
            window: Duration::from_secs(60),
            segments: 12,
            rises: 3,
            step_segments: 5,
            noise_factor: 6.0,
            resolve_after: Duration::from_secs(120),
            heap: Materiality {
                min_rate_per_min: 1024.0,
                min_rise: 0.0,
            },
            rss: Materiality {
                min_rate_per_min: 256.0 * 1024.0,
                min_rise: 64.0 * 1024.0,
            },
            threads: discrete,
            fds: discrete,
        }
    }
}

impl DetectConfig {
    /// The materiality thresholds of `resource`.
    pub fn materiality(&self, resource: Resource) -> Materiality {
        match resource {
            Resource::Heap => self.heap,
            Resource::Rss => self.rss,
            Resource::Threads => self.threads,
            // Fds, and counts the monitor does not sample (tasks).
            _ => self.fds,
        }
    }

    /// The time between checkpoints: `window / segments`, at least 1 ms.
    pub fn segment(&self) -> Duration {
        (self.window / self.segments.max(1)).max(Duration::from_millis(1))
    }
}

/// A change of state, reported by [`Detector::observe`] at the checkpoint where it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// The checkpoint's time (Unix ms): the end of the segment that decided it.
    pub at_unix_ms: u64,
}

/// The noise is the mean over this many windows of checkpoints (10 minutes by default):
/// consecutive checkpoints share most of their samples, so it takes this long to gather enough
/// independent measurements for one quiet or busy minute not to swing it.
const NOISE_WINDOWS: usize = 10;

/// A new spread counts for at most this many times the current noise.
const NOISE_CLIP: f64 = 8.0;

/// The steepest `step_segments` of a leaking run hold at most this share of its rise: a step
/// (with a little noise around it) holds nearly all of it, a steady leak an even share.
const MAX_STEP_SHARE: f64 = 0.75;

/// A run is judged over at most this many windows of checkpoints (3 minutes by default): long
/// enough for a leak of one thread a minute to show three rises.
const RUN_WINDOWS: usize = 3;

/// The most `step_segments` can be.
const MAX_STEP_SEGMENTS: usize = 8;

/// One segment's summary: the lowest value among the samples of even rank and of odd rank.
#[derive(Clone, Copy, Debug)]
struct Segment {
    start_ms: u64,
    low: [f64; 2],
}

impl Segment {
    fn empty(start_ms: u64) -> Self {
        Segment {
            start_ms,
            low: [f64::INFINITY; 2],
        }
    }
}

/// The floor at one checkpoint.
#[derive(Clone, Copy, Debug)]
struct Checkpoint {
    at_ms: u64,
    floor: f64,
}

/// A run of new highs of the floor.
#[derive(Clone, Copy, Debug)]
struct Run {
    start_ms: u64,
    start_floor: f64,
    high: f64,
    rises: u32,
    /// The rise at each of the last `step_segments` checkpoints (0 where no new high), a ring
    /// whose next slot is `next`.
    recent: [f64; MAX_STEP_SEGMENTS],
    next: usize,
    /// The largest rise within `step_segments` consecutive checkpoints.
    steepest: f64,
    last_rise_ms: u64,
}

impl Run {
    /// Records this checkpoint's rise (0 when the floor set no new high).
    fn record(&mut self, rise: f64, step_segments: usize, now_ms: u64) {
        self.recent[self.next] = rise;
        self.next = (self.next + 1) % step_segments;
        self.steepest = self.steepest.max(self.recent[..step_segments].iter().sum());
        if rise > 0.0 {
            self.rises += 1;
            self.high += rise;
            self.last_rise_ms = now_ms;
        }
    }
}

/// The online detector of one resource. Feed it every sample with [`observe`](Self::observe);
/// read the verdict with [`state`](Self::state) and [`status`](Self::status).
///
/// All buffers are allocated by [`new`](Self::new); observing never allocates.
#[derive(Clone, Debug)]
pub struct Detector {
    resource: Resource,
    config: DetectConfig,
    materiality: Materiality,
    segment_ms: u64,
    stall_ms: u64,
    resolve_ms: u64,
    /// Segments per window.
    segments: usize,
    step_segments: usize,
    /// Checkpoints kept: enough for `resolve_after` and for `RUN_WINDOWS` windows.
    history: usize,
    limit: Option<f64>,
    current: Option<Segment>,
    /// The closed segments of the current window, oldest first.
    closed: VecDeque<Segment>,
    /// Segments closed since the first sample (the window is full once it reaches `segments`).
    segments_seen: u64,
    /// Values observed (their rank decides the half they count in).
    observed: u64,
    /// Past checkpoints, oldest first.
    checkpoints: VecDeque<Checkpoint>,
    /// The even/odd spreads of the last `NOISE_WINDOWS` windows of checkpoints.
    spreads: VecDeque<f64>,
    run: Option<Run>,
    /// Runs start at or after this checkpoint time (the last resolution).
    runs_from_ms: u64,
    state: State,
    since_ms: u64,
    last: Option<(u64, f64)>,
    floor: Option<f64>,
    noise: f64,
    /// The growth rate is measured from this checkpoint time, if something grows.
    growth_from_ms: Option<u64>,
}

impl Detector {
    /// A detector for `resource` with `config`; no limit known yet.
    pub fn new(resource: Resource, config: &DetectConfig) -> Self {
        let segments = config.segments.max(1) as usize;
        let segment_ms = (config.segment().as_millis() as u64).max(1);
        let resolve_ms = config.resolve_after.as_millis() as u64;
        let history = (resolve_ms.div_ceil(segment_ms) as usize).max(RUN_WINDOWS * segments) + 1;
        Detector {
            resource,
            config: config.clone(),
            materiality: config.materiality(resource),
            segment_ms,
            stall_ms: 2 * segment_ms * segments as u64,
            resolve_ms,
            segments,
            step_segments: (config.step_segments as usize).clamp(1, MAX_STEP_SEGMENTS),
            history,
            limit: None,
            current: None,
            closed: VecDeque::with_capacity(segments),
            segments_seen: 0,
            observed: 0,
            checkpoints: VecDeque::with_capacity(history),
            spreads: VecDeque::with_capacity(NOISE_WINDOWS * segments),
            run: None,
            runs_from_ms: 0,
            state: State::Ok,
            since_ms: 0,
            last: None,
            floor: None,
            noise: 0.0,
            growth_from_ms: None,
        }
    }

    /// Sets the limit the resource grows towards (for [`ResourceStatus::seconds_to_limit`]).
    pub fn set_limit(&mut self, limit: Option<f64>) {
        self.limit = limit;
    }

    /// Which resource this detector judges.
    pub fn resource(&self) -> Resource {
        self.resource
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The floor at the last checkpoint (the lowest value over the last window), once there is
    /// one.
    pub fn floor(&self) -> Option<f64> {
        self.floor
    }

    /// The floor's noise as measured at the last checkpoint (see the module documentation).
    pub fn noise(&self) -> f64 {
        self.noise
    }

    /// Feeds one value taken at `unix_ms`. Returns the change of state, if this value closed a
    /// segment and the checkpoint changed it. Values older than the previous one, and values
    /// that are not finite, are ignored.
    pub fn observe(&mut self, unix_ms: u64, value: f64) -> Option<Transition> {
        if !value.is_finite() || self.last.is_some_and(|(t, _)| unix_ms < t) {
            return None;
        }
        if self.last.is_none() {
            self.since_ms = unix_ms;
        }
        self.last = Some((unix_ms, value));
        let mut current = *self.current.get_or_insert(Segment::empty(unix_ms));
        let mut transition = None;
        if unix_ms >= current.start_ms + self.segment_ms {
            // The value belongs to a later segment: close the current one, account for the
            // empty segments of a gap (the sampler was stopped, the machine slept), judge at the
            // end of the last of them, and open the value's segment.
            let end = current.start_ms + self.segment_ms;
            let skipped = (unix_ms - end) / self.segment_ms;
            self.push_segment(current);
            for k in 0..skipped.min(self.segments as u64) {
                self.push_segment(Segment::empty(end + k * self.segment_ms));
            }
            transition = self.checkpoint(end + skipped * self.segment_ms);
            current = Segment::empty(end + skipped * self.segment_ms);
        }
        let half = (self.observed % 2) as usize;
        current.low[half] = current.low[half].min(value);
        self.observed += 1;
        self.current = Some(current);
        transition
    }

    fn push_segment(&mut self, segment: Segment) {
        if self.closed.len() == self.segments {
            self.closed.pop_front();
        }
        self.closed.push_back(segment);
        self.segments_seen += 1;
    }

    /// The judgement at the end of a segment: see the module documentation for the rule.
    fn checkpoint(&mut self, now_ms: u64) -> Option<Transition> {
        let low = |half: usize| {
            self.closed
                .iter()
                .map(|s| s.low[half])
                .fold(f64::INFINITY, f64::min)
        };
        let (even, odd) = (low(0), low(1));
        let floor = even.min(odd);
        if !floor.is_finite() {
            return None;
        }
        let spread = if even.is_finite() && odd.is_finite() {
            (even - odd).abs()
        } else {
            f64::NAN
        };
        self.floor = Some(floor);
        if self.checkpoints.len() == self.history {
            self.checkpoints.pop_front();
        }
        self.checkpoints.push_back(Checkpoint {
            at_ms: now_ms,
            floor,
        });
        if spread.is_finite() {
            if self.spreads.len() == NOISE_WINDOWS * self.segments {
                self.spreads.pop_front();
            }
            // A steep step makes one huge spread (its even and odd halves are one sample apart
            // on the ramp): clipped, so that it cannot inflate the noise for ten minutes.
            let clip = if self.noise > 0.0 {
                NOISE_CLIP * self.noise
            } else {
                f64::INFINITY
            };
            self.spreads.push_back(spread.min(clip));
        }
        self.noise = self.spreads.iter().sum::<f64>() / self.spreads.len().max(1) as f64;
        if self.segments_seen < self.segments as u64 {
            return None;
        }

        let tolerance = self.config.noise_factor * self.noise;
        let material = tolerance.max(self.materiality.min_rise);
        self.run = self.find_run(tolerance);
        let verdict = match self.run {
            Some(run) => {
                let total = run.high - run.start_floor;
                // The rate is judged over the last window, not the whole run: a run may have
                // started minutes earlier with a small rise of noise.
                let window_ms = self.segment_ms * self.segments as u64;
                let fast = self.rise_over(now_ms, window_ms).is_some_and(|rise| {
                    rise >= self.materiality.min_rate_per_min * window_ms as f64 / 60_000.0
                });
                let rest = total - run.steepest;
                if run.rises >= self.config.rises
                    && fast
                    && rest >= material
                    && run.steepest <= MAX_STEP_SHARE * total
                {
                    State::Leaking
                } else if run.rises >= 2 && fast && total >= material && rest >= material / 2.0 {
                    State::Suspected
                } else {
                    State::Ok
                }
            }
            None => State::Ok,
        };
        let next = match self.state {
            // A leak resolves only when neither test sees growth any more: the leak's own
            // (the run still qualifies) nor the floor's rise over `resolve_after`.
            State::Leaking
                if verdict != State::Leaking
                    && now_ms - self.since_ms >= self.resolve_ms
                    && !self.grew_recently(now_ms, tolerance) =>
            {
                // What was judged is over: later runs start from here.
                self.runs_from_ms = now_ms;
                self.run = None;
                State::Ok
            }
            State::Leaking => State::Leaking,
            State::Ok | State::Suspected => verdict,
        };
        // The growth rate over what is growing: the run, or while leaking (the run may have
        // ended in a pause) the last `resolve_after`; nothing is growing otherwise.
        let from_ms = match (next, self.run) {
            (_, Some(run)) => Some(run.start_ms),
            (State::Leaking, None) => Some(now_ms.saturating_sub(self.resolve_ms)),
            _ => None,
        };
        self.growth_from_ms = from_ms;
        (next != self.state).then(|| {
            let transition = Transition {
                from: self.state,
                to: next,
                at_unix_ms: now_ms,
            };
            self.state = next;
            self.since_ms = now_ms;
            transition
        })
    }

    /// The run ending at the newest checkpoint, replayed over the kept checkpoints: a run never
    /// reaches back further than `RUN_WINDOWS` windows, so small rises of noise cannot add up
    /// without end.
    fn find_run(&self, tolerance: f64) -> Option<Run> {
        let mut run: Option<Run> = None;
        let mut previous: Option<Checkpoint> = None;
        let first = self
            .checkpoints
            .partition_point(|c| c.at_ms < self.runs_from_ms);
        for &c in self.checkpoints.range(first..) {
            run = match (run, previous) {
                (None, Some(p)) if c.floor > p.floor => {
                    let mut run = Run {
                        start_ms: p.at_ms,
                        start_floor: p.floor,
                        high: p.floor,
                        rises: 0,
                        recent: [0.0; MAX_STEP_SEGMENTS],
                        next: 0,
                        steepest: 0.0,
                        last_rise_ms: c.at_ms,
                    };
                    run.record(c.floor - p.floor, self.step_segments, c.at_ms);
                    Some(run)
                }
                (None, _) => None,
                (Some(run), _) if c.floor < run.high - tolerance => None,
                (Some(run), _)
                    if c.floor <= run.high && c.at_ms - run.last_rise_ms > self.stall_ms =>
                {
                    None
                }
                (Some(mut run), _) => {
                    run.record((c.floor - run.high).max(0.0), self.step_segments, c.at_ms);
                    Some(run)
                }
            };
            previous = Some(c);
        }
        run
    }

    /// How much the floor rose from the newest checkpoint at least `span_ms` old to now, if
    /// the kept checkpoints reach back that far.
    fn rise_over(&self, now_ms: u64, span_ms: u64) -> Option<f64> {
        let then = self
            .checkpoints
            .iter()
            .rev()
            .find(|c| now_ms - c.at_ms >= span_ms)?;
        let now = self.checkpoints.back()?;
        Some(now.floor - then.floor)
    }

    /// Whether the floor still grows over the last `resolve_after`, by half of what it takes to
    /// be flagged (hysteresis: a leak near the thresholds does not flap). Until the history
    /// spans that long, growth counts as continuing.
    fn grew_recently(&self, now_ms: u64, tolerance: f64) -> bool {
        let minutes = self.resolve_ms as f64 / 60_000.0;
        let threshold = (tolerance / 2.0)
            .max(self.materiality.min_rise)
            .max(self.materiality.min_rate_per_min / 2.0 * minutes);
        self.rise_over(now_ms, self.resolve_ms)
            .is_none_or(|rise| rise >= threshold)
    }

    /// The growth per second of what grows (see [`ResourceStatus::growth_per_sec`]): the
    /// Theil–Sen slope (median of the pairwise slopes) of the floors since the run started, or
    /// over the last `resolve_after` while leaking; robust to a single step of the floor. 0 when
    /// nothing grows. Computed on demand: the sampler asks once per sample, the checkpoints
    /// never need it.
    pub fn growth_per_sec(&self) -> f64 {
        let Some(from_ms) = self.growth_from_ms else {
            return 0.0;
        };
        let first = self.checkpoints.partition_point(|c| c.at_ms < from_ms);
        let n = self.checkpoints.len() - first;
        let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
        for (i, a) in self.checkpoints.range(first..).enumerate() {
            for b in self.checkpoints.range(first + i + 1..) {
                if b.at_ms > a.at_ms {
                    let seconds = (b.at_ms - a.at_ms) as f64 / 1000.0;
                    slopes.push((b.floor - a.floor) / seconds);
                }
            }
        }
        median(&mut slopes).unwrap_or(0.0).max(0.0)
    }

    /// What the detector knows now, as the monitor reports it.
    pub fn status(&self) -> ResourceStatus {
        let value = self.last.map(|(_, v)| v);
        let growth = self.growth_per_sec();
        let seconds_to_limit = match (self.limit, value) {
            (Some(limit), Some(v)) if growth > 0.0 => Some(((limit - v) / growth).max(0.0)),
            _ => None,
        };
        ResourceStatus {
            resource: self.resource,
            state: self.state,
            value,
            growth_per_sec: growth,
            limit: self.limit,
            seconds_to_limit,
            since_unix_ms: self.since_ms,
            reason: self.reason(growth),
        }
    }

    /// One sentence on why the state is what it is.
    fn reason(&self, growth_per_sec: f64) -> String {
        let r = self.resource;
        let Some(floor) = self
            .floor
            .filter(|_| self.segments_seen >= self.segments as u64)
        else {
            let seen = self.segments_seen * self.segment_ms / 1000;
            return format!(
                "collecting a first window of data ({seen} of {} s)",
                self.config.window.as_secs()
            );
        };
        let window = fmt_secs(self.config.window.as_secs_f64());
        match (self.state, self.run) {
            (State::Leaking, _) => format!(
                "the floor keeps rising, {}/min; resolves after {} without material growth",
                amount(r, growth_per_sec * 60.0),
                fmt_secs(self.config.resolve_after.as_secs_f64())
            ),
            (_, Some(run)) => {
                let last = self.checkpoints.back().map_or(run.start_ms, |c| c.at_ms);
                format!(
                    "the floor rose {} in {} step{} over {} (leaking after {} steps of material growth); noise {}",
                    amount(r, run.high - run.start_floor),
                    run.rises,
                    if run.rises == 1 { "" } else { "s" },
                    fmt_secs((last - run.start_ms) as f64 / 1000.0),
                    self.config.rises,
                    amount(r, self.noise),
                )
            }
            (_, None) => format!(
                "no persistent growth: floor {} (lowest value over the last {window})",
                amount(r, floor)
            ),
        }
    }
}

/// The median of `values` (reordered), `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let (len, mid) = (values.len(), values.len() / 2);
    let (below, &mut upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    if len % 2 == 1 {
        return Some(upper);
    }
    let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

/// `value` of `resource` for people: bytes in B/KiB/MiB/GiB, counts as numbers.
pub fn amount(resource: Resource, value: f64) -> String {
    match resource {
        Resource::Heap | Resource::Rss => {
            let units = ["B", "KiB", "MiB", "GiB", "TiB"];
            let mut v = value;
            let mut unit = 0;
            while v.abs() >= 1024.0 && unit + 1 < units.len() {
                v /= 1024.0;
                unit += 1;
            }
            if unit == 0 {
                format!("{v:.0} B")
            } else {
                format!("{v:.1} {}", units[unit])
            }
        }
        _ => {
            if value.fract() == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.2}")
            }
        }
    }
}

/// Seconds for people: `45 s`, `3m20s`, `2h05m`, `3.2 d`.
pub fn fmt_secs(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s < 120 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 2 * 86_400 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

/// Durations as integer milliseconds in JSON.
pub(crate) mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
