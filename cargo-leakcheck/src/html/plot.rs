//! Small SVG line plots, written as text: no JavaScript, no fonts or images to load.
//!
//! A [`Plot`] has a title, axis labels and one or more named [`Series`] of `(x, y)` points; a
//! `None` y is a gap and breaks the line. [`Plot::to_svg`] draws axes with tick labels, one
//! `<polyline>` per unbroken stretch of each series, a dot per point (so a single point shows),
//! and optionally a dashed reference line (the baseline) and flags at some x (leaks).
//!
//! ```
//! use cargo_leakcheck::html::plot::{Plot, Series, Unit};
//!
//! let svg = Plot::new("live heap", "iteration", "bytes")
//!     .unit(Unit::Bytes)
//!     .series(Series::new("live bytes", vec![(0.0, Some(1024.0)), (1.0, Some(2048.0))]))
//!     .reference(1024.0, "baseline")
//!     .to_svg();
//! assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
//! ```

use super::escape;
use std::fmt::Write as _;

/// Width of the drawing, in SVG user units (pages scale it with CSS).
pub const WIDTH: f64 = 560.0;
/// Height of the drawing, in SVG user units.
pub const HEIGHT: f64 = 280.0;

/// Line colours, one per series in order (repeating): readable on white, apart for the
/// common kinds of colour blindness.
const COLOURS: [&str; 5] = ["#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df"];
/// Colour of flags (leak markers).
const FLAG_COLOUR: &str = "#d1242f";
/// Series with more points than this get no dots: the line alone reads better.
const MAX_DOTS: usize = 100;

/// How the values of an axis are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// Plain counts: `12`, `2.5`, `1.5k`, `3M`.
    #[default]
    Count,
    /// Bytes, in binary multiples: `512 B`, `12 KiB`, `1.5 MiB`.
    Bytes,
}

/// One named line of a plot.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Series {
    /// Shown in the legend and in the dots' tooltips.
    pub name: String,
    /// `(x, y)` points in x order; a `None` (or non-finite) y is a gap where the line breaks.
    pub points: Vec<(f64, Option<f64>)>,
    /// Drawn against the right-hand axis, for a second unit in the same plot.
    pub right_axis: bool,
}

impl Series {
    /// A series drawn against the left axis.
    pub fn new(name: impl Into<String>, points: Vec<(f64, Option<f64>)>) -> Series {
        Series {
            name: name.into(),
            points,
            right_axis: false,
        }
    }

    /// The same series, drawn against the right axis (see [`Plot::right_axis`]).
    pub fn on_right_axis(mut self) -> Series {
        self.right_axis = true;
        self
    }

    /// The points that can be drawn.
    fn finite(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.points
            .iter()
            .filter_map(|&(x, y)| Some((x, y?)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    }
}

/// A line plot; build it with the methods, render it with [`Plot::to_svg`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Plot {
    title: String,
    x_label: String,
    y_label: String,
    y_unit: Unit,
    right: Option<(String, Unit)>,
    series: Vec<Series>,
    x_labels: Vec<(f64, String)>,
    reference: Option<(f64, String)>,
    flags: Vec<f64>,
    flag_label: String,
}

impl Plot {
    /// An empty plot with its title and axis labels (plain text; escaped when drawn).
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Plot {
        Plot {
            title: title.to_owned(),
            x_label: x_label.to_owned(),
            y_label: y_label.to_owned(),
            ..Plot::default()
        }
    }

    /// How the left axis's values are written (default [`Unit::Count`]).
    pub fn unit(mut self, unit: Unit) -> Plot {
        self.y_unit = unit;
        self
    }

    /// Adds a series.
    pub fn series(mut self, series: Series) -> Plot {
        self.series.push(series);
        self
    }

    /// Gives the right axis (for series made with [`Series::on_right_axis`]) a label and unit.
    pub fn right_axis(mut self, label: &str, unit: Unit) -> Plot {
        self.right = Some((label.to_owned(), unit));
        self
    }

    /// Labels the x axis with these texts at these x instead of numbers (runs by commit).
    pub fn x_labels(mut self, labels: Vec<(f64, String)>) -> Plot {
        self.x_labels = labels;
        self
    }

    /// A dashed horizontal line at `y` (left axis) with a label: the baseline.
    pub fn reference(mut self, y: f64, label: &str) -> Plot {
        self.reference = Some((y, label.to_owned()));
        self
    }

    /// Flags at these x (a red line and triangle each), explained once in the legend by `label`.
    pub fn flags(mut self, xs: Vec<f64>, label: &str) -> Plot {
        self.flags = xs;
        self.flag_label = label.to_owned();
        self
    }

    /// The plot as one `<svg>` element.
    pub fn to_svg(&self) -> String {
        let has_right = self.series.iter().any(|s| s.right_axis);
        let legend: Vec<(String, &str)> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), COLOURS[i % COLOURS.len()]))
            .chain(
                (!self.flags.is_empty()).then(|| (format!("▲ {}", self.flag_label), FLAG_COLOUR)),
            )
            .collect();
        let show_legend = legend.len() > 1;
        let frame = Frame {
            left: 74.0,
            right: WIDTH - if has_right { 74.0 } else { 18.0 },
            top: if show_legend { 50.0 } else { 34.0 },
            bottom: HEIGHT - 46.0,
        };

        let left_values = self.y_values(false);
        let right_values = self.y_values(true);
        let left = Scale::for_values(left_values.iter().copied(), self.y_unit);
        let right_unit = self.right.as_ref().map_or(Unit::Count, |r| r.1);
        let right = Scale::for_values(right_values.iter().copied(), right_unit);
        let xs = self.x_range();

        let mut svg = String::new();
        let title = escape(&self.title);
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
             width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{title}\" \
             font-family=\"system-ui, sans-serif\" font-size=\"11\" fill=\"#1f2328\">\
             <title>{title}</title>\
             <text x=\"{}\" y=\"20\" font-size=\"14\" font-weight=\"600\">{title}</text>",
            frame.left
        );
        if show_legend {
            let mut x = frame.left;
            for (name, colour) in &legend {
                let _ = write!(
                    svg,
                    "<line x1=\"{x}\" y1=\"35\" x2=\"{}\" y2=\"35\" stroke=\"{colour}\" stroke-width=\"3\"/>\
                     <text x=\"{}\" y=\"39\">{}</text>",
                    x + 16.0,
                    x + 20.0,
                    escape(name)
                );
                // Rough text width: legends are short, an estimate keeps the entries apart.
                x += 36.0 + 6.5 * name.chars().count() as f64;
            }
        }

        // Grid and tick labels of the left axis, then the right one.
        for &t in &left.ticks {
            let y = frame.y(left.position(t));
            let _ = write!(
                svg,
                "<line x1=\"{}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eaeef2\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                frame.left,
                frame.right,
                frame.left - 6.0,
                y + 4.0,
                left.label(t)
            );
        }
        if has_right {
            for &t in &right.ticks {
                let y = frame.y(right.position(t));
                let _ = write!(
                    svg,
                    "<text x=\"{}\" y=\"{:.1}\">{}</text>",
                    frame.right + 6.0,
                    y + 4.0,
                    right.label(t)
                );
            }
        }

        // X ticks: the caller's labels (thinned to fit), or round numbers.
        let x_ticks: Vec<(f64, String)> = if self.x_labels.is_empty() {
            xs.ticks()
                .into_iter()
                .map(|t| (t, format_number(t, xs.decimals())))
                .collect()
        } else {
            let fit = ((frame.right - frame.left) / 64.0).max(1.0) as usize;
            let every = self.x_labels.len().div_ceil(fit).max(1);
            self.x_labels.iter().step_by(every).cloned().collect()
        };
        for (t, label) in &x_ticks {
            let x = frame.x(xs.position(*t));
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#59636e\"/>\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                frame.bottom,
                frame.bottom + 4.0,
                frame.bottom + 16.0,
                escape(label)
            );
        }

        // Axes and their labels.
        let _ = write!(
            svg,
            "<path d=\"M{l},{t}V{b}H{r}\" fill=\"none\" stroke=\"#59636e\"/>\
             <text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>\
             <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>",
            (frame.left + frame.right) / 2.0,
            HEIGHT - 8.0,
            escape(&self.x_label),
            (frame.top + frame.bottom) / 2.0,
            escape(&self.y_label),
            l = frame.left,
            t = frame.top,
            b = frame.bottom,
            r = frame.right,
        );
        if let Some((label, _)) = self.right.as_ref().filter(|_| has_right) {
            let _ = write!(
                svg,
                "<path d=\"M{r},{t}V{b}\" fill=\"none\" stroke=\"#59636e\"/>\
                 <text transform=\"translate({:.1} {:.1}) rotate(90)\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>",
                WIDTH - 14.0,
                (frame.top + frame.bottom) / 2.0,
                escape(label),
                r = frame.right,
                t = frame.top,
                b = frame.bottom,
            );
        }

        if let Some((y, label)) = self.reference.as_ref().filter(|(y, _)| y.is_finite()) {
            let py = frame.y(left.position(*y));
            let _ = write!(
                svg,
                "<line x1=\"{}\" y1=\"{py:.1}\" x2=\"{}\" y2=\"{py:.1}\" stroke=\"#59636e\" \
                 stroke-dasharray=\"5 4\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#59636e\">{}</text>",
                frame.left,
                frame.right,
                frame.right - 4.0,
                py - 4.0,
                escape(label)
            );
        }

        for &fx in self.flags.iter().filter(|x| x.is_finite()) {
            let x = frame.x(xs.position(fx));
            let _ = write!(
                svg,
                "<g class=\"flag\"><title>{}</title>\
                 <line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"{FLAG_COLOUR}\" \
                 stroke-dasharray=\"3 3\"/>\
                 <path d=\"M{x:.1},{}l-5,-8h10z\" fill=\"{FLAG_COLOUR}\"/></g>",
                escape(&self.flag_label),
                frame.top,
                frame.bottom,
                frame.top + 8.0,
            );
        }

        for (i, series) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let scale = if series.right_axis { &right } else { &left };
            let point = |(x, y): (f64, f64)| (frame.x(xs.position(x)), frame.y(scale.position(y)));
            for stretch in stretches(&series.points) {
                let points: Vec<String> = stretch
                    .iter()
                    .map(|&p| {
                        let (x, y) = point(p);
                        format!("{x:.1},{y:.1}")
                    })
                    .collect();
                let _ = write!(
                    svg,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" \
                     stroke-linejoin=\"round\"/>",
                    points.join(" ")
                );
            }
            if series.finite().count() <= MAX_DOTS {
                for (x, y) in series.finite() {
                    let (px, py) = point((x, y));
                    let _ = write!(
                        svg,
                        "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"2.5\" fill=\"{colour}\">\
                         <title>{}: {} at {}</title></circle>",
                        escape(&series.name),
                        scale.unit_label(y),
                        self.x_label_at(x, xs.decimals()),
                    );
                }
            }
        }

        if left_values.is_empty() && right_values.is_empty() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#59636e\">no data</text>",
                (frame.left + frame.right) / 2.0,
                (frame.top + frame.bottom) / 2.0
            );
        }
        svg.push_str("</svg>");
        svg
    }

    /// The finite y values of the series on one side.
    fn y_values(&self, right_axis: bool) -> Vec<f64> {
        let mut values: Vec<f64> = self
            .series
            .iter()
            .filter(|s| s.right_axis == right_axis)
            .flat_map(|s| s.finite().map(|(_, y)| y))
            .collect();
        // The reference line must be inside the left axis's range too.
        if let Some((y, _)) = self.reference.as_ref().filter(|(y, _)| y.is_finite()) {
            if !right_axis && !values.is_empty() {
                values.push(*y);
            }
        }
        values
    }

    /// The x range: the data's, the labels' and the flags', with room around lone points.
    fn x_range(&self) -> XRange {
        let xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.x_labels.iter().map(|l| l.0))
            .chain(self.flags.iter().copied())
            .filter(|x| x.is_finite())
            .collect();
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (mut lo, mut hi) = if xs.is_empty() { (0.0, 1.0) } else { (lo, hi) };
        // Categories (labelled x) sit in the middle of their slot; a lone x needs a range.
        if !self.x_labels.is_empty() || hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            lo -= 0.5;
            hi += 0.5;
        }
        XRange {
            lo,
            hi,
            integers: xs.iter().all(|x| x.fract() == 0.0),
        }
    }

    /// How a point's x is named in its tooltip: its label when there are labels.
    fn x_label_at(&self, x: f64, decimals: usize) -> String {
        match self.x_labels.iter().find(|l| l.0 == x) {
            Some((_, label)) => escape(label),
            None => format!("{} {}", escape(&self.x_label), format_number(x, decimals)),
        }
    }
}

/// The unbroken stretches of a series: split at gaps and at non-finite values.
fn stretches(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        match y.filter(|y| y.is_finite() && x.is_finite()) {
            Some(y) => current.push((x, y)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The drawing area inside the margins, in SVG units (y grows downwards).
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    /// The SVG x of a position 0..=1 along the x axis.
    fn x(&self, at: f64) -> f64 {
        self.left + at.clamp(0.0, 1.0) * (self.right - self.left)
    }

    /// The SVG y of a position 0..=1 up the y axis.
    fn y(&self, at: f64) -> f64 {
        self.bottom - at.clamp(0.0, 1.0) * (self.bottom - self.top)
    }
}

/// The x axis: a plain range, ticks at round numbers (whole ones when every x is whole).
struct XRange {
    lo: f64,
    hi: f64,
    integers: bool,
}

impl XRange {
    fn position(&self, x: f64) -> f64 {
        (x - self.lo) / (self.hi - self.lo)
    }

    fn step(&self) -> f64 {
        let step = nice_step((self.hi - self.lo) / 6.0);
        if self.integers {
            step.max(1.0)
        } else {
            step
        }
    }

    fn decimals(&self) -> usize {
        decimals_for(self.step())
    }

    fn ticks(&self) -> Vec<f64> {
        let step = self.step();
        let first = (self.lo / step).ceil();
        let count = ((self.hi / step).floor() - first).clamp(0.0, 20.0) as usize;
        (0..=count).map(|i| (first + i as f64) * step).collect()
    }
}

/// A y axis: its range (widened to whole ticks) and how its values are written.
struct Scale {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    unit: Unit,
    /// The multiple tick labels are written in (1024 for KiB, 1000 for k).
    multiple: f64,
    suffix: &'static str,
    decimals: usize,
}

impl Scale {
    /// The scale that shows `values` with round ticks; a made-up range when there are none.
    fn for_values(values: impl Iterator<Item = f64>, unit: Unit) -> Scale {
        let (mut lo, mut hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        // All equal (or too close to tell apart in f64): centre the value in a range around it.
        if hi - lo <= 1e-9 * hi.abs().max(lo.abs()).max(1.0) {
            let pad = (lo.abs() * 0.1).max(2.0);
            let value = lo;
            lo = if value >= 0.0 {
                (value - pad).max(0.0)
            } else {
                value - pad
            };
            hi = value + pad;
        }
        let (multiple, suffix) = multiple_for(lo.abs().max(hi.abs()), unit);
        let step = nice_step((hi - lo) / multiple / 5.0) * multiple;
        let first = (lo / step).floor();
        let last = (hi / step).ceil();
        let count = (last - first).clamp(1.0, 20.0) as usize;
        Scale {
            lo: first * step,
            hi: (first + count as f64) * step,
            ticks: (0..=count).map(|i| (first + i as f64) * step).collect(),
            unit,
            multiple,
            suffix,
            decimals: decimals_for(step / multiple),
        }
    }

    /// Where `v` is, 0 at the bottom and 1 at the top.
    fn position(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }

    /// A tick label: in the axis's multiple, with the decimals its step needs.
    fn label(&self, v: f64) -> String {
        let text = format_number(v / self.multiple, self.decimals);
        match (self.unit, self.suffix) {
            (Unit::Bytes, suffix) => format!("{text} {suffix}"),
            (Unit::Count, suffix) => format!("{text}{suffix}"),
        }
    }

    /// A value as a tooltip shows it.
    fn unit_label(&self, v: f64) -> String {
        match self.unit {
            Unit::Bytes => format!("{} ({v:.0} B)", format_value(v, Unit::Bytes)),
            Unit::Count => format_value(v, Unit::Count),
        }
    }
}

/// The multiple and suffix values of this size are written in.
fn multiple_for(magnitude: f64, unit: Unit) -> (f64, &'static str) {
    let (base, suffixes): (f64, [&'static str; 7]) = match unit {
        Unit::Bytes => (1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]),
        Unit::Count => (1000.0, ["", "k", "M", "G", "T", "P", "E"]),
    };
    let mut multiple = 1.0;
    let mut index = 0;
    while index + 1 < suffixes.len() && magnitude >= multiple * base {
        multiple *= base;
        index += 1;
    }
    (multiple, suffixes[index])
}

/// A round step (1, 2 or 5 times a power of ten) of at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Decimals needed to tell ticks `step` apart.
fn decimals_for(step: f64) -> usize {
    if step >= 1.0 || !step.is_finite() || step <= 0.0 {
        0
    } else {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    }
}

/// `v` with `decimals` decimals, without a minus sign on zero.
fn format_number(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_owned()
    } else {
        text
    }
}

/// One value for people: `512 B`, `12.0 KiB`, `1.5 MiB` for bytes; `8`, `2.1`, `1.5k` for
/// counts. Tables and tooltips use it.
pub fn format_value(v: f64, unit: Unit) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    let (multiple, suffix) = multiple_for(v.abs(), unit);
    let scaled = v / multiple;
    let text = if multiple == 1.0 && scaled.fract() == 0.0 {
        format_number(scaled, 0)
    } else {
        format_number(scaled, 1)
    };
    match unit {
        Unit::Bytes => format!("{text} {suffix}"),
        Unit::Count => format!("{text}{suffix}"),
    }
}

#[cfg(test)]
mod tests;
