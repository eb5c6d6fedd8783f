//! The detector on simulated streams. Time is a fake clock (samples × interval), so "flagged
//! within two minutes" is a count of samples, and 30 minutes of a clean pattern run in
//! milliseconds. Every noisy case runs over many seeds, and counts are asserted exactly.

use super::super::streams::{drive, Noise, Pattern, Stream};
use super::*;

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// Leaks start after five clean minutes (the detector has learned the noise), at offsets that
/// move the start across segment boundaries.
fn leak_start(seed: u64) -> f64 {
    300.0 + (seed % 17) as f64 * 0.61
}

/// Seconds from the leak's start to `leaking`, and the number of leaking episodes, over
/// 15 minutes of `stream` (which must not set its own leak start).
fn latency(stream: &Stream, resource: Resource, seed: u64) -> (f64, u32, Option<State>) {
    let from = leak_start(seed);
    let stream = stream.clone().seed(seed).leak_from(from);
    let outcome = drive(&stream, resource, &DetectConfig::default(), from + 900.0);
    let latency = outcome.first_leaking_s.map_or(f64::INFINITY, |t| t - from);
    (latency, outcome.leaking_episodes, outcome.final_state)
}

#[test]
fn steady_leaks_are_flagged_within_two_minutes() {
    let mut worst: f64 = 0.0;
    for per_min in [2.0 * KIB, 16.0 * KIB, 256.0 * KIB, 4.0 * MIB, 64.0 * MIB] {
        // Noise in proportion to the leak: churn of what it leaks in 30 s, or Gaussian noise
        // of what it leaks in 4 s (2 s at the slower sampling, which sees half the samples).
        let cases = [
            (Noise::None, 1000),
            (Noise::Churn(per_min / 2.0), 1000),
            (Noise::Gaussian(per_min / 15.0), 1000),
            (Noise::None, 2000),
            (Noise::Gaussian(per_min / 30.0), 2000),
        ];
        for (noise, interval_ms) in cases {
            for seed in 0..20 {
                let stream = Stream::new(Pattern::Leak { per_min })
                    .noise(noise)
                    .interval_ms(interval_ms);
                let (seconds, episodes, last) = latency(&stream, Resource::Heap, seed);
                let case =
                    format!("{per_min} B/min, {noise:?}, every {interval_ms} ms, seed {seed}");
                assert!(seconds <= 120.0, "{case}: flagged after {seconds} s");
                assert_eq!(episodes, 1, "{case}: flagged {episodes} times");
                assert_eq!(
                    last,
                    Some(State::Leaking),
                    "{case}: a growing leak resolved"
                );
                worst = worst.max(seconds);
            }
        }
    }
    eprintln!("slowest detection: {worst} s");
}

#[test]
fn thread_and_fd_leaks_are_flagged() {
    for resource in [Resource::Threads, Resource::Fds] {
        for seed in 0..20 {
            // A pool that sometimes holds one or two more threads (fds) than its floor.
            for (per_min, noise, bound) in [
                (12.0, Noise::Churn(3.0), 120.0),
                (6.0, Noise::Churn(3.0), 120.0),
                (6.0, Noise::None, 120.0),
                (1.0, Noise::None, 240.0),
            ] {
                let stream = Stream::new(Pattern::Leak { per_min })
                    .base(40.0)
                    .noise(noise)
                    .discrete();
                let (seconds, episodes, _) = latency(&stream, resource, seed);
                let case = format!("{resource} {per_min}/min {noise:?} seed {seed}");
                assert!(seconds <= bound, "{case}: flagged after {seconds} s");
                assert_eq!(episodes, 1, "{case}: flagged {episodes} times");
            }
        }
    }
}

#[test]
fn rss_leaks_above_the_rss_minimum_are_flagged() {
    for seed in 0..20 {
        let base = Stream::new(Pattern::Leak { per_min: MIB })
            .base(200.0 * MIB)
            .noise(Noise::Churn(256.0 * KIB));
        let (seconds, episodes, _) = latency(&base, Resource::Rss, seed);
        assert!(
            seconds <= 120.0 && episodes == 1,
            "seed {seed}: {seconds} s, {episodes}"
        );
        // 64 KiB/min is below the RSS minimum of 256 KiB/min: never flagged.
        let slow = Stream::new(Pattern::Leak {
            per_min: 64.0 * KIB,
        })
        .base(200.0 * MIB);
        let (_, episodes, _) = latency(&slow, Resource::Rss, seed);
        assert_eq!(episodes, 0, "seed {seed}");
    }
}

/// The clean patterns of memory, each run for 30 minutes at every seed and noise.
fn clean_heap_patterns(seed: u64) -> Vec<Pattern> {
    let mut patterns = vec![Pattern::Steady];
    for period_s in [5.0, 17.0, 30.0, 45.0, 60.0] {
        for amplitude in [16.0 * KIB, 4.0 * MIB] {
            patterns.push(Pattern::Sawtooth {
                period_s,
                amplitude,
            });
        }
    }
    // Spikes: short against the window, so they seldom chain into a plateau longer than it.
    for (per_min, max_len_s) in [(20.0, 2.0), (6.0, 10.0), (2.0, 20.0)] {
        for height in [16.0 * KIB, 2.0 * MIB] {
            patterns.push(Pattern::Bursty {
                per_min,
                height,
                max_len_s,
            });
        }
    }
    // Steps as small as twice the churn, landing anywhere between checkpoints.
    for size in [8.0 * KIB, 64.0 * KIB, 8.0 * MIB] {
        for ramp_s in [0.0, 5.0, 10.0] {
            patterns.push(Pattern::Step {
                at_s: 300.0 + seed as f64 * 1.37,
                size,
                ramp_s,
            });
        }
    }
    patterns
}

#[test]
fn clean_patterns_are_never_flagged() {
    let config = DetectConfig::default();
    let mut flagged = Vec::new();
    let mut runs = 0;
    for noise in [Noise::None, Noise::Churn(4.0 * KIB), Noise::Gaussian(KIB)] {
        for seed in 0..30 {
            for pattern in clean_heap_patterns(seed) {
                let stream = Stream::new(pattern).noise(noise).seed(seed);
                let outcome = drive(&stream, Resource::Heap, &config, 1800.0);
                runs += 1;
                if outcome.leaking_episodes > 0 {
                    flagged.push(format!("{pattern:?} {noise:?} seed {seed}"));
                }
            }
        }
    }
    assert_eq!(
        flagged.len(),
        0,
        "flagged {} of {runs} clean runs: {flagged:#?}",
        flagged.len()
    );
}

#[test]
fn clean_thread_and_fd_patterns_are_never_flagged() {
    let config = DetectConfig::default();
    let patterns = [
        Pattern::Steady,
        // A pool started lazily, at once or over a few seconds.
        Pattern::Step {
            at_s: 300.0,
            size: 4.0,
            ramp_s: 0.0,
        },
        Pattern::Step {
            at_s: 300.0,
            size: 8.0,
            ramp_s: 8.0,
        },
        // A pool that grows under load and shrinks when idle.
        Pattern::Sawtooth {
            period_s: 40.0,
            amplitude: 8.0,
        },
        Pattern::Bursty {
            per_min: 6.0,
            height: 16.0,
            max_len_s: 10.0,
        },
    ];
    let mut flagged = 0;
    for resource in [Resource::Threads, Resource::Fds] {
        for pattern in patterns {
            for seed in 0..30 {
                let stream = Stream::new(pattern)
                    .base(40.0)
                    .noise(Noise::Churn(3.0))
                    .discrete()
                    .seed(seed);
                flagged += drive(&stream, resource, &config, 1800.0).leaking_episodes;
            }
        }
    }
    assert_eq!(flagged, 0);
}

#[test]
fn a_leak_under_a_sawtooth_is_found() {
    for seed in 0..20 {
        for period_s in [30.0, 60.0] {
            let stream = Stream::new(Pattern::LeakUnderSawtooth {
                per_min: 2.0 * MIB,
                period_s,
                amplitude: 4.0 * MIB,
            })
            .noise(Noise::Churn(4.0 * KIB));
            let (seconds, episodes, _) = latency(&stream, Resource::Heap, seed);
            assert!(
                seconds <= 180.0,
                "period {period_s}, seed {seed}: {seconds} s"
            );
            assert_eq!(episodes, 1);
        }
    }
}

#[test]
fn an_alert_resolves_a_few_minutes_after_the_leak_stops() {
    let config = DetectConfig::default();
    for seed in 0..20 {
        for (per_min, noise) in [
            (2.0 * KIB, Noise::Churn(KIB)),
            (MIB, Noise::Gaussian(64.0 * KIB)),
        ] {
            let stream = Stream::new(Pattern::LeakThenStop {
                per_min,
                stop_s: 600.0,
            })
            .noise(noise)
            .seed(seed)
            .leak_from(leak_start(seed));
            let outcome = drive(&stream, Resource::Heap, &config, 1800.0);
            let case = format!("{per_min} {noise:?} seed {seed}: {outcome:?}");
            assert_eq!(outcome.leaking_episodes, 1, "{case}");
            let after = outcome.resolved_s.expect("resolved") - 600.0;
            // The floor lags a window, then `resolve_after` without growth.
            assert!(after > 0.0 && after <= 240.0, "{case}");
            assert_eq!(outcome.final_state, Some(State::Ok), "{case}");
        }
    }
}

#[test]
fn reports_growth_and_time_to_the_limit() {
    let config = DetectConfig::default();
    let mut detector = Detector::new(Resource::Heap, &config);
    let limit = 1024.0 * MIB;
    detector.set_limit(Some(limit));
    let stream = Stream::new(Pattern::Leak { per_min: MIB }).leak_from(60.0);
    for (t, v) in stream.iter().take(400) {
        detector.observe(t, v);
    }
    let status = detector.status();
    assert_eq!(status.state, State::Leaking);
    let per_min = status.growth_per_sec * 60.0;
    assert!((per_min / MIB - 1.0).abs() < 0.02, "{per_min} B/min");
    let expected = (limit - status.value.unwrap()) / status.growth_per_sec;
    assert!(
        (status.seconds_to_limit.unwrap() - expected).abs() < 1.0,
        "{status:?}"
    );
    assert!(status.reason.contains("keeps rising"), "{}", status.reason);

    let mut steady = Detector::new(Resource::Heap, &config);
    steady.set_limit(Some(limit));
    for (t, v) in Stream::new(Pattern::Steady)
        .noise(Noise::Churn(4.0 * KIB))
        .iter()
        .take(400)
    {
        steady.observe(t, v);
    }
    let status = steady.status();
    assert_eq!((status.state, status.growth_per_sec), (State::Ok, 0.0));
    assert_eq!(status.seconds_to_limit, None);
    assert!(
        status.reason.contains("no persistent growth"),
        "{}",
        status.reason
    );
}

#[test]
fn is_a_pure_function_of_the_samples() {
    let stream = Stream::new(Pattern::LeakUnderSawtooth {
        per_min: 2.0 * MIB,
        period_s: 30.0,
        amplitude: 4.0 * MIB,
    })
    .noise(Noise::Gaussian(8.0 * KIB))
    .seed(7);
    let run = || {
        let mut detector = Detector::new(Resource::Heap, &DetectConfig::default());
        stream
            .iter()
            .take(900)
            .map(|(t, v)| (detector.observe(t, v), detector.status()))
            .collect::<Vec<_>>()
    };
    let first = run();
    assert!(first.iter().any(|(t, _)| t.is_some()), "something happens");
    assert_eq!(first, run());
}

#[test]
fn judges_nothing_before_a_full_window() {
    let mut detector = Detector::new(Resource::Heap, &DetectConfig::default());
    let stream = Stream::new(Pattern::Leak {
        per_min: 64.0 * MIB,
    });
    for (i, (t, v)) in stream.iter().take(60).enumerate() {
        assert_eq!(detector.observe(t, v), None, "sample {i}");
        assert_eq!(detector.state(), State::Ok);
    }
    assert!(
        detector.status().reason.contains("collecting"),
        "{:?}",
        detector.status()
    );
}

#[test]
fn gaps_stale_and_bad_values_do_no_harm() {
    let config = DetectConfig::default();
    let mut detector = Detector::new(Resource::Heap, &config);
    let start = 1_700_000_000_000u64;
    let level = 50.0 * MIB;
    let mut transitions = 0;
    // Five minutes, a ten-minute gap (a suspended machine), five more minutes.
    for s in (0..300).chain(900..1200) {
        let t = start + s * 1000;
        transitions += detector.observe(t, level + (s % 7) as f64).is_some() as u32;
        // A stale sample and a value that is not a number are ignored.
        assert_eq!(detector.observe(t.saturating_sub(5000), 0.0), None);
        assert_eq!(detector.observe(t, f64::NAN), None);
    }
    assert_eq!(transitions, 0);
    assert_eq!(detector.floor(), Some(level));
}
