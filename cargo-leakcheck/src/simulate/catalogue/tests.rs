//! The catalogue's shape: families, twins, names, parameters. Whether the verdicts are right is
//! measured by `cargo leakcheck simulate`, each case in a process of its own.

use super::*;
use std::collections::HashSet;

#[test]
fn every_family_has_a_leak_and_a_clean_twin() {
    let cases = catalogue();
    for kind in Kind::ALL {
        let of_kind: Vec<&Case> = cases.iter().filter(|c| c.kind == kind).collect();
        assert!(of_kind.iter().any(|c| c.leaky), "{kind} has no leaky case");
        assert!(of_kind.iter().any(|c| !c.leaky), "{kind} has no clean case");
    }
}

#[test]
fn every_leaky_case_names_a_clean_twin_of_its_family() {
    for case in catalogue().iter().filter(|c| c.leaky) {
        let twin = case
            .twin
            .unwrap_or_else(|| panic!("{} has no twin", case.name));
        let twin = find(twin).unwrap_or_else(|| panic!("{}'s twin {twin} is missing", case.name));
        assert!(!twin.leaky, "{}'s twin {} leaks", case.name, twin.name);
        assert_eq!(twin.kind, case.kind, "{} and its twin", case.name);
    }
    for case in catalogue().iter().filter(|c| !c.leaky) {
        assert_eq!(case.twin, None, "{} is clean and has no twin", case.name);
    }
}

#[test]
fn names_are_unique_snake_case() {
    let cases = catalogue();
    let mut seen = HashSet::new();
    for case in &cases {
        assert!(seen.insert(case.name), "{} is listed twice", case.name);
        assert!(
            case.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            case.name
        );
        assert!(!case.about.is_empty(), "{} says what it does", case.name);
    }
    assert!(cases.len() >= 30, "{} cases", cases.len());
}

#[test]
fn hard_cases_include_leaks_and_clean_code() {
    let cases = catalogue();
    assert!(cases.iter().filter(|c| c.hard && c.leaky).count() >= 4);
    assert!(cases.iter().filter(|c| c.hard && !c.leaky).count() >= 6);
}

#[test]
fn kinds_serialize_as_the_issue_names_them() {
    // The families `cargo leakcheck simulate --format json` promises in `kind`.
    for name in [
        "thread", "task", "fd", "socket", "map", "vec", "channel", "cycle", "listener", "forget",
        "string", "interner",
    ] {
        let kind: Kind = name.parse().expect(name);
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<Kind>(&format!("\"{name}\"")).unwrap(),
            kind
        );
        assert_eq!(kind.to_string(), name);
    }
    assert_eq!(Kind::ALL.len(), 12);
    let error = "goroutine".parse::<Kind>().unwrap_err().to_string();
    assert!(error.contains("thread, task, fd"), "{error}");
}

#[test]
fn parameters_stay_in_range_and_vary_with_the_seed() {
    for case in catalogue() {
        let r = &case.ranges;
        let drawn: Vec<Params> = (0..200).map(|seed| case.params(seed)).collect();
        for p in &drawn {
            assert!(r.size.contains(&p.size), "{} size {}", case.name, p.size);
            assert!(
                r.every.contains(&p.every),
                "{} every {}",
                case.name,
                p.every
            );
            assert!(
                r.count.contains(&p.count),
                "{} count {}",
                case.name,
                p.count
            );
            assert!(r.delay_ms.contains(&p.delay_ms), "{}", case.name);
        }
        assert_eq!(
            case.params(7),
            case.params(7),
            "{}: same seed, same draw",
            case.name
        );
        if r.size.start() < r.size.end() {
            let distinct: HashSet<usize> = drawn.iter().map(|p| p.size).collect();
            assert!(distinct.len() > 1, "{}: the size varies", case.name);
            let lo = *r.size.start();
            let hi = *r.size.end();
            assert!(distinct.contains(&lo) || distinct.iter().any(|&s| s < lo + (hi - lo) / 8));
        }
    }
}

#[test]
fn log_uniform_sizes_cover_small_and_large_alike() {
    let mut rng = SplitMix(1);
    let sizes: Vec<usize> = (0..4000).map(|_| rng.log_uniform(1..=4096)).collect();
    let small = sizes.iter().filter(|&&s| s < 64).count();
    assert!((1500..2500).contains(&small), "{small} of 4000 below 64");
    assert!(sizes.iter().all(|s| (1..=4096).contains(s)));
}
