//! Suppressions: known leaks (a library's background thread, a log file it keeps open, an
//! intentional cache) that are listed in the report but do not fail the test.
//!
//! A resource's leak is suppressed only when *everything* it left behind matches a pattern: every
//! new thread by name, every new fd by target, every surviving allocation site by a function in
//! its stack. One unmatched item keeps the leak — a suppression must never hide a new leak that
//! happens to sit next to a known one.

use crate::analyze::Verdict;
use crate::config::Suppressions;
use crate::report::{Report, SuppressedItem};
use leakcheck_probe::{Resource, ThreadInfo};

/// Whether `text` matches the glob `pattern`: `*` is any run of characters (also `::` and `/`),
/// `?` one character, everything else itself.
///
/// Written here rather than taken from a glob crate: this runs in every user's test binary, and
/// two wildcards over a name do not justify another dependency in their build.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry from there.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether the thread name `name` matches the glob `pattern`. A name that ends with
/// [`ThreadInfo::CUT`] is the beginning of the name the code gave (Linux keeps 15 bytes): it
/// matches when the pattern can match a name that begins so, that is when a beginning of the
/// pattern matches it. `background-refresher` matches the kernel's `background-refr…`, and so
/// would any other name of those first 15 bytes.
fn matches_thread(pattern: &str, name: &str) -> bool {
    let Some(prefix) = name.strip_suffix(ThreadInfo::CUT) else {
        return matches(pattern, name);
    };
    let mut ends = pattern
        .char_indices()
        .map(|(i, _)| i)
        .chain([pattern.len()]);
    matches(pattern, name) || ends.any(|end| matches(&pattern[..end], prefix))
}

/// The first of `patterns` that matches the thread name `name` (see [`matches_thread`]).
fn first_thread_match<'p>(patterns: &'p [String], name: &str) -> Option<&'p str> {
    patterns
        .iter()
        .find(|p| matches_thread(p, name))
        .map(String::as_str)
}

/// The first of `patterns` that matches one of `texts`.
pub(crate) fn first_match<'p, 't>(
    patterns: &'p [String],
    texts: impl IntoIterator<Item = &'t str>,
) -> Option<&'p str> {
    if patterns.is_empty() {
        return None;
    }
    let texts: Vec<&str> = texts.into_iter().collect();
    patterns
        .iter()
        .find(|p| texts.iter().any(|t| matches(p, t)))
        .map(String::as_str)
}

/// Marks the leaks of `report` that `suppress` accepts as [`Verdict::Suppressed`] and lists the
/// matched items. The report's overall verdict is left for the caller to recompute.
pub(crate) fn apply(report: &mut Report, suppress: &Suppressions) {
    let mut items = Vec::new();
    let judged = |v: Verdict| v > Verdict::Clean && v != Verdict::Suppressed;

    if judged(report.threads.verdict) && !suppress.threads.is_empty() {
        let matched: Vec<(String, &str)> = report
            .new_threads
            .iter()
            .filter_map(|t| {
                let pattern = first_thread_match(&suppress.threads, &t.name)?;
                Some((format!("`{}`", t.name), pattern))
            })
            .collect();
        if !matched.is_empty() && matched.len() == report.new_threads.len() {
            let finding = &mut report.threads;
            mark(&mut finding.verdict, &mut finding.evidence, "thread");
        }
        items.extend(grouped(Resource::Threads, matched));
    }
    let threads_suppressed = report.threads.verdict == Verdict::Suppressed;

    if judged(report.fds.verdict) && !suppress.fds.is_empty() {
        let matched: Vec<(String, &str)> = report
            .new_fds
            .iter()
            .filter_map(|fd| {
                let texts = [Some(fd.target.as_str()), fd.detail.as_deref()];
                let pattern = first_match(&suppress.fds, texts.into_iter().flatten())?;
                let what = match &fd.detail {
                    Some(detail) => format!("{} ({detail})", fd.target),
                    None => fd.target.clone(),
                };
                Some((what, pattern))
            })
            .collect();
        if !matched.is_empty() && matched.len() == report.new_fds.len() {
            let finding = &mut report.fds;
            mark(
                &mut finding.verdict,
                &mut finding.evidence,
                "file descriptor",
            );
        }
        items.extend(grouped(Resource::Fds, matched));
    }

    if judged(report.heap.verdict) && (!suppress.heap.is_empty() || threads_suppressed) {
        match &report.attribution {
            Some(attribution) => {
                let matched: Vec<(String, &str)> = attribution
                    .sites
                    .iter()
                    .filter_map(|site| {
                        let pattern = match &site.suppressed_by {
                            Some(p) => p.as_str(),
                            // What std allocates to start a suppressed thread, and what such a
                            // thread allocates for itself, go with the thread.
                            None if threads_suppressed && site.thread_spawn => {
                                "(the spawn of suppressed threads)"
                            }
                            None if threads_suppressed
                                && on_suppressed_threads(&site.threads, &suppress.threads) =>
                            {
                                "(allocated by suppressed threads)"
                            }
                            None => return None,
                        };
                        let what = format!(
                            "{:.1} blocks / {:.0} B per iteration at {}",
                            site.blocks_per_iteration,
                            site.bytes_per_iteration,
                            site.location()
                        );
                        Some((what, pattern))
                    })
                    .collect();
                // Survivors at sites beyond those listed cannot be matched: they keep the leak.
                let unlisted = attribution.other_blocks_per_iteration >= 0.5;
                if !matched.is_empty() && matched.len() == attribution.sites.len() && !unlisted {
                    let finding = &mut report.heap;
                    mark(
                        &mut finding.verdict,
                        &mut finding.evidence,
                        "allocation site",
                    );
                }
                items.extend(grouped(Resource::Heap, matched));
            }
            None if !suppress.heap.is_empty() => report.notes.push(
                "heap suppressions are matched against where the leaked blocks were allocated, \
                 which needs the traced iterations: `attribute = false` leaves the heap leak \
                 unsuppressed"
                    .to_owned(),
            ),
            None => {}
        }
    }
    report.suppressed = items;
}

/// Whether every thread named in a site's `threads` (entries like `` `name` (tid 42) ``) is
/// suppressed by name, and there is at least one.
fn on_suppressed_threads(threads: &[String], patterns: &[String]) -> bool {
    !threads.is_empty()
        && threads.iter().all(|entry| {
            entry
                .split('`')
                .nth(1)
                .is_some_and(|name| first_thread_match(patterns, name).is_some())
        })
}

/// One item per distinct (what, pattern), counted when it repeats: a leak of 64 threads of one
/// name is one line.
fn grouped(resource: Resource, matched: Vec<(String, &str)>) -> Vec<SuppressedItem> {
    let mut groups: Vec<(String, &str, usize)> = Vec::new();
    for (what, pattern) in matched {
        match groups
            .iter_mut()
            .find(|(w, p, _)| *w == what && *p == pattern)
        {
            Some(group) => group.2 += 1,
            None => groups.push((what, pattern, 1)),
        }
    }
    groups
        .into_iter()
        .map(|(what, pattern, n)| SuppressedItem {
            resource,
            item: if n == 1 {
                what
            } else {
                format!("{what} × {n}")
            },
            pattern: pattern.to_owned(),
        })
        .collect()
}

fn mark(verdict: &mut Verdict, evidence: &mut String, what: &str) {
    *verdict = Verdict::Suppressed;
    evidence.push_str(&format!(
        " — suppressed: every {what} left behind matches a suppression pattern"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        for (pattern, text) in [
            ("pool-*", "pool-3"),
            ("*", ""),
            ("regex::*", "regex::compile::Compiler::new"),
            ("*::CACHE*", "app::CACHE::init"),
            ("/var/log/*.log", "/var/log/app.log"),
            ("worker-?", "worker-7"),
            ("a*b*c", "aXbYbZc"),
            ("tcp 127.0.0.1:* listening", "tcp 127.0.0.1:8080 listening"),
        ] {
            assert!(matches(pattern, text), "{pattern} !~ {text}");
        }
        for (pattern, text) in [
            ("pool-*", "mypool-3"),
            ("pool", "pool-3"),
            ("worker-?", "worker-12"),
            ("a*b*c", "aXbYbZ"),
            ("", "x"),
        ] {
            assert!(!matches(pattern, text), "{pattern} ~ {text}");
        }
    }

    #[test]
    fn a_thread_name_the_kernel_cut_matches_the_name_the_code_gave() {
        let cut = "background-refr…";
        for pattern in [
            "background-refresher",
            "background-refr*",
            "background-*er",
            "*-refresher",
            "background-refr…",
            "background-r?fr",
        ] {
            assert!(matches_thread(pattern, cut), "{pattern} !~ {cut}");
        }
        // A pattern that parts from the name within the 15 bytes, or a name that was not cut.
        for (pattern, name) in [
            ("background-reloader", cut),
            ("backup-*", cut),
            ("background-refresher", "background-refr"),
            ("background-refresher", "background"),
        ] {
            assert!(!matches_thread(pattern, name), "{pattern} ~ {name}");
        }
    }

    #[test]
    fn first_match_names_the_pattern() {
        let patterns = vec!["io-*".to_owned(), "timer".to_owned()];
        assert_eq!(first_match(&patterns, ["x", "timer"]), Some("timer"));
        assert_eq!(first_match(&patterns, ["x"]), None);
        assert_eq!(first_match(&[], ["x"]), None);
    }
}
