//! JUnit XML of a run, for CI test reports (GitLab, Jenkins, GitHub actions that read JUnit).
//!
//! One `<testsuite>` per test binary (named like nextest names binaries), one `<testcase>` per
//! leak test with `classname` (the binary), `name`, `file`, `line` and `time`, properties with
//! the key figures, `<failure>` with the human report when the test failed, and `<system-out>`
//! with the one-line summary. `docs/junit.xsd` is the schema the output is checked against.

use crate::record::{Outcome, RunReport, TestRecord};
use std::fmt::Write as _;

/// The JUnit XML of `report`.
pub(crate) fn render(report: &RunReport) -> String {
    let mut suites: Vec<(String, Vec<&TestRecord>)> = Vec::new();
    for record in &report.tests {
        let id = record.test.binary_id();
        match suites.iter_mut().find(|(name, _)| *name == id) {
            Some((_, tests)) => tests.push(record),
            None => suites.push((id, vec![record])),
        }
    }
    let failures = |tests: &[&TestRecord]| tests.iter().filter(|t| t.outcome.is_failure()).count();
    let seconds =
        |tests: &[&TestRecord]| tests.iter().map(|t| t.duration_ms).sum::<u64>() as f64 / 1000.0;
    let all: Vec<&TestRecord> = report.tests.iter().collect();

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"leakcheck\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">",
        all.len(),
        failures(&all),
        seconds(&all)
    );
    for (name, tests) in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" \
             time=\"{:.3}\" timestamp=\"{}\">",
            escape(name),
            tests.len(),
            failures(tests),
            seconds(tests),
            escape(report.run.started_at.trim_end_matches('Z'))
        );
        out.push_str("    <properties>\n");
        let run = &report.run;
        for (key, value) in [
            ("leakcheck.run_id", Some(&run.id)),
            ("leakcheck.commit", run.commit.as_ref()),
            ("leakcheck.version", Some(&run.leakcheck_version)),
            ("leakcheck.rustc", run.rustc.as_ref()),
        ] {
            if let Some(value) = value {
                property(&mut out, "      ", key, value);
            }
        }
        out.push_str("    </properties>\n");
        for test in tests {
            testcase(&mut out, name, test);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase(out: &mut String, classname: &str, record: &TestRecord) {
    let t = &record.test;
    let _ = writeln!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.3}\">",
        escape(classname),
        escape(&t.name),
        escape(&t.file),
        t.line,
        record.duration_ms as f64 / 1000.0
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
