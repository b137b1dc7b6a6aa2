//! Column buffers ([`etl_core::columnar`]) → PostgreSQL's binary `COPY` format: a header,
//! one tuple per row (field count, then each field's length and bytes in the type's binary
//! "send" form, length −1 for NULL), a trailer. Values never become SQL text.
//!
//! | buffer | PostgreSQL type | bytes |
//! |---|---|---|
//! | `Int` | `smallint` / `integer` / `bigint` | 2 / 4 / 8, big-endian (range-checked) |
//! | `Int` (µs since 1970) | `timestamp[tz]` | 8: µs since 2000-01-01 |
//! | `Int` (µs since midnight) | `time` | 8 |
//! | `Days` (since 1970) | `date` | 4: days since 2000-01-01 |
//! | `Float` | `double precision` | 8, IEEE 754 |
//! | `Bool` | `boolean` | 1 |
//! | `Bytes` | `varchar` / `bytea` | the bytes |
//! | `Bytes` (JSON text) | `jsonb` | version 1, then the text |
//! | `Wide` (mantissa at the column's scale) | `numeric(p,s)` | [`super::numeric`] |

use std::io::Write;
use std::ops::Range;

use etl_core::columnar::{decimal_shape, ColumnBuffer, ColumnData, TableColumns};
use etl_core::naming::quote_ident;
use etl_core::{Column, Table};

use super::ddl::qualified_name;
use super::numeric::encode_mantissa;
use super::types::{PgType, TypeError};

/// Days from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS as i64 * 86_400_000_000;
/// The binary COPY signature, flags and header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Bytes encoded before they are handed to the writer.
const CHUNK_BYTES: usize = 1 << 20;
/// Rows encoded between checks of the chunk's size.
const ROWS_PER_STEP: usize = 256;

/// Why a batch cannot be copied.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A column's type has no PostgreSQL mapping.
    #[error("column `{column}` of table `{table}`")]
    Type {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Why.
        #[source]
        source: TypeError,
    },
    /// A buffer holds a different number of rows than the batch.
    #[error("column `{column}` of table `{table}` has {len} values for {rows} rows")]
    Length {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Values in the buffer.
        len: usize,
        /// Rows of the batch.
        rows: usize,
    },
    /// A buffer whose values are not of the column's PostgreSQL type.
    #[error("column `{column}` of table `{table}` is {pg_type} but its buffer holds {buffer} values")]
    Mismatch {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// The PostgreSQL type.
        pg_type: String,
        /// The buffer's kind.
        buffer: &'static str,
    },
    /// A value outside its PostgreSQL type's range.
    #[error("value {value} in row {row} of column `{column}` of table `{table}` is out of range for {pg_type}")]
    OutOfRange {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Row in the batch.
        row: usize,
        /// The value.
        value: String,
        /// The PostgreSQL type.
        pg_type: String,
    },
    /// More columns than a COPY tuple can hold.
    #[error("table `{table}` has {columns} columns; a COPY row holds at most 32767")]
    TooManyColumns {
        /// Table.
        table: String,
        /// Columns.
        columns: usize,
    },
    /// Writing to the server failed.
    #[error("writing COPY data")]
    Io(#[source] std::io::Error),
}

/// One copied column: its schema column, PostgreSQL type, values and (numerics) their scale.
#[derive(Debug)]
struct CopyColumn<'a> {
    column: &'a Column,
    pg: PgType,
    buffer: &'a ColumnBuffer,
    scale: u32,
}

/// A batch of one table's rows, checked and ready to be encoded: the columns that have a buffer,
/// in table order (the others are left to their default, NULL).
#[derive(Debug)]
pub struct CopyBatch<'a> {
    table: &'a Table,
    rows: usize,
    columns: Vec<CopyColumn<'a>>,
}

fn kind(data: &ColumnData) -> &'static str {
    match data {
        ColumnData::Int(_) => "64-bit integer",
        ColumnData::Wide(_) => "128-bit integer",
        ColumnData::Float(_) => "double",
        ColumnData::Bool(_) => "bool",
        ColumnData::Days(_) => "date",
        ColumnData::Bytes { .. } => "byte",
    }
}

impl<'a> CopyBatch<'a> {
    /// The batch of `rows` rows in `buffers` (by the column's index in `table`, as
    /// [`TableColumns::take`] returns them).
    pub fn new(table: &'a Table, rows: usize, buffers: &'a [Option<ColumnBuffer>]) -> Result<Self, CopyError> {
        Self::from_iter(table, rows, buffers.iter().enumerate().filter_map(|(i, b)| Some((i, b.as_ref()?))))
    }

    /// The rows buffered in `columns`.
    pub fn from_table_columns(table: &'a Table, columns: &'a TableColumns) -> Result<Self, CopyError> {
        Self::from_iter(table, columns.len(), (0..table.columns.len()).filter_map(|i| Some((i, columns.column(i)?))))
    }

    fn from_iter(table: &'a Table, rows: usize, buffers: impl Iterator<Item = (usize, &'a ColumnBuffer)>) -> Result<Self, CopyError> {
        let mut columns = Vec::new();
        for (index, buffer) in buffers {
            let Some(column) = table.columns.get(index) else {
                return Err(CopyError::Length { table: table.name.clone(), column: format!("#{index}"), len: buffer.len(), rows });
            };
            let pg = PgType::of_column(column).map_err(|source| CopyError::Type { table: table.name.clone(), column: column.name.clone(), source })?;
            if buffer.len() != rows || buffer.valid.len() != value_count(&buffer.data) {
                return Err(CopyError::Length { table: table.name.clone(), column: column.name.clone(), len: buffer.len(), rows });
            }
            let fits = matches!(
                (pg, &buffer.data),
                (PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Timestamp { .. } | PgType::Time(_), ColumnData::Int(_))
                    | (PgType::Double, ColumnData::Float(_))
                    | (PgType::Boolean, ColumnData::Bool(_))
                    | (PgType::Date, ColumnData::Days(_))
                    | (PgType::Varchar(_) | PgType::Jsonb | PgType::Bytea, ColumnData::Bytes { .. })
                    | (PgType::Numeric(..), ColumnData::Wide(_))
            );
            if !fits {
                return Err(CopyError::Mismatch { table: table.name.clone(), column: column.name.clone(), pg_type: pg.format_type(), buffer: kind(&buffer.data) });
            }
            columns.push(CopyColumn { column, pg, buffer, scale: decimal_shape(column).0 });
        }
        if columns.len() > i16::MAX as usize {
            return Err(CopyError::TooManyColumns { table: table.name.clone(), columns: columns.len() });
        }
        Ok(CopyBatch { table, rows, columns })
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.table.name
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The copied columns' names, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.column.name.as_str())
    }

    /// `COPY "dataset"."table" ("a", "b") FROM STDIN (FORMAT binary)`.
    pub fn statement(&self, dataset: &str) -> String {
        let columns: Vec<String> = self.column_names().map(quote_ident).collect();
        format!("COPY {} ({}) FROM STDIN (FORMAT binary)", qualified_name(dataset, &self.table.name), columns.join(", "))
    }

    /// Writes the whole COPY stream (header, rows, trailer) in chunks of about 1 MB.
    pub fn write_to(&self, w: &mut impl Write) -> Result<(), CopyError> {
        let mut out = Vec::with_capacity(CHUNK_BYTES + 64 * 1024);
        out.extend_from_slice(HEADER);
        for start in (0..self.rows).step_by(ROWS_PER_STEP) {
            self.encode_rows(start..(start + ROWS_PER_STEP).min(self.rows), &mut out)?;
            if out.len() >= CHUNK_BYTES {
                w.write_all(&out).map_err(CopyError::Io)?;
                out.clear();
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        w.write_all(&out).map_err(CopyError::Io)?;
        Ok(())
    }

    /// The whole COPY stream as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CopyError> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Appends the tuples of rows `range`.
    pub fn encode_rows(&self, range: Range<usize>, out: &mut Vec<u8>) -> Result<(), CopyError> {
        let fields = (self.columns.len() as i16).to_be_bytes();
        for row in range {
            out.extend_from_slice(&fields);
            for c in &self.columns {
                if !c.buffer.valid.get(row).copied().unwrap_or(false) {
                    out.extend_from_slice(&(-1i32).to_be_bytes());
                    continue;
                }
                self.encode_value(c, row, out)?;
            }
        }
        Ok(())
    }

    fn encode_value(&self, c: &CopyColumn<'_>, row: usize, out: &mut Vec<u8>) -> Result<(), CopyError> {
        let out_of_range = |value: String| CopyError::OutOfRange {
            table: self.table.name.clone(),
            column: c.column.name.clone(),
            row,
            value,
            pg_type: c.pg.format_type(),
        };
        let field = |out: &mut Vec<u8>, bytes: &[u8]| -> Result<(), CopyError> {
            let len = i32::try_from(bytes.len()).map_err(|_| out_of_range(format!("of {} bytes", bytes.len())))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
            Ok(())
        };
        match (&c.buffer.data, c.pg) {
            (ColumnData::Int(v), PgType::SmallInt) => {
                let x = i16::try_from(v[row]).map_err(|_| out_of_range(v[row].to_string()))?;
                field(out, &x.to_be_bytes())
            }
            (ColumnData::Int(v), PgType::Integer) => {
                let x = i32::try_from(v[row]).map_err(|_| out_of_range(v[row].to_string()))?;
                field(out, &x.to_be_bytes())
            }
            (ColumnData::Int(v), PgType::BigInt | PgType::Time(_)) => field(out, &v[row].to_be_bytes()),
            (ColumnData::Int(v), PgType::Timestamp { .. }) => {
                let x = v[row].checked_sub(PG_EPOCH_MICROS).ok_or_else(|| out_of_range(v[row].to_string()))?;
                field(out, &x.to_be_bytes())
            }
            (ColumnData::Days(v), PgType::Date) => {
                let x = v[row].checked_sub(PG_EPOCH_DAYS).ok_or_else(|| out_of_range(v[row].to_string()))?;
                field(out, &x.to_be_bytes())
            }
            (ColumnData::Float(v), PgType::Double) => field(out, &v[row].to_be_bytes()),
            (ColumnData::Bool(v), PgType::Boolean) => field(out, &[u8::from(v[row])]),
            (ColumnData::Wide(v), PgType::Numeric(..)) => {
                let at = out.len();
                out.extend_from_slice(&0i32.to_be_bytes());
                encode_mantissa(v[row], c.scale, out);
                let len = (out.len() - at - 4) as i32;
                out[at..at + 4].copy_from_slice(&len.to_be_bytes());
                Ok(())
            }
            (ColumnData::Bytes { offsets, data }, pg @ (PgType::Varchar(_) | PgType::Jsonb | PgType::Bytea)) => {
                let (start, end) = (offsets[row], offsets[row + 1]);
                let bytes = usize::try_from(start)
                    .ok()
                    .zip(usize::try_from(end).ok())
                    .and_then(|(s, e)| data.get(s..e))
                    .ok_or_else(|| out_of_range(format!("at offsets {start}..{end}")))?;
                if pg == PgType::Jsonb {
                    let len = i32::try_from(bytes.len() + 1).map_err(|_| out_of_range(format!("of {} bytes", bytes.len())))?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.push(1);
                    out.extend_from_slice(bytes);
                    Ok(())
                } else {
                    field(out, bytes)
                }
            }
            // Refused by `from_iter`; kept an error rather than a panic.
            (data, pg) => Err(CopyError::Mismatch { table: self.table.name.clone(), column: c.column.name.clone(), pg_type: pg.format_type(), buffer: kind(data) }),
        }
    }
}

/// Values (including nulls) a buffer's data holds.
fn value_count(data: &ColumnData) -> usize {
    match data {
        ColumnData::Int(v) => v.len(),
        ColumnData::Wide(v) => v.len(),
        ColumnData::Float(v) => v.len(),
        ColumnData::Bool(v) => v.len(),
        ColumnData::Days(v) => v.len(),
        ColumnData::Bytes { offsets, .. } => offsets.len().saturating_sub(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etl_core::{DataType, Value};

    fn table(columns: &[(&str, DataType, Option<u32>)]) -> Table {
        let columns = columns.iter().map(|(n, t, p)| Column { name: (*n).into(), data_type: Some(*t), nullable: true, precision: *p, ..Default::default() }).collect();
        Table { name: "t".into(), columns, ..Default::default() }
    }

    #[test]
    fn the_stream_is_header_tuples_trailer() {
        let t = table(&[("a", DataType::Bigint, None), ("b", DataType::Json, None), ("c", DataType::Date, None)]);
        let mut cols = TableColumns::default();
        cols.push_row(&t, &[(0, Value::Int(1)), (1, Value::List(vec![])), (2, Value::Date(chrono::NaiveDate::from_ymd_opt(2000, 1, 2).unwrap()))]).unwrap();
        cols.push_row(&t, &[(0, Value::Null)]).unwrap();
        let batch = CopyBatch::from_table_columns(&t, &cols).unwrap();
        assert_eq!(batch.statement("ds"), "COPY \"ds\".\"t\" (\"a\", \"b\", \"c\") FROM STDIN (FORMAT binary)");
        let bytes = batch.to_bytes().unwrap();
        let mut expected = HEADER.to_vec();
        expected.extend_from_slice(&[0, 3, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]); // 3 fields; bigint 1
        expected.extend_from_slice(&[0, 0, 0, 3, 1, b'[', b']']); // jsonb: version 1, "[]"
        expected.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 1]); // one day after 2000-01-01
        expected.extend_from_slice(&[0, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]); // three NULLs
        expected.extend_from_slice(&[255, 255]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn columns_without_values_are_left_out() {
        let t = table(&[("a", DataType::Bigint, None), ("b", DataType::Text, None)]);
        let mut cols = TableColumns::default();
        cols.push_row(&t, &[(1, Value::Text("x".into()))]).unwrap();
        let batch = CopyBatch::from_table_columns(&t, &cols).unwrap();
        assert_eq!(batch.column_names().collect::<Vec<_>>(), ["b"]);
        assert_eq!(batch.rows(), 1);
    }

    #[test]
    fn inconsistent_buffers_are_errors() {
        let t = table(&[("a", DataType::Bigint, None)]);
        let mut cols = TableColumns::default();
        cols.push_row(&t, &[(0, Value::Int(1))]).unwrap();
        let (_, buffers) = cols.take();
        assert!(matches!(CopyBatch::new(&t, 2, &buffers), Err(CopyError::Length { len: 1, rows: 2, .. })));
        let as_text = table(&[("a", DataType::Text, None)]);
        let err = CopyBatch::new(&as_text, 1, &buffers).unwrap_err();
        assert_eq!(err.to_string(), "column `a` of table `t` is character varying but its buffer holds 64-bit integer values");
        let wide = table(&[("a", DataType::Bigint, Some(128))]);
        assert!(matches!(CopyBatch::new(&wide, 1, &buffers), Err(CopyError::Type { source: TypeError::IntegerTooWide { .. }, .. })));
        let narrow = table(&[("a", DataType::Bigint, Some(32))]);
        let mut big = TableColumns::default();
        big.push_row(&narrow, &[(0, Value::Int(1 << 40))]).unwrap();
        let err = CopyBatch::from_table_columns(&narrow, &big).unwrap().to_bytes().unwrap_err();
        assert!(matches!(err, CopyError::OutOfRange { row: 0, .. }), "{err}");
    }
}
