//! `report.json` and `junit.xml` grow by appending: adding a record writes that record and a few
//! fixed-width bytes in place, so a save costs the same at the 10,000th test as at the first.
//!
//! Both files end in a fixed tail (`]}` and `</testsuite></testsuites>`); appending overwrites
//! the tail with the new record followed by the tail again, and rewrites any header whose
//! counts changed at the same width. Where each part is ([`Layout`]) is kept in `run.json`,
//! written last: a save that was cut short leaves a file whose length is not the one recorded,
//! and the next save rebuilds both files from the records (the records stay the truth).

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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Layout {
    report: ReportLayout,
    junit: junit::Layout,
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
    let mut json = report_start(report);
    let mut layout = ReportLayout {
        len: json.len() as u64,
        tests: 0,
    };
    for record in &report.tests {
        layout.append(record).apply_to(&mut json);
    }
    let (xml, junit) = junit::document(report);
    let layout = Layout {
        report: layout,
        junit,
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
    crate::json::to_string_pretty(value).expect("records serialize")
}

/// Which file of the two an error was in.
pub(crate) enum Which {
    Report,
    Junit,
}

impl Layout {
    /// True when both files are as long as this layout says: nothing cut a save short since.
    pub(crate) fn matches(&self, report: &Path, junit: &Path) -> bool {
        let len = |path: &Path| std::fs::metadata(path).map(|m| m.len()).ok();
        self.report.len > 0
            && len(report) == Some(self.report.len)
            && len(junit) == Some(self.junit.len)
    }

    /// Adds `record` to both files in place. On an error the file being written is put back as
    /// it was; the layout is then stale, and the caller rebuilds.
    pub(crate) fn append(
        &mut self,
        record: &TestRecord,
        run: &RunInfo,
        report: &Path,
        junit: &Path,
    ) -> Result<(), (Which, io::Error)> {
        let old_report = self.report.len;
        let edit = self.report.append(record);
        edit_in_place(report, old_report, &[edit]).map_err(|e| (Which::Report, e))?;
        let old_junit = self.junit.len;
        let edits = self.junit.append(record, run);
        edit_in_place(junit, old_junit, &edits).map_err(|e| (Which::Junit, e))
    }
}

/// Applies `edits` to the file at `path`, `len` bytes long. If a write fails, the bytes it
/// overwrote are put back (they were on disk already, so that needs no new space) and the file
/// is cut to `len - 1`: both files end in a newline that neither JSON nor XML needs, and a
/// length the layout does not expect makes the next save rebuild both files, with the record
/// of the failed save when that was written.
fn edit_in_place(path: &Path, len: u64, edits: &[Edit]) -> io::Result<()> {
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
