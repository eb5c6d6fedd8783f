//! Writing `profile.proto`: samples of return addresses in, one location per distinct address,
//! functions and lines from symbolization, mappings from `/proc/self/maps`, a deduplicated
//! string table.

use super::schema::{function, label, line, location, mapping, profile, sample, value_type};
use super::wire::Writer;
use super::{gzip, heap_sample_types, Label, LabelValue, Mapping, ValueType};
use crate::symbols::Frame;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// Builds a profile from samples of unresolved stacks, then encodes it.
///
/// Stacks are return addresses, innermost first, as `backtrace::trace` gives them. Each
/// distinct address becomes one location whose address is one less (inside the call
/// instruction, as Go's `runtime/pprof` writes it), resolved to its function, file and line,
/// and to several lines when calls were inlined there (innermost first, as profile.proto
/// wants). Symbolization happens in [`encode`](ProfileBuilder::encode), not while adding.
#[derive(Clone, Debug)]
pub struct ProfileBuilder {
    sample_types: Vec<ValueType>,
    default_sample_type: Option<String>,
    period_type: Option<ValueType>,
    period: i64,
    time_nanos: i64,
    duration_nanos: i64,
    comments: Vec<String>,
    mappings: Option<Vec<Mapping>>,
    samples: Vec<Input>,
}

#[derive(Clone, Debug)]
struct Input {
    stack: Vec<usize>,
    values: Vec<i64>,
    labels: Vec<Label>,
}

impl ProfileBuilder {
    /// A profile whose samples have one value per entry of `sample_types`.
    pub fn new(sample_types: Vec<ValueType>) -> Self {
        ProfileBuilder {
            sample_types,
            default_sample_type: None,
            period_type: None,
            period: 0,
            time_nanos: 0,
            duration_nanos: 0,
            comments: Vec::new(),
            mappings: None,
            samples: Vec::new(),
        }
    }

    /// A heap profile as Go writes one: [`heap_sample_types`], `inuse_space` shown by default,
    /// one sample every `period` bytes on average (period type `space`/`bytes`).
    pub fn heap(period: i64) -> Self {
        ProfileBuilder::new(heap_sample_types())
            .default_sample_type("inuse_space")
            .period(ValueType::new("space", "bytes"), period)
    }

    /// The sample type viewers show first (one of the sample types' names).
    pub fn default_sample_type(mut self, kind: impl Into<String>) -> Self {
        self.default_sample_type = Some(kind.into());
        self
    }

    /// What is counted between two samples, and how much of it.
    pub fn period(mut self, period_type: ValueType, period: i64) -> Self {
        self.period_type = Some(period_type);
        self.period = period;
        self
    }

    /// When the profile was taken and how long it covers (zero for a snapshot; the span of a
    /// delta profile).
    pub fn time(mut self, taken: SystemTime, duration: Duration) -> Self {
        self.time_nanos = taken
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        self.duration_nanos = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        self
    }

    /// A free-form comment (pprof shows comments in its header).
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comments.push(text.into());
        self
    }

    /// The mappings to write, instead of this process's (`/proc/self/maps`, read when the
    /// profile is encoded): for stacks of another process, or for tests.
    pub fn mappings(mut self, mappings: Vec<Mapping>) -> Self {
        self.mappings = Some(mappings);
        self
    }

    /// Adds a sample: a stack of return addresses (innermost first), one value per sample
    /// type, and labels. Zero addresses (the end mark some unwinders leave) are left out.
    ///
    /// # Panics
    /// When `values` does not have one value per sample type.
    pub fn add_sample(&mut self, stack: &[usize], values: &[i64], labels: Vec<Label>) {
        assert_eq!(
            values.len(),
            self.sample_types.len(),
            "a sample needs one value per sample type ({:?})",
            self.sample_types
        );
        self.samples.push(Input {
            stack: stack.iter().copied().filter(|&ip| ip != 0).collect(),
            values: values.to_vec(),
            labels,
        });
    }

    /// How many samples were added.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample was added.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The profile, gzipped: what `/debug/pprof/heap` serves and a stored `.pb.gz` holds.
    pub fn encode_gzip(&self) -> Vec<u8> {
        gzip::compress(&self.encode())
    }

    /// The profile gzipped, with each address resolved by `resolve` (see
    /// [`encode_with`](ProfileBuilder::encode_with)): for a caller that caches symbols.
    pub fn encode_gzip_with(&self, resolve: &mut dyn FnMut(usize) -> Vec<Frame>) -> Vec<u8> {
        gzip::compress(&self.encode_with(resolve))
    }

    /// The profile as protobuf, not compressed, symbolized by this process's debug info.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(&mut symbolize)
    }

    /// The profile as protobuf, not compressed, with each address resolved by `resolve` to its
    /// frames, innermost (inlined) first; an empty list leaves the location unsymbolized.
    pub fn encode_with(&self, resolve: &mut dyn FnMut(usize) -> Vec<Frame>) -> Vec<u8> {
        let mappings = match &self.mappings {
            Some(given) => given.clone(),
            None => super::mappings::current(),
        };
        let mut out = Encoder {
            strings: Strings::default(),
            functions: HashMap::new(),
            w: Writer::default(),
        };
        out.write(self, &mappings, resolve);
        out.w.buf
    }
}

/// The default resolver: [`crate::symbols::resolve`] of one address, without the `0x…`
/// placeholder it gives an address that resolves to nothing.
fn symbolize(ip: usize) -> Vec<Frame> {
    let mut frames = crate::symbols::resolve(&[ip]);
    super::drop_placeholders(&mut frames);
    frames
}

/// The string table: index 0 is `""`, each other string once.
#[derive(Default)]
struct Strings {
    index: HashMap<String, i64>,
    table: Vec<String>,
}

impl Strings {
    fn id(&mut self, s: &str) -> i64 {
        if self.table.is_empty() {
            self.table.push(String::new());
            self.index.insert(String::new(), 0);
        }
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.table.len() as i64;
        self.table.push(s.to_owned());
        self.index.insert(s.to_owned(), id);
        id
    }
}

/// What symbolization found for the locations of one mapping.
#[derive(Clone, Copy)]
struct Coverage {
    any: bool,
    functions: bool,
    filenames: bool,
    lines: bool,
}

struct Encoder {
    strings: Strings,
    /// (name, file) to function id.
    functions: HashMap<(String, String), u64>,
    w: Writer,
}

impl Encoder {
    fn write(
        &mut self,
        p: &ProfileBuilder,
        mappings: &[Mapping],
        resolve: &mut dyn FnMut(usize) -> Vec<Frame>,
    ) {
        self.strings.id("");
        for t in &p.sample_types {
            self.value_type(profile::SAMPLE_TYPE, t);
        }

        // Locations in order of first appearance; id = index + 1.
        let mut location_ids: HashMap<usize, u64> = HashMap::new();
        let mut addresses: Vec<usize> = Vec::new();
        for s in &p.samples {
            let mut ids = Vec::with_capacity(s.stack.len());
            for &ip in &s.stack {
                let id = *location_ids.entry(ip).or_insert_with(|| {
                    addresses.push(ip);
                    addresses.len() as u64
                });
                ids.push(id);
            }
            self.sample(&ids, s);
        }

        let mut by_start: Vec<usize> = (0..mappings.len()).collect();
        by_start.sort_by_key(|&i| mappings[i].start);
        let mut coverage = vec![
            Coverage {
                any: false,
                functions: true,
                filenames: true,
                lines: true,
            };
            mappings.len()
        ];
        for (i, &ip) in addresses.iter().enumerate() {
            // A return address follows the call: the call itself is one byte back.
            let address = (ip as u64).saturating_sub(1);
            let mapping = find_mapping(mappings, &by_start, address);
            let frames = resolve(ip);
            if let Some(m) = mapping {
                let c = &mut coverage[m];
                c.any = true;
                c.functions &= !frames.is_empty();
                c.filenames &= !frames.is_empty() && frames.iter().all(|f| f.file.is_some());
                c.lines &= !frames.is_empty() && frames.iter().all(|f| f.line.is_some());
            }
            self.location(
                i as u64 + 1,
                mapping.map(|m| m as u64 + 1),
                address,
                &frames,
            );
        }

        for (i, m) in mappings.iter().enumerate() {
            self.mapping(i as u64 + 1, m, coverage[i]);
        }

        for (id, t) in [
            (profile::TIME_NANOS, p.time_nanos),
            (profile::DURATION_NANOS, p.duration_nanos),
        ] {
            self.w.int(id, t);
        }
        if let Some(t) = &p.period_type {
            self.value_type(profile::PERIOD_TYPE, t);
        }
        self.w.int(profile::PERIOD, p.period);
        let comments: Vec<u64> = p
            .comments
            .iter()
            .map(|c| self.strings.id(c) as u64)
            .collect();
        self.w.packed(profile::COMMENT, comments);
        if let Some(kind) = &p.default_sample_type {
            let id = self.strings.id(kind);
            self.w.int(profile::DEFAULT_SAMPLE_TYPE, id);
        }
        // Last: every string is interned by now (field order is free in protobuf).
        for s in &self.strings.table {
            self.w.string(profile::STRING_TABLE, s.as_bytes());
        }
    }

    fn value_type(&mut self, field: u32, t: &ValueType) {
        let (kind, unit) = (self.strings.id(&t.kind), self.strings.id(&t.unit));
        self.w.message(field, |w| {
            w.int(value_type::TYPE, kind);
            w.int(value_type::UNIT, unit);
        });
    }

    fn sample(&mut self, location_ids: &[u64], s: &Input) {
        let labels: Vec<[i64; 4]> = s
            .labels
            .iter()
            .map(|l| {
                let key = self.strings.id(&l.key);
                match &l.value {
                    LabelValue::Str(v) => [key, self.strings.id(v), 0, 0],
                    LabelValue::Num { value, unit } => {
                        let unit = unit.as_deref().map_or(0, |u| self.strings.id(u));
                        [key, 0, *value, unit]
                    }
                }
            })
            .collect();
        self.w.message(profile::SAMPLE, |w| {
            w.packed(sample::LOCATION_ID, location_ids.iter().copied());
            w.packed(sample::VALUE, s.values.iter().map(|&v| v as u64));
            for [key, str, num, unit] in labels {
                w.message(sample::LABEL, |w| {
                    w.int(label::KEY, key);
                    w.int(label::STR, str);
                    w.int(label::NUM, num);
                    w.int(label::NUM_UNIT, unit);
                });
            }
        });
    }

    fn location(&mut self, id: u64, mapping_id: Option<u64>, address: u64, frames: &[Frame]) {
        let lines: Vec<(u64, i64)> = frames
            .iter()
            .map(|f| (self.function(f), f.line.map_or(0, i64::from)))
            .collect();
        self.w.message(profile::LOCATION, |w| {
            w.uint(location::ID, id);
            w.uint(location::MAPPING_ID, mapping_id.unwrap_or(0));
            w.uint(location::ADDRESS, address);
            for (function_id, number) in lines {
                w.message(location::LINE, |w| {
                    w.uint(line::FUNCTION_ID, function_id);
                    w.int(line::LINE, number);
                });
            }
        });
    }

    /// The id of `frame`'s function, written the first time it is seen.
    fn function(&mut self, frame: &Frame) -> u64 {
        let file = frame.file.clone().unwrap_or_default();
        let key = (frame.function.clone(), file);
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let name = self.strings.id(&key.0);
        let file = self.strings.id(&key.1);
        self.w.message(profile::FUNCTION, |w| {
            w.uint(function::ID, id);
            w.int(function::NAME, name);
            // The symbolizer gives demangled names only: the system name is the same.
            w.int(function::SYSTEM_NAME, name);
            w.int(function::FILENAME, file);
        });
        self.functions.insert(key, id);
        id
    }

    fn mapping(&mut self, id: u64, m: &Mapping, c: Coverage) {
        let file = self.strings.id(&m.file);
        let build_id = m.build_id.as_deref().map_or(0, |b| self.strings.id(b));
        let symbolized = c.any && c.functions;
        self.w.message(profile::MAPPING, |w| {
            w.uint(mapping::ID, id);
            w.uint(mapping::MEMORY_START, m.start);
            w.uint(mapping::MEMORY_LIMIT, m.limit);
            w.uint(mapping::FILE_OFFSET, m.offset);
            w.int(mapping::FILENAME, file);
            w.int(mapping::BUILD_ID, build_id);
            w.bool(mapping::HAS_FUNCTIONS, symbolized);
            w.bool(mapping::HAS_FILENAMES, symbolized && c.filenames);
            w.bool(mapping::HAS_LINE_NUMBERS, symbolized && c.lines);
            // The symbolizer expands inlined calls into several lines of one location.
            w.bool(mapping::HAS_INLINE_FRAMES, symbolized);
        });
    }
}

/// The index of the mapping that holds `address`; `by_start` orders the mappings by start.
fn find_mapping(mappings: &[Mapping], by_start: &[usize], address: u64) -> Option<usize> {
    let after = by_start.partition_point(|&i| mappings[i].start <= address);
    let i = *by_start.get(after.checked_sub(1)?)?;
    (address < mappings[i].limit).then_some(i)
}
