//! [`compare`]: two [`RunReport`]s in, a [`Diff`] out, test by test. No I/O.

use super::{
    Change, Diff, LeakChange, Metric, OutcomeChange, Side, SiteChange, SuspiciousChange,
    TestSummary, Threshold, DIFF_SCHEMA_VERSION, SITES_SHOWN,
};
use leakcheck::record::{Outcome, RunReport, TestRecord};
use leakcheck::{AllocationProfile, Resource, Verdict};
use std::collections::BTreeMap;

/// Compares two runs. Pure: the paths in [`Diff::base`] and [`Diff::head`] are left empty.
pub fn compare(base: &RunReport, head: &RunReport, threshold: &Threshold) -> Diff {
    let mut diff = Diff {
        schema_version: DIFF_SCHEMA_VERSION,
        base: Side::of(base),
        head: Side::of(head),
        regression: false,
        threshold_pct: threshold.pct,
        min_allocs_per_iter: threshold.min_allocs_per_iter,
        min_bytes_per_iter: threshold.min_bytes_per_iter,
        new_leaks: Vec::new(),
        fixed_leaks: Vec::new(),
        new_failures: Vec::new(),
        fixed_failures: Vec::new(),
        changes: Vec::new(),
        new_suspicious: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
        unchanged: Vec::new(),
        notes: notes(base, head),
    };
    let base_tests = by_name(base);
    let head_tests = by_name(head);

    for (name, base_record) in &base_tests {
        if !head_tests.contains_key(name) {
            diff.removed.push(TestSummary::of(base_record));
        }
    }
    for (name, head_record) in &head_tests {
        let base_record = base_tests.get(name).copied();
        let entries_before = entry_count(&diff);
        compare_test(&mut diff, name, base_record, head_record, threshold);
        match base_record {
            None => diff.added.push(TestSummary::of(head_record)),
            Some(_) if entry_count(&diff) == entries_before => {
                diff.unchanged.push(TestSummary::of(head_record));
            }
            Some(_) => {}
        }
    }
    diff.regression = diff.regression_count() > 0;
    diff
}

/// The tests of a report by full name, sorted; the first record wins if a name repeats.
fn by_name(report: &RunReport) -> BTreeMap<String, &TestRecord> {
    let mut tests = BTreeMap::new();
    for record in &report.tests {
        tests.entry(record.test.full_name()).or_insert(record);
    }
    tests
}

/// How many entries the per-test lists hold, to tell whether a test added any.
fn entry_count(diff: &Diff) -> usize {
    diff.new_leaks.len()
        + diff.fixed_leaks.len()
        + diff.new_failures.len()
        + diff.fixed_failures.len()
        + diff.changes.len()
        + diff.new_suspicious.len()
}

/// Adds what changed for one test of HEAD; `base` is `None` for an added test.
fn compare_test(
    diff: &mut Diff,
    name: &str,
    base: Option<&TestRecord>,
    head: &TestRecord,
    threshold: &Threshold,
) {
    let base_outcome = base.map(|b| b.outcome);

    // Leaks, resource by resource: a test that leaked heap and now also leaks threads has a
    // new leak. A BASE without figures (its body failed) is taken as leaking nothing.
    let base_leaks = base.map_or_else(Vec::new, leaked);
    let head_leaks = leaked(head);
    let started: Vec<Resource> = head_leaks
        .iter()
        .copied()
        .filter(|r| !base_leaks.contains(r))
        .collect();
    if !started.is_empty()
        || (head.outcome == Outcome::Leaked && base_outcome != Some(Outcome::Leaked))
    {
        diff.new_leaks.push(LeakChange {
            test: name.to_owned(),
            resources: started,
            base_outcome,
            head_outcome: head.outcome,
        });
    }
    // Only a HEAD that measured to the end can say a leak is gone; a failed body says nothing.
    if let (Some(base), Some(_)) = (base, &head.figures) {
        let stopped: Vec<Resource> = base_leaks
            .iter()
            .copied()
            .filter(|r| !head_leaks.contains(r))
            .collect();
        if !stopped.is_empty()
            || (base.outcome == Outcome::Leaked && head.outcome != Outcome::Leaked)
        {
            diff.fixed_leaks.push(LeakChange {
                test: name.to_owned(),
                resources: stopped,
                base_outcome,
                head_outcome: head.outcome,
            });
        }
    }

    let fails = |o: Outcome| matches!(o, Outcome::Failed | Outcome::OverBudget);
    if fails(head.outcome) && base_outcome != Some(head.outcome) {
        diff.new_failures.push(OutcomeChange {
            test: name.to_owned(),
            base_outcome,
            head_outcome: head.outcome,
            message: head.message.as_deref().and_then(first_line),
        });
    }
    if base_outcome.is_some_and(fails) && head.outcome == Outcome::Passed {
        diff.fixed_failures.push(OutcomeChange {
            test: name.to_owned(),
            base_outcome,
            head_outcome: head.outcome,
            message: None,
        });
    }

    if let (Some(b), Some(h)) = (base.and_then(|b| b.figures.as_ref()), &head.figures) {
        let figures = [
            (
                Metric::AllocsPerIter,
                b.allocs_per_iter,
                h.allocs_per_iter,
                threshold.min_allocs_per_iter,
            ),
            (
                Metric::BytesPerIter,
                b.bytes_per_iter,
                h.bytes_per_iter,
                threshold.min_bytes_per_iter,
            ),
        ];
        let profiles = (profile_of(base), profile_of(Some(head)));
        for (metric, base, head, floor) in figures {
            if let Some(mut change) = change(name, metric, base, head, threshold.pct, floor) {
                if let (Some(b), Some(h)) = profiles {
                    change.sites = site_changes(metric, b, h);
                }
                diff.changes.push(change);
            }
        }
    }

    let base_suspicious = base.map_or_else(Vec::new, |b| with_verdict(b, Verdict::Suspicious));
    let suspicious: Vec<Resource> = with_verdict(head, Verdict::Suspicious)
        .into_iter()
        .filter(|r| !base_suspicious.contains(r))
        .collect();
    if !suspicious.is_empty() {
        diff.new_suspicious.push(SuspiciousChange {
            test: name.to_owned(),
            resources: suspicious,
        });
    }
}

/// The allocation profile of a record, when the test was profiled.
fn profile_of(record: Option<&TestRecord>) -> Option<&AllocationProfile> {
    record?.report.as_ref()?.profile.as_ref()
}

/// The sites whose `metric` differs between two profiles of a test, largest change first.
fn site_changes(
    metric: Metric,
    base: &AllocationProfile,
    head: &AllocationProfile,
) -> Vec<SiteChange> {
    let value = |s: &leakcheck::ProfileSite| match metric {
        Metric::AllocsPerIter => s.allocations as f64,
        Metric::BytesPerIter => s.bytes as f64,
    };
    let other = |p: &AllocationProfile| match metric {
        Metric::AllocsPerIter => p.other_allocations as f64,
        Metric::BytesPerIter => p.other_bytes as f64,
    };
    // A site listed on one side only had 0 on the other, unless that side's unlisted sites
    // ("other") could hold it: then its change cannot be told, and it is left out.
    let mut changes: Vec<SiteChange> = head
        .sites
        .iter()
        .filter_map(|h| {
            let b = base.sites.iter().find(|b| b.fingerprint == h.fingerprint);
            if b.is_none() && other(base) >= value(h) {
                return None;
            }
            Some(SiteChange {
                fingerprint: h.fingerprint.clone(),
                location: h.location(),
                base: b.map_or(0.0, value),
                head: value(h),
            })
        })
        .chain(
            base.sites
                .iter()
                .filter(|b| !head.sites.iter().any(|h| h.fingerprint == b.fingerprint))
                .filter(|b| other(head) < value(b))
                .map(|b| SiteChange {
                    fingerprint: b.fingerprint.clone(),
                    location: b.location(),
                    base: value(b),
                    head: 0.0,
                }),
        )
        .filter(|s| s.head != s.base)
        .collect();
    changes.sort_by(|a, b| (b.head - b.base).abs().total_cmp(&(a.head - a.base).abs()));
    changes.truncate(SITES_SHOWN);
    changes
}

/// The resources a record says leaked (none unless the test's outcome is a leak).
fn leaked(record: &TestRecord) -> Vec<Resource> {
    if record.outcome == Outcome::Leaked {
        with_verdict(record, Verdict::Leak)
    } else {
        Vec::new()
    }
}

/// The resources whose verdict is `verdict` in the record's figures.
fn with_verdict(record: &TestRecord, verdict: Verdict) -> Vec<Resource> {
    let Some(f) = &record.figures else {
        return Vec::new();
    };
    f.verdicts()
        .filter(|&(_, v)| v == verdict)
        .map(|(r, _)| r)
        .collect()
}

/// The change of one figure, when it is beyond both the percentage and the floor.
fn change(
    test: &str,
    metric: Metric,
    base: f64,
    head: f64,
    pct: f64,
    floor: f64,
) -> Option<Change> {
    let delta = head - base;
    if delta.abs() < floor || delta == 0.0 {
        return None;
    }
    // From zero any change is infinitely large in percent: the floor alone decides.
    let change_pct = (base != 0.0).then(|| delta / base * 100.0);
    if change_pct.is_some_and(|p| p.abs() <= pct) {
        return None;
    }
    Some(Change {
        test: test.to_owned(),
        metric,
        base,
        head,
        change_pct,
        regression: delta > 0.0,
        sites: Vec::new(),
    })
}

/// The first non-empty line of a message, cut to a length that fits a table cell.
fn first_line(message: &str) -> Option<String> {
    const MAX: usize = 120;
    let line = message.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(if line.chars().count() > MAX {
        let cut: String = line.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    })
}

/// Things about the two runs that make the comparison less than exact.
fn notes(base: &RunReport, head: &RunReport) -> Vec<String> {
    let mut notes = Vec::new();
    for (side, report) in [("BASE", base), ("HEAD", head)] {
        if !report.unreadable.is_empty() {
            notes.push(format!(
                "{side} has {} record(s) that could not be read; their tests show as {}",
                report.unreadable.len(),
                if side == "BASE" { "added" } else { "removed" }
            ));
        }
    }
    let differs = |what: &str, b: &Option<String>, h: &Option<String>| match (b, h) {
        (Some(b), Some(h)) if b != h => Some(format!(
            "BASE was built for {what} `{b}` and HEAD for `{h}`: allocation figures may differ for \
             that reason alone"
        )),
        _ => None,
    };
    notes.extend(differs("profile", &base.run.profile, &head.run.profile));
    notes.extend(differs("target", &base.run.target, &head.run.target));
    notes
}
