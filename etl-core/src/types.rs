//! Type inference and coercion, following dlt's rules.
//!
//! The first value seen decides a column's type. Later values are coerced into it where dlt
//! coerces (`"22"` into a bigint column, `2` into a text column); where it cannot, the value goes
//! to a variant column `<column>__v_<type>`.


use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;

use crate::hints::DataType;
use crate::value::Value;

/// The dlt type of a value. Text that looks like an ISO timestamp is a timestamp
/// (dlt's default `iso_timestamp` detection).
pub fn infer_type(value: &Value) -> Option<DataType> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => DataType::Bool,
        Value::Int(_) | Value::BigInt(_) => DataType::Bigint,
        Value::Float(_) => DataType::Double,
        Value::Text(s) => {
            if parse_iso_timestamp(s).is_some() {
                DataType::Timestamp
            } else {
                DataType::Text
            }
        }
        Value::Decimal(_) | Value::BigDecimal { .. } => DataType::Decimal,
        Value::Timestamp(_) => DataType::Timestamp,
        Value::Date(_) => DataType::Date,
        Value::Time(_) => DataType::Time,
        // dlt quirk kept for compatibility: empty bytes behave as an empty string.
        Value::Bytes(b) if b.is_empty() => DataType::Text,
        Value::Bytes(_) => DataType::Binary,
        Value::List(_) | Value::Object(_) => DataType::Json,
    })
}

/// Parses the ISO 8601 timestamps dlt autodetects: a date and a time separated by `T` or a
/// space, optional seconds and fraction, and `Z`, an offset or nothing (taken as UTC). Date-only
/// and time-only strings are not timestamps.
pub fn parse_iso_timestamp(s: &str) -> Option<DateTime<Utc>> {
    // Hand-written: this runs on every text value (detection), so it must reject fast and never
    // allocate. dlt (pendulum) accepts `T` or a space as separator and an upper-case `Z` only.
    let b = s.as_bytes();
    if b.len() <= 10 || !b[0].is_ascii_digit() || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    let rest = &s[11..];
    let zone_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time_part, zone) = rest.split_at(zone_at);
    let time = parse_time(time_part)?;
    let naive = NaiveDateTime::new(date, time);
    let offset_secs = parse_offset(zone)?;
    let offset = chrono::FixedOffset::east_opt(offset_secs)?;
    Some(offset.from_local_datetime(&naive).single()?.with_timezone(&Utc))
}

/// An all-digit ASCII number.
fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` (also `,f`); fractions beyond microseconds are dropped.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let (h, m) = (num(&b[0..2])?, num(&b[3..5])?);
    let (sec, micros) = match b.len() {
        5 => (0, 0),
        _ if b.len() >= 8 && b[5] == b':' => {
            let sec = num(&b[6..8])?;
            let micros = match &b[8..] {
                [] => 0,
                [b'.' | b',', frac @ ..] if !frac.is_empty() => {
                    let digits = &frac[..frac.len().min(6)];
                    if !frac.iter().all(u8::is_ascii_digit) {
                        return None;
                    }
                    num(digits)? * 10u32.pow(6 - digits.len() as u32)
                }
                _ => return None,
            };
            (sec, micros)
        }
        _ => return None,
    };
    NaiveTime::from_hms_micro_opt(h, m, sec, micros)
}

fn parse_offset(zone: &str) -> Option<i32> {
    match zone {
        "" | "Z" | "z" => Some(0),
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
            if !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let (h, m) = match digits.len() {
                2 => (digits.parse::<i32>().ok()?, 0),
                4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            Some(sign * (h * 3600 + m * 60))
        }
    }
}

/// Python's `str()` of a float, which dlt writes when a float goes into a text column.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python switches to exponent notation: 1e+16, 1.5e-05.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        return format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn text_of(value: &Value) -> Option<String> {
    Some(match value {
        Value::Text(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(i) => i.to_string(),
        Value::Float(f) => python_float_repr(*f),
        Value::Decimal(d) => d.to_string(),
        Value::BigDecimal { mantissa, scale } => crate::value::big_decimal_text(*mantissa, *scale),
        Value::Timestamp(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
        Value::Date(d) => d.to_string(),
        Value::Time(t) => t.to_string(),
        Value::Bytes(b) if b.is_empty() => String::new(),
        Value::List(_) | Value::Object(_) => value.to_json_string(),
        Value::Bytes(_) | Value::Null => return None,
    })
}

fn parse_int_text(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Coerces `value` into a column of type `to`, or `None` if dlt would put it in a variant column.
pub fn coerce(value: Value, to: DataType) -> Option<Value> {
    use DataType as T;
    match (to, value) {
        (_, Value::Null) => Some(Value::Null),
        (T::Json, v) => Some(v),
        (T::Text, v) => text_of(&v).map(Value::Text),
        (T::Bigint, Value::Int(i)) => Some(Value::Int(i)),
        (T::Bigint, Value::BigInt(i)) => Some(Value::BigInt(i)),
        (T::Bigint, Value::Float(f)) => (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(Value::Int(f as i64)),
        (T::Bigint, Value::Decimal(d)) => (d.fract().is_zero()).then(|| d.to_i64().map(Value::Int)).flatten(),
        (T::Bigint, Value::Text(s)) => parse_int_text(&s).map(Value::Int),
        (T::Double, Value::Float(f)) => Some(Value::Float(f)),
        (T::Double, Value::Int(i)) => Some(Value::Float(i as f64)),
        (T::Double, Value::BigInt(i)) => Some(Value::Float(i as f64)),
        (T::Double, Value::Decimal(d)) => d.to_f64().map(Value::Float),
        (T::Double, Value::Text(s)) => s.trim().parse::<f64>().ok().map(Value::Float),
        (T::Bool, Value::Bool(b)) => Some(Value::Bool(b)),
        (T::Bool, Value::Int(i)) => Some(Value::Bool(i != 0)),
        (T::Bool, Value::Float(f)) => Some(Value::Bool(f != 0.0)),
        (T::Bool, Value::Decimal(d)) => Some(Value::Bool(!d.is_zero())),
        (T::Bool, Value::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "t" | "y" | "1" => Some(Value::Bool(true)),
            "no" | "false" | "f" | "n" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        (T::Decimal, Value::Decimal(d)) => Some(Value::Decimal(d)),
        (T::Decimal, Value::Int(i)) => Some(Value::Decimal(Decimal::from(i))),
        (T::Decimal, Value::BigInt(i)) => Decimal::try_from_i128_with_scale(i, 0).ok().map(Value::Decimal),
        (T::Decimal, Value::Float(f)) => Decimal::from_f64(f).map(Value::Decimal),
        (T::Decimal, Value::Text(s)) => crate::value::parse_decimal(&s),
        (T::Decimal, v @ Value::BigDecimal { .. }) => Some(v),
        // dlt's `wei`: whole numbers (decimal or `0x` hex text, as dlt's `_text_to_wei`).
        (T::Wei, Value::Int(i)) => Some(Value::BigDecimal { mantissa: i128::from(i), scale: 0 }),
        (T::Wei, Value::BigInt(i)) => Some(Value::BigDecimal { mantissa: i, scale: 0 }),
        (T::Wei, Value::Decimal(d)) => d.fract().is_zero().then(|| Value::Decimal(d)),
        (T::Wei, v @ Value::BigDecimal { .. }) => Some(v),
        (T::Wei, Value::Text(s)) => parse_wei_text(&s).map(|mantissa| Value::BigDecimal { mantissa, scale: 0 }),
        (T::Double, Value::BigDecimal { mantissa, scale }) => Some(Value::Float(mantissa as f64 / 10f64.powi(scale as i32))),
        (T::Timestamp, Value::Timestamp(t)) => Some(Value::Timestamp(t)),
        (T::Timestamp, Value::Text(s)) => parse_iso_timestamp(&s)
            .or_else(|| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN).and_utc()))
            .or_else(|| s.trim().parse::<f64>().ok().and_then(unix_seconds))
            .map(Value::Timestamp),
        (T::Timestamp, Value::Int(i)) => Utc.timestamp_opt(i, 0).single().map(Value::Timestamp),
        (T::Timestamp, Value::Float(f)) => unix_seconds(f).map(Value::Timestamp),
        (T::Timestamp, Value::Date(d)) => Some(Value::Timestamp(d.and_time(NaiveTime::MIN).and_utc())),
        (T::Date, Value::Date(d)) => Some(Value::Date(d)),
        (T::Date, Value::Text(s)) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok().map(Value::Date),
        (T::Date, Value::Timestamp(t)) => Some(Value::Date(t.date_naive())),
        (T::Time, Value::Time(t)) => Some(Value::Time(t)),
        (T::Time, Value::Text(s)) => parse_time(s.trim()).map(Value::Time),
        (T::Binary, Value::Bytes(b)) if !b.is_empty() => Some(Value::Bytes(b)),
        _ => None,
    }
}

/// A whole number as dlt's `wei` takes it from text: decimal digits or `0x` hex (up to 38 digits).
fn parse_wei_text(s: &str) -> Option<i128> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16).ok(),
        None => t.parse::<i128>().ok(),
    }
}

fn unix_seconds(f: f64) -> Option<DateTime<Utc>> {
    if !f.is_finite() {
        return None;
    }
    let micros = (f * 1e6).round() as i64;
    DateTime::from_timestamp_micros(micros)
}

/// The type name dlt uses in a variant column's name: the value's own type before detection
/// (an ISO string gives `__v_text` even though the variant column is typed timestamp).
pub fn variant_suffix(value: &Value) -> &'static str {
    match value {
        Value::Text(_) => "text",
        Value::Bytes(b) if b.is_empty() => "text",
        other => infer_type(other).map_or("text", DataType::name),
    }
}

/// Converts a value of its own inferred type into the canonical form for that type
/// (ISO text detected as a timestamp becomes a timestamp).
pub fn canonical(value: Value, data_type: DataType) -> Value {
    match (data_type, value) {
        (DataType::Timestamp, Value::Text(s)) => parse_iso_timestamp(&s).map(Value::Timestamp).unwrap_or(Value::Text(s)),
        (DataType::Text, Value::Bytes(b)) if b.is_empty() => Value::Text(String::new()),
        (_, v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_timestamps_dlt_detects() {
        for s in ["2024-01-15T10:30:00Z", "2024-01-15T10:30:00+02:00", "2024-01-15T10:30:00", "2024-01-15T10:30:00.123456Z", "2024-01-15 10:30:00"] {
            assert_eq!(infer_type(&Value::Text(s.into())), Some(DataType::Timestamp), "{s}");
        }
        for s in ["2024-01-15", "10:30:00", "123", "true", "", "not a date", "2024-01-15t10:30:00z", " 2024-01-15T10:30:00Z", "2024-01-15T25:00:00", "2024-02-30T10:00:00"] {
            assert_eq!(infer_type(&Value::Text(s.into())), Some(DataType::Text), "{s}");
        }
        let t = parse_iso_timestamp("2024-01-15T10:30:00+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-15T08:30:00+00:00");
        let t = parse_iso_timestamp("2024-01-15T10:30:00.123456789Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-15T10:30:00.123456+00:00", "truncated to microseconds, as dlt");
        assert!(parse_iso_timestamp("2024-01-15T10:30").is_some());
        assert!(parse_iso_timestamp("2024-01-15T10:30:00,5-05:30").is_some());
    }

    #[test]
    fn coerces_as_the_types_variants_case() {
        assert_eq!(coerce(Value::Text("two".into()), DataType::Bigint), None);
        assert_eq!(coerce(Value::Int(2), DataType::Text), Some(Value::Text("2".into())));
        assert_eq!(coerce(Value::Float(2.5), DataType::Bigint), None);
        assert_eq!(coerce(Value::Float(3.0), DataType::Bigint), Some(Value::Int(3)));
        assert_eq!(coerce(Value::Int(2), DataType::Double), Some(Value::Float(2.0)));
        assert_eq!(coerce(Value::Text("22".into()), DataType::Bigint), Some(Value::Int(22)));
        assert_eq!(coerce(Value::Text("3.5".into()), DataType::Bigint), None);
        assert_eq!(coerce(Value::Int(5), DataType::Bool), Some(Value::Bool(true)));
        assert_eq!(coerce(Value::Int(0), DataType::Bool), Some(Value::Bool(false)));
        assert_eq!(coerce(Value::Bool(false), DataType::Bigint), None);
        assert_eq!(coerce(Value::Text("not a date".into()), DataType::Timestamp), None);
        assert_eq!(coerce(Value::Decimal(Decimal::new(25, 1)), DataType::Bigint), None);
        assert_eq!(coerce(Value::Text("str".into()), DataType::Double), None);
        assert_eq!(coerce(Value::Bool(true), DataType::Text), Some(Value::Text("True".into())));
    }

    #[test]
    fn python_float_text() {
        assert_eq!(python_float_repr(2.0), "2.0");
        assert_eq!(python_float_repr(2.5), "2.5");
        assert_eq!(python_float_repr(1e16), "1e+16");
        assert_eq!(python_float_repr(1.5e-5), "1.5e-05");
    }
}
