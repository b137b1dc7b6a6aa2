//! PostgreSQL's binary values as Arrow arrays: query results read back ([`query_arrow`], a
//! dataset's tables) and rows read in chunks of a known shape ([`batch`], the `sql_database`
//! source). Each column's PostgreSQL type is read in binary and put into the Arrow type dlt gives
//! it (`int2/4/8` → Int64, `numeric` → Decimal128, `timestamptz` → Timestamp(µs, UTC),
//! `timestamp` → Timestamp(µs), `json`/`jsonb`/`uuid`/text → Utf8, `bytea` → Binary, ...). A
//! type it cannot read is an error naming the column and the type.

#![warn(missing_docs)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema, TimeUnit};
use arrow::record_batch::RecordBatch;
use postgres::types::{FromSql, Type};
use postgres::Row;

/// The raw binary value of a column, of any type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// How a column's binary values are read, and the Arrow type they become.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// `bool` → Boolean.
    Bool,
    /// `int2`, `int4`, `int8`, `oid` → Int64.
    Int,
    /// `float4`, `float8` → Float64.
    Float,
    /// `numeric` of no declared shape → Decimal128 at the largest scale of the values read.
    Numeric,
    /// `numeric(precision, scale)` → Decimal128(precision, scale) (a value with more decimals
    /// than the scale is an error).
    Decimal(u8, i8),
    /// `text`, `varchar`, `char`, `name`, an enum's label → Utf8.
    Text,
    /// `json` → Utf8 (its text).
    Json,
    /// `jsonb` → Utf8 (its text).
    Jsonb,
    /// `uuid` → Utf8 (`8-4-4-4-12`).
    Uuid,
    /// `bytea` → Binary.
    Bytes,
    /// `date` → Date32.
    Date,
    /// `time` → Time64(µs).
    Time,
    /// `timestamp` → Timestamp(µs).
    Timestamp,
    /// `timestamptz` → Timestamp(µs, UTC).
    TimestampTz,
}

/// How a column of this type is read (`None`: a type this crate cannot read).
pub fn kind(ty: &Type) -> Option<Kind> {
    Some(match *ty {
        Type::BOOL => Kind::Bool,
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => Kind::Int,
        Type::FLOAT4 | Type::FLOAT8 => Kind::Float,
        Type::NUMERIC => Kind::Numeric,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Kind::Text,
        Type::JSON => Kind::Json,
        Type::JSONB => Kind::Jsonb,
        Type::UUID => Kind::Uuid,
        Type::BYTEA => Kind::Bytes,
        Type::DATE => Kind::Date,
        Type::TIME => Kind::Time,
        Type::TIMESTAMP => Kind::Timestamp,
        Type::TIMESTAMPTZ => Kind::TimestampTz,
        _ => return None,
    })
}

/// PostgreSQL's epoch (2000-01-01) in days and µs after Unix's.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

fn be_i64(b: &[u8]) -> Result<i64, String> {
    Ok(i64::from_be_bytes(b.try_into().map_err(|_| format!("{} bytes for an 8-byte value", b.len()))?))
}

/// A binary `timestamp`/`timestamptz` as µs since the Unix epoch; `infinity` and `-infinity`
/// (and anything beyond the range) are errors, not wrapped numbers.
fn unix_micros(b: &[u8]) -> Result<i64, String> {
    let pg = be_i64(b)?;
    if pg == i64::MAX || pg == i64::MIN {
        return Err("`infinity` or `-infinity` has no timestamp value".into());
    }
    pg.checked_add(PG_EPOCH_MICROS).ok_or_else(|| "a timestamp out of range".to_owned())
}

/// A binary `date` as days since the Unix epoch; `infinity` and `-infinity` are errors.
fn unix_days(b: &[u8]) -> Result<i32, String> {
    let pg = i32::from_be_bytes(b.try_into().map_err(|_| "a date of the wrong size".to_owned())?);
    if pg == i32::MAX || pg == i32::MIN {
        return Err("`infinity` or `-infinity` has no date value".into());
    }
    pg.checked_add(PG_EPOCH_DAYS).ok_or_else(|| "a date out of range".to_owned())
}

/// A binary `numeric` as `(mantissa, scale)` at its own display scale; NaN and infinities are
/// errors.
pub fn numeric(raw: &[u8]) -> Result<(i128, u32), String> {
    let word = |i: usize| -> Result<u16, String> {
        raw.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "a truncated numeric".to_owned())
    };
    let (ndigits, weight, sign, dscale) = (word(0)? as usize, word(2)? as i16, word(4)?, word(6)?);
    if sign == 0xC000 || sign == 0xD000 || sign == 0xF000 {
        return Err("NaN or an infinity has no decimal value".into());
    }
    let mut acc: i128 = 0;
    for i in 0..ndigits {
        let digit = i128::from(word(8 + 2 * i)?);
        acc = acc.checked_mul(10_000).and_then(|a| a.checked_add(digit)).ok_or("a numeric of more than 38 digits")?;
    }
    // The last digit's place, in decimal digits, against the scale asked for.
    let shift = 4 * (i32::from(weight) - (ndigits as i32 - 1)) + i32::from(dscale);
    let ten = |n: i32| 10_i128.checked_pow(n.unsigned_abs()).ok_or("a numeric of more than 38 digits");
    let mantissa = if shift >= 0 { acc.checked_mul(ten(shift)?).ok_or("a numeric of more than 38 digits")? } else { acc / ten(-shift)? };
    Ok((if sign == 0x4000 { -mantissa } else { mantissa }, u32::from(dscale)))
}

fn uuid_text(b: &[u8]) -> Result<String, String> {
    if b.len() != 16 {
        return Err(format!("a uuid of {} bytes", b.len()));
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

fn text(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|e| e.to_string())
}

/// One column of `rows` (all of them) as an Arrow array.
fn raw_at(row: &Row, i: usize) -> Result<Option<&[u8]>, String> {
    row.try_get::<_, Option<Raw<'_>>>(i).map(|r| r.map(|r| r.0)).map_err(|e| e.to_string())
}

fn column(rows: &[Row], i: usize, kind: Kind) -> Result<(ArrowType, ArrayRef), String> {
    let raw = |row| raw_at(row, i);
    macro_rules! build {
        ($builder:expr, $ty:expr, |$b:ident| $conv:expr) => {{
            let mut builder = $builder;
            for row in rows {
                match raw(row)? {
                    None => builder.append_null(),
                    Some($b) => builder.append_value($conv),
                }
            }
            ($ty, Arc::new(builder.finish()) as ArrayRef)
        }};
    }
    Ok(match kind {
        Kind::Bool => build!(BooleanBuilder::new(), ArrowType::Boolean, |b| b.first().is_some_and(|x| *x != 0)),
        Kind::Int => build!(Int64Builder::new(), ArrowType::Int64, |b| match b.len() {
            2 => i64::from(i16::from_be_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            _ => be_i64(b)?,
        }),
        Kind::Float => build!(Float64Builder::new(), ArrowType::Float64, |b| match b.len() {
            4 => f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            _ => f64::from_bits(be_i64(b)? as u64),
        }),
        Kind::Decimal(precision, scale) => {
            let to = u32::try_from(scale).unwrap_or(0);
            let mut builder = Decimal128Builder::new();
            for row in rows {
                match raw(row)?.map(numeric).transpose()? {
                    None => builder.append_null(),
                    Some((m, s)) if s <= to => {
                        builder.append_value(m.checked_mul(10_i128.pow(to - s)).ok_or("a numeric of more than 38 digits")?)
                    }
                    Some((m, s)) => {
                        let div = 10_i128.pow(s - to);
                        if m % div != 0 {
                            return Err(format!("a value with {s} decimals in a column of scale {to}"));
                        }
                        builder.append_value(m / div)
                    }
                }
            }
            let ty = ArrowType::Decimal128(precision, scale);
            (ty.clone(), Arc::new(builder.finish().with_data_type(ty)) as ArrayRef)
        }
        Kind::Numeric => {
            let values: Vec<Option<(i128, u32)>> = rows.iter().map(|r| raw(r)?.map(numeric).transpose()).collect::<Result<_, _>>()?;
            let scale = values.iter().flatten().map(|(_, s)| *s).max().unwrap_or(0).min(38);
            let mut builder = Decimal128Builder::new();
            for v in values {
                match v {
                    None => builder.append_null(),
                    Some((m, s)) => builder.append_value(m.checked_mul(10_i128.pow(scale - s.min(scale))).ok_or("a numeric of more than 38 digits")?),
                }
            }
            let ty = ArrowType::Decimal128(38, scale as i8);
            (ty.clone(), Arc::new(builder.finish().with_data_type(ty)) as ArrayRef)
        }
        Kind::Text => build!(StringBuilder::new(), ArrowType::Utf8, |b| text(b)?),
        Kind::Json => build!(StringBuilder::new(), ArrowType::Utf8, |b| text(b)?),
        // jsonb's binary form: a version byte, then the text.
        Kind::Jsonb => build!(StringBuilder::new(), ArrowType::Utf8, |b| text(b.get(1..).unwrap_or_default())?),
        Kind::Uuid => build!(StringBuilder::new(), ArrowType::Utf8, |b| uuid_text(b)?),
        Kind::Bytes => build!(BinaryBuilder::new(), ArrowType::Binary, |b| b),
        Kind::Date => build!(Date32Builder::new(), ArrowType::Date32, |b| unix_days(b)?),
        Kind::Time => build!(Time64MicrosecondBuilder::new(), ArrowType::Time64(TimeUnit::Microsecond), |b| be_i64(b)?),
        Kind::Timestamp => build!(TimestampMicrosecondBuilder::new(), ArrowType::Timestamp(TimeUnit::Microsecond, None), |b| unix_micros(b)?),
        Kind::TimestampTz => {
            let ty = ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
            let mut builder = TimestampMicrosecondBuilder::new();
            for row in rows {
                match raw(row)? {
                    None => builder.append_null(),
                    Some(b) => builder.append_value(unix_micros(b)?),
                }
            }
            (ty.clone(), Arc::new(builder.finish().with_data_type(ty)) as ArrayRef)
        }
    })
}

/// The server's message of an error (its SQLSTATE and text), else the client's.
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Runs `sql` and returns its rows as one record batch (none for an empty result).
pub fn query_arrow(client: &mut postgres::Client, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let statement = client.prepare(sql).map_err(|e| pg_message(&e))?;
    let kinds: Vec<(String, Kind)> = statement
        .columns()
        .iter()
        .map(|c| kind(c.type_()).map(|k| (c.name().to_owned(), k)).ok_or_else(|| format!("column `{}` has type `{}`, which etl cannot read yet", c.name(), c.type_())))
        .collect::<Result<_, _>>()?;
    let rows = client.query(&statement, &[]).map_err(|e| pg_message(&e))?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    batch(&rows, &kinds).map(|b| vec![b])
}

/// Rows of columns read as `columns` say (`(name, kind)`, in the rows' order) as one record
/// batch. A value that cannot be read is an error naming its column.
pub fn batch(rows: &[Row], columns: &[(String, Kind)]) -> Result<RecordBatch, String> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    for (i, (name, kind)) in columns.iter().enumerate() {
        let (ty, array) = column(rows, i, *kind).map_err(|e| format!("column `{name}`: {e}"))?;
        fields.push(Field::new(name, ty, true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays).map_err(|e| e.to_string())
}

/// The server's message of an error (SQLSTATE and text), else the client's.
pub fn message(e: &postgres::Error) -> String {
    pg_message(e)
}

#[cfg(test)]
mod tests {
    use super::numeric;

    fn enc(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }

    #[test]
    fn binary_numerics_decode_to_mantissa_and_scale() {
        // 12345.678 = [1, 2345, 6780], weight 1, dscale 3.
        assert_eq!(numeric(&enc(3, 1, 0, 3, &[1, 2345, 6780])).unwrap(), (12_345_678, 3));
        assert_eq!(numeric(&enc(1, -1, 0x4000, 2, &[5000])).unwrap(), (-50, 2), "-0.50");
        assert_eq!(numeric(&enc(1, 2, 0, 0, &[7])).unwrap(), (700_000_000, 0), "7e8");
        assert_eq!(numeric(&enc(0, 0, 0, 2, &[])).unwrap(), (0, 2));
        assert!(numeric(&enc(0, 0, 0xC000, 0, &[])).is_err());
    }
}
