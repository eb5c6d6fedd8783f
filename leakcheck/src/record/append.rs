//! `report.json` and `junit.xml` grow by appending: adding a record writes that record and a few
//! fixed-width bytes in place, so a save costs the same at the 10,000th test as at the first.
//!
//! Both files end in a fixed tail (`]}` and `</testsuite></testsuites>`); appending overwrites
//! the tail with the new record followed by the tail again, and rewrites any header whose
//! counts changed at the same width. Where each part is ([`Layout`]) is kept in `run.json`,
//! written last: a save that was cut short leaves a file whose length is not the one recorded,
//! and the next save rebuilds both files from the records (the records stay the truth).
//!
//! Provisional records (a test running in place saves one first, in case its process dies) come
//! after the final ones: the files are the final records, then the provisional ones. A save
//! rewrites only that end (from where the next final record goes), so replacing a provisional
//! record with the final one costs the records still provisional, not the run's.

use super::{RunInfo, RunReport, TestRecord, SCHEMA_VERSION};
use crate::junit;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

/// A change to a file: `bytes` written at `at`, over what was there, perhaps past the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Edit {
    at: u64,
    bytes: String,
}

impl Edit {
    pub(crate) fn new(at: u64, bytes: String) -> Edit {
        Edit { at, bytes }
    }

    /// Where the edit ends.
    pub(crate) fn end(&self) -> u64 {
        self.at + self.bytes.len() as u64
    }

    /// Applies the edit to the text of the file.
    pub(crate) fn apply_to(&self, text: &mut String) {
        let at = usize::try_from(self.at).expect("in memory");
        let end = (at + self.bytes.len()).min(text.len());
        text.replace_range(at..end, &self.bytes);
    }
}

/// Where the growing parts of `report.json` and `junit.xml` are, and how long each file is.
///
/// `report` and `junit` describe the files holding the final records only; the provisional
/// records shown after them make the files `shown` long.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Layout {
    report: ReportLayout,
    junit: junit::Layout,
    /// The lengths of the files with the provisional records; `None` when there are none (and in
    /// a `run.json` written before there were provisional records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shown: Option<Lengths>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Lengths {
    report: u64,
    junit: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ReportLayout {
    len: u64,
    tests: u64,
}

/// What follows the last record in `report.json`.
const REPORT_END: &str = "\n  ]\n}\n";

/// The text of `report.json` and `junit.xml` holding `report`, and where their parts are.
pub(crate) fn render(report: &RunReport) -> (String, String, Layout) {
    render_with_pending(report, &[])
}

/// [`render`], with the provisional records `pending` after the final ones of `report`.
pub(crate) fn render_with_pending(
    report: &RunReport,
    pending: &[TestRecord],
) -> (String, String, Layout) {
    let mut json = report_start(report);
    let mut layout = ReportLayout {
        len: json.len() as u64,
        tests: 0,
    };
    for record in &report.tests {
        layout.append(record).apply_to(&mut json);
    }
    let (mut xml, junit) = junit::document(report);
    let (mut shown_report, mut shown_junit) = (layout.clone(), junit.clone());
    for record in pending {
        shown_report.append(record).apply_to(&mut json);
        for edit in shown_junit.append(record, &report.run) {
            edit.apply_to(&mut xml);
        }
    }
    let layout = Layout {
        report: layout,
        junit,
        shown: (!pending.is_empty()).then_some(Lengths {
            report: shown_report.len,
            junit: shown_junit.len,
        }),
    };
    (json, xml, layout)
}

/// `report.json` up to its `tests`, which come last so that records can be appended.
fn report_start(report: &RunReport) -> String {
    let indent = |text: String| text.replace('\n', "\n  ");
    let mut text = format!(
        "{{\n  \"schema_version\": {SCHEMA_VERSION},\n  \"run\": {},\n",
        indent(to_json(&report.run))
    );
    if !report.unreadable.is_empty() {
        text.push_str(&format!(
            "  \"unreadable\": {},\n",
            indent(to_json(&report.unreadable))
        ));
    }
    text.push_str("  \"tests\": [");
    text.push_str(REPORT_END);
    text
}

impl ReportLayout {
    /// Where the next record goes: over the tail.
    fn append_at(&self) -> u64 {
        self.len - REPORT_END.len() as u64
    }

    fn append(&mut self, record: &TestRecord) -> Edit {
        let comma = if self.tests == 0 { "" } else { "," };
        let at = self.len - REPORT_END.len() as u64;
        let text = format!(
            "{comma}\n    {}{REPORT_END}",
            to_json(record).replace('\n', "\n    ")
        );
        let edit = Edit::new(at, text);
        self.len = edit.end();
        self.tests += 1;
        edit
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    super::store::work::rendered();
    crate::json::to_string_pretty(value).expect("records serialize")
}

/// Which file of the two an error was in.
pub(crate) enum Which {
    Report,
    Junit,
}

impl Layout {
    /// The lengths of both files, provisional records included.
    fn lengths(&self) -> Lengths {
        self.shown.unwrap_or(Lengths {
            report: self.report.len,
            junit: self.junit.len,
        })
    }

    /// True when both files are as long as this layout says: nothing cut a save short since.
    pub(crate) fn matches(&self, report: &Path, junit: &Path) -> bool {
        let len = |path: &Path| std::fs::metadata(path).map(|m| m.len()).ok();
        let lengths = self.lengths();
        self.report.len > 0
            && len(report) == Some(lengths.report)
            && len(junit) == Some(lengths.junit)
    }

    /// Adds the final records `commit` to both files in place, after the final records they
    /// hold, and shows the provisional records `pending` after them (in place of the ones shown
    /// before). Only the files' ends are rewritten, from where the next final record goes: the
    /// cost is that of `commit` and `pending`, not of the records the files hold. On an error
    /// the file being written is put back as it was; the layout is then stale, and the caller
    /// rebuilds.
    pub(crate) fn update(
        &mut self,
        commit: &[&TestRecord],
        pending: &[&TestRecord],
        run: &RunInfo,
        report: &Path,
        junit: &Path,
    ) -> Result<(), (Which, io::Error)> {
        let old = self.lengths();

        let mut region = Region::new(self.report.append_at(), REPORT_END);
        let mut committed = self.report.clone();
        for record in commit {
            region.apply(committed.append(record));
        }
        let mut shown = committed.clone();
        for record in pending {
            region.apply(shown.append(record));
        }
        region
            .write(report, old.report)
            .map_err(|e| (Which::Report, e))?;
        let report_len = shown.len;

        let (at, tail) = self.junit.end();
        let mut region = Region::new(at, tail);
        // Provisional records may have rewritten the headers: they start from the final
        // records' counts again.
        for edit in self.junit.headers(run) {
            region.apply(edit);
        }
        let mut junit_committed = self.junit.clone();
        for record in commit {
            for edit in junit_committed.append(record, run) {
                region.apply(edit);
            }
        }
        let mut junit_shown = junit_committed.clone();
        for record in pending {
            for edit in junit_shown.append(record, run) {
                region.apply(edit);
            }
        }
        region
            .write(junit, old.junit)
            .map_err(|e| (Which::Junit, e))?;

        *self = Layout {
            report: committed,
            junit: junit_committed,
            shown: (!pending.is_empty()).then_some(Lengths {
                report: report_len,
                junit: junit_shown.len,
            }),
        };
        Ok(())
    }
}

/// The new end of a file from `base` on, and the fixed-width edits before it (headers).
struct Region {
    base: u64,
    text: String,
    before: Vec<Edit>,
}

impl Region {
    /// The end of a file from `base` on, `tail` (the fixed end of the final records, which
    /// provisional records may have overwritten on disk).
    fn new(base: u64, tail: &str) -> Region {
        Region {
            base,
            text: tail.to_owned(),
            before: Vec::new(),
        }
    }

    /// Applies an edit of the file: to the new end if it is there, else in place before it.
    fn apply(&mut self, edit: Edit) {
        if edit.at >= self.base {
            Edit::new(edit.at - self.base, edit.bytes).apply_to(&mut self.text);
        } else {
            debug_assert!(edit.end() <= self.base, "an edit across the base");
            self.before.push(edit);
        }
    }

    /// Writes the new end and the edits before it into the file at `path`, `len` bytes long.
    fn write(self, path: &Path, len: u64) -> io::Result<()> {
        let new_len = self.base + self.text.len() as u64;
        let mut edits = Vec::with_capacity(self.before.len() + 1);
        edits.push(Edit::new(self.base, self.text));
        edits.extend(self.before);
        edit_in_place(path, len, &edits, new_len)
    }
}

/// Applies `edits` to the file at `path`, `len` bytes long. If a write fails, the bytes it
/// overwrote are put back (they were on disk already, so that needs no new space) and the file
/// is cut to `len - 1`: both files end in a newline that neither JSON nor XML needs, and a
/// length the layout does not expect makes the next save rebuild both files, with the record
/// of the failed save when that was written. Once all edits are written the file is cut to
/// `new_len` if it was longer (a provisional record replaced by a shorter one).
fn edit_in_place(path: &Path, len: u64, edits: &[Edit], new_len: u64) -> io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut undo: Vec<(u64, Vec<u8>)> = Vec::with_capacity(edits.len());
    for edit in edits {
        let result = old_bytes(&mut file, edit, len).and_then(|old| {
            undo.push((edit.at, old));
            file.seek(SeekFrom::Start(edit.at))?;
            super::store::write_all(&mut file, edit.bytes.as_bytes())
        });
        if let Err(e) = result {
            for (at, bytes) in undo.iter().rev() {
                let _ = file
                    .seek(SeekFrom::Start(*at))
                    .and_then(|_| file.write_all(bytes));
            }
            let _ = file.set_len(len.saturating_sub(1));
            return Err(e);
        }
    }
    if new_len < len {
        file.set_len(new_len)?;
    }
    Ok(())
}

/// The bytes of the file that `edit` will overwrite (up to the end of the file).
fn old_bytes(file: &mut File, edit: &Edit, len: u64) -> io::Result<Vec<u8>> {
    let end = edit.end().min(len);
    let mut old = vec![0; usize::try_from(end.saturating_sub(edit.at)).unwrap_or(0)];
    file.seek(SeekFrom::Start(edit.at))?;
    file.read_exact(&mut old)?;
    Ok(old)
}
