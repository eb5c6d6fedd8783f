//! Accuracy of the checker, measured on the simulation catalogue: every case (leak families and
//! their clean twins, hard cases included) for several trials, each trial drawing the cases'
//! parameters from a seed of its own, each case run through the real harness in a process of its
//! own — `cargo leakcheck simulate --all --trials N --format json`, built with this benchmark's
//! profile.
//!
//! Prints recall, the false-positive rate, the suspicious count, body runs per verdict (median,
//! max) and the figures per family, and exits non-zero when the CLI's targets (≥ 99% recall,
//! ≤ 1% false positives, no failed run) are missed. Not a timing benchmark: the wall time is
//! printed for information only.
//!
//! Run with `cargo bench --bench accuracy` (6 trials, ≥ 300 case runs), or
//! `cargo bench --bench accuracy -- --trials N`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

const DEFAULT_TRIALS: u32 = 6;

fn main() -> ExitCode {
    let trials = trials_argument().unwrap_or(DEFAULT_TRIALS);
    let cli = match build_cli() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("accuracy: {e}");
            return ExitCode::from(2);
        }
    };
    let trials_text = trials.to_string();
    let args = [
        "simulate",
        "--all",
        "--trials",
        &trials_text,
        "--format",
        "json",
    ];
    println!("accuracy: {} {}", cli.display(), args.join(" "));
    let started = Instant::now();
    let output = match Command::new(&cli).args(args).output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("accuracy: cannot run {}: {e}", cli.display());
            return ExitCode::from(2);
        }
    };
    let wall = started.elapsed();
    let rows: Vec<Value> = match serde_json::from_slice(&output.stdout) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!(
                "accuracy: the CLI printed no JSON rows ({e}):\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            return ExitCode::from(2);
        }
    };

    print_figures(&rows);
    println!(
        "wall time: {:.1} s for {} case runs ({trials} trials)",
        wall.as_secs_f64(),
        rows.len()
    );
    match output.status.code() {
        Some(0) => ExitCode::SUCCESS,
        _ => {
            eprintln!(
                "accuracy: the targets were missed (the CLI said):\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            ExitCode::FAILURE
        }
    }
}

/// `--trials N` among the arguments (cargo bench adds `--bench`, which is ignored).
fn trials_argument() -> Option<u32> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--trials")?;
    args.get(at + 1)?.parse().ok()
}

/// Builds the CLI with this benchmark's profile and returns its path next to this executable's
/// `deps/` directory.
fn build_cli() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--quiet",
        "-p",
        "cargo-leakcheck",
    ]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build -p cargo-leakcheck failed ({status})"));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or("this benchmark is not in <target>/<profile>/deps")?;
    let cli = profile_dir.join(format!("cargo-leakcheck{}", std::env::consts::EXE_SUFFIX));
    if cli.is_file() {
        Ok(cli)
    } else {
        Err(format!("{} was not built", cli.display()))
    }
}

/// Tallies of one group of rows.
#[derive(Default)]
struct Tally {
    leaky: usize,
    detected: usize,
    clean: usize,
    false_positives: usize,
    suspicious: usize,
    errors: usize,
    /// Body runs of the runs with a leak verdict and with a clean verdict.
    leak_runs: Vec<u64>,
    clean_runs: Vec<u64>,
}

impl Tally {
    fn add(&mut self, row: &Value) {
        let leaky = row["leaky"].as_bool().unwrap_or(false);
        match row["verdict"].as_str() {
            None => self.errors += 1,
            Some(verdict) => {
                if leaky {
                    self.leaky += 1;
                    self.detected += usize::from(verdict == "leak");
                } else {
                    self.clean += 1;
                    self.false_positives += usize::from(verdict == "leak");
                }
                self.suspicious += usize::from(verdict == "suspicious");
                let runs = row["body_runs"].as_u64().unwrap_or(0);
                match verdict {
                    "leak" => self.leak_runs.push(runs),
                    "clean" => self.clean_runs.push(runs),
                    _ => {}
                }
            }
        }
    }

    fn recall(&self) -> f64 {
        if self.leaky == 0 {
            100.0
        } else {
            100.0 * self.detected as f64 / self.leaky as f64
        }
    }

    fn fp_rate(&self) -> f64 {
        if self.clean == 0 {
            0.0
        } else {
            100.0 * self.false_positives as f64 / self.clean as f64
        }
    }
}

fn print_figures(rows: &[Value]) {
    let mut all = Tally::default();
    let mut families: BTreeMap<String, Tally> = BTreeMap::new();
    let mut runs: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for row in rows {
        all.add(row);
        let kind = row["kind"].as_str().unwrap_or("?").to_owned();
        families.entry(kind).or_default().add(row);
        if let (Some(verdict), Some(n)) = (row["verdict"].as_str(), row["body_runs"].as_u64()) {
            runs.entry(verdict).or_default().push(n);
        }
    }

    println!("\nper family:");
    println!(
        "  {:<10} {:>10} {:>8} {:>10} {:>8} {:>11}  body runs (median, max) leak / clean",
        "family", "leaky runs", "recall", "clean runs", "FP rate", "suspicious"
    );
    let shown = |runs: &[u64]| {
        if runs.is_empty() {
            "-".to_owned()
        } else {
            let (median, max) = median_max(runs);
            format!("{median}, {max}")
        }
    };
    for (family, t) in &families {
        println!(
            "  {family:<10} {:>10} {:>7.1}% {:>10} {:>7.1}% {:>11}  {} / {}",
            t.leaky,
            t.recall(),
            t.clean,
            t.fp_rate(),
            t.suspicious,
            shown(&t.leak_runs),
            shown(&t.clean_runs)
        );
    }
    let misses: Vec<String> = rows
        .iter()
        .filter(|r| {
            let leaky = r["leaky"].as_bool().unwrap_or(false);
            let verdict = r["verdict"].as_str();
            verdict.is_none() || (verdict == Some("leak")) != leaky
        })
        .map(|r| {
            format!(
                "  {} seed {}: {} ({})",
                r["case"].as_str().unwrap_or("?"),
                r["seed"],
                r["verdict"].as_str().unwrap_or("error"),
                r["error"].as_str().or(r["evidence"].as_str()).unwrap_or("")
            )
        })
        .collect();
    if !misses.is_empty() {
        println!("\nwrong or missing verdicts:");
        misses.iter().for_each(|m| println!("{m}"));
    }

    println!("\ncase runs:       {}", rows.len());
    println!(
        "recall:          {:.2}% ({} of {} leaky runs reported as leaks; suspicious counts as not detected)",
        all.recall(),
        all.detected,
        all.leaky
    );
    println!(
        "false positives: {:.2}% ({} of {} clean runs reported as leaks)",
        all.fp_rate(),
        all.false_positives,
        all.clean
    );
    println!("suspicious:      {}", all.suspicious);
    println!("errors:          {}", all.errors);
    println!("body runs per verdict (median, max):");
    for verdict in ["leak", "suspicious", "clean"] {
        match runs.get(verdict) {
            Some(values) => {
                let (median, max) = median_max(values);
                println!(
                    "  {verdict:<11} {median:>5}, {max:>3}  over {} runs",
                    values.len()
                );
            }
            None => println!("  {verdict:<11}     -,   -"),
        }
    }
    println!("  for comparison: CPython `-R 3:3` 6 runs, node `leakage` 180 runs");
}

fn median_max(values: &[u64]) -> (f64, u64) {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2] as f64
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0
    };
    (median, sorted[n - 1])
}
