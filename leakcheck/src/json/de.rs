//! Reading JSON text into a [`Value`] tree (RFC 8259, as strict as `serde_json`).

use super::value::{Number, Value};
use super::{Error, DEPTH_LIMIT};
use std::borrow::Cow;

pub(super) fn parse(text: &str) -> Result<Value<'_>> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos < parser.bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

/// A syntax error at byte `pos` of `bytes`. Its line and column (in bytes, from 1) are those of
/// the offending byte as `serde_json` counts them, after reading it: a raw newline in a string
/// is at column 0 of the next line; the end of the text is at its last byte.
pub(super) fn syntax_error(bytes: &[u8], pos: usize, message: String) -> Error {
    let read = &bytes[..(pos + 1).min(bytes.len())];
    let line = 1 + read.iter().filter(|&&b| b == b'\n').count();
    let line_start = read.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Error::new(message, Some((line, read.len() - line_start)))
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Arrays and objects open around `pos`.
    depth: usize,
}

type Result<T> = std::result::Result<T, Error>;

impl<'a> Parser<'a> {
    fn error(&self, message: &str) -> Error {
        syntax_error(self.bytes, self.pos, message.to_owned())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Value<'a>> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => {
                self.pos += 1;
                self.string().map(Value::String)
            }
            Some(b'[') => self.array(),
            Some(b'{') => self.object(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>> {
        for expected in word.bytes() {
            match self.peek() {
                Some(b) if b == expected => self.pos += 1,
                None => return Err(self.error("EOF while parsing a value")),
                Some(_) => return Err(self.error("expected ident")),
            }
        }
        Ok(value)
    }

    /// Enters an array or object (at its bracket), refusing to nest deeper than the limit.
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth >= DEPTH_LIMIT {
            return Err(self.error("recursion limit exceeded"));
        }
        self.pos += 1;
        self.skip_whitespace();
        Ok(())
    }

    fn array(&mut self) -> Result<Value<'a>> {
        self.enter()?;
        let mut items = Vec::new();
        if self.peek() != Some(b']') {
            loop {
                items.push(self.value()?);
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => break,
                    None => return Err(self.error("EOF while parsing a list")),
                    Some(_) => return Err(self.error("expected `,` or `]`")),
                }
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> Result<Value<'a>> {
        self.enter()?;
        let mut entries = Vec::new();
        if self.peek() != Some(b'}') {
            loop {
                self.skip_whitespace();
                match self.peek() {
                    Some(b'"') => self.pos += 1,
                    None => return Err(self.error("EOF while parsing an object")),
                    Some(_) => return Err(self.error("key must be a string")),
                }
                let key = self.string()?;
                self.skip_whitespace();
                match self.peek() {
                    Some(b':') => self.pos += 1,
                    None => return Err(self.error("EOF while parsing an object")),
                    Some(_) => return Err(self.error("expected `:`")),
                }
                entries.push((key, self.value()?));
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => break,
                    None => return Err(self.error("EOF while parsing an object")),
                    Some(_) => return Err(self.error("expected `,` or `}`")),
                }
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(Value::Object(entries))
    }

    fn digits(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'0'..=b'9') => {}
            None => return Err(self.error("EOF while parsing a value")),
            Some(_) => return Err(self.error("invalid number")),
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        Ok(())
    }

    fn number(&mut self) -> Result<Value<'a>> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else {
            self.digits()?;
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.digits()?;
        }
        // ASCII digits and signs only, so on character boundaries.
        let text = &self.text[start..self.pos];
        if integer {
            // As `serde_json`: integers as u64 or i64 when they fit, otherwise as floats.
            if negative {
                match text.parse::<i64>() {
                    // `-0` keeps its sign, as a float.
                    Ok(0) => return Ok(Value::Number(Number::F64(-0.0))),
                    Ok(n) => return Ok(Value::Number(Number::I64(n))),
                    Err(_) => {}
                }
            } else if let Ok(n) = text.parse::<u64>() {
                return Ok(Value::Number(Number::U64(n)));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Number(Number::F64(f))),
            // At its last digit, as `serde_json` reports it.
            _ => Err(syntax_error(
                self.bytes,
                self.pos - 1,
                "number out of range".to_owned(),
            )),
        }
    }

    /// The rest of a string whose opening quote has been read: borrowed from the text unless
    /// it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        let mut out = Cow::Borrowed("");
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Stopped at an ASCII byte or the end: on character boundaries.
            let run = &self.text[start..self.pos];
            match &mut out {
                Cow::Borrowed("") => out = Cow::Borrowed(run),
                out => out.to_mut().push_str(run),
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.escape()?;
                    out.to_mut().push(c);
                }
                Some(_) => {
                    return Err(self
                        .error("control character (\\u0000-\\u001F) found while parsing a string"))
                }
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
    }

    /// The character of an escape whose backslash has been read.
    fn escape(&mut self) -> Result<char> {
        let Some(b) = self.peek() else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => {
                self.pos -= 1;
                return Err(self.error("invalid escape"));
            }
        })
    }

    fn unicode_escape(&mut self) -> Result<char> {
        // Errors are at the last hex digit read, as `serde_json` reports them.
        let at_digit =
            |p: &Self, message: &str| syntax_error(p.bytes, p.pos - 1, message.to_owned());
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                // A high surrogate: the low one must follow as another `\u` escape.
                for expected in [b'\\', b'u'] {
                    match self.peek() {
                        Some(b) if b == expected => self.pos += 1,
                        Some(_) => return Err(self.error("lone leading surrogate in hex escape")),
                        None => return Err(self.error("EOF while parsing a string")),
                    }
                }
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(at_digit(self, "lone leading surrogate in hex escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(at_digit(self, "lone trailing surrogate in hex escape")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| at_digit(self, "invalid unicode code point"))
    }

    /// Four hex digits; like `serde_json`, all four are read before any is judged.
    fn hex4(&mut self) -> Result<u32> {
        let Some(digits) = self.bytes.get(self.pos..self.pos + 4) else {
            self.pos = self.bytes.len();
            return Err(self.error("EOF while parsing a string"));
        };
        self.pos += 4;
        let mut code = 0;
        for &b in digits {
            match (b as char).to_digit(16) {
                Some(digit) => code = code * 16 + digit,
                None => {
                    return Err(syntax_error(
                        self.bytes,
                        self.pos - 1,
                        "invalid escape".to_owned(),
                    ))
                }
            }
        }
        Ok(code)
    }
}
