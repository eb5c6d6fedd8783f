//! Round trips of the encoder and decoder, with a resolver of known frames (inlined calls,
//! unresolved addresses), and the sites analysis on profiles built that way.

use super::schema::profile;
use super::sites::{diff, site_of, top};
use super::wire::Reader;
use super::*;
use crate::symbols::Frame;
use proptest::prelude::*;

fn frame(function: &str, file: &str, line: u32) -> Frame {
    Frame {
        function: function.into(),
        file: Some(file.into()),
        line: Some(line),
    }
}

/// Resolves the made-up addresses of these tests: 0x1001 is `alloc` inlined into `push`,
/// 0x2001 `app::handler::leaky`, 0x3001 `app::main_loop`, 0x4001 `app::handler::fine`,
/// anything else nothing.
fn known(ip: usize) -> Vec<Frame> {
    match ip {
        0x1001 => vec![
            frame("alloc::raw_vec::RawVec<T>::grow", "raw_vec.rs", 10),
            frame("alloc::vec::Vec<T>::push", "vec.rs", 20),
        ],
        0x2001 => vec![frame("app::handler::leaky", "src/handler.rs", 42)],
        0x3001 => vec![frame("app::main_loop", "src/main.rs", 7)],
        0x4001 => vec![frame("app::handler::fine", "src/handler.rs", 60)],
        _ => Vec::new(),
    }
}

fn mappings() -> Vec<Mapping> {
    let mut exe = Mapping::new(0x1000, 0x5000, 0x1000, "/srv/app");
    exe.build_id = Some("abcdef0123".into());
    vec![exe, Mapping::new(0x7000, 0x8000, 0, "/lib/libc.so.6")]
}

fn heap_profile(samples: &[(&[usize], HeapValues)]) -> Profile {
    let mut b = ProfileBuilder::heap(524_288)
        .mappings(mappings())
        .time(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            std::time::Duration::from_secs(30),
        )
        .comment("leakcheck test");
    for (stack, values) in samples {
        b.add_sample(
            stack,
            &values.values(),
            vec![Label::str("thread", "worker-1")],
        );
    }
    decode(&b.encode_with(&mut known)).unwrap()
}

#[test]
fn round_trip_keeps_types_values_times_and_expands_inlined_frames() {
    let p = heap_profile(&[(&[0x1001, 0x2001, 0x3001], HeapValues::live(1000, 2.5))]);
    assert_eq!(p.sample_types, heap_sample_types());
    assert_eq!(p.default_sample_type.as_deref(), Some("inuse_space"));
    assert_eq!(p.period_type, Some(ValueType::new("space", "bytes")));
    assert_eq!(p.period, 524_288);
    assert_eq!(p.time_nanos, 1_700_000_000_000_000_000);
    assert_eq!(p.duration_nanos, 30_000_000_000);
    assert_eq!(p.comments, ["leakcheck test"]);
    assert_eq!(p.default_index(), Some(3));

    let s = &p.samples[0];
    // inuse_objects 2.5 rounds to 3 (half away from zero), inuse_space 2500.
    assert_eq!(s.values, [0, 0, 3, 2500]);
    // Return addresses are written one back, inside the call.
    assert_eq!(s.addresses, [0x1000, 0x2000, 0x3000]);
    let names: Vec<&str> = s.frames.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(
        names,
        [
            "alloc::raw_vec::RawVec<T>::grow",
            "alloc::vec::Vec<T>::push",
            "app::handler::leaky",
            "app::main_loop"
        ]
    );
    assert_eq!(s.frames[2].file.as_deref(), Some("src/handler.rs"));
    assert_eq!(s.frames[2].line, Some(42));
}

#[test]
fn mappings_carry_build_ids_and_what_symbolization_found() {
    let p = heap_profile(&[
        (&[0x2001, 0x3001], HeapValues::live(8, 1.0)),
        (&[0x7001], HeapValues::live(8, 1.0)),
    ]);
    assert_eq!(p.mappings.len(), 2);
    let (exe, libc) = (&p.mappings[0], &p.mappings[1]);
    assert_eq!((exe.start, exe.limit, exe.offset), (0x1000, 0x5000, 0x1000));
    assert_eq!(exe.file, "/srv/app");
    assert_eq!(exe.build_id.as_deref(), Some("abcdef0123"));
    assert!(exe.has_functions && exe.has_filenames && exe.has_line_numbers);
    assert!(exe.has_inline_frames);
    // libc's one location resolved to nothing: pprof may symbolize that mapping itself.
    assert!(!libc.has_functions && !libc.has_line_numbers);
    assert_eq!(libc.build_id, None);
    assert_eq!(p.samples[1].frames[0].function, "0x7000");
}

#[test]
fn labels_round_trip_as_strings_and_numbers_with_units() {
    let mut b = ProfileBuilder::heap(1).mappings(Vec::new());
    let labels = vec![
        Label::str("thread", "worker-1"),
        Label::num("age", 90, "seconds"),
        Label::num("requests", 3, ""),
    ];
    b.add_sample(
        &[0x2001],
        &HeapValues::live(64, 1.0).values(),
        labels.clone(),
    );
    let p = decode(&b.encode_gzip()).unwrap();
    assert_eq!(p.samples[0].labels, labels);
    assert_eq!(p.samples[0].str_label("thread"), Some("worker-1"));
    assert_eq!(p.samples[0].num_label("age"), Some((90, Some("seconds"))));
    assert_eq!(p.samples[0].num_label("requests"), Some((3, None)));
}

/// The strings of an encoded profile's string table, in order.
fn string_table(raw: &[u8]) -> Vec<String> {
    let mut r = Reader::new(raw);
    let mut out = Vec::new();
    while let Some((field, value)) = r.field().unwrap() {
        if field == profile::STRING_TABLE {
            out.push(String::from_utf8(value.bytes().unwrap().to_vec()).unwrap());
        }
    }
    out
}

#[test]
fn the_string_table_starts_empty_and_holds_each_string_once() {
    let mut b = ProfileBuilder::heap(1).mappings(mappings());
    for _ in 0..3 {
        b.add_sample(
            &[0x2001, 0x3001],
            &HeapValues::live(8, 1.0).values(),
            vec![
                Label::str("thread", "main"),
                Label::num("age", 1, "seconds"),
            ],
        );
    }
    b.add_sample(
        &[0x4001, 0x3001],
        &HeapValues::live(8, 1.0).values(),
        vec![],
    );
    let raw = b.encode_with(&mut known);
    let table = string_table(&raw);
    assert_eq!(table[0], "");
    let mut sorted = table.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), table.len(), "{table:?}");
    // "src/handler.rs" is the file of two functions and the name of none: still one entry.
    assert_eq!(table.iter().filter(|s| *s == "src/handler.rs").count(), 1);
    // Three identical samples share their locations: 3 distinct addresses, 3 locations.
    let locations = {
        let mut r = Reader::new(&raw);
        let mut n = 0;
        while let Some((field, _)) = r.field().unwrap() {
            n += usize::from(field == profile::LOCATION);
        }
        n
    };
    assert_eq!(locations, 3);
}

#[test]
fn this_process_symbolizes_its_own_return_addresses() {
    #[inline(never)]
    fn grab_stack_here() -> Vec<usize> {
        let mut ips = Vec::new();
        backtrace::trace(|f| {
            ips.push(f.ip() as usize);
            true
        });
        std::hint::black_box(ips)
    }
    let stack = grab_stack_here();
    let mut b = ProfileBuilder::heap(1);
    b.add_sample(&stack, &HeapValues::live(100, 1.0).values(), vec![]);
    let p = decode(&b.encode_gzip()).unwrap();
    let frames = &p.samples[0].frames;
    let ours = frames
        .iter()
        .find(|f| f.function.ends_with("grab_stack_here"))
        .unwrap_or_else(|| panic!("{frames:#?}"));
    assert!(
        ours.file.as_deref().unwrap().ends_with("tests.rs"),
        "{ours:?}"
    );
    let exe = std::env::current_exe().unwrap();
    if cfg!(target_os = "linux") {
        assert_eq!(p.mappings[0].file, exe.display().to_string());
        assert!(p.mappings[0].build_id.is_some());
        assert!(p.mappings[0].has_functions);
    }
}

#[test]
fn zero_addresses_an_unwinder_leaves_at_the_end_are_not_locations() {
    let p = heap_profile(&[(&[0x2001, 0x3001, 0], HeapValues::live(8, 1.0))]);
    assert_eq!(p.samples[0].addresses, [0x2000, 0x3000]);
}

#[test]
#[should_panic(expected = "one value per sample type")]
fn a_sample_with_the_wrong_number_of_values_is_refused() {
    ProfileBuilder::heap(1).add_sample(&[1], &[1, 2], vec![]);
}

#[test]
fn damaged_profiles_are_errors_that_say_what_to_do() {
    let mut b = ProfileBuilder::heap(1).mappings(mappings());
    b.add_sample(
        &[0x2001, 0x3001],
        &HeapValues::live(8, 1.0).values(),
        vec![],
    );
    let raw = b.encode_with(&mut known);
    for cut in [1, raw.len() / 2, raw.len() - 1] {
        let e = decode(&raw[..cut]).unwrap_err();
        assert!(e.to_string().contains("give a profile.proto"), "{e}");
    }
    let gz = b.encode_gzip();
    assert!(decode(&gz[..gz.len() - 3]).is_err());
    let e = decode(b"{\"schema_version\": 3}").unwrap_err();
    assert!(
        e.to_string().starts_with("not a readable pprof profile"),
        "{e}"
    );
    // A sample that refers to a location the file does not have.
    let mut w = super::wire::Writer::default();
    w.message(profile::SAMPLE, |w| w.packed(1, [9]));
    w.string(profile::STRING_TABLE, b"");
    let e = decode(&w.buf).unwrap_err();
    assert!(e.problem.contains("location 9"), "{e}");
}

proptest! {
    #[test]
    fn no_input_makes_the_decoder_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn flipped_bytes_of_a_real_profile_are_read_or_refused(at in 0usize..10_000, bit in 0u8..8) {
        let mut b = ProfileBuilder::heap(1).mappings(mappings());
        b.add_sample(&[0x1001, 0x2001], &HeapValues::live(8, 1.0).values(), vec![Label::num("age", 5, "seconds")]);
        let mut raw = b.encode_with(&mut known);
        let at = at % raw.len();
        raw[at] ^= 1 << bit;
        let _ = decode(&raw);
    }
}

#[test]
fn top_ranks_user_sites_with_flat_and_cum() {
    let p = heap_profile(&[
        // leaky allocates through an inlined Vec::push: the site is leaky, not alloc.
        (&[0x1001, 0x2001, 0x3001], HeapValues::live(1000, 3.0)),
        (&[0x1001, 0x2001, 0x3001], HeapValues::live(1000, 1.0)),
        (&[0x4001, 0x3001], HeapValues::live(500, 1.0)),
        // main_loop allocating itself.
        (&[0x1001, 0x3001], HeapValues::live(10, 1.0)),
    ]);
    let t = top(&p, p.sample_index("inuse_space").unwrap());
    assert_eq!(
        (t.sample_type.as_str(), t.unit.as_str()),
        ("inuse_space", "bytes")
    );
    assert_eq!(t.total, 4510);
    let rows: Vec<(&str, i64, i64, usize)> = t
        .sites
        .iter()
        .map(|s| (s.site.frame.function.as_str(), s.flat, s.cum, s.samples))
        .collect();
    assert_eq!(
        rows,
        [
            ("app::handler::leaky", 4000, 4000, 2),
            ("app::handler::fine", 500, 500, 1),
            ("app::main_loop", 10, 4510, 1),
        ]
    );
    assert!(t.sites.iter().all(|s| s.site.user));
    assert_eq!(t.sites[0].site.frame.line, Some(42));
}

#[test]
fn diff_orders_sites_by_growth_and_matches_them_across_lines() {
    let base = heap_profile(&[
        (&[0x2001, 0x3001], HeapValues::live(1000, 1.0)),
        (&[0x4001, 0x3001], HeapValues::live(5000, 1.0)),
    ]);
    let head = heap_profile(&[
        (&[0x2001, 0x3001], HeapValues::live(1000, 9.0)),
        (&[0x4001, 0x3001], HeapValues::live(2000, 1.0)),
        (&[0x1001, 0x3001], HeapValues::live(300, 1.0)),
    ]);
    let i = base.sample_index("inuse_space").unwrap();
    let d = diff(&base, i, &head, i);
    let rows: Vec<(&str, i64, i64, i64)> = d
        .sites
        .iter()
        .map(|c| (c.site.frame.function.as_str(), c.base, c.head, c.delta))
        .collect();
    assert_eq!(
        rows,
        [
            ("app::handler::leaky", 1000, 9000, 8000),
            ("app::main_loop", 0, 300, 300),
            ("app::handler::fine", 5000, 2000, -3000),
        ]
    );
    assert_eq!((d.base_total, d.head_total), (6000, 11300));

    // The same function at another line (an edit above it) is the same site.
    let moved = [frame("app::handler::leaky", "src/handler.rs", 50)];
    let here = [frame("app::handler::leaky", "src/handler.rs", 42)];
    assert_eq!(site_of(&moved).fingerprint, site_of(&here).fingerprint);
}

#[test]
fn a_stack_without_symbols_is_its_innermost_address() {
    let p = heap_profile(&[(&[0x9001, 0x9101], HeapValues::live(64, 1.0))]);
    let t = top(&p, 3);
    assert_eq!(t.sites[0].site.frame.function, "0x9000");
    assert!(!t.sites[0].site.user);
}
