//! The plots' scales, ticks, labels and SVG output.

use super::*;

/// The numbers of every `name="…"` attribute of the elements called `element`.
fn attributes(svg: &str, element: &str, name: &str) -> Vec<String> {
    svg.split(&format!("<{element} "))
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find(&format!("{name}=\""))? + name.len() + 2;
            let len = rest[start..].find('"')?;
            Some(rest[start..start + len].to_owned())
        })
        .collect()
}

/// Every vertex of every polyline, and every dot.
fn drawn_points(svg: &str) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = attributes(svg, "polyline", "points")
        .iter()
        .flat_map(|list| {
            list.split(' ')
                .map(|p| {
                    let (x, y) = p.split_once(',').expect("x,y");
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let cx = attributes(svg, "circle", "cx");
    let cy = attributes(svg, "circle", "cy");
    assert_eq!(cx.len(), cy.len());
    points.extend(
        cx.iter()
            .zip(&cy)
            .map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap())),
    );
    points
}

fn assert_inside_the_axes(svg: &str) {
    let points = drawn_points(svg);
    assert!(!points.is_empty(), "something is drawn:\n{svg}");
    for (x, y) in points {
        assert!((74.0..=WIDTH - 18.0).contains(&x), "x {x} inside:\n{svg}");
        assert!((34.0..=HEIGHT - 46.0).contains(&y), "y {y} inside:\n{svg}");
    }
}

fn line(points: &[(f64, f64)]) -> Series {
    Series::new("s", points.iter().map(|&(x, y)| (x, Some(y))).collect())
}

#[test]
fn points_map_inside_the_view_box_in_order() {
    let svg = Plot::new("t", "x", "y")
        .series(line(&[(0.0, 10.0), (1.0, 20.0), (2.0, 15.0), (3.0, 40.0)]))
        .to_svg();
    assert_eq!(svg.matches("<polyline").count(), 1);
    assert_inside_the_axes(&svg);
    let points = drawn_points(&svg);
    // Larger x to the right, larger y higher up (smaller SVG y).
    assert!(points[0].0 < points[1].0 && points[1].0 < points[3].0);
    assert!(points[3].1 < points[1].1 && points[1].1 < points[0].1);
}

#[test]
fn a_single_point_is_drawn_inside() {
    let svg = Plot::new("t", "x", "y")
        .series(line(&[(0.0, 25028.0)]))
        .to_svg();
    assert_eq!(svg.matches("<polyline").count(), 1);
    assert_eq!(svg.matches("<circle").count(), 1, "a dot makes it visible");
    assert_inside_the_axes(&svg);
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
}

#[test]
fn all_equal_values_sit_mid_range_with_distinct_ticks() {
    let svg = Plot::new("t", "iteration", "threads")
        .series(line(&[(0.0, 2.0), (1.0, 2.0), (2.0, 2.0)]))
        .to_svg();
    assert_inside_the_axes(&svg);
    let ys: Vec<f64> = drawn_points(&svg).iter().map(|p| p.1).collect();
    let middle = (34.0 + HEIGHT - 46.0) / 2.0;
    assert!(ys.iter().all(|&y| (y - middle).abs() < 1.0), "{ys:?}");
    let scale = Scale::for_values([2.0, 2.0].into_iter(), Unit::Count);
    let labels: Vec<String> = scale.ticks.iter().map(|&t| scale.label(t)).collect();
    assert_eq!(labels, ["0", "1", "2", "3", "4"]);
}

#[test]
fn empty_input_draws_axes_and_says_no_data() {
    for svg in [
        Plot::new("t", "x", "y").to_svg(),
        Plot::new("t", "x", "y")
            .series(Series::new("s", vec![(0.0, None), (1.0, None)]))
            .to_svg(),
        Plot::new("t", "x", "y")
            .series(Series::new("s", vec![]))
            .to_svg(),
    ] {
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("no data"), "{svg}");
        assert!(!svg.contains("<polyline"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}

#[test]
fn gaps_break_the_line() {
    let series = Series::new(
        "s",
        vec![
            (0.0, Some(1.0)),
            (1.0, Some(2.0)),
            (2.0, None),
            (3.0, Some(f64::NAN)),
            (4.0, Some(3.0)),
        ],
    );
    let svg = Plot::new("t", "x", "y").series(series).to_svg();
    assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
    assert_eq!(svg.matches("<circle").count(), 3);
    assert_inside_the_axes(&svg);
}

#[test]
fn huge_values_get_binary_units() {
    let huge = u64::MAX as f64;
    let svg = Plot::new("t", "x", "bytes")
        .unit(Unit::Bytes)
        .series(line(&[(0.0, huge * 0.5), (1.0, huge)]))
        .to_svg();
    assert_inside_the_axes(&svg);
    assert!(svg.contains(" EiB</text>"), "{svg}");
    assert!(!svg.contains("e18") && !svg.contains("NaN"), "{svg}");

    let svg = Plot::new("t", "x", "bytes")
        .unit(Unit::Bytes)
        .series(line(&[(0.0, 25_020.0), (1.0, 29_116.0)]))
        .to_svg();
    assert!(
        svg.contains(">24 KiB</text>") && svg.contains(">29 KiB</text>"),
        "{svg}"
    );

    assert_eq!(format_value(1.5 * 1024.0 * 1024.0, Unit::Bytes), "1.5 MiB");
    assert_eq!(format_value(12.0 * 1024.0, Unit::Bytes), "12.0 KiB");
    assert_eq!(format_value(95.0, Unit::Bytes), "95 B");
    assert_eq!(format_value(2.125, Unit::Count), "2.1");
    assert_eq!(format_value(1500.0, Unit::Count), "1.5k");
    assert_eq!(format_value(huge, Unit::Bytes), "16.0 EiB");
}

#[test]
fn text_is_escaped() {
    let svg = Plot::new("<b>&\"title\"", "x<", "y>")
        .series(Series::new("a<script>", vec![(0.0, Some(1.0))]))
        .series(Series::new("b", vec![(0.0, Some(2.0))]))
        .x_labels(vec![(0.0, "<i>".to_owned())])
        .flags(vec![0.0], "leak & more")
        .to_svg();
    for raw in ["<b>", "<script>", "<i>", "x<", "y>", "leak & more"] {
        assert!(!svg.contains(raw), "{raw} escaped:\n{svg}");
    }
    assert!(svg.contains("&lt;b&gt;&amp;&quot;title&quot;"));
    assert!(svg.contains("a&lt;script&gt;"));
    assert!(svg.contains("leak &amp; more"));
}

#[test]
fn labelled_x_reference_and_flags_are_drawn() {
    let svg = Plot::new("t", "run", "bytes/iter")
        .unit(Unit::Bytes)
        .series(line(&[(0.0, 100.0), (1.0, 200.0), (2.0, 300.0)]))
        .series(
            Series::new(
                "allocs",
                vec![(0.0, Some(1.0)), (1.0, None), (2.0, Some(3.0))],
            )
            .on_right_axis(),
        )
        .right_axis("allocs/iter", Unit::Count)
        .x_labels(vec![
            (0.0, "aaaaaaa".to_owned()),
            (1.0, "bbbbbbb".to_owned()),
            (2.0, "ccccccc".to_owned()),
        ])
        .reference(100.0, "baseline")
        .flags(vec![2.0], "leaked")
        .to_svg();
    for text in [
        "aaaaaaa",
        "bbbbbbb",
        "ccccccc",
        "baseline",
        "▲ leaked",
        "allocs/iter",
    ] {
        assert!(svg.contains(text), "{text}:\n{svg}");
    }
    assert_eq!(svg.matches("<polyline").count(), 3);
    assert_eq!(svg.matches("class=\"flag\"").count(), 1);
}
