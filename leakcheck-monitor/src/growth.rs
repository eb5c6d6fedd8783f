//! Where the heap grows: two heap-sampler snapshots (the one from the start of the heap
//! detector's window and the current one) compared call site by call site, ranked by in-use
//! growth per minute, each with the error of its estimate.
//!
//! A sample's **site** is [`site_of`] its resolved stack, the same fingerprint as the test-side
//! attribution and the pprof tools. Stacks are symbolized once each and cached in a
//! [`SiteCache`], bounded by the sampler's stack table ([`STACK_CAPACITY`]).
//!
//! # The estimate and its error
//!
//! A live sample of `s` bytes taken at rate `R` stands for `w = 1/(1 − e^(−s/R))` blocks like
//! it, so a site's in-use bytes are estimated by `Σ w·s` over its live samples. Sampling is a
//! Poisson process by bytes: each block of the site was sampled or not independently, so the
//! variance of one sample's contribution is `s²·w·(w − 1)` (0 for a block larger than many
//! times `R`, which is always sampled; about `R²` for a small one).
//!
//! Growth is the head's estimate minus the base's. A block that was live and sampled in both
//! snapshots is the same sample (same address, same allocation time) and cancels exactly, so
//! the variance of the difference is the sum of the variances of the samples that differ: the
//! ones allocated since the base and the ones freed since. Per minute of the span between the
//! snapshots, that gives [`GrowingSite::bytes_per_minute`] ±
//! [`GrowingSite::error_bytes_per_minute`] (one standard deviation).
//!
//! # When a site is *certain*
//!
//! A site is [`certain`](GrowingSite::certain) when all of these hold:
//!
//! 1. its growth is more than [`SIGMAS`] (2) standard errors above zero;
//! 2. at least [`MIN_NEW_SAMPLES`] (3) of its samples live at the head were allocated since the
//!    base: one or two blocks, however large, are a step, not a growth rate (the heap detector
//!    does not call a lone step a leak either);
//! 3. it never *fell* between the kept snapshots in between (by more than [`SIGMAS`] standard
//!    errors of that step): a leak's in-use bytes only go up, a sawtooth's come down at each
//!    reset, so a sawtooth that happens to be higher at the head than at the base is not named.
//!
//! For small blocks, 1 and 2 mean about 5 new samples over the span: at the default rate of
//! 512 KiB and the default 60 s window, a site growing by less than about 2.5 MiB a minute is
//! not certain (a finer rate, or a longer window, names slower leaks).
//!
//! The monitor reports **only certain sites** (in `/api/status` and in alerts): a site named
//! there must be worth a developer's time, and the uncertain ones are mostly sampling noise of
//! sites that do not grow at all (a plateaued cache whose blocks are replaced, a buffer in
//! flight). [`Growth::sites`] keeps the uncertain ones too, after the certain ones, for tools
//! that want to show them as such.
//!
//! A bounded cache that filled before the base, and a sawtooth or a cache that stopped, have no
//! growth over the span (their samples at the head are the ones at the base, or replace them
//! one for one): they are not named once the window has moved past their growth.

use super::HeapStatus;
use leakcheck_alloc::sample::{self, Snapshot, StackId, STACK_CAPACITY};
use leakcheck_probe::pprof::sites::{site_of, Site};
use leakcheck_probe::symbols::{self, Frame};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Standard errors a site's growth must exceed to be certain (and a fall between kept
/// snapshots must exceed to count as one).
pub const SIGMAS: f64 = 2.0;

/// Samples allocated since the base, still live at the head, that a certain site needs.
pub const MIN_NEW_SAMPLES: u64 = 3;

/// One call site whose in-use heap grew between two snapshots.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GrowingSite {
    /// The innermost user function (demangled, without the hash).
    pub function: String,
    /// Its source file, when debug info has it.
    pub file: Option<String>,
    /// Its source line, when debug info has it.
    pub line: Option<u32>,
    /// The site's fingerprint: the same as the test-side attribution's and the pprof tools'.
    pub fingerprint: String,
    /// Whether the site is the user's code (false when its stack had machinery frames only).
    pub user: bool,
    /// Estimated growth of its in-use bytes per minute over the span.
    pub bytes_per_minute: f64,
    /// One standard error of `bytes_per_minute`, from the sampling.
    pub error_bytes_per_minute: f64,
    /// Estimated in-use bytes at the head.
    pub live_bytes: f64,
    /// Its live samples at the head.
    pub samples: u64,
    /// Of those, the ones allocated since the base.
    pub new_samples: u64,
    /// Whether the growth is certain (see the [module documentation](self)).
    pub certain: bool,
}

impl fmt::Display for GrowingSite {
    /// `function (file:line) +1.2 MiB/min ± 0.3 MiB/min`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.function)?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " ({file}:{line})")?,
            (Some(file), None) => write!(f, " ({file})")?,
            _ => {}
        }
        write!(
            f,
            " +{}/min ± {}/min",
            bytes(self.bytes_per_minute),
            bytes(self.error_bytes_per_minute)
        )
    }
}

/// Bytes in binary units, for messages.
fn bytes(value: f64) -> String {
    super::detect::amount(super::Resource::Heap, value)
}

/// The comparison of two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Growth {
    /// Sites whose in-use bytes grew: the certain ones first, each group by
    /// `bytes_per_minute`, largest first.
    pub sites: Vec<GrowingSite>,
    /// When the base was taken (Unix ms).
    pub base_unix_ms: u64,
    /// When the head was taken (Unix ms).
    pub head_unix_ms: u64,
}

impl Growth {
    /// The certain sites, largest growth first.
    pub fn certain(&self) -> impl Iterator<Item = &GrowingSite> {
        self.sites.iter().take_while(|s| s.certain)
    }

    /// The time between the snapshots.
    pub fn span(&self) -> Duration {
        Duration::from_millis(self.head_unix_ms.saturating_sub(self.base_unix_ms))
    }
}

/// Sites of stacks, resolved once per stack: repeated comparisons symbolize only stacks they
/// have not seen. Holds at most one entry per sampler stack ([`STACK_CAPACITY`]) and one site
/// per distinct fingerprint.
///
/// Stacks that pass through the monitor itself (`leakcheck_monitor`, `leakcheck_probe`: its
/// snapshots, the symbolizer's debug-info cache, the HTTP endpoint) are left out of every
/// comparison: they are the monitor's own bounded cost, and naming them would send a user
/// after the tool instead of the leak.
pub struct SiteCache {
    resolve: fn(&[usize]) -> Vec<Frame>,
    /// By stack index: unresolved (`None`), the monitor's own (`Some(None)`), or a site index.
    by_stack: Vec<Option<Option<u32>>>,
    sites: Vec<Site>,
    by_fingerprint: HashMap<String, u32>,
}

impl fmt::Debug for SiteCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteCache")
            .field("stacks", &self.stacks())
            .field("sites", &self.sites.len())
            .finish()
    }
}

impl Default for SiteCache {
    fn default() -> Self {
        SiteCache::new()
    }
}

impl SiteCache {
    /// A cache resolving with [`symbols::resolve`].
    pub fn new() -> Self {
        SiteCache::with_resolver(symbols::resolve)
    }

    /// A cache resolving return addresses with `resolve` (innermost first, as
    /// [`symbols::resolve`]).
    pub fn with_resolver(resolve: fn(&[usize]) -> Vec<Frame>) -> Self {
        SiteCache {
            resolve,
            by_stack: Vec::new(),
            sites: Vec::new(),
            by_fingerprint: HashMap::new(),
        }
    }

    /// Stacks resolved so far.
    pub fn stacks(&self) -> usize {
        self.by_stack.iter().filter(|s| s.is_some()).count()
    }

    /// The site index of `stack`, resolving it from `snapshot` the first time; `None` for the
    /// monitor's own stacks, and when the snapshot does not list the stack yet (a stack first
    /// seen during the copy).
    fn site(&mut self, snapshot: &Snapshot, stack: StackId) -> Option<u32> {
        let index = stack.index();
        if let Some(Some(site)) = self.by_stack.get(index) {
            return *site;
        }
        if index >= STACK_CAPACITY {
            return None;
        }
        let frames = (self.resolve)(&snapshot.stack(stack)?.frames);
        if self.by_stack.len() <= index {
            self.by_stack.resize(index + 1, None);
        }
        if frames.iter().any(is_monitor) {
            self.by_stack[index] = Some(None);
            return None;
        }
        let site = site_of(&frames);
        let next = self.sites.len() as u32;
        let id = *self
            .by_fingerprint
            .entry(site.fingerprint.clone())
            .or_insert(next);
        if id == next {
            self.sites.push(site);
        }
        self.by_stack[index] = Some(Some(id));
        Some(id)
    }

    /// Compares `base` with `head`, with the snapshots kept in between (oldest first) for the
    /// fall test; see the [module documentation](self).
    pub fn growth(&mut self, base: &Snapshot, between: &[&Snapshot], head: &Snapshot) -> Growth {
        let chain: Vec<Vec<Block>> = std::iter::once(base)
            .chain(between.iter().copied())
            .chain(std::iter::once(head))
            .map(|s| self.blocks(s))
            .collect();
        let span = head
            .taken_at
            .duration_since(base.taken_at)
            .unwrap_or_default();
        let sites = rank(&chain, span, &self.sites);
        Growth {
            sites,
            base_unix_ms: unix_ms(base.taken_at),
            head_unix_ms: unix_ms(head.taken_at),
        }
    }

    fn blocks(&mut self, snapshot: &Snapshot) -> Vec<Block> {
        snapshot
            .live
            .iter()
            .filter_map(|s| {
                let site = self.site(snapshot, s.stack)?;
                let w = s.weight();
                let size = s.size as f64;
                Some(Block {
                    key: (s.address, s.allocated_at),
                    site,
                    bytes: s.estimated_bytes(),
                    variance: size * size * w * (w - 1.0),
                })
            })
            .collect()
    }
}

/// Snapshots kept by the monitor: one every `window / 4`, six of them, so that one taken at or
/// just before the start of the detector's window is always at hand (once a window has
/// passed) without keeping one per tick: a snapshot can take megabytes.
pub const KEPT_SNAPSHOTS: usize = 6;

/// The monitor's side of the heap profile: the kept snapshots, the site cache, the baseline of
/// the current episode; [`HeapTracker::tick`] once per monitor tick.
pub(crate) struct HeapTracker {
    cache: SiteCache,
    window: Duration,
    every: Duration,
    /// Oldest first, at least `every` apart; the oldest is recycled into the newest.
    kept: VecDeque<Snapshot>,
    /// The current snapshot on ticks that keep none.
    head: Snapshot,
    /// The base of the episode: the snapshot from the window's start when the heap went from
    /// ok to suspected, kept until it is ok again.
    baseline: Option<Arc<Snapshot>>,
}

impl HeapTracker {
    /// A tracker for a heap detector with this `window`.
    pub(crate) fn new(window: Duration) -> Self {
        HeapTracker {
            cache: SiteCache::new(),
            window,
            every: (window / 4).max(Duration::from_millis(1)),
            kept: VecDeque::with_capacity(KEPT_SNAPSHOTS),
            head: Snapshot::default(),
            baseline: None,
        }
    }

    /// The episode's baseline, while the heap is suspected or leaking.
    pub(crate) fn baseline(&self) -> Option<Arc<Snapshot>> {
        self.baseline.clone()
    }

    /// Keeps a snapshot when one is due; while the heap is suspected or leaking (`growing`),
    /// compares the one from the window's start with the current one.
    pub(crate) fn tick(&mut self, growing: bool) -> HeapStatus {
        let mut status = HeapStatus::new(sample::rate());
        let now = SystemTime::now();
        let due = self.kept.back().is_none_or(|s| {
            now.duration_since(s.taken_at)
                .map_or(true, |d| d >= self.every)
        });
        if due {
            let mut snapshot = if self.kept.len() == KEPT_SNAPSHOTS {
                self.kept.pop_front().unwrap_or_default()
            } else {
                Snapshot::default()
            };
            sample::snapshot_into(&mut snapshot);
            self.kept.push_back(snapshot);
        }
        if !growing {
            self.baseline = None;
            return status;
        }
        let kept = self.kept.make_contiguous();
        let (kept, head) = if due {
            let (head, older) = kept.split_last().expect("a snapshot was just kept");
            (older, head)
        } else {
            sample::snapshot_into(&mut self.head);
            (&*kept, &self.head)
        };
        // The newest kept snapshot at or before the window's start, else the oldest.
        let start = head.taken_at.checked_sub(self.window).unwrap_or(UNIX_EPOCH);
        let Some(base) = kept.iter().rposition(|s| s.taken_at <= start).or(
            // Less than a window kept yet: the oldest there is.
            (!kept.is_empty()).then_some(0),
        ) else {
            return status;
        };
        if self.baseline.is_none() {
            self.baseline = Some(Arc::new(kept[base].clone()));
        }
        let between: Vec<&Snapshot> = kept[base + 1..].iter().collect();
        let growth = self.cache.growth(&kept[base], &between, head);
        status.growing = growth
            .certain()
            .take(HeapStatus::MAX_GROWING)
            .cloned()
            .collect();
        status.uncertain = growth.sites.iter().filter(|s| !s.certain).count();
        status.base_unix_ms = Some(growth.base_unix_ms);
        status.head_unix_ms = Some(growth.head_unix_ms);
        status
    }
}

/// Whether a frame is the monitor's own code (see [`SiteCache`]).
fn is_monitor(frame: &Frame) -> bool {
    matches!(
        symbols::crate_of(&frame.function),
        "leakcheck_monitor" | "leakcheck_probe"
    )
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One live sample, reduced to what the comparison needs.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// Identifies the sample across snapshots: an address is reused, not with the same time.
    key: (usize, SystemTime),
    site: u32,
    /// Estimated bytes it stands for (weight × size).
    bytes: f64,
    /// Variance of that estimate: size² · w · (w − 1).
    variance: f64,
}

/// A site's change between two snapshots.
#[derive(Clone, Copy, Debug, Default)]
struct Change {
    bytes: f64,
    variance: f64,
    /// Samples in the later snapshot that were not in the earlier one.
    added: u64,
}

impl Change {
    /// Whether this is a fall, beyond the sampling error.
    fn fell(&self) -> bool {
        -self.bytes > SIGMAS * self.variance.sqrt() && self.bytes < 0.0
    }
}

/// Per site, what changed from `from` to `to`: samples in both cancel.
fn changes(from: &[Block], to: &[Block]) -> HashMap<u32, Change> {
    let before: HashMap<_, &Block> = from.iter().map(|b| (b.key, b)).collect();
    let after: HashMap<_, &Block> = to.iter().map(|b| (b.key, b)).collect();
    let mut out: HashMap<u32, Change> = HashMap::new();
    for b in to.iter().filter(|b| !before.contains_key(&b.key)) {
        let c = out.entry(b.site).or_default();
        c.bytes += b.bytes;
        c.variance += b.variance;
        c.added += 1;
    }
    for b in from.iter().filter(|b| !after.contains_key(&b.key)) {
        let c = out.entry(b.site).or_default();
        c.bytes -= b.bytes;
        c.variance += b.variance;
    }
    out
}

/// Ranks the sites that grew from the first to the last of `chain` over `span`.
fn rank(chain: &[Vec<Block>], span: Duration, sites: &[Site]) -> Vec<GrowingSite> {
    let (Some(base), Some(head)) = (chain.first(), chain.last()) else {
        return Vec::new();
    };
    let minutes = span.as_secs_f64() / 60.0;
    if minutes <= 0.0 {
        return Vec::new();
    }
    let steps: Vec<_> = chain.windows(2).map(|w| changes(&w[0], &w[1])).collect();
    let mut live: HashMap<u32, (f64, u64)> = HashMap::new();
    for b in head {
        let l = live.entry(b.site).or_default();
        l.0 += b.bytes;
        l.1 += 1;
    }
    let mut out: Vec<GrowingSite> = changes(base, head)
        .into_iter()
        .filter(|(_, c)| c.bytes > 0.0)
        .map(|(id, c)| {
            let site = &sites[id as usize];
            let error = c.variance.sqrt();
            let fell = steps.iter().any(|s| s.get(&id).is_some_and(Change::fell));
            let (live_bytes, samples) = live.get(&id).copied().unwrap_or_default();
            GrowingSite {
                function: site.frame.function.clone(),
                file: site.frame.file.clone(),
                line: site.frame.line,
                fingerprint: site.fingerprint.clone(),
                user: site.user,
                bytes_per_minute: c.bytes / minutes,
                error_bytes_per_minute: error / minutes,
                live_bytes,
                samples,
                new_samples: c.added,
                certain: c.bytes > SIGMAS * error && c.added >= MIN_NEW_SAMPLES && !fell,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.certain
            .cmp(&a.certain)
            .then(b.bytes_per_minute.total_cmp(&a.bytes_per_minute))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakcheck_alloc::sample::weight;

    const RATE: u64 = 512 * 1024;

    fn sites(names: &[&str]) -> Vec<Site> {
        names
            .iter()
            .map(|n| {
                // Frame has no constructor outside its crate; its serde form is public.
                let frame: Frame = serde_json::from_value(serde_json::json!({
                    "function": format!("app::{n}"),
                    "file": "src/app.rs",
                    "line": 1,
                }))
                .unwrap();
                site_of(&[frame])
            })
            .collect()
    }

    /// A sampled block of `size` bytes at `site`, allocated at second `at` (its identity).
    fn block(site: u32, size: u64, at: u64) -> Block {
        let w = weight(size, RATE);
        let s = size as f64;
        Block {
            key: (
                (site as usize) << 32 | at as usize,
                UNIX_EPOCH + Duration::from_secs(at),
            ),
            site,
            bytes: w * s,
            variance: s * s * w * (w - 1.0),
        }
    }

    fn names(ranked: &[GrowingSite]) -> Vec<(&str, bool)> {
        ranked
            .iter()
            .map(|s| (s.function.as_str(), s.certain))
            .collect()
    }

    #[test]
    fn the_leak_ranks_first_and_a_site_with_few_samples_is_not_certain() {
        let sites = sites(&["leak", "slow", "cache"]);
        // The cache holds 50 samples, the same ones at both ends; the leak adds 20 small
        // samples over the minute, the slow site 2 (an estimated 1 MiB, not certain).
        let cache: Vec<Block> = (0..50).map(|i| block(2, 4096, i)).collect();
        let base = cache.clone();
        let mut head = cache;
        head.extend((100..120).map(|i| block(0, 256, i)));
        head.extend((200..202).map(|i| block(1, 256, i)));
        let ranked = rank(&[base, head], Duration::from_secs(60), &sites);
        assert_eq!(
            names(&ranked),
            [("app::leak", true), ("app::slow", false)],
            "{ranked:#?}"
        );
        let leak = &ranked[0];
        assert_eq!((leak.samples, leak.new_samples), (20, 20));
        // 20 samples of ~R bytes each: ~10 MiB/min ± sqrt(20)·R.
        let expect = 20.0 * weight(256, RATE) * 256.0;
        assert!((leak.bytes_per_minute - expect).abs() < 1.0, "{leak:?}");
        let sigma = leak.bytes_per_minute / leak.error_bytes_per_minute;
        assert!((sigma - 20f64.sqrt()).abs() < 0.01, "{sigma}");
        assert_eq!(ranked[0].fingerprint, sites[0].fingerprint);
    }

    #[test]
    fn a_large_block_is_exact_but_alone_it_is_a_step() {
        let sites = sites(&["big", "bigs"]);
        let base = vec![];
        let mut head = vec![block(0, 64 << 20, 1)];
        head.extend((2..5).map(|i| block(1, 64 << 20, i)));
        let ranked = rank(&[base, head], Duration::from_secs(60), &sites);
        assert_eq!(names(&ranked), [("app::bigs", true), ("app::big", false)]);
        assert!(ranked[0].error_bytes_per_minute < 1.0, "{ranked:?}");
    }

    #[test]
    fn a_plateaued_cache_and_a_sawtooth_are_not_named() {
        let sites = sites(&["cache", "saw"]);
        // The cache replaces its blocks one for one: new samples, no growth.
        let mut points = Vec::new();
        for q in 0..5u64 {
            let mut snap: Vec<Block> = (0..40).map(|i| block(0, 4096, q * 10 + i)).collect();
            // The sawtooth: 30 samples at the head, 40 just before, reset in between.
            let saw_len = [5, 40, 2, 40, 30][q as usize];
            snap.extend((0..saw_len).map(|i| block(1, 256, 1000 * (q + 1) + i)));
            points.push(snap);
        }
        let ranked = rank(&points, Duration::from_secs(60), &sites);
        assert!(ranked.iter().all(|s| !s.certain), "{ranked:#?}");
        // Without the snapshots in between, the sawtooth's head-over-base looks like growth.
        let ends = [points[0].clone(), points[4].clone()];
        let naive = rank(&ends, Duration::from_secs(60), &sites);
        assert_eq!(names(&naive)[0], ("app::saw", true), "{naive:#?}");
    }

    #[test]
    fn nothing_changed_names_nothing() {
        let sites = sites(&["a"]);
        let snap: Vec<Block> = (0..10).map(|i| block(0, 100, i)).collect();
        assert!(rank(&[snap.clone(), snap], Duration::from_secs(60), &sites).is_empty());
        assert!(rank(&[vec![], vec![]], Duration::from_secs(60), &sites).is_empty());
        assert!(rank(&[], Duration::from_secs(60), &sites).is_empty());
    }
}
