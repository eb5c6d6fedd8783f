//! The profiles `leakcheck_probe::pprof` writes, read by independent readers: `protoc
//! --decode_raw` (the field structure of profile.proto) and `go tool pprof`, the real client,
//! on stacks of real return addresses of this test binary. Both tools are required (`.ci/run`
//! installs protobuf-compiler and golang-go): a missing tool fails the test rather than skip it.

#[path = "go_pprof/mod.rs"]
mod go_pprof;

use go_pprof::{pprof, top_rows};
use leakcheck_probe::pprof::{decode, HeapValues, Label, ProfileBuilder};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The return addresses of the caller's stack, from its own frame outwards (the backtrace
/// crate's frames and this function's are cut off).
#[inline(never)]
fn stack_from(caller: &str) -> Vec<usize> {
    let mut ips = Vec::new();
    backtrace::trace(|f| {
        ips.push(f.ip() as usize);
        true
    });
    let first = ips
        .iter()
        .position(|&ip| {
            let mut found = false;
            backtrace::resolve(ip as *mut std::ffi::c_void, |s| {
                found |= s.name().is_some_and(|n| format!("{n:#}").ends_with(caller));
            });
            found
        })
        .unwrap_or_else(|| panic!("{caller} is not on the stack"));
    ips.split_off(first)
}

/// A request handler of a made-up service that keeps what it allocates.
#[inline(never)]
fn leaky_handler() -> Vec<usize> {
    std::hint::black_box(stack_from("leaky_handler"))
}

/// A handler that frees what it allocates.
#[inline(never)]
fn fine_handler() -> Vec<usize> {
    std::hint::black_box(stack_from("fine_handler"))
}

const MIB: i64 = 1 << 20;

/// A heap profile with `leaky` MiB live in `leaky_handler` and `fine` MiB in `fine_handler`.
fn heap(leaky: i64, fine: i64) -> ProfileBuilder {
    let mut b = ProfileBuilder::heap(512 * 1024);
    for (stack, mib, thread) in [
        (leaky_handler(), leaky, "http-worker-1"),
        (fine_handler(), fine, "http-worker-2"),
    ] {
        let live = HeapValues {
            inuse_objects: mib * 16,
            inuse_space: mib * MIB,
            alloc_objects: mib * 32,
            alloc_space: 2 * mib * MIB,
        };
        b.add_sample(
            &stack,
            &live.values(),
            vec![
                Label::str("thread", thread),
                Label::num("age", 90, "seconds"),
            ],
        );
    }
    b
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("pprof-readers")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn go_tool_pprof_names_the_leaking_function_with_its_value() {
    let dir = temp_dir("top");
    let file = dir.join("heap.pb.gz");
    std::fs::write(&file, heap(7, 2).encode_gzip()).unwrap();
    let file = file.to_str().unwrap();

    let top = pprof(&dir, &["-top", "-sample_index=inuse_space", file]);
    let rows = top_rows(&top);
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.2 == name)
            .unwrap_or_else(|| panic!("no row for {name}:\n{top}"))
            .clone()
    };
    assert_eq!(rows[0].2, "pprof_readers::leaky_handler", "{top}");
    assert_eq!(
        row("pprof_readers::leaky_handler"),
        (
            "7MB".into(),
            "7MB".into(),
            "pprof_readers::leaky_handler".into()
        )
    );
    assert_eq!(row("pprof_readers::fine_handler").0, "2MB", "{top}");
    // The caller of both has no flat value and both as cum.
    assert_eq!(
        row("pprof_readers::heap"),
        ("0".into(), "9MB".into(), "pprof_readers::heap".into())
    );
    assert!(top.contains("Type: inuse_space"), "{top}");
    // pprof read the mapping's build id: the main binary's, as readelf would print it.
    let exe = std::env::current_exe().unwrap();
    let build_id = leakcheck_probe::pprof::mappings::build_id_of(exe.to_str().unwrap()).unwrap();
    assert!(top.contains(&format!("Build ID: {build_id}")), "{top}");

    // Another sample type of the same file, and the default one (inuse_space) without asking.
    let alloc = pprof(&dir, &["-top", "-sample_index=alloc_space", file]);
    assert_eq!(top_rows(&alloc)[0].0, "14MB", "{alloc}");
    let default = pprof(&dir, &["-top", file]);
    assert!(default.contains("Type: inuse_space"), "{default}");

    // -traces: each sample with its labels, the leaking function innermost.
    let traces = pprof(&dir, &["-traces", file]);
    let leaky = traces
        .split("-----------+")
        .find(|t| t.contains("leaky_handler"))
        .unwrap_or_else(|| panic!("{traces}"));
    let lines: Vec<&str> = leaky
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(lines.contains(&"thread:  http-worker-1"), "{leaky}");
    assert!(lines.contains(&"age:  90s"), "{leaky}");
    let innermost = lines.iter().position(|l| l.starts_with("7MB")).unwrap();
    assert_eq!(
        lines[innermost], "7MB   pprof_readers::leaky_handler",
        "{leaky}"
    );
    assert_eq!(lines[innermost + 1], "pprof_readers::heap", "{leaky}");
    // The frames of this binary all resolve (libc's depend on how the system's is stripped).
    let test_fn = lines
        .iter()
        .position(|l| l.ends_with("go_tool_pprof_names_the_leaking_function_with_its_value"))
        .unwrap_or_else(|| panic!("{leaky}"));
    assert!(
        lines[innermost..=test_fn]
            .iter()
            .all(|l| !l.contains("<unknown>")),
        "{leaky}"
    );
}

#[test]
fn go_tool_pprof_diff_base_shows_the_growth() {
    let dir = temp_dir("diff");
    std::fs::write(dir.join("base.pb.gz"), heap(1, 2).encode_gzip()).unwrap();
    std::fs::write(dir.join("head.pb.gz"), heap(9, 2).encode_gzip()).unwrap();
    let out = pprof(&dir, &["-top", "-diff_base=base.pb.gz", "head.pb.gz"]);
    let rows = top_rows(&out);
    assert_eq!(
        rows[0],
        (
            "8MB".into(),
            "8MB".into(),
            "pprof_readers::leaky_handler".into()
        ),
        "{out}"
    );
    // fine_handler did not change: nothing flat.
    assert!(
        rows.iter()
            .all(|r| r.2 != "pprof_readers::fine_handler" || r.0 == "0"),
        "{out}"
    );
}

/// A field of `protoc --decode_raw` output: a scalar as printed, or a nested message.
#[derive(Debug)]
enum Raw {
    Value(String),
    Message(Vec<(u32, Raw)>),
}

impl Raw {
    fn all(&self, field: u32) -> Vec<&Raw> {
        match self {
            Raw::Message(fields) => fields
                .iter()
                .filter(|f| f.0 == field)
                .map(|f| &f.1)
                .collect(),
            Raw::Value(_) => Vec::new(),
        }
    }
    fn int(&self, field: u32) -> u64 {
        match self.all(field).first() {
            Some(Raw::Value(v)) => v.parse().unwrap(),
            None => 0,
            other => panic!("field {field} is {other:?}"),
        }
    }
}

/// Parses the text `protoc --decode_raw` prints: `N: value`, `N {`, `}`.
fn parse_raw(text: &str) -> Raw {
    fn message(lines: &mut std::str::Lines<'_>) -> Vec<(u32, Raw)> {
        let mut fields = Vec::new();
        while let Some(line) = lines.next() {
            let line = line.trim();
            if line == "}" {
                break;
            }
            if let Some(number) = line.strip_suffix(" {") {
                fields.push((number.parse().unwrap(), Raw::Message(message(lines))));
            } else if let Some((number, value)) = line.split_once(": ") {
                fields.push((number.parse().unwrap(), Raw::Value(value.to_owned())));
            }
        }
        fields
    }
    Raw::Message(message(&mut text.lines()))
}

/// A printed string without its quotes (the strings checked here need no unescaping).
fn unquoted(raw: &Raw) -> &str {
    match raw {
        Raw::Value(v) => v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v),
        // A string that happens to parse as a message: never one of those checked.
        Raw::Message(_) => "",
    }
}

#[test]
fn protoc_decode_raw_sees_the_fields_of_profile_proto() {
    let raw = heap(7, 2).encode();
    let mut child = Command::new("protoc")
        .arg("--decode_raw")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("protoc is installed (Debian protobuf-compiler; .ci/run installs it)");
    let mut stdin = child.stdin.take().unwrap();
    let bytes = raw.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        stdin.write_all(&bytes).unwrap();
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let profile = parse_raw(&text);

    // string_table (6): "" first.
    let strings: Vec<&str> = profile.all(6).into_iter().map(unquoted).collect();
    assert_eq!(strings[0], "");
    let s = |i: u64| strings[i as usize];
    // sample_type (1): ValueType{type = 1, unit = 2} as indices into the table.
    let types: Vec<(&str, &str)> = profile
        .all(1)
        .iter()
        .map(|t| (s(t.int(1)), s(t.int(2))))
        .collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes")
        ]
    );
    assert_eq!(s(profile.int(14)), "inuse_space"); // default_sample_type
    let period_type = profile.all(11)[0];
    assert_eq!(
        (s(period_type.int(1)), s(period_type.int(2))),
        ("space", "bytes")
    );
    assert_eq!(profile.int(12), 512 * 1024); // period

    // function (5): name = 2, filename = 4.
    let leaky = profile
        .all(5)
        .into_iter()
        .find(|f| s(f.int(2)) == "pprof_readers::leaky_handler")
        .unwrap_or_else(|| panic!("no function leaky_handler in:\n{text}"));
    assert!(
        s(leaky.int(4)).ends_with("tests/pprof_readers.rs"),
        "{}",
        s(leaky.int(4))
    );
    let leaky_id = leaky.int(1);
    // location (4): a Line (4) with that function_id (1) and a line number (2).
    let line = profile
        .all(4)
        .into_iter()
        .flat_map(|l| l.all(4))
        .find(|line| line.int(1) == leaky_id)
        .expect("a location of leaky_handler");
    assert!(line.int(2) > 0);

    // sample (2): label (3) {key = 1, str = 2 | num = 3, num_unit = 4}.
    let labels: Vec<(&str, &str, u64, &str)> = profile.all(2)[0]
        .all(3)
        .iter()
        .map(|l| (s(l.int(1)), s(l.int(2)), l.int(3), s(l.int(4))))
        .collect();
    assert_eq!(
        labels,
        [
            ("thread", "http-worker-1", 0, ""),
            ("age", "", 90, "seconds")
        ]
    );

    // mapping (3): the main binary first, with its file (5), build id (6), has_functions (7).
    let main = profile.all(3)[0];
    let exe = std::env::current_exe().unwrap();
    assert_eq!(s(main.int(5)), exe.display().to_string());
    let build_id = leakcheck_probe::pprof::mappings::build_id_of(exe.to_str().unwrap()).unwrap();
    assert_eq!(s(main.int(6)), build_id);
    assert_eq!(main.int(7), 1);
    assert!(main.int(2) < main.int(3), "memory_start < memory_limit");

    // And our own decoder agrees with protoc on what it read.
    let ours = decode(&raw).unwrap();
    assert_eq!(ours.samples.len(), profile.all(2).len());
    assert_eq!(ours.mappings.len(), profile.all(3).len());
}
