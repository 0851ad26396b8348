//! Pretty JSON with exactly the bytes of `serde_json::to_writer_pretty`, for
//! any `Serialize` value, written faster: a report lists thousands of flows,
//! and serde_json's writer pays several small writes and a byte-by-byte
//! escape scan for every field name. Here a field costs one indentation
//! copy and a word-wise escape scan of its value (its name is scanned once
//! per name), into a buffer that is handed on in large chunks.
//!
//! The layout mirrors serde_json's `Serializer` with its `PrettyFormatter`
//! (two-space indent) call for call, including its one `has_value` flag for
//! every nesting level. Floats, and strings that need escaping, are still
//! written by serde_json itself.

use serde::ser::{self, Error as _, Serialize};
use std::io;

type Error = serde_json::Error;
type Result<T = ()> = std::result::Result<T, Error>;

/// Buffered bytes handed to the sink once there are this many.
const FLUSH_AT: usize = 1 << 16;

/// A newline, then indentation for the shallow levels (two spaces each).
const NEWLINE_INDENT: &[u8] =
    b",\n                                                                ";

/// "00" to "99": integers are written two digits at a time.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Serialize `value` as pretty JSON into `out`.
pub(crate) fn write_pretty<W: io::Write, T: ?Sized + Serialize>(
    mut out: W,
    value: &T,
) -> io::Result<()> {
    let mut ser = Pretty::new(Some(&mut out));
    match value.serialize(&mut ser) {
        Ok(()) => ser.flush(),
        Err(e) => Err(ser.io_error.take().unwrap_or_else(|| io::Error::other(e))),
    }
}

/// Serialize `value` as pretty JSON into a string.
pub(crate) fn to_string_pretty<T: ?Sized + Serialize>(value: &T) -> Result<String> {
    let mut ser = Pretty::new(None);
    value.serialize(&mut ser)?;
    // Only UTF-8 goes in: `&str` contents and ASCII punctuation.
    String::from_utf8(ser.buf).map_err(Error::custom)
}

struct Pretty<'w> {
    buf: Vec<u8>,
    sink: Option<&'w mut dyn io::Write>,
    io_error: Option<io::Error>,
    depth: usize,
    /// serde_json's `PrettyFormatter::has_value`: one flag for every level.
    has_value: bool,
    /// Field names (address, length) already found to need no escaping: a
    /// report repeats a few dozen `&'static str` names thousands of times.
    plain_names: [(usize, usize); PLAIN_NAMES],
}

/// Slots of [`Pretty::plain_names`] (a name colliding with another is just
/// checked again).
const PLAIN_NAMES: usize = 256;

impl<'w> Pretty<'w> {
    fn new(sink: Option<&'w mut dyn io::Write>) -> Self {
        Pretty {
            buf: Vec::with_capacity(if sink.is_some() { 2 * FLUSH_AT } else { 0 }),
            sink,
            io_error: None,
            depth: 0,
            has_value: false,
            plain_names: [(0, 0); PLAIN_NAMES],
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(sink) = &mut self.sink {
            sink.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Hand the buffer on once it is large (after each value of a sequence or object).
    #[inline]
    fn value_done(&mut self) -> Result {
        self.has_value = true;
        if self.buf.len() >= FLUSH_AT && self.sink.is_some() {
            if let Err(e) = self.flush() {
                let err = Error::custom(&e);
                self.io_error = Some(e);
                return Err(err);
            }
        }
        Ok(())
    }

    /// `begin_array_value` / `begin_object_key`: a newline (after a comma
    /// unless first) and the indentation.
    #[inline]
    fn newline_indent(&mut self, first: bool) {
        let start = usize::from(first);
        let end = 2 + 2 * self.depth;
        if end <= NEWLINE_INDENT.len() {
            self.buf.extend_from_slice(&NEWLINE_INDENT[start..end]);
        } else {
            self.buf.extend_from_slice(&NEWLINE_INDENT[start..2]);
            for _ in 0..self.depth {
                self.buf.extend_from_slice(b"  ");
            }
        }
    }

    fn begin(&mut self, open: u8) {
        self.depth += 1;
        self.has_value = false;
        self.buf.push(open);
    }

    fn end(&mut self, close: u8) {
        self.depth -= 1;
        if self.has_value {
            self.newline_indent(true);
        }
        self.buf.push(close);
    }

    #[inline]
    fn write_str(&mut self, s: &str) -> Result {
        if needs_escape(s.as_bytes()) {
            return serde_json::to_writer(&mut self.buf, s);
        }
        self.write_plain(s);
        Ok(())
    }

    /// A string with nothing to escape.
    #[inline]
    fn write_plain(&mut self, s: &str) {
        self.buf.reserve(s.len() + 2);
        self.buf.push(b'"');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(b'"');
    }

    /// A struct's field name: static, so checked for escapes once per name.
    #[inline]
    fn write_field_name(&mut self, name: &'static str) -> Result {
        let id = (name.as_ptr() as usize, name.len());
        // The low address bits: names lie apart in read-only data, and
        // these bits do not move with the load address (run-to-run stable).
        let slot = id.0 % PLAIN_NAMES;
        if self.plain_names[slot] != id {
            if needs_escape(name.as_bytes()) {
                return self.write_str(name);
            }
            self.plain_names[slot] = id;
        }
        self.write_plain(name);
        Ok(())
    }

    #[inline]
    fn write_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        while v >= 100 {
            let pair = 2 * (v % 100) as usize;
            v /= 100;
            i -= 2;
            digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if v >= 10 {
            let pair = 2 * v as usize;
            i -= 2;
            digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        } else {
            i -= 1;
            digits[i] = b'0' + v as u8;
        }
        self.buf.extend_from_slice(&digits[i..]);
    }

    fn write_i64(&mut self, v: i64) {
        if v < 0 {
            self.buf.push(b'-');
        }
        self.write_u64(v.unsigned_abs());
    }

    /// Rare widths and floats: serde_json's own compact writer (the same bytes).
    fn write_scalar<T: Serialize>(&mut self, v: T) -> Result {
        serde_json::to_writer(&mut self.buf, &v)
    }

    /// The opening of `{"variant": …` (newtype, tuple and struct variants).
    fn begin_variant(&mut self, variant: &str) -> Result {
        self.begin(b'{');
        self.newline_indent(true);
        self.write_str(variant)?;
        self.buf.extend_from_slice(b": ");
        Ok(())
    }

    fn end_variant(&mut self) -> Result {
        self.value_done()?;
        self.end(b'}');
        Ok(())
    }
}

/// Whether serde_json would escape a byte of `s` (a control character, `"`
/// or `\\`). Eight bytes at a time: field names and most values are short
/// ASCII, and a byte-by-byte scan costs more than copying them.
#[inline]
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Exact "is any byte zero / below 0x20" tests (never a false negative),
    // one branch for the three.
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v;
    let special = |w: u64| {
        let below_space = w.wrapping_sub(ONES * 0x20) & !w;
        let quote = zero_bytes(w ^ (ONES * u64::from(b'"')));
        let backslash = zero_bytes(w ^ (ONES * u64::from(b'\\')));
        (below_space | quote | backslash) & HIGHS != 0
    };
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0x20; 8]));
    if s.len() < 8 {
        return s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    }
    let mut chunks = s.chunks_exact(8);
    if chunks.by_ref().any(|c| special(word(c))) {
        return true;
    }
    // The last eight bytes cover the remainder (overlapping the last chunk).
    !chunks.remainder().is_empty() && special(word(&s[s.len() - 8..]))
}

#[derive(PartialEq, Eq)]
enum State {
    Empty,
    First,
    Rest,
}

struct Compound<'a, 'w> {
    ser: &'a mut Pretty<'w>,
    state: State,
}

impl<'a, 'w> Compound<'a, 'w> {
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.ser.newline_indent(self.state == State::First);
        self.state = State::Rest;
        value.serialize(&mut *self.ser)?;
        self.ser.value_done()
    }

    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.ser.newline_indent(self.state == State::First);
        self.state = State::Rest;
        self.ser.write_field_name(key)?;
        self.ser.buf.extend_from_slice(b": ");
        value.serialize(&mut *self.ser)?;
        self.ser.value_done()
    }

    fn end_array(self) -> Result {
        if self.state != State::Empty {
            self.ser.end(b']');
        }
        Ok(())
    }

    fn end_object(self) -> Result {
        if self.state != State::Empty {
            self.ser.end(b'}');
        }
        Ok(())
    }
}

impl<'a, 'w> ser::Serializer for &'a mut Pretty<'w> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'w>;
    type SerializeTuple = Compound<'a, 'w>;
    type SerializeTupleStruct = Compound<'a, 'w>;
    type SerializeTupleVariant = Compound<'a, 'w>;
    type SerializeMap = Compound<'a, 'w>;
    type SerializeStruct = Compound<'a, 'w>;
    type SerializeStructVariant = Compound<'a, 'w>;

    fn serialize_bool(self, v: bool) -> Result {
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.write_i64(v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.write_i64(v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.write_i64(v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.write_i64(v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.write_scalar(v)
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.write_u64(v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.write_u64(v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.write_u64(v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.write_u64(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.write_scalar(v)
    }
    fn serialize_f32(self, v: f32) -> Result {
        self.write_scalar(v)
    }
    fn serialize_f64(self, v: f64) -> Result {
        self.write_scalar(v)
    }
    fn serialize_char(self, v: char) -> Result {
        self.write_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.write_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        self.begin(b'[');
        for (i, &b) in v.iter().enumerate() {
            self.newline_indent(i == 0);
            self.write_u64(b.into());
            self.value_done()?;
        }
        self.end(b']');
        Ok(())
    }
    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.buf.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result {
        self.write_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.begin_variant(variant)?;
        value.serialize(&mut *self)?;
        self.end_variant()
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a, 'w>> {
        self.begin(b'[');
        let state = if len == Some(0) {
            self.end(b']');
            State::Empty
        } else {
            State::First
        };
        Ok(Compound { ser: self, state })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'w>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'w>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'w>> {
        self.begin_variant(variant)?;
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a, 'w>> {
        self.begin(b'{');
        let state = if len == Some(0) {
            self.end(b'}');
            State::Empty
        } else {
            State::First
        };
        Ok(Compound { ser: self, state })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'w>> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'w>> {
        self.begin_variant(variant)?;
        self.serialize_map(Some(len))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.element(value)
    }
    fn end(self) -> Result {
        self.end_array()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.element(value)
    }
    fn end(self) -> Result {
        self.end_array()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.element(value)
    }
    fn end(self) -> Result {
        self.end_array()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.element(value)
    }
    fn end(self) -> Result {
        let ser = &mut *self.ser;
        if self.state != State::Empty {
            ser.end(b']');
        }
        ser.end_variant()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        self.ser.newline_indent(self.state == State::First);
        self.state = State::Rest;
        key.serialize(MapKey(&mut *self.ser))
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.ser.buf.extend_from_slice(b": ");
        value.serialize(&mut *self.ser)?;
        self.ser.value_done()
    }
    fn end(self) -> Result {
        self.end_object()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.field(key, value)
    }
    fn end(self) -> Result {
        self.end_object()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.field(key, value)
    }
    fn end(self) -> Result {
        let ser = &mut *self.ser;
        if self.state != State::Empty {
            ser.end(b'}');
        }
        ser.end_variant()
    }
}

/// Object keys as serde_json's `MapKeySerializer` writes them: strings, and
/// numbers and booleans in quotes; anything else is an error.
struct MapKey<'a, 'w>(&'a mut Pretty<'w>);

fn key_must_be_a_string() -> Error {
    Error::custom("key must be a string")
}

impl MapKey<'_, '_> {
    fn quoted(self, write: impl FnOnce(&mut Pretty<'_>) -> Result) -> Result {
        self.0.buf.push(b'"');
        write(self.0)?;
        self.0.buf.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for MapKey<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result {
        self.0.write_str(v)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result {
        self.0.write_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }
    fn serialize_bool(self, v: bool) -> Result {
        self.quoted(|s| s.serialize_bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.quoted(|s| s.serialize_i8(v))
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.quoted(|s| s.serialize_i16(v))
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.quoted(|s| s.serialize_i32(v))
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.quoted(|s| s.serialize_i64(v))
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.quoted(|s| s.serialize_i128(v))
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.quoted(|s| s.serialize_u8(v))
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.quoted(|s| s.serialize_u16(v))
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.quoted(|s| s.serialize_u32(v))
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.quoted(|s| s.serialize_u64(v))
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.quoted(|s| s.serialize_u128(v))
    }
    fn serialize_f32(self, v: f32) -> Result {
        if !v.is_finite() {
            return Err(Error::custom(
                "float key must be finite (got NaN or +/-inf)",
            ));
        }
        self.quoted(|s| s.serialize_f32(v))
    }
    fn serialize_f64(self, v: f64) -> Result {
        if !v.is_finite() {
            return Err(Error::custom(
                "float key must be finite (got NaN or +/-inf)",
            ));
        }
        self.quoted(|s| s.serialize_f64(v))
    }
    fn serialize_char(self, v: char) -> Result {
        self.0.write_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use std::collections::BTreeMap;

    fn same<T: Serialize>(v: &T) {
        let want = serde_json::to_string_pretty(v).unwrap();
        assert_eq!(super::to_string_pretty(v).unwrap(), want);
        let mut out = Vec::new();
        super::write_pretty(&mut out, v).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(i32, f64),
        EmptyTuple(),
        Struct { a: Vec<u8>, b: Option<String> },
        EmptyStruct {},
    }

    #[derive(Serialize)]
    struct Nested {
        empty_vec: Vec<u32>,
        empty_map: BTreeMap<String, u8>,
        nested_empty: Vec<Vec<u8>>,
        shapes: Vec<Shape>,
        #[serde(flatten)]
        extra: BTreeMap<String, i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        int_keys: BTreeMap<i16, bool>,
        bool_keys: BTreeMap<bool, ()>,
        bytes: serde_bytes_like::Bytes,
        unit: (),
        tuple: (u8, &'static str, char),
        #[serde(rename = "we\"ird\n")]
        weird: u8,
    }

    mod serde_bytes_like {
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[test]
    fn same_bytes_as_serde_json() {
        same(&Nested {
            empty_vec: vec![],
            empty_map: BTreeMap::new(),
            nested_empty: vec![vec![], vec![1, 2]],
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-3, 0.1),
                Shape::EmptyTuple(),
                Shape::Struct {
                    a: vec![],
                    b: Some("x".into()),
                },
                Shape::EmptyStruct {},
            ],
            extra: [("k\"ey".to_string(), i64::MIN), ("z".into(), 5)]
                .into_iter()
                .collect(),
            skipped: None,
            int_keys: [(-5, true), (300, false)].into_iter().collect(),
            bool_keys: [(true, ())].into_iter().collect(),
            bytes: serde_bytes_like::Bytes(vec![0, 255]),
            unit: (),
            tuple: (1, "tab\there \u{1} \\ é", '"'),
            weird: 1,
        });
        same(&vec![
            f64::NAN,
            f64::INFINITY,
            -0.0,
            1e300,
            5e-324,
            1.5,
            100.0,
        ]);
        same(&vec![f32::MAX, 0.1f32]);
        same(&(u128::MAX, i128::MIN, u64::MAX, i64::MIN, 0u8));
        same(&[0u64, 9, 10, 99, 100, 101, 999, 1000, 65_535, 1 << 40]);
        same(&[-1i64, -9, -10, -100, i64::MAX]);
        // Deeper than the indentation kept ready.
        let mut deep = serde_json::json!(1);
        for _ in 0..40 {
            deep = serde_json::json!({ "a": [deep] });
        }
        same(&deep);
        same(&Vec::<u8>::new());
        same(&"plain");
    }

    #[test]
    fn escape_scan_finds_every_escaped_byte() {
        for len in 1..20 {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[pos] = b;
                    let want = b < 0x20 || b == b'"' || b == b'\\';
                    assert_eq!(super::needs_escape(&s), want, "{len} {pos} {b}");
                }
            }
        }
    }

    #[test]
    fn non_string_keys_fail_like_serde_json() {
        let m: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(serde_json::to_string_pretty(&m).is_err());
        assert!(super::to_string_pretty(&m).is_err());
    }
}
