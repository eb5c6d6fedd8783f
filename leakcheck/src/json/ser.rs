//! Writing JSON: a serde `Serializer` into a `String`, compact or indented like `serde_json`.

use super::Error;
use serde::ser::{self, Serialize};
use std::fmt::Write;

pub(super) fn to_string<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Result<String, Error> {
    let mut ser = Serializer {
        out: String::with_capacity(256),
        pretty,
        depth: 0,
    };
    value.serialize(&mut ser)?;
    Ok(ser.out)
}

struct Serializer {
    out: String,
    pretty: bool,
    /// Open arrays and objects, for the indent.
    depth: usize,
}

impl Serializer {
    /// Starts a line at the current indent (pretty output only).
    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("  ");
            }
        }
    }

    fn open(&mut self, open: char, close: char, variant: Option<&str>) -> Compound<'_> {
        if let Some(variant) = variant {
            // Externally tagged: `{"Variant": <content>}`.
            self.out.push('{');
            self.depth += 1;
            self.newline();
            self.key(variant);
        }
        self.out.push(open);
        self.depth += 1;
        Compound {
            ser: self,
            first: true,
            close,
            variant: variant.is_some(),
        }
    }

    fn key(&mut self, key: &str) {
        write_str(&mut self.out, key);
        self.out.push_str(if self.pretty { ": " } else { ":" });
    }

    fn display(&mut self, value: impl std::fmt::Display) {
        // Writing to a String cannot fail.
        let _ = write!(self.out, "{value}");
    }

    fn float(&mut self, value: f64, debug: impl std::fmt::Debug) {
        if value.is_finite() {
            // `{:?}` is the shortest text that reads back as the same float, with `.0` on whole
            // numbers and an exponent for very large or small ones: valid JSON either way.
            let _ = write!(self.out, "{debug:?}");
        } else {
            self.out.push_str("null");
        }
    }
}

/// Writes `s` as a JSON string, escaped as `serde_json` does.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on character boundaries.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// An array or object being written.
struct Compound<'a> {
    ser: &'a mut Serializer,
    first: bool,
    close: char,
    /// Inside a `{"Variant": …}` that closes with it.
    variant: bool,
}

impl Compound<'_> {
    fn element(&mut self) {
        if !self.first {
            self.ser.out.push(',');
        }
        self.first = false;
        self.ser.newline();
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element();
        value.serialize(&mut *self.ser)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.element();
        self.ser.key(key);
        value.serialize(&mut *self.ser)
    }

    fn close(self) -> Result<(), Error> {
        let ser = self.ser;
        ser.depth -= 1;
        if !self.first {
            ser.newline();
        }
        ser.out.push(self.close);
        if self.variant {
            ser.depth -= 1;
            ser.newline();
            ser.out.push('}');
        }
        Ok(())
    }
}

/// Integers are written in decimal, as `serde_json` does.
macro_rules! integers {
    ($($method:ident: $type:ty,)*) => {$(
        fn $method(self, v: $type) -> Result<(), Error> {
            self.display(v);
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for &'a mut Serializer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    integers! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v.into(), v);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(&mut self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // As `serde_json`: an array of numbers.
        ser::Serializer::collect_seq(self, v)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let mut object = self.open('{', '}', None);
        object.field(variant, value)?;
        object.close()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open('[', ']', None))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(self.open('[', ']', None))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open('[', ']', None))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open('[', ']', Some(variant)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open('{', '}', None))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(self.open('{', '}', None))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open('{', '}', Some(variant)))
    }
}

/// The sequences: each element is a value.
macro_rules! sequence {
    ($($trait:ident::$method:ident,)*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.value(value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}

sequence! {
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // A key is written like a value, then must be a string; numbers are quoted, as
        // `serde_json` does for integer keys.
        let key = to_string(key, false)?;
        let quote = match key.as_bytes().first() {
            Some(b'"') => false,
            Some(b'-' | b'0'..=b'9') => true,
            _ => return Err(Error::data("key must be a string")),
        };
        self.element();
        let out = &mut self.ser.out;
        if quote {
            out.push('"');
        }
        out.push_str(&key);
        if quote {
            out.push('"');
        }
        out.push_str(if self.ser.pretty { ": " } else { ":" });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// The structs: each field is an entry.
macro_rules! structure {
    ($($trait:ident,)*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}

structure! {
    SerializeStruct,
    SerializeStructVariant,
}
