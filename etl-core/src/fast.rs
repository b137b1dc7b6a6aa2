//! The fast path of the normalizer: items whose shape the schema already knows are written
//! straight into the columnar buffers of their tables, without a `Value` tree, a row of owned
//! cell names or a per-cell type inference.
//!
//! [`RowWriter`] owns the buffers of a resource's tables ([`TableColumns`]). An item goes through
//! [`RowWriter::json`] (a JSON text, parsed as it streams), [`RowWriter::value`] (a [`Value`]) or
//! [`RowWriter::serialize`] (a typed `Serialize` item, whose serde calls drive the walk: no
//! `Value` tree); all three walk the item through the same steps per place (row, key, element). Keys are resolved through per-table key maps
//! (raw key → column index, nested object or child table), cached between items and checked in
//! the order they came last time, so a steady stream costs a string comparison per key. Ids are
//! generated into fixed buffers.
//!
//! The fast path only handles what it can write exactly as the general path
//! ([`crate::normalize::normalize_item`] + [`crate::Schema::coerce_row_with`]) would: tables that
//! already have data, columns that exist with a type their values fit without conversion (or
//! with the few exact conversions listed in `write`). Anything else (a new table or column, a
//! variant, a value that needs coercion, a JSON column, nesting at the limit, two keys for one
//! column, typed values such as decimals or dates, upsert and scd2 ids) makes it return `false`
//! with the buffers as they were; the caller then runs the general path, which evolves the
//! schema, and calls [`RowWriter::schema_changed`] when it did. Results are identical by
//! construction: the general path stays the reference, the fast path a cache of its decisions.

use std::collections::HashMap;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize};

use crate::columnar::{ColumnBuffer, TableColumns};
use crate::hints::DataType;
use crate::naming::{make_path, Naming, PATH_SEPARATOR};
use crate::normalize::{child_row_id_bytes, IdGenerator, RowContext, RowId, C_ID, C_LIST_IDX, C_LOAD_ID, C_PARENT_ID, C_ROOT_ID, C_VALUE};
use crate::schema::Schema;
use crate::types::parse_iso_timestamp;
use crate::value::{has_type_hint, Value};

/// Keys remembered per object before the fast path gives up on it (data whose keys never
/// repeat evolves the schema on every row anyway).
const MAX_KEYS: usize = 4096;

/// The buffered rows of one resource's tables, and the fast path's caches.
pub struct RowWriter {
    load_id: String,
    max_nesting: u32,
    root_key: bool,
    enabled: bool,
    /// Leave child ids that nothing needs yet to [`crate::columnar::fill_child_ids`].
    defer_ids: bool,
    /// Tables in the order their first row came (the root table first).
    tables: Vec<FastTable>,
    by_name: HashMap<String, usize>,
    /// Key maps of objects (a table's rows and the objects flattened into them).
    maps: Vec<KeyMap>,
    /// Counts the objects walked, so that a key repeated within one object is noticed.
    generation: u64,
    /// The naming (identifier limit) the key maps' names were made with: the schema's, checked
    /// on every item.
    naming: Naming,
}

struct FastTable {
    name: String,
    /// The path the table is named from: the root table's name and the (normalized, not
    /// shortened) keys down to the list, joined with `__`. Its nested tables are named from it.
    path: String,
    rows: TableColumns,
    /// Rows before the item being written (for [`RowWriter::rollback`]).
    mark: usize,
    /// Position in `schema.tables`, once the table is known to have data.
    schema_index: Option<usize>,
    /// Key map of the table's row object.
    map: Option<usize>,
    specials: Option<Specials>,
    /// `_dlt_id` of the row being written, unless `id_pending`.
    current_id: RowId,
    /// The id of the (child) row being written is not computed yet: it is needed only if the
    /// row gets children of its own; otherwise the loader fills it in
    /// ([`crate::columnar::fill_child_ids`]), off the normalizing thread.
    id_pending: bool,
    /// Parent table and list position of the child row being written.
    parent: usize,
    idx: usize,
}

/// Column indices of the `_dlt_*` columns of a table.
#[derive(Clone, Copy)]
struct Specials {
    id: usize,
    load_id: Option<usize>,
    parent_id: Option<usize>,
    list_idx: Option<usize>,
    root_id: Option<usize>,
}

#[derive(Default)]
struct KeyMap {
    /// Path of the object below its table, not shortened (empty for the row itself).
    prefix: String,
    entries: Vec<Entry>,
    /// Where the next key is expected (keys usually come in the same order).
    cursor: usize,
}

struct Entry {
    key: Box<str>,
    /// Path below the table: the normalized keys joined with `__`, not shortened (what nested
    /// objects and tables are named from).
    path: String,
    /// Column name: the path shortened to the identifier limit.
    name: String,
    column: Lookup,
    object: Option<usize>,
    child: Option<usize>,
    /// The generation of the object that last had this key (a repeated key bails: the general
    /// path keeps its last value in its first place, as a dict).
    seen: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Lookup {
    Unknown,
    Missing,
    Column(usize, DataType),
}

/// A scalar as the parser sees it.
#[derive(Clone, Copy)]
enum Scalar<'s> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'s str),
    /// A typed timestamp, date or time (a typed item's chrono field, as `to_value` makes it).
    Temporal(&'s Value),
}

/// The fast path cannot write this item.
struct Bail;

impl RowWriter {
    /// Buffers for one resource run with `ctx`'s settings. Upsert and scd2 rows (ids hashed from
    /// their content) always take the general path.
    pub fn new(ctx: &RowContext<'_>) -> Self {
        let mut writer = RowWriter {
            load_id: ctx.load_id.to_owned(),
            max_nesting: ctx.max_nesting,
            root_key: ctx.propagate_root_id,
            enabled: ctx.key_hash_id.is_none() && !ctx.row_hash_id,
            defer_ids: true,
            tables: Vec::new(),
            by_name: HashMap::new(),
            maps: Vec::new(),
            generation: 0,
            naming: Naming::default(),
        };
        writer.table_index(ctx.root_table, Some(ctx.root_table));
        writer
    }

    /// Turns the fast path off (every item takes the general path), e.g. for an incremental
    /// resource whose rows must be filtered as values first.
    pub fn disable_fast_path(&mut self) {
        self.enabled = false;
    }

    /// Whether child row ids that no child of their own needs are left to whoever turns the
    /// buffers into batches ([`crate::columnar::fill_child_ids`], on the loader thread) or
    /// computed here, at once. The ids are the same either way; the pipeline picks the thread
    /// with time to spare.
    pub fn defer_child_ids(&mut self, defer: bool) {
        self.defer_ids = defer;
    }

    /// The schema changed (the general path evolved it): forget what was resolved against it.
    pub fn schema_changed(&mut self) {
        self.maps.clear();
        for t in &mut self.tables {
            t.schema_index = None;
            t.map = None;
            t.specials = None;
        }
    }

    /// The table named `name`, added if new. `path` is what it is named from, where known (the
    /// general path's rows come with their table's name only; the fast path's own walk gives
    /// the path before it names a nested table of it).
    fn table_index(&mut self, name: &str, path: Option<&str>) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            if let Some(path) = path.filter(|p| *p != self.tables[i].path) {
                self.tables[i].path = path.to_owned();
            }
            return i;
        }
        self.tables.push(FastTable {
            name: name.to_owned(),
            path: path.unwrap_or(name).to_owned(),
            rows: TableColumns::default(),
            mark: 0,
            schema_index: None,
            map: None,
            specials: None,
            current_id: [0; 14],
            id_pending: false,
            parent: 0,
            idx: 0,
        });
        self.by_name.insert(name.to_owned(), self.tables.len() - 1);
        self.tables.len() - 1
    }

    /// Takes back the emptied buffers of a loaded batch of `table`, to be filled again.
    pub fn recycle(&mut self, table: &str, buffers: Vec<(usize, ColumnBuffer)>) {
        if let Some(&t) = self.by_name.get(table) {
            self.tables[t].rows.recycle(buffers);
        }
    }

    /// Appends a row coerced by the general path to its table's buffer.
    pub fn push_row(&mut self, schema: &Schema, table: &str, row: &[(usize, Value)]) -> Result<(), String> {
        let def = schema.table(table).ok_or_else(|| format!("table `{table}` is not in the schema"))?;
        let t = self.table_index(table, None);
        self.tables[t].rows.push_row(def, row)
    }

    /// Writes one item given as JSON text through the fast path. `false`: nothing was written
    /// (the item needs the general path, or is not valid JSON).
    pub fn json(&mut self, schema: &Schema, text: &[u8], ids: &mut IdGenerator) -> bool {
        if !self.enabled {
            return false;
        }
        self.follow_naming(schema);
        // One UTF-8 check of the whole line (word at a time over ASCII) instead of one per
        // string: `from_str` trusts its input.
        let Ok(text) = std::str::from_utf8(text) else { return false };
        self.mark();
        let mut de = sonic_rs::Deserializer::from_str(text);
        let ok = RootSeed(&mut Walk { w: self, schema, ids, zero_sign_unknown: may_have_negative_zero(text.as_bytes()) }).deserialize(&mut de).is_ok() && de.end().is_ok();
        if !ok {
            self.rollback();
        }
        ok
    }

    /// Writes one item given as a [`Value`] through the fast path. `false`: nothing was written.
    pub fn value(&mut self, schema: &Schema, item: &Value, ids: &mut IdGenerator) -> bool {
        if !self.enabled {
            return false;
        }
        self.follow_naming(schema);
        self.mark();
        let ok = RootSeed(&mut Walk { w: self, schema, ids, zero_sign_unknown: false }).deserialize(ValueDe(item)).is_ok();
        if !ok {
            self.rollback();
        }
        ok
    }

    /// Writes one typed item through the fast path, driven by its `Serialize` implementation
    /// (no [`Value`] is built): exactly what [`RowWriter::value`] writes for
    /// [`crate::value::to_value`] of the item. `false`: nothing was written; the caller converts
    /// the item with `to_value` and runs the general path.
    pub fn serialize<T: Serialize + ?Sized>(&mut self, schema: &Schema, item: &T, ids: &mut IdGenerator) -> bool {
        if !self.enabled {
            return false;
        }
        self.follow_naming(schema);
        self.mark();
        let ok = put_value(&mut Walk { w: self, schema, ids, zero_sign_unknown: false }, Place::Root, item).is_ok();
        if !ok {
            self.rollback();
        }
        ok
    }

    /// Whether items may take the fast path at all (not for upsert, scd2 or incremental
    /// resources).
    pub fn fast_path_enabled(&self) -> bool {
        self.enabled
    }

    /// Names are made with the schema's naming: if its identifier limit changed since the key
    /// maps were made, they are made again.
    fn follow_naming(&mut self, schema: &Schema) {
        if self.naming != schema.naming() {
            self.schema_changed();
            self.naming = schema.naming();
        }
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    fn mark(&mut self) {
        for t in &mut self.tables {
            t.mark = t.rows.len();
        }
    }

    fn rollback(&mut self) {
        for t in &mut self.tables {
            t.rows.truncate(t.mark);
        }
    }

    /// Takes out the buffered rows of tables that are full (`all`: of every table with rows), in
    /// the order the tables were first met: `(table, rows, buffers by column index)`.
    pub fn drain(&mut self, all: bool) -> Vec<(String, usize, Vec<Option<ColumnBuffer>>)> {
        let mut out = Vec::new();
        for t in &mut self.tables {
            if !t.rows.is_empty() && (all || t.rows.is_full()) {
                let (len, columns) = t.rows.take();
                out.push((t.name.clone(), len, columns));
            }
        }
        out
    }

    /// The slot of `key` in key map `m`, for the object of `generation` (a key it already had
    /// bails).
    #[inline(always)]
    fn slot(&mut self, m: usize, key: &str, generation: u64) -> Result<usize, Bail> {
        let map = &mut self.maps[m];
        let c = map.cursor;
        if let Some(entry) = map.entries.get_mut(c).filter(|e| same_key(&e.key, key)) {
            // The key expected next (the common case).
            if entry.seen == generation {
                return Err(Bail);
            }
            entry.seen = generation;
            map.cursor = c + 1;
            return Ok(c);
        }
        self.find_slot(m, key, generation)
    }

    /// [`RowWriter::slot`] for a key that is not the one expected next: looked up, or added.
    #[inline(never)]
    fn find_slot(&mut self, m: usize, key: &str, generation: u64) -> Result<usize, Bail> {
        let map = &mut self.maps[m];
        let i = match map.entries.iter().position(|e| same_key(&e.key, key)) {
            Some(i) => i,
            None if map.entries.len() >= MAX_KEYS => return Err(Bail),
            None => {
                let norm = self.naming.normalize_path(key);
                // The general path's naming: empty parts are skipped; the key on its own, then
                // the path as a whole are shortened.
                let path = if map.prefix.is_empty() {
                    norm
                } else if norm.is_empty() {
                    map.prefix.clone()
                } else {
                    format!("{}{PATH_SEPARATOR}{norm}", map.prefix)
                };
                let name = self.naming.shorten_joined(&path).into_owned();
                map.entries.push(Entry { key: key.into(), path, name, column: Lookup::Unknown, object: None, child: None, seen: 0 });
                map.entries.len() - 1
            }
        };
        let entry = &mut map.entries[i];
        if entry.seen == generation {
            return Err(Bail);
        }
        entry.seen = generation;
        map.cursor = i + 1;
        Ok(i)
    }

    fn new_map(&mut self, prefix: String) -> usize {
        self.maps.push(KeyMap { prefix, ..Default::default() });
        self.maps.len() - 1
    }

    /// The key map of table `t`'s rows.
    fn row_map(&mut self, t: usize) -> usize {
        match self.tables[t].map {
            Some(m) => m,
            None => {
                let m = self.new_map(String::new());
                self.tables[t].map = Some(m);
                m
            }
        }
    }
}

/// Whether two keys are equal, inline for the short keys objects have (`==` on strings calls
/// `memcmp`, which cost 7 % of the normalizing thread's time on the events benchmark).
#[inline(always)]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        // Two overlapping words cover 8 to 16 bytes; two halves 4 to 8.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

struct Walk<'a> {
    w: &'a mut RowWriter,
    schema: &'a Schema,
    ids: &'a mut IdGenerator,
    /// The item is JSON text with a `-0.` or `-0e` in it: `sonic_rs` reads `-0.0` as `0.0`, so
    /// its float zeros go to the general path.
    zero_sign_unknown: bool,
}

impl Walk<'_> {
    /// Resolves table `t` against the schema: it must exist and have data, with its `_dlt_*`
    /// columns typed as the general path makes them.
    fn resolve_table(&mut self, t: usize, child: bool) -> Result<usize, Bail> {
        if let (Some(ti), Some(_)) = (self.w.tables[t].schema_index, self.w.tables[t].specials) {
            return Ok(ti);
        }
        let name = &self.w.tables[t].name;
        let ti = self.schema.tables.iter().position(|x| &x.name == name && x.seen_data).ok_or(Bail)?;
        let table = &self.schema.tables[ti];
        let typed = |col: &str, ty: DataType| table.column_index(col).filter(|i| table.columns[*i].data_type == Some(ty));
        let specials = if child {
            Specials {
                id: typed(C_ID, DataType::Text).ok_or(Bail)?,
                load_id: None,
                parent_id: Some(typed(C_PARENT_ID, DataType::Text).ok_or(Bail)?),
                list_idx: Some(typed(C_LIST_IDX, DataType::Bigint).ok_or(Bail)?),
                root_id: if self.w.root_key { Some(typed(C_ROOT_ID, DataType::Text).ok_or(Bail)?) } else { None },
            }
        } else {
            Specials { id: typed(C_ID, DataType::Text).ok_or(Bail)?, load_id: Some(typed(C_LOAD_ID, DataType::Text).ok_or(Bail)?), parent_id: None, list_idx: None, root_id: None }
        };
        self.w.tables[t].schema_index = Some(ti);
        self.w.tables[t].specials = Some(specials);
        Ok(ti)
    }

    /// Ends the row of table `t`: its `_dlt_*` cells, then nulls for the columns it lacks.
    fn end_row(&mut self, t: usize, child: Option<(usize, usize)>) -> Result<(), Bail> {
        if let Some((p, _)) = child {
            self.ensure_id(p);
        }
        let ti = self.w.tables[t].schema_index.ok_or(Bail)?;
        let sp = self.w.tables[t].specials.ok_or(Bail)?;
        let columns = &self.schema.tables[ti].columns;
        let (root_id, parent_id) = (self.w.tables[0].current_id, child.map(|(p, _)| self.w.tables[p].current_id));
        let table = &mut self.w.tables[t];
        let mut text = |idx: Option<usize>, bytes: &[u8]| match idx {
            Some(i) => put(table.rows.cell(i, &columns[i]), |b| b.push_bytes(bytes)),
            None => Ok(()),
        };
        text(sp.load_id, self.w.load_id.as_bytes())?;
        if let Some(parent_id) = parent_id {
            text(sp.root_id, &root_id)?;
            text(sp.parent_id, &parent_id)?;
        }
        let id = table.current_id;
        if let (Some((_, idx)), Some(i)) = (child, sp.list_idx) {
            put(table.rows.cell(i, &columns[i]), |b| b.push_i64(idx as i64))?;
        }
        if table.id_pending {
            // Filled in by the loader from the parent id and the list position.
            put(table.rows.cell(sp.id, &columns[sp.id]), |b| {
                b.push_null();
                true
            })?;
        } else {
            put(table.rows.cell(sp.id, &columns[sp.id]), |b| b.push_bytes(&id))?;
        }
        table.rows.finish_row();
        Ok(())
    }

    /// Computes the pending id of the row being written in table `t` (and of its pending
    /// ancestors): its children need it as their parent id.
    fn ensure_id(&mut self, t: usize) {
        let mut chain = Vec::new();
        let mut at = t;
        while self.w.tables[at].id_pending {
            chain.push(at);
            at = self.w.tables[at].parent;
        }
        for t in chain.into_iter().rev() {
            let tables = &mut self.w.tables;
            tables[t].current_id = child_row_id_bytes(&tables[tables[t].parent].current_id, &tables[t].name, tables[t].idx);
            tables[t].id_pending = false;
        }
    }

    #[inline(always)]
    fn column(&mut self, t: usize, m: usize, s: usize) -> Lookup {
        let entry = &mut self.w.maps[m].entries[s];
        if entry.column == Lookup::Unknown {
            let table = self.w.tables[t].schema_index.map(|ti| &self.schema.tables[ti]);
            entry.column = table
                .and_then(|tb| tb.column_index(&entry.name).and_then(|i| tb.columns[i].data_type.map(|ty| Lookup::Column(i, ty))))
                .unwrap_or(Lookup::Missing);
        }
        entry.column
    }

    fn scalar(&mut self, t: usize, m: usize, s: usize, v: Scalar<'_>) -> Result<(), Bail> {
        if self.zero_sign_unknown && matches!(v, Scalar::F64(f) if f == 0.0) {
            return Err(Bail);
        }
        let i = match self.column(t, m, s) {
            Lookup::Column(i, _) => i,
            // A null for a column that does not exist creates nothing.
            _ if matches!(v, Scalar::Null) => return Ok(()),
            _ => return Err(Bail),
        };
        let ti = self.w.tables[t].schema_index.ok_or(Bail)?;
        put(self.w.tables[t].rows.cell(i, &self.schema.tables[ti].columns[i]), |b| write(b, v))
    }

    /// Nested objects and lists below the nesting limit, and not into a JSON column.
    fn check_nested(&mut self, t: usize, m: usize, s: usize, level: u32) -> Result<(), Bail> {
        if level >= self.w.max_nesting || matches!(self.column(t, m, s), Lookup::Column(_, DataType::Json)) {
            return Err(Bail);
        }
        Ok(())
    }

    fn object_map(&mut self, t: usize, m: usize, s: usize, level: u32) -> Result<usize, Bail> {
        self.check_nested(t, m, s, level)?;
        if let Some(sub) = self.w.maps[m].entries[s].object {
            return Ok(sub);
        }
        let sub = self.w.new_map(self.w.maps[m].entries[s].path.clone());
        self.w.maps[m].entries[s].object = Some(sub);
        Ok(sub)
    }

    fn child_table(&mut self, t: usize, m: usize, s: usize, level: u32) -> Result<usize, Bail> {
        self.check_nested(t, m, s, level)?;
        if let Some(c) = self.w.maps[m].entries[s].child {
            return Ok(c);
        }
        // Named from the whole path, as the general path names it.
        let path = make_path(&[self.w.tables[t].path.as_str(), self.w.maps[m].entries[s].path.as_str()]);
        let name = self.w.naming.shorten_joined(&path).into_owned();
        let c = self.w.table_index(&name, Some(&path));
        self.w.maps[m].entries[s].child = Some(c);
        Ok(c)
    }

    /// The keys of an object of table `t` (key map `m`, started by `begin_object`).
    fn object<'de, A: MapAccess<'de>>(&mut self, t: usize, m: usize, level: u32, generation: u64, mut access: A) -> Result<(), A::Error> {
        while let Some(key) = access.next_key_seed(KeySeed)? {
            let s = self.w.slot(m, key.as_str(), generation).map_err(bail)?;
            access.next_value_seed(FieldSeed { walk: self, t, m, s, level })?;
        }
        Ok(())
    }
}

/// Whether JSON text may hold a float negative zero (`-0.0`, `-0e0`, ...): conservatively, a
/// `-0` followed by `.`, `e` or `E` anywhere (dates such as `2024-01-02` do not match).
fn may_have_negative_zero(text: &[u8]) -> bool {
    memchr::memchr_iter(b'-', text).any(|at| text.get(at + 1) == Some(&b'0') && matches!(text.get(at + 2), Some(b'.' | b'e' | b'E')))
}

/// Writes into a cell the row has no value for yet.
fn put(cell: Option<&mut ColumnBuffer>, write: impl FnOnce(&mut ColumnBuffer) -> bool) -> Result<(), Bail> {
    match cell.map(write) {
        Some(true) => Ok(()),
        _ => Err(Bail),
    }
}

fn bail<E: de::Error>(_: Bail) -> E {
    E::custom("the fast path cannot write this item")
}

/// Writes a scalar into a column of the type the general path's coercion would give it, where
/// that is exact and cheap. `false`: the general path must decide.
fn write(buffer: &mut ColumnBuffer, v: Scalar<'_>) -> bool {
    match (buffer.data_type, v) {
        (_, Scalar::Null) => {
            buffer.push_null();
            true
        }
        (DataType::Bigint, Scalar::I64(i)) => buffer.push_i64(i),
        (DataType::Bigint, Scalar::U64(u)) => i64::try_from(u).is_ok_and(|i| buffer.push_i64(i)),
        (DataType::Bigint, Scalar::F64(f)) => f.fract() == 0.0 && f.abs() < 9.2e18 && buffer.push_i64(f as i64),
        (DataType::Double, Scalar::F64(f)) => buffer.push_f64(f),
        (DataType::Double, Scalar::I64(i)) => buffer.push_f64(i as f64),
        (DataType::Double, Scalar::U64(u)) => buffer.push_f64(u as f64),
        (DataType::Bool, Scalar::Bool(b)) => buffer.push_bool(b),
        (DataType::Text, Scalar::Str(s)) => buffer.push_bytes(s.as_bytes()),
        (DataType::Timestamp, Scalar::Str(s)) => parse_iso_timestamp(s).is_some_and(|t| buffer.push_i64(t.timestamp_micros())),
        // Into a column of its own type only: what coercion leaves as it is.
        (_, Scalar::Temporal(v)) => buffer.push_temporal(v),
        _ => false,
    }
}

/// A key, borrowed from the input when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(v.to_owned()))
    }
}

/// Where a value of an item goes: the item itself (a root row), the value of a key of an object
/// of table `t` (map `m`, slot `s`) at nesting `level`, or element `idx` of a list (a row of
/// child table `c` of `parent`) at nesting `level`. The JSON, `Value` and `Serialize` walks all
/// go through the same `Walk` methods for each place.
#[derive(Clone, Copy)]
enum Place {
    Root,
    Field { t: usize, m: usize, s: usize, level: u32 },
    Element { parent: usize, c: usize, idx: usize, level: u32 },
}

impl Walk<'_> {
    /// Starts a row of child table `c` (element `idx` of a list of `parent`'s row); returns the
    /// key map of its rows.
    #[inline]
    fn begin_element(&mut self, parent: usize, c: usize, idx: usize) -> Result<usize, Bail> {
        self.resolve_table(c, true)?;
        let w = &mut *self.w;
        let table = &mut w.tables[c];
        (table.id_pending, table.parent, table.idx) = (true, parent, idx);
        if !w.defer_ids {
            self.ensure_id(c);
        }
        Ok(self.w.row_map(c))
    }

    /// Starts an object at `place`: `(table, key map, nesting level, generation)` of its keys.
    #[inline(always)]
    fn begin_object(&mut self, place: Place) -> Result<(usize, usize, u32, u64), Bail> {
        let (t, m, level) = match place {
            Place::Root => {
                self.resolve_table(0, false)?;
                self.w.tables[0].current_id = self.ids.root_id_bytes();
                self.w.tables[0].id_pending = false;
                (0, self.w.row_map(0), 0)
            }
            Place::Field { t, m, s, level } => (t, self.object_map(t, m, s, level)?, level + 1),
            Place::Element { parent, c, idx, level } => (c, self.begin_element(parent, c, idx)?, level),
        };
        self.w.maps[m].cursor = 0;
        Ok((t, m, level, self.w.next_generation()))
    }

    /// Ends the object at `place` (the row, for a root or an element).
    #[inline(always)]
    fn end_object(&mut self, place: Place) -> Result<(), Bail> {
        match place {
            Place::Root => self.end_row(0, None),
            Place::Field { .. } => Ok(()),
            Place::Element { parent, c, idx, .. } => self.end_row(c, Some((parent, idx))),
        }
    }

    /// A scalar at `place`; a scalar element is the row `{"value": element}`.
    #[inline(always)]
    fn place_scalar(&mut self, place: Place, v: Scalar<'_>) -> Result<(), Bail> {
        match place {
            Place::Root => Err(Bail),
            Place::Field { t, m, s, .. } => self.scalar(t, m, s, v),
            Place::Element { parent, c, idx, .. } => {
                let m = self.begin_element(parent, c, idx)?;
                let generation = self.w.next_generation();
                let s = self.w.slot(m, C_VALUE, generation)?;
                self.scalar(c, m, s, v)?;
                self.end_row(c, Some((parent, idx)))
            }
        }
    }

    /// Starts a list at `place`: `(parent table, child table, nesting level of its rows)`. A list
    /// inside a list, or an item that is a list, is left to the general path.
    #[inline(always)]
    fn begin_list(&mut self, place: Place) -> Result<(usize, usize, u32), Bail> {
        match place {
            Place::Field { t, m, s, level } => Ok((t, self.child_table(t, m, s, level)?, level + 1)),
            _ => Err(Bail),
        }
    }
}

/// A seed that is its own visitor (`$method` asks the deserializer for what it expects), with
/// the visitor's methods given in the block. One seed type per kind of place, so that each
/// knows its place's steps statically (the JSON path's cost per key).
macro_rules! seed_visitor {
    ($de:lifetime, $seed:ident, $method:ident, $expecting:literal, { $($visits:tt)* }) => {
        impl<$de> DeserializeSeed<$de> for $seed<'_, '_> {
            type Value = ();
            fn deserialize<D: Deserializer<$de>>(self, d: D) -> Result<(), D::Error> {
                d.$method(self)
            }
        }

        impl<$de> Visitor<$de> for $seed<'_, '_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($expecting)
            }
            $($visits)*
        }
    };
}

macro_rules! scalar_visits {
    () => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
            self.scalar(Scalar::Bool(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
            self.scalar(Scalar::I64(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
            self.scalar(Scalar::U64(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
            self.scalar(Scalar::F64(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
            self.scalar(Scalar::Str(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            self.scalar(Scalar::Null)
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            self.scalar(Scalar::Null)
        }
    };
}

/// The item: a root row (`Place::Root`).
struct RootSeed<'w, 'a>(&'w mut Walk<'a>);

seed_visitor!('de, RootSeed, deserialize_map, "an object", {
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<(), A::Error> {
        let walk = self.0;
        let (t, m, level, generation) = walk.begin_object(Place::Root).map_err(bail)?;
        walk.object(t, m, level, generation, access)?;
        walk.end_object(Place::Root).map_err(bail)
    }
});

/// The value of a key (`Place::Field`).
struct FieldSeed<'w, 'a> {
    walk: &'w mut Walk<'a>,
    t: usize,
    m: usize,
    s: usize,
    level: u32,
}

impl FieldSeed<'_, '_> {
    fn place(&self) -> Place {
        Place::Field { t: self.t, m: self.m, s: self.s, level: self.level }
    }

    fn scalar<E: de::Error>(self, v: Scalar<'_>) -> Result<(), E> {
        self.walk.place_scalar(self.place(), v).map_err(bail)
    }
}

seed_visitor!('de, FieldSeed, deserialize_any, "a JSON value", {
    scalar_visits!();
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<(), A::Error> {
        let place = self.place();
        let (t, m, level, generation) = self.walk.begin_object(place).map_err(bail)?;
        self.walk.object(t, m, level, generation, access)?;
        self.walk.end_object(place).map_err(bail)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (parent, c, level) = self.walk.begin_list(self.place()).map_err(bail)?;
        let mut idx = 0;
        while seq.next_element_seed(ElementSeed { walk: &mut *self.walk, parent, c, idx, level })?.is_some() {
            idx += 1;
        }
        Ok(())
    }
});

/// Element `idx` of a list (`Place::Element`).
struct ElementSeed<'w, 'a> {
    walk: &'w mut Walk<'a>,
    parent: usize,
    c: usize,
    idx: usize,
    level: u32,
}

impl ElementSeed<'_, '_> {
    fn place(&self) -> Place {
        Place::Element { parent: self.parent, c: self.c, idx: self.idx, level: self.level }
    }

    fn scalar<E: de::Error>(self, v: Scalar<'_>) -> Result<(), E> {
        self.walk.place_scalar(self.place(), v).map_err(bail)
    }
}

seed_visitor!('de, ElementSeed, deserialize_any, "a JSON value", {
    scalar_visits!();
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<(), A::Error> {
        let place = self.place();
        let (t, m, level, generation) = self.walk.begin_object(place).map_err(bail)?;
        self.walk.object(t, m, level, generation, access)?;
        self.walk.end_object(place).map_err(bail)
    }
    // A list inside a list (visit_seq) is left to the general path: serde's default rejects it.
});

/// A value at any place, walked as the deserializer gives it (the typed path's dates, decimals
/// and bytes, as `to_value` makes them).
fn walk_value_at(walk: &mut Walk<'_>, place: Place, v: &Value) -> Result<(), Bail> {
    if matches!(v, Value::Timestamp(_) | Value::Date(_) | Value::Time(_)) {
        return walk.place_scalar(place, Scalar::Temporal(v));
    }
    let r = match place {
        Place::Root => RootSeed(walk).deserialize(ValueDe(v)),
        Place::Field { t, m, s, level } => FieldSeed { walk, t, m, s, level }.deserialize(ValueDe(v)),
        Place::Element { parent, c, idx, level } => ElementSeed { walk, parent, c, idx, level }.deserialize(ValueDe(v)),
    };
    r.map_err(|_| Bail)
}

/// The typed path: an item's `Serialize` implementation drives the walk directly (no [`Value`]).
/// It writes what [`RowWriter::value`] writes for [`crate::value::to_value`] of the item: the same
/// scalars for the same serde calls as [`crate::value::ValueSerializer`] (`u64` and `i128` that
/// fit `i64`, `f32` widened, `char` as text, unit variants as their name, a newtype variant as a
/// one-key object, ...), and the values of the types `to_value` recognises by their Rust type
/// name (dates, decimals, bytes) converted by `to_value` itself and walked as a [`Value`]. What
/// `ValueDe` has no form for (bytes, integers beyond `i64`) and map keys that are not text,
/// integers, booleans, floats or chars bail.
#[derive(Debug)]
struct SerBail;

impl std::fmt::Display for SerBail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fast path cannot write this item")
    }
}

impl std::error::Error for SerBail {}

impl ser::Error for SerBail {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        SerBail
    }
}

impl From<Bail> for SerBail {
    fn from(_: Bail) -> Self {
        SerBail
    }
}

/// A value of Rust type `T` at `place`: as `value.rs`'s `ser`, the type's hint first.
fn put_value<T: Serialize + ?Sized>(walk: &mut Walk<'_>, place: Place, value: &T) -> Result<(), SerBail> {
    // A date, timestamp, decimal or bytes: what `to_value` makes of it, walked as a value.
    if let Some(v) = crate::value::hinted_value(value) {
        return Ok(walk_value_at(walk, place, &v.map_err(|_| SerBail)?)?);
    }
    value.serialize(Ser { walk, place: &place })
}

/// The serializer of one value. Two pointers, so that it is passed in registers to the value's
/// `Serialize` impl: with its 32-byte place inside (40 bytes in all), each call copied it to the stack with
/// 16-byte loads of the place's fields just stored one by one, a store-forwarding stall per
/// value (the hottest instructions of the typed path's profile).
struct Ser<'w, 'a, 'p> {
    walk: &'w mut Walk<'a>,
    place: &'p Place,
}

impl Ser<'_, '_, '_> {
    fn scalar(self, v: Scalar<'_>) -> Result<(), SerBail> {
        Ok(self.walk.place_scalar(*self.place, v)?)
    }
}

impl<'w, 'a> ser::Serializer for Ser<'w, 'a, '_> {
    type Ok = ();
    type Error = SerBail;
    type SerializeSeq = ListSer<'w, 'a>;
    type SerializeTuple = ListSer<'w, 'a>;
    type SerializeTupleStruct = ListSer<'w, 'a>;
    type SerializeTupleVariant = ListSer<'w, 'a>;
    type SerializeMap = ObjectSer<'w, 'a>;
    type SerializeStruct = ObjectSer<'w, 'a>;
    type SerializeStructVariant = ObjectSer<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), SerBail> {
        self.scalar(Scalar::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), SerBail> {
        // Beyond i64 `to_value` makes a `BigInt`, which only the general path writes.
        self.scalar(Scalar::I64(i64::try_from(v).map_err(|_| SerBail)?))
    }
    fn serialize_u8(self, v: u8) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(i64::try_from(v).map_err(|_| SerBail)?))
    }
    fn serialize_u128(self, v: u128) -> Result<(), SerBail> {
        self.scalar(Scalar::I64(i64::try_from(v).map_err(|_| SerBail)?))
    }
    fn serialize_f32(self, v: f32) -> Result<(), SerBail> {
        self.scalar(Scalar::F64(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<(), SerBail> {
        self.scalar(Scalar::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<(), SerBail> {
        self.scalar(Scalar::Str(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_str(self, v: &str) -> Result<(), SerBail> {
        self.scalar(Scalar::Str(v))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), SerBail> {
        Err(SerBail)
    }
    fn serialize_none(self) -> Result<(), SerBail> {
        self.scalar(Scalar::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), SerBail> {
        put_value(self.walk, *self.place, value)
    }
    fn serialize_unit(self) -> Result<(), SerBail> {
        self.scalar(Scalar::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), SerBail> {
        self.scalar(Scalar::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), SerBail> {
        self.scalar(Scalar::Str(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), SerBail> {
        put_value(self.walk, *self.place, value)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), SerBail> {
        // `{variant: value}`.
        let (t, m, level, generation) = self.walk.begin_object(*self.place)?;
        let s = self.walk.w.slot(m, variant, generation)?;
        put_value(self.walk, Place::Field { t, m, s, level }, value)?;
        Ok(self.walk.end_object(*self.place)?)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<ListSer<'w, 'a>, SerBail> {
        let (parent, c, level) = self.walk.begin_list(*self.place)?;
        Ok(ListSer { walk: self.walk, parent, c, level, idx: 0, outer: None })
    }
    fn serialize_tuple(self, len: usize) -> Result<ListSer<'w, 'a>, SerBail> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<ListSer<'w, 'a>, SerBail> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<ListSer<'w, 'a>, SerBail> {
        // `{variant: [...]}`.
        let (t, m, level, generation) = self.walk.begin_object(*self.place)?;
        let s = self.walk.w.slot(m, variant, generation)?;
        let (parent, c, level) = self.walk.begin_list(Place::Field { t, m, s, level })?;
        Ok(ListSer { walk: self.walk, parent, c, level, idx: 0, outer: Some(*self.place) })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<ObjectSer<'w, 'a>, SerBail> {
        let (t, m, level, generation) = self.walk.begin_object(*self.place)?;
        Ok(ObjectSer { walk: self.walk, t, m, level, generation, key: None, place: *self.place, outer: None })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<ObjectSer<'w, 'a>, SerBail> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<ObjectSer<'w, 'a>, SerBail> {
        // `{variant: {...}}`.
        let (t, m, level, generation) = self.walk.begin_object(*self.place)?;
        let s = self.walk.w.slot(m, variant, generation)?;
        let inner = Place::Field { t, m, s, level };
        let (t, m, level, generation) = self.walk.begin_object(inner)?;
        Ok(ObjectSer { walk: self.walk, t, m, level, generation, key: None, place: inner, outer: Some(*self.place) })
    }
}

/// The elements of a list: rows of child table `c`.
struct ListSer<'w, 'a> {
    walk: &'w mut Walk<'a>,
    parent: usize,
    c: usize,
    level: u32,
    idx: usize,
    /// The one-key object of a tuple variant, ended after the list.
    outer: Option<Place>,
}

impl ListSer<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerBail> {
        let place = Place::Element { parent: self.parent, c: self.c, idx: self.idx, level: self.level };
        put_value(self.walk, place, value)?;
        self.idx += 1;
        Ok(())
    }

    fn finish(self) -> Result<(), SerBail> {
        match self.outer {
            Some(outer) => Ok(self.walk.end_object(outer)?),
            None => Ok(()),
        }
    }
}

crate::value::list_serializers!(ListSer<'_, '_>, SerBail);

/// The keys of an object of table `t` (key map `m`).
struct ObjectSer<'w, 'a> {
    walk: &'w mut Walk<'a>,
    t: usize,
    m: usize,
    level: u32,
    generation: u64,
    /// The slot of the map key just serialized.
    key: Option<usize>,
    place: Place,
    /// The one-key object of a struct variant, ended after this one.
    outer: Option<Place>,
}

impl ObjectSer<'_, '_> {
    fn field<T: Serialize + ?Sized>(&mut self, s: usize, value: &T) -> Result<(), SerBail> {
        put_value(self.walk, Place::Field { t: self.t, m: self.m, s, level: self.level }, value)
    }

    fn finish(self) -> Result<(), SerBail> {
        self.walk.end_object(self.place)?;
        match self.outer {
            Some(outer) => Ok(self.walk.end_object(outer)?),
            None => Ok(()),
        }
    }
}

impl ser::SerializeMap for ObjectSer<'_, '_> {
    type Ok = ();
    type Error = SerBail;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerBail> {
        self.key = Some(key.serialize(KeySer { w: &mut *self.walk.w, m: self.m, generation: self.generation })?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerBail> {
        let s = self.key.take().ok_or(SerBail)?;
        self.field(s, value)
    }
    fn end(self) -> Result<(), SerBail> {
        self.finish()
    }
}

impl ser::SerializeStruct for ObjectSer<'_, '_> {
    type Ok = ();
    type Error = SerBail;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), SerBail> {
        let s = self.walk.w.slot(self.m, key, self.generation)?;
        self.field(s, value)
    }
    fn end(self) -> Result<(), SerBail> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for ObjectSer<'_, '_> {
    type Ok = ();
    type Error = SerBail;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), SerBail> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), SerBail> {
        self.finish()
    }
}

/// A map key, as `value.rs`'s `key_to_string` makes it text (numbers and booleans in their
/// `to_string` form, `f32` widened first); any other key bails.
struct KeySer<'w> {
    w: &'w mut RowWriter,
    m: usize,
    generation: u64,
}

impl KeySer<'_> {
    fn key(self, key: &str) -> Result<usize, SerBail> {
        Ok(self.w.slot(self.m, key, self.generation)?)
    }
}

impl ser::Serializer for KeySer<'_> {
    type Ok = usize;
    type Error = SerBail;
    type SerializeSeq = ser::Impossible<usize, SerBail>;
    type SerializeTuple = ser::Impossible<usize, SerBail>;
    type SerializeTupleStruct = ser::Impossible<usize, SerBail>;
    type SerializeTupleVariant = ser::Impossible<usize, SerBail>;
    type SerializeMap = ser::Impossible<usize, SerBail>;
    type SerializeStruct = ser::Impossible<usize, SerBail>;
    type SerializeStructVariant = ser::Impossible<usize, SerBail>;

    fn serialize_bool(self, v: bool) -> Result<usize, SerBail> {
        self.key(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<usize, SerBail> {
        // Beyond i128 `to_value` fails.
        self.key(&i128::try_from(v).map_err(|_| SerBail)?.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<usize, SerBail> {
        self.key(&f64::from(v).to_string())
    }
    fn serialize_f64(self, v: f64) -> Result<usize, SerBail> {
        self.key(&v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<usize, SerBail> {
        self.key(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<usize, SerBail> {
        self.key(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<usize, SerBail> {
        Err(SerBail)
    }
    fn serialize_none(self) -> Result<usize, SerBail> {
        Err(SerBail)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<usize, SerBail> {
        Err(SerBail)
    }
    fn serialize_unit(self) -> Result<usize, SerBail> {
        Err(SerBail)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<usize, SerBail> {
        Err(SerBail)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<usize, SerBail> {
        self.key(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<usize, SerBail> {
        if has_type_hint::<T>() {
            return Err(SerBail);
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<usize, SerBail> {
        Err(SerBail)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerBail> {
        Err(SerBail)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerBail> {
        Err(SerBail)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, SerBail> {
        Err(SerBail)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, SerBail> {
        Err(SerBail)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerBail> {
        Err(SerBail)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, SerBail> {
        Err(SerBail)
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, SerBail> {
        Err(SerBail)
    }
}

/// A [`Value`] seen through serde, so the fast path walks values and JSON text with one visitor.
/// Typed scalars (decimals, dates, bytes, ...) have no serde form: they are left to the general
/// path.
struct ValueDe<'a>(&'a Value);

impl<'de> Deserializer<'de> for ValueDe<'de> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Text(s) => visitor.visit_borrowed_str(s),
            Value::List(items) => visitor.visit_seq(ValueItems(items.iter())),
            Value::Object(fields) => visitor.visit_map(ValueFields { fields: fields.iter(), next: None }),
            other => Err(de::Error::custom(format!("no fast path for {} values", other.kind()))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct ValueItems<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for ValueItems<'de> {
    type Error = de::value::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|v| seed.deserialize(ValueDe(v))).transpose()
    }
}

struct ValueFields<'a> {
    fields: std::slice::Iter<'a, (String, Value)>,
    next: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for ValueFields<'de> {
    type Error = de::value::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        match self.fields.next() {
            Some((k, v)) => {
                self.next = Some(v);
                seed.deserialize(de::value::BorrowedStrDeserializer::new(k)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let v = self.next.take().ok_or_else(|| de::Error::custom("value before key"))?;
        seed.deserialize(ValueDe(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columnar::ColumnData;
    use crate::normalize::{normalize_item, DEFAULT_MAX_NESTING};

    #[test]
    fn same_key_is_string_equality() {
        let keys = ["", "a", "ab", "abc", "abcd", "abcde", "abcdefg", "abcdefgh", "abcdefghi", "abcdefghijklmnop", "abcdefghijklmnopq", "ünï", "x__y"];
        for a in keys {
            for b in keys {
                assert_eq!(same_key(a, b), a == b, "{a:?} {b:?}");
            }
            // Same length, one byte different at each position.
            for i in 0..a.len() {
                let mut other = a.as_bytes().to_vec();
                other[i] ^= 1;
                if let Ok(other) = std::str::from_utf8(&other) {
                    assert!(!same_key(a, other), "{a:?} {other:?}");
                }
            }
        }
    }

    fn ctx<'a>(root: &'a str) -> RowContext<'a> {
        RowContext { root_table: root, load_id: "L1", max_nesting: DEFAULT_MAX_NESTING, propagate_root_id: true, key_hash_id: None, row_hash_id: false }
    }

    /// The general path for one item, into `w`'s buffers (what the pipeline does on a fallback).
    fn general(schema: &mut Schema, w: &mut RowWriter, item: Value, ids: &mut IdGenerator) {
        let mut flat = Vec::new();
        normalize_item(schema, &ctx("t"), item, ids, &mut flat);
        let mut changes = Vec::new();
        for row in flat {
            let table = row.table.clone();
            let coerced = schema.coerce_row(row, &mut changes).unwrap();
            w.push_row(schema, &table, &coerced).unwrap();
        }
        w.schema_changed();
    }

    fn text(b: &ColumnBuffer, i: usize) -> &str {
        let ColumnData::Bytes { offsets, data } = &b.data else { panic!() };
        std::str::from_utf8(&data[offsets[i] as usize..offsets[i + 1] as usize]).unwrap()
    }

    /// The fast path's JSON parser reads numbers and strings exactly as the general path's
    /// (`serde_json`, correctly rounded with `float_roundtrip`).
    #[test]
    fn the_fast_parser_reads_numbers_and_strings_as_the_general_path() {
        let mut schema = Schema::new("s");
        let mut ids = IdGenerator::new();
        let mut w = RowWriter::new(&ctx("t"));
        general(&mut schema, &mut w, serde_json::from_str(r#"{"f": 1.5, "s": "x", "i": 1}"#).unwrap(), &mut ids);
        let floats = [
            "0.1", "1e23", "2.2250738585072011e-308", "4.9e-324", "1.7976931348623157e308", "9007199254740993.0", "7.038531e-26",
            "1.00000000000000011102230246251565404236316680908203125", "123456789012345678901234567890.5", "0.30000000000000004", "5e-324",
            "1.5e300", "3.141592653589793238462643383279", "100000000000000000000000", "-1.25E+2",
        ];
        let strings = [r#""a\"b""#, r#""\u00e9t\u00e9""#, r#""\ud83d\ude00""#, r#""tab\there""#, "\"caf\u{e9} \u{1F600}\"", r#""""#];
        let mut expected_f = Vec::new();
        let mut expected_s = Vec::new();
        for f in floats {
            let item = format!(r#"{{"f": {f}}}"#);
            assert!(w.json(&schema, item.as_bytes(), &mut ids), "{item}");
            let Value::Object(fields) = serde_json::from_str::<Value>(&item).unwrap() else { panic!() };
            expected_f.push(match fields[0].1 {
                Value::Float(x) => x,
                Value::Int(i) => i as f64,
                ref other => panic!("{other:?}"),
            });
        }
        for s in strings {
            let item = format!(r#"{{"s": {s}}}"#);
            assert!(w.json(&schema, item.as_bytes(), &mut ids), "{item}");
            expected_s.push(serde_json::from_str::<String>(s).unwrap());
        }
        // A negative float zero keeps its sign through the general path; other zeros are
        // written at once.
        for zero in ["-0.0", "-0e5"] {
            assert!(!w.json(&schema, format!(r#"{{"f": {zero}}}"#).as_bytes(), &mut ids), "{zero}");
        }
        assert!(w.json(&schema, br#"{"f": 0.0, "s": "2024-01-02"}"#, &mut ids));
        // Up to i64: exact; past it the general path decides; bytes that are not UTF-8 too.
        assert!(w.json(&schema, br#"{"i": 9223372036854775807}"#, &mut ids));
        assert!(!w.json(&schema, br#"{"i": 9223372036854775808}"#, &mut ids));
        assert!(!w.json(&schema, b"{\"s\": \"\xff\"}", &mut ids), "not UTF-8");
        let (_, _, cols) = w.drain(true).remove(0);
        let t = schema.table("t").unwrap();
        let ColumnData::Float(got) = &cols[t.column_index("f").unwrap()].as_ref().unwrap().data else { panic!() };
        let got: Vec<u64> = got[1..1 + floats.len()].iter().map(|x| x.to_bits()).collect();
        assert_eq!(got, expected_f.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        let s = cols[t.column_index("s").unwrap()].as_ref().unwrap();
        let got: Vec<&str> = (1 + floats.len()..1 + floats.len() + strings.len()).map(|i| text(s, i)).collect();
        assert_eq!(text(s, 1 + floats.len() + strings.len()), "2024-01-02");
        assert_eq!(got, expected_s);
    }

    #[test]
    fn known_shapes_take_the_fast_path_with_the_general_paths_ids_and_columns() {
        let mut schema = Schema::new("s");
        let mut ids = IdGenerator::new();
        let mut w = RowWriter::new(&ctx("t"));
        let first = r#"{"Id": 1, "when": "2024-01-15T10:30:00Z", "d": {"x": true}, "items": [{"q": 1.5}, {"q": 2}], "tags": ["a"]}"#;
        assert!(!w.json(&schema, first.as_bytes(), &mut ids), "new tables need the general path");
        general(&mut schema, &mut w, serde_json::from_str(first).unwrap(), &mut ids);
        let second = r#"{"Id": 2, "when": "2024-01-16T10:30:00Z", "d": {"x": false}, "items": [{"q": 3}], "tags": [null, "b"], "gone": null}"#;
        // This item's child ids are computed at once; the others' are left to `fill_child_ids`.
        w.defer_child_ids(false);
        assert!(w.json(&schema, second.as_bytes(), &mut ids));
        w.defer_child_ids(true);
        let third: Value = serde_json::from_str(r#"{"Id": 3, "items": [{"q": 4}], "tags": []}"#).unwrap();
        assert!(w.value(&schema, &third, &mut ids));
        // Not exact without coercion, a new column, a list in a list: general path, nothing written.
        for item in [r#"{"Id": "4"}"#, r#"{"Id": 4, "new": 1}"#, r#"{"Id": 4, "tags": [[1]]}"#, r#"{"Id": 4, "id": 5}"#, "[1]", "{"] {
            assert!(!w.json(&schema, item.as_bytes(), &mut ids), "{item}");
        }
        let batches = w.drain(true);
        let names: Vec<&str> = batches.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(names, ["t", "t__items", "t__tags"]);
        let t = schema.table("t").unwrap();
        let (_, len, cols) = &batches[0];
        assert_eq!(*len, 3);
        let id_col = cols[t.column_index("id").unwrap()].as_ref().unwrap();
        assert_eq!(id_col.data, ColumnData::Int(vec![1, 2, 3]));
        let when = cols[t.column_index("when").unwrap()].as_ref().unwrap();
        assert_eq!(when.valid, [true, true, false]);
        let row_ids = cols[t.column_index(C_ID).unwrap()].as_ref().unwrap();
        let items = schema.table("t__items").unwrap();
        let (_, n_items, item_cols) = &batches[1];
        assert_eq!(*n_items, 4);
        let q = item_cols[items.column_index("q").unwrap()].as_ref().unwrap();
        assert_eq!(q.data, ColumnData::Float(vec![1.5, 2.0, 3.0, 4.0]));
        let parent = item_cols[items.column_index(C_PARENT_ID).unwrap()].as_ref().unwrap();
        let mut item_cols = item_cols.clone();
        let deferred = &item_cols[items.column_index(C_ID).unwrap()].as_ref().unwrap().valid;
        assert_eq!(deferred, &[true, true, true, false], "general path, general path, computed at once, deferred");
        crate::columnar::fill_child_ids(items, &mut item_cols);
        let child_ids = item_cols[items.column_index(C_ID).unwrap()].as_ref().unwrap();
        assert!(!child_ids.has_nulls());
        let root_ids = item_cols[items.column_index(C_ROOT_ID).unwrap()].as_ref().unwrap();
        assert_eq!(text(parent, 2), text(row_ids, 1));
        assert_eq!(text(root_ids, 2), text(row_ids, 1));
        assert_eq!(text(child_ids, 2), crate::normalize::child_row_id(text(row_ids, 1), "t__items", 0));
        assert_eq!(text(child_ids, 3), crate::normalize::child_row_id(text(row_ids, 2), "t__items", 0));
        let (_, n_tags, tag_cols) = &batches[2];
        let tags = schema.table("t__tags").unwrap();
        assert_eq!(*n_tags, 3);
        assert_eq!(tag_cols[tags.column_index(C_VALUE).unwrap()].as_ref().unwrap().valid, [true, false, true]);
    }

    /// One item as the pipeline handles it: the typed path (`typed`) or the value path first,
    /// then `to_value` and the general path. Ids drawn by a fast attempt that bailed are given
    /// back, so both ways draw the same ids. Returns whether the first fast attempt wrote it.
    fn pipeline_like<T: Serialize>(schema: &mut Schema, w: &mut RowWriter, item: &T, ids: &mut IdGenerator, typed: bool) -> bool {
        let start = ids.clone();
        let v = crate::value::to_value(item).unwrap();
        let fast = if typed { w.serialize(schema, item, ids) } else { w.value(schema, &v, ids) };
        if fast {
            return true;
        }
        *ids = start.clone();
        if typed && w.value(schema, &v, ids) {
            return false;
        }
        *ids = start;
        // As `general`, but a row the schema rejects is dropped (a pipeline would fail).
        let mut flat = Vec::new();
        normalize_item(schema, &ctx("t"), v, ids, &mut flat);
        let mut changes = Vec::new();
        for row in flat {
            let table = row.table.clone();
            if let Ok(coerced) = schema.coerce_row(row, &mut changes) {
                let _ = w.push_row(schema, &table, &coerced);
            }
        }
        w.schema_changed();
        false
    }

    /// Runs `items` through the typed path and through the value path (each from an empty
    /// schema, with the same ids) and checks that both write the same buffers and schema.
    /// Returns which items the typed path wrote itself.
    fn typed_like_values<T: Serialize>(items: &[T]) -> Vec<bool> {
        let ids = IdGenerator::new();
        let (mut schema_t, mut schema_v) = (Schema::new("s"), Schema::new("s"));
        let (mut wt, mut wv) = (RowWriter::new(&ctx("t")), RowWriter::new(&ctx("t")));
        let (mut ids_t, mut ids_v) = (ids.clone(), ids);
        let mut fast = Vec::new();
        for (i, item) in items.iter().enumerate() {
            // Some items' child ids at once, the others' deferred.
            wt.defer_child_ids(i % 3 != 1);
            wv.defer_child_ids(i % 3 != 1);
            let typed = pipeline_like(&mut schema_t, &mut wt, item, &mut ids_t, true);
            let value = pipeline_like(&mut schema_v, &mut wv, item, &mut ids_v, false);
            // The typed path may write more itself (typed dates and times, which a `Value` walk
            // leaves to the general path); what it writes must be the same either way.
            let _ = value;
            fast.push(typed);
        }
        assert_eq!(schema_t, schema_v);
        // Debug text tells -0.0 from 0.0.
        assert_eq!(format!("{:?}", wt.drain(true)), format!("{:?}", wv.drain(true)));
        assert_eq!(ids_t.root_id(), ids_v.root_id());
        fast
    }

    #[derive(serde::Serialize)]
    struct Line {
        sku: String,
        qty: u32,
        price: f32,
    }

    #[derive(serde::Serialize)]
    struct Inner {
        x: i64,
        label: Option<String>,
    }

    #[derive(serde::Serialize)]
    struct Id(u64);

    #[derive(serde::Serialize)]
    enum Kind {
        Plain,
        Count(i64),
        Pair(i64, i64),
        Named { z: bool },
    }

    #[derive(serde::Serialize)]
    struct Row {
        id: Id,
        name: &'static str,
        score: f64,
        ok: bool,
        initial: char,
        small: i8,
        wide: i128,
        big: u64,
        inner: Inner,
        maybe: Option<Inner>,
        lines: Vec<Line>,
        tags: Vec<String>,
        nums: Vec<Option<i32>>,
        kind: Kind,
        other: Kind,
        attrs: std::collections::BTreeMap<String, f64>,
        by_id: std::collections::BTreeMap<u32, String>,
        at: Option<chrono::DateTime<chrono::Utc>>,
        when: String,
        nothing: (),
        pair: (i64, i64),
    }

    fn row(i: u64) -> Row {
        Row {
            id: Id(i),
            name: "n",
            score: [1.5, 0.0, -0.0, 2.0][i as usize % 4],
            ok: i % 2 == 0,
            initial: 'é',
            small: -3,
            wide: -(i as i128),
            big: i,
            inner: Inner { x: i as i64, label: (i % 2 == 0).then(|| format!("l{i}")) },
            maybe: (i % 2 == 1).then_some(Inner { x: 7, label: None }),
            lines: (0..i % 3).map(|k| Line { sku: format!("s{k}"), qty: k as u32, price: 0.1 }).collect(),
            tags: vec!["a".into(), "b".into()],
            nums: vec![Some(1), None],
            kind: Kind::Plain,
            other: [Kind::Count(i as i64), Kind::Pair(1, 2), Kind::Named { z: true }][i as usize % 3].clone_kind(),
            attrs: [("a".to_owned(), 1.0), ("b c".to_owned(), -0.0)].into(),
            by_id: [(1, "x".to_owned()), (20, "y".to_owned())].into(),
            at: None,
            when: "2024-01-15T10:30:00Z".into(),
            nothing: (),
            pair: (1, -2),
        }
    }

    impl Kind {
        fn clone_kind(&self) -> Kind {
            match self {
                Kind::Plain => Kind::Plain,
                Kind::Count(n) => Kind::Count(*n),
                Kind::Pair(a, b) => Kind::Pair(*a, *b),
                Kind::Named { z } => Kind::Named { z: *z },
            }
        }
    }

    #[test]
    fn typed_items_write_what_their_values_write() {
        let mut items: Vec<Row> = (0..12).map(row).collect();
        // Not through the fast path: beyond i64 (both ways), a timestamp for a column that does
        // not exist yet. A later timestamp does take it (a typed chrono value, written as such).
        items[7].big = u64::MAX;
        items[8].wide = i128::MAX;
        items[9].at = Some(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        items.push(row(12));
        items.push(row(13));
        items[13].at = Some(chrono::DateTime::from_timestamp(1_700_000_001, 123_456_000).unwrap());
        let fast = typed_like_values(&items);
        assert!(!fast[0], "the first item makes the tables");
        assert!(!fast[7] && !fast[8] && !fast[9], "{fast:?}");
        assert!(fast[4] && fast[5] && fast[6] && fast[10] && fast[11] && fast[12] && fast[13], "known shapes take the typed path: {fast:?}");
    }

    #[test]
    fn typed_values_of_every_shape_write_what_their_values_write() {
        use serde_json::json;
        // serde_json values: maps of text keys, u64 beyond i64, floats, nested lists.
        let items = [
            json!({"a": 1, "b": {"c": [1, 2]}, "d": [{"e": -0.0}], "f": 0.5}),
            json!({"a": 2, "b": {"c": []}, "d": [{"e": 0.0}, {"e": 1}], "f": 1}),
            json!({"a": 18446744073709551615u64}),
            json!({"a": 3, "b": {"c": [[1]]}}),
            json!({"a": 4, "b": "not an object"}),
            json!([{"a": 5}, {"a": 6}]),
            json!(7),
            json!({"a": 8, "g": null}),
        ];
        assert_eq!(typed_like_values(&items), [false, true, false, false, false, false, false, true]);
        // Options and newtypes around rows, maps with number keys, dates, decimals and bytes.
        #[derive(serde::Serialize)]
        struct Typed {
            day: Option<chrono::NaiveDate>,
            amount: Option<rust_decimal::Decimal>,
            blob: Option<Vec<u8>>,
            keys: std::collections::BTreeMap<i64, bool>,
            floats: std::collections::BTreeMap<String, f32>,
        }
        let typed = |day: bool, amount: bool, blob: bool| {
            Some(Typed {
                day: day.then(|| chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
                amount: amount.then(|| rust_decimal::Decimal::new(125, 2)),
                blob: blob.then(|| vec![0, 255]),
                keys: [(-1, true), (2, false)].into(),
                floats: [("x".to_owned(), 0.1)].into(),
            })
        };
        let items = [typed(true, true, true), typed(false, false, false), typed(true, false, false), typed(false, true, false), typed(false, false, true), None];
        // The third (a date, nothing else) writes its date column itself.
        assert_eq!(typed_like_values(&items), [false, true, true, false, false, false]);
    }

    #[test]
    fn a_repeated_key_bails_and_leaves_the_buffers_untouched() {
        use serde_json::json;
        struct Repeated(Vec<(&'static str, serde_json::Value)>);
        impl Serialize for Repeated {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        let mut schema = Schema::new("s");
        let mut ids = IdGenerator::new();
        let mut w = RowWriter::new(&ctx("t"));
        let full = || serde_json::from_str::<Value>(r#"{"a": 1, "d": {"x": 1, "y": 1}, "l": [1]}"#).unwrap();
        general(&mut schema, &mut w, full(), &mut ids);
        assert!(w.serialize(&schema, &Repeated(vec![("a", json!(2))]), &mut ids));
        let _ = w.drain(true);
        let repeated = [
            vec![("a", json!(2)), ("a", json!(3))],
            vec![("d", json!({"x": 2})), ("d", json!({"y": 3}))],
            vec![("l", json!([2])), ("l", json!([3]))],
        ];
        for r in repeated {
            general(&mut schema, &mut w, full(), &mut ids);
            let text = format!("{{{}}}", r.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect::<Vec<_>>().join(", "));
            assert!(!w.serialize(&schema, &Repeated(r), &mut ids), "{text}");
            // The same keys as JSON text: the general path decides too (a dict keeps the last value).
            assert!(!w.json(&schema, text.as_bytes(), &mut ids), "{text}");
            let after = w.drain(true);
            assert_eq!((after[0].0.as_str(), after[0].1), ("t", 1), "only the general path's row: {after:?}");
            assert_eq!((after[1].0.as_str(), after[1].1), ("t__l", 1), "{after:?}");
        }
    }
}
