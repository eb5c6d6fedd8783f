//! Attribution: where a leak comes from.
//!
//! Counting stays cheap for every test. Only when the analyzer suspects the heap (or threads:
//! their spawn site is found the same way), the harness runs [`TRACED_ITERATIONS`] more
//! iterations with the allocator's tracing mode on ([`tracer`]). Blocks allocated in a traced
//! iteration that are still alive after the next one are the candidates; they are grouped by
//! allocation stack, ranked by bytes, and only the top groups are resolved to symbols
//! ([`symbols`]), trimmed to the user's frames and fingerprinted. Threads and fds that outlived
//! the run get their details here too: what a thread waits in, what a socket is bound to.

pub(crate) mod profile;
pub(crate) mod tracer;

pub use profile::{AllocationProfile, ProfileSite};

use leakcheck_probe::{symbols, Frame, ThreadInfo};
use serde::{Deserialize, Serialize};

/// Traced iterations run after a suspected leak. Blocks from all but the last that are still
/// alive at the end have survived at least one further iteration.
pub(crate) const TRACED_ITERATIONS: u8 = 3;

/// Call sites shown (and resolved): the largest by bytes per iteration.
const SITES_SHOWN: usize = 5;
/// Raw stack groups resolved to find them (several raw stacks can share one user site).
const GROUPS_RESOLVED: usize = 16;
/// User frames kept per site.
const FRAMES_KEPT: usize = 6;

/// Where the surviving allocations of a leak were made.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attribution {
    /// Iterations run in tracing mode.
    pub traced_iterations: usize,
    /// Call sites, largest first.
    pub sites: Vec<Site>,
    /// Survivors at call sites beyond those listed.
    pub other_blocks_per_iteration: f64,
    /// Limits hit or anything else that makes the sites incomplete.
    pub notes: Vec<String>,
}

/// One call site whose allocations survived their iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Site {
    /// Stable identity of the site (a hash of its innermost user functions, no lines): the same
    /// leak has the same fingerprint across runs and commits.
    pub fingerprint: String,
    /// Surviving blocks per traced iteration.
    pub blocks_per_iteration: f64,
    /// Surviving bytes per traced iteration.
    pub bytes_per_iteration: f64,
    /// The user's frames, innermost first: where the allocation was made, then its callers.
    /// When no frame is the user's (std allocating on its own), the frames past the allocator.
    pub frames: Vec<Frame>,
    /// Whether `frames` are the user's code (rather than std or a dependency).
    pub user_code: bool,
    /// The allocations std made to spawn a thread here (so this is the thread's spawn site).
    pub thread_spawn: bool,
    /// Threads other than the test's own that made these allocations, e.g. `` `worker` (tid 42) ``;
    /// one entry per name, with a count, when several share it: `` `pool` × 24 (tids 101 … 124) ``.
    pub threads: Vec<String>,
    /// The `suppress_heap` pattern that a function of every stack of this site matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<String>,
}

impl Site {
    /// The innermost user frame, as `function (file:line)`.
    pub fn location(&self) -> String {
        let frame = self
            .frames
            .first()
            .map_or_else(|| "<unknown>".to_owned(), Frame::to_string);
        if self.user_code {
            frame
        } else {
            format!("{frame} [no frame of yours: allocated by std or a dependency]")
        }
    }
}

/// Turns what the tracer kept into call sites. `per` is the number of traced iterations whose
/// survivors are counted; `harness_tid` the test's own thread; a site whose stacks all have a
/// function matching one of `suppress` is marked suppressed.
pub(crate) fn sites(
    traced: tracer::Traced,
    per: usize,
    harness_tid: u32,
    living: &[ThreadInfo],
    suppress: &[String],
) -> Attribution {
    let per = per.max(1) as f64;
    let mut notes = Vec::new();
    if traced.dropped > 0 {
        notes.push(format!(
            "{} allocations were not tracked (tracing keeps at most {} live blocks and {} distinct stacks)",
            traced.dropped,
            tracer::MAX_LIVE,
            tracer::MAX_STACKS
        ));
    }
    let total_blocks: u64 = traced.groups.iter().map(|g| g.blocks).sum();
    let mut sites: Vec<Site> = Vec::new();
    // The threads of each site, described once all its groups are in.
    let mut site_tids: Vec<Vec<u32>> = Vec::new();
    for group in traced.groups.iter().take(GROUPS_RESOLVED) {
        let frames = symbols::resolve(&group.frames);
        let (user, user_code) = symbols::user_frames(&frames);
        let fingerprint = symbols::fingerprint(&user);
        let thread_spawn = symbols::is_thread_spawn(&frames);
        // Every frame counts, not only the user's: a known leak is usually in a dependency.
        let suppressed_by =
            crate::suppress::first_match(suppress, frames.iter().map(|f| f.function.as_str()))
                .map(str::to_owned);
        match sites
            .iter()
            .position(|s| s.fingerprint == fingerprint && s.thread_spawn == thread_spawn)
        {
            Some(i) => {
                let site = &mut sites[i];
                site.blocks_per_iteration += group.blocks as f64 / per;
                site.bytes_per_iteration += group.bytes as f64 / per;
                site_tids[i].extend(&group.threads);
                if suppressed_by.is_none() {
                    site.suppressed_by = None;
                }
            }
            None => {
                sites.push(Site {
                    fingerprint,
                    blocks_per_iteration: group.blocks as f64 / per,
                    bytes_per_iteration: group.bytes as f64 / per,
                    frames: user.into_iter().take(FRAMES_KEPT).collect(),
                    user_code,
                    thread_spawn,
                    threads: Vec::new(),
                    suppressed_by,
                });
                site_tids.push(group.threads.clone());
            }
        }
    }
    for (site, tids) in sites.iter_mut().zip(&site_tids) {
        site.threads = describe_threads(tids, harness_tid, living);
    }
    sites.sort_by(|a, b| b.bytes_per_iteration.total_cmp(&a.bytes_per_iteration));
    sites.truncate(SITES_SHOWN);
    let shown: f64 = sites.iter().map(|s| s.blocks_per_iteration).sum();
    if traced.groups.is_empty() {
        notes.push(
            "no allocation made while tracing survived the next iteration: the leak grows a block \
             allocated earlier (a collection that reallocates only when its capacity doubles) or \
             is intermittent and skipped the traced iterations"
                .to_owned(),
        );
    }
    Attribution {
        traced_iterations: usize::from(TRACED_ITERATIONS),
        sites,
        other_blocks_per_iteration: (total_blocks as f64 / per - shown).max(0.0),
        notes,
    }
}

/// Names the threads (other than the test's own) that made a group's allocations: live ones by
/// name, one entry per name with a count when several share it (a pool of 24 workers is one
/// entry, not 24); exited ones counted.
fn describe_threads(tids: &[u32], harness_tid: u32, living: &[ThreadInfo]) -> Vec<String> {
    let mut others: Vec<u32> = tids
        .iter()
        .copied()
        .filter(|&tid| tid != harness_tid && tid != 0)
        .collect();
    others.sort_unstable();
    others.dedup();
    // (name, tids), in the order of each name's lowest tid.
    let mut named: Vec<(&str, Vec<u32>)> = Vec::new();
    let mut exited = 0;
    for tid in others {
        match living.iter().find(|t| t.tid == tid) {
            Some(t) => match named.iter_mut().find(|(name, _)| *name == t.name) {
                Some((_, tids)) => tids.push(tid),
                None => named.push((&t.name, vec![tid])),
            },
            None => exited += 1,
        }
    }
    let mut names: Vec<String> = named
        .into_iter()
        .map(|(name, tids)| match tids.as_slice() {
            [tid] => format!("`{name}` (tid {tid})"),
            [_, _, _, _, ..] => format!(
                "`{name}` × {} (tids {} … {})",
                tids.len(),
                tids[0],
                tids[tids.len() - 1]
            ),
            _ => {
                let listed: Vec<String> = tids.iter().map(u32::to_string).collect();
                format!("`{name}` × {} (tids {})", tids.len(), listed.join(", "))
            }
        })
        .collect();
    match exited {
        0 => {}
        1 => names.push("a thread that has since exited".to_owned()),
        n => names.push(format!("{n} threads that have since exited")),
    }
    names
}

/// Adds spawn sites to threads, from the call sites whose allocations std made for a thread.
/// When every surviving spawn came from one site, every new thread gets it.
pub(crate) fn spawn_sites(threads: &mut [ThreadInfo], attribution: &Attribution) {
    let spawns: Vec<&Site> = attribution
        .sites
        .iter()
        .filter(|s| s.thread_spawn)
        .collect();
    if let [only] = spawns.as_slice() {
        for t in threads.iter_mut() {
            t.spawned_at = only.frames.first().cloned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(tid: u32, name: &str) -> ThreadInfo {
        ThreadInfo::new(tid, name)
    }

    #[test]
    fn threads_of_one_name_are_one_entry_with_a_count() {
        let living: Vec<ThreadInfo> = (1..=24)
            .map(|tid| thread(tid, "a"))
            .chain([thread(30, "b"), thread(31, "c"), thread(32, "c")])
            .collect();
        let mut tids: Vec<u32> = (1..=24).rev().collect();
        // The test's own thread, one no longer alive, and the others in any order.
        tids.extend([99, 0, 31, 77, 30, 32]);
        assert_eq!(
            describe_threads(&tids, 99, &living),
            [
                "`a` × 24 (tids 1 … 24)",
                "`b` (tid 30)",
                "`c` × 2 (tids 31, 32)",
                "a thread that has since exited",
            ]
        );
    }
}
