//! The allocation profile of a test: where one iteration's allocations come from.
//!
//! With `profile` on, the harness runs one more iteration after the verdicts with the tracer on
//! (the same one attribution uses), and every allocation of that iteration is counted by its
//! stack, freed or not. Stacks are resolved largest first and grouped into call sites exactly as
//! leaks are (the innermost frame of the user's code, fingerprinted without lines), so a site
//! has the same fingerprint here, in a leak's attribution and in a heap profile of a service.
//! The measured iterations and the verdicts are not touched: the profiled iteration comes after
//! them, and its allocations are not judged.

use super::tracer::{Allocated, Traced};
use crate::report::TestId;
use leakcheck_probe::pprof::{self, ProfileBuilder, ValueType};
use leakcheck_probe::{symbols, Frame};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Sites kept in a profile: the largest by allocations, then any of the largest by bytes not
/// among them.
const SITES_KEPT: usize = 10;
/// Distinct stacks resolved (largest first by allocations, then by bytes): resolving is the
/// costly part, and a site beyond these would be far down the list.
const STACKS_RESOLVED: usize = 128;
/// User frames kept per site.
const FRAMES_KEPT: usize = 6;

/// Where a test's allocations come from, from one profiled iteration after its verdicts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AllocationProfile {
    /// Allocations the profiled iteration made (reallocations included), as the counters count
    /// them.
    pub allocations: u64,
    /// Bytes those allocations asked for.
    pub bytes: u64,
    /// Call sites, most allocations first: the 10 largest by allocations and any of
    /// the largest by bytes not among them.
    pub sites: Vec<ProfileSite>,
    /// Allocations made at sites not listed (smaller ones, and stacks not resolved).
    pub other_allocations: u64,
    /// Their bytes.
    pub other_bytes: u64,
    /// Anything that makes the sites incomplete.
    pub notes: Vec<String>,
    /// Bytes per allocation in the profiled iteration.
    #[serde(default)]
    pub bytes_per_allocation: f64,
    /// Allocations that were reallocations (their stack goes through `realloc`: a `Vec` or
    /// `String` growing), among the resolved stacks (all of them unless a note says otherwise).
    #[serde(default)]
    pub reallocations: u64,
    /// Their share of the iteration's allocations, 0 to 1.
    #[serde(default)]
    pub reallocation_share: f64,
    /// Most bytes of the blocks the iteration allocated that were alive at once (its transient
    /// peak; exact, from the tracer's table).
    #[serde(default)]
    pub peak_bytes: u64,
    /// Of those bytes, still alive at the end of the iteration (what it kept); `peak_bytes -
    /// end_bytes` is what it needed only for a while.
    #[serde(default)]
    pub end_bytes: u64,
    /// For a test without `max_allocs_per_iter`: a budget 10% above its measured allocations
    /// per iteration, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_max_allocs_per_iter: Option<u64>,
    /// The profile as a pprof file (`alloc_objects`, `alloc_space`: every stack of the
    /// iteration), relative to the records directory; `None` when records are off or it could
    /// not be written (a note says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pprof: Option<String>,
}

/// One call site of a profiled iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileSite {
    /// Stable identity of the site (see [`Site::fingerprint`](super::Site::fingerprint)).
    pub fingerprint: String,
    /// Allocations made here in the profiled iteration.
    pub allocations: u64,
    /// Bytes they asked for.
    pub bytes: u64,
    /// Share of the iteration's allocations, 0 to 1.
    pub allocation_share: f64,
    /// Share of the iteration's bytes, 0 to 1.
    pub byte_share: f64,
    /// The user's frames, innermost first (the allocating function, then its callers). For a
    /// site in a dependency, its frames come first and then the test crate's.
    pub frames: Vec<Frame>,
    /// Whether `frames` are user code (rather than std allocating on its own).
    pub user_code: bool,
    /// The crate of the allocating function when it is not the test's own crate (a dependency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency: Option<String>,
}

impl ProfileSite {
    /// The allocating function as `function (file:line)`, with `[in dependency X, called from
    /// F]` for a dependency's site.
    pub fn location(&self) -> String {
        let frame = self
            .frames
            .first()
            .map_or_else(|| "<unknown>".to_owned(), Frame::to_string);
        match &self.dependency {
            Some(krate) => {
                let own = self.frames.iter().find(|f| {
                    symbols::crate_of(&f.function) != krate.as_str() && !f.function.starts_with('<')
                });
                match own {
                    Some(own) => format!("{frame} [in dependency `{krate}`, called from {own}]"),
                    None => format!("{frame} [in dependency `{krate}`]"),
                }
            }
            None if !self.user_code => format!("{frame} [std, on its own]"),
            None => frame,
        }
    }
}

/// The crate names that are the test's own: the test binary's and its package's library.
fn own_crates(test: &TestId) -> Vec<String> {
    [&test.binary, &test.package]
        .into_iter()
        .filter(|name| !name.is_empty())
        .map(|name| name.replace('-', "_"))
        .collect()
}

/// Groups the profiled iteration's allocations into call sites. Allocations whose stack found no
/// room in the stack table are counted in the total, under other, with their bytes unknown.
pub(crate) fn profile(traced: &Traced, test: &TestId) -> AllocationProfile {
    let mut stacks = traced.allocated.clone();
    let unstacked = traced.unstacked;
    let mut notes = Vec::new();
    if traced.dropped > unstacked {
        notes.push(format!(
            "{} blocks were not tracked (the tracer keeps at most {} live blocks): the peak \
             counts the tracked ones",
            traced.dropped - unstacked,
            super::tracer::MAX_LIVE
        ));
    }
    if unstacked > 0 {
        notes.push(format!(
            "{unstacked} allocations found no room in the tracer's stack table (at most {} \
             distinct stacks): they are counted under other, their bytes are not",
            super::tracer::MAX_STACKS
        ));
    }
    let allocations = stacks.iter().map(|s| s.allocations).sum::<u64>() + unstacked;
    let bytes = stacks.iter().map(|s| s.bytes).sum::<u64>();
    // The stacks to resolve: the largest by allocations, then the largest by bytes.
    stacks.sort_by(|a, b| {
        b.allocations
            .cmp(&a.allocations)
            .then(b.bytes.cmp(&a.bytes))
    });
    let mut by_bytes: Vec<usize> = (0..stacks.len()).collect();
    by_bytes.sort_by(|&a, &b| stacks[b].bytes.cmp(&stacks[a].bytes));
    let mut chosen: Vec<usize> = (0..stacks.len().min(STACKS_RESOLVED)).collect();
    chosen.extend(
        by_bytes
            .into_iter()
            .take(STACKS_RESOLVED)
            .filter(|&i| i >= STACKS_RESOLVED),
    );
    if stacks.len() > chosen.len() {
        notes.push(format!(
            "{} of {} distinct stacks were not resolved (the smallest): they are counted under \
             other",
            stacks.len() - chosen.len(),
            stacks.len()
        ));
    }
    let own = own_crates(test);
    let mut sites: Vec<ProfileSite> = Vec::new();
    let mut reallocations = 0;
    for i in chosen {
        let stack = &stacks[i];
        let frames = symbols::resolve(&stack.frames);
        // The allocator's frames say how the block came: `realloc` for a growing buffer.
        if frames
            .iter()
            .take_while(|f| symbols::is_allocation_path(f))
            .any(|f| f.function.contains("realloc"))
        {
            reallocations += stack.allocations;
        }
        let (user, user_code) = symbols::user_frames(&frames);
        let fingerprint = symbols::fingerprint(&user);
        match sites.iter_mut().find(|s| s.fingerprint == fingerprint) {
            Some(site) => {
                site.allocations += stack.allocations;
                site.bytes += stack.bytes;
            }
            None => {
                // The outermost user frame is the test's own code (the test function, or the
                // caller of `Check::run`), which names the own crate when the test id does not.
                let outermost = user.last().map(|f| symbols::crate_of(&f.function));
                let krate = user
                    .first()
                    .map(|f| symbols::crate_of(&f.function).to_owned());
                let dependency = krate.filter(|k| {
                    user_code
                        && !k.is_empty()
                        && !own.iter().any(|o| o == k)
                        && outermost != Some(k.as_str())
                });
                sites.push(ProfileSite {
                    fingerprint,
                    allocations: stack.allocations,
                    bytes: stack.bytes,
                    allocation_share: share(stack.allocations, allocations),
                    byte_share: 0.0,
                    frames: user.into_iter().take(FRAMES_KEPT).collect(),
                    user_code,
                    dependency,
                });
            }
        }
    }
    let mut kept = largest(sites);
    for site in &mut kept {
        site.allocation_share = share(site.allocations, allocations);
        site.byte_share = share(site.bytes, bytes);
    }
    let listed_allocations: u64 = kept.iter().map(|s| s.allocations).sum();
    let listed_bytes: u64 = kept.iter().map(|s| s.bytes).sum();
    AllocationProfile {
        allocations,
        bytes,
        sites: kept,
        other_allocations: allocations.saturating_sub(listed_allocations),
        other_bytes: bytes.saturating_sub(listed_bytes),
        notes,
        bytes_per_allocation: if allocations == 0 {
            0.0
        } else {
            bytes as f64 / allocations as f64
        },
        reallocations,
        reallocation_share: share(reallocations, allocations),
        peak_bytes: traced.peak_bytes,
        end_bytes: traced.end_bytes,
        suggested_max_allocs_per_iter: None,
        pprof: None,
    }
}

/// The profiled iteration as a gzipped `profile.proto` (the production profiler's encoder):
/// `alloc_objects`/count and `alloc_space`/bytes, one sample per stack, exact counts. Each
/// stack loses its innermost frames on the allocation path (the tracer, the counting allocator,
/// `alloc`), so that `go tool pprof -top` names the allocating function, as Go trims its own.
pub(crate) fn pprof(stacks: &[Allocated], test: &TestId) -> Vec<u8> {
    let mut cache: HashMap<usize, Vec<Frame>> = HashMap::new();
    let mut frames_of = |ip: usize| -> Vec<Frame> {
        cache
            .entry(ip)
            .or_insert_with(|| pprof::location_frames(symbols::resolve(&[ip])))
            .clone()
    };
    let mut builder = ProfileBuilder::new(vec![
        ValueType::new("alloc_objects", "count"),
        ValueType::new("alloc_space", "bytes"),
    ])
    .default_sample_type("alloc_space")
    .time(std::time::SystemTime::now(), std::time::Duration::ZERO)
    .comment(format!(
        "leakcheck: the allocations of one profiled iteration of {}",
        test.full_name()
    ));
    for stack in stacks {
        let skip = pprof::allocation_path_len(&stack.frames, &mut frames_of);
        builder.add_sample(
            &stack.frames[skip..],
            &[stack.allocations as i64, stack.bytes as i64],
            Vec::new(),
        );
    }
    builder.encode_gzip_with(&mut frames_of)
}

/// A `max_allocs_per_iter` for a test measured at `allocs_per_iter`: 10% above, rounded up, and
/// at least one more than it makes.
pub(crate) fn suggested_budget(allocs_per_iter: f64) -> u64 {
    let made = allocs_per_iter.max(0.0).ceil() as u64;
    ((allocs_per_iter.max(0.0) * 1.1).ceil() as u64).max(made + 1)
}

/// The [`SITES_KEPT`] largest sites by allocations and any of the largest by bytes not among
/// them, most allocations first.
fn largest(mut sites: Vec<ProfileSite>) -> Vec<ProfileSite> {
    sites.sort_by(|a, b| {
        b.allocations
            .cmp(&a.allocations)
            .then(b.bytes.cmp(&a.bytes))
    });
    let mut by_bytes: Vec<usize> = (0..sites.len()).collect();
    by_bytes.sort_by(|&a, &b| sites[b].bytes.cmp(&sites[a].bytes));
    let top_bytes: Vec<usize> = by_bytes.into_iter().take(SITES_KEPT).collect();
    sites
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i < SITES_KEPT || top_bytes.contains(i))
        .map(|(_, site)| site)
        .collect()
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str, allocations: u64, bytes: u64) -> ProfileSite {
        ProfileSite {
            fingerprint: name.to_owned(),
            allocations,
            bytes,
            allocation_share: 0.0,
            byte_share: 0.0,
            frames: Vec::new(),
            user_code: true,
            dependency: None,
        }
    }

    #[test]
    fn the_most_allocating_sites_are_kept_and_the_heaviest_by_bytes_too() {
        // 12 sites of 100 - i allocations of 1 byte each, then one of 1 allocation of 1 MiB.
        let mut sites: Vec<ProfileSite> = (0..12)
            .map(|i| site(&format!("s{i}"), 100 - i, 100 - i))
            .collect();
        sites.push(site("big", 1, 1 << 20));
        let kept: Vec<String> = largest(sites).into_iter().map(|s| s.fingerprint).collect();
        let mut expected: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
        // The top 10 by bytes are `big` and s0 … s8: `big` joins, last (fewest allocations);
        // s10 and s11 are in neither list.
        expected.push("big".to_owned());
        assert_eq!(kept, expected);
    }

    #[test]
    fn own_crates_are_the_binary_and_the_package_with_underscores() {
        let test = TestId {
            package: "my-crate".to_owned(),
            binary: "heap".to_owned(),
            ..TestId::default()
        };
        assert_eq!(own_crates(&test), ["heap", "my_crate"]);
        assert!(own_crates(&TestId::named("t".to_owned())).is_empty());
    }
}
