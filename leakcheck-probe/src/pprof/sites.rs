//! Call sites of a decoded profile: [`top`] ranks them by one sample type, [`diff`] by their
//! change from a base profile to a head profile.
//!
//! A sample's **site** is its innermost user frame, found and fingerprinted as the test
//! harness attributes a leak ([`symbols::user_frames`] and
//! [`symbols::fingerprint`]): the same leak has the same
//! fingerprint in a test report, in a live service's profile and across rebuilds. A stack of
//! machinery only falls back to its frames past the allocator, an unsymbolized stack to its
//! innermost address.

use super::Profile;
use crate::symbols::{self, Frame};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A call site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Site {
    /// [`symbols::fingerprint`] of the site's user frames.
    pub fingerprint: String,
    /// The innermost user frame (function, file, line).
    pub frame: Frame,
    /// Whether the site is the user's code; false when the stack had machinery frames only.
    pub user: bool,
}

/// The site of one sample's stack.
pub fn site_of(frames: &[Frame]) -> Site {
    let (user, is_user) = symbols::user_frames(frames);
    match user.first() {
        Some(first) => Site {
            fingerprint: symbols::fingerprint(&user),
            frame: first.clone(),
            user: is_user,
        },
        None => {
            let frame = frames.first().cloned().unwrap_or(Frame {
                function: "(no stack)".to_owned(),
                file: None,
                line: None,
            });
            Site {
                fingerprint: symbols::fingerprint(std::slice::from_ref(&frame)),
                frame,
                user: false,
            }
        }
    }
}

/// One row of [`top`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SiteTotal {
    /// The site.
    pub site: Site,
    /// The value of the samples whose site this is.
    pub flat: i64,
    /// The value of the samples whose user frames pass through the site's function anywhere
    /// (once per sample): `flat` plus what it allocates through callees that are sites
    /// themselves.
    pub cum: i64,
    /// How many samples have this site: few samples, a rough estimate.
    pub samples: usize,
}

/// What [`top`] returns: the sites and the profile's total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Top {
    /// The sample type ranked by.
    pub sample_type: String,
    /// Its unit.
    pub unit: String,
    /// The sum over all samples.
    pub total: i64,
    /// The sites, largest `flat` first (ties by function name).
    pub sites: Vec<SiteTotal>,
}

/// The sites of `profile` ranked by the values at `index` (see
/// [`Profile::sample_index`](super::Profile::sample_index)).
///
/// # Panics
/// When `index` is not an index of the profile's sample types.
pub fn top(profile: &Profile, index: usize) -> Top {
    let t = &profile.sample_types[index];
    let stacks = Stacks::of(profile);
    let mut sites: HashMap<&str, SiteTotal> = HashMap::new();
    for (sample, stack) in profile.samples.iter().zip(&stacks.of_sample) {
        add(
            &mut sites,
            &stacks.distinct[*stack].site,
            sample.values[index],
        );
    }
    // cum: each sample adds to every site function among its user frames, once.
    let mut cum: HashMap<&str, i64> = HashMap::new();
    for (sample, stack) in profile.samples.iter().zip(&stacks.of_sample) {
        for name in &stacks.distinct[*stack].functions {
            *cum.entry(name.as_str()).or_default() += sample.values[index];
        }
    }
    let mut sites: Vec<SiteTotal> = sites
        .into_values()
        .map(|mut s| {
            s.cum = cum
                .get(s.site.frame.function.as_str())
                .copied()
                .unwrap_or(s.flat)
                .max(s.flat);
            s
        })
        .collect();
    sites.sort_by(|a, b| {
        b.flat
            .cmp(&a.flat)
            .then_with(|| a.site.frame.function.cmp(&b.site.frame.function))
            .then_with(|| a.site.fingerprint.cmp(&b.site.fingerprint))
    });
    Top {
        sample_type: t.kind.clone(),
        unit: t.unit.clone(),
        total: profile.samples.iter().map(|s| s.values[index]).sum(),
        sites,
    }
}

/// What the analysis needs of one distinct stack.
struct Stack {
    site: Site,
    /// The distinct functions of its user frames and its innermost frame (for `cum`).
    functions: Vec<String>,
}

/// The distinct stacks of a profile (by location addresses): a heap profile has many samples
/// of few stacks, and finding user frames is the costly part.
struct Stacks {
    distinct: Vec<Stack>,
    /// Index into `distinct` of each sample's stack.
    of_sample: Vec<usize>,
}

impl Stacks {
    fn of(profile: &Profile) -> Stacks {
        let mut index: HashMap<&[u64], usize> = HashMap::new();
        let mut distinct = Vec::new();
        let of_sample = profile
            .samples
            .iter()
            .map(|sample| {
                *index.entry(&sample.addresses).or_insert_with(|| {
                    distinct.push(Stack::of(&sample.frames));
                    distinct.len() - 1
                })
            })
            .collect();
        Stacks {
            distinct,
            of_sample,
        }
    }
}

impl Stack {
    fn of(frames: &[Frame]) -> Stack {
        let (user, _) = symbols::user_frames(frames);
        let mut functions: Vec<String> = Vec::new();
        for f in user.iter().chain(frames.first()) {
            if !functions.contains(&f.function) {
                functions.push(f.function.clone());
            }
        }
        Stack {
            site: site_of(frames),
            functions,
        }
    }
}

fn per_site(profile: &Profile, index: usize) -> HashMap<String, SiteTotal> {
    let stacks = Stacks::of(profile);
    let mut sites: HashMap<&str, SiteTotal> = HashMap::new();
    for (sample, stack) in profile.samples.iter().zip(&stacks.of_sample) {
        add(
            &mut sites,
            &stacks.distinct[*stack].site,
            sample.values[index],
        );
    }
    sites
        .into_values()
        .map(|s| (s.site.fingerprint.clone(), s))
        .collect()
}

fn add<'a>(sites: &mut HashMap<&'a str, SiteTotal>, site: &'a Site, value: i64) {
    let row = sites.entry(&site.fingerprint).or_insert_with(|| SiteTotal {
        site: site.clone(),
        flat: 0,
        cum: 0,
        samples: 0,
    });
    row.flat += value;
    row.samples += 1;
}

/// One row of [`diff`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SiteChange {
    /// The site (as HEAD has it, or BASE when it is gone in HEAD).
    pub site: Site,
    /// Its value in BASE.
    pub base: i64,
    /// Its value in HEAD.
    pub head: i64,
    /// `head - base`.
    pub delta: i64,
    /// Samples behind it in BASE.
    pub base_samples: usize,
    /// Samples behind it in HEAD.
    pub head_samples: usize,
}

/// What [`diff`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Diff {
    /// The sample type compared.
    pub sample_type: String,
    /// Its unit.
    pub unit: String,
    /// BASE's total.
    pub base_total: i64,
    /// HEAD's total.
    pub head_total: i64,
    /// Every site of either profile whose value changed, largest growth first, largest
    /// shrinkage last.
    pub sites: Vec<SiteChange>,
}

/// The change of each site from `base` to `head` in the sample type at `base_index` /
/// `head_index` (the same sample type may sit at different positions in two files). Sites are
/// matched by fingerprint, so lines that moved between two builds still match.
///
/// # Panics
/// When an index is not an index of its profile's sample types.
pub fn diff(base: &Profile, base_index: usize, head: &Profile, head_index: usize) -> Diff {
    let t = &head.sample_types[head_index];
    let mut before = per_site(base, base_index);
    let after: Vec<SiteChange> = per_site(head, head_index)
        .into_iter()
        .map(|(fingerprint, h)| {
            let b = before.remove(&fingerprint);
            let base = b.as_ref().map_or(0, |b| b.flat);
            SiteChange {
                site: h.site,
                base,
                head: h.flat,
                delta: h.flat - base,
                base_samples: b.map_or(0, |b| b.samples),
                head_samples: h.samples,
            }
        })
        .collect();
    let gone = before.into_values().map(|b| SiteChange {
        site: b.site,
        base: b.flat,
        head: 0,
        delta: -b.flat,
        base_samples: b.samples,
        head_samples: 0,
    });
    let mut sites: Vec<SiteChange> = after
        .into_iter()
        .chain(gone)
        .filter(|c| c.delta != 0)
        .collect();
    sites.sort_by(|a, b| {
        b.delta
            .cmp(&a.delta)
            .then_with(|| a.site.frame.function.cmp(&b.site.frame.function))
            .then_with(|| a.site.fingerprint.cmp(&b.site.fingerprint))
    });
    Diff {
        sample_type: t.kind.clone(),
        unit: t.unit.clone(),
        base_total: base.samples.iter().map(|s| s.values[base_index]).sum(),
        head_total: head.samples.iter().map(|s| s.values[head_index]).sum(),
        sites,
    }
}
