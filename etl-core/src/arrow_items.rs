//! Arrow record batches as a resource's items (dlt's arrow items): their columns typed as dlt
//! types them, the table's schema evolved from the batch's schema, and the batch written
//! column by column into the table's buffers, with no row value in between. As dlt's arrow
//! normalizer: column names are normalized (two that collide are an error), nested types
//! (struct, list, map) become `json` columns of their JSON text and make no nested tables, and
//! `_dlt_load_id` / `_dlt_id` are added only when asked (`[normalize.parquet_normalizer]
//! add_dlt_load_id`, `add_dlt_id`).

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType as ArrowType, Field, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::columnar::{ColumnBuffer, TableColumns};
use crate::hints::DataType;
use crate::normalize::IdGenerator;
use crate::schema::{Column, Schema, SchemaChange, Table};
use crate::value::Value;

/// Which lineage columns arrow items get (dlt: neither, by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArrowLineage {
    /// `_dlt_load_id`, the run's load id.
    pub load_id: bool,
    /// `_dlt_id`, a random row id.
    pub row_id: bool,
}

/// dlt's type of an Arrow column, with precision, scale and timezone where dlt keeps them
/// (`None` for Arrow's null type, which makes no column).
pub fn dlt_type(field: &Field) -> Result<Option<(DataType, Option<u32>, Option<u32>, Option<bool>)>, String> {
    Ok(Some(match field.data_type() {
        ArrowType::Null => return Ok(None),
        ArrowType::Boolean => (DataType::Bool, None, None, None),
        ArrowType::Int8 | ArrowType::UInt8 => (DataType::Bigint, Some(8), None, None),
        ArrowType::Int16 | ArrowType::UInt16 => (DataType::Bigint, Some(16), None, None),
        ArrowType::Int32 | ArrowType::UInt32 => (DataType::Bigint, Some(32), None, None),
        ArrowType::Int64 => (DataType::Bigint, None, None, None),
        ArrowType::UInt64 => (DataType::Bigint, Some(128), None, None),
        ArrowType::Float16 | ArrowType::Float32 | ArrowType::Float64 => (DataType::Double, None, None, None),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => (DataType::Text, None, None, None),
        ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => (DataType::Binary, None, None, None),
        ArrowType::FixedSizeBinary(n) => (DataType::Binary, u32::try_from(*n).ok(), None, None),
        ArrowType::Decimal128(p, s) => {
            let scale = u32::try_from(*s).map_err(|_| format!("column `{}`: a decimal of negative scale {s}", field.name()))?;
            (DataType::Decimal, Some(u32::from(*p)), Some(scale), None)
        }
        ArrowType::Timestamp(_, tz) => (DataType::Timestamp, None, None, Some(tz.is_some())),
        ArrowType::Date32 | ArrowType::Date64 => (DataType::Date, None, None, None),
        ArrowType::Time32(_) | ArrowType::Time64(_) => (DataType::Time, None, None, None),
        ArrowType::Struct(_) | ArrowType::List(_) | ArrowType::LargeList(_) | ArrowType::Map(..) | ArrowType::FixedSizeList(..) => {
            (DataType::Json, None, None, None)
        }
        ArrowType::Dictionary(_, value) => return dlt_type(&Field::new(field.name(), (**value).clone(), true)),
        other => return Err(format!("column `{}` has Arrow type {other}, which dlt does not load", field.name())),
    }))
}

/// Adds the batch's columns the table lacks (normalized names, dlt's types), and the lineage
/// columns asked for; returns, per batch column, its index in the table (`None`: a null-typed
/// column). Two batch columns that normalize to one name are an error.
pub fn evolve(schema: &mut Schema, table: &str, batch: &RecordBatch, lineage: ArrowLineage, changes: &mut Vec<SchemaChange>) -> Result<Vec<Option<usize>>, String> {
    let naming = schema.naming();
    if schema.table(table).is_none() {
        schema.tables.push(Table { name: table.to_owned(), ..Default::default() });
        changes.push(SchemaChange::NewTable(table.to_owned()));
    }
    let t = schema.table_mut(table).expect("ensured above");
    t.seen_data = true;
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut indexes = Vec::with_capacity(batch.num_columns());
    for field in batch.schema_ref().fields() {
        let name = naming.normalize_path(field.name());
        if let Some((_, other)) = seen.iter().find(|(n, _)| *n == name) {
            return Err(format!("columns `{other}` and `{}` both normalize to `{name}`", field.name()));
        }
        seen.push((name.clone(), field.name()));
        let Some((data_type, precision, scale, timezone)) = dlt_type(field)? else {
            indexes.push(None);
            continue;
        };
        let index = match t.column_index(&name) {
            Some(i) if t.columns[i].data_type.is_some() => i,
            Some(i) => {
                let c = &mut t.columns[i];
                c.data_type = Some(data_type);
                c.precision = c.precision.or(precision);
                c.scale = c.scale.or(scale);
                c.timezone = c.timezone.or(timezone);
                c.nullable_set = true;
                changes.push(SchemaChange::NewColumn { table: table.to_owned(), column: name.clone() });
                i
            }
            None => {
                let mut c = Column::new(&name, data_type, field.is_nullable());
                (c.precision, c.scale, c.timezone) = (precision, scale, timezone);
                t.columns.push(c);
                changes.push(SchemaChange::NewColumn { table: table.to_owned(), column: name.clone() });
                t.columns.len() - 1
            }
        };
        indexes.push(Some(index));
    }
    for (wanted, name) in [(lineage.load_id, crate::normalize::C_LOAD_ID), (lineage.row_id, crate::normalize::C_ID)] {
        if wanted && t.column_index(name).is_none() {
            t.columns.push(crate::schema::new_data_column(name, DataType::Text));
            changes.push(SchemaChange::NewColumn { table: table.to_owned(), column: name.to_owned() });
        }
    }
    Ok(indexes)
}

fn micros(array: &ArrayRef, row: usize) -> Option<i64> {
    Some(match array.data_type() {
        ArrowType::Timestamp(TimeUnit::Second, _) => array.as_primitive::<arrow::datatypes::TimestampSecondType>().value(row) * 1_000_000,
        ArrowType::Timestamp(TimeUnit::Millisecond, _) => array.as_primitive::<arrow::datatypes::TimestampMillisecondType>().value(row) * 1000,
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => array.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().value(row),
        ArrowType::Timestamp(TimeUnit::Nanosecond, _) => array.as_primitive::<arrow::datatypes::TimestampNanosecondType>().value(row) / 1000,
        ArrowType::Time32(TimeUnit::Second) => i64::from(array.as_primitive::<arrow::datatypes::Time32SecondType>().value(row)) * 1_000_000,
        ArrowType::Time32(TimeUnit::Millisecond) => i64::from(array.as_primitive::<arrow::datatypes::Time32MillisecondType>().value(row)) * 1000,
        ArrowType::Time64(TimeUnit::Microsecond) => array.as_primitive::<arrow::datatypes::Time64MicrosecondType>().value(row),
        ArrowType::Time64(TimeUnit::Nanosecond) => array.as_primitive::<arrow::datatypes::Time64NanosecondType>().value(row) / 1000,
        _ => return None,
    })
}

/// Writes one cell of `array` into `buffer` (the column's buffer of dlt type `column`).
fn push(buffer: &mut ColumnBuffer, column: &Column, array: &ArrayRef, row: usize) -> Result<(), String> {
    if array.is_null(row) {
        buffer.push_null();
        return Ok(());
    }
    macro_rules! int {
        ($t:ty) => {
            buffer.push_i64(i64::from(array.as_primitive::<$t>().value(row)))
        };
    }
    use arrow::datatypes as t;
    let ok = match array.data_type() {
        ArrowType::Boolean => buffer.push_bool(array.as_boolean().value(row)),
        ArrowType::Int8 => int!(t::Int8Type),
        ArrowType::Int16 => int!(t::Int16Type),
        ArrowType::Int32 => int!(t::Int32Type),
        ArrowType::Int64 => int!(t::Int64Type),
        ArrowType::UInt8 => int!(t::UInt8Type),
        ArrowType::UInt16 => int!(t::UInt16Type),
        ArrowType::UInt32 => int!(t::UInt32Type),
        ArrowType::UInt64 => {
            let v = array.as_primitive::<t::UInt64Type>().value(row);
            buffer.push_wide_checked(i128::from(v)) || i64::try_from(v).is_ok_and(|i| buffer.push_i64(i))
        }
        ArrowType::Float16 => buffer.push_f64(f64::from(array.as_primitive::<t::Float16Type>().value(row))),
        ArrowType::Float32 => buffer.push_f64(f64::from(array.as_primitive::<t::Float32Type>().value(row))),
        ArrowType::Float64 => buffer.push_f64(array.as_primitive::<t::Float64Type>().value(row)),
        ArrowType::Utf8 => buffer.push_bytes(array.as_string::<i32>().value(row).as_bytes()),
        ArrowType::LargeUtf8 => buffer.push_bytes(array.as_string::<i64>().value(row).as_bytes()),
        ArrowType::Utf8View => buffer.push_bytes(array.as_string_view().value(row).as_bytes()),
        ArrowType::Binary => buffer.push_bytes(array.as_binary::<i32>().value(row)),
        ArrowType::LargeBinary => buffer.push_bytes(array.as_binary::<i64>().value(row)),
        ArrowType::BinaryView => buffer.push_bytes(array.as_binary_view().value(row)),
        ArrowType::FixedSizeBinary(_) => buffer.push_bytes(array.as_fixed_size_binary().value(row)),
        ArrowType::Decimal128(_, scale) => {
            let m = array.as_primitive::<t::Decimal128Type>().value(row);
            let scale = u32::try_from(*scale).unwrap_or(0);
            buffer.push_decimal(column, m, scale)
        }
        ArrowType::Date32 => {
            let days = array.as_primitive::<t::Date32Type>().value(row);
            buffer.push_temporal(&Value::Date(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(i64::from(days))))
        }
        ArrowType::Date64 => {
            let ms = array.as_primitive::<t::Date64Type>().value(row);
            buffer.push_temporal(&Value::Date(chrono::DateTime::from_timestamp_millis(ms).ok_or("a date out of range")?.date_naive()))
        }
        ArrowType::Timestamp(..) | ArrowType::Time32(_) | ArrowType::Time64(_) => match micros(array, row) {
            Some(us) => buffer.push_i64(us),
            None => false,
        },
        ArrowType::Struct(_) | ArrowType::List(_) | ArrowType::LargeList(_) | ArrowType::Map(..) | ArrowType::FixedSizeList(..) => {
            let value = crate::arrow_values::value_at(array, row)?;
            buffer.push_bytes(value.to_json_string().as_bytes())
        }
        ArrowType::Dictionary(..) => {
            let value = crate::arrow_values::value_at(array, row)?;
            match value {
                Value::Text(s) => buffer.push_bytes(s.as_bytes()),
                other => return Err(format!("a dictionary value {} that is not text", other.to_json_string())),
            }
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("a value of Arrow type {} does not fit column `{}` ({})", array.data_type(), column.name, column.duckdb_type().unwrap_or_default()))
    }
}

/// The rows of `batch` as the buffers of `table` (`indexes` from [`evolve`]), with the lineage
/// columns asked for. A value that does not fit its column (an Arrow type that changed between
/// batches) is an error naming the column and the row.
pub fn fill(table: &Table, batch: &RecordBatch, indexes: &[Option<usize>], lineage: ArrowLineage, load_id: &str, ids: &mut IdGenerator) -> Result<TableColumns, String> {
    let mut out = TableColumns::default();
    let load_idx = lineage.load_id.then(|| table.column_index(crate::normalize::C_LOAD_ID)).flatten();
    let id_idx = lineage.row_id.then(|| table.column_index(crate::normalize::C_ID)).flatten();
    for row in 0..batch.num_rows() {
        for (array, index) in batch.columns().iter().zip(indexes) {
            let Some(index) = *index else { continue };
            let column = &table.columns[index];
            let cell = out.cell(index, column).ok_or_else(|| format!("column `{}` has no type", column.name))?;
            push(cell, column, array, row).map_err(|e| format!("row {row}: {e}"))?;
        }
        if let Some(i) = load_idx {
            if let Some(cell) = out.cell(i, &table.columns[i]) {
                cell.push_bytes(load_id.as_bytes());
            }
        }
        if let Some(i) = id_idx {
            if let Some(cell) = out.cell(i, &table.columns[i]) {
                cell.push_bytes(ids.root_id().as_bytes());
            }
        }
        out.finish_row();
    }
    Ok(out)
}
