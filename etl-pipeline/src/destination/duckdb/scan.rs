//! The table function `etl_scan(token)`: DuckDB reads batches of column buffers
//! ([`etl_core::columnar`]) straight into its vectors, for `INSERT INTO t (...) SELECT * FROM
//! etl_scan(?)`. One statement may read several batches of a table, one after the other: each
//! statement costs DuckDB its parse, bind and optimizer passes (about 0.6 ms), which the loader
//! pays once for the batches it finds waiting instead of once per batch.
//!
//! Why not Arrow: duckdb-rs's Arrow scan copies every string into DuckDB's string heap through
//! `duckdb_vector_assign_string_element_len`, which validates it as UTF-8 again, one C call per
//! value. Here fixed-width columns are one `memcpy` per vector and strings are written as
//! DuckDB's own 16-byte `string_t`: inlined when at most 12 bytes long, otherwise pointing into
//! the batch's byte buffer, which the bound scan keeps alive. DuckDB's insert copies what it
//! stores, so nothing points into the batch after the statement. The bytes are valid UTF-8 by
//! construction (they were Rust strings or JSON text the parser checked).
//!
//! Batches are registered in a process-wide map under a token (a `UBIGINT` parameter), as the
//! scan's bind callback cannot receive Rust values any other way; the [`Registration`] guard
//! removes the entry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::ffi;
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use etl_core::columnar::{ColumnBuffer, ColumnData};
use etl_core::{DataType, Table};

/// The name the table function is registered under.
pub const SCAN_FUNCTION: &str = "etl_scan";

/// One column of a scan batch.
struct ScanColumn {
    /// Index of the column in its table.
    index: usize,
    name: String,
    ty: LogicalTypeId,
    /// `None`: the column is null in every row of the batch.
    buffer: Option<ColumnBuffer>,
    /// Whether some value is null (the validity mask must be written).
    nulls: bool,
}

/// The rows of one table, column by column, ready to be scanned.
pub struct ScanBatch {
    len: usize,
    columns: Vec<ScanColumn>,
}

impl ScanBatch {
    /// The batch over the table's complete columns (by column index, as
    /// [`super::batch::batch_from_columns`]), or `Err(buffers)` back when a column has a type
    /// this scan does not write (decimals, 128-bit integers): those go through Arrow.
    pub fn try_new(len: usize, mut buffers: Vec<Option<ColumnBuffer>>, table: &Table) -> Result<Self, Vec<Option<ColumnBuffer>>> {
        // Every column is checked before any buffer is taken: on `Err` the buffers go back whole.
        let mut typed = Vec::new();
        for (idx, column) in table.columns.iter().enumerate() {
            let Some(data_type) = column.data_type else { continue };
            let ty = match data_type {
                DataType::Text | DataType::Json => LogicalTypeId::Varchar,
                DataType::Binary => LogicalTypeId::Blob,
                DataType::Bigint if column.precision.is_some_and(|p| p > 64) => return Err(buffers),
                DataType::Bigint => LogicalTypeId::Bigint,
                DataType::Double => LogicalTypeId::Double,
                DataType::Bool => LogicalTypeId::Boolean,
                DataType::Timestamp if column.timezone.unwrap_or(true) => LogicalTypeId::TimestampTZ,
                DataType::Timestamp => LogicalTypeId::Timestamp,
                DataType::Date => LogicalTypeId::Date,
                DataType::Time => LogicalTypeId::Time,
                DataType::Decimal | DataType::Wei => return Err(buffers),
            };
            if let Some(b) = buffers.get(idx).and_then(Option::as_ref) {
                let fits = match (&b.data, ty) {
                    (ColumnData::Int(_), LogicalTypeId::Bigint | LogicalTypeId::TimestampTZ | LogicalTypeId::Timestamp | LogicalTypeId::Time) => true,
                    (ColumnData::Float(_), LogicalTypeId::Double) => true,
                    (ColumnData::Bool(_), LogicalTypeId::Boolean) => true,
                    (ColumnData::Days(_), LogicalTypeId::Date) => true,
                    // A `string_t` holds a 32-bit length.
                    (ColumnData::Bytes { data, .. }, LogicalTypeId::Varchar | LogicalTypeId::Blob) => u32::try_from(data.len()).is_ok(),
                    _ => false,
                };
                if !fits || b.len() != len {
                    // Not what the table says: the Arrow path reports it.
                    return Err(buffers);
                }
            }
            typed.push((idx, ty));
        }
        etl_core::columnar::fill_child_ids(table, &mut buffers);
        let columns = typed
            .into_iter()
            .map(|(idx, ty)| {
                let buffer = buffers.get_mut(idx).and_then(Option::take);
                let nulls = buffer.as_ref().is_some_and(ColumnBuffer::has_nulls);
                ScanColumn { index: idx, name: table.columns[idx].name.clone(), ty, buffer, nulls }
            })
            .collect();
        Ok(ScanBatch { len, columns })
    }

    /// The column names, in the order the scan returns them.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Whether `other` has the same columns, of the same types, in the same order (one scan
    /// can read both).
    pub fn same_columns(&self, other: &ScanBatch) -> bool {
        self.columns.len() == other.columns.len()
            && self.columns.iter().zip(&other.columns).all(|(a, b)| a.index == b.index && a.ty == b.ty && a.name == b.name)
    }

    /// The buffers back, by column index (to be reused).
    pub fn into_buffers(self) -> Vec<(usize, ColumnBuffer)> {
        self.columns.into_iter().filter_map(|c| Some((c.index, c.buffer?))).collect()
    }
}

/// Batches one scan reads in order: all with the same columns ([`ScanBatch::same_columns`]).
pub type ScanBatches = Vec<ScanBatch>;

static BATCHES: LazyLock<Mutex<HashMap<u64, Arc<ScanBatches>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Batches registered for `etl_scan(token)` until this guard is dropped.
pub struct Registration {
    token: u64,
}

impl Registration {
    /// Registers `batches`.
    pub fn new(batches: Arc<ScanBatches>) -> Self {
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        BATCHES.lock().unwrap_or_else(PoisonError::into_inner).insert(token, batches);
        Registration { token }
    }

    /// The parameter of `etl_scan(?)`.
    pub fn token(&self) -> u64 {
        self.token
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = BATCHES.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.token);
        drop(removed);
    }
}

/// The table function.
pub struct EtlScan;

/// What a bound scan reads: the batches (kept alive while DuckDB may read their bytes).
pub struct ScanBind {
    batches: Arc<ScanBatches>,
}

/// Where the scan is: the batch, and the row in it.
pub struct ScanInit {
    at: Mutex<(usize, usize)>,
    vector_size: usize,
}

impl VTab for EtlScan {
    type BindData = ScanBind;
    type InitData = ScanInit;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, Box<dyn std::error::Error>> {
        let token = bind.get_parameter(0).to_uint64();
        let batches = BATCHES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&token)
            .cloned()
            .ok_or_else(|| format!("{SCAN_FUNCTION}: no batch is registered under {token}"))?;
        let first = batches.first().ok_or_else(|| format!("{SCAN_FUNCTION}: no batch in registration {token}"))?;
        if !batches.iter().all(|b| b.same_columns(first)) {
            return Err(format!("{SCAN_FUNCTION}: the batches of registration {token} differ in their columns").into());
        }
        for column in &first.columns {
            bind.add_result_column(&column.name, LogicalTypeHandle::from(column.ty));
        }
        Ok(ScanBind { batches })
    }

    fn init(_: &InitInfo) -> Result<Self::InitData, Box<dyn std::error::Error>> {
        // SAFETY: a plain getter of a compile-time constant of the library.
        let vector_size = unsafe { ffi::duckdb_vector_size() } as usize;
        Ok(ScanInit { at: Mutex::new((0, 0)), vector_size: vector_size.max(1) })
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), Box<dyn std::error::Error>> {
        let init = func.get_init_data();
        let batches = &func.get_bind_data().batches;
        // The next vector: up to `vector_size` rows of the current batch (a batch's last vector
        // may be shorter; the next batch starts a new one).
        let (batch, start, n) = {
            let mut at = init.at.lock().unwrap_or_else(PoisonError::into_inner);
            while at.0 < batches.len() && at.1 >= batches[at.0].len {
                *at = (at.0 + 1, 0);
            }
            let Some(batch) = batches.get(at.0) else {
                output.set_len(0);
                return Ok(());
            };
            let start = at.1;
            let n = (batch.len - start).min(init.vector_size);
            at.1 += n;
            (batch, start, n)
        };
        let chunk = output.get_ptr();
        for (i, column) in batch.columns.iter().enumerate() {
            // SAFETY: the chunk has one vector per result column, of the bound type, with room
            // for `vector_size` >= `n` rows; each arm writes `n` values of that type's layout.
            unsafe {
                let vector = ffi::duckdb_data_chunk_get_vector(chunk, i as u64);
                let data = ffi::duckdb_vector_get_data(vector);
                let Some(buffer) = &column.buffer else {
                    // Zeroed values (empty strings) under an all-null mask.
                    std::ptr::write_bytes(data.cast::<u8>(), 0, n * value_width(column.ty));
                    set_all_null(vector, n);
                    continue;
                };
                match &buffer.data {
                    ColumnData::Int(v) => copy_values(data, &v[start..start + n]),
                    ColumnData::Float(v) => copy_values(data, &v[start..start + n]),
                    ColumnData::Bool(v) => copy_values(data, &v[start..start + n]),
                    ColumnData::Days(v) => copy_values(data, &v[start..start + n]),
                    ColumnData::Bytes { offsets, data: bytes } => write_strings(data.cast(), &offsets[start..=start + n], bytes),
                    ColumnData::Wide(_) => unreachable!("rejected by ScanBatch::try_new"),
                }
                if column.nulls {
                    write_validity(vector, &buffer.valid[start..start + n]);
                }
            }
        }
        output.set_len(n);
        Ok(())
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::UBigint)])
    }
}

/// Bytes per value in a DuckDB vector of the scan's types.
fn value_width(ty: LogicalTypeId) -> usize {
    match ty {
        LogicalTypeId::Varchar | LogicalTypeId::Blob => 16,
        LogicalTypeId::Boolean => 1,
        LogicalTypeId::Date => 4,
        _ => 8,
    }
}

/// # Safety
/// `dst` must have room for `src.len()` values of `T`'s layout.
unsafe fn copy_values<T: Copy>(dst: *mut std::ffi::c_void, src: &[T]) {
    // SAFETY: the caller's contract; `src` cannot overlap DuckDB's vector.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.cast::<T>(), src.len()) }
}

/// Writes `offsets.len() - 1` strings as DuckDB `string_t`s (16 bytes: the length as `u32`, then
/// either up to 12 bytes inline, zero-padded, or a 4-byte prefix and a pointer).
///
/// # Safety
/// `dst` must have room for that many `string_t`s; `bytes` must outlive DuckDB's reading of them.
unsafe fn write_strings(dst: *mut [u8; 16], offsets: &[i64], bytes: &[u8]) {
    for (i, w) in offsets.windows(2).enumerate() {
        let s = &bytes[w[0] as usize..w[1] as usize];
        let n = s.len();
        // The length, then the bytes inline (zero-padded) or a prefix and a pointer. Short
        // values are assembled from words, not copied with `copy_from_slice` of a variable
        // length, which is a call to `memcpy` per value.
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(&(n as u32).to_ne_bytes());
        if n <= 12 {
            let (lo, hi) = inline12(s);
            raw[4..8].copy_from_slice(&(lo as u32).to_le_bytes());
            raw[8..].copy_from_slice(&((lo >> 32) | (hi << 32)).to_le_bytes());
        } else {
            raw[4..8].copy_from_slice(&s[..4]);
            raw[8..].copy_from_slice(&(s.as_ptr() as usize as u64).to_ne_bytes());
        }
        // SAFETY: the caller's contract on `dst`.
        unsafe { dst.add(i).write_unaligned(raw) }
    }
}

/// The little-endian `u32` at `at` of `s` (`s.len() >= at + 4`).
#[inline(always)]
fn le_u32(s: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"))
}

/// Up to 12 bytes as two little-endian words: bytes 0 to 7 and 8 to 11, zero past the value's
/// end (written back with `to_le_bytes`, they are the bytes in order on any machine).
#[inline(always)]
fn inline12(s: &[u8]) -> (u64, u64) {
    let n = s.len();
    let le_u64 = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    match n {
        // Two overlapping words cover 8 to 12 bytes: the second shifted into place.
        8..=12 => (le_u64(0), u64::from(le_u32(s, n - 4)) >> (8 * (12 - n))),
        4..=7 => {
            let (a, b) = (u64::from(le_u32(s, 0)), u64::from(le_u32(s, n - 4)));
            (a | (b << (8 * (n - 4))), 0)
        }
        1..=3 => (u64::from(s[0]) | (u64::from(s[n / 2]) << (8 * (n / 2))) | (u64::from(s[n - 1]) << (8 * (n - 1))), 0),
        _ => (0, 0),
    }
}

/// # Safety
/// `vector` must be a flat vector of the output chunk with room for `valid.len()` rows.
unsafe fn write_validity(vector: ffi::duckdb_vector, valid: &[bool]) {
    // SAFETY: the caller's contract; DuckDB allocates a mask of `vector_size` bits.
    unsafe {
        ffi::duckdb_vector_ensure_validity_writable(vector);
        let mask = ffi::duckdb_vector_get_validity(vector);
        for (w, chunk) in valid.chunks(64).enumerate() {
            let mut bits = 0u64;
            for (b, v) in chunk.iter().enumerate() {
                bits |= (*v as u64) << b;
            }
            if chunk.len() < 64 {
                // Keep the bits past the rows as DuckDB set them.
                let keep = !0u64 << chunk.len();
                bits |= mask.add(w).read() & keep;
            }
            mask.add(w).write(bits);
        }
    }
}

/// # Safety
/// As [`write_validity`].
unsafe fn set_all_null(vector: ffi::duckdb_vector, n: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::duckdb_vector_ensure_validity_writable(vector);
        let mask = ffi::duckdb_vector_get_validity(vector);
        for w in 0..n.div_ceil(64) {
            let bits = if (w + 1) * 64 <= n { 0 } else { !0u64 << (n - w * 64) };
            mask.add(w).write(bits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `string_t` as DuckDB lays it out, byte by byte: the reference for `write_strings`.
    fn string_t(s: &[u8]) -> [u8; 16] {
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(&(s.len() as u32).to_ne_bytes());
        if s.len() <= 12 {
            raw[4..4 + s.len()].copy_from_slice(s);
        } else {
            raw[4..8].copy_from_slice(&s[..4]);
            raw[8..].copy_from_slice(&(s.as_ptr() as usize as u64).to_ne_bytes());
        }
        raw
    }

    #[test]
    fn strings_are_written_as_duckdb_lays_out_string_t() {
        // Every length from 0 to 20 at every alignment, back to back in one buffer.
        let mut bytes = Vec::new();
        let mut offsets = vec![0i64];
        for n in 0..=20usize {
            for start in 0..8u8 {
                bytes.extend((0..n).map(|i| start.wrapping_mul(31).wrapping_add(i as u8 * 7 + 1)));
                offsets.push(bytes.len() as i64);
            }
        }
        let mut out = vec![[0xAAu8; 16]; offsets.len() - 1];
        // SAFETY: `out` has room for one `string_t` per value; `bytes` outlives the check.
        unsafe { write_strings(out.as_mut_ptr(), &offsets, &bytes) };
        for (i, w) in offsets.windows(2).enumerate() {
            let s = &bytes[w[0] as usize..w[1] as usize];
            assert_eq!(out[i], string_t(s), "value {i}, {} bytes", s.len());
        }
    }

    #[test]
    fn batches_of_a_table_go_in_one_statement_in_order_with_their_own_nulls() {
        use crate::destination::{Batch, Session, Target};
        use crate::jobs::InsertMethod;
        use etl_core::columnar::TableColumns;
        use arrow::array::Array as _;
        use etl_core::{Column, Value};

        let column = |n: &str, ty| Column { name: n.into(), data_type: Some(ty), nullable: true, nullable_set: true, ..Default::default() };
        let table = Table { name: "t".into(), columns: vec![column("v", DataType::Bigint), column("w", DataType::Text)], ..Default::default() };
        // Lengths that are not whole vectors, so a batch's last vector is short; `w` null in the
        // first batch, set in the second, null every third row in the last; one batch small
        // enough for the appender between them.
        let batch = |from: i64, n: i64, w: &dyn Fn(i64) -> Option<String>| {
            let mut rows = TableColumns::default();
            for v in from..from + n {
                let mut row = vec![(0, Value::Int(v))];
                if let Some(text) = w(v) {
                    row.push((1, Value::Text(text)));
                }
                rows.push_row(&table, &row).unwrap();
            }
            let (rows, columns) = rows.take();
            Batch { rows, columns }
        };
        let batches = vec![
            batch(0, 5000, &|_| None),
            batch(5000, 4097, &|v| Some(format!("value number {v}"))),
            batch(9097, 10, &|v| Some(v.to_string())),
            batch(9107, 4500, &|v| (v % 3 != 0).then(|| format!("w{v}"))),
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut db = super::super::DuckDbSession::open(&dir.path().join("t.duckdb"), "d").unwrap();
        db.ensure_dataset().unwrap();
        db.sync_table_def(Target::Main, &table).unwrap();
        let inserted = Session::insert_batches(&mut db, Target::Main, &table, batches).unwrap();
        let methods: Vec<_> = inserted.iter().map(|i| (i.method, i.buffers.is_some())).collect();
        assert_eq!(
            methods,
            [(InsertMethod::EtlScan, true), (InsertMethod::EtlScan, true), (InsertMethod::ArrowAppender, false), (InsertMethod::EtlScan, true)]
        );
        // The two batches before the appender's in one statement, the last in another.
        assert_eq!(db.scan_statements, 2);
        let expected = |v: i64| match v {
            0..5000 => None,
            5000..9097 => Some(format!("value number {v}")),
            9097..9107 => Some(v.to_string()),
            _ => (v % 3 != 0).then(|| format!("w{v}")),
        };
        let mut got = Vec::new();
        for b in Session::query_arrow(&mut db, "SELECT v, w FROM d.t ORDER BY rowid").unwrap() {
            let v = b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
            let w = b.column(1).as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
            got.extend((0..b.num_rows()).map(|i| (v.value(i), w.is_valid(i).then(|| w.value(i).to_owned()))));
        }
        let want: Vec<_> = (0..13_607).map(|v| (v, expected(v))).collect();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "first difference: {:?}", got.iter().zip(&want).find(|(a, b)| a != b));
    }
}
