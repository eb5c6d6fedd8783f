//! Reading `profile.proto` (gzipped or not) back into a [`Profile`]: every reference (string
//! index, location, function, mapping id) is checked, so a damaged file is an error here, not
//! a wrong figure later.

use super::schema::{function, label, line, location, mapping, profile, sample, value_type};
use super::wire::{Reader, Value};
use super::{gzip, Label, LabelValue, Mapping, Profile, Sample, ValueType};
use crate::symbols::Frame;
use std::collections::HashMap;
use std::fmt;

/// Why bytes are not a readable profile. The message says what to do; the caller adds the file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeError {
    /// What is wrong, e.g. "the data ends inside a number".
    pub problem: String,
}

impl DecodeError {
    fn new(problem: impl Into<String>) -> Self {
        DecodeError {
            problem: problem.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a readable pprof profile ({}); give a profile.proto, gzipped or not, as \
             /debug/pprof/heap serves it or the monitor stores it, or fetch it again if it was \
             cut short",
            self.problem
        )
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a `profile.proto`, gzipped (as served and stored) or not.
pub fn decode(data: &[u8]) -> Result<Profile, DecodeError> {
    if gzip::is_gzip(data) {
        let raw = gzip::decompress(data).map_err(DecodeError::new)?;
        return decode_raw(&raw);
    }
    decode_raw(data)
}

/// What the top-level message holds before references are resolved.
#[derive(Default)]
struct Raw<'a> {
    sample_types: Vec<&'a [u8]>,
    samples: Vec<&'a [u8]>,
    mappings: Vec<&'a [u8]>,
    locations: Vec<&'a [u8]>,
    functions: Vec<&'a [u8]>,
    strings: Vec<String>,
    time_nanos: i64,
    duration_nanos: i64,
    period_type: Option<&'a [u8]>,
    period: i64,
    comments: Vec<u64>,
    default_sample_type: i64,
}

fn decode_raw(data: &[u8]) -> Result<Profile, DecodeError> {
    let mut raw = Raw::default();
    let mut r = Reader::new(data);
    loop {
        let at = r.offset();
        let problem = |p: &str| DecodeError::new(format!("{p}, at byte {at}"));
        let Some((field, value)) = r.field().map_err(problem)? else {
            break;
        };
        let bytes = || value.bytes().map_err(problem);
        let int = || value.uint().map(|v| v as i64).map_err(problem);
        match field {
            profile::SAMPLE_TYPE => raw.sample_types.push(bytes()?),
            profile::SAMPLE => raw.samples.push(bytes()?),
            profile::MAPPING => raw.mappings.push(bytes()?),
            profile::LOCATION => raw.locations.push(bytes()?),
            profile::FUNCTION => raw.functions.push(bytes()?),
            profile::STRING_TABLE => raw.strings.push(
                String::from_utf8(bytes()?.to_vec())
                    .map_err(|_| problem("a string is not UTF-8"))?,
            ),
            profile::TIME_NANOS => raw.time_nanos = int()?,
            profile::DURATION_NANOS => raw.duration_nanos = int()?,
            profile::PERIOD_TYPE => raw.period_type = Some(bytes()?),
            profile::PERIOD => raw.period = int()?,
            profile::COMMENT => value.push_uints(&mut raw.comments).map_err(problem)?,
            profile::DEFAULT_SAMPLE_TYPE => raw.default_sample_type = int()?,
            _ => {} // drop_frames, keep_frames, newer fields: not needed here
        }
    }
    if raw.strings.first().is_none_or(|s| !s.is_empty()) {
        return Err(DecodeError::new(
            "its string table does not start with the empty string",
        ));
    }
    Resolver::new(&raw)?.profile(&raw)
}

/// Looks references up while building the [`Profile`].
struct Resolver<'s> {
    strings: &'s [String],
    /// Function id to (name, file).
    functions: HashMap<u64, (String, Option<String>)>,
    /// Location id to (address, frames).
    locations: HashMap<u64, (u64, Vec<Frame>)>,
}

/// The fields of one message, each field's values in order.
fn fields<'a>(bytes: &'a [u8], what: &str) -> Result<Vec<(u32, Value<'a>)>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while let Some(f) = r
        .field()
        .map_err(|p| DecodeError::new(format!("{p}, in a {what}")))?
    {
        out.push(f);
    }
    Ok(out)
}

fn uint(v: Value<'_>, what: &str) -> Result<u64, DecodeError> {
    v.uint()
        .map_err(|p| DecodeError::new(format!("{p}, in a {what}")))
}

impl<'s> Resolver<'s> {
    fn new(raw: &'s Raw<'_>) -> Result<Self, DecodeError> {
        let mut r = Resolver {
            strings: &raw.strings,
            functions: HashMap::new(),
            locations: HashMap::new(),
        };
        for bytes in &raw.functions {
            let (mut id, mut name, mut file) = (0, 0, 0);
            for (field, v) in fields(bytes, "function")? {
                match field {
                    function::ID => id = uint(v, "function")?,
                    function::NAME => name = uint(v, "function")?,
                    function::FILENAME => file = uint(v, "function")?,
                    _ => {}
                }
            }
            let name = r.string(name)?.to_owned();
            let file = Some(r.string(file)?.to_owned()).filter(|f| !f.is_empty());
            r.functions.insert(id, (name, file));
        }
        for bytes in &raw.locations {
            let (mut id, mut address, mut lines) = (0, 0, Vec::new());
            for (field, v) in fields(bytes, "location")? {
                match field {
                    location::ID => id = uint(v, "location")?,
                    location::ADDRESS => address = uint(v, "location")?,
                    location::LINE => lines.push(r.line(v)?),
                    _ => {}
                }
            }
            if lines.is_empty() {
                lines.push(Frame {
                    function: format!("{address:#x}"),
                    file: None,
                    line: None,
                });
            }
            if id == 0 || r.locations.insert(id, (address, lines)).is_some() {
                return Err(DecodeError::new(format!(
                    "location id {id} is zero or used twice"
                )));
            }
        }
        Ok(r)
    }

    fn string(&self, index: u64) -> Result<&'s str, DecodeError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.strings.get(i))
            .map(String::as_str)
            .ok_or_else(|| {
                DecodeError::new(format!(
                    "string index {index} is past the string table ({} strings)",
                    self.strings.len()
                ))
            })
    }

    fn line(&self, v: Value<'_>) -> Result<Frame, DecodeError> {
        let bytes = v
            .bytes()
            .map_err(|p| DecodeError::new(format!("{p}, in a line")))?;
        let (mut function_id, mut number) = (0, 0u64);
        for (field, v) in fields(bytes, "line")? {
            match field {
                line::FUNCTION_ID => function_id = uint(v, "line")?,
                line::LINE => number = uint(v, "line")?,
                _ => {}
            }
        }
        let (name, file) = self.functions.get(&function_id).ok_or_else(|| {
            DecodeError::new(format!(
                "a line refers to function {function_id}, which is missing"
            ))
        })?;
        Ok(Frame {
            function: name.clone(),
            file: file.clone(),
            line: u32::try_from(number as i64).ok().filter(|&l| l > 0),
        })
    }

    fn value_type(&self, bytes: &[u8]) -> Result<ValueType, DecodeError> {
        let (mut kind, mut unit) = (0, 0);
        for (field, v) in fields(bytes, "sample type")? {
            match field {
                value_type::TYPE => kind = uint(v, "sample type")?,
                value_type::UNIT => unit = uint(v, "sample type")?,
                _ => {}
            }
        }
        Ok(ValueType::new(self.string(kind)?, self.string(unit)?))
    }

    fn profile(&self, raw: &Raw<'_>) -> Result<Profile, DecodeError> {
        let sample_types = raw
            .sample_types
            .iter()
            .map(|b| self.value_type(b))
            .collect::<Result<Vec<_>, _>>()?;
        let samples = raw
            .samples
            .iter()
            .map(|b| self.sample(b, sample_types.len()))
            .collect::<Result<Vec<_>, _>>()?;
        let mappings = raw
            .mappings
            .iter()
            .map(|b| self.mapping(b))
            .collect::<Result<Vec<_>, _>>()?;
        let comments = raw
            .comments
            .iter()
            .map(|&i| self.string(i).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        let default = self.string(raw.default_sample_type as u64)?;
        Ok(Profile {
            sample_types,
            default_sample_type: Some(default.to_owned()).filter(|d| !d.is_empty()),
            period_type: raw.period_type.map(|b| self.value_type(b)).transpose()?,
            period: raw.period,
            time_nanos: raw.time_nanos,
            duration_nanos: raw.duration_nanos,
            comments,
            samples,
            mappings,
        })
    }

    fn sample(&self, bytes: &[u8], types: usize) -> Result<Sample, DecodeError> {
        let (mut ids, mut values, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        let err = |p: &str| DecodeError::new(format!("{p}, in a sample"));
        for (field, v) in fields(bytes, "sample")? {
            match field {
                sample::LOCATION_ID => v.push_uints(&mut ids).map_err(err)?,
                sample::VALUE => v.push_uints(&mut values).map_err(err)?,
                sample::LABEL => labels.push(self.label(v.bytes().map_err(err)?)?),
                _ => {}
            }
        }
        if values.len() != types {
            return Err(DecodeError::new(format!(
                "a sample has {} values for {types} sample types",
                values.len()
            )));
        }
        let mut s = Sample {
            values: values.into_iter().map(|v| v as i64).collect(),
            labels,
            ..Sample::default()
        };
        for id in ids {
            let (address, frames) = self.locations.get(&id).ok_or_else(|| {
                DecodeError::new(format!(
                    "a sample refers to location {id}, which is missing"
                ))
            })?;
            s.addresses.push(*address);
            s.frames.extend(frames.iter().cloned());
        }
        Ok(s)
    }

    fn label(&self, bytes: &[u8]) -> Result<Label, DecodeError> {
        let (mut key, mut str, mut num, mut unit) = (0, 0, 0, 0);
        for (field, v) in fields(bytes, "label")? {
            match field {
                label::KEY => key = uint(v, "label")?,
                label::STR => str = uint(v, "label")?,
                label::NUM => num = uint(v, "label")?,
                label::NUM_UNIT => unit = uint(v, "label")?,
                _ => {}
            }
        }
        let key = self.string(key)?.to_owned();
        // A label is a string when it has one; a number otherwise (profile.proto: one of them).
        let value = if str != 0 {
            LabelValue::Str(self.string(str)?.to_owned())
        } else {
            LabelValue::Num {
                value: num as i64,
                unit: Some(self.string(unit)?.to_owned()).filter(|u| !u.is_empty()),
            }
        };
        Ok(Label { key, value })
    }

    fn mapping(&self, bytes: &[u8]) -> Result<Mapping, DecodeError> {
        let mut m = Mapping::default();
        let (mut file, mut build_id) = (0, 0);
        for (field, v) in fields(bytes, "mapping")? {
            let n = uint(v, "mapping")?;
            match field {
                mapping::MEMORY_START => m.start = n,
                mapping::MEMORY_LIMIT => m.limit = n,
                mapping::FILE_OFFSET => m.offset = n,
                mapping::FILENAME => file = n,
                mapping::BUILD_ID => build_id = n,
                mapping::HAS_FUNCTIONS => m.has_functions = n != 0,
                mapping::HAS_FILENAMES => m.has_filenames = n != 0,
                mapping::HAS_LINE_NUMBERS => m.has_line_numbers = n != 0,
                mapping::HAS_INLINE_FRAMES => m.has_inline_frames = n != 0,
                _ => {}
            }
        }
        m.file = self.string(file)?.to_owned();
        m.build_id = Some(self.string(build_id)?.to_owned()).filter(|b| !b.is_empty());
        Ok(m)
    }
}
