//! Arrow record batches as rows of [`Value`]s (reading a dataset back, arrow items where a value
//! is needed): each column's Arrow type read into the value model (integers, floats, decimals,
//! text, binary, dates, times, timestamps in UTC, structs as objects, lists as lists).

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, LargeBinaryArray,
    LargeStringArray, StringArray, Time64MicrosecondArray,
};
use arrow::datatypes::{DataType, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, NaiveTime};

use crate::value::Value;

/// The value at `row` of `array`; an Arrow type the value model has no place for is an error
/// naming it.
pub fn value_at(array: &ArrayRef, row: usize) -> Result<Value, String> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    let any = array.as_any();
    macro_rules! int {
        ($t:ty) => {
            Value::Int(i64::from(array.as_primitive::<$t>().value(row)))
        };
    }
    Ok(match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(any.downcast_ref::<BooleanArray>().map(|a| a.value(row)).unwrap_or_default()),
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => {
            let v = array.as_primitive::<UInt64Type>().value(row);
            i64::try_from(v).map(Value::Int).unwrap_or(Value::BigInt(i128::from(v)))
        }
        DataType::Float32 => Value::Float(f64::from(any.downcast_ref::<Float32Array>().map(|a| a.value(row)).unwrap_or_default())),
        DataType::Float64 => Value::Float(any.downcast_ref::<Float64Array>().map(|a| a.value(row)).unwrap_or_default()),
        DataType::Utf8 => Value::Text(any.downcast_ref::<StringArray>().map(|a| a.value(row).to_owned()).unwrap_or_default()),
        DataType::LargeUtf8 => Value::Text(any.downcast_ref::<LargeStringArray>().map(|a| a.value(row).to_owned()).unwrap_or_default()),
        DataType::Binary => Value::Bytes(any.downcast_ref::<BinaryArray>().map(|a| a.value(row).to_vec()).unwrap_or_default()),
        DataType::LargeBinary => Value::Bytes(any.downcast_ref::<LargeBinaryArray>().map(|a| a.value(row).to_vec()).unwrap_or_default()),
        DataType::Decimal128(_, scale) => {
            let mantissa = any.downcast_ref::<Decimal128Array>().map(|a| a.value(row)).unwrap_or_default();
            let scale = u32::try_from(*scale).map_err(|_| format!("a decimal of negative scale {scale}"))?;
            match i64::try_from(mantissa).ok().and_then(|m| rust_decimal::Decimal::try_from_i128_with_scale(i128::from(m), scale).ok()) {
                Some(d) => Value::Decimal(d),
                None => Value::BigDecimal { mantissa, scale },
            }
        }
        DataType::Date32 => {
            let days = any.downcast_ref::<Date32Array>().map(|a| a.value(row)).unwrap_or_default();
            Value::Date(NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(i64::from(days)))
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let micros = any.downcast_ref::<Time64MicrosecondArray>().map(|a| a.value(row)).unwrap_or_default();
            let secs = u32::try_from(micros.div_euclid(1_000_000)).unwrap_or_default();
            let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or_default();
            Value::Time(NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).unwrap_or_default())
        }
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<arrow::datatypes::TimestampSecondType>().value(row) * 1_000_000,
                TimeUnit::Millisecond => array.as_primitive::<arrow::datatypes::TimestampMillisecondType>().value(row) * 1000,
                TimeUnit::Microsecond => array.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => array.as_primitive::<arrow::datatypes::TimestampNanosecondType>().value(row) / 1000,
            };
            Value::Timestamp(DateTime::from_timestamp_micros(v).ok_or_else(|| format!("timestamp {v} µs is out of range"))?)
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut out = Vec::with_capacity(fields.len());
            for (f, column) in fields.iter().zip(s.columns()) {
                out.push((f.name().clone(), value_at(column, row)?));
            }
            Value::Object(out)
        }
        DataType::List(_) => list(&array.as_list::<i32>().value(row))?,
        DataType::LargeList(_) => list(&array.as_list::<i64>().value(row))?,
        DataType::FixedSizeList(..) => list(&array.as_fixed_size_list().value(row))?,
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            let mut out = Vec::with_capacity(entries.len());
            for i in 0..entries.len() {
                let key = match value_at(keys, i)? {
                    Value::Text(s) => s,
                    other => other.to_json_string(),
                };
                out.push((key, value_at(values, i)?));
            }
            Value::Object(out)
        }
        DataType::Dictionary(..) => {
            let dict = array.as_any_dictionary();
            let keys = dict.keys();
            // The one key of this row (not every key of the array, per row).
            let key = match keys.data_type() {
                DataType::Int8 => usize::try_from(keys.as_primitive::<Int8Type>().value(row)).ok(),
                DataType::Int16 => usize::try_from(keys.as_primitive::<Int16Type>().value(row)).ok(),
                DataType::Int32 => usize::try_from(keys.as_primitive::<Int32Type>().value(row)).ok(),
                DataType::Int64 => usize::try_from(keys.as_primitive::<Int64Type>().value(row)).ok(),
                DataType::UInt8 => Some(usize::from(keys.as_primitive::<UInt8Type>().value(row))),
                DataType::UInt16 => Some(usize::from(keys.as_primitive::<UInt16Type>().value(row))),
                DataType::UInt32 => usize::try_from(keys.as_primitive::<UInt32Type>().value(row)).ok(),
                DataType::UInt64 => usize::try_from(keys.as_primitive::<UInt64Type>().value(row)).ok(),
                _ => None,
            }
            .ok_or_else(|| format!("a dictionary key of type {} at row {row}", keys.data_type()))?;
            value_at(dict.values(), key)?
        }
        other => return Err(format!("Arrow type {other} has no value in etl's model")),
    })
}

fn list(values: &ArrayRef) -> Result<Value, String> {
    (0..values.len()).map(|i| value_at(values, i)).collect::<Result<Vec<_>, _>>().map(Value::List)
}

/// The rows of `batches`, each a list of values in column order.
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Value>>, String> {
    let mut out = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .zip(batch.schema().fields())
                .map(|(c, f)| value_at(c, row).map_err(|e| format!("column `{}`: {e}", f.name())))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(values);
        }
    }
    Ok(out)
}
