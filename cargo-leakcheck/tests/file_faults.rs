//! File faults under the commands: a report cut short (a CI artifact whose upload died) given to
//! `diff`, `trend` and `baseline save`, and `baseline save` into a read-only directory. Each
//! exits 2 naming the file and leaves what was there alone.
//!
//! The read-only directory is a tmpfs mounted read-only in a user and mount namespace of its own
//! (`unshare -rm`): permissions do not stop root, a read-only file system does.

use std::path::{Path, PathBuf};
mod cli;

use cli::{cli, shown, CLI};
use std::process::{Command, Output};

/// A fresh cargo workspace of its own (`baseline` finds its root with `cargo metadata`).
fn workspace(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("file-faults")
        .join(name);
    cli::scratch_crate(&dir, "faults", "");
    dir
}

fn data_report() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report.json")
}

/// Asserts exit code 2 and a message on stderr with every one of `needles`.
fn assert_error(output: &Output, needles: &[&str]) {
    assert_eq!(output.status.code(), Some(2), "{}", shown(output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "lacks {needle:?}: {}",
            shown(output)
        );
    }
}

#[test]
fn a_truncated_report_is_refused_by_diff_trend_and_baseline_save_naming_it() {
    let ws = workspace("truncated");
    let whole = std::fs::read(data_report()).unwrap();
    // Cut mid-record, as an interrupted upload leaves it.
    std::fs::write(ws.join("cut.json"), &whole[..whole.len() / 2]).unwrap();
    let data = data_report();
    let data = data.to_str().unwrap();
    let needles = ["cut.json", "not valid JSON", "damaged or truncated"];

    assert_error(&cli(&ws, &["diff", data, "cut.json"], &[]), &needles);
    assert_error(&cli(&ws, &["diff", "cut.json", data], &[]), &needles);
    let page = ws.join("trend.html");
    let page = page.to_str().unwrap();
    assert_error(
        &cli(&ws, &["trend", data, "cut.json", "--out", page], &[]),
        &needles,
    );
    assert!(!Path::new(page).exists(), "no page from a damaged input");
    assert_error(
        &cli(
            &ws,
            &["baseline", "save", "main", "--from", "cut.json"],
            &[],
        ),
        &needles,
    );
    assert!(!ws.join(".leakcheck/baselines/main.json").exists());

    // The control: the whole report is read by each of them.
    std::fs::write(ws.join("whole.json"), &whole).unwrap();
    for args in [
        &["diff", data, "whole.json"][..],
        &["trend", data, "whole.json", "--out", page],
        &["baseline", "save", "main", "--from", "whole.json"],
    ] {
        let output = cli(&ws, args, &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            shown(&output)
        );
    }
    assert_eq!(
        std::fs::read(ws.join(".leakcheck/baselines/main.json")).unwrap(),
        whole
    );
}

/// Runs `baseline save main --from REPORT` in `ws` with `.leakcheck` on a tmpfs that `prepare`
/// mounts (in a namespace of its own); prints the exit code, the baseline as it is afterwards
/// and the folder's listing, and exits with the command's exit code.
fn save_on_mounted(ws: &Path, prepare: &str) -> (Output, String) {
    let script = format!(
        "set -e; {prepare}; set +e\n\
         \"$CLI\" leakcheck baseline save main --from \"$REPORT\"; code=$?\n\
         echo \"=== exit $code ===\"; cat \"$WS/.leakcheck/baselines/main.json\" 2>/dev/null\n\
         ls -la \"$WS/.leakcheck/baselines\" 2>/dev/null\n\
         exit $code"
    );
    let output = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .current_dir(ws)
        .env("WS", ws)
        .env("CLI", CLI)
        .env("REPORT", data_report())
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove(leakcheck::env::DIR)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `unshare` ({e}): {}", unshare_missing()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains("=== exit "),
        "the script did not run: {}\n{}",
        unshare_missing(),
        shown(&output)
    );
    (output, stdout)
}

/// Why the tests cannot run without `unshare -rm`, said loudly rather than skipped.
fn unshare_missing() -> String {
    let probe = Command::new("unshare").args(["-rm", "true"]).output();
    format!(
        "this test needs `unshare -rm` (util-linux, with unprivileged user namespaces enabled) \
         to mount a read-only tmpfs; `unshare -rm true` gave {probe:?}"
    )
}

#[test]
fn baseline_save_into_a_read_only_directory_exits_2_naming_it() {
    let ws = workspace("read-only");
    std::fs::create_dir_all(ws.join(".leakcheck")).unwrap();
    let (output, stdout) = save_on_mounted(&ws, "mount -t tmpfs -o ro tmpfs \"$WS/.leakcheck\"");
    assert!(stdout.contains("=== exit 2 ==="), "{}", shown(&output));
    let dir = ws.join(".leakcheck/baselines");
    assert_error(
        &output,
        &[
            &format!("cannot create {}", dir.display()),
            "Read-only file system",
        ],
    );
}

#[test]
fn baseline_save_over_a_read_only_baseline_exits_2_and_keeps_the_old_one() {
    let ws = workspace("read-only-existing");
    std::fs::create_dir_all(ws.join(".leakcheck")).unwrap();
    let (output, stdout) = save_on_mounted(
        &ws,
        "mount -t tmpfs tmpfs \"$WS/.leakcheck\"; mkdir \"$WS/.leakcheck/baselines\"; \
         echo 'the old baseline' > \"$WS/.leakcheck/baselines/main.json\"; \
         mount -o remount,ro \"$WS/.leakcheck\"",
    );
    assert!(stdout.contains("=== exit 2 ==="), "{}", shown(&output));
    let partial = ws.join(".leakcheck/baselines/.main.json.partial");
    assert_error(
        &output,
        &[
            &format!("cannot write {}", partial.display()),
            "Read-only file system",
        ],
    );
    let after = stdout.split_once("=== exit 2 ===").unwrap().1;
    assert!(
        after.trim_start().starts_with("the old baseline"),
        "{after}"
    );
    assert!(!after.contains(".partial"), "{after}");
}
