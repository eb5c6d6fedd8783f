//! `cargo leakcheck profile top|diff`: the real binary on heap profiles written by
//! `leakcheck_probe::pprof` (made-up addresses with known frames, so that the figures are
//! exact), in every format, and on files that are not profiles.

use leakcheck_probe::pprof::{HeapValues, Label, Mapping, ProfileBuilder};
use leakcheck_probe::Frame;
use std::path::{Path, PathBuf};
use std::process::Output;

mod cli;

use cli::{cli, shown};

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("profile-cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The frames of the made-up service: an allocation inlined into three handlers, all called
/// from `service::serve`.
fn frames_of(ip: usize) -> Vec<Frame> {
    let at = |function: &str, line: u32| {
        // Frame is non-exhaustive: built through its serde form.
        serde_json::from_value::<Frame>(serde_json::json!({
            "function": function, "file": "src/handlers.rs", "line": line
        }))
        .unwrap()
    };
    match ip {
        0x1001 => vec![at("alloc::alloc::alloc", 1)],
        0x2001 => vec![at("service::handlers::leaky_upload", 40)],
        0x3001 => vec![at("service::handlers::cached_lookup", 70)],
        0x4001 => vec![at("service::handlers::echo", 90)],
        0x5001 => vec![at("service::serve", 12)],
        _ => Vec::new(),
    }
}

/// A heap profile with these MiB live in (leaky_upload, cached_lookup, echo), taken at second
/// `at` of the epoch.
fn write_profile(path: &Path, mib: [i64; 3], at: u64) {
    let mut b = ProfileBuilder::heap(512 * 1024)
        .mappings(vec![Mapping::new(0x1000, 0x9000, 0, "/srv/service")])
        .time(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(at),
            std::time::Duration::ZERO,
        );
    for (handler, mib) in [0x2001, 0x3001, 0x4001].into_iter().zip(mib) {
        if mib == 0 {
            continue;
        }
        // Two samples per handler, each standing for `mib` blocks of 512 KiB.
        for _ in 0..2 {
            b.add_sample(
                &[0x1001, handler, 0x5001],
                &HeapValues::live(512 << 10, mib as f64).values(),
                vec![Label::str("thread", "worker")],
            );
        }
    }
    std::fs::write(path, b.encode_with(&mut frames_of)).unwrap();
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn top_ranks_the_sites_of_a_profile_in_each_format() {
    let dir = temp_dir("top");
    write_profile(&dir.join("heap.pb"), [6, 3, 1], 1_700_000_000);

    let output = cli(&dir, &["profile", "top", "heap.pb"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let out = stdout(&output);
    assert!(out.starts_with("leakcheck profile top: heap.pb\n"), "{out}");
    assert!(out.contains("inuse_space: 10.0 MiB in 3 sites"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("service::handlers::"))
        .collect();
    assert_eq!(rows.len(), 3, "{out}");
    // The site is the handler, not the allocator frame inlined under it, nor serve.
    for (row, (flat, name)) in rows.iter().zip([
        ("6.0 MiB  60.0%", "leaky_upload (src/handlers.rs:40)"),
        ("3.0 MiB  30.0%", "cached_lookup (src/handlers.rs:70)"),
        ("1.0 MiB  10.0%", "echo (src/handlers.rs:90)"),
    ]) {
        assert!(row.trim_start().starts_with(flat), "{row}\n{out}");
        assert!(row.ends_with(name), "{row}\n{out}");
    }

    let output = cli(
        &dir,
        &[
            "profile", "top", "heap.pb", "--format", "json", "--limit", "1",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["sample_type"], "inuse_space");
    assert_eq!(json["unit"], "bytes");
    assert_eq!(json["total"], 10 << 20);
    assert_eq!(json["site_count"], 3);
    let sites = json["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0]["function"], "service::handlers::leaky_upload");
    assert_eq!(sites[0]["line"], 40);
    assert_eq!(sites[0]["flat"], 6 << 20);
    assert_eq!(sites[0]["samples"], 2);
    assert_eq!(sites[0]["user"], true);
    assert_eq!(sites[0]["fingerprint"].as_str().unwrap().len(), 16);

    // Objects instead of bytes; markdown with the cut noted.
    let output = cli(
        &dir,
        &[
            "profile",
            "top",
            "heap.pb",
            "--sample-type",
            "inuse_objects",
            "--format",
            "md",
            "--limit",
            "2",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("## leakcheck profile top: `heap.pb`"),
        "{out}"
    );
    assert!(out.contains("20 `inuse_objects` in 3 sites"), "{out}");
    assert!(
        out.contains("| site | flat | flat% | cum | samples | fingerprint |"),
        "{out}"
    );
    assert!(
        out.contains(
            "| `service::handlers::leaky_upload (src/handlers.rs:40)` | 12 | 60.0% | 12 | 2 |"
        ),
        "{out}"
    );
    assert!(out.contains("1 more site (--limit 0 shows all)"), "{out}");
}

#[test]
fn diff_ranks_sites_by_growth_with_the_rate_per_minute() {
    let dir = temp_dir("diff");
    write_profile(&dir.join("base.pb"), [1, 3, 2], 1_700_000_000);
    write_profile(&dir.join("head.pb"), [9, 3, 0], 1_700_000_240);

    let output = cli(&dir, &["profile", "diff", "base.pb", "head.pb"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let out = stdout(&output);
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        "leakcheck profile diff: inuse_space grew by 6.0 MiB (6.0 MiB → 12.0 MiB) in 240 s, \
         +1.5 MiB per minute",
        "{out}"
    );
    // Rows with their column padding squeezed to one space.
    let rows: Vec<String> = out
        .lines()
        .filter(|l| l.contains("service::"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    // leaky_upload grew, echo is gone, cached_lookup did not change (not listed).
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].starts_with("+8.0 MiB 1.0 MiB 9.0 MiB 2 → 2 "),
        "{out}"
    );
    assert!(
        rows[0].ends_with("leaky_upload (src/handlers.rs:40)"),
        "{out}"
    );
    assert!(rows[1].starts_with("-2.0 MiB 2.0 MiB 0 B 2 → 0 "), "{out}");
    assert!(
        rows[1].ends_with("service::handlers::echo (src/handlers.rs:90)"),
        "{out}"
    );

    let output = cli(
        &dir,
        &["profile", "diff", "base.pb", "head.pb", "--format", "json"],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["base"], "base.pb");
    assert_eq!(json["head"], "head.pb");
    assert_eq!(json["seconds_between"], 240.0);
    assert_eq!(
        json["sites"][0]["function"],
        "service::handlers::leaky_upload"
    );
    assert_eq!(json["sites"][0]["delta"], 8 << 20);
    assert_eq!(json["sites"][1]["delta"], -(2 << 20));

    let output = cli(
        &dir,
        &[
            "profile", "diff", "base.pb", "head.pb", "--format", "markdown",
        ],
        &[],
    );
    let out = stdout(&output);
    assert!(
        out.starts_with("## leakcheck profile diff: inuse_space grew by 6.0 MiB"),
        "{out}"
    );
    assert!(
        out.contains("| `service::handlers::leaky_upload (src/handlers.rs:40)` | +8.0 MiB |"),
        "{out}"
    );

    // The same profile twice: nothing changed.
    let output = cli(&dir, &["profile", "diff", "base.pb", "base.pb"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    assert!(
        stdout(&output).contains("No call site changed."),
        "{}",
        shown(&output)
    );
}

#[test]
fn files_that_are_not_profiles_exit_2_naming_the_file_and_what_to_do() {
    let dir = temp_dir("errors");
    write_profile(&dir.join("good.pb"), [1, 1, 1], 1);
    std::fs::write(
        dir.join("report.json"),
        "{\"schema_version\": 3, \"tests\": []}",
    )
    .unwrap();
    let good = std::fs::read(dir.join("good.pb")).unwrap();
    std::fs::write(dir.join("cut.pb"), &good[..good.len() / 2]).unwrap();

    for (args, wanted) in [
        (
            &["profile", "top", "report.json"][..],
            "report.json: not a readable pprof profile (",
        ),
        (
            &["profile", "diff", "good.pb", "cut.pb"][..],
            "cut.pb: not a readable pprof profile (",
        ),
        (&["profile", "top", "missing.pb"][..], "cannot read "),
        (
            &["profile", "top", "good.pb", "--sample-type", "cpu"][..],
            "good.pb has no sample type `cpu`; it has alloc_objects, alloc_space, \
             inuse_objects, inuse_space: give one of them with --sample-type",
        ),
    ] {
        let output = cli(&dir, args, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            shown(&output)
        );
        let err = stderr(&output);
        assert!(err.contains(wanted), "{args:?}: {err}");
        assert!(stdout(&output).is_empty(), "{args:?}: {}", shown(&output));
    }
    let output = cli(&dir, &["profile", "top", "report.json"], &[]);
    assert!(
        stderr(&output).contains("give a profile.proto, gzipped or not"),
        "{}",
        shown(&output)
    );
}

mod damaged {
    //! Damaged profiles through the library entry points: read, or refused as a
    //! `CliError::Profile` naming the file; never a panic or another error.

    use super::{temp_dir, write_profile};
    use cargo_leakcheck::diff::Format;
    use cargo_leakcheck::profile::{self, render, Options};
    use cargo_leakcheck::CliError;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_damaged_profile_is_read_or_refused_naming_it(
            cut in 0usize..4096, at in 0usize..4096, bit in 0u8..8, gzip in any::<bool>()
        ) {
            let dir = temp_dir("damaged");
            let good = dir.join("good.pb");
            write_profile(&good, [3, 2, 1], 1_700_000_000);
            let mut bytes = std::fs::read(&good).unwrap();
            if gzip {
                // Gzip framing around the same protobuf, damaged below.
                bytes = gzip_of(&bytes);
            }
            let n = bytes.len();
            bytes[at % n] ^= 1 << bit;
            bytes.truncate(n - cut % n);
            let bad = dir.join("bad.pb");
            std::fs::write(&bad, &bytes).unwrap();

            let options = |format| Options { sample_type: None, format, limit: 0 };
            match profile::top(&bad, &options(Format::Text)) {
                Ok(report) => {
                    let _ = (render::top_text(&report), render::top_markdown(&report), render::json(&report));
                }
                Err(CliError::Profile { path, .. }) => prop_assert_eq!(path, bad.clone()),
                // A flipped bit can rename the default sample type.
                Err(CliError::SampleType { path, .. }) => prop_assert_eq!(path, bad.clone()),
                Err(e) => prop_assert!(false, "unexpected error: {e}"),
            }
            match profile::diff(&good, &bad, &options(Format::Json)) {
                Ok(report) => {
                    let _ = (render::diff_text(&report), render::diff_markdown(&report));
                }
                Err(CliError::Profile { path, .. } | CliError::SampleType { path, .. }) => {
                    prop_assert!(path == bad || path == good, "{}", path.display())
                }
                Err(e) => prop_assert!(false, "unexpected error: {e}"),
            }
        }
    }

    /// The system gzip's compression of `bytes` (an encoder other than ours).
    fn gzip_of(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut child = std::process::Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip is installed");
        let mut stdin = child.stdin.take().unwrap();
        let data = bytes.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output.stdout
    }
}
