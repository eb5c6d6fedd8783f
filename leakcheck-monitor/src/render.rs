//! Renderers: the monitor's state as Prometheus text, as `/api/status` JSON and as
//! `/api/samples` JSON.
//!
//! They are plain functions of a [`Status`] and the samples, so an application that already runs
//! an HTTP server (axum, actix, hyper…) can mount them on its own routes instead of starting
//! [`serve::Server`](super::serve::Server):
//!
//! ```
//! use leakcheck_monitor::{render, Status};
//!
//! let status = Status::default();
//! let body = render::metrics(&status, None);
//! assert!(body.contains("# TYPE leakcheck_leak_suspected gauge"));
//! // serve `body` with `Content-Type: render::METRICS_CONTENT_TYPE`
//! ```

use super::{Resource, ResourceStatus, Sample, State, Status};
use std::fmt::Write as _;

/// The `Content-Type` of [`metrics`]: Prometheus' classic text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `Content-Type` of [`status_json`] and [`samples_json`].
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Every metric family [`metrics`] can emit, in the order it emits them. A family without a
/// value (the heap of another process, a resource without a known limit) is left out of the
/// text rather than shown as a made-up number.
pub const METRIC_NAMES: &[&str] = &[
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_threads",
    "leakcheck_heap_live_bytes",
    "leakcheck_heap_live_blocks",
    "leakcheck_allocations_total",
    "leakcheck_resource_state",
    "leakcheck_resource_limit",
    "leakcheck_growth_per_second",
    "leakcheck_seconds_to_limit",
    "leakcheck_leak_suspected",
    "leakcheck_samples_total",
    "leakcheck_sample_interval_seconds",
];

/// The number [`State`] is exported as in `leakcheck_resource_state`: ordered by severity so
/// that `>= 1` means "suspected or worse" in a query.
pub fn state_value(state: State) -> u8 {
    match state {
        State::Ok => 0,
        State::Suspected => 1,
        State::Leaking => 2,
    }
}

/// The Prometheus text (classic format, passes `promtool check metrics`): standard `process_*`
/// gauges from `latest` (the newest sample), our own `leakcheck_*` families from `latest` and
/// `status`.
///
/// | metric | type | labels | meaning |
/// |---|---|---|---|
/// | `process_resident_memory_bytes` | gauge | | RSS |
/// | `process_open_fds` / `process_max_fds` | gauge | | open fds / their limit |
/// | `process_threads` | gauge | | live threads |
/// | `leakcheck_heap_live_bytes` / `_blocks` | gauge | | live heap (counting allocator) |
/// | `leakcheck_allocations_total` | counter | | allocations since start |
/// | `leakcheck_resource_state` | gauge | `resource` | 0 ok, 1 suspected, 2 leaking |
/// | `leakcheck_resource_limit` | gauge | `resource` | the limit it grows towards |
/// | `leakcheck_growth_per_second` | gauge | `resource` | units (bytes, threads, fds) per second |
/// | `leakcheck_seconds_to_limit` | gauge | `resource` | predicted time to the limit |
/// | `leakcheck_leak_suspected` | gauge | | 1 when any resource is suspected or leaking |
/// | `leakcheck_samples_total` | counter | | samples taken |
/// | `leakcheck_sample_interval_seconds` | gauge | | the sampling interval |
pub fn metrics(status: &Status, latest: Option<&Sample>) -> String {
    let mut out = String::with_capacity(2048);
    let latest = latest.copied().unwrap_or_default();
    let limit_of = |resource: Resource| {
        status
            .resources
            .iter()
            .find(|r| r.resource == resource)
            .and_then(|r| r.limit)
    };

    let gauge = |out: &mut String, name: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            family(out, name, help, "gauge");
            sample_line(out, name, &[], v);
        }
    };
    gauge(
        &mut out,
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        latest.rss_bytes.map(|v| v as f64),
    );
    gauge(
        &mut out,
        "process_open_fds",
        "Number of open file descriptors.",
        latest.fds.map(f64::from),
    );
    gauge(
        &mut out,
        "process_max_fds",
        "Maximum number of open file descriptors.",
        limit_of(Resource::Fds),
    );
    gauge(
        &mut out,
        "process_threads",
        "Number of OS threads in the process.",
        latest.threads.map(f64::from),
    );
    gauge(
        &mut out,
        "leakcheck_heap_live_bytes",
        "Live heap bytes, counted by the leakcheck allocator.",
        latest.heap_bytes.map(|v| v as f64),
    );
    gauge(
        &mut out,
        "leakcheck_heap_live_blocks",
        "Live heap blocks, counted by the leakcheck allocator.",
        latest.heap_blocks.map(|v| v as f64),
    );
    if let Some(total) = latest.allocations_total {
        family(
            &mut out,
            "leakcheck_allocations_total",
            "Heap allocations since the process started.",
            "counter",
        );
        sample_line(&mut out, "leakcheck_allocations_total", &[], total as f64);
    }

    // The per-resource families; one line per observed resource, none when nothing is judged.
    let per_resource: [(&str, &str, PerResource); 4] = [
        (
            "leakcheck_resource_state",
            "State of the resource: 0 ok, 1 suspected, 2 leaking.",
            |r| Some(f64::from(state_value(r.state))),
        ),
        (
            "leakcheck_resource_limit",
            "The limit the resource grows towards (bytes or a count), when known.",
            |r| r.limit,
        ),
        (
            "leakcheck_growth_per_second",
            "Estimated growth of the resource per second (bytes or a count) over the detection window.",
            |r| Some(r.growth_per_sec),
        ),
        (
            "leakcheck_seconds_to_limit",
            "Predicted seconds until the resource reaches its limit at the current growth.",
            |r| r.seconds_to_limit,
        ),
    ];
    for (name, help, value) in per_resource {
        let mut header = false;
        for r in &status.resources {
            let Some(v) = value(r) else { continue };
            if !header {
                family(&mut out, name, help, "gauge");
                header = true;
            }
            sample_line(&mut out, name, &[("resource", r.resource.name())], v);
        }
    }

    family(
        &mut out,
        "leakcheck_leak_suspected",
        "1 when any resource is suspected of leaking or leaking, else 0.",
        "gauge",
    );
    sample_line(
        &mut out,
        "leakcheck_leak_suspected",
        &[],
        if status.leak_suspected { 1.0 } else { 0.0 },
    );
    family(
        &mut out,
        "leakcheck_samples_total",
        "Samples taken by the leakcheck monitor.",
        "counter",
    );
    sample_line(
        &mut out,
        "leakcheck_samples_total",
        &[],
        status.samples_taken as f64,
    );
    family(
        &mut out,
        "leakcheck_sample_interval_seconds",
        "The leakcheck monitor's sampling interval in seconds.",
        "gauge",
    );
    sample_line(
        &mut out,
        "leakcheck_sample_interval_seconds",
        &[],
        status.interval_ms as f64 / 1000.0,
    );
    out
}

/// How a per-resource family reads its value from a resource's status.
type PerResource = fn(&ResourceStatus) -> Option<f64>;

/// The `HELP` and `TYPE` lines of a family.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line: `name{label="value",…} number`.
fn sample_line(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label_value(v));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&number(value));
    out.push('\n');
}

/// A number as the text format writes it: Go-style `+Inf`, `-Inf` and `NaN`, integers without
/// a fraction (Rust's `Display` of `f64` never uses an exponent, which the format accepts).
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        v.to_string()
    }
}

/// Escapes a label value for the text format: backslash, double quote and line feed.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `HELP` text: backslash and line feed (a double quote is allowed there).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `/api/status`: the [`Status`] as JSON (`leak_suspected`, and per resource its `state`,
/// `value`, `growth_per_sec`, `limit`, `seconds_to_limit`, `since_unix_ms` and `reason`).
pub fn status_json(status: &Status) -> String {
    // Serialising plain structs of numbers and strings cannot fail; a non-finite float, which
    // JSON cannot hold, becomes `null`.
    serde_json::to_string(status).unwrap_or_else(|e| error_json(&e))
}

/// `/api/samples`: the samples, oldest first, as a JSON array of [`Sample`] objects
/// (`unix_ms`, `heap_bytes`, `heap_blocks`, `allocations_total`, `rss_bytes`, `threads`,
/// `fds`; `null` where not observed).
pub fn samples_json(samples: &[Sample]) -> String {
    serde_json::to_string(samples).unwrap_or_else(|e| error_json(&e))
}

fn error_json(e: &serde_json::Error) -> String {
    serde_json::json!({ "error": e.to_string() }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HeapStatus;

    fn status() -> Status {
        Status {
            leak_suspected: true,
            resources: vec![
                ResourceStatus {
                    resource: Resource::Heap,
                    state: State::Leaking,
                    value: Some(1e6),
                    growth_per_sec: 512.5,
                    limit: Some(2e9),
                    seconds_to_limit: Some(3_900_000.0),
                    since_unix_ms: 1,
                    reason: "grows".into(),
                },
                ResourceStatus {
                    resource: Resource::Fds,
                    state: State::Ok,
                    value: Some(7.0),
                    growth_per_sec: 0.0,
                    limit: Some(1024.0),
                    seconds_to_limit: None,
                    since_unix_ms: 1,
                    reason: "flat".into(),
                },
            ],
            samples_taken: 42,
            interval_ms: 1500,
            pid: 9,
            profiles: None,
            heap: None,
        }
    }

    #[test]
    fn status_json_without_heap_still_reads_and_heap_round_trips() {
        // What a monitor before the heap profile served.
        let old = r#"{"leak_suspected":false,"resources":[],"samples_taken":1,"interval_ms":1000,"pid":3}"#;
        let read: Status = serde_json::from_str(old).unwrap();
        assert_eq!(read.heap, None);
        assert!(!status_json(&read).contains("\"heap\""));
        let mut with = status();
        with.heap = Some(HeapStatus::new(524_288));
        let v: serde_json::Value = serde_json::from_str(&status_json(&with)).unwrap();
        assert_eq!(v["heap"]["sampling_rate"], 524_288);
        assert_eq!(v["heap"]["growing"], serde_json::json!([]));
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, with);
    }

    #[test]
    fn every_family_has_help_and_type_and_only_known_names() {
        let sample = Sample {
            unix_ms: 1,
            heap_bytes: Some(1_000_000),
            heap_blocks: Some(100),
            allocations_total: Some(5000),
            rss_bytes: Some(4_000_000),
            threads: Some(3),
            fds: Some(7),
        };
        let text = metrics(&status(), Some(&sample));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(METRIC_NAMES.contains(&name), "{name} is listed");
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} has a TYPE"
            );
        }
        assert!(text.contains("leakcheck_resource_state{resource=\"heap\"} 2\n"));
        assert!(text.contains("leakcheck_resource_state{resource=\"fds\"} 0\n"));
        assert!(text.contains("process_max_fds 1024\n"));
        assert!(text.contains("leakcheck_sample_interval_seconds 1.5\n"));
        assert!(text.contains("# TYPE leakcheck_allocations_total counter\n"));
        assert!(!text.contains("leakcheck_seconds_to_limit{resource=\"fds\"}"));
    }

    #[test]
    fn unobserved_values_are_left_out() {
        let text = metrics(&Status::default(), None);
        assert!(!text.contains("process_resident_memory_bytes"));
        assert!(!text.contains("leakcheck_resource_state"));
        assert!(text.contains("leakcheck_leak_suspected 0\n"));
    }

    #[test]
    fn label_values_and_numbers_follow_the_text_format() {
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(1e21), "1000000000000000000000");
        assert_eq!(number(0.25), "0.25");
    }

    #[test]
    fn json_has_the_state_per_resource() {
        let v: serde_json::Value = serde_json::from_str(&status_json(&status())).unwrap();
        assert_eq!(v["leak_suspected"], true);
        assert_eq!(v["resources"][0]["state"], "leaking");
        assert_eq!(v["resources"][0]["resource"], "heap");
        let s: serde_json::Value =
            serde_json::from_str(&samples_json(&[Sample::default()])).unwrap();
        assert_eq!(s[0]["heap_bytes"], serde_json::Value::Null);
    }
}
