//! The fast path of the normalizer: items whose shape the schema already knows are written
//! straight into the columnar buffers of their tables, without a `Value` tree, a row of owned
//! cell names or a per-cell type inference.
//!
//! [`RowWriter`] owns the buffers of a resource's tables ([`TableColumns`]). An item goes through
//! [`RowWriter::json`] (a JSON text, parsed as it streams) or [`RowWriter::value`] (a [`Value`]);
//! both walk the item with one serde visitor. Keys are resolved through per-table key maps
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

use crate::columnar::{ColumnBuffer, TableColumns};
use crate::hints::DataType;
use crate::naming::{make_path, normalize_identifier, PATH_SEPARATOR};
use crate::normalize::{child_row_id_bytes, IdGenerator, RowContext, RowId, C_ID, C_LIST_IDX, C_LOAD_ID, C_PARENT_ID, C_ROOT_ID, C_VALUE};
use crate::schema::Schema;
use crate::types::parse_iso_timestamp;
use crate::value::Value;

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
}

struct FastTable {
    name: String,
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
    /// Path of the object below its table (empty for the row itself).
    prefix: String,
    entries: Vec<Entry>,
    /// Where the next key is expected (keys usually come in the same order).
    cursor: usize,
}

struct Entry {
    key: Box<str>,
    /// Normalized column name (path below the table).
    name: String,
    column: Lookup,
    object: Option<usize>,
    child: Option<usize>,
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
        };
        writer.table_index(ctx.root_table);
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

    fn table_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.by_name.get(name) {
            return *i;
        }
        self.tables.push(FastTable {
            name: name.to_owned(),
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
        let t = self.table_index(table);
        self.tables[t].rows.push_row(def, row)
    }

    /// Writes one item given as JSON text through the fast path. `false`: nothing was written
    /// (the item needs the general path, or is not valid JSON).
    pub fn json(&mut self, schema: &Schema, text: &[u8], ids: &mut IdGenerator) -> bool {
        if !self.enabled {
            return false;
        }
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
        self.mark();
        let ok = RootSeed(&mut Walk { w: self, schema, ids, zero_sign_unknown: false }).deserialize(ValueDe(item)).is_ok();
        if !ok {
            self.rollback();
        }
        ok
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

    fn slot(&mut self, m: usize, key: &str) -> Result<usize, Bail> {
        let map = &mut self.maps[m];
        let c = map.cursor;
        let found = if map.entries.get(c).is_some_and(|e| &*e.key == key) {
            Some(c)
        } else {
            map.entries.iter().position(|e| &*e.key == key)
        };
        let i = match found {
            Some(i) => i,
            None if map.entries.len() >= MAX_KEYS => return Err(Bail),
            None => {
                let norm = normalize_identifier(key);
                // The general path's naming: empty parts are skipped.
                let name = if map.prefix.is_empty() {
                    norm
                } else if norm.is_empty() {
                    map.prefix.clone()
                } else {
                    format!("{}{PATH_SEPARATOR}{norm}", map.prefix)
                };
                map.entries.push(Entry { key: key.into(), name, column: Lookup::Unknown, object: None, child: None });
                map.entries.len() - 1
            }
        };
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
        let sub = self.w.new_map(self.w.maps[m].entries[s].name.clone());
        self.w.maps[m].entries[s].object = Some(sub);
        Ok(sub)
    }

    fn child_table(&mut self, t: usize, m: usize, s: usize, level: u32) -> Result<usize, Bail> {
        self.check_nested(t, m, s, level)?;
        if let Some(c) = self.w.maps[m].entries[s].child {
            return Ok(c);
        }
        let name = make_path(&[self.w.tables[t].name.as_str(), self.w.maps[m].entries[s].name.as_str()]);
        let c = self.w.table_index(&name);
        self.w.maps[m].entries[s].child = Some(c);
        Ok(c)
    }

    fn object<'de, A: MapAccess<'de>>(&mut self, t: usize, m: usize, level: u32, mut access: A) -> Result<(), A::Error> {
        self.w.maps[m].cursor = 0;
        while let Some(key) = access.next_key_seed(KeySeed)? {
            let s = self.w.slot(m, key.as_str()).map_err(bail)?;
            access.next_value_seed(FieldSeed { walk: self, t, m, s, level })?;
        }
        Ok(())
    }
}

/// Whether JSON text may hold a float negative zero (`-0.0`, `-0e0`, ...): conservatively, a
/// `-0` followed by `.`, `e` or `E` anywhere (dates such as `2024-01-02` do not match).
fn may_have_negative_zero(text: &[u8]) -> bool {
    memchr::memmem::find_iter(text, b"-0").any(|at| matches!(text.get(at + 2), Some(b'.' | b'e' | b'E')))
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

/// A seed that is its own visitor (`$method` asks the deserializer for what it expects), with
/// the visitor's methods given in the block.
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

/// The item: a root row.
struct RootSeed<'w, 'a>(&'w mut Walk<'a>);

seed_visitor!('de, RootSeed, deserialize_map, "an object", {
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<(), A::Error> {
        let walk = self.0;
        walk.resolve_table(0, false).map_err(bail)?;
        walk.w.tables[0].current_id = walk.ids.root_id_bytes();
        walk.w.tables[0].id_pending = false;
        let m = walk.w.row_map(0);
        walk.object(0, m, 0, access)?;
        walk.end_row(0, None).map_err(bail)
    }
});

/// The value of a key of an object of table `t` (map `m`, slot `s`) at nesting `level`.
struct FieldSeed<'w, 'a> {
    walk: &'w mut Walk<'a>,
    t: usize,
    m: usize,
    s: usize,
    level: u32,
}

impl FieldSeed<'_, '_> {
    fn scalar<E: de::Error>(self, v: Scalar<'_>) -> Result<(), E> {
        self.walk.scalar(self.t, self.m, self.s, v).map_err(bail)
    }
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

seed_visitor!('de, FieldSeed, deserialize_any, "a JSON value", {
    scalar_visits!();
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<(), A::Error> {
        let sub = self.walk.object_map(self.t, self.m, self.s, self.level).map_err(bail)?;
        self.walk.object(self.t, sub, self.level + 1, access)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let c = self.walk.child_table(self.t, self.m, self.s, self.level).map_err(bail)?;
        let mut idx = 0;
        while seq.next_element_seed(ElementSeed { walk: &mut *self.walk, parent: self.t, c, idx, level: self.level + 1 })?.is_some() {
            idx += 1;
        }
        Ok(())
    }
});

/// Element `idx` of a list: a row of child table `c` at nesting `level`.
struct ElementSeed<'w, 'a> {
    walk: &'w mut Walk<'a>,
    parent: usize,
    c: usize,
    idx: usize,
    level: u32,
}

impl ElementSeed<'_, '_> {
    fn begin(&mut self) -> Result<usize, Bail> {
        self.walk.resolve_table(self.c, true)?;
        let w = &mut *self.walk.w;
        let table = &mut w.tables[self.c];
        (table.id_pending, table.parent, table.idx) = (true, self.parent, self.idx);
        if !w.defer_ids {
            self.walk.ensure_id(self.c);
        }
        Ok(self.walk.w.row_map(self.c))
    }

    fn end(self) -> Result<(), Bail> {
        self.walk.end_row(self.c, Some((self.parent, self.idx)))
    }

    /// A scalar element is the row `{"value": element}`.
    fn scalar<E: de::Error>(mut self, v: Scalar<'_>) -> Result<(), E> {
        let m = self.begin().map_err(bail)?;
        let s = self.walk.w.slot(m, C_VALUE).map_err(bail)?;
        self.walk.scalar(self.c, m, s, v).map_err(bail)?;
        self.end().map_err(bail)
    }
}

seed_visitor!('de, ElementSeed, deserialize_any, "a JSON value", {
    scalar_visits!();
    fn visit_map<A: MapAccess<'de>>(mut self, access: A) -> Result<(), A::Error> {
        let m = self.begin().map_err(bail)?;
        self.walk.object(self.c, m, self.level, access)?;
        self.end().map_err(bail)
    }
    // A list inside a list (visit_seq) is left to the general path: serde's default rejects it.
});

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
}
