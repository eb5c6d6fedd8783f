//! The protobuf wire format, as much of it as `profile.proto` uses: varints (wire type 0),
//! length-delimited fields (wire type 2, for strings, nested messages and packed repeated
//! integers). Written by hand: about 150 lines against `prost`, whose derive macro would put
//! `syn` and `quote` into every service that embeds the monitor.

/// Wire type of a varint field.
const VARINT: u8 = 0;
/// Wire type of a 64-bit fixed field (skipped when read: profile.proto has none).
const FIXED64: u8 = 1;
/// Wire type of a length-delimited field.
const LEN: u8 = 2;
/// Wire type of a 32-bit fixed field (skipped when read).
const FIXED32: u8 = 5;

/// Appends protobuf fields to a buffer. proto3 leaves fields at their default value out, and
/// so does this writer, except for [`Writer::string`] (a string table keeps its empty entries).
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    /// A `uint64` field; left out when 0.
    pub(crate) fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, VARINT);
            self.varint(v);
        }
    }

    /// An `int64` field: negative values take ten bytes, as protobuf's two's complement does.
    pub(crate) fn int(&mut self, field: u32, v: i64) {
        self.uint(field, v as u64);
    }

    /// A `bool` field; left out when false.
    pub(crate) fn bool(&mut self, field: u32, v: bool) {
        self.uint(field, u64::from(v));
    }

    /// A `string` or `bytes` field, written even when empty.
    pub(crate) fn string(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, LEN);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    /// A packed repeated integer field; left out when empty.
    pub(crate) fn packed(&mut self, field: u32, values: impl IntoIterator<Item = u64>) {
        let mut inner = Writer::default();
        for v in values {
            inner.varint(v);
        }
        if !inner.buf.is_empty() {
            self.string(field, &inner.buf);
        }
    }

    /// A nested message, written by `body`.
    pub(crate) fn message(&mut self, field: u32, body: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        body(&mut inner);
        self.string(field, &inner.buf);
    }
}

/// A field's value as read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    /// A varint.
    Varint(u64),
    /// A length-delimited payload.
    Bytes(&'a [u8]),
    /// A fixed 32- or 64-bit value (not used by profile.proto; kept so it can be skipped).
    Fixed,
}

impl<'a> Value<'a> {
    /// The value as an integer; a packed or fixed field where one is expected is an error.
    pub(crate) fn uint(self) -> Result<u64, &'static str> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err("an integer field has the wire type of another kind"),
        }
    }

    /// The value as bytes (a string or a nested message).
    pub(crate) fn bytes(self) -> Result<&'a [u8], &'static str> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err("a string or message field has the wire type of an integer"),
        }
    }

    /// Appends the integers of a repeated integer field, packed or not.
    pub(crate) fn push_uints(self, out: &mut Vec<u64>) -> Result<(), &'static str> {
        match self {
            Value::Varint(v) => out.push(v),
            Value::Bytes(b) => {
                let mut r = Reader::new(b);
                while !r.at_end() {
                    out.push(r.varint()?);
                }
            }
            Value::Fixed => return Err("a repeated integer field has a fixed wire type"),
        }
        Ok(())
    }
}

/// Reads the fields of one message in turn.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes read so far (for error messages of the outermost message).
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("the data ends inside a number");
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number is longer than ten bytes")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or("a field is longer than the data left")?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next field number and value, `None` at the end of the message.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, &'static str> {
        if self.at_end() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| "a field number is out of range")?;
        if field == 0 {
            return Err("a field has number 0");
        }
        let value = match (key & 7) as u8 {
            VARINT => Value::Varint(self.varint()?),
            LEN => {
                let n = usize::try_from(self.varint()?).map_err(|_| "a length is out of range")?;
                Value::Bytes(self.take(n)?)
            }
            FIXED64 => {
                self.take(8)?;
                Value::Fixed
            }
            FIXED32 => {
                self.take(4)?;
                Value::Fixed
            }
            _ => return Err("a field has an unknown wire type"),
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_including_negative_int64() {
        let mut w = Writer::default();
        for (field, v) in [(1, 1u64), (2, 300), (3, u64::MAX), (4, (-5i64) as u64)] {
            w.uint(field, v);
        }
        w.uint(5, 0); // default: left out
                      // 300 is the protobuf documentation's example: 0xac 0x02.
        assert_eq!(&w.buf[2..5], &[0x10, 0xac, 0x02]);
        let mut r = Reader::new(&w.buf);
        let mut got = Vec::new();
        while let Some((field, value)) = r.field().unwrap() {
            got.push((field, value.uint().unwrap()));
        }
        assert_eq!(got, [(1, 1), (2, 300), (3, u64::MAX), (4, (-5i64) as u64)]);
    }

    #[test]
    fn packed_and_unpacked_repeated_fields_read_alike() {
        let mut packed = Writer::default();
        packed.packed(1, [1, 2, 300]);
        let mut plain = Writer::default();
        for v in [1, 2, 300] {
            plain.uint(1, v);
        }
        for buf in [&packed.buf, &plain.buf] {
            let mut r = Reader::new(buf);
            let mut out = Vec::new();
            while let Some((_, value)) = r.field().unwrap() {
                value.push_uints(&mut out).unwrap();
            }
            assert_eq!(out, [1, 2, 300]);
        }
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut w = Writer::default();
        w.string(6, b"inuse_space");
        for cut in 0..w.buf.len() {
            let mut r = Reader::new(&w.buf[..cut]);
            let result = r.field();
            assert!(cut == 0 || result.is_err(), "cut at {cut}: {result:?}");
        }
        assert!(Reader::new(&[0xff; 11]).field().is_err());
    }
}
