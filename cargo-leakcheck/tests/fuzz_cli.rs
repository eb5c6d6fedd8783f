//! The command line, fuzzed: argument vectors made of the real commands, flags and values (and
//! of noise) are parsed or refused, never a panic, and what parses is in range; the commands
//! that read files (`diff`, `trend`, `baseline save --from`) given garbage or a damaged report
//! exit 2 with a message naming the file, or read it when it is still a report.
//!
//! A long campaign: `PROPTEST_CASES=20000 cargo test -p cargo-leakcheck --test fuzz_cli`.

mod cli;

use cargo_leakcheck::diff::{self, render, Threshold};
use cargo_leakcheck::{
    html, monitor, simulate, trend, Cli, CliError, Command as Cmd, LeakcheckExitCode,
};
use clap::{CommandFactory, Parser};
use leakcheck::record;
use proptest::prelude::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

const CLI: &str = env!("CARGO_BIN_EXE_cargo-leakcheck");

/// proptest's settings with `default` cases, unless `PROPTEST_CASES` asks for more.
fn cases(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

/// Every subcommand name and every flag of the real command line, from clap itself, so that new
/// ones are fuzzed without touching this file.
fn vocabulary() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        fn walk(command: &clap::Command, words: &mut Vec<String>) {
            words.push(command.get_name().to_owned());
            for arg in command.get_arguments() {
                words.extend(arg.get_long().map(|l| format!("--{l}")));
                words.extend(arg.get_short().map(|s| format!("-{s}")));
            }
            for sub in command.get_subcommands() {
                walk(sub, words);
            }
        }
        let mut words = vec!["leakcheck".to_owned(), "--".to_owned()];
        walk(&Cli::command(), &mut words);
        words.sort();
        words.dedup();
        words
    })
}

/// Values of the kinds the flags take, valid and not: durations, percentages, ports, pids,
/// addresses, leak types, formats, paths.
const VALUES: &[&str] = &[
    "0",
    "1",
    "5",
    "5%",
    "2.5",
    "-5",
    "-0",
    "1e400",
    "inf",
    "-inf",
    "NaN",
    "nan%",
    "100",
    "101",
    "65535",
    "65536",
    "-1",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "500ms",
    "1.5s",
    "2s",
    "1m",
    "1min",
    "1h",
    "25h",
    "0ms",
    "0.0001s",
    "1e3s",
    ".s",
    "1..2s",
    "ms",
    "s",
    "86400s",
    "86401s",
    "1\u{e9}s",
    "127.0.0.1",
    "::1",
    "0.0.0.0",
    "not-an-ip",
    "thread",
    "goroutine",
    "task",
    "bogus",
    "text",
    "json",
    "markdown",
    "md",
    "html",
    "main",
    "../up",
    "main.json",
    ".hidden",
    "",
    " ",
    "report.json",
    "/nonexistent/report.json",
    "http://127.0.0.1:9/",
    "x=y",
];

/// One argument: a word of the command line, a value, text, or bytes that are not UTF-8.
fn argument() -> impl Strategy<Value = OsString> {
    use std::os::unix::ffi::OsStringExt as _;
    prop_oneof![
        4 => prop::sample::select(vocabulary()).prop_map(OsString::from),
        3 => prop::sample::select(VALUES).prop_map(OsString::from),
        1 => "\\PC{0,16}".prop_map(OsString::from),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(OsString::from_vec),
    ]
}

/// Checks what the parsed command holds: every value in the range its parser promises.
fn check_parsed(cli: &Cli) -> Result<(), TestCaseError> {
    let in_range = |d: Duration| Duration::from_millis(1) <= d && d <= Duration::from_secs(86_400);
    match &cli.command {
        Cmd::Diff(args) => {
            prop_assert!(
                args.threshold.is_finite() && args.threshold >= 0.0,
                "{:?}",
                args
            );
        }
        Cmd::Monitor(args) => {
            prop_assert!(args.interval.is_none_or(in_range), "{:?}", args);
            prop_assert!(args.window.is_none_or(in_range), "{:?}", args);
            prop_assert!(args.pid.is_some() || !args.command.is_empty(), "{:?}", args);
        }
        Cmd::Simulate(args) => {
            prop_assert!(
                args.trials >= 1 && args.jobs.is_none_or(|j| j >= 1),
                "{:?}",
                args
            );
            prop_assert!(args.leak_type.is_some() != args.all, "{:?}", args);
            for target in [args.min_recall, args.max_fp] {
                prop_assert!(target.is_finite() && target >= 0.0, "{:?}", args);
            }
        }
        _ => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_argument_vector_parses_or_is_refused(
        leakcheck in any::<bool>(),
        args in prop::collection::vec(argument(), 0..10),
    ) {
        // As `cargo_leakcheck::run` sees it, called by cargo (`leakcheck` first) or directly.
        let mut argv = vec![OsString::from("cargo-leakcheck")];
        if leakcheck {
            argv.push("leakcheck".into());
        }
        argv.extend(args);
        let mut parsed = argv.clone();
        if parsed.get(1).is_some_and(|a| a == "leakcheck") {
            parsed.remove(1);
        }
        match Cli::try_parse_from(&parsed) {
            Ok(cli) => check_parsed(&cli)?,
            // Rendering the message (help, usage, the error) must not panic either.
            Err(e) => prop_assert!(!e.render().to_string().is_empty() || e.kind() == clap::error::ErrorKind::DisplayHelp),
        }
    }

    #[test]
    fn durations_parse_in_range_or_are_refused(text in "\\PC{0,12}|[0-9.]{0,8}(ms|s|m|min|h|d|)") {
        if let Ok(d) = monitor::parse_duration(&text) {
            prop_assert!(Duration::from_millis(1) <= d && d <= Duration::from_secs(86_400), "{text:?}: {d:?}");
        }
    }

    #[test]
    fn durations_read_back(ms in 1u64..=86_400_000) {
        prop_assert_eq!(monitor::parse_duration(&format!("{ms}ms")), Ok(Duration::from_millis(ms)));
        if ms % 1000 == 0 {
            prop_assert_eq!(monitor::parse_duration(&format!("{}s", ms / 1000)), Ok(Duration::from_millis(ms)));
        }
    }

    #[test]
    fn thresholds_parse_in_range_or_are_refused(text in "\\PC{0,10}|-?[0-9.e]{0,8}%?|(?i:nan|inf|infinity)%?") {
        let argv = ["cargo-leakcheck", "diff", "a", "b", "--threshold", text.as_str()];
        if let Ok(cli) = Cli::try_parse_from(argv) {
            check_parsed(&cli)?;
        }
    }

    #[test]
    fn leak_types_parse_or_are_refused(text in "\\PC{0,12}") {
        if let Ok(kinds) = simulate::parse_leak_type(&text) {
            prop_assert!(!kinds.0.is_empty());
        }
    }
}

#[test]
fn the_command_line_definition_is_consistent() {
    // clap's own checks (conflicting names, bad defaults), which it runs only in debug builds.
    Cli::command().debug_assert();
}

// ---------------------------------------------------------------------------------------------
// Commands that read files

/// The report of tests/data: four records of a real fixture run.
fn data_report() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report.json");
        std::fs::read_to_string(path).unwrap()
    })
}

/// A new file holding `bytes`, in a folder of this test binary's own.
fn case_file(bytes: &[u8]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "case-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Garbage: arbitrary bytes, or the data report with bytes flipped and maybe cut short.
fn damaged_report() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..5),
            prop::option::of(any::<usize>()),
        )
            .prop_map(|(flips, cut)| {
                let mut bytes = data_report().as_bytes().to_vec();
                for (at, byte) in flips {
                    let at = at % bytes.len();
                    bytes[at] = byte;
                }
                if let Some(cut) = cut {
                    bytes.truncate(cut % (bytes.len() + 1));
                }
                bytes
            }),
    ]
}

/// Whether `GITHUB_STEP_SUMMARY` is set: `diff` then appends to it, so only its pure parts run.
fn step_summary_set() -> bool {
    std::env::var_os("GITHUB_STEP_SUMMARY").is_some_and(|v| !v.is_empty())
}

fn argv(args: &[&std::ffi::OsStr]) -> Vec<OsString> {
    std::iter::once(OsString::from("cargo-leakcheck"))
        .chain(args.iter().map(|a| a.to_os_string()))
        .collect()
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn diff_and_trend_read_a_damaged_report_or_exit_2_naming_it(bytes in damaged_report()) {
        let file = case_file(&bytes);
        let shown = file.display().to_string();
        let data = case_file(data_report().as_bytes());
        let page = file.with_extension("html");
        let read = record::read_report(&file);
        if let Err(e) = &read {
            prop_assert!(e.to_string().starts_with(&shown), "{e}");
        }
        let expected = if read.is_ok() { 0 } else { LeakcheckExitCode::ERROR };

        // trend: the library entry point, then the whole command.
        match trend::load(std::slice::from_ref(&file)) {
            Ok(reports) => {
                prop_assert!(read.is_ok());
                let trend = trend::Trend::new(reports);
                let _ = (trend.text_table(), html::trend_page(&trend));
            }
            // A damaged file is a record error naming it, not some other failure.
            Err(e) => prop_assert!(matches!(&e, CliError::Record(r) if r.path == file), "{}", e),
        }
        let code = cargo_leakcheck::run(argv(&[
            "trend".as_ref(), file.as_os_str(), "--out".as_ref(), page.as_os_str(),
        ]));
        prop_assert_eq!(code, expected);

        // diff, both ways round.
        if let Ok(report) = &read {
            let base = record::read_report(&data).unwrap();
            for (a, b) in [(&base, report), (report, &base)] {
                let d = diff::compare(a, b, &Threshold::default());
                let _ = (render::text(&d), render::markdown(&d), render::json(&d));
            }
        }
        if !step_summary_set() {
            for (base, head) in [(&file, &data), (&data, &file)] {
                let args = diff::DiffArgs {
                    base: base.display().to_string(),
                    head: head.display().to_string(),
                    format: diff::Format::Text,
                    threshold: diff::DEFAULT_THRESHOLD_PCT,
                };
                match diff::run(&args) {
                    Ok(code) => prop_assert!(read.is_ok() && code <= 1, "{code}"),
                    Err(e) => prop_assert!(
                        read.is_err() && matches!(&e, CliError::Record(r) if r.path == file),
                        "{}",
                        e
                    ),
                }
                let code = cargo_leakcheck::run(argv(&["diff".as_ref(), base.as_os_str(), head.as_os_str()]));
                prop_assert!(if read.is_ok() { code <= 1 } else { code == LeakcheckExitCode::ERROR }, "{code}");
            }
        }
        for path in [&file, &data, &page] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A cargo workspace of its own, for `baseline save` (which finds the workspace root with
/// `cargo metadata` and writes under it).
fn temp_workspace() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "fuzz-cli-ws-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    cli::scratch_crate(&dir, "fuzz-ws", "");
    dir
}

proptest! {
    // Each case starts the binary, which runs `cargo metadata`.
    #![proptest_config(cases(16))]

    #[test]
    fn baseline_save_keeps_a_report_or_exits_2_naming_the_file(bytes in damaged_report()) {
        let ws = temp_workspace();
        let file = ws.join("given.json");
        std::fs::write(&file, &bytes).unwrap();
        let out = Command::new(CLI)
            .args(["leakcheck", "baseline", "save", "main", "--from", "given.json"])
            .current_dir(&ws)
            .env_remove(leakcheck::env::DIR)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let saved = ws.join(".leakcheck/baselines/main.json");
        if record::read_report(&file).is_ok() {
            prop_assert_eq!(out.status.code(), Some(0), "{}", stderr);
            prop_assert_eq!(std::fs::read(&saved).unwrap(), bytes);
        } else {
            prop_assert_eq!(out.status.code(), Some(LeakcheckExitCode::ERROR), "{}", stderr);
            prop_assert!(stderr.contains("given.json"), "{}", stderr);
            prop_assert!(!saved.exists());
        }
        let _ = std::fs::remove_dir_all(&ws);
    }
}
