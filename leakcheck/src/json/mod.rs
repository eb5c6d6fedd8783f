//! The JSON of records, reports and child results: a small serde data format of our own.
//!
//! Why not `serde_json`: it implements `PartialEq<serde_json::Value>` for `u8`, `i32`, `str`,
//! `String`… and every crate that depends on leakcheck (the users' test crates) would see those
//! impls, so ordinary comparisons such as `assert_eq!(&v[..], &[])` stop inferring their types
//! (E0282/E0283). Our [`Value`] implements no comparison with a primitive.
//!
//! Writing follows `serde_json`'s output (its pretty printer's 2-space indent, externally tagged
//! enums, `null` for `None` and non-finite floats). Reading parses the text into a [`Value`]
//! tree, fewer than [`DEPTH_LIMIT`] arrays and objects deep, then deserializes from it.

mod de;
mod ser;
mod value;

pub(crate) use value::Value;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// Arrays and objects may nest fewer than this many deep when reading (as in `serde_json`):
/// deeper input is an error rather than a stack overflow.
pub(crate) const DEPTH_LIMIT: usize = 128;

/// The JSON text of `value`, indented by two spaces.
pub(crate) fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    ser::to_string(value, true)
}

/// The JSON text of `value` on one line, as bytes.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    ser::to_string(value, false).map(String::into_bytes)
}

/// Parses JSON text into a [`Value`].
pub(crate) fn parse(text: &str) -> Result<Value<'_>, Error> {
    de::parse(text)
}

/// Deserializes a `T` from a parsed [`Value`].
pub(crate) fn from_value<T: DeserializeOwned>(value: Value<'_>) -> Result<T, Error> {
    T::deserialize(value)
}

/// Deserializes a `T` from JSON text.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    from_value(parse(text)?)
}

/// Deserializes a `T` from JSON bytes, which must be UTF-8.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => from_str(text),
        Err(e) => Err(de::syntax_error(
            bytes,
            e.valid_up_to(),
            "invalid UTF-8".to_owned(),
        )),
    }
}

/// JSON that leakcheck could not read or write: text that is not JSON (with the line and column
/// where reading stopped), or JSON of the wrong shape (with what does not fit).
#[derive(Debug)]
#[non_exhaustive]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    message: String,
    /// Line and column (both from 1) of a syntax error.
    position: Option<(usize, usize)>,
}

impl Error {
    fn new(message: String, position: Option<(usize, usize)>) -> Error {
        Error {
            inner: Box::new(Inner { message, position }),
        }
    }

    /// An error in the data rather than the text, e.g. a missing field.
    fn data(message: impl fmt::Display) -> Error {
        Error::new(message.to_string(), None)
    }

    /// The line (from 1) where the text stops being JSON; `None` for an error in the data.
    pub fn line(&self) -> Option<usize> {
        self.inner.position.map(|(line, _)| line)
    }

    /// The column (in bytes, from 1) where the text stops being JSON; `None` for an error in
    /// the data.
    pub fn column(&self) -> Option<usize> {
        self.inner.position.map(|(_, column)| column)
    }

    /// True when the text is not JSON (rather than JSON of the wrong shape).
    pub fn is_syntax(&self) -> bool {
        self.inner.position.is_some()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        match self.inner.position {
            Some((line, column)) => write!(f, " at line {line} column {column}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::data(message)
    }
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::data(message)
    }
}

#[cfg(test)]
mod tests;
