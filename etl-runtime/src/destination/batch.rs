//! Columnar batches: coerced rows of one table become an Arrow `RecordBatch` for DuckDB's
//! appender. Rows are buffered per table only up to [`BATCH_ROWS`], so a load of any size runs in
//! bounded memory.

use std::sync::Arc;

use duckdb::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use duckdb::arrow::datatypes::{Field, Schema as ArrowSchema};
use duckdb::arrow::record_batch::RecordBatch;
use etl_core::{Column, DataType, Table, Value};
use chrono::{NaiveDate, Timelike};

/// Rows buffered per table before they are handed to DuckDB.
pub const BATCH_ROWS: usize = 16 * 1024;

/// Rows of one table, as `(column index in the schema table, value)` pairs.
#[derive(Debug, Default)]
pub struct TableBuffer {
    rows: Vec<Vec<(usize, Value)>>,
}

impl TableBuffer {
    /// Adds a row.
    pub fn push(&mut self, row: Vec<(usize, Value)>) {
        self.rows.push(row);
    }

    /// Number of buffered rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Takes the buffered rows out.
    pub fn take_rows(&mut self) -> Vec<Vec<(usize, Value)>> {
        std::mem::take(&mut self.rows)
    }
}

/// Builds a batch of rows over the table's complete columns. Returns the column names in batch
/// order.
pub fn batch_from_rows(rows: Vec<Vec<(usize, Value)>>, table: &Table) -> Result<(Vec<String>, RecordBatch), String> {
    let columns: Vec<(usize, &Column)> = table.columns.iter().enumerate().filter(|(_, c)| c.data_type.is_some()).collect();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    let mut fields = Vec::with_capacity(columns.len());
    // Transpose once: for each column, the value of every row (or none).
    let mut slots: Vec<Vec<Option<&Value>>> = vec![vec![None; rows.len()]; table.columns.len()];
    for (r, row) in rows.iter().enumerate() {
        for (idx, v) in row {
            if let Some(col) = slots.get_mut(*idx) {
                col[r] = Some(v);
            }
        }
    }
    for (idx, column) in &columns {
        let values = &slots[*idx];
        let array = build_array(table, column, values)?;
        fields.push(Field::new(column.name.clone(), array.data_type().clone(), true));
        arrays.push(array);
    }
    let schema = Arc::new(ArrowSchema::new(fields));
    let batch = RecordBatch::try_new(schema, arrays).map_err(|e| e.to_string())?;
    Ok((columns.iter().map(|(_, c)| c.name.clone()).collect(), batch))
}

fn mismatch(table: &Table, column: &Column, v: &Value) -> String {
    format!(
        "value {} of kind {} does not fit column `{}` of table `{}` ({})",
        v.to_json_string(),
        v.kind(),
        column.name,
        table.name,
        column.duckdb_type().unwrap_or_default()
    )
}

/// `mantissa / 10^from` as a mantissa at scale `to`, rounding half away from zero.
fn rescale_i128(mantissa: i128, from: u32, to: u32) -> Option<i128> {
    if to >= from {
        mantissa.checked_mul(10i128.checked_pow(to - from)?)
    } else {
        let div = 10i128.checked_pow(from - to)?;
        let (q, r) = (mantissa / div, mantissa % div);
        Some(if r.abs() * 2 >= div { q + mantissa.signum() } else { q })
    }
}

/// Whether a mantissa has at most `precision` digits.
fn fits(mantissa: i128, precision: u8) -> bool {
    10u128.checked_pow(u32::from(precision)).is_none_or(|limit| mantissa.unsigned_abs() < limit)
}

fn build_array(table: &Table, column: &Column, values: &[Option<&Value>]) -> Result<ArrayRef, String> {
    let n = values.len();
    let data_type = column.data_type.expect("complete column");
    Ok(match data_type {
        DataType::Text => {
            let mut b = StringBuilder::with_capacity(n, n * 8);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Text(s)) => b.append_value(s),
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Json => {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(other) => b.append_value(other.to_json_string()),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Bigint if column.precision.is_some_and(|p| p > 64) => {
            let mut b = Decimal128Builder::with_capacity(n).with_precision_and_scale(38, 0).map_err(|e| e.to_string())?;
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Int(i)) => b.append_value(*i as i128),
                    Some(Value::BigInt(i)) => b.append_value(*i),
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Bigint => {
            let mut b = Int64Builder::with_capacity(n);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Int(i)) => b.append_value(*i),
                    Some(Value::BigInt(i)) => {
                        return Err(format!(
                            "integer {i} in column `{}` of table `{}` does not fit BIGINT (the column was created as \
                             BIGINT by earlier data); a column that must hold such values needs to be declared before its \
                             first load, e.g. `etl::column(\"{}\").data_type(etl::DataType::Bigint).precision(128)` (HUGEINT)",
                            column.name, table.name, column.name
                        ))
                    }
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Double => {
            let mut b = Float64Builder::with_capacity(n);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Float(f)) => b.append_value(*f),
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Bool => {
            let mut b = BooleanBuilder::with_capacity(n);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Bool(x)) => b.append_value(*x),
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Decimal => {
            let scale = column.scale.unwrap_or(9);
            let precision = column.precision.unwrap_or(38).min(38) as u8;
            let mut b = Decimal128Builder::with_capacity(n)
                .with_precision_and_scale(precision, scale as i8)
                .map_err(|e| format!("column `{}` of table `{}`: {e}", column.name, table.name))?;
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(v @ Value::Decimal(d)) => {
                        // Exact: rust_decimal's own rescale silently lowers the scale when the
                        // value does not fit, which would store a wrong number.
                        let m = rescale_i128(d.mantissa(), d.scale(), scale).filter(|m| fits(*m, precision)).ok_or_else(|| mismatch(table, column, v))?;
                        b.append_value(m);
                    }
                    Some(v @ Value::BigDecimal { mantissa, scale: from }) => {
                        let m = rescale_i128(*mantissa, *from, scale).filter(|m| fits(*m, precision)).ok_or_else(|| mismatch(table, column, v))?;
                        b.append_value(m);
                    }
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp => {
            let tz = column.timezone.unwrap_or(true);
            let mut b = TimestampMicrosecondBuilder::with_capacity(n);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Timestamp(t)) => b.append_value(t.timestamp_micros()),
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            let array = b.finish();
            if tz {
                Arc::new(array.with_timezone("UTC"))
            } else {
                Arc::new(array)
            }
        }
        DataType::Date => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            let mut b = Date32Builder::with_capacity(n);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Date(d)) => b.append_value((*d - epoch).num_days() as i32),
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Time => {
            let mut b = Time64MicrosecondBuilder::with_capacity(n);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Time(t)) => {
                        b.append_value(t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000) as i64)
                    }
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Binary => {
            let mut b = BinaryBuilder::with_capacity(n, n * 8);
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::Bytes(x)) => b.append_value(x),
                    Some(other) => return Err(mismatch(table, column, other)),
                }
            }
            Arc::new(b.finish())
        }
    })
}
