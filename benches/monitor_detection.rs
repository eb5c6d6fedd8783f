//! Detection latency and false alerts of the monitor's detector, on simulated streams with a
//! deterministic clock (see `leakcheck_monitor::streams`): the numbers are seconds of
//! simulated time, identical on every machine and every run.
//!
//! - **Latency**: for leaks from 2 KiB/min to 64 MiB/min of heap, under no noise, churn and
//!   Gaussian noise, sampled every 1 s or 2 s, and for thread leaks and leaks hidden under a
//!   sawtooth: seconds from the leak's start (after 5 clean minutes) to `leaking`, over 50
//!   seeds (median, 90th percentile, worst), and how many were not flagged within 15 minutes.
//! - **False alerts**: for clean patterns (steady, sawtooth, spikes, steps) run for 30 minutes
//!   at 100 seeds: runs that reached `leaking`, and runs that were at least `suspected`. The
//!   last rows are bursts long and frequent enough to chain into plateaus longer than the
//!   window: a sustained rise of load, which looks like a leak until it comes down.
//! - **Resolve**: seconds from the end of a leak to the resolving alert.
//!
//! Run with `cargo bench --bench monitor_detection`.

use leakcheck_monitor::detect::{amount, DetectConfig};
use leakcheck_monitor::streams::{drive, Noise, Pattern, Stream};
use leakcheck_monitor::Resource;

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
/// Seeds per latency row and per clean row under `cargo bench`; `cargo test --benches` (no
/// `--bench` argument) runs two of each, as a smoke test.
fn seeds() -> (u64, u64) {
    if std::env::args().any(|a| a == "--bench") {
        (50, 100)
    } else {
        (2, 2)
    }
}

fn main() {
    let config = DetectConfig::default();
    println!("monitor detection, default settings: window {} s, {} segments, {} rises, step {} segments, noise factor {}, resolve after {} s",
        config.window.as_secs(), config.segments, config.rises, config.step_segments, config.noise_factor, config.resolve_after.as_secs());
    latency_table(&config);
    false_alert_table(&config);
    resolve_table(&config);
}

fn describe(noise: Noise, resource: Resource) -> String {
    match noise {
        Noise::None => "none".into(),
        Noise::Churn(a) => format!("churn {}", amount(resource, a)),
        Noise::Gaussian(s) => format!("gauss σ {}", amount(resource, s)),
    }
}

/// Latencies over the seeds: (median, p90, worst, missed) in seconds.
fn latencies(stream: &Stream, resource: Resource, config: &DetectConfig) -> (f64, f64, f64, usize) {
    let mut seconds: Vec<f64> = (0..seeds().0)
        .map(|seed| {
            // Five clean minutes, then the leak, starting anywhere between checkpoints.
            let from = 300.0 + (seed % 17) as f64 * 0.61;
            let s = stream.clone().seed(seed).leak_from(from);
            drive(&s, resource, config, from + 900.0)
                .first_leaking_s
                .map_or(f64::INFINITY, |t| t - from)
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    let missed = seconds.iter().filter(|s| s.is_infinite()).count();
    let at = |q: f64| seconds[((seconds.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9), at(1.0), missed)
}

fn secs(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.0}")
    } else {
        "—".into()
    }
}

fn latency_table(config: &DetectConfig) {
    println!(
        "\nDETECTION LATENCY (simulated seconds from the leak's start to `leaking`, {} seeds)",
        seeds().0
    );
    println!(
        "{:<10} {:<34} {:<18} {:>8} {:>6} {:>6} {:>6} {:>7}",
        "resource", "leak", "noise", "interval", "median", "p90", "worst", "missed"
    );
    let row = |resource: Resource, what: String, stream: Stream, noise: Noise| {
        let (median, p90, worst, missed) =
            latencies(&stream.clone().noise(noise), resource, config);
        println!(
            "{:<10} {:<34} {:<18} {:>7}s {:>6} {:>6} {:>6} {:>7}",
            resource.name(),
            what,
            describe(noise, resource),
            stream.interval_ms / 1000,
            secs(median),
            secs(p90),
            secs(worst),
            missed
        );
    };
    // Latency depends on the ratio of noise to leak, not on the scale: three rates show it.
    for per_min in [2.0 * KIB, 256.0 * KIB, 64.0 * MIB] {
        let what = format!("{}/min", amount(Resource::Heap, per_min));
        for interval_ms in [1000, 2000] {
            let stream = Stream::new(Pattern::Leak { per_min }).interval_ms(interval_ms);
            for noise in [
                Noise::None,
                Noise::Churn(per_min / 2.0),
                Noise::Churn(per_min * 2.0),
                Noise::Gaussian(per_min / 15.0),
                Noise::Gaussian(per_min / 4.0),
            ] {
                row(Resource::Heap, what.clone(), stream.clone(), noise);
            }
        }
    }
    for per_min in [12.0, 6.0, 2.0, 1.0] {
        let stream = Stream::new(Pattern::Leak { per_min }).base(40.0).discrete();
        for noise in [Noise::None, Noise::Churn(3.0)] {
            row(
                Resource::Threads,
                format!("{per_min}/min"),
                stream.clone(),
                noise,
            );
        }
    }
    for (per_min, period_s, amplitude) in [
        (2.0 * MIB, 30.0, 4.0 * MIB),
        (2.0 * MIB, 60.0, 4.0 * MIB),
        (1.0 * MIB, 30.0, 4.0 * MIB),
        (256.0 * KIB, 30.0, 4.0 * MIB),
        (256.0 * KIB, 30.0, 256.0 * KIB),
    ] {
        let stream = Stream::new(Pattern::LeakUnderSawtooth {
            per_min,
            period_s,
            amplitude,
        });
        let what = format!(
            "{}/min under {} / {period_s} s saw",
            amount(Resource::Heap, per_min),
            amount(Resource::Heap, amplitude)
        );
        row(Resource::Heap, what, stream, Noise::Churn(4.0 * KIB));
    }
}

fn false_alert_table(config: &DetectConfig) {
    let clean_seeds = seeds().1;
    println!("\nFALSE ALERTS (30 simulated minutes per run, {clean_seeds} seeds per row)");
    println!(
        "{:<48} {:<18} {:>14} {:>14}",
        "clean pattern", "noise", "runs leaking", "runs suspected"
    );
    let mut patterns: Vec<(String, Pattern)> = vec![("steady".into(), Pattern::Steady)];
    for period_s in [5.0, 17.0, 30.0, 45.0, 60.0] {
        for amplitude in [16.0 * KIB, 4.0 * MIB] {
            patterns.push((
                format!(
                    "sawtooth {period_s} s × {}",
                    amount(Resource::Heap, amplitude)
                ),
                Pattern::Sawtooth {
                    period_s,
                    amplitude,
                },
            ));
        }
    }
    let bursts = |per_min: f64, max_len_s: f64, height: f64| {
        (
            format!(
                "spikes {per_min}/min, 1–{max_len_s} s, ≤ {}",
                amount(Resource::Heap, height)
            ),
            Pattern::Bursty {
                per_min,
                height,
                max_len_s,
            },
        )
    };
    for (per_min, max_len_s) in [(20.0, 2.0), (6.0, 10.0), (3.0, 20.0), (2.0, 20.0)] {
        patterns.push(bursts(per_min, max_len_s, 2.0 * MIB));
    }
    for size in [8.0 * KIB, 64.0 * KIB, 8.0 * MIB] {
        for ramp_s in [0.0, 10.0] {
            patterns.push((
                format!("step {} over {ramp_s} s", amount(Resource::Heap, size)),
                Pattern::Step {
                    at_s: 300.0,
                    size,
                    ramp_s,
                },
            ));
        }
    }
    let plateaus = [bursts(2.0, 30.0, 2.0 * MIB), bursts(6.0, 30.0, 2.0 * MIB)];
    let noises = [Noise::None, Noise::Churn(4.0 * KIB), Noise::Gaussian(KIB)];
    let mut total = (0, 0);
    for (i, (name, pattern)) in patterns.iter().chain(&plateaus).enumerate() {
        if i == patterns.len() {
            println!(
                "-- load plateaus (bursts chaining past the window): known to look like leaks --"
            );
        }
        for noise in noises {
            let (mut leaking, mut suspected) = (0, 0);
            for seed in 0..clean_seeds {
                let mut pattern = *pattern;
                if let Pattern::Step { at_s, .. } = &mut pattern {
                    *at_s += seed as f64 * 1.37;
                }
                let stream = Stream::new(pattern).noise(noise).seed(seed);
                let outcome = drive(&stream, Resource::Heap, config, 1800.0);
                leaking += usize::from(outcome.leaking_episodes > 0);
                suspected += usize::from(outcome.suspected > 0 || outcome.leaking_episodes > 0);
            }
            if i < patterns.len() {
                total.0 += leaking;
                total.1 += clean_seeds as usize;
            }
            println!(
                "{:<48} {:<18} {:>14} {:>14}",
                name,
                describe(noise, Resource::Heap),
                format!("{leaking}/{clean_seeds}"),
                format!("{suspected}/{clean_seeds}")
            );
        }
    }
    println!(
        "total over the clean patterns above the plateaus: {} of {} runs reached `leaking`",
        total.0, total.1
    );
}

fn resolve_table(config: &DetectConfig) {
    println!(
        "\nRESOLVE (simulated seconds from the end of the leak to the resolving alert, {} seeds)",
        seeds().0
    );
    println!(
        "{:<28} {:<18} {:>6} {:>6} {:>6} {:>10}",
        "leak", "noise", "median", "p90", "worst", "episodes"
    );
    for (per_min, noise) in [
        (2.0 * KIB, Noise::Churn(KIB)),
        (256.0 * KIB, Noise::Gaussian(16.0 * KIB)),
        (4.0 * MIB, Noise::Churn(2.0 * MIB)),
    ] {
        let mut seconds = Vec::new();
        let mut episodes = 0;
        for seed in 0..seeds().0 {
            let stream = Stream::new(Pattern::LeakThenStop {
                per_min,
                stop_s: 600.0,
            })
            .noise(noise)
            .seed(seed)
            .leak_from(300.0 + (seed % 17) as f64 * 0.61);
            let outcome = drive(&stream, Resource::Heap, config, 1800.0);
            episodes = episodes.max(outcome.leaking_episodes);
            seconds.push(outcome.resolved_s.map_or(f64::INFINITY, |t| t - 600.0));
        }
        seconds.sort_by(f64::total_cmp);
        let at = |q: f64| seconds[((seconds.len() - 1) as f64 * q).round() as usize];
        println!(
            "{:<28} {:<18} {:>6} {:>6} {:>6} {:>10}",
            format!("{}/min for 5 min", amount(Resource::Heap, per_min)),
            describe(noise, Resource::Heap),
            secs(at(0.5)),
            secs(at(0.9)),
            secs(at(1.0)),
            format!("≤ {episodes}")
        );
    }
}
