//! HTML pages with SVG plots: placeholder, being written.

use leakcheck::record::RunReport;

/// The page of one run: each test's series per iteration.
pub fn report_page(_report: &RunReport) -> String {
    String::new()
}
