//! Differential tests: our JSON against `serde_json` (a dev-dependency only) on the real record
//! types, arbitrary strings, numbers and text.

use super::{from_slice, from_str, parse, to_string_pretty, to_vec, Value, DEPTH_LIMIT};
use crate::isolate::ChildResult;
use crate::record::{Outcome, RunInfo, RunReport, TestRecord};
use crate::{Check, Config, TestId};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Reports written by a real run (a plain one, and one with async tests and attribution).
const REPORTS: [&str; 2] = [
    include_str!("../../../cargo-leakcheck/tests/data/report.json"),
    include_str!("../../../cargo-leakcheck/tests/data/async-report.json"),
];

/// A record of a real measurement, with a message that needs escaping.
fn real_record() -> TestRecord {
    let mut kept = Vec::new();
    let report = Check::new().run(|| kept.push(vec![0u8; 64]));
    TestRecord::new(
        "run \"1\"\t\u{1}é".to_owned(),
        TestId::of_fn("pkg", "pkg::tests", "leaks", "src/lib.rs", 7),
        &Config::default(),
        Outcome::of(&report),
        Some(format!("{report}")),
        Some(report),
        std::time::Duration::from_millis(12),
    )
}

fn serde_json_value(text: &[u8]) -> serde_json::Value {
    serde_json::from_slice(text).expect("serde_json reads our JSON")
}

/// What we write is, to `serde_json`, what it writes itself; and pretty output is
/// `serde_json`'s pretty output byte for byte.
#[test]
fn records_are_written_as_serde_json_writes_them() {
    for text in REPORTS {
        let report: RunReport = serde_json::from_str(text).unwrap();
        let theirs = serde_json::to_value(&report).unwrap();
        let pretty = to_string_pretty(&report).unwrap();
        assert_eq!(serde_json_value(pretty.as_bytes()), theirs);
        assert_eq!(serde_json_value(&to_vec(&report).unwrap()), theirs);
        assert_eq!(pretty, serde_json::to_string_pretty(&report).unwrap());
    }
    let record = real_record();
    let theirs = serde_json::to_value(&record).unwrap();
    assert_eq!(serde_json_value(&to_vec(&record).unwrap()), theirs);
    let info = RunInfo::starting_now("id".to_owned());
    assert_eq!(
        to_string_pretty(&info).unwrap(),
        serde_json::to_string_pretty(&info).unwrap()
    );
}

/// What `serde_json` writes (and the real files) reads back as the same typed value.
#[test]
fn serde_json_output_reads_back_as_the_same_record() {
    for text in REPORTS {
        let theirs: RunReport = serde_json::from_str(text).unwrap();
        assert_eq!(from_str::<RunReport>(text).unwrap(), theirs);
        let compact = serde_json::to_vec(&theirs).unwrap();
        assert_eq!(from_slice::<RunReport>(&compact).unwrap(), theirs);
    }
    let record = real_record();
    let text = serde_json::to_string_pretty(&record).unwrap();
    assert_eq!(from_str::<TestRecord>(&text).unwrap(), record);
    assert_eq!(
        from_str::<TestRecord>(&to_string_pretty(&record).unwrap()).unwrap(),
        record
    );
}

/// The child's result is an internally tagged enum (`"outcome": "completed"`).
#[test]
fn child_results_round_trip_with_their_tag() {
    let results = [
        ChildResult::Started,
        ChildResult::Completed {
            report: Box::new(real_record().report.unwrap()),
        },
        ChildResult::Panicked {
            message: "boom\n".to_owned(),
            run: 2,
        },
        ChildResult::Failed {
            message: "Err(\"x\")".to_owned(),
            run: 1,
        },
    ];
    for result in &results {
        let ours = to_vec(result).unwrap();
        assert_eq!(
            serde_json_value(&ours),
            serde_json::to_value(result).unwrap()
        );
        let back: ChildResult = from_slice(&ours).unwrap();
        assert_eq!(to_vec(&back).unwrap(), ours);
    }
    assert!(to_vec(&results[0])
        .unwrap()
        .starts_with(br#"{"outcome":"started"}"#));
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum External {
    Unit,
    Newtype(u32),
    Tuple(u8, String),
    Struct { a: Option<f64>, b: Vec<i64> },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Untagged {
    Number(u64),
    Text(String),
    Pair { left: bool, right: Option<()> },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Shapes {
    external: Vec<External>,
    untagged: Vec<Untagged>,
    keyed: BTreeMap<u32, String>,
    tuple: (i8, char, f32),
    #[serde(default)]
    defaulted: Vec<u8>,
    nothing: (),
}

/// Every shape serde has: the same text as `serde_json` (compact and pretty), read back equal.
#[test]
fn serde_shapes_match_serde_json() {
    let shapes = Shapes {
        external: vec![
            External::Unit,
            External::Newtype(7),
            External::Tuple(1, "t".to_owned()),
            External::Struct {
                a: Some(1.5),
                b: vec![-1, i64::MIN],
            },
            External::Struct {
                a: None,
                b: Vec::new(),
            },
        ],
        untagged: vec![
            Untagged::Number(u64::MAX),
            Untagged::Text("x".to_owned()),
            Untagged::Pair {
                left: true,
                right: None,
            },
        ],
        keyed: [(1, "one".to_owned()), (20, String::new())].into(),
        tuple: (-8, 'ß', 0.25),
        defaulted: vec![1, 2],
        nothing: (),
    };
    let compact = to_vec(&shapes).unwrap();
    assert_eq!(compact, serde_json::to_vec(&shapes).unwrap());
    let pretty = to_string_pretty(&shapes).unwrap();
    assert_eq!(pretty, serde_json::to_string_pretty(&shapes).unwrap());
    assert_eq!(from_slice::<Shapes>(&compact).unwrap(), shapes);
    assert_eq!(from_str::<Shapes>(&pretty).unwrap(), shapes);

    // `#[serde(default)]` fills a missing field; a missing required one is named.
    let mut value = serde_json::to_value(&shapes).unwrap();
    value.as_object_mut().unwrap().remove("defaulted");
    let short = serde_json::to_string(&value).unwrap();
    assert_eq!(
        from_str::<Shapes>(&short).unwrap().defaulted,
        Vec::<u8>::new()
    );
    value.as_object_mut().unwrap().remove("keyed");
    let error = from_str::<Shapes>(&serde_json::to_string(&value).unwrap()).unwrap_err();
    assert_eq!(error.to_string(), "missing field `keyed`");
    assert!(!error.is_syntax() && error.line().is_none());
    // A unit variant may also be written `{"Unit": null}`, as serde_json reads it.
    assert_eq!(
        from_str::<External>(r#"{"Unit":null}"#).unwrap(),
        External::Unit
    );
    assert!(from_str::<External>(r#"{"Unit":null,"Newtype":1}"#).is_err());
}

/// `schema_version` is looked up on the tree and printed as JSON in messages.
#[test]
fn values_are_looked_up_and_printed_compactly() {
    let value =
        parse(r#" {"a": [1, -2, 2.5e3, "x\u00e9"], "b": {"c": null}, "a": true} "#).unwrap();
    assert_eq!(
        value.to_string(),
        r#"{"a":[1,-2,2500.0,"xé"],"b":{"c":null},"a":true}"#
    );
    assert_eq!(
        value.get("a"),
        Some(&Value::Bool(true)),
        "the last of a repeated key"
    );
    assert_eq!(
        parse("18446744073709551615").unwrap().as_u64(),
        Some(u64::MAX)
    );
    assert_eq!(parse("-1").unwrap().as_u64(), None);
    assert_eq!(parse("1.0").unwrap().as_u64(), None);
    assert_eq!(parse("\"1\"").unwrap().get("a"), None);
}

/// Nesting up to the limit is read; one more level is an error (as serde_json), and very deep
/// input is refused without overflowing the stack.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [DEPTH_LIMIT - 2, DEPTH_LIMIT - 1, DEPTH_LIMIT, 100_000] {
        for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
            let text = open.repeat(depth) + "0" + &close.repeat(depth);
            let ours = parse(&text);
            let theirs = serde_json::from_str::<serde_json::Value>(&text);
            assert_eq!(ours.is_ok(), theirs.is_ok(), "depth {depth} of {open}");
            assert_eq!(ours.is_ok(), depth < DEPTH_LIMIT);
            if let Err(e) = ours {
                assert!(e
                    .to_string()
                    .starts_with("recursion limit exceeded at line 1 column"));
            }
        }
    }
}

/// Text made of JSON's own characters, most of it invalid.
fn jsonish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "\"",
        ",",
        ":",
        " ",
        "\n",
        "0",
        "1",
        "-",
        ".",
        "e",
        "+",
        "true",
        "null",
        "fals",
        "\\",
        "\\u",
        "d83d",
        "de00",
        "a",
        "é",
        "\u{1}",
        "1e999",
        "18446744073709551616",
        "-9223372036854775809",
    ]);
    prop::collection::vec(pieces, 0..30).prop_map(|pieces| pieces.concat())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any string is escaped exactly as serde_json escapes it, and reads back as itself.
    #[test]
    fn strings_round_trip(chars in prop::collection::vec(any::<char>(), 0..40)) {
        let s: String = chars.into_iter().collect();
        let ours = to_vec(&s).unwrap();
        prop_assert_eq!(&ours, &serde_json::to_vec(&s).unwrap());
        prop_assert_eq!(&from_slice::<String>(&ours).unwrap(), &s);
        let theirs = serde_json::to_string(&serde_json::Value::String(s.clone())).unwrap();
        prop_assert_eq!(from_str::<String>(&theirs).unwrap(), s);
    }

    /// Floats come back bit for bit, also from serde_json's text; non-finite ones are `null`.
    #[test]
    fn floats_round_trip(f in any::<f64>(), bits in any::<u64>()) {
        for f in [f, f64::from_bits(bits)] {
            let ours = to_vec(&f).unwrap();
            if f.is_finite() {
                prop_assert_eq!(from_slice::<f64>(&ours).unwrap().to_bits(), f.to_bits());
                // (Not compared with serde_json's reading: without its `float_roundtrip`
                // feature it may be a unit in the last place off, even on its own output.)
                let back: f64 = from_slice(&serde_json::to_vec(&f).unwrap()).unwrap();
                prop_assert_eq!(back.to_bits(), f.to_bits());
            } else {
                prop_assert_eq!(&ours, b"null");
            }
        }
    }

    /// Integers are written as serde_json writes them and read back.
    #[test]
    fn integers_round_trip(u in any::<u64>(), i in any::<i64>()) {
        prop_assert_eq!(to_vec(&u).unwrap(), serde_json::to_vec(&u).unwrap());
        prop_assert_eq!(to_vec(&i).unwrap(), serde_json::to_vec(&i).unwrap());
        prop_assert_eq!(from_slice::<u64>(&to_vec(&u).unwrap()).unwrap(), u);
        prop_assert_eq!(from_slice::<i64>(&to_vec(&i).unwrap()).unwrap(), i);
    }

    /// Arbitrary bytes never panic, and a syntax error names its line and column.
    #[test]
    fn arbitrary_bytes_are_refused_with_a_position(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = from_slice::<serde::de::IgnoredAny>(&bytes) {
            prop_assert!(e.is_syntax(), "{}", e);
            let (line, column) = (e.line().unwrap(), e.column().unwrap());
            let suffix = format!(" at line {line} column {column}");
            prop_assert!(e.to_string().ends_with(&suffix), "{}", e);
        }
    }

    /// On JSON-like text, we accept exactly what serde_json accepts, read the same values, and
    /// put syntax errors at the same line and column.
    #[test]
    fn text_is_accepted_as_serde_json_accepts_it(text in jsonish()) {
        let ours = parse(&text);
        let theirs = serde_json::from_str::<serde_json::Value>(&text);
        match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => {
                prop_assert_eq!(&serde_json::to_value(ours).unwrap(), theirs);
            }
            (Err(ours), Err(theirs)) => {
                prop_assert_eq!(ours.line(), Some(theirs.line()), "{} / {}", ours, theirs);
                // serde_json stops inside an overlong exponent at a point of its own.
                if !theirs.to_string().starts_with("number out of range") {
                    prop_assert_eq!(ours.column(), Some(theirs.column()), "{} / {}", ours, theirs);
                }
            }
            _ => prop_assert!(false, "{:?} but serde_json: {:?}", ours, theirs),
        }
    }
}

/// Not a test: how long writing and reading the async data report takes, ours against
/// serde_json. `cargo test -p leakcheck --lib --release -- --ignored --nocapture codec_cost`.
#[test]
#[ignore = "a measurement"]
fn codec_cost() {
    use std::hint::black_box;
    use std::time::Instant;
    let report: RunReport = serde_json::from_str(REPORTS[1]).unwrap();
    let rounds = 2000;
    let time = |label: &str, f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..rounds {
            f();
        }
        println!("{label}: {:?} per round", start.elapsed() / rounds);
    };
    time("write ours      ", &|| {
        drop(black_box(to_string_pretty(&report).unwrap()))
    });
    time("write serde_json", &|| {
        drop(black_box(serde_json::to_string_pretty(&report).unwrap()))
    });
    time("read ours       ", &|| {
        drop(black_box(from_str::<RunReport>(REPORTS[1]).unwrap()))
    });
    time("parse ours      ", &|| {
        drop(black_box(parse(REPORTS[1]).unwrap()))
    });
    time("parse serde_json", &|| {
        drop(black_box(
            serde_json::from_str::<serde_json::Value>(REPORTS[1]).unwrap(),
        ))
    });
    time("read serde_json ", &|| {
        drop(black_box(
            serde_json::from_str::<RunReport>(REPORTS[1]).unwrap(),
        ))
    });
}
