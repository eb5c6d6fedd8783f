//! The renderings of [`TopReport`] and [`DiffReport`]: aligned text for a terminal, markdown
//! for a PR comment or an incident note, JSON for scripts. Pure functions of the report.

use super::{DiffReport, SiteInfo, TopReport};
use crate::diff::render::{code, columns, md_escape, md_table};
use serde::Serialize;
use std::fmt::Write as _;

/// `value` in `unit`: bytes in binary units with one decimal (`7.0 MiB`), other units as
/// whole numbers (with the unit unless it is `count`).
pub fn amount(value: i64, unit: &str) -> String {
    if unit == "bytes" {
        let v = value.unsigned_abs() as f64;
        let sign = if value < 0 { "-" } else { "" };
        return match ["B", "KiB", "MiB", "GiB", "TiB"]
            .iter()
            .enumerate()
            .rev()
            .find(|(i, _)| v >= 1024f64.powi(*i as i32))
        {
            Some((0, _)) | None => format!("{value} B"),
            Some((i, name)) => format!("{sign}{:.1} {name}", v / 1024f64.powi(i as i32)),
        };
    }
    match unit {
        "count" | "" => value.to_string(),
        _ => format!("{value} {unit}"),
    }
}

/// A change: `+7.0 MiB`, `-3 B`, `0`.
fn signed(value: i64, unit: &str) -> String {
    match value {
        0 => "0".to_owned(),
        v if v > 0 => format!("+{}", amount(v, unit)),
        v => amount(v, unit),
    }
}

fn percent(part: i64, total: i64) -> String {
    if total == 0 {
        return "-".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / total as f64)
}

/// `function (file:line)`.
fn site(s: &SiteInfo) -> String {
    match (&s.file, s.line) {
        (Some(file), Some(line)) => format!("{} ({file}:{line})", s.function),
        (Some(file), None) => format!("{} ({file})", s.function),
        _ => s.function.clone(),
    }
}

fn more(shown: usize, all: usize) -> Option<String> {
    (all > shown).then(|| {
        let n = all - shown;
        format!(
            "{n} more site{} (--limit 0 shows all)",
            if n == 1 { "" } else { "s" }
        )
    })
}

/// The text rendering of `profile top`.
pub fn top_text(r: &TopReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "leakcheck profile top: {}", r.file);
    let _ = writeln!(
        out,
        "  {}: {} in {} site{}",
        r.sample_type,
        amount(r.total, &r.unit),
        r.site_count,
        if r.site_count == 1 { "" } else { "s" }
    );
    if r.sites.is_empty() {
        out.push_str("\nThe profile has no samples.\n");
        return out;
    }
    let cells: Vec<[String; 7]> = r
        .sites
        .iter()
        .map(|row| {
            [
                amount(row.flat, &r.unit),
                percent(row.flat, r.total),
                amount(row.cum, &r.unit),
                percent(row.cum, r.total),
                row.samples.to_string(),
                row.site.fingerprint.clone(),
                site(&row.site),
            ]
        })
        .collect();
    let header = [
        "flat",
        "flat%",
        "cum",
        "cum%",
        "samples",
        "fingerprint",
        "site",
    ];
    out.push('\n');
    for line in columns(
        &header.map(str::to_owned),
        &cells,
        &[true, true, true, true, true, false, false],
    ) {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(more) = more(r.sites.len(), r.site_count) {
        let _ = writeln!(out, "  … {more}");
    }
    out
}

/// The markdown rendering of `profile top`.
pub fn top_markdown(r: &TopReport) -> String {
    let mut out = format!(
        "## leakcheck profile top: {}\n\n{} `{}` in {} sites.\n\n",
        code(&r.file),
        amount(r.total, &r.unit),
        r.sample_type,
        r.site_count
    );
    let rows: Vec<Vec<String>> = r
        .sites
        .iter()
        .map(|row| {
            vec![
                code(&site(&row.site)),
                amount(row.flat, &r.unit),
                percent(row.flat, r.total),
                amount(row.cum, &r.unit),
                row.samples.to_string(),
                code(&row.site.fingerprint),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&md_table(
            &["site", "flat", "flat%", "cum", "samples", "fingerprint"],
            &[false, true, true, true, true, false],
            &rows,
        ));
    }
    if let Some(more) = more(r.sites.len(), r.site_count) {
        let _ = writeln!(out, "\n{}", md_escape(&more));
    }
    out
}

/// The verdict line of a diff: `inuse_space grew by 8.0 MiB (1.0 MiB → 9.0 MiB)`, with the
/// rate per minute when both profiles carry their time.
fn verdict(r: &DiffReport) -> String {
    let change = r.head_total - r.base_total;
    let how = match change {
        0 => "did not change".to_owned(),
        c if c > 0 => format!("grew by {}", amount(c, &r.unit)),
        c => format!("shrank by {}", amount(-c, &r.unit)),
    };
    let mut text = format!(
        "{} {how} ({} → {})",
        r.sample_type,
        amount(r.base_total, &r.unit),
        amount(r.head_total, &r.unit)
    );
    if let Some(seconds) = r.seconds_between.filter(|&s| s > 0.0) {
        let per_minute = (change as f64 * 60.0 / seconds).round() as i64;
        let _ = write!(
            text,
            " in {seconds:.0} s, {} per minute",
            signed(per_minute, &r.unit)
        );
    }
    text
}

fn diff_cells(r: &DiffReport) -> Vec<[String; 6]> {
    r.sites
        .iter()
        .map(|row| {
            [
                signed(row.delta, &r.unit),
                amount(row.base, &r.unit),
                amount(row.head, &r.unit),
                format!("{} → {}", row.base_samples, row.head_samples),
                row.site.fingerprint.clone(),
                site(&row.site),
            ]
        })
        .collect()
}

/// The text rendering of `profile diff`.
pub fn diff_text(r: &DiffReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "leakcheck profile diff: {}", verdict(r));
    let _ = writeln!(out, "  base  {}", r.base);
    let _ = writeln!(out, "  head  {}", r.head);
    if r.sites.is_empty() {
        out.push_str("\nNo call site changed.\n");
        return out;
    }
    let header = ["change", "base", "head", "samples", "fingerprint", "site"];
    out.push('\n');
    for line in columns(
        &header.map(str::to_owned),
        &diff_cells(r),
        &[true, true, true, true, false, false],
    ) {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(more) = more(r.sites.len(), r.site_count) {
        let _ = writeln!(out, "  … {more}");
    }
    out
}

/// The markdown rendering of `profile diff`.
pub fn diff_markdown(r: &DiffReport) -> String {
    let mut out = format!(
        "## leakcheck profile diff: {}\n\nBase {} → head {}.\n\n",
        md_escape(&verdict(r)),
        code(&r.base),
        code(&r.head)
    );
    if r.sites.is_empty() {
        out.push_str("No call site changed.\n");
        return out;
    }
    let rows: Vec<Vec<String>> = diff_cells(r)
        .into_iter()
        .map(|[change, base, head, samples, fingerprint, site]| {
            vec![code(&site), change, base, head, samples, code(&fingerprint)]
        })
        .collect();
    out.push_str(&md_table(
        &["site", "change", "base", "head", "samples", "fingerprint"],
        &[false, true, true, true, true, false],
        &rows,
    ));
    if let Some(more) = more(r.sites.len(), r.site_count) {
        let _ = writeln!(out, "\n{}", md_escape(&more));
    }
    out
}

/// The JSON rendering: the report itself, pretty-printed, with a final newline.
pub fn json(report: &impl Serialize) -> String {
    // The reports hold strings, integers, options and lists only: serializing cannot fail.
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_use_binary_units_for_bytes_and_whole_numbers_otherwise() {
        assert_eq!(amount(0, "bytes"), "0 B");
        assert_eq!(amount(1023, "bytes"), "1023 B");
        assert_eq!(amount(1536, "bytes"), "1.5 KiB");
        assert_eq!(amount(7 << 20, "bytes"), "7.0 MiB");
        assert_eq!(amount(-(3 << 30), "bytes"), "-3.0 GiB");
        assert_eq!(amount(-5, "bytes"), "-5 B");
        assert_eq!(amount(42, "count"), "42");
        assert_eq!(amount(3, "requests"), "3 requests");
        assert_eq!(signed(2048, "bytes"), "+2.0 KiB");
        assert_eq!(signed(-2048, "bytes"), "-2.0 KiB");
        assert_eq!(signed(0, "bytes"), "0");
    }
}
