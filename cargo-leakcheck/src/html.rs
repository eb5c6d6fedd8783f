//! HTML pages: the report of one run (each test's series per iteration) and the trend across
//! runs. Pages are self-contained — inline CSS and inline SVG from [`plot`], no JavaScript, nothing
//! loaded from the network — so they open from a CI artifact or a mail attachment as they are.

pub mod plot;

use crate::trend::Trend;
use leakcheck::record::{Outcome, RunReport, TestRecord};
use leakcheck::{Resource, Sample, Verdict};
use plot::{format_value, Plot, Series, Unit};
use std::fmt::Write as _;

/// `text` escaped for HTML text and quoted attribute values: the same escaping as JUnit's XML.
pub use leakcheck::_cargo_leakcheck_support::escape;

/// The page of one run: a header, a summary table of every test, then a section per test with
/// plots of its live heap bytes, live blocks, threads, fds and (async tests) tasks per
/// iteration. Leaking tests come first and are flagged.
pub fn report_page(report: &RunReport) -> String {
    let run = &report.run;
    let tests = worst_first(&report.tests);
    let mut body = String::new();

    let _ = write!(body, "<h1>leakcheck report</h1><dl class=\"run\">");
    let fields = [
        ("run", Some(run.id.as_str())),
        ("started", Some(run.started_at.as_str())),
        ("commit", run.commit.as_deref()),
        ("branch", run.branch.as_deref()),
        ("rustc", run.rustc.as_deref()),
        ("target", run.target.as_deref()),
        ("profile", run.profile.as_deref()),
        ("leakcheck", Some(run.leakcheck_version.as_str())),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            let _ = write!(body, "<dt>{name}</dt><dd>{}</dd>", escape(value));
        }
    }
    body.push_str("</dl>");

    let count = |o: Outcome| report.tests.iter().filter(|t| t.outcome == o).count();
    let _ = write!(
        body,
        "<p class=\"counts\">{} leak tests: <b class=\"v-leak\">{} leaked</b>, {} failed, {} over \
         budget, {} passed</p>",
        report.tests.len(),
        count(Outcome::Leaked),
        count(Outcome::Failed),
        count(Outcome::OverBudget),
        count(Outcome::Passed)
    );
    if !report.unreadable.is_empty() {
        body.push_str("<div class=\"warning\"><b>Records that could not be read:</b><ul>");
        for problem in &report.unreadable {
            let _ = write!(body, "<li>{}</li>", escape(problem));
        }
        body.push_str("</ul></div>");
    }

    let resources = report.resources();
    body.push_str("<table class=\"summary\"><thead><tr><th>test</th><th>outcome</th>");
    for r in &resources {
        let _ = write!(body, "<th>{r}</th>");
    }
    body.push_str("<th>allocs/iter</th><th>bytes/iter</th><th>iterations</th></tr></thead><tbody>");
    for (i, t) in tests.iter().enumerate() {
        let verdicts: String = resources
            .iter()
            .map(
                |&r| match t.figures.as_ref().and_then(|f| f.verdict_of(r)) {
                    Some(verdict) => verdict_cell(verdict),
                    None => "<td>-</td>".to_owned(),
                },
            )
            .collect();
        let (allocs, bytes, iterations) = match &t.figures {
            Some(f) => (
                format_value(f.allocs_per_iter, Unit::Count),
                format_value(f.bytes_per_iter, Unit::Bytes),
                iterations(f.warmup, f.measured, f.traced),
            ),
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        let _ = write!(
            body,
            "<tr class=\"{}\"><td><a href=\"#test-{i}\">{}</a></td><td>{}</td>{verdicts}\
             <td class=\"num\">{allocs}</td><td class=\"num\">{bytes}</td>\
             <td class=\"num\">{iterations}</td></tr>",
            outcome_class(t.outcome),
            escape(&t.test.full_name()),
            badge(t.outcome),
        );
    }
    body.push_str("</tbody></table>");

    for (i, t) in tests.iter().enumerate() {
        test_section(&mut body, i, t);
    }
    page(&format!("leakcheck report: run {}", run.id), &body)
}

/// The plots of one test's series, in the order a reader looks for a leak: live heap bytes,
/// live blocks, then the counted resources (threads, fds, tasks) where they were observed.
pub fn test_plots(samples: &[Sample]) -> Vec<String> {
    let values = |pick: &dyn Fn(&Sample) -> Option<f64>| samples.iter().map(pick).collect();
    let heap: [(&str, &str, Unit, Vec<Option<f64>>); 2] = [
        (
            "live heap bytes",
            "bytes",
            Unit::Bytes,
            values(&|s| Some(s.live_bytes as f64)),
        ),
        (
            "live heap blocks",
            "blocks",
            Unit::Count,
            values(&|s| Some(s.live_blocks as f64)),
        ),
    ];
    let counted = Resource::LEAK_TEST
        .into_iter()
        .filter(|r| r.is_count())
        .map(|r| {
            let series = values(&|s| s.count(r).map(f64::from));
            (r.label(), r.name(), Unit::Count, series)
        });
    heap.into_iter()
        .chain(counted)
        .filter(|(_, _, _, values)| values.iter().any(Option::is_some))
        .map(|(title, y_label, unit, values)| {
            let points = values
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64, v))
                .collect();
            let mut plot = Plot::new(title, "iteration (0 = baseline)", y_label)
                .unit(unit)
                .series(Series::new(y_label, points));
            // Growth is read against the baseline (index 0), so draw it across the plot.
            if let Some(&Some(baseline)) = values.first() {
                plot = plot.reference(baseline, "baseline");
            }
            plot.to_svg()
        })
        .collect()
}

/// One test's section: name, outcome, evidence per resource, the failure report, the plots.
fn test_section(body: &mut String, index: usize, t: &TestRecord) {
    let _ = write!(
        body,
        "<section class=\"test {}\" id=\"test-{index}\"><h2>{}{}</h2>",
        outcome_class(t.outcome),
        badge(t.outcome),
        escape(&t.test.full_name())
    );
    let mut meta = Vec::new();
    if !t.test.file.is_empty() {
        meta.push(format!("{}:{}", escape(&t.test.file), t.test.line));
    }
    if let Some(f) = &t.figures {
        meta.push(format!(
            "{} iterations (warmup + measured + traced)",
            iterations(f.warmup, f.measured, f.traced)
        ));
        meta.push(format!(
            "{} allocations / {} per iteration",
            format_value(f.allocs_per_iter, Unit::Count),
            format_value(f.bytes_per_iter, Unit::Bytes)
        ));
    }
    meta.push(format!("{} ms", t.duration_ms));
    let _ = write!(body, "<p class=\"meta\">{}</p>", meta.join(" · "));

    if let Some(report) = &t.report {
        body.push_str("<ul class=\"findings\">");
        for (resource, finding) in report.findings() {
            let verdict = finding.verdict();
            let _ = write!(
                body,
                "<li><b>{resource}</b> <span class=\"{}\">{verdict}</span>: {}</li>",
                verdict_class(verdict),
                escape(finding.evidence())
            );
        }
        body.push_str("</ul>");
    }
    if let Some(message) = &t.message {
        let _ = write!(
            body,
            "<details{}><summary>report</summary><pre>{}</pre></details>",
            if t.outcome.is_failure() { " open" } else { "" },
            escape(message)
        );
    }
    if let Some(profile) = t.report.as_ref().and_then(|r| r.profile.as_ref()) {
        profile_section(body, profile);
    }
    match &t.report {
        Some(report) => {
            body.push_str("<div class=\"plots\">");
            for svg in test_plots(&report.samples) {
                body.push_str(&svg);
            }
            body.push_str("</div>");
        }
        None => body.push_str(
            "<p class=\"none\">No measurement: the body did not run to the end, so there are no \
             series to plot.</p>",
        ),
    }
    body.push_str("</section>");
}

/// A profiled test's call sites: a table of allocations and bytes with their shares, and a bar
/// chart of the allocations (bars as wide as each site's share of the iteration).
fn profile_section(body: &mut String, profile: &leakcheck::AllocationProfile) {
    let _ = write!(
        body,
        "<h3>Allocations by call site</h3><p class=\"meta\">one profiled iteration: {} \
         allocations, {}</p><table class=\"profile\"><tr><th>allocations</th><th>share</th>\
         <th>bytes</th><th>share</th><th>site</th></tr>",
        profile.allocations,
        format_value(profile.bytes as f64, Unit::Bytes)
    );
    let pct = |share: f64| format!("{:.1}%", share * 100.0);
    for site in &profile.sites {
        let _ = write!(
            body,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            site.allocations,
            pct(site.allocation_share),
            format_value(site.bytes as f64, Unit::Bytes),
            pct(site.byte_share),
            escape(&site.location())
        );
    }
    if profile.other_allocations > 0 {
        let _ = write!(
            body,
            "<tr><td class=\"num\">{}</td><td></td><td class=\"num\">{}</td><td></td>\
             <td>other sites</td></tr>",
            profile.other_allocations,
            format_value(profile.other_bytes as f64, Unit::Bytes)
        );
    }
    body.push_str("</table><div class=\"bars\">");
    for site in &profile.sites {
        let function = site
            .frames
            .first()
            .map_or("<unknown>", |f| f.function.as_str());
        let _ = write!(
            body,
            "<div class=\"bar-row\"><span class=\"bar-label\">{}</span>\
             <span class=\"bar\" style=\"width:{:.1}%\"></span>\
             <span class=\"bar-value\">{}</span></div>",
            escape(function),
            site.allocation_share * 100.0,
            site.allocations
        );
    }
    body.push_str("</div>");
    for note in &profile.notes {
        let _ = write!(body, "<p class=\"meta\">note: {}</p>", escape(note));
    }
}

/// The trend page: the runs in order, a table of each test's figures across them, and one plot
/// per test of bytes/iter and allocs/iter over the runs with the runs where it leaked flagged.
pub fn trend_page(trend: &Trend) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>leakcheck trend</h1><p class=\"counts\">{} runs, oldest first · {} leak tests</p>",
        trend.runs.len(),
        trend.tests.len()
    );

    body.push_str(
        "<table class=\"runs\"><thead><tr><th>#</th><th>run</th><th>started</th><th>commit</th>\
         <th>branch</th><th>tests</th><th>leaked</th><th>file</th></tr></thead><tbody>",
    );
    for (i, run) in trend.runs.iter().enumerate() {
        let _ = write!(
            body,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            i + 1,
            escape(&run.label),
            escape(&run.info.started_at),
            escape(run.info.commit.as_deref().unwrap_or("-")),
            escape(run.info.branch.as_deref().unwrap_or("-")),
            run.tests,
            run.leaked,
            escape(&run.file),
        );
    }
    body.push_str("</tbody></table>");

    body.push_str("<table class=\"summary\"><thead><tr><th>test</th>");
    for run in &trend.runs {
        let _ = write!(body, "<th>{}</th>", escape(&run.label));
    }
    body.push_str("</tr></thead><tbody>");
    for (i, test) in trend.tests.iter().enumerate() {
        let _ = write!(
            body,
            "<tr class=\"{}\"><td><a href=\"#test-{i}\">{}</a></td>",
            if test.leaked_last() { "leaked" } else { "" },
            escape(&test.name)
        );
        for point in &test.points {
            match point {
                None => body.push_str("<td class=\"gap\">-</td>"),
                Some(p) => {
                    let _ = write!(
                        body,
                        "<td class=\"num {}\">{}</td>",
                        outcome_class(p.outcome),
                        escape(&p.cell())
                    );
                }
            }
        }
        body.push_str("</tr>");
    }
    body.push_str(
        "</tbody></table><p class=\"meta\">Cells: allocations / bytes allocated per iteration; \
         LEAK marks a run where the test leaked; - a run without the test.</p>",
    );

    let labels: Vec<(f64, String)> = trend
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| (i as f64, r.label.clone()))
        .collect();
    for (i, test) in trend.tests.iter().enumerate() {
        let _ = write!(
            body,
            "<section class=\"test {}\" id=\"test-{i}\"><h2>{}{}</h2>",
            if test.leaked_last() { "leaked" } else { "" },
            if test.leaked_last() {
                badge(Outcome::Leaked)
            } else {
                String::new()
            },
            escape(&test.name)
        );
        body.push_str(&trend_plot(test, &labels));
        body.push_str("</section>");
    }
    page("leakcheck trend", &body)
}

/// One test's plot across the runs: bytes/iter on the left axis, allocs/iter on the right,
/// gaps where a run lacks the test, flags where it leaked.
fn trend_plot(test: &crate::trend::TestTrend, labels: &[(f64, String)]) -> String {
    let series = |pick: fn(&crate::trend::Point) -> Option<f64>| {
        test.points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, p.as_ref().and_then(pick)))
            .collect::<Vec<_>>()
    };
    let leaked = test
        .points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.as_ref().is_some_and(|p| p.outcome == Outcome::Leaked))
        .map(|(i, _)| i as f64)
        .collect();
    // The section's heading names the test; the plot says what it shows.
    Plot::new(
        "allocated per iteration, by run",
        "run (oldest first)",
        "bytes allocated / iteration",
    )
    .unit(Unit::Bytes)
    .series(Series::new("bytes/iter", series(|p| p.bytes_per_iter)))
    .series(Series::new("allocs/iter", series(|p| p.allocs_per_iter)).on_right_axis())
    .right_axis("allocations / iteration", Unit::Count)
    .x_labels(labels.to_vec())
    .flags(leaked, "leaked in this run")
    .to_svg()
}

/// Leaks first, then failures, over-budget, suspicious and clean; in their order otherwise.
fn worst_first(tests: &[TestRecord]) -> Vec<&TestRecord> {
    let rank = |t: &TestRecord| match t.outcome {
        Outcome::Leaked => 0,
        Outcome::Failed => 1,
        Outcome::OverBudget => 2,
        Outcome::Passed if t.figures.as_ref().map(|f| f.verdict) == Some(Verdict::Suspicious) => 3,
        Outcome::Passed => 4,
    };
    let mut sorted: Vec<&TestRecord> = tests.iter().collect();
    sorted.sort_by_key(|t| rank(t));
    sorted
}

/// `warmup + measured` iterations, `+ traced` when some were traced.
fn iterations(warmup: usize, measured: usize, traced: usize) -> String {
    if traced == 0 {
        format!("{warmup} + {measured}")
    } else {
        format!("{warmup} + {measured} + {traced}")
    }
}

/// The CSS class of an outcome (rows, sections, badges).
fn outcome_class(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Leaked => "leaked",
        Outcome::OverBudget => "over-budget",
        Outcome::Failed => "failed",
    }
}

fn badge(outcome: Outcome) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        outcome_class(outcome),
        if outcome == Outcome::Leaked {
            "LEAK".to_owned()
        } else {
            outcome.to_string()
        }
    )
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Off => "v-off",
        Verdict::Clean => "v-clean",
        Verdict::Suppressed => "v-suppressed",
        Verdict::Suspicious => "v-suspicious",
        Verdict::Leak => "v-leak",
    }
}

fn verdict_cell(verdict: Verdict) -> String {
    format!("<td class=\"{}\">{verdict}</td>", verdict_class(verdict))
}

/// The page around `body`: doctype, charset, title and the style sheet.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    )
}

/// The style sheet: system fonts only, so nothing is fetched.
const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;background:#fff;\
max-width:1240px;margin:0 auto;padding:16px 24px}\
h1{font-size:22px;margin:0 0 8px}\
h2{font-size:16px;margin:0 0 4px;overflow-wrap:anywhere}\
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0 0 12px}\
dt{color:#59636e}dd{margin:0;font-family:ui-monospace,monospace}\
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}\
th,td{border-bottom:1px solid #d1d9e0;padding:3px 8px;text-align:left;white-space:nowrap}\
th{background:#f6f8fa}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
tr.leaked td,td.leaked{background:#ffebe9}\
td.gap{color:#8c959f;text-align:center}\
.v-leak{color:#b3261e;font-weight:600}.v-suspicious{color:#9a6700;font-weight:600}\
.v-clean{color:#1a7f37}.v-off{color:#6e7781}.v-suppressed{color:#6e7781;font-style:italic}\
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;\
margin-right:8px;vertical-align:1px;color:#fff;background:#1a7f37}\
.badge.leaked{background:#d1242f}.badge.failed{background:#8250df}\
.badge.over-budget{background:#9a6700}\
section.test{border:1px solid #d1d9e0;border-left:6px solid #1a7f37;border-radius:6px;\
padding:10px 14px;margin:14px 0}\
section.test.leaked{border-left-color:#d1242f;background:#fff8f7}\
section.test.failed{border-left-color:#8250df}section.test.over-budget{border-left-color:#9a6700}\
.meta{color:#59636e;margin:0 0 6px}\
ul.findings{margin:4px 0 8px;padding-left:20px}\
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:8px}\
h3{font-size:14px;margin:8px 0 2px}\
table.profile td:last-child{white-space:normal;overflow-wrap:anywhere}\
.bars{margin:0 0 10px;max-width:720px}\
.bar-row{display:grid;grid-template-columns:260px 1fr 60px;gap:8px;align-items:center;\
font-size:12px}\
.bar-label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-family:ui-monospace,monospace}\
.bar{display:block;height:12px;background:#0969da;border-radius:2px;min-width:1px}\
.bar-value{text-align:right;font-variant-numeric:tabular-nums}\
svg.plot{width:100%;max-width:560px;height:auto;background:#fff;border:1px solid #eaeef2;\
border-radius:4px}\
pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px}\
.warning{background:#fff8c5;border:1px solid #d4a72c;padding:6px 12px;border-radius:6px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("plain ▲"), "plain ▲");
    }

    #[test]
    fn the_report_page_has_the_tasks_verdict_evidence_and_plot_of_async_tests() {
        let page = report_page(&crate::test_run::tests::async_report());
        for needle in [
            "<th>tasks</th>",
            "<li><b>tasks</b> <span class=\"v-leak\">LEAK</span>: +8 tasks over 8 iterations",
            "<li><b>tasks</b> <span class=\"v-clean\">clean</span>: no new tasks",
            "<title>tasks</title>",
        ] {
            assert!(page.contains(needle), "report.html lacks {needle:?}");
        }
        // Three tests, two of them async: two tasks findings, two tasks plots.
        assert_eq!(page.matches("<li><b>tasks</b>").count(), 2);
        assert_eq!(page.matches("<title>tasks</title>").count(), 2);
    }
}
