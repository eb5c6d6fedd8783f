//! The counting rules and the parsing of `simulate`, on made-up rows.

use super::*;

fn row(case: &str, leaky: bool, verdict: Option<Verdict>, body_runs: usize) -> Row {
    Row {
        case: case.to_owned(),
        kind: Kind::Maps,
        leaky,
        hard: false,
        trial: 0,
        seed: 0,
        params: Params {
            seed: 0,
            size: 64,
            every: 1,
            count: 1,
            delay_ms: 0,
        },
        verdict,
        resource: None,
        evidence: String::new(),
        figure: String::new(),
        body_runs: verdict.map(|_| body_runs),
        millis: 5,
        error: verdict.is_none().then(|| "crashed".to_owned()),
    }
}

#[test]
fn leak_types_are_families_or_goroutine() {
    assert_eq!(parse_leak_type("thread"), Ok(LeakType(vec![Kind::Threads])));
    assert_eq!(parse_leak_type("fd"), Ok(LeakType(vec![Kind::Fds])));
    assert_eq!(
        parse_leak_type("goroutine"),
        Ok(LeakType(vec![Kind::Threads, Kind::Tasks]))
    );
    let error = parse_leak_type("nope").unwrap_err().to_string();
    for kind in Kind::ALL {
        assert!(error.contains(kind.name()), "{error}");
    }
    assert!(error.contains("goroutine"), "{error}");
}

#[test]
fn suspicious_is_not_detected_and_not_a_false_positive() {
    let rows = [
        row("a", true, Some(Verdict::Leak), 13),
        row("b", true, Some(Verdict::Suspicious), 66),
        row("c", true, Some(Verdict::Leak), 69),
        row("d", false, Some(Verdict::Clean), 10),
        row("e", false, Some(Verdict::Suspicious), 66),
        row("f", false, Some(Verdict::Leak), 69),
        row("g", false, Some(Verdict::Clean), 18),
        row("h", false, None, 0),
    ];
    let s = Summary::of(&rows);
    assert_eq!((s.leaky_runs, s.detected), (3, 2));
    assert_eq!((s.clean_runs, s.false_positives), (4, 1));
    assert_eq!((s.suspicious, s.errors), (2, 1));
    assert!((s.recall() - 200.0 / 3.0).abs() < 1e-9);
    assert_eq!(s.false_positive_rate(), 25.0);
    assert_eq!(s.body_runs, [vec![13, 69, 69], vec![66, 66], vec![10, 18]]);
    assert!(!s.passes(50.0, 30.0), "an error fails the run");
    let s = Summary::of(&rows[..7]);
    assert!(s.passes(50.0, 30.0));
    assert!(!s.passes(70.0, 30.0));
    assert!(!s.passes(50.0, 20.0));
    let outcomes: Vec<&str> = rows.iter().map(Row::outcome).collect();
    assert_eq!(
        outcomes,
        [
            "ok",
            "suspicious",
            "ok",
            "ok",
            "suspicious",
            "false positive",
            "ok",
            "error"
        ]
    );
}

#[test]
fn rates_without_runs_meet_any_target() {
    let s = Summary::of(&[]);
    assert_eq!((s.recall(), s.false_positive_rate()), (100.0, 0.0));
    assert!(s.passes(99.0, 1.0));
}

#[test]
fn medians_of_odd_and_even_counts() {
    assert_eq!(median_max(&[]), None);
    assert_eq!(median_max(&[10]), Some(("10".to_owned(), 10)));
    assert_eq!(median_max(&[69, 10, 13]), Some(("13".to_owned(), 69)));
    assert_eq!(median_max(&[10, 13]), Some(("11.5".to_owned(), 13)));
    assert_eq!(median_max(&[10, 12, 66, 10]), Some(("11".to_owned(), 66)));
}

#[test]
fn rows_serialize_with_the_promised_fields() {
    let json = serde_json::to_value(row("a", true, Some(Verdict::Suspicious), 66)).unwrap();
    assert_eq!(json["case"], "a");
    assert_eq!(json["kind"], "map");
    assert_eq!(json["leaky"], true);
    assert_eq!(json["verdict"], "suspicious");
    for field in ["trial", "seed", "body_runs", "evidence", "millis"] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
    let failed = serde_json::to_value(row("h", false, None, 0)).unwrap();
    assert!(failed["verdict"].is_null());
    assert_eq!(failed["error"], "crashed");
}

#[test]
fn the_table_has_a_line_per_run() {
    let rows = [
        row("map_only_grows", true, Some(Verdict::Leak), 69),
        row("map_entry_removed", false, Some(Verdict::Clean), 10),
    ];
    let text = table(&rows, false);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("case"), "{text}");
    assert!(lines[1].contains("map_only_grows") && lines[1].contains("LEAK"));
    assert!(lines[2].contains("clean") && lines[2].trim_end().ends_with("0.01s"));
    assert!(table(&rows, true).lines().next().unwrap().contains("trial"));
}
