//! Columnar batches: the column buffers of one table ([`etl_core::columnar`]) become an Arrow
//! `RecordBatch` for DuckDB's appender. The vectors move into Arrow buffers without a copy;
//! only the validity masks are packed into bits.

use std::sync::Arc;

use duckdb::arrow::array::{
    new_null_array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, LargeBinaryArray, LargeStringArray,
    Time64MicrosecondArray, TimestampMicrosecondArray,
};
use duckdb::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use duckdb::arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema, TimeUnit};
use duckdb::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use etl_core::columnar::{decimal_shape, ColumnBuffer, ColumnData};
use etl_core::{Column, DataType, Table};

/// The Arrow type a column is appended as.
fn arrow_type(column: &Column, data_type: DataType) -> ArrowType {
    match data_type {
        DataType::Text | DataType::Json => ArrowType::LargeUtf8,
        DataType::Binary => ArrowType::LargeBinary,
        DataType::Bigint if column.precision.is_some_and(|p| p > 64) => ArrowType::Decimal128(38, 0),
        DataType::Bigint => ArrowType::Int64,
        DataType::Double => ArrowType::Float64,
        DataType::Bool => ArrowType::Boolean,
        DataType::Decimal | DataType::Wei => {
            let (scale, precision) = decimal_shape(column);
            ArrowType::Decimal128(precision, scale as i8)
        }
        DataType::Timestamp if column.timezone.unwrap_or(true) => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Date => ArrowType::Date32,
        DataType::Time => ArrowType::Time64(TimeUnit::Microsecond),
    }
}

/// Builds a batch of `len` rows over the table's complete columns from the buffers (by column
/// index; a column without a buffer is all null). Returns the column names in batch order.
pub fn batch_from_columns(len: usize, mut buffers: Vec<Option<ColumnBuffer>>, table: &Table) -> Result<(Vec<String>, RecordBatch), String> {
    etl_core::columnar::fill_child_ids(table, &mut buffers);
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let mut fields = Vec::new();
    let mut names = Vec::new();
    for (idx, column) in table.columns.iter().enumerate() {
        let Some(data_type) = column.data_type else { continue };
        let ty = arrow_type(column, data_type);
        let array = match buffers.get_mut(idx).and_then(Option::take) {
            Some(buffer) => build_array(buffer, &ty).map_err(|e| format!("column `{}` of table `{}`: {e}", column.name, table.name))?,
            None => new_null_array(&ty, len),
        };
        if array.len() != len {
            return Err(format!("column `{}` of table `{}` has {} values for {len} rows", column.name, table.name, array.len()));
        }
        fields.push(Field::new(column.name.clone(), ty, true));
        arrays.push(array);
        names.push(column.name.clone());
    }
    let schema = Arc::new(ArrowSchema::new(fields));
    let options = RecordBatchOptions::new().with_row_count(Some(len));
    let batch = RecordBatch::try_new_with_options(schema, arrays, &options).map_err(|e| e.to_string())?;
    Ok((names, batch))
}

fn build_array(buffer: ColumnBuffer, ty: &ArrowType) -> Result<ArrayRef, String> {
    let nulls = buffer.has_nulls().then(|| NullBuffer::from(buffer.valid));
    let err = |e: duckdb::arrow::error::ArrowError| e.to_string();
    Ok(match (buffer.data, ty) {
        (ColumnData::Int(v), ArrowType::Int64) => Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls)),
        (ColumnData::Int(v), ArrowType::Timestamp(_, tz)) => {
            Arc::new(TimestampMicrosecondArray::new(ScalarBuffer::from(v), nulls).with_timezone_opt(tz.clone()))
        }
        (ColumnData::Int(v), ArrowType::Time64(_)) => Arc::new(Time64MicrosecondArray::new(ScalarBuffer::from(v), nulls)),
        (ColumnData::Wide(v), ArrowType::Decimal128(p, s)) => {
            Arc::new(Decimal128Array::new(ScalarBuffer::from(v), nulls).with_precision_and_scale(*p, *s).map_err(err)?)
        }
        (ColumnData::Float(v), ArrowType::Float64) => Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls)),
        (ColumnData::Bool(v), ArrowType::Boolean) => Arc::new(BooleanArray::new(v.into_iter().collect(), nulls)),
        (ColumnData::Days(v), ArrowType::Date32) => Arc::new(Date32Array::new(ScalarBuffer::from(v), nulls)),
        (ColumnData::Bytes { offsets, data }, ArrowType::LargeUtf8) => {
            let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
            Arc::new(LargeStringArray::try_new(offsets, Buffer::from_vec(data), nulls).map_err(err)?)
        }
        (ColumnData::Bytes { offsets, data }, ArrowType::LargeBinary) => {
            let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
            Arc::new(LargeBinaryArray::try_new(offsets, Buffer::from_vec(data), nulls).map_err(err)?)
        }
        (data, ty) => return Err(format!("a {} buffer cannot become {ty}", data_kind(&data))),
    })
}

fn data_kind(data: &ColumnData) -> &'static str {
    match data {
        ColumnData::Int(_) => "64-bit integer",
        ColumnData::Wide(_) => "128-bit integer",
        ColumnData::Float(_) => "float",
        ColumnData::Bool(_) => "bool",
        ColumnData::Days(_) => "date",
        ColumnData::Bytes { .. } => "bytes",
    }
}
