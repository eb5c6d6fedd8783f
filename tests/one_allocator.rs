//! A binary has one global allocator: a service that installs it through the monitor
//! (`leakcheck_monitor::global_allocator!()`) and checks leaks with the harness in the same
//! process sees one set of counters from both.

leakcheck_monitor::global_allocator!();

use leakcheck_monitor::source::{Source, ThisProcess};

#[test]
fn the_monitor_and_the_harness_read_the_same_counters() {
    assert!(
        leakcheck::is_installed(),
        "the harness sees the monitor's allocator"
    );
    let mut source = ThisProcess::new();
    assert!(source.observes_heap(), "the monitor sees its own line");

    let before = source.sample(0).heap_bytes.expect("heap observed");
    let kept = std::hint::black_box(vec![0u8; 1 << 20]);
    let after = source.sample(0).heap_bytes.expect("heap observed");
    assert!(after >= before + (1 << 20), "{before} → {after}");
    drop(kept);

    let mut registry = Vec::new();
    let report = leakcheck::Check::new().run(|| registry.push(vec![0u8; 64]));
    assert!(report.is_leak(), "{report}");
}
