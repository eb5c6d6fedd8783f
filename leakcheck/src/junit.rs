//! JUnit XML of a run, for CI test reports (GitLab, Jenkins, GitHub actions that read JUnit).
//!
//! One `<testsuite>` per test binary (named like nextest names binaries), one `<testcase>` per
//! leak test with `classname` (the binary), `name`, `file`, `line` and `time`, properties with
//! the key figures, `<failure>` with the human report when the test failed, and `<system-out>`
//! with the one-line summary. `docs/junit.xsd` is the schema the output is checked against.

use crate::record::append::Edit;
use crate::record::{Outcome, RunInfo, RunReport, TestRecord};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The JUnit XML of `report`, records grouped by binary in the report's order, and where its
/// growing parts are.
pub(crate) fn document(report: &RunReport) -> (String, Layout) {
    let (mut text, mut layout) = Layout::start();
    let mut tests: Vec<&TestRecord> = report.tests.iter().collect();
    // Stable: the report's order within a binary.
    tests.sort_by_key(|t| t.test.binary_id());
    for record in tests {
        for edit in layout.append(record, &report.run) {
            edit.apply_to(&mut text);
        }
    }
    (text, layout)
}

/// Where the parts of a `junit.xml` that change as records are added are, so that adding one
/// writes the new `<testcase>` and two fixed-width headers in place instead of the whole file.
///
/// The file is one `<testsuites>` with one `<testsuite>` per binary, as long as each binary's
/// records come together (they do under `cargo test`, which runs binaries one after another; a
/// record of another binary in between starts a new `<testsuite>` of the same name). The counts
/// in both headers are padded with spaces before the `>` to the width of the largest counts, so
/// rewriting a header never moves what follows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Layout {
    /// The length of the file.
    pub(crate) len: u64,
    /// The whole run's counts (the `<testsuites>` header, right after the XML declaration).
    all: Counts,
    /// The last `<testsuite>`: where its header starts, its binary and its counts.
    last: Option<Suite>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Suite {
    at: u64,
    binary: String,
    counts: Counts,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    tests: u64,
    failures: u64,
    ms: u64,
}

impl Counts {
    const MAX: Counts = Counts {
        tests: u64::MAX,
        failures: u64::MAX,
        ms: u64::MAX,
    };

    fn add(&mut self, record: &TestRecord) {
        self.tests += 1;
        self.failures += u64::from(record.outcome.is_failure());
        self.ms = self.ms.saturating_add(record.duration_ms);
    }
}

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// What follows the last `<testcase>` of the last suite.
const SUITE_END: &str = "  </testsuite>\n</testsuites>\n";
/// What follows the last suite.
const END: &str = "</testsuites>\n";

impl Layout {
    /// The text and layout of a `junit.xml` without tests.
    pub(crate) fn start() -> (String, Layout) {
        let text = format!("{DECLARATION}{}\n{END}", root_header(Counts::default()));
        let layout = Layout {
            len: text.len() as u64,
            ..Layout::default()
        };
        (text, layout)
    }

    /// Where the fixed end of the file starts (that of the last suite, or of the file without
    /// suites), and what it is.
    pub(crate) fn end(&self) -> (u64, &'static str) {
        let end = if self.last.is_some() { SUITE_END } else { END };
        (self.len - end.len() as u64, end)
    }

    /// The edits that write both headers with this layout's counts (after provisional records
    /// changed them on disk).
    pub(crate) fn headers(&self, run: &RunInfo) -> Vec<Edit> {
        let mut edits = vec![Edit::new(DECLARATION.len() as u64, root_header(self.all))];
        if let Some(suite) = &self.last {
            edits.push(Edit::new(
                suite.at,
                suite_header(&suite.binary, suite.counts, run),
            ));
        }
        edits
    }

    /// The edits that add `record` (of the run `run`) to the file this layout describes.
    pub(crate) fn append(&mut self, record: &TestRecord, run: &RunInfo) -> Vec<Edit> {
        let binary = record.test.binary_id();
        let mut case = String::new();
        testcase(&mut case, &binary, record);
        let mut edits = Vec::with_capacity(3);
        match &mut self.last {
            Some(suite) if suite.binary == binary => {
                suite.counts.add(record);
                edits.push(Edit::new(
                    self.len - SUITE_END.len() as u64,
                    case + SUITE_END,
                ));
                edits.push(Edit::new(
                    suite.at,
                    suite_header(&binary, suite.counts, run),
                ));
            }
            _ => {
                let mut counts = Counts::default();
                counts.add(record);
                let at = self.len - END.len() as u64;
                let mut text = suite_header(&binary, counts, run);
                text.push('\n');
                suite_properties(&mut text, run);
                text.push_str(&case);
                text.push_str(SUITE_END);
                edits.push(Edit::new(at, text));
                self.last = Some(Suite { at, binary, counts });
            }
        }
        self.all.add(record);
        self.len = edits[0].end();
        edits.push(Edit::new(DECLARATION.len() as u64, root_header(self.all)));
        edits
    }
}

/// `text` padded with spaces before its final `>` to the width it has with `widest`.
fn padded(text: String, widest: &str) -> String {
    let mut text = text;
    let pad = widest.len().saturating_sub(text.len());
    text.insert_str(text.len() - 1, &" ".repeat(pad));
    text
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn root_header(counts: Counts) -> String {
    let open = |c: Counts| {
        format!(
            "<testsuites name=\"leakcheck\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{}\">",
            c.tests,
            c.failures,
            seconds(c.ms)
        )
    };
    padded(open(counts), &open(Counts::MAX))
}

fn suite_header(binary: &str, counts: Counts, run: &RunInfo) -> String {
    let open = |c: Counts| {
        format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" \
             time=\"{}\" timestamp=\"{}\">",
            escape(binary),
            c.tests,
            c.failures,
            seconds(c.ms),
            escape(run.started_at.trim_end_matches('Z'))
        )
    };
    padded(open(counts), &open(Counts::MAX))
}

fn suite_properties(out: &mut String, run: &RunInfo) {
    out.push_str("    <properties>\n");
    for (key, value) in [
        ("leakcheck.run_id", Some(&run.id)),
        ("leakcheck.commit", run.commit.as_ref()),
        ("leakcheck.version", Some(&run.leakcheck_version)),
        ("leakcheck.rustc", run.rustc.as_ref()),
    ] {
        if let Some(value) = value {
            property(out, "      ", key, value);
        }
    }
    out.push_str("    </properties>\n");
}

fn testcase(out: &mut String, classname: &str, record: &TestRecord) {
    let t = &record.test;
    let _ = writeln!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{}\">",
        escape(classname),
        escape(&t.name),
        escape(&t.file),
        t.line,
        seconds(record.duration_ms)
    );
    out.push_str("      <properties>\n");
    property(out, "        ", "outcome", record.outcome.key());
    if let Some(f) = &record.figures {
        property(
            out,
            "        ",
            "verdict",
            &f.verdict.to_string().to_lowercase(),
        );
        for (resource, verdict) in f.verdicts() {
            property(
                out,
                "        ",
                resource.name(),
                &verdict.to_string().to_lowercase(),
            );
        }
        for (key, value) in [
            ("allocs_per_iter", format!("{:.2}", f.allocs_per_iter)),
            ("bytes_per_iter", format!("{:.1}", f.bytes_per_iter)),
            (
                "live_bytes_per_iter",
                format!("{:.1}", f.live_bytes_per_iter),
            ),
            ("body_runs", (f.warmup + f.measured + f.traced).to_string()),
        ] {
            property(out, "        ", key, &value.to_lowercase());
        }
        if f.suppressed > 0 {
            property(out, "        ", "suppressed", &f.suppressed.to_string());
        }
    }
    out.push_str("      </properties>\n");
    if record.outcome.is_failure() {
        let message = record.message.as_deref().unwrap_or("failed");
        let kind = match record.outcome {
            Outcome::Leaked => "leak",
            Outcome::OverBudget => "over_budget",
            Outcome::Failed | Outcome::Passed => "test_failure",
        };
        let _ = writeln!(
            out,
            "      <failure type=\"{kind}\" message=\"{}\">{}</failure>",
            escape(message.lines().next().unwrap_or_default()),
            escape(message)
        );
    }
    if let Some(report) = &record.report {
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            escape(&report.summary())
        );
    }
    out.push_str("    </testcase>\n");
}

fn property(out: &mut String, indent: &str, name: &str, value: &str) {
    let _ = writeln!(
        out,
        "{indent}<property name=\"{}\" value=\"{}\"/>",
        escape(name),
        escape(value)
    );
}

/// Escapes text for an XML (or HTML) attribute or element, dropping characters XML 1.0 cannot
/// hold.
///
/// ```
/// assert_eq!(leakcheck::_cargo_leakcheck_support::escape("a < b & \"c\"\u{1b}"), "a &lt; b &amp; &quot;c&quot;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'\u{1b}[31m\n"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;[31m\n"
        );
    }
}
