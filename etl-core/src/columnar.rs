//! Columnar row buffers: the rows of one table, as one typed vector per column, ready to become
//! an Arrow batch without a per-row tree. Both normalizers write here: the general path appends
//! coerced rows ([`TableColumns::push_row`]), the fast path ([`crate::fast`]) writes cells
//! straight into the typed vectors.
//!
//! A table's buffer holds at most [`BATCH_ROWS`] rows (or about [`BATCH_BYTES`] of text) before
//! the pipeline hands it to the destination, so a load of any size runs in bounded memory.

use chrono::{NaiveDate, Timelike};

use crate::hints::DataType;
use crate::schema::{Column, Table};
use crate::value::Value;

/// Rows buffered per table before they are handed to the destination.
pub const BATCH_ROWS: usize = 16 * 1024;
/// Text and binary bytes buffered per table before it is handed over early.
pub const BATCH_BYTES: usize = 64 << 20;

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// `bigint`; `timestamp` and `time` as microseconds.
    Int(Vec<i64>),
    /// `bigint` with more than 64 bits of precision (`HUGEINT`), `decimal` mantissas at the
    /// column's scale.
    Wide(Vec<i128>),
    /// `double`.
    Float(Vec<f64>),
    /// `bool`.
    Bool(Vec<bool>),
    /// `date` as days since 1970-01-01.
    Days(Vec<i32>),
    /// `text`, `json` (its JSON text) and `binary`: Arrow's large offsets and bytes.
    Bytes {
        /// `len + 1` offsets into `data`.
        offsets: Vec<i64>,
        /// All values, back to back.
        data: Vec<u8>,
    },
}

/// `data.extend_from_slice(x)`, with the short values most cells hold (codes, ids, load ids)
/// copied inline: `extend_from_slice` calls `memmove` for any length, a call per cell on the
/// normalizing thread (docs/performance.md, issue 18's second pass).
#[inline(always)]
fn append_bytes(data: &mut Vec<u8>, x: &[u8]) {
    let n = x.len();
    if n > 32 {
        data.extend_from_slice(x);
        return;
    }
    data.reserve(n);
    let len = data.len();
    // SAFETY: `reserve` made room for `n` more bytes after `len`; every read is within `x`
    // (the two overlapping words or halves cover `0..n` exactly), every write within
    // `len..len + n`; `x` cannot overlap the spare capacity of `data`, which nothing else
    // borrows. The `n` bytes are initialized before `set_len`.
    unsafe {
        let (src, dst) = (x.as_ptr(), data.as_mut_ptr().add(len));
        match n {
            17..=32 => {
                dst.cast::<u128>().write_unaligned(src.cast::<u128>().read_unaligned());
                dst.add(n - 16).cast::<u128>().write_unaligned(src.add(n - 16).cast::<u128>().read_unaligned());
            }
            8..=16 => {
                dst.cast::<u64>().write_unaligned(src.cast::<u64>().read_unaligned());
                dst.add(n - 8).cast::<u64>().write_unaligned(src.add(n - 8).cast::<u64>().read_unaligned());
            }
            4..=7 => {
                dst.cast::<u32>().write_unaligned(src.cast::<u32>().read_unaligned());
                dst.add(n - 4).cast::<u32>().write_unaligned(src.add(n - 4).cast::<u32>().read_unaligned());
            }
            // First, middle and last byte: all of one to three (a loop here became a call).
            1..=3 => {
                for i in [0, n / 2, n - 1] {
                    dst.add(i).write(src.add(i).read());
                }
            }
            _ => {}
        }
        data.set_len(len + n);
    }
}

/// Whether a column's values are 128-bit integers (decimals, integers wider than 64 bits).
fn wide(column: &Column, data_type: DataType) -> bool {
    matches!(data_type, DataType::Decimal | DataType::Wei) || (data_type == DataType::Bigint && column.precision.is_some_and(|p| p > 64))
}

/// One column's values and which of them are not null.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnBuffer {
    /// The column's type.
    pub data_type: DataType,
    /// The values (a null has a default value).
    pub data: ColumnData,
    /// `false` for null.
    pub valid: Vec<bool>,
}

impl ColumnBuffer {
    /// A buffer with room for `(rows, bytes)` (what the previous batch of the column needed), and
    /// `nulls` nulls for the rows before its first value.
    fn new(column: &Column, data_type: DataType, nulls: usize, (rows, bytes): (usize, usize)) -> Self {
        let data = match data_type {
            DataType::Decimal | DataType::Wei => ColumnData::Wide(Vec::with_capacity(rows)),
            DataType::Bigint if wide(column, data_type) => ColumnData::Wide(Vec::with_capacity(rows)),
            DataType::Bigint | DataType::Timestamp | DataType::Time => ColumnData::Int(Vec::with_capacity(rows)),
            DataType::Double => ColumnData::Float(Vec::with_capacity(rows)),
            DataType::Bool => ColumnData::Bool(Vec::with_capacity(rows)),
            DataType::Date => ColumnData::Days(Vec::with_capacity(rows)),
            DataType::Text | DataType::Json | DataType::Binary => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                ColumnData::Bytes { offsets, data: Vec::with_capacity(bytes) }
            }
        };
        let mut buffer = ColumnBuffer { data_type, data, valid: Vec::with_capacity(rows) };
        buffer.extend_nulls(nulls);
        buffer
    }

    fn extend_nulls(&mut self, nulls: usize) {
        for _ in 0..nulls {
            self.push_null();
        }
    }

    /// Empties the buffer, keeping its memory.
    fn clear(&mut self) {
        self.valid.clear();
        match &mut self.data {
            ColumnData::Int(v) => v.clear(),
            ColumnData::Wide(v) => v.clear(),
            ColumnData::Float(v) => v.clear(),
            ColumnData::Bool(v) => v.clear(),
            ColumnData::Days(v) => v.clear(),
            ColumnData::Bytes { offsets, data } => {
                offsets.clear();
                offsets.push(0);
                data.clear();
            }
        }
    }

    /// Number of values.
    #[inline]
    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }

    /// Whether any value is null.
    pub fn has_nulls(&self) -> bool {
        self.valid.iter().any(|v| !v)
    }

    /// Appends a null.
    #[inline]
    pub fn push_null(&mut self) {
        self.valid.push(false);
        match &mut self.data {
            ColumnData::Int(v) => v.push(0),
            ColumnData::Wide(v) => v.push(0),
            ColumnData::Float(v) => v.push(0.0),
            ColumnData::Bool(v) => v.push(false),
            ColumnData::Days(v) => v.push(0),
            ColumnData::Bytes { offsets, data } => offsets.push(data.len() as i64),
        }
    }

    /// Appends to an `Int` column (bigint, timestamp or time micros). Returns `false` (and
    /// appends nothing) for other columns.
    #[inline]
    pub fn push_i64(&mut self, x: i64) -> bool {
        match &mut self.data {
            ColumnData::Int(v) => v.push(x),
            ColumnData::Wide(v) if self.data_type == DataType::Bigint => v.push(i128::from(x)),
            _ => return false,
        }
        self.valid.push(true);
        true
    }

    /// Appends to a `double` column.
    #[inline]
    pub fn push_f64(&mut self, x: f64) -> bool {
        let ColumnData::Float(v) = &mut self.data else { return false };
        v.push(x);
        self.valid.push(true);
        true
    }

    /// Appends to a `bool` column.
    #[inline]
    pub fn push_bool(&mut self, x: bool) -> bool {
        let ColumnData::Bool(v) = &mut self.data else { return false };
        v.push(x);
        self.valid.push(true);
        true
    }

    /// Appends bytes to a text, JSON or binary column.
    #[inline]
    pub fn push_bytes(&mut self, x: &[u8]) -> bool {
        let ColumnData::Bytes { offsets, data } = &mut self.data else { return false };
        append_bytes(data, x);
        offsets.push(data.len() as i64);
        self.valid.push(true);
        true
    }

    fn push_wide(&mut self, x: i128) {
        if let ColumnData::Wide(v) = &mut self.data {
            v.push(x);
            self.valid.push(true);
        }
    }

    fn push_days(&mut self, x: i32) {
        if let ColumnData::Days(v) = &mut self.data {
            v.push(x);
            self.valid.push(true);
        }
    }

    /// Bytes held by a text, JSON or binary column.
    pub fn byte_len(&self) -> usize {
        match &self.data {
            ColumnData::Bytes { data, .. } => data.len(),
            _ => 0,
        }
    }

    fn truncate(&mut self, len: usize) {
        self.valid.truncate(len);
        match &mut self.data {
            ColumnData::Int(v) => v.truncate(len),
            ColumnData::Wide(v) => v.truncate(len),
            ColumnData::Float(v) => v.truncate(len),
            ColumnData::Bool(v) => v.truncate(len),
            ColumnData::Days(v) => v.truncate(len),
            ColumnData::Bytes { offsets, data } => {
                offsets.truncate(len + 1);
                data.truncate(offsets.last().copied().unwrap_or(0) as usize);
            }
        }
    }

    /// Appends a 128-bit integer to a wide column (`HUGEINT`); `false` for other columns.
    pub fn push_wide_checked(&mut self, x: i128) -> bool {
        if matches!(self.data, ColumnData::Wide(_)) {
            self.push_wide(x);
            true
        } else {
            false
        }
    }

    /// Appends `mantissa / 10^scale` to a decimal column, at the column's scale and within its
    /// precision; `false` (nothing appended) when it does not fit exactly or the column is not
    /// a decimal.
    pub fn push_decimal(&mut self, column: &Column, mantissa: i128, scale: u32) -> bool {
        if !matches!(self.data_type, DataType::Decimal | DataType::Wei) {
            return false;
        }
        let (to, precision) = decimal_shape(column);
        match rescale_i128(mantissa, scale, to).filter(|m| fits(*m, precision)) {
            Some(m) if to >= scale || rescale_i128(m, to, scale) == Some(mantissa) => {
                self.push_wide(m);
                true
            }
            _ => false,
        }
    }

    /// Appends a timestamp, date or time to a column of its own type (what coercion leaves as
    /// it is). `false` (nothing appended) for any other pair.
    pub fn push_temporal(&mut self, value: &Value) -> bool {
        match (self.data_type, value) {
            (DataType::Timestamp, Value::Timestamp(t)) => self.push_i64(t.timestamp_micros()),
            (DataType::Date, Value::Date(d)) => {
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
                self.push_days((*d - epoch).num_days() as i32);
                true
            }
            (DataType::Time, Value::Time(t)) => {
                self.push_i64(i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1000))
            }
            _ => false,
        }
    }

    /// Appends a coerced value (of the column's own type, as [`crate::Schema::coerce_row`]
    /// returns it).
    fn push_value(&mut self, table: &Table, column: &Column, value: &Value) -> Result<(), String> {
        let ok = match (self.data_type, value) {
            (_, Value::Null) => {
                self.push_null();
                true
            }
            (DataType::Json, v) => self.push_bytes(v.to_json_string().as_bytes()),
            (DataType::Text, Value::Text(s)) => self.push_bytes(s.as_bytes()),
            (DataType::Binary, Value::Bytes(b)) => self.push_bytes(b),
            (DataType::Bigint, Value::Int(i)) => self.push_i64(*i),
            (DataType::Bigint, Value::BigInt(i)) if matches!(self.data, ColumnData::Wide(_)) => {
                self.push_wide(*i);
                true
            }
            (DataType::Bigint, Value::BigInt(i)) => {
                return Err(format!(
                    "integer {i} in column `{}` of table `{}` does not fit BIGINT (the column was created as \
                     BIGINT by earlier data); a column that must hold such values needs to be declared before its \
                     first load, e.g. `etl::column(\"{}\").data_type(etl::DataType::Bigint).precision(128)` (HUGEINT)",
                    column.name, table.name, column.name
                ))
            }
            (DataType::Double, Value::Float(f)) => self.push_f64(*f),
            (DataType::Bool, Value::Bool(b)) => self.push_bool(*b),
            (DataType::Decimal | DataType::Wei, Value::Decimal(d)) => {
                let (scale, precision) = decimal_shape(column);
                // Exact: rust_decimal's own rescale silently lowers the scale when the value does
                // not fit, which would store a wrong number.
                let m = rescale_i128(d.mantissa(), d.scale(), scale).filter(|m| fits(*m, precision)).ok_or_else(|| mismatch(table, column, value))?;
                self.push_wide(m);
                true
            }
            (DataType::Decimal | DataType::Wei, Value::BigDecimal { mantissa, scale: from }) => {
                let (scale, precision) = decimal_shape(column);
                let m = rescale_i128(*mantissa, *from, scale).filter(|m| fits(*m, precision)).ok_or_else(|| mismatch(table, column, value))?;
                self.push_wide(m);
                true
            }
            (DataType::Timestamp | DataType::Date | DataType::Time, _) => self.push_temporal(value),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(mismatch(table, column, value))
        }
    }
}

/// A decimal column's scale (dlt's default 9; a `wei` column's 0) and precision (at most 38):
/// the mantissas its buffer holds.
pub fn decimal_shape(column: &Column) -> (u32, u8) {
    let default_scale = if column.data_type == Some(DataType::Wei) { 0 } else { 9 };
    (column.scale.unwrap_or(default_scale), column.precision.unwrap_or(38).min(38) as u8)
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

/// The buffered rows of one table: a buffer per schema column (by the column's index in the
/// schema table), created when the column first gets a value in this batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableColumns {
    len: usize,
    columns: Vec<Option<ColumnBuffer>>,
    /// Bytes of text, JSON and binary in the complete rows ([`ColumnBuffer::byte_len`]),
    /// counted as each row ends: [`TableColumns::is_full`], asked after every item, does not
    /// walk the columns again.
    bytes: usize,
    /// `(rows, bytes)` of each column's previous batch: the next one is allocated at that size
    /// at once instead of growing by doubling (and reallocating) through every batch.
    sizes: Vec<(usize, usize)>,
    /// Buffers of earlier batches, emptied, by column index ([`TableColumns::recycle`]).
    spare: Vec<Option<ColumnBuffer>>,
}

impl TableColumns {
    /// Number of complete rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer of the column at `index`, if any row of this batch has a value for it.
    pub fn column(&self, index: usize) -> Option<&ColumnBuffer> {
        self.columns.get(index).and_then(Option::as_ref)
    }

    /// Whether the batch should be handed over: [`BATCH_ROWS`] rows or [`BATCH_BYTES`] of text.
    pub fn is_full(&self) -> bool {
        self.len >= BATCH_ROWS || self.bytes >= BATCH_BYTES
    }

    /// The buffer of a (complete) column for the row being written, created on first use with
    /// nulls for the rows before. `None` if the row already has a value for it (two keys that
    /// normalize to one column) or the column has no type.
    #[inline]
    pub fn cell(&mut self, index: usize, column: &Column) -> Option<&mut ColumnBuffer> {
        // The common case first, inline: the column has a buffer already.
        let len = self.len;
        if matches!(self.columns.get(index), Some(Some(_))) {
            let buffer = self.columns[index].as_mut().expect("checked above");
            return (buffer.len() == len).then_some(buffer);
        }
        self.new_cell(index, column)
    }

    /// [`TableColumns::cell`] for a column without a buffer yet.
    #[inline(never)]
    fn new_cell(&mut self, index: usize, column: &Column) -> Option<&mut ColumnBuffer> {
        let data_type = column.data_type?;
        if self.columns.len() <= index {
            self.columns.resize(index + 1, None);
        }
        let len = self.len;
        let size = self.sizes.get(index).copied().unwrap_or_default();
        let spare = &mut self.spare;
        let buffer = self.columns[index].get_or_insert_with(|| match spare.get_mut(index).and_then(Option::take) {
            Some(mut b) if b.data_type == data_type && matches!(b.data, ColumnData::Wide(_)) == wide(column, data_type) => {
                b.extend_nulls(len);
                b
            }
            _ => ColumnBuffer::new(column, data_type, len, size),
        });
        (buffer.len() == len).then_some(buffer)
    }

    /// Ends the row being written: columns it has no value for get a null.
    pub fn finish_row(&mut self) {
        self.len += 1;
        let mut bytes = 0;
        for c in self.columns.iter_mut().flatten() {
            if c.len() < self.len {
                c.push_null();
            }
            bytes += c.byte_len();
        }
        self.bytes = bytes;
    }

    /// Drops rows (and a partly written row) after the first `len`.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        for c in self.columns.iter_mut().flatten() {
            c.truncate(self.len);
        }
        self.bytes = self.columns.iter().flatten().map(ColumnBuffer::byte_len).sum();
    }

    /// Appends one coerced row of `table` (`(column index, value)` pairs, as
    /// [`crate::Schema::coerce_row`] returns them). A value that does not fit its column is an
    /// error naming both, and leaves the buffer as it was.
    pub fn push_row(&mut self, table: &Table, row: &[(usize, Value)]) -> Result<(), String> {
        for (idx, value) in row {
            let column = &table.columns[*idx];
            let pushed = match self.cell(*idx, column) {
                Some(buffer) => buffer.push_value(table, column, value),
                // A repeated column keeps its last value (dict semantics), as the normalizer does.
                None if column.data_type.is_some() => {
                    let buffer = self.columns[*idx].as_mut().expect("created by cell");
                    buffer.truncate(self.len);
                    buffer.push_value(table, column, value)
                }
                None => Ok(()),
            };
            if let Err(e) = pushed {
                self.truncate(self.len);
                return Err(e);
            }
        }
        self.finish_row();
        Ok(())
    }

    /// Keeps the buffers of a batch that was loaded, emptied, for the next batches: their memory
    /// is reused instead of freed on the loader thread and faulted in again here.
    pub fn recycle(&mut self, buffers: impl IntoIterator<Item = (usize, ColumnBuffer)>) {
        for (index, mut buffer) in buffers {
            if self.spare.len() <= index {
                self.spare.resize(index + 1, None);
            }
            buffer.clear();
            self.spare[index] = Some(buffer);
        }
    }

    /// Takes the buffered rows out: `(rows, buffers by column index)`.
    pub fn take(&mut self) -> (usize, Vec<Option<ColumnBuffer>>) {
        self.sizes = self.columns.iter().map(|c| c.as_ref().map_or((0, 0), |c| (c.len(), c.byte_len()))).collect();
        let len = std::mem::take(&mut self.len);
        self.bytes = 0;
        (len, std::mem::take(&mut self.columns))
    }
}

/// Fills the `_dlt_id`s the fast path left null in the buffers of a nested table (see
/// [`crate::fast`]): each is dlt's hash of the row's `_dlt_parent_id`, the table name and its
/// `_dlt_list_idx`, exactly what the normalizer would have computed; a row without either keeps
/// a null id. Whichever thread has time calls this: the normalizer when the loader has jobs
/// waiting, otherwise the loader (`ScanBatch::try_new`); it hashes the whole batch at once
/// ([`crate::normalize::child_row_ids`]: four rows per permutation).
pub fn fill_child_ids(table: &Table, buffers: &mut [Option<ColumnBuffer>]) {
    use crate::normalize::{child_row_ids, C_ID, C_LIST_IDX, C_PARENT_ID};
    let (Some(id), Some(parent), Some(list_idx)) = (table.column_index(C_ID), table.column_index(C_PARENT_ID), table.column_index(C_LIST_IDX)) else {
        return;
    };
    if table.parent.is_none() || !buffers.get(id).and_then(Option::as_ref).is_some_and(ColumnBuffer::has_nulls) {
        return;
    }
    let (Some(ColumnBuffer { data: ColumnData::Bytes { offsets: p_off, data: p_data }, valid: p_valid, .. }), Some(ColumnBuffer { data: ColumnData::Int(idxs), valid: i_valid, .. })) =
        (buffers[parent].as_ref(), buffers[list_idx].as_ref())
    else {
        return;
    };
    let Some(ids) = buffers[id].as_ref() else { return };
    let ColumnData::Bytes { offsets, data } = &ids.data else { return };
    let missing = |i: &usize| !ids.valid[*i] && p_valid[*i] && i_valid[*i];
    let mut hashed = Vec::new();
    let rows = (0..ids.len()).filter(missing).map(|i| (&p_data[p_off[i] as usize..p_off[i + 1] as usize], idxs[i] as usize));
    child_row_ids(rows, &table.name, &mut hashed);
    let mut hashed = hashed.iter();
    let mut out = ColumnBuffer::new(&table.columns[id], ids.data_type, 0, (ids.len(), ids.len() * 14));
    for i in 0..ids.len() {
        if ids.valid[i] {
            out.push_bytes(&data[offsets[i] as usize..offsets[i + 1] as usize]);
        } else if missing(&i) {
            out.push_bytes(hashed.next().expect("one id per row missing one"));
        } else {
            out.push_null();
        }
    }
    buffers[id] = Some(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table { name: "t".into(), ..Default::default() };
        for (name, ty) in [("a", DataType::Bigint), ("b", DataType::Text), ("c", DataType::Double)] {
            t.columns.push(Column { name: name.into(), data_type: Some(ty), nullable: true, ..Default::default() });
        }
        t
    }

    #[test]
    fn bytes_appended_inline_are_those_of_extend_from_slice() {
        let source: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37).wrapping_add(11)).collect();
        let (mut inline, mut plain) = (Vec::new(), Vec::new());
        for start in 0..8 {
            for n in 0..=40 {
                let x = &source[start..start + n];
                append_bytes(&mut inline, x);
                plain.extend_from_slice(x);
                assert_eq!(inline, plain, "{n} bytes from {start}");
            }
        }
    }

    #[test]
    fn rows_become_columns_with_nulls_for_missing_cells() {
        let t = table();
        let mut b = TableColumns::default();
        b.push_row(&t, &[(0, Value::Int(1)), (1, "x".into())]).unwrap();
        b.push_row(&t, &[(2, Value::Float(2.5))]).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.column(0).unwrap().valid, [true, false]);
        assert_eq!(b.column(2).unwrap().valid, [false, true]);
        assert_eq!(b.column(1).unwrap().data, ColumnData::Bytes { offsets: vec![0, 1, 1], data: b"x".to_vec() });
    }

    #[test]
    fn a_batch_is_full_at_its_rows_or_its_bytes_of_text_counted_by_complete_rows() {
        let t = table();
        let mut b = TableColumns::default();
        let text = "x".repeat(BATCH_BYTES / 4);
        for _ in 0..3 {
            b.push_row(&t, &[(1, text.as_str().into())]).unwrap();
        }
        assert!(!b.is_full());
        // A failed row never counts; a row being written counts once it ends.
        assert!(b.push_row(&t, &[(1, text.as_str().into()), (0, "not a number".into())]).is_err());
        assert!(!b.is_full());
        assert!(b.cell(1, &t.columns[1]).unwrap().push_bytes(text.as_bytes()));
        assert!(!b.is_full());
        b.finish_row();
        assert!(b.is_full());
        b.truncate(3);
        assert!(!b.is_full());
        b.take();
        for i in 0..BATCH_ROWS as i64 {
            assert!(!b.is_full());
            b.push_row(&t, &[(0, Value::Int(i))]).unwrap();
        }
        assert!(b.is_full());
    }

    #[test]
    fn child_ids_are_filled_in_as_one_by_one() {
        use crate::normalize::{child_row_id_bytes, C_ID, C_LIST_IDX, C_PARENT_ID};
        let mut t = Table { name: "t__items".into(), parent: Some("t".into()), ..Default::default() };
        for (name, ty) in [("q", DataType::Double), (C_PARENT_ID, DataType::Text), (C_LIST_IDX, DataType::Bigint), (C_ID, DataType::Text)] {
            t.columns.push(Column { name: name.into(), data_type: Some(ty), nullable: true, ..Default::default() });
        }
        let mut b = TableColumns::default();
        // Every fifth row has its id already, every seventh no parent id, every eleventh no index;
        // parent ids of all lengths, so some need more than one block.
        let parent_of = |i: usize| "p".repeat(i * 3);
        for i in 0..100 {
            let mut row = vec![(0, Value::Float(i as f64))];
            if i % 7 != 0 {
                row.push((1, parent_of(i).into()));
            }
            if i % 11 != 0 {
                row.push((2, Value::Int(i as i64 % 4)));
            }
            if i % 5 == 0 {
                row.push((3, format!("given{i}").into()));
            }
            b.push_row(&t, &row).unwrap();
        }
        let (len, mut cols) = b.take();
        fill_child_ids(&t, &mut cols);
        let ids = cols[3].as_ref().unwrap();
        assert_eq!(ids.len(), len);
        let ColumnData::Bytes { offsets, data } = &ids.data else { panic!("text") };
        for i in 0..len {
            let id = &data[offsets[i] as usize..offsets[i + 1] as usize];
            if i % 5 == 0 {
                assert_eq!(id, format!("given{i}").as_bytes());
            } else if i % 7 == 0 || i % 11 == 0 {
                assert!(!ids.valid[i] && id.is_empty(), "{i}");
            } else {
                assert!(ids.valid[i]);
                assert_eq!(id, child_row_id_bytes(parent_of(i).as_bytes(), "t__items", i % 4), "{i}");
            }
        }
        assert_eq!(cols[0].as_ref().unwrap().len(), len);
    }

    #[test]
    fn recycled_buffers_are_refilled_in_place_with_nulls_before_their_first_value() {
        let t = table();
        let mut b = TableColumns::default();
        for i in 0..100 {
            b.push_row(&t, &[(0, Value::Int(i)), (1, "some text".into())]).unwrap();
        }
        let (_, buffers) = b.take();
        let text_data = |c: &ColumnBuffer| match &c.data {
            ColumnData::Bytes { data, .. } => data.as_ptr(),
            _ => panic!(),
        };
        let reused = text_data(buffers[1].as_ref().unwrap());
        b.recycle(buffers.into_iter().enumerate().filter_map(|(i, c)| Some((i, c?))));
        b.push_row(&t, &[(0, Value::Int(7))]).unwrap();
        b.push_row(&t, &[(1, "x".into())]).unwrap();
        assert_eq!(b.column(0).unwrap().data, ColumnData::Int(vec![7, 0]));
        assert_eq!(b.column(0).unwrap().valid, [true, false]);
        let text = b.column(1).unwrap();
        assert_eq!((text.valid.as_slice(), &text.data), (&[false, true][..], &ColumnData::Bytes { offsets: vec![0, 0, 1], data: b"x".to_vec() }));
        assert_eq!(text_data(text), reused, "the same memory");
    }

    #[test]
    fn a_bad_value_leaves_the_buffer_as_it_was() {
        let t = table();
        let mut b = TableColumns::default();
        b.push_row(&t, &[(0, Value::Int(1))]).unwrap();
        assert!(b.push_row(&t, &[(1, "y".into()), (0, "not an int".into())]).is_err());
        assert_eq!(b.len(), 1);
        assert_eq!(b.column(1).unwrap().len(), 1);
        let (len, cols) = b.take();
        assert_eq!((len, cols.len()), (1, 2));
    }
}
