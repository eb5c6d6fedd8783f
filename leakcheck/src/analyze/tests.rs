//! The analyzer on synthetic series: each pattern is driven round by round the way the harness
//! drives a real body, so these tests exercise the same stopping rule.

use super::*;

const PLAN: Plan = Plan { first: 8, max: 64 };

/// Feeds `f(i)` (i = 0 is the baseline) round by round until the heap is decided.
fn run_heap(f: impl Fn(usize) -> (u64, u64)) -> (HeapFinding, usize) {
    let mut bytes = vec![f(0).0];
    let mut blocks = vec![f(0).1];
    let mut n = 0;
    loop {
        let end = PLAN.next_end(n).expect("decided before the plan ran out");
        for i in n + 1..=end {
            let (b, k) = f(i);
            bytes.push(b);
            blocks.push(k);
        }
        n = end;
        if let Assessment::Decided(finding) = heap(&bytes, &blocks, &PLAN) {
            return (finding, n);
        }
    }
}

fn run_count(f: impl Fn(usize) -> u32) -> (CountFinding, usize) {
    let mut counts = vec![f(0)];
    let mut n = 0;
    loop {
        let end = PLAN.next_end(n).expect("decided before the plan ran out");
        counts.extend((n + 1..=end).map(&f));
        n = end;
        if let Assessment::Decided(finding) = count(&counts, &PLAN, Resource::Threads) {
            return (finding, n);
        }
    }
}

/// A deterministic generator, so that noisy cases are reproducible.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn round_ends_double_up_to_the_maximum() {
    assert_eq!(PLAN.round_ends().collect::<Vec<_>>(), [8, 16, 32, 64]);
    let odd = Plan { first: 10, max: 50 };
    assert_eq!(odd.round_ends().collect::<Vec<_>>(), [10, 20, 40, 50]);
    let single = Plan { first: 5, max: 5 };
    assert_eq!(single.round_ends().collect::<Vec<_>>(), [5]);
    assert_eq!(PLAN.next_end(8), Some(16));
    assert_eq!(PLAN.next_end(64), None);
}

#[test]
fn flat_heap_is_clean_after_the_first_round() {
    let (f, runs) = run_heap(|_| (10_000, 40));
    assert_eq!((f.verdict, runs), (Verdict::Clean, 8));
    assert_eq!(f.bytes_per_iteration, 0.0);
}

#[test]
fn one_small_block_per_iteration_is_a_leak() {
    let (f, runs) = run_heap(|i| (10_000 + i as u64, 40 + i as u64));
    assert_eq!((f.verdict, runs), (Verdict::Leak, 64), "{}", f.evidence);
    assert_eq!(f.bytes_per_iteration, 1.0);
    assert_eq!(f.blocks_per_iteration, 1.0);
}

#[test]
fn intermittent_leaks_are_leaks() {
    for period in 2..=6 {
        for phase in 0..period {
            let (f, _) = run_heap(|i| {
                let leaks = ((i + phase) / period) as u64;
                (10_000 + 4096 * leaks, 40 + leaks)
            });
            assert_eq!(f.verdict, Verdict::Leak, "period {period} phase {phase}");
        }
    }
}

#[test]
fn a_leak_under_a_sawtooth_is_a_leak() {
    for period in 2..=6 {
        let (f, _) = run_heap(|i| {
            let tooth = (i % period) as u64 * 1000;
            (
                10_000 + tooth + 64 * i as u64,
                40 + (i % period) as u64 + i as u64,
            )
        });
        assert_eq!(f.verdict, Verdict::Leak, "period {period}");
    }
}

#[test]
fn sawtooth_and_oscillating_buffers_are_clean() {
    for period in 2..=8 {
        for phase in 0..period {
            let (f, runs) = run_heap(|i| {
                let tooth = ((i + phase) % period) as u64;
                (10_000 + tooth * 512, 40 + tooth)
            });
            assert_eq!(f.verdict, Verdict::Clean, "period {period} phase {phase}");
            assert!(
                runs <= 16,
                "period {period} phase {phase}: {runs} iterations"
            );
        }
    }
}

#[test]
fn bounded_caches_that_fill_then_plateau_are_clean() {
    for fill in 1..=16 {
        let (f, _) = run_heap(|i| {
            let entries = i.min(fill) as u64;
            (10_000 + 100 * entries, 40 + entries)
        });
        assert_eq!(f.verdict, Verdict::Clean, "fills in {fill}: {}", f.evidence);
    }
}

#[test]
fn a_lazy_one_time_step_is_clean() {
    for at in 1..=8 {
        let (f, _) = run_heap(|i| if i >= at { (20_000, 50) } else { (10_000, 40) });
        assert_eq!(f.verdict, Verdict::Clean, "step at {at}");
    }
}

#[test]
fn amortized_vec_growth_is_a_leak() {
    // A global Vec<u64> that gets one element per iteration: live bytes only move when the
    // capacity doubles (4, 8, 16, ... elements). Each doubling round sees one.
    for already in 2..=4usize {
        let (f, _) = run_heap(|i| {
            let len = already + i;
            let cap = len.next_power_of_two().max(4) as u64;
            (10_000 + 8 * cap, 41)
        });
        assert_eq!(f.verdict, Verdict::Leak, "starting at {already} elements");
    }
}

/// Index of a verdict the analyzer reaches in a `[clean, suspicious, leak]` tally.
fn slot(verdict: Verdict) -> usize {
    match verdict {
        Verdict::Clean => 0,
        Verdict::Suspicious => 1,
        Verdict::Leak => 2,
        Verdict::Off | Verdict::Suppressed => {
            unreachable!("the analyzer never switches off or suppresses")
        }
    }
}

#[test]
fn bounded_random_noise_is_never_a_leak() {
    let mut rng = Lcg(7);
    let mut verdicts = [0usize; 3];
    for _ in 0..2000 {
        let noise: Vec<(u64, u64)> = (0..=64)
            .map(|_| (10_000 + rng.next(4096), 40 + rng.next(8)))
            .collect();
        let (f, _) = run_heap(|i| noise[i]);
        verdicts[slot(f.verdict)] += 1;
    }
    assert_eq!(verdicts, [2000, 0, 0], "clean, suspicious, leak");
}

#[test]
fn a_leak_under_random_noise_is_a_leak() {
    let mut rng = Lcg(11);
    let mut verdicts = [0usize; 3];
    for _ in 0..2000 {
        let noise: Vec<u64> = (0..=64).map(|_| rng.next(1024)).collect();
        let (f, _) = run_heap(|i| (10_000 + 64 * i as u64 + noise[i], 40));
        verdicts[slot(f.verdict)] += 1;
    }
    assert_eq!(verdicts, [0, 0, 2000], "clean, suspicious, leak");
}

#[test]
fn steady_thread_growth_is_a_leak_in_the_first_round() {
    let (f, runs) = run_count(|i| 2 + i as u32);
    assert_eq!((f.verdict, runs), (Verdict::Leak, 8));
    assert_eq!(f.net, 8);
    assert_eq!(f.increased_in, (1..=8).collect::<Vec<_>>());
}

#[test]
fn every_other_iteration_thread_growth_is_a_leak() {
    let (f, _) = run_count(|i| 2 + (i / 2) as u32);
    assert_eq!(f.verdict, Verdict::Leak);
}

#[test]
fn a_single_persistent_step_is_suspicious_after_a_confirming_round() {
    let (f, runs) = run_count(|i| if i >= 3 { 6 } else { 2 });
    assert_eq!((f.verdict, runs), (Verdict::Suspicious, 16));
    assert_eq!(f.increased_in, [3]);
}

#[test]
fn a_transient_increase_is_clean() {
    let (f, runs) = run_count(|i| if i == 4 { 3 } else { 2 });
    assert_eq!((f.verdict, runs), (Verdict::Clean, 8));
    let (f, _) = run_count(|_| 2);
    assert_eq!(f.verdict, Verdict::Clean);
}

#[test]
fn growth_without_a_confirming_round_is_suspicious() {
    let single = Plan { first: 4, max: 4 };
    let bytes = [100, 101, 102, 103, 104];
    let blocks = [10, 11, 12, 13, 14];
    match heap(&bytes, &blocks, &single) {
        Assessment::Decided(f) => assert_eq!(f.verdict, Verdict::Suspicious, "{}", f.evidence),
        Assessment::NeedsMore => panic!("a single-round plan decides after its round"),
    }
}

/// Live bytes of a `String` that starts with `start` bytes of capacity and gets a line of `line`
/// bytes per call, the way `String` grows (capacity doubles, at least 8, at least what is
/// needed), plus a constant rest of the heap. Index 0 is the baseline after `warmup` calls.
fn string_log(start: u64, line: u64, warmup: u64, n: usize) -> Vec<u64> {
    let (mut len, mut cap) = (0u64, start);
    let mut series = Vec::new();
    for call in 1..=warmup + n as u64 {
        len += line;
        if len > cap {
            cap = (cap * 2).max(len).max(8);
        }
        if call >= warmup {
            series.push(10_000 + cap);
        }
    }
    series
}

#[test]
fn amortized_string_growth_is_a_leak_when_its_capacity_moves_early() {
    // A log `String` that only grows shows its leak when its capacity doubles. Wherever the
    // doublings fall against the rounds (last one late in round 3, next just past the budget)
    // it is a leak, once the capacity moved twice in the first 16 iterations. Growth into spare
    // capacity that moves the heap less than that looks like a one-time step, or not at all.
    let mut wrong = Vec::new();
    for start in [0, 8, 16, 24, 100] {
        for line in 1..=300 {
            let series = string_log(start, line, 2, 64);
            let early_steps = (1..=16).filter(|&i| series[i] > series[i - 1]).count();
            let (f, _) = run_heap(|i| (series[i], 41));
            let expected = if early_steps >= 2 {
                Verdict::Leak
            } else {
                Verdict::Clean
            };
            if f.verdict != expected {
                wrong.push((start, line, f.verdict));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of 1500: {wrong:?}", wrong.len());
}

#[test]
fn doubling_steps_at_irregular_times_or_of_equal_size_are_not_confirmed() {
    // A buffer that grows to the largest input so far doubles too, but when a new maximum comes;
    // workers that each allocate once on their first job step by equal amounts.
    fn staircase(steps: &[(usize, u64)]) -> impl Fn(usize) -> (u64, u64) + '_ {
        move |i| {
            let level: u64 = steps.iter().filter(|(t, _)| *t <= i).map(|(_, d)| d).sum();
            (10_000 + level, 40)
        }
    }
    for steps in [
        [(5, 1024), (7, 2048), (20, 4096)],
        [(3, 512), (12, 1024), (25, 2048)],
        [(2, 256), (9, 512), (31, 1024)],
        [(7, 48), (15, 48), (32, 48)],
        [(7, 300), (15, 400), (32, 500)],
    ] {
        let (f, _) = run_heap(staircase(&steps));
        assert_ne!(f.verdict, Verdict::Leak, "{steps:?}: {}", f.evidence);
    }
    // The same steps at doubling waits are a buffer filled at a steady rate.
    let (f, _) = run_heap(staircase(&[(7, 256), (15, 512), (32, 1024)]));
    assert_eq!(f.verdict, Verdict::Leak, "{}", f.evidence);
    assert!(f.evidence.contains("capacity doubling"), "{}", f.evidence);
}

#[test]
fn one_run_leaving_a_thread_or_fd_is_a_leak_and_leaving_none_is_clean() {
    let left = count_of_one_run(&[3, 4], Resource::Threads);
    assert_eq!(
        (left.verdict, left.net, left.increased_in),
        (Verdict::Leak, 1, vec![1])
    );
    for counts in [[3, 3], [4, 3]] {
        let none = count_of_one_run(&counts, Resource::Fds);
        assert_eq!(
            none.verdict,
            Verdict::Clean,
            "{counts:?}: {}",
            none.evidence
        );
    }
}

#[test]
fn one_run_of_heap_growth_is_suspicious_at_most() {
    // However large: a lazy static looks exactly like this.
    let grew = heap_of_one_run(&[1000, 1_000_000], &[10, 11]);
    assert_eq!(grew.verdict, Verdict::Suspicious);
    assert!(
        grew.evidence
            .contains("one run cannot tell a leak from lazy initialisation"),
        "{}",
        grew.evidence
    );
    // More blocks in fewer bytes is growth too, as in the repeated-run analysis.
    assert_eq!(
        heap_of_one_run(&[1000, 900], &[10, 12]).verdict,
        Verdict::Suspicious
    );
    let flat = heap_of_one_run(&[1000, 1000], &[10, 9]);
    assert_eq!(flat.verdict, Verdict::Clean, "{}", flat.evidence);
}
