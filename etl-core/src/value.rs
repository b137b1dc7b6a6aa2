//! The value model rows travel in between a resource and the normalizer.
//!
//! JSON has no dates, decimals or bytes; dlt's Python objects do. [`Value`] carries those types
//! so that typed data never has to round-trip through strings. Objects keep their key order,
//! because dlt's column order is the order keys are first seen.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::ser::{self, Serialize};

/// One value of a row: a scalar, a list or an ordered object.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Absent value (`None`, JSON `null`).
    #[default]
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer that fits in `i64`.
    Int(i64),
    /// Integer outside `i64` (kept exactly; stored as DuckDB `HUGEINT` or rejected with an error).
    BigInt(i128),
    /// Floating point number.
    Float(f64),
    /// Text.
    Text(String),
    /// Exact decimal number.
    Decimal(Decimal),
    /// Exact decimal number with more digits than [`Decimal`] holds (DuckDB's `DECIMAL` goes to
    /// 38): `mantissa / 10^scale`.
    BigDecimal {
        /// All digits, signed.
        mantissa: i128,
        /// Digits after the point.
        scale: u32,
    },
    /// Instant in time (always normalized to UTC, as dlt does).
    Timestamp(DateTime<Utc>),
    /// Calendar date.
    Date(NaiveDate),
    /// Time of day.
    Time(NaiveTime),
    /// Binary data.
    Bytes(Vec<u8>),
    /// List of values.
    List(Vec<Value>),
    /// Object with keys in insertion order.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// `true` for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The integer, if it is one that fits in `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::BigInt(i) => i64::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The number as `f64` (integers, floats, decimals).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::BigInt(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(d) => rust_decimal::prelude::ToPrimitive::to_f64(d),
            _ => None,
        }
    }

    /// The text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Looks a key up in an object (first match); `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Decimal(_) | Value::BigDecimal { .. } => "decimal",
            Value::Timestamp(_) => "timestamp",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Object(_) => "object",
        }
    }

    /// Converts to `serde_json::Value`. Typed scalars become strings (ISO 8601, decimal text,
    /// hex for bytes), which is how they are shown in JSON columns and error messages.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::BigInt(i) => match u64::try_from(*i) {
                Ok(u) => J::from(u),
                Err(_) => J::String(i.to_string()),
            },
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::Text(s) => J::String(s.clone()),
            Value::Decimal(d) => J::String(d.to_string()),
            Value::BigDecimal { mantissa, scale } => J::String(big_decimal_text(*mantissa, *scale)),
            Value::Timestamp(t) => J::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            Value::Date(d) => J::String(d.to_string()),
            Value::Time(t) => J::String(t.to_string()),
            Value::Bytes(b) => J::String(hex(b)),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Object(fields) => {
                J::Object(fields.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// JSON that keeps the types JSON lacks, as one-key objects: `{"$decimal": "1.5"}`,
    /// `{"$datetime": "2024-01-15T10:30:00+00:00"}`, `{"$date": ..}`, `{"$time": ..}`,
    /// `{"$bytes_hex": "00ff"}` (the conformance suite's format). [`Value::from_tagged_json`]
    /// reads it back exactly.
    pub fn to_tagged_json(&self) -> serde_json::Value {
        use serde_json::{json, Value as J};
        match self {
            Value::Decimal(d) => json!({"$decimal": d.to_string()}),
            Value::BigDecimal { mantissa, scale } => json!({"$decimal": big_decimal_text(*mantissa, *scale)}),
            Value::Timestamp(t) => json!({"$datetime": t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)}),
            Value::Date(d) => json!({"$date": d.to_string()}),
            Value::Time(t) => json!({"$time": t.to_string()}),
            Value::Bytes(b) => json!({"$bytes_hex": hex(b)}),
            Value::BigInt(i) => json!({"$bigint": i.to_string()}),
            Value::List(items) => J::Array(items.iter().map(Value::to_tagged_json).collect()),
            Value::Object(fields) => J::Object(fields.iter().map(|(k, v)| (k.clone(), v.to_tagged_json())).collect()),
            other => other.to_json(),
        }
    }

    /// Reads [`Value::to_tagged_json`]'s format (an unknown or malformed tag stays an object).
    pub fn from_tagged_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Object(m) => {
                if m.len() == 1 {
                    let (k, inner) = m.iter().next().expect("one entry");
                    if let Some(s) = inner.as_str() {
                        let parsed = match k.as_str() {
                            "$decimal" => parse_decimal(s),
                            "$datetime" => crate::types::parse_iso_timestamp(s).map(Value::Timestamp),
                            "$date" => s.parse::<NaiveDate>().ok().map(Value::Date),
                            "$time" => s.parse::<NaiveTime>().ok().map(Value::Time),
                            "$bytes_hex" => unhex(s).map(Value::Bytes),
                            "$bigint" => s.parse::<i128>().ok().map(Value::BigInt),
                            _ => None,
                        };
                        if let Some(p) = parsed {
                            return p;
                        }
                    }
                }
                Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::from_tagged_json(v))).collect())
            }
            J::Array(items) => Value::List(items.iter().map(Value::from_tagged_json).collect()),
            other => Value::from(other.clone()),
        }
    }

    /// Compact JSON text of the value, as dlt stores nested data in `json` columns.
    pub fn to_json_string(&self) -> String {
        self.to_json().to_string()
    }
}

/// The JSON with every object's keys sorted (for content hashes that do not depend on key order,
/// like Python's `json.dumps(sort_keys=True)`).
pub fn sorted_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            J::Object(keys.into_iter().map(|k| (k.clone(), sorted_json(&m[k]))).collect())
        }
        J::Array(a) => J::Array(a.iter().map(sorted_json).collect()),
        other => other.clone(),
    }
}

/// The text of `mantissa / 10^scale`, with all `scale` digits after the point.
pub fn big_decimal_text(mantissa: i128, scale: u32) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let sign = if mantissa < 0 { "-" } else { "" };
    let scale = scale as usize;
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Parses decimal text exactly: a [`Value::Decimal`] when it fits, a [`Value::BigDecimal`] up
/// to 38 digits, `None` otherwise (never a rounded value).
pub fn parse_decimal(text: &str) -> Option<Value> {
    let t = text.trim();
    if let Ok(d) = Decimal::from_str_exact(t) {
        return Some(Value::Decimal(d));
    }
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let significant = digits.trim_start_matches('0');
    if significant.len() > 38 {
        return None;
    }
    let mantissa: i128 = if significant.is_empty() { 0 } else { significant.parse().ok()? };
    Some(Value::BigDecimal { mantissa: if neg { -mantissa } else { mantissa }, scale: frac.len() as u32 })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::BigInt(u as i128)
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => Value::Text(s),
            J::Array(items) => Value::List(items.into_iter().map(Value::from).collect()),
            J::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        }
    }
}

macro_rules! from_scalar {
    ($($t:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::$variant(v $(as $cast)?) }
        }
    )*};
}
from_scalar!(
    bool => Bool, i8 => Int as i64, i16 => Int as i64, i32 => Int as i64, i64 => Int,
    u8 => Int as i64, u16 => Int as i64, u32 => Int as i64, f32 => Float as f64, f64 => Float,
    String => Text, Decimal => Decimal, DateTime<Utc> => Timestamp, NaiveDate => Date,
    NaiveTime => Time, Vec<u8> => Bytes,
);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map(Value::Int).unwrap_or(Value::BigInt(v as i128))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Writes the tagged JSON form of [`Value::to_tagged_json`] without building it first.
impl Serialize for Value {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ser::{SerializeMap, SerializeSeq};
        let tagged = |serializer: S, tag: &str, text: &str| {
            let mut m = serializer.serialize_map(Some(1))?;
            m.serialize_entry(tag, text)?;
            m.end()
        };
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => serializer.serialize_f64(*f),
            Value::Float(_) => serializer.serialize_unit(),
            Value::Text(t) => serializer.serialize_str(t),
            Value::BigInt(i) => tagged(serializer, "$bigint", &i.to_string()),
            Value::Decimal(d) => tagged(serializer, "$decimal", &d.to_string()),
            Value::BigDecimal { mantissa, scale } => tagged(serializer, "$decimal", &big_decimal_text(*mantissa, *scale)),
            Value::Timestamp(t) => tagged(serializer, "$datetime", &t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)),
            Value::Date(d) => tagged(serializer, "$date", &d.to_string()),
            Value::Time(t) => tagged(serializer, "$time", &t.to_string()),
            Value::Bytes(b) => tagged(serializer, "$bytes_hex", &hex(b)),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(fields) => {
                let mut m = serializer.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

/// Reads JSON (or any self-describing format) straight into a [`Value`], keeping key order,
/// without building a `serde_json::Value` first.
impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
                Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::BigInt(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Text(v))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
                Ok(Value::Bytes(v.to_vec()))
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element()? {
                    items.push(v);
                }
                Ok(Value::List(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut fields: Vec<(String, Value)> = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    // A repeated key keeps its first position and its last value, as a dict.
                    match fields.iter_mut().find(|(n, _)| *n == k) {
                        Some(slot) => slot.1 = v,
                        None => fields.push((k, v)),
                    }
                }
                Ok(Value::Object(fields))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Error converting a `Serialize` item into a [`Value`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToValueError(String);

impl ser::Error for ToValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ToValueError(msg.to_string())
    }
}

/// Converts any `Serialize` item into a [`Value`] without going through JSON text.
///
/// serde gives no type information for dates, decimals or bytes: chrono and rust_decimal
/// serialize as strings, `Vec<u8>` as a list of numbers. The serializer therefore looks at each
/// field's Rust type name (`std::any::type_name`) and turns the values of `chrono` date/time
/// types, `rust_decimal::Decimal` and `Vec<u8>`/`[u8]` (also inside `Option`) into typed values,
/// so such a field becomes a `DATE`/`TIMESTAMPTZ`/`TIME`/`DECIMAL`/`BLOB` column.
pub fn to_value<T: Serialize + ?Sized>(item: &T) -> Result<Value, ToValueError> {
    ser(item)
}

/// What a field's Rust type says its serialized value really is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeHint {
    None,
    Timestamp,
    NaiveTimestamp,
    Date,
    Time,
    Decimal,
    Bytes,
}

/// Whether `to_value` turns values of type `T` into something other than what their serde calls
/// say (a date, decimal or bytes; see [`to_value`]).
pub(crate) fn has_type_hint<T: ?Sized>() -> bool {
    type_hint::<T>() != TypeHint::None
}

/// The value of a type that has a hint (a date, timestamp, decimal or bytes) for a column, as
/// [`to_value`] makes it; `None` for a type without one (its serde calls say what it is). The
/// typed fast path asks this for every value, so the type is looked at once.
pub(crate) fn hinted_value<T: Serialize + ?Sized>(value: &T) -> Option<Result<Value, ToValueError>> {
    match type_hint::<T>() {
        TypeHint::None => None,
        TypeHint::Timestamp => Some(utc_timestamp(value).or_else(|| timestamp_without_text(value)).map_or_else(|| to_value(value), Ok)),
        _ => Some(to_value(value)),
    }
}

/// A `chrono::DateTime<Utc>` (or a `Some` of one) read as itself, when `T` is that type of this
/// crate's chrono (the same `TypeId`; another zone or another chrono goes through its text): what
/// [`timestamp_without_text`] makes of it, without chrono writing the text and the text being
/// parsed back (a fifth of the typed events' cost outside the walk). `None` where that reads
/// no text either (a year outside 0 to 9999, a leap second).
fn utc_timestamp<T: ?Sized>(value: &T) -> Option<Value> {
    use chrono::{Datelike, Timelike};
    let (id, pointer) = (typeid::of::<T>(), std::ptr::from_ref(value));
    let t = if id == typeid::of::<DateTime<Utc>>() {
        // SAFETY: `T` is `DateTime<Utc>` (equal type ids; it has no lifetimes to differ in), a
        // sized type, so the pointer is a thin one to a valid value.
        unsafe { &*pointer.cast::<DateTime<Utc>>() }
    } else if id == typeid::of::<Option<DateTime<Utc>>>() {
        // SAFETY: as above, for `Option<DateTime<Utc>>`; a `None` is left to the other paths.
        unsafe { &*pointer.cast::<Option<DateTime<Utc>>>() }.as_ref()?
    } else {
        return None;
    };
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&t.year()) || nanos >= 1_000_000_000 {
        return None;
    }
    // The text path keeps microseconds.
    t.with_nanosecond(nanos / 1000 * 1000).map(Value::Timestamp)
}

/// A `chrono::DateTime` (of any zone, or a `Some` of one) without the `String` that
/// [`to_value`] goes through: its text is written into a buffer on the stack and read by
/// [`crate::types::parse_iso_timestamp`], which gives the microseconds
/// `DateTime::parse_from_rfc3339` gives for the text chrono writes (a `T` separator, seconds, a
/// fraction of 0 to 9 digits, `Z` or an offset). The value is for a column, which stores
/// microseconds (`ColumnBuffer::push_temporal`), not `Value`'s nanoseconds. `None` for a `None`,
/// or a text it does not read (a leap second, a year beyond 9999): then `to_value`.
fn timestamp_without_text<T: Serialize + ?Sized>(value: &T) -> Option<Value> {
    let mut text = TextBuf { bytes: [0; 64], len: 0 };
    value.serialize(CaptureText(&mut text)).ok()?;
    let text = std::str::from_utf8(&text.bytes[..text.len]).ok()?;
    crate::types::parse_iso_timestamp(text).map(Value::Timestamp)
}

/// Up to 64 bytes of text, on the stack.
struct TextBuf {
    bytes: [u8; 64],
    len: usize,
}

impl fmt::Write for TextBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }

    /// chrono writes a timestamp's text a character at a time: ASCII goes in as one byte, not
    /// through `write_str` of its UTF-8 encoding (typed structs: 0.971 times the CPU).
    #[inline]
    fn write_char(&mut self, c: char) -> fmt::Result {
        if c.is_ascii() {
            *self.bytes.get_mut(self.len).ok_or(fmt::Error)? = c as u8;
            self.len += 1;
            Ok(())
        } else {
            self.write_str(c.encode_utf8(&mut [0; 4]))
        }
    }
}

/// A serializer that takes one string (`serialize_str`, `collect_str`, inside a `Some`) and
/// refuses everything else.
struct CaptureText<'b>(&'b mut TextBuf);

macro_rules! refuse {
    ($($name:ident($($arg:ty),*);)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<(), NotText> { Err(NotText) })*
    };
}

#[derive(Debug)]
struct NotText;

impl fmt::Display for NotText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a text")
    }
}

impl std::error::Error for NotText {}

impl ser::Error for NotText {
    fn custom<M: fmt::Display>(_: M) -> Self {
        NotText
    }
}

impl ser::Serializer for CaptureText<'_> {
    type Ok = ();
    type Error = NotText;
    type SerializeSeq = ser::Impossible<(), NotText>;
    type SerializeTuple = ser::Impossible<(), NotText>;
    type SerializeTupleStruct = ser::Impossible<(), NotText>;
    type SerializeTupleVariant = ser::Impossible<(), NotText>;
    type SerializeMap = ser::Impossible<(), NotText>;
    type SerializeStruct = ser::Impossible<(), NotText>;
    type SerializeStructVariant = ser::Impossible<(), NotText>;

    fn serialize_str(self, v: &str) -> Result<(), NotText> {
        fmt::Write::write_str(self.0, v).map_err(|_| NotText)
    }
    fn collect_str<D: fmt::Display + ?Sized>(self, v: &D) -> Result<(), NotText> {
        fmt::Write::write_fmt(self.0, format_args!("{v}")).map_err(|_| NotText)
    }
    fn serialize_some<V: Serialize + ?Sized>(self, v: &V) -> Result<(), NotText> {
        v.serialize(self)
    }
    refuse! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
        serialize_f32(f32); serialize_f64(f64); serialize_char(char); serialize_bytes(&[u8]);
        serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(self, _: &'static str, _: &V) -> Result<(), NotText> {
        Err(NotText)
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(self, _: &'static str, _: u32, _: &'static str, _: &V) -> Result<(), NotText> {
        Err(NotText)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotText> {
        Err(NotText)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotText> {
        Err(NotText)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, NotText> {
        Err(NotText)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, NotText> {
        Err(NotText)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotText> {
        Err(NotText)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotText> {
        Err(NotText)
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, NotText> {
        Err(NotText)
    }
}

fn type_hint<T: ?Sized>() -> TypeHint {
    let mut name = std::any::type_name::<T>();
    loop {
        // Only ever shortened: the same length is the same name (the typed fast path asks this
        // for every value).
        let before = name.len();
        name = name.trim_start_matches('&');
        if let Some(inner) = name.strip_prefix("core::option::Option<").and_then(|n| n.strip_suffix('>')) {
            name = inner;
        }
        if name.len() == before {
            break;
        }
    }
    // Every name below starts with one of these.
    if !matches!(name.as_bytes().first(), Some(b'c' | b'r' | b'a' | b'[' | b'b')) {
        return TypeHint::None;
    }
    let chrono = name.starts_with("chrono::");
    if chrono && name.contains("::DateTime<") {
        TypeHint::Timestamp
    } else if chrono && name.ends_with("::NaiveDateTime") {
        TypeHint::NaiveTimestamp
    } else if chrono && name.ends_with("::NaiveDate") {
        TypeHint::Date
    } else if chrono && name.ends_with("::NaiveTime") {
        TypeHint::Time
    } else if name.starts_with("rust_decimal::") && name.ends_with("::Decimal") {
        TypeHint::Decimal
    } else if name == "alloc::vec::Vec<u8>" || name == "[u8]" || name.starts_with("[u8; ") || name == "bytes::bytes::Bytes" {
        TypeHint::Bytes
    } else {
        TypeHint::None
    }
}

/// Serializes a value and applies its type's hint.
fn ser<T: Serialize + ?Sized>(value: &T) -> Result<Value, ToValueError> {
    let raw = value.serialize(ValueSerializer)?;
    Ok(match (type_hint::<T>(), raw) {
        (TypeHint::None, v) | (_, v @ Value::Null) => v,
        (TypeHint::Timestamp, Value::Text(s)) => {
            DateTime::parse_from_rfc3339(&s).map(|t| Value::Timestamp(t.with_timezone(&Utc))).unwrap_or(Value::Text(s))
        }
        (TypeHint::NaiveTimestamp, Value::Text(s)) => s
            .parse::<chrono::NaiveDateTime>()
            .map(|t| Value::Timestamp(t.and_utc()))
            .unwrap_or(Value::Text(s)),
        (TypeHint::Date, Value::Text(s)) => s.parse::<NaiveDate>().map(Value::Date).unwrap_or(Value::Text(s)),
        (TypeHint::Time, Value::Text(s)) => s.parse::<NaiveTime>().map(Value::Time).unwrap_or(Value::Text(s)),
        (TypeHint::Decimal, Value::Text(s)) => parse_decimal(&s).unwrap_or(Value::Text(s)),
        (TypeHint::Decimal, Value::Float(f)) => {
            use rust_decimal::prelude::FromPrimitive;
            Decimal::from_f64(f).map(Value::Decimal).unwrap_or(Value::Float(f))
        }
        (TypeHint::Bytes, Value::List(items)) => {
            let bytes: Option<Vec<u8>> = items.iter().map(|v| if let Value::Int(i) = v { u8::try_from(*i).ok() } else { None }).collect();
            bytes.map(Value::Bytes).unwrap_or(Value::List(items))
        }
        (_, v) => v,
    })
}

/// A serde `Serializer` producing [`Value`]s.
#[derive(Clone, Copy)]
pub struct ValueSerializer;

fn key_to_string(key: Value) -> Result<String, ToValueError> {
    Ok(match key {
        Value::Text(s) => s,
        Value::Int(i) => i.to_string(),
        Value::BigInt(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => f.to_string(),
        other => return Err(ToValueError(format!("object keys must be strings, found {}", other.kind()))),
    })
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ToValueError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantBuilder<SeqBuilder>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantBuilder<MapBuilder>;

    fn serialize_bool(self, v: bool) -> Result<Value, ToValueError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ToValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ToValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ToValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ToValueError> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ToValueError> {
        Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::BigInt(v)))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ToValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ToValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ToValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ToValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ToValueError> {
        i128::try_from(v)
            .map(|v| self.serialize_i128(v))
            .map_err(|_| ToValueError(format!("integer {v} does not fit in 128 bits")))?
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ToValueError> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ToValueError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ToValueError> {
        Ok(Value::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ToValueError> {
        Ok(Value::Text(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ToValueError> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, ToValueError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ToValueError> {
        ser(value)
    }
    fn serialize_unit(self) -> Result<Value, ToValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ToValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ToValueError> {
        Ok(Value::Text(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, ToValueError> {
        ser(value)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ToValueError> {
        Ok(Value::Object(vec![(variant.to_owned(), ser(value)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ToValueError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ToValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqBuilder, ToValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<SeqBuilder>, ToValueError> {
        Ok(VariantBuilder { variant, inner: SeqBuilder(Vec::with_capacity(len)) })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, ToValueError> {
        Ok(MapBuilder { fields: Vec::with_capacity(len.unwrap_or(0)), key: None })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapBuilder, ToValueError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<MapBuilder>, ToValueError> {
        Ok(VariantBuilder { variant, inner: MapBuilder { fields: Vec::with_capacity(len), key: None } })
    }
}

/// Builds a [`Value::List`].
pub struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        self.0.push(ser(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::List(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        ser::SerializeSeq::end(self)
    }
}

/// Builds a [`Value::Object`].
pub struct MapBuilder {
    fields: Vec<(String, Value)>,
    key: Option<String>,
}

impl MapBuilder {
    fn push(&mut self, key: String, value: Value) {
        // A repeated key replaces the earlier value in place, as a dict would.
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((key, value)),
        }
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ToValueError> {
        self.key = Some(key_to_string(key.serialize(ValueSerializer)?)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        let key = self.key.take().ok_or_else(|| ToValueError("map value without a key".into()))?;
        let value = ser(value)?;
        self.push(key, value);
        Ok(())
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::Object(self.fields))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ToValueError> {
        let value = ser(value)?;
        self.push(key.to_owned(), value);
        Ok(())
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::Object(self.fields))
    }
}

/// Wraps an enum variant's content in a one-key object, as serde's externally tagged default.
pub struct VariantBuilder<B> {
    variant: &'static str,
    inner: B,
}

impl ser::SerializeTupleVariant for VariantBuilder<SeqBuilder> {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
        ser::SerializeSeq::serialize_element(&mut self.inner, value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::Object(vec![(self.variant.to_owned(), ser::SerializeSeq::end(self.inner)?)]))
    }
}

impl ser::SerializeStructVariant for VariantBuilder<MapBuilder> {
    type Ok = Value;
    type Error = ToValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ToValueError> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<Value, ToValueError> {
        Ok(Value::Object(vec![(self.variant.to_owned(), ser::SerializeStruct::end(self.inner)?)]))
    }
}

/// The four list-like serde compounds (sequence, tuple, tuple struct, tuple variant) of a
/// serializer type that has `element(&mut self, &T)` and `finish(self)`: they all write their
/// elements the same way.
macro_rules! list_serializers {
    ($ty:ty, $err:ty) => {
        impl serde::ser::SerializeSeq for $ty {
            type Ok = ();
            type Error = $err;
            fn serialize_element<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), $err> {
                self.element(value)
            }
            fn end(self) -> Result<(), $err> {
                self.finish()
            }
        }
        impl serde::ser::SerializeTuple for $ty {
            type Ok = ();
            type Error = $err;
            fn serialize_element<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), $err> {
                self.element(value)
            }
            fn end(self) -> Result<(), $err> {
                self.finish()
            }
        }
        impl serde::ser::SerializeTupleStruct for $ty {
            type Ok = ();
            type Error = $err;
            fn serialize_field<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), $err> {
                self.element(value)
            }
            fn end(self) -> Result<(), $err> {
                self.finish()
            }
        }
        impl serde::ser::SerializeTupleVariant for $ty {
            type Ok = ();
            type Error = $err;
            fn serialize_field<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), $err> {
                self.element(value)
            }
            fn end(self) -> Result<(), $err> {
                self.finish()
            }
        }
    };
}
pub(crate) use list_serializers;

/// A compact binary form of [`Value`]s (the spool's: cheaper to write than JSON, and exact for
/// every type): a tag byte, then little-endian fixed-size numbers, `u32` lengths before text,
/// bytes, lists and objects.
pub mod binary {
    use super::*;
    use chrono::{Datelike, Timelike};

    const NULL: u8 = 0;
    const FALSE: u8 = 1;
    const TRUE: u8 = 2;
    const INT: u8 = 3;
    const BIG_INT: u8 = 4;
    const FLOAT: u8 = 5;
    const TEXT: u8 = 6;
    const DECIMAL: u8 = 7;
    const BIG_DECIMAL: u8 = 8;
    const TIMESTAMP: u8 = 9;
    const DATE: u8 = 10;
    const TIME: u8 = 11;
    const BYTES: u8 = 12;
    const LIST: u8 = 13;
    const OBJECT: u8 = 14;

    fn put_len(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }

    /// A tag and the parts of a fixed-size value.
    fn put(out: &mut Vec<u8>, tag: u8, parts: &[&[u8]]) {
        out.push(tag);
        for part in parts {
            out.extend_from_slice(part);
        }
    }

    /// A tag and a length-prefixed run of bytes.
    fn put_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
        out.push(tag);
        put_len(out, bytes.len());
        out.extend_from_slice(bytes);
    }

    /// Appends the encoding of `v` to `out`.
    pub fn encode(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Null => out.push(NULL),
            Value::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
            Value::Int(i) => put(out, INT, &[&i.to_le_bytes()]),
            Value::BigInt(i) => put(out, BIG_INT, &[&i.to_le_bytes()]),
            Value::Float(f) => put(out, FLOAT, &[&f.to_bits().to_le_bytes()]),
            Value::Text(t) => put_bytes(out, TEXT, t.as_bytes()),
            Value::Decimal(d) => put(out, DECIMAL, &[&d.serialize()]),
            Value::BigDecimal { mantissa, scale } => put(out, BIG_DECIMAL, &[&mantissa.to_le_bytes(), &scale.to_le_bytes()]),
            Value::Timestamp(t) => put(out, TIMESTAMP, &[&t.timestamp().to_le_bytes(), &t.timestamp_subsec_nanos().to_le_bytes()]),
            Value::Date(d) => put(out, DATE, &[&d.num_days_from_ce().to_le_bytes()]),
            Value::Time(t) => put(out, TIME, &[&t.num_seconds_from_midnight().to_le_bytes(), &t.nanosecond().to_le_bytes()]),
            Value::Bytes(b) => put_bytes(out, BYTES, b),
            Value::List(items) => {
                out.push(LIST);
                put_len(out, items.len());
                for item in items {
                    encode(item, out);
                }
            }
            Value::Object(fields) => {
                out.push(OBJECT);
                put_len(out, fields.len());
                for (k, item) in fields {
                    put_len(out, k.len());
                    out.extend_from_slice(k.as_bytes());
                    encode(item, out);
                }
            }
        }
    }

    /// Appends the encoding of `to_value(item)` without building the value: the serializer
    /// writes what [`encode`] writes for each value `to_value` would make (the values of the
    /// types it recognises by name, dates, decimals and bytes, are made by `to_value` itself).
    /// Exact for an item none of whose objects repeats a key (`to_value` keeps one entry per key,
    /// in its first place; this writes each); the fast path, whose items the spool encodes this
    /// way, bails on a repeated key. On an error `out` may hold part of the item.
    pub fn encode_serialize<T: Serialize + ?Sized>(item: &T, out: &mut Vec<u8>) -> Result<(), ToValueError> {
        encode_value(item, out)
    }

    /// As `ser`: the type's hint first.
    fn encode_value<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), ToValueError> {
        if type_hint::<T>() != TypeHint::None {
            encode(&ser(value)?, out);
            return Ok(());
        }
        value.serialize(Encoder(out))
    }

    /// A count written as a placeholder, set when the list or object ends.
    fn open(out: &mut Vec<u8>, tag: u8) -> usize {
        out.push(tag);
        put_len(out, 0);
        out.len() - 4
    }

    fn close(out: &mut [u8], at: usize, n: usize) {
        out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
    }

    fn put_key(out: &mut Vec<u8>, key: &str) {
        put_len(out, key.len());
        out.extend_from_slice(key.as_bytes());
    }

    /// The one-key object `{variant: ...}` of an enum variant with content.
    fn open_variant(out: &mut Vec<u8>, variant: &str) {
        out.push(OBJECT);
        put_len(out, 1);
        put_key(out, variant);
    }

    struct Encoder<'o>(&'o mut Vec<u8>);

    /// A list or object being written: where its count goes and how many entries it has.
    pub struct Compound<'o> {
        out: &'o mut Vec<u8>,
        at: usize,
        n: usize,
    }

    impl<'o> Compound<'o> {
        fn new(out: &'o mut Vec<u8>, tag: u8) -> Self {
            let at = open(out, tag);
            Compound { out, at, n: 0 }
        }
        fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
            self.n += 1;
            encode_value(value, self.out)
        }
        fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), ToValueError> {
            self.n += 1;
            put_key(self.out, key);
            encode_value(value, self.out)
        }
        fn finish(self) -> Result<(), ToValueError> {
            close(self.out, self.at, self.n);
            Ok(())
        }
    }

    impl<'o> ser::Serializer for Encoder<'o> {
        type Ok = ();
        type Error = ToValueError;
        type SerializeSeq = Compound<'o>;
        type SerializeTuple = Compound<'o>;
        type SerializeTupleStruct = Compound<'o>;
        type SerializeTupleVariant = Compound<'o>;
        type SerializeMap = Compound<'o>;
        type SerializeStruct = Compound<'o>;
        type SerializeStructVariant = Compound<'o>;

        fn serialize_bool(self, v: bool) -> Result<(), ToValueError> {
            self.0.push(if v { TRUE } else { FALSE });
            Ok(())
        }
        fn serialize_i8(self, v: i8) -> Result<(), ToValueError> {
            self.serialize_i64(v.into())
        }
        fn serialize_i16(self, v: i16) -> Result<(), ToValueError> {
            self.serialize_i64(v.into())
        }
        fn serialize_i32(self, v: i32) -> Result<(), ToValueError> {
            self.serialize_i64(v.into())
        }
        fn serialize_i64(self, v: i64) -> Result<(), ToValueError> {
            put(self.0, INT, &[&v.to_le_bytes()]);
            Ok(())
        }
        fn serialize_i128(self, v: i128) -> Result<(), ToValueError> {
            match i64::try_from(v) {
                Ok(i) => self.serialize_i64(i),
                Err(_) => {
                    put(self.0, BIG_INT, &[&v.to_le_bytes()]);
                    Ok(())
                }
            }
        }
        fn serialize_u8(self, v: u8) -> Result<(), ToValueError> {
            self.serialize_i64(v.into())
        }
        fn serialize_u16(self, v: u16) -> Result<(), ToValueError> {
            self.serialize_i64(v.into())
        }
        fn serialize_u32(self, v: u32) -> Result<(), ToValueError> {
            self.serialize_i64(v.into())
        }
        fn serialize_u64(self, v: u64) -> Result<(), ToValueError> {
            self.serialize_i128(v.into())
        }
        fn serialize_u128(self, v: u128) -> Result<(), ToValueError> {
            let v = i128::try_from(v).map_err(|_| ToValueError(format!("integer {v} does not fit in 128 bits")))?;
            self.serialize_i128(v)
        }
        fn serialize_f32(self, v: f32) -> Result<(), ToValueError> {
            self.serialize_f64(v.into())
        }
        fn serialize_f64(self, v: f64) -> Result<(), ToValueError> {
            put(self.0, FLOAT, &[&v.to_bits().to_le_bytes()]);
            Ok(())
        }
        fn serialize_char(self, v: char) -> Result<(), ToValueError> {
            self.serialize_str(v.encode_utf8(&mut [0; 4]))
        }
        fn serialize_str(self, v: &str) -> Result<(), ToValueError> {
            put_bytes(self.0, TEXT, v.as_bytes());
            Ok(())
        }
        fn serialize_bytes(self, v: &[u8]) -> Result<(), ToValueError> {
            put_bytes(self.0, BYTES, v);
            Ok(())
        }
        fn serialize_none(self) -> Result<(), ToValueError> {
            self.serialize_unit()
        }
        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), ToValueError> {
            encode_value(value, self.0)
        }
        fn serialize_unit(self) -> Result<(), ToValueError> {
            self.0.push(NULL);
            Ok(())
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), ToValueError> {
            self.serialize_unit()
        }
        fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), ToValueError> {
            self.serialize_str(variant)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), ToValueError> {
            encode_value(value, self.0)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            value: &T,
        ) -> Result<(), ToValueError> {
            open_variant(self.0, variant);
            encode_value(value, self.0)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'o>, ToValueError> {
            Ok(Compound::new(self.0, LIST))
        }
        fn serialize_tuple(self, _: usize) -> Result<Compound<'o>, ToValueError> {
            Ok(Compound::new(self.0, LIST))
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'o>, ToValueError> {
            Ok(Compound::new(self.0, LIST))
        }
        fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Compound<'o>, ToValueError> {
            open_variant(self.0, variant);
            Ok(Compound::new(self.0, LIST))
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Compound<'o>, ToValueError> {
            Ok(Compound::new(self.0, OBJECT))
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'o>, ToValueError> {
            Ok(Compound::new(self.0, OBJECT))
        }
        fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Compound<'o>, ToValueError> {
            open_variant(self.0, variant);
            Ok(Compound::new(self.0, OBJECT))
        }
    }

    crate::value::list_serializers!(Compound<'_>, ToValueError);

    impl ser::SerializeMap for Compound<'_> {
        type Ok = ();
        type Error = ToValueError;
        fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ToValueError> {
            // As `MapBuilder`: the key's value as text.
            let key = key_to_string(key.serialize(ValueSerializer)?)?;
            self.n += 1;
            put_key(self.out, &key);
            Ok(())
        }
        fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ToValueError> {
            encode_value(value, self.out)
        }
        fn end(self) -> Result<(), ToValueError> {
            self.finish()
        }
    }

    impl ser::SerializeStruct for Compound<'_> {
        type Ok = ();
        type Error = ToValueError;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), ToValueError> {
            self.field(key, value)
        }
        fn end(self) -> Result<(), ToValueError> {
            self.finish()
        }
    }

    impl ser::SerializeStructVariant for Compound<'_> {
        type Ok = ();
        type Error = ToValueError;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), ToValueError> {
            self.field(key, value)
        }
        fn end(self) -> Result<(), ToValueError> {
            self.finish()
        }
    }

    fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if input.len() < n {
            return None;
        }
        let (head, tail) = input.split_at(n);
        *input = tail;
        Some(head)
    }

    fn array<const N: usize>(input: &mut &[u8]) -> Option<[u8; N]> {
        take(input, N)?.try_into().ok()
    }

    fn len(input: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(array(input)?) as usize)
    }

    fn text(input: &mut &[u8]) -> Option<String> {
        let n = len(input)?;
        String::from_utf8(take(input, n)?.to_vec()).ok()
    }

    /// Decodes one value from the front of `input`, advancing it; `None` if the input is not
    /// the encoding of a value.
    pub fn decode(input: &mut &[u8]) -> Option<Value> {
        let tag = *take(input, 1)?.first()?;
        Some(match tag {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => Value::Int(i64::from_le_bytes(array(input)?)),
            BIG_INT => Value::BigInt(i128::from_le_bytes(array(input)?)),
            FLOAT => Value::Float(f64::from_bits(u64::from_le_bytes(array(input)?))),
            TEXT => Value::Text(text(input)?),
            DECIMAL => Value::Decimal(Decimal::deserialize(array(input)?)),
            BIG_DECIMAL => Value::BigDecimal { mantissa: i128::from_le_bytes(array(input)?), scale: u32::from_le_bytes(array(input)?) },
            TIMESTAMP => {
                let secs = i64::from_le_bytes(array(input)?);
                Value::Timestamp(DateTime::from_timestamp(secs, u32::from_le_bytes(array(input)?))?)
            }
            DATE => Value::Date(NaiveDate::from_num_days_from_ce_opt(i32::from_le_bytes(array(input)?))?),
            TIME => {
                let secs = u32::from_le_bytes(array(input)?);
                Value::Time(NaiveTime::from_num_seconds_from_midnight_opt(secs, u32::from_le_bytes(array(input)?))?)
            }
            BYTES => {
                let n = len(input)?;
                Value::Bytes(take(input, n)?.to_vec())
            }
            LIST => {
                let n = len(input)?;
                let mut items = Vec::with_capacity(n.min(input.len()));
                for _ in 0..n {
                    items.push(decode(input)?);
                }
                Value::List(items)
            }
            OBJECT => {
                let n = len(input)?;
                let mut fields = Vec::with_capacity(n.min(input.len()));
                for _ in 0..n {
                    let k = text(input)?;
                    fields.push((k, decode(input)?));
                }
                Value::Object(fields)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_without_text_are_what_to_value_makes() {
        use chrono::{FixedOffset, TimeZone};
        let utc = |secs: i64, nanos: u32| Utc.timestamp_opt(secs, nanos).unwrap();
        let instants = [
            utc(1_704_067_200, 0),
            utc(1_704_067_200, 123_000_000),
            utc(1_704_067_200, 123_456_000),
            utc(1_704_067_200, 123_456_789),
            utc(-1, 999_999_900),
            utc(-86_400 * 365 * 300, 5_000),
            utc(253_402_300_799, 999_999_999),
        ];
        // The instant as a column stores it (`ColumnBuffer::push_temporal`: microseconds).
        let micros = |v: Option<Value>| match v {
            Some(Value::Timestamp(x)) => Some(x.timestamp_micros()),
            _ => None,
        };
        for t in instants {
            let expected = micros(Some(to_value(&t).unwrap()));
            assert!(expected.is_some());
            assert_eq!(micros(timestamp_without_text(&t)), expected, "{t}");
            // Read as itself: the very value of the text path, not only its microseconds.
            assert_eq!(utc_timestamp(&t), timestamp_without_text(&t), "{t}");
            assert_eq!(micros(timestamp_without_text(&Some(t))), expected, "{t}");
            // In another zone: the same instant, or (a local year beyond 9999) left to `to_value`.
            let offset = t.with_timezone(&FixedOffset::east_opt(3600 + 1800).unwrap());
            let got = micros(timestamp_without_text(&offset));
            assert!(got == expected || (got.is_none() && offset.to_string().starts_with('+')), "{offset}: {got:?}");
        }
        // A none and a year beyond 9999 are left to `to_value`; text is not a timestamp type.
        assert_eq!(timestamp_without_text(&None::<DateTime<Utc>>), None);
        assert_eq!(hinted_value(&None::<DateTime<Utc>>).unwrap().unwrap(), Value::Null);
        let far = utc(253_402_300_800, 0);
        assert_eq!(timestamp_without_text(&far), None);
        assert_eq!(utc_timestamp(&far), None);
        let leap = Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap());
        assert_eq!((utc_timestamp(&leap), timestamp_without_text(&leap)), (None, None));
        assert_eq!(hinted_value(&leap).unwrap().unwrap(), to_value(&leap).unwrap());
        // Only this chrono's `DateTime<Utc>` is read as itself.
        assert_eq!(utc_timestamp(&Some(instants[3])), timestamp_without_text(&Some(instants[3])));
        assert_eq!(utc_timestamp(&None::<DateTime<Utc>>), None);
        assert_eq!(utc_timestamp(&instants[0].with_timezone(&FixedOffset::east_opt(0).unwrap())), None);
        assert_eq!(utc_timestamp(&instants[0].timestamp()), None);
        assert_eq!(hinted_value(&far).unwrap().unwrap(), to_value(&far).unwrap());
        assert!(hinted_value(&"2024-01-01T00:00:00Z").is_none());
        assert_eq!(micros(hinted_value(&instants[3]).map(Result::unwrap)), micros(Some(to_value(&instants[3]).unwrap())));
    }

    #[test]
    fn binary_form_round_trips_every_type() {
        let v = Value::Object(vec![
            ("null".into(), Value::Null),
            ("b".into(), Value::Bool(true)),
            ("i".into(), Value::Int(-7)),
            ("big".into(), Value::BigInt(i128::MAX)),
            ("f".into(), Value::Float(-0.1)),
            ("t".into(), Value::Text("héllo".into())),
            ("d".into(), Value::Decimal(Decimal::new(-12345, 3))),
            ("bd".into(), Value::BigDecimal { mantissa: 10i128.pow(37), scale: 5 }),
            ("ts".into(), Value::Timestamp(DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap())),
            ("date".into(), Value::Date(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap())),
            ("time".into(), Value::Time(NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).unwrap())),
            ("bytes".into(), Value::Bytes(vec![0, 255])),
            ("list".into(), Value::List(vec![Value::Int(1), Value::List(vec![]), Value::Object(vec![])])),
        ]);
        let mut out = Vec::new();
        binary::encode(&v, &mut out);
        let first = out.len();
        binary::encode(&Value::Int(2), &mut out);
        let mut input = out.as_slice();
        assert_eq!(binary::decode(&mut input), Some(v));
        assert_eq!(binary::decode(&mut input), Some(Value::Int(2)));
        assert!(input.is_empty());
        assert_eq!(binary::decode(&mut &out[..first - 3]), None, "a truncated value is not a value");
    }

    #[test]
    fn binary_encoding_of_serialize_items_is_that_of_their_values() {
        use std::collections::BTreeMap;
        #[derive(serde::Serialize)]
        struct Id(u64);
        #[derive(serde::Serialize)]
        enum Kind {
            Plain,
            Count(i64),
            Pair(i64, String),
            Named { z: bool, at: Option<NaiveDate> },
        }
        #[derive(serde::Serialize)]
        struct Item {
            id: Id,
            big: u64,
            wide: i128,
            huge: u128,
            f: f32,
            z: f64,
            c: char,
            s: &'static str,
            none: Option<i32>,
            unit: (),
            kinds: Vec<Kind>,
            keys: BTreeMap<i64, bool>,
            fkeys: BTreeMap<String, Option<f64>>,
            tuple: (u8, Option<String>),
            at: DateTime<Utc>,
            naive: chrono::NaiveDateTime,
            amount: Decimal,
            maybe_amount: Option<Decimal>,
            blob: Vec<u8>,
            bytes: serde_bytes_like::Bytes,
            nested: Vec<Vec<i64>>,
        }
        mod serde_bytes_like {
            pub struct Bytes(pub Vec<u8>);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(&self.0)
                }
            }
        }
        let day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let at = day.and_hms_nano_opt(1, 2, 3, 456_789_123).unwrap().and_utc();
        let item = |i: u64| Item {
            id: Id(i),
            big: u64::MAX - i,
            wide: i128::MIN + i as i128,
            huge: u128::from(i),
            f: 0.1,
            z: -0.0,
            c: 'é',
            s: "text",
            none: None,
            unit: (),
            kinds: vec![Kind::Plain, Kind::Count(-1), Kind::Pair(2, "x".into()), Kind::Named { z: true, at: Some(day) }],
            keys: [(-1, true), (2, false)].into(),
            fkeys: [("a".to_owned(), Some(1.5)), ("b".to_owned(), None)].into(),
            tuple: (7, Some("t".into())),
            at,
            naive: at.naive_utc(),
            amount: Decimal::new(-12345, 3),
            maybe_amount: None,
            blob: vec![0, 255],
            bytes: serde_bytes_like::Bytes(vec![1, 2]),
            nested: vec![vec![1], vec![]],
        };
        for i in [0, 5] {
            let (mut direct, mut via) = (Vec::new(), Vec::new());
            binary::encode_serialize(&item(i), &mut direct).unwrap();
            binary::encode(&to_value(&item(i)).unwrap(), &mut via);
            assert_eq!(direct, via);
        }
        for scalar in [to_value(&1u8).unwrap(), Value::Null] {
            let (mut direct, mut via) = (Vec::new(), Vec::new());
            binary::encode_serialize(&scalar, &mut direct).unwrap();
            binary::encode(&to_value(&scalar).unwrap(), &mut via);
            assert_eq!(direct, via);
        }
        let json = serde_json::json!({"a": [1, {"b": null}], "c": 18446744073709551615u64, "d": -0.5});
        let (mut direct, mut via) = (Vec::new(), Vec::new());
        binary::encode_serialize(&json, &mut direct).unwrap();
        binary::encode(&to_value(&json).unwrap(), &mut via);
        assert_eq!(direct, via);
        assert!(binary::encode_serialize(&u128::MAX, &mut Vec::new()).is_err());
        assert!(binary::encode_serialize(&BTreeMap::from([((), 1)]), &mut Vec::new()).is_err());
    }

    #[derive(serde::Serialize)]
    struct User {
        id: i64,
        name: String,
        tags: Vec<&'static str>,
        score: Option<f64>,
    }

    #[test]
    fn struct_keeps_field_order_and_types() {
        let v = to_value(&User { id: 1, name: "A".into(), tags: vec!["x"], score: None }).unwrap();
        assert_eq!(
            v,
            Value::Object(vec![
                ("id".into(), Value::Int(1)),
                ("name".into(), Value::Text("A".into())),
                ("tags".into(), Value::List(vec![Value::Text("x".into())])),
                ("score".into(), Value::Null),
            ])
        );
    }

    #[test]
    fn chrono_decimal_and_bytes_fields_keep_their_types() {
        #[derive(serde::Serialize)]
        struct Typed {
            at: DateTime<Utc>,
            naive: chrono::NaiveDateTime,
            day: NaiveDate,
            maybe_day: Option<NaiveDate>,
            time: NaiveTime,
            amount: Decimal,
            blob: Vec<u8>,
            days: Vec<NaiveDate>,
        }
        let day = NaiveDate::from_ymd_opt(2024, 1, 15).unwrap();
        let at = day.and_hms_opt(10, 30, 0).unwrap().and_utc();
        let v = to_value(&Typed {
            at,
            naive: at.naive_utc(),
            day,
            maybe_day: Some(day),
            time: NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
            amount: Decimal::new(1234, 2),
            blob: vec![0, 255],
            days: vec![day],
        })
        .unwrap();
        assert_eq!(v.get("at"), Some(&Value::Timestamp(at)));
        assert_eq!(v.get("naive"), Some(&Value::Timestamp(at)));
        assert_eq!(v.get("day"), Some(&Value::Date(day)));
        assert_eq!(v.get("maybe_day"), Some(&Value::Date(day)));
        assert_eq!(v.get("time"), Some(&Value::Time(NaiveTime::from_hms_opt(10, 30, 0).unwrap())));
        assert_eq!(v.get("amount"), Some(&Value::Decimal(Decimal::new(1234, 2))));
        assert_eq!(v.get("blob"), Some(&Value::Bytes(vec![0, 255])));
        assert_eq!(v.get("days"), Some(&Value::List(vec![Value::Date(day)])));
    }

    #[test]
    fn json_object_order_is_preserved() {
        let j: serde_json::Value = serde_json::from_str(r#"{"z":1,"a":{"y":true,"b":null}}"#).unwrap();
        let v = Value::from(j.clone());
        assert_eq!(v.to_json(), j);
        match v {
            Value::Object(f) => assert_eq!(f[0].0, "z"),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn decimals_beyond_28_digits_stay_exact() {
        let v = parse_decimal("123456789012345678901234567.123456789").unwrap();
        assert_eq!(v, Value::BigDecimal { mantissa: 123456789012345678901234567123456789, scale: 9 });
        assert_eq!(v.to_json(), serde_json::json!("123456789012345678901234567.123456789"));
        assert_eq!(parse_decimal("-0.000000001"), Some(Value::Decimal(Decimal::new(-1, 9))));
        assert_eq!(big_decimal_text(-5, 3), "-0.005");
        assert_eq!(parse_decimal("1".repeat(39).as_str()), None);
        assert_eq!(parse_decimal("abc"), None);
    }

    #[test]
    fn tagged_json_round_trips_every_type() {
        let day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let v = Value::Object(vec![
            ("d".into(), Value::Decimal(Decimal::new(-125, 2))),
            ("big".into(), parse_decimal("123456789012345678901234567.123456789").unwrap()),
            ("t".into(), Value::Timestamp(day.and_hms_micro_opt(1, 2, 3, 4).unwrap().and_utc())),
            ("day".into(), Value::Date(day)),
            ("time".into(), Value::Time(NaiveTime::from_hms_micro_opt(1, 2, 3, 500).unwrap())),
            ("b".into(), Value::Bytes(vec![0, 255])),
            ("huge".into(), Value::BigInt(u64::MAX as i128 + 1)),
            ("l".into(), Value::List(vec![Value::Int(1), Value::Null, Value::Text("x".into()), Value::Float(0.5), Value::Bool(true)])),
        ]);
        assert_eq!(Value::from_tagged_json(&v.to_tagged_json()), v);
        // The Serialize impl writes the same form without building it.
        assert_eq!(serde_json::to_value(&v).unwrap(), v.to_tagged_json());
    }

    #[test]
    fn json_text_deserializes_straight_into_values() {
        let text = r#"{"z":1,"a":[true,null,2.5,"x",{"k":-3}],"big":18446744073709551615}"#;
        let direct: Value = serde_json::from_str(text).unwrap();
        let via: Value = Value::from(serde_json::from_str::<serde_json::Value>(text).unwrap());
        assert_eq!(direct, via);
    }

    #[test]
    fn big_unsigned_is_kept_exactly() {
        assert_eq!(to_value(&u64::MAX).unwrap(), Value::BigInt(u64::MAX as i128));
        assert_eq!(Value::from(serde_json::json!(18446744073709551615u64)), Value::BigInt(u64::MAX as i128));
    }
}
