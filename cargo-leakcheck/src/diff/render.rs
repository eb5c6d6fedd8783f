//! The three renderings of a [`Diff`]: text for a terminal, markdown for a PR comment or job
//! summary, JSON for scripts. Pure functions: the same `Diff` always gives the same text.

use super::{Change, Diff, LeakChange, Metric, OutcomeChange, Side, TestSummary};
use leakcheck::record::Outcome;
use leakcheck::Resource;
use std::fmt::Write as _;

/// One line of the regressions or improvements table, shared by text and markdown.
struct Row {
    test: String,
    what: String,
    base: String,
    head: String,
    change: String,
    /// A failure message, shown under the row (text) or in the `what` cell (markdown).
    message: Option<String>,
    /// The call sites of an allocation change (`+3 allocs/iter at f (file:line)`), shown like
    /// the message.
    sites: Vec<String>,
}

/// The text rendering: a verdict line, the two runs, then one aligned table per section.
pub fn text(diff: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "leakcheck diff: {}", verdict(diff));
    for (label, side) in [("base", &diff.base), ("head", &diff.head)] {
        let _ = writeln!(out, "  {label}  {}", describe(side));
    }
    let _ = writeln!(out, "  {}", threshold(diff));

    let regressions = regression_rows(diff);
    let improvements = improvement_rows(diff);
    for (title, rows) in [
        ("Regressions", &regressions),
        ("Improvements", &improvements),
    ] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({})", rows.len());
        let cells: Vec<[String; 5]> = rows
            .iter()
            .map(|r| {
                [
                    r.test.clone(),
                    r.what.clone(),
                    r.base.clone(),
                    r.head.clone(),
                    r.change.clone(),
                ]
            })
            .collect();
        let header = ["test", "what", "base", "head", "change"].map(str::to_owned);
        let lines = columns(&header, &cells, &[false, false, true, true, true]);
        let _ = writeln!(out, "  {}", lines[0]);
        for (line, row) in lines[1..].iter().zip(rows) {
            let _ = writeln!(out, "  {line}");
            if let Some(message) = &row.message {
                let _ = writeln!(out, "      {message}");
            }
            for site in &row.sites {
                let _ = writeln!(out, "      {site}");
            }
        }
    }

    if !diff.new_suspicious.is_empty() {
        let _ = writeln!(
            out,
            "\nNew suspicious verdicts ({}; informational: growth not confirmed as a leak)",
            diff.new_suspicious.len()
        );
        let cells: Vec<[String; 2]> = diff
            .new_suspicious
            .iter()
            .map(|s| [s.test.clone(), resources(&s.resources)])
            .collect();
        let lines = columns(
            &["test", "resources"].map(str::to_owned),
            &cells,
            &[false, false],
        );
        for line in lines {
            let _ = writeln!(out, "  {line}");
        }
    }

    for (title, tests) in [
        ("Added tests", &diff.added),
        ("Removed tests", &diff.removed),
    ] {
        if tests.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({})", tests.len());
        for line in summary_lines(tests) {
            let _ = writeln!(out, "  {line}");
        }
    }

    // Unchanged tests are the bulk of a large suite: a count by outcome, not a list.
    let _ = writeln!(
        out,
        "\nUnchanged: {} test{}{}",
        diff.unchanged.len(),
        plural(diff.unchanged.len()),
        outcome_counts(&diff.unchanged)
    );
    for note in &diff.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// The markdown rendering: a heading with the verdict, tables of regressions and improvements,
/// and `<details>` for added, removed and unchanged tests.
pub fn markdown(diff: &Diff) -> String {
    let mut out = String::new();
    let icon = if diff.regression { "❌" } else { "✅" };
    let _ = writeln!(out, "## leakcheck diff: {icon} {}\n", verdict(diff));
    let _ = writeln!(
        out,
        "Base {} → head {}. {}.\n",
        md_side(&diff.base),
        md_side(&diff.head),
        capitalised(&threshold(diff))
    );

    for (title, what, rows) in [
        ("Regressions", "regression", regression_rows(diff)),
        ("Improvements", "improvement", improvement_rows(diff)),
    ] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title} ({})\n", rows.len());
        let cells: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| {
                let mut what = match &r.message {
                    Some(message) => format!("{}: {}", r.what, md_escape(message)),
                    None => r.what,
                };
                for site in &r.sites {
                    let _ = write!(what, "<br>{}", md_escape(site));
                }
                vec![code(&r.test), what, r.base, r.head, r.change]
            })
            .collect();
        out.push_str(&md_table(
            &["test", what, "base", "head", "change"],
            &[false, false, true, true, true],
            &cells,
        ));
        out.push('\n');
    }

    if !diff.new_suspicious.is_empty() {
        let _ = writeln!(
            out,
            "### New suspicious verdicts ({})\n\nInformational: growth that was not confirmed as \
             a leak; these tests still pass.\n",
            diff.new_suspicious.len()
        );
        for s in &diff.new_suspicious {
            let _ = writeln!(out, "- {}: {}", code(&s.test), resources(&s.resources));
        }
        out.push('\n');
    }

    for (title, tests) in [
        ("Added tests", &diff.added),
        ("Removed tests", &diff.removed),
        ("Unchanged tests", &diff.unchanged),
    ] {
        if tests.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<details><summary>{title} ({})</summary>\n",
            tests.len()
        );
        let cells: Vec<Vec<String>> = tests
            .iter()
            .map(|t| {
                let [outcome, allocs, bytes] = summary_cells(t);
                vec![code(&t.test), outcome, allocs, bytes]
            })
            .collect();
        out.push_str(&md_table(
            &["test", "outcome", "allocs/iter", "bytes/iter"],
            &[false, false, true, true],
            &cells,
        ));
        out.push_str("\n</details>\n\n");
    }

    for note in &diff.notes {
        let _ = writeln!(out, "> **Note:** {}\n", md_escape(note));
    }
    // One trailing newline, whatever the last section was.
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

/// The JSON rendering: the [`Diff`] itself, pretty-printed, with a final newline.
pub fn json(diff: &Diff) -> String {
    // A Diff holds only strings, numbers, options and lists: serializing it cannot fail (a
    // non-finite number would become `null`).
    let mut text = serde_json::to_string_pretty(diff).unwrap_or_default();
    text.push('\n');
    text
}

/// `REGRESSION: 1 new leak, 2 allocation increases` or `no regression`.
fn verdict(diff: &Diff) -> String {
    let increases = diff.changes.iter().filter(|c| c.regression).count();
    let parts: Vec<String> = [
        (diff.new_leaks.len(), "new leak"),
        (diff.new_failures.len(), "new failure"),
        (increases, "allocation increase"),
    ]
    .into_iter()
    .filter(|&(n, _)| n > 0)
    .map(|(n, what)| format!("{n} {what}{}", plural(n)))
    .collect();
    if diff.regression {
        format!("REGRESSION: {}", parts.join(", "))
    } else {
        "no regression".to_owned()
    }
}

/// `reports/base.json (run r1, commit 1234567, 2026-11-21T10:00:00Z, 5 tests)`.
fn describe(side: &Side) -> String {
    let mut facts = vec![format!("run {}", side.run_id)];
    if let Some(commit) = &side.commit {
        facts.push(format!("commit {}", short(commit)));
    }
    facts.push(side.started_at.clone());
    facts.push(format!("{} test{}", side.tests, plural(side.tests)));
    let path = if side.path.is_empty() {
        "-"
    } else {
        &side.path
    };
    format!("{path} ({})", facts.join(", "))
}

/// The commit and run of one side, for the markdown's first paragraph.
fn md_side(side: &Side) -> String {
    let mut text = match &side.commit {
        Some(commit) => code(short(commit)),
        None => code(if side.path.is_empty() {
            "-"
        } else {
            &side.path
        }),
    };
    let _ = write!(
        text,
        " (run {}, {} test{})",
        code(&side.run_id),
        side.tests,
        plural(side.tests)
    );
    text
}

fn threshold(diff: &Diff) -> String {
    format!(
        "allocation changes count beyond {}% and at least {} allocs/iter or {} B/iter",
        number(diff.threshold_pct, 2),
        number(diff.min_allocs_per_iter, 2),
        number(diff.min_bytes_per_iter, 1)
    )
}

fn regression_rows(diff: &Diff) -> Vec<Row> {
    let mut rows: Vec<Row> = diff
        .new_leaks
        .iter()
        .map(|l| leak_row(l, "new leak"))
        .collect();
    rows.extend(
        diff.new_failures
            .iter()
            .map(|f| outcome_row(f, "new failure")),
    );
    rows.extend(diff.changes.iter().filter(|c| c.regression).map(change_row));
    rows
}

fn improvement_rows(diff: &Diff) -> Vec<Row> {
    let mut rows: Vec<Row> = diff
        .fixed_leaks
        .iter()
        .map(|l| leak_row(l, "fixed leak"))
        .collect();
    rows.extend(
        diff.fixed_failures
            .iter()
            .map(|f| outcome_row(f, "fixed failure")),
    );
    rows.extend(
        diff.changes
            .iter()
            .filter(|c| !c.regression)
            .map(change_row),
    );
    rows
}

fn leak_row(leak: &LeakChange, what: &str) -> Row {
    let what = if leak.resources.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {}", resources(&leak.resources))
    };
    Row {
        test: leak.test.clone(),
        what,
        base: outcome(leak.base_outcome),
        head: leak.head_outcome.to_string(),
        change: String::new(),
        message: None,
        sites: Vec::new(),
    }
}

fn outcome_row(change: &OutcomeChange, what: &str) -> Row {
    Row {
        test: change.test.clone(),
        what: what.to_owned(),
        base: outcome(change.base_outcome),
        head: change.head_outcome.to_string(),
        change: String::new(),
        message: change.message.clone(),
        sites: Vec::new(),
    }
}

fn change_row(change: &Change) -> Row {
    let digits = match change.metric {
        Metric::AllocsPerIter => 2,
        Metric::BytesPerIter => 1,
    };
    Row {
        test: change.test.clone(),
        what: change.metric.label().to_owned(),
        base: number(change.base, digits),
        head: number(change.head, digits),
        change: match change.change_pct {
            Some(pct) => format!("{pct:+.1}%"),
            None => "from 0".to_owned(),
        },
        message: None,
        sites: change
            .sites
            .iter()
            .map(|s| {
                let delta = s.head - s.base;
                let sign = if delta > 0.0 { "+" } else { "" };
                format!(
                    "{sign}{} {} at {}",
                    number(delta, digits),
                    change.metric.label(),
                    s.location
                )
            })
            .collect(),
    }
}

/// Outcome, allocs/iter and bytes/iter of a test, `-` where the body did not run to the end.
fn summary_cells(test: &TestSummary) -> [String; 3] {
    let figure = |v: Option<f64>, digits| v.map_or_else(|| "-".to_owned(), |v| number(v, digits));
    [
        test.outcome.to_string(),
        figure(test.allocs_per_iter, 2),
        figure(test.bytes_per_iter, 1),
    ]
}

fn summary_lines(tests: &[TestSummary]) -> Vec<String> {
    let cells: Vec<[String; 4]> = tests
        .iter()
        .map(|t| {
            let [outcome, allocs, bytes] = summary_cells(t);
            [t.test.clone(), outcome, allocs, bytes]
        })
        .collect();
    let header = ["test", "outcome", "allocs/iter", "bytes/iter"].map(str::to_owned);
    columns(&header, &cells, &[false, false, true, true])
}

/// ` (10 passed, 2 leaked)`, or nothing for no tests.
fn outcome_counts(tests: &[TestSummary]) -> String {
    let counts: Vec<String> = [
        Outcome::Passed,
        Outcome::Leaked,
        Outcome::OverBudget,
        Outcome::Failed,
    ]
    .into_iter()
    .filter_map(|o| {
        let n = tests.iter().filter(|t| t.outcome == o).count();
        (n > 0).then(|| format!("{n} {o}"))
    })
    .collect();
    if counts.is_empty() {
        String::new()
    } else {
        format!(" ({})", counts.join(", "))
    }
}

fn outcome(outcome: Option<Outcome>) -> String {
    outcome.map_or_else(|| "(new test)".to_owned(), |o| o.to_string())
}

fn resources(resources: &[Resource]) -> String {
    resources
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `v` with at most `digits` decimals and no trailing zeros: 8, 4.08, 141.1.
fn number(v: f64, digits: usize) -> String {
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The short form git shows of a commit id.
fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Lines of a table with a header and columns padded to their widest cell; `right` says which
/// columns are right-aligned (the numbers).
pub(crate) fn columns<const N: usize>(
    header: &[String; N],
    rows: &[[String; N]],
    right: &[bool; N],
) -> Vec<String> {
    let mut widths = header.each_ref().map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    std::iter::once(header)
        .chain(rows)
        .map(|row| {
            let mut line = String::new();
            for ((cell, &w), &right) in row.iter().zip(&widths).zip(right) {
                if right {
                    let _ = write!(line, "{cell:>w$}  ");
                } else {
                    let _ = write!(line, "{cell:<w$}  ");
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

pub(crate) fn md_table(header: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|", header.join(" | "));
    for &right in right {
        out.push_str(if right { " --: |" } else { " :-- |" });
    }
    out.push('\n');
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// Inline code; test names never hold a backtick, but a stray one must not break the table.
pub(crate) fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('|', "\\|"))
}

/// Text from a test (a failure message) made safe inside a table cell: no column breaks, no
/// HTML.
pub(crate) fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
