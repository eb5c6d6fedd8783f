//! A small suite that shows leakcheck at work: each case runs through the same harness as a
//! `#[leak_test]` (the function API, in this process) and prints its verdict; the leaks print
//! their full report. Exits non-zero if any verdict is not the expected one.
//!
//! Run it with `cargo run --example demo`.

use leakcheck::{Check, Verdict};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

leakcheck::global_allocator!();

static REGISTRY: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A case: its name, the verdict it must get, and the body to check.
type Case = (&'static str, Verdict, Box<dyn FnMut()>);

fn main() {
    let mut cache: VecDeque<Vec<u8>> = VecDeque::new();
    let mut batch: Vec<String> = Vec::new();
    let mut counter = 0u64;
    let mut parked = Vec::new();
    let cases: Vec<Case> = vec![
        (
            "Box::leak of 16 bytes per call",
            Verdict::Leak,
            Box::new(|| {
                Box::leak(Box::new([7u8; 16]));
            }),
        ),
        (
            "a global registry that only grows",
            Verdict::Leak,
            Box::new(|| REGISTRY.lock().unwrap().push(format!("listener #{}", 1))),
        ),
        (
            "a thread per call that waits forever",
            Verdict::Leak,
            Box::new(move || {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                parked.push(tx); // keeps the channel open, so the thread never wakes
                std::thread::Builder::new()
                    .name("demo-waiter".into())
                    .spawn(move || {
                        let _ = rx.recv();
                    })
                    .unwrap();
            }),
        ),
        (
            "a file opened per call and forgotten",
            Verdict::Leak,
            Box::new(|| std::mem::forget(std::fs::File::open("Cargo.toml").unwrap())),
        ),
        (
            "a bounded cache (keeps the last 4 entries)",
            Verdict::Clean,
            Box::new(move || {
                cache.push_back(vec![0u8; 256]);
                if cache.len() > 4 {
                    cache.pop_front();
                }
            }),
        ),
        (
            "a batch flushed every 3 calls (sawtooth)",
            Verdict::Clean,
            Box::new(move || {
                batch.push("event".repeat(10));
                if batch.len() == 3 {
                    batch = Vec::new();
                }
            }),
        ),
        (
            "temporaries, a HashMap and a detached thread that ends",
            Verdict::Clean,
            Box::new(move || {
                counter += 1;
                let map: HashMap<u64, String> = (0..100).map(|i| (i, i.to_string())).collect();
                assert_eq!(map.len(), 100);
                std::thread::spawn(move || counter * 2);
            }),
        ),
    ];

    let mut wrong = 0;
    for (name, expected, mut body) in cases {
        let report = Check::new().name(name).run(&mut body);
        let ok = report.verdict == expected;
        wrong += usize::from(!ok);
        println!(
            "{} {:<58} {:<10} (expected {expected}, {} body runs)",
            if ok { "✓" } else { "✗" },
            name,
            report.verdict.to_string(),
            report.body_runs()
        );
        if report.verdict != Verdict::Clean {
            println!("{report}");
        }
    }
    if wrong > 0 {
        eprintln!("{wrong} case(s) did not get the expected verdict");
        std::process::exit(1);
    }
    println!("all verdicts as expected");
}
