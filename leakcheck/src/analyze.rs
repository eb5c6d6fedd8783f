//! Verdicts: turns each resource's series of snapshots into **leak**, **suspicious** or **clean**.
//!
//! The measured iterations come in rounds (see [`Plan`]): a first round of `iterations`, then
//! rounds that double the history until `max_iterations`. Each call looks at a series that ends
//! on a round boundary and either decides or asks for one more round.
//!
//! * **Heap** (live bytes and live blocks) is noisy and full of bounded growth, so growth must be
//!   *persistent*: a round *grows* when it sets a new high **and** its low stays above every
//!   earlier low. A sawtooth or an oscillating buffer repeats its highs and lows; a bounded cache
//!   stops setting new highs once full; a leak does both, round after round, even when it is
//!   intermittent or hidden under a sawtooth. The first round compares its two halves. A `Vec`
//!   or `String` that only grows moves the heap only when its capacity doubles, so its last
//!   round may set no new high; a staircase of doubling steps at doubling waits whose next step
//!   falls past the budget still counts as rising.
//! * **Threads and fds** are discrete and settled before each snapshot: an increase that is still
//!   there at the end and happened in at least two separate iterations is a leak; a single step
//!   that stays flat afterwards is reported as suspicious (lazy start-up outside the warmup).
//! * **A single run** (`runs = 1`, for a body that cannot run twice) has no series to judge: a
//!   thread, fd or task it leaves behind is a leak; heap growth is suspicious at most.

use leakcheck_probe::Resource;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::RangeInclusive;

/// The outcome for one resource, or for a whole test (the worst of its resources).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not judged: switched off (`heap = false`, ...).
    Off,
    /// No persistent growth.
    #[default]
    Clean,
    /// A leak, but every leaked item matches a suppression pattern; listed, does not fail.
    Suppressed,
    /// Growth that was not confirmed as a leak; reported, does not fail the test unless
    /// `suspicious = "fail"`.
    Suspicious,
    /// Confirmed persistent growth; fails the test.
    Leak,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Off => "off",
            Verdict::Clean => "clean",
            Verdict::Suppressed => "suppressed",
            Verdict::Suspicious => "suspicious",
            Verdict::Leak => "LEAK",
        })
    }
}

/// How the measured iterations are split into rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// Measured iterations in the first round (the common case for clean code).
    pub first: usize,
    /// Most measured iterations the run may extend to while confirming growth.
    pub max: usize,
}

impl Plan {
    /// Ends of the rounds, in measured iterations: `first`, `2·first`, `4·first`, ... then `max`.
    pub fn round_ends(&self) -> impl Iterator<Item = usize> {
        let (first, max) = (self.first.max(1), self.max.max(self.first.max(1)));
        let mut next = Some(first);
        std::iter::from_fn(move || {
            let end = next?;
            next = (end < max).then(|| (end * 2).min(max));
            Some(end)
        })
    }

    /// The round end after `measured` iterations, if the plan allows one.
    pub fn next_end(&self, measured: usize) -> Option<usize> {
        self.round_ends().find(|&end| end > measured)
    }
}

/// The analyzer's answer for one resource after a round.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Assessment<F> {
    /// Enough evidence.
    Decided(F),
    /// Growth seen but not yet confirmed or dismissed: run the next round.
    NeedsMore,
}

impl<F> Assessment<F> {
    /// The finding, if decided.
    pub(crate) fn decided(self) -> Option<F> {
        match self {
            Assessment::Decided(f) => Some(f),
            Assessment::NeedsMore => None,
        }
    }
}

/// The heap verdict and its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HeapFinding {
    /// The verdict.
    pub verdict: Verdict,
    /// Net change of live bytes per measured iteration (last snapshot against the baseline).
    pub bytes_per_iteration: f64,
    /// Net change of live blocks per measured iteration.
    pub blocks_per_iteration: f64,
    /// Why, in one sentence.
    pub evidence: String,
}

/// The verdict for a counted resource (threads, file descriptors or tasks) and its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CountFinding {
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the platform could observe this resource at all.
    pub observed: bool,
    /// Count at the end minus count at the baseline.
    pub net: i64,
    /// `net` per measured iteration.
    pub per_iteration: f64,
    /// Measured iterations (1-based) in which the count reached a new high.
    pub increased_in: Vec<usize>,
    /// Why, in one sentence.
    pub evidence: String,
}

impl HeapFinding {
    /// The finding for the heap when it is not judged (`heap = false`).
    pub fn off(why: &str) -> Self {
        HeapFinding {
            verdict: Verdict::Off,
            bytes_per_iteration: 0.0,
            blocks_per_iteration: 0.0,
            evidence: format!("not judged ({why})"),
        }
    }
}

impl CountFinding {
    /// The finding for a counted resource that is not judged (`threads = false`, ...).
    pub fn off(why: &str) -> Self {
        CountFinding {
            verdict: Verdict::Off,
            evidence: format!("not judged ({why})"),
            ..CountFinding::unobserved()
        }
    }

    /// The finding for a resource the platform cannot observe.
    pub fn unobserved() -> Self {
        CountFinding {
            verdict: Verdict::Clean,
            observed: false,
            net: 0,
            per_iteration: 0.0,
            increased_in: Vec::new(),
            evidence: "not observed on this platform".into(),
        }
    }
}

/// Judges live heap bytes and blocks. `bytes[0]`/`blocks[0]` are the baseline after warmup;
/// the measured iterations follow and must end on one of `plan`'s round ends.
pub(crate) fn heap(bytes: &[u64], blocks: &[u64], plan: &Plan) -> Assessment<HeapFinding> {
    assert_eq!(
        bytes.len(),
        blocks.len(),
        "one bytes and one blocks value per snapshot"
    );
    let n = bytes.len().saturating_sub(1);
    let ends: Vec<usize> = plan.round_ends().take_while(|&e| e <= n).collect();
    assert!(
        ends.last() == Some(&n),
        "heap series must end on a round boundary"
    );
    let finding = |verdict, evidence: String| {
        Assessment::Decided(HeapFinding {
            verdict,
            bytes_per_iteration: per_iteration(bytes[n] as i128 - bytes[0] as i128, n),
            blocks_per_iteration: per_iteration(blocks[n] as i128 - blocks[0] as i128, n),
            evidence,
        })
    };
    let grew = |a: RangeInclusive<usize>, b: RangeInclusive<usize>| {
        rose(bytes, a.clone(), b.clone()) || rose(blocks, a, b)
    };

    let first = ends[0];
    let half = first / 2;
    let first_grew = first >= 2 && grew(0..=half, half + 1..=first);
    // The common case: nothing went above the baseline and the second half's low is no higher
    // than the first half's. Anything else, even a final value back at the baseline, may be a
    // slow leak under noise and gets a second look.
    let settled = |s: &[u64]| {
        let below = s[1..=first].iter().all(|&v| v <= s[0]);
        below && min_max(&s[half + 1..=first]).0 <= min_max(&s[..=half]).0
    };
    if settled(bytes) && settled(blocks) {
        return finding(
            Verdict::Clean,
            format!(
                "never above the baseline in {first} iterations (live heap {})",
                describe_band(bytes, blocks, 0..=first)
            ),
        );
    }

    // Rounds after the first: count rising rounds, and the streak of quiet rounds (no new high
    // at all) at the end. A round with a new high but a floor that did not rise is neither.
    let mut growing = usize::from(first_grew);
    let mut quiet = 0;
    let mut last_growth_end = if first_grew { first } else { 0 };
    for w in ends.windows(2) {
        let (prev, end) = (w[0], w[1]);
        let (history, round) = (0..=prev, prev + 1..=end);
        if grew(history.clone(), round.clone()) {
            growing += 1;
            last_growth_end = end;
        }
        if new_high(bytes, history.clone(), round.clone())
            || new_high(blocks, history.clone(), round.clone())
        {
            quiet = 0;
            continue;
        }
        quiet += 1;
        // A bounded structure stops setting new highs. One quiet round settles it when no round
        // ever rose and this one repeats the earlier high exactly, as deterministic code does (a
        // step, a sawtooth caught mid-cycle). Otherwise two in a row, so that a slow leak under
        // noise or an intermittent leak with a quiet spell is not let go.
        let repeats = |s: &[u64]| min_max(&s[round.clone()]).1 == min_max(&s[history.clone()]).1;
        let needed = if growing == 0 && repeats(bytes) && repeats(blocks) {
            1
        } else {
            2
        };
        if quiet >= needed {
            let evidence = if growing == 0 {
                format!(
                    "stayed within a stable band over {end} iterations ({}): bounded",
                    describe_band(bytes, blocks, 0..=end)
                )
            } else {
                format!(
                    "grew until iteration {last_growth_end}, then no new high for {} iterations: bounded (e.g. a cache that filled up)",
                    end - last_growth_end
                )
            };
            return finding(Verdict::Clean, evidence);
        }
    }

    if n < plan.max.max(plan.first) {
        return Assessment::NeedsMore;
    }
    // The budget is spent. Rising rounds also happen by chance in bounded noise (the all-time
    // low and high land in either half about equally often), so growth only counts once the
    // level has left the noise band: the last round's low is above all the first round reached.
    let rounds = ends.len();
    let last = if rounds >= 2 {
        ends[rounds - 2] + 1
    } else {
        half + 1
    }..=n;
    // With a single round, its second half is judged against its first.
    let band = if rounds >= 2 { first } else { half };
    let left_band = |s: &[u64]| min_max(&s[last.clone()]).0 > min_max(&s[..=band]).1;
    let rising_now = |s: &[u64]| rose(s, 0..=*last.start() - 1, last.clone());
    let confirmed = |s: &[u64]| rising_now(s) && left_band(s);
    if growing >= 2 && (confirmed(bytes) || confirmed(blocks)) {
        finding(
            Verdict::Leak,
            format!(
                "grew in {growing} of {rounds} rounds over {n} iterations, each setting a new high above a rising floor, and left the first round's range",
            ),
        )
    } else if growing >= 2
        && [bytes, blocks]
            .iter()
            .any(|s| left_band(s) && doubling_due_after(s))
    {
        // A `Vec` or `String` that only grows shows its growth when its capacity doubles: at a
        // steady rate the waits between steps double too, so a last round without a step can be
        // the rhythm rather than the end of the growth.
        finding(
            Verdict::Leak,
            format!(
                "grew in {growing} of {rounds} rounds over {n} iterations in steps that double with the waits between them (a buffer's capacity doubling), left the first round's range, and the next step is due after the last iteration",
            ),
        )
    } else if !left_band(bytes) && !left_band(blocks) {
        finding(
            Verdict::Clean,
            format!(
                "varied over {n} iterations but stayed within the range of the first {first} ({}): bounded noise",
                describe_band(bytes, blocks, 0..=first)
            ),
        )
    } else if growing < 2 {
        finding(
            Verdict::Suspicious,
            format!("grew over {n} iterations but the run allows no confirming round (raise max_iterations)"),
        )
    } else {
        finding(
            Verdict::Suspicious,
            format!(
                "grew in {growing} of {rounds} rounds, last at iteration {last_growth_end}, then paused: not confirmed"
            ),
        )
    }
}

/// Judges a discrete count (threads, fds or tasks) taken after settling. `counts[0]` is the baseline.
pub(crate) fn count(counts: &[u32], plan: &Plan, what: Resource) -> Assessment<CountFinding> {
    let n = counts.len().saturating_sub(1);
    let net = i64::from(counts[n]) - i64::from(counts[0]);
    let increased_in = new_highs(counts);
    let high = counts.iter().copied().max().unwrap_or(0);
    let finding = |verdict, evidence: String| {
        Assessment::Decided(CountFinding {
            verdict,
            observed: true,
            net,
            per_iteration: per_iteration(i128::from(net), n),
            increased_in: increased_in.clone(),
            evidence,
        })
    };

    if net <= 0 {
        let evidence = if increased_in.is_empty() {
            format!("no new {what} over {n} iterations")
        } else {
            format!(
                "{what} rose to {high} but went back to {} by the end",
                counts[n]
            )
        };
        return finding(Verdict::Clean, evidence);
    }
    match increased_in.as_slice() {
        [_, _, ..] => finding(
            Verdict::Leak,
            format!(
                "+{net} {what} over {n} iterations, increasing in iterations {}",
                list(&increased_in)
            ),
        ),
        [step] => {
            let round_start = plan.round_ends().take_while(|&e| e < n).last().unwrap_or(0);
            if *step > round_start && plan.next_end(n).is_some() {
                Assessment::NeedsMore
            } else {
                finding(
                    Verdict::Suspicious,
                    format!(
                        "+{net} {what} once, in iteration {step}, then flat for {} iterations: started lazily after the warmup? (raise warmup)",
                        n - step
                    ),
                )
            }
        }
        [] => unreachable!("a net increase needs a new high"),
    }
}

/// Judges the heap after the single run of `runs = 1`: `bytes`/`blocks` run from the baseline
/// to the snapshot after the run. Growth is suspicious at most: a lazy static, a pool or a cache
/// filled on first use looks exactly like a leak when the body runs once.
pub(crate) fn heap_of_one_run(bytes: &[u64], blocks: &[u64]) -> HeapFinding {
    let net = |s: &[u64]| s[s.len() - 1] as i128 - s[0] as i128;
    let (net_bytes, net_blocks) = (net(bytes), net(blocks));
    let grew = net_bytes > 0 || net_blocks > 0;
    HeapFinding {
        verdict: if grew {
            Verdict::Suspicious
        } else {
            Verdict::Clean
        },
        bytes_per_iteration: per_iteration(net_bytes, 1),
        blocks_per_iteration: per_iteration(net_blocks, 1),
        evidence: if grew {
            format!(
                "{net_bytes:+} B in {net_blocks:+} blocks after the single run (runs = 1): one run \
                 cannot tell a leak from lazy initialisation, so this is suspicious at most"
            )
        } else {
            "not above the baseline after the single run (runs = 1)".to_owned()
        },
    }
}

/// Judges a discrete count (threads, fds or tasks) after the single run of `runs = 1` and its
/// settle: `counts` run from the baseline to the snapshot after. What one run leaves behind once
/// settled is a leak: these are not created lazily by clean code the way heap caches are.
pub(crate) fn count_of_one_run(counts: &[u32], what: Resource) -> CountFinding {
    let net = i64::from(counts[counts.len() - 1]) - i64::from(counts[0]);
    CountFinding {
        verdict: if net > 0 {
            Verdict::Leak
        } else {
            Verdict::Clean
        },
        observed: true,
        net,
        per_iteration: per_iteration(i128::from(net), 1),
        increased_in: if net > 0 { vec![1] } else { Vec::new() },
        evidence: if net > 0 {
            format!("+{net} {what} still there after the single run and its settle (runs = 1)")
        } else {
            format!("no new {what} after the single run (runs = 1)")
        },
    }
}

/// The iterations (1-based) in which a count reached a new high. `counts[0]` is the baseline.
fn new_highs(counts: &[u32]) -> Vec<usize> {
    let mut high = counts[0];
    (1..counts.len())
        .filter(|&i| {
            let new_high = counts[i] > high;
            high = high.max(counts[i]);
            new_high
        })
        .collect()
}

/// Whether `series` ends like a buffer whose capacity doubles while it is filled at a steady
/// rate: its last three new highs form a staircase (the level never falls back below a step once
/// taken), each rise at least half again the one before, the wait before the last step twice the
/// wait before it (give or take a quarter, at least one iteration, for rounding), and the next
/// step, due after twice that wait again, falls past the end of the series.
///
/// Growth to the largest input seen so far also doubles capacity, but at the irregular times new
/// maxima of random inputs come; equal steps (threads started lazily, one per worker) do not
/// grow; noise breaks the staircase. None of them fits.
fn doubling_due_after(series: &[u64]) -> bool {
    let n = series.len().saturating_sub(1);
    // The last three new highs: (iteration, rise over the previous high). No allocation: this
    // runs between measured rounds.
    let mut steps = [(0usize, 0u64); 3];
    let mut found = 0;
    let mut high = series[0];
    for (i, &v) in series.iter().enumerate().skip(1) {
        if v > high {
            steps = [steps[1], steps[2], (i, v - high)];
            found += 1;
            high = v;
        }
    }
    if found < 3 {
        return false;
    }
    let [(t1, d1), (t2, d2), (t3, d3)] = steps;
    let grows = |a: u64, b: u64| u128::from(b) * 2 >= u128::from(a) * 3;
    let (wait, last_wait) = (t2 - t1, t3 - t2);
    let doubled = last_wait.abs_diff(2 * wait) <= (wait / 4).max(1);
    // From the first of the three steps on, every value is the running high: a staircase.
    let mut level = series[t1];
    let staircase = series[t1..].iter().all(|&v| {
        let holds = v >= level;
        level = level.max(v);
        holds
    });
    grows(d1, d2) && grows(d2, d3) && doubled && staircase && t3 + 2 * last_wait > n
}

/// A round `b` sets a new high over the history `a`.
fn new_high(series: &[u64], a: RangeInclusive<usize>, b: RangeInclusive<usize>) -> bool {
    min_max(&series[b]).1 > min_max(&series[a]).1
}

/// A round `b` grows over the history `a`: a new high, and a low above every earlier low.
fn rose(series: &[u64], a: RangeInclusive<usize>, b: RangeInclusive<usize>) -> bool {
    let (a_min, a_max) = min_max(&series[a]);
    let (b_min, b_max) = min_max(&series[b]);
    b_max > a_max && b_min > a_min
}

fn min_max(values: &[u64]) -> (u64, u64) {
    values
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

fn per_iteration(total: i128, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        total as f64 / n as f64
    }
}

fn describe_band(bytes: &[u64], blocks: &[u64], range: RangeInclusive<usize>) -> String {
    let (lo, hi) = min_max(&bytes[range.clone()]);
    let (blo, bhi) = min_max(&blocks[range]);
    if lo == hi && blo == bhi {
        format!("constant at {lo} B in {blo} blocks")
    } else {
        format!("{lo}..={hi} B in {blo}..={bhi} blocks")
    }
}

fn list(items: &[usize]) -> String {
    const SHOWN: usize = 12;
    let mut s: Vec<String> = items.iter().take(SHOWN).map(usize::to_string).collect();
    if items.len() > SHOWN {
        s.push(format!("... ({} more)", items.len() - SHOWN));
    }
    s.join(", ")
}

#[cfg(test)]
mod tests;
