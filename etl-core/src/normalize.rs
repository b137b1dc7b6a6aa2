//! dlt's relational normalizer: one item becomes one root row plus rows of nested tables.
//!
//! - nested objects are flattened into `parent__child` columns; within a row, an object's own
//!   scalar keys come first and nested objects follow, the last pushed first (dlt walks a stack);
//! - lists become child tables `<table>__<field>` whose rows carry `_dlt_parent_id`,
//!   `_dlt_list_idx` and a `_dlt_id` hashed from (parent id, child table, index); lists of
//!   scalars give a `value` column, lists of lists an empty tracking row plus a `__list` table;
//! - below `max_table_nesting` (object flattening counts as a level) data is kept as JSON;
//! - root rows get `_dlt_load_id` and a random 14-character `_dlt_id`;
//! - names longer than the schema's identifier limit are shortened as dlt does
//!   ([`crate::naming::Naming`]): a key on its own, a flattened column from the keys of its path,
//!   a nested table from the whole path below its root table (not from its parent's shortened
//!   name). A row's parent table is passed along, never derived from the name.
//!
//! Pure: no IO. The normalizer reads the schema only to see which columns are typed `json`.

use base64::Engine as _;
use sha3::digest::{ExtendableOutput, Update, XofReader};

use crate::hints::DataType;
use crate::keccak4;
use crate::naming::{Naming, PATH_SEPARATOR};
use crate::schema::Schema;
use crate::value::Value;

/// Column with the load id of a root row.
pub const C_LOAD_ID: &str = "_dlt_load_id";
/// Column with a row's own id.
pub const C_ID: &str = "_dlt_id";
/// Column of a child row pointing at its parent's `_dlt_id`.
pub const C_PARENT_ID: &str = "_dlt_parent_id";
/// Column with a child row's index in its parent's list.
pub const C_LIST_IDX: &str = "_dlt_list_idx";
/// Column of a child row pointing at its root row's `_dlt_id` (merge).
pub const C_ROOT_ID: &str = "_dlt_root_id";
/// Column that holds a list element that is not an object.
pub const C_VALUE: &str = "value";
/// Key (and child table suffix) of a list inside a list.
pub const LIST_TABLE: &str = "list";
/// dlt's default `max_table_nesting`.
pub const DEFAULT_MAX_NESTING: u32 = 1000;

/// One normalized row, ready for type coercion against the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatRow {
    /// Normalized table name.
    pub table: String,
    /// Parent table for child rows.
    pub parent: Option<String>,
    /// Cells in dlt's column order; `Value::Null` cells create no column.
    pub cells: Vec<(String, Value)>,
}

impl FlatRow {
    /// The value of a cell, if present.
    pub fn get_cell(&self, name: &str) -> Option<&Value> {
        self.cells.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Per-resource settings of the normalizer.
#[derive(Debug, Clone)]
pub struct RowContext<'a> {
    /// Normalized root table name.
    pub root_table: &'a str,
    /// Load id of the running load.
    pub load_id: &'a str,
    /// Effective `max_table_nesting`.
    pub max_nesting: u32,
    /// Add `_dlt_root_id` to descendant rows (merge tables).
    pub propagate_root_id: bool,
    /// Root `_dlt_id` = hash of these (normalized) key columns instead of random (merge strategy
    /// `upsert`): the same key always gets the same id, and so do its nested rows.
    pub key_hash_id: Option<&'a [String]>,
    /// Root `_dlt_id` = hash of the whole row as yielded, without `_dlt*` keys (merge strategy
    /// `scd2`): unchanged rows keep their id, changed rows get a new one.
    pub row_hash_id: bool,
}

/// Generates `_dlt_id`s for root rows: 10 random bytes as unpadded base64 (14 characters).
#[cfg_attr(test, derive(Clone))]
pub struct IdGenerator {
    state: u64,
}

impl IdGenerator {
    /// A generator seeded from the operating system.
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        // A failing OS RNG leaves the time as the seed; ids stay unique within a load anyway
        // because the generator never repeats within 2^64 steps.
        if getrandom::getrandom(&mut seed).is_err() {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            seed = (t.as_nanos() as u64).to_le_bytes();
        }
        IdGenerator { state: u64::from_le_bytes(seed) }
    }

    fn next_u64(&mut self) -> u64 {
        // wyrand
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.state as u128).wrapping_mul((self.state ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) ^ t) as u64
    }

    /// A fresh random row id.
    pub fn root_id(&mut self) -> String {
        String::from_utf8_lossy(&self.root_id_bytes()).into_owned()
    }

    /// A fresh random row id as its 14 ASCII bytes, without allocating.
    pub fn root_id_bytes(&mut self) -> RowId {
        let a = self.next_u64().to_le_bytes();
        let b = self.next_u64().to_le_bytes();
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&a);
        bytes[8..].copy_from_slice(&b[..2]);
        encode_id(&bytes)
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// `base64(shake_128(text).digest(len))` without padding: dlt's `digest128`.
pub fn digest128(text: &str, len: usize) -> String {
    let mut hasher = sha3::Shake128::default();
    hasher.update(text.as_bytes());
    let mut reader = hasher.finalize_xof();
    let mut out = vec![0u8; len];
    reader.read(&mut out);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
}

/// dlt's key-hash row id: digest of the compact, key-sorted JSON of the key columns' values.
pub fn key_hash(cells: &[(String, Value)], keys: &[String]) -> String {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let obj: serde_json::Map<String, serde_json::Value> = sorted
        .into_iter()
        .map(|k| (k.clone(), cells.iter().find(|(n, _)| n == k).map(|(_, v)| v.to_json()).unwrap_or(serde_json::Value::Null)))
        .collect();
    digest128(&serde_json::Value::Object(obj).to_string(), 10)
}

/// dlt's row-hash id: digest of the compact, key-sorted JSON of the row without `_dlt*` keys.
pub fn row_hash(fields: &[(String, Value)]) -> String {
    let obj: serde_json::Map<String, serde_json::Value> =
        fields.iter().filter(|(k, _)| !k.starts_with("_dlt")).map(|(k, v)| (k.clone(), v.to_json())).collect();
    digest128(&crate::value::sorted_json(&serde_json::Value::Object(obj)).to_string(), 10)
}


/// A row id: 10 bytes as unpadded base64, 14 ASCII characters.
pub type RowId = [u8; 14];

/// 10 bytes as unpadded standard base64 (what `base64`'s `STANDARD_NO_PAD` writes): their 80
/// bits, read as one big-endian integer, are 13 sextets and 2 bits (the last character's, with
/// four zero bits). Without the general encoder's loop and checks, which were a third of the
/// cost of an id besides its hash.
#[inline]
fn encode_id(bytes: &[u8; 10]) -> RowId {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut wide = [0u8; 16];
    wide[..10].copy_from_slice(bytes);
    let bits = u128::from_be_bytes(wide);
    std::array::from_fn(|i| ALPHABET[(bits >> (122 - 6 * i)) as usize & 63])
}

/// The deterministic id of a child row.
pub fn child_row_id(parent_id: &str, child_table: &str, list_idx: usize) -> String {
    String::from_utf8_lossy(&child_row_id_bytes(parent_id.as_bytes(), child_table, list_idx)).into_owned()
}

/// [`child_row_id`] without allocating: dlt's `digest128` of `{parent_id}_{child_table}_{list_idx}`.
pub fn child_row_id_bytes(parent_id: &[u8], child_table: &str, list_idx: usize) -> RowId {
    let (digits, at) = decimal(list_idx);
    encode_id(&shake128_10(&[parent_id, b"_", child_table.as_bytes(), b"_", &digits[at..]]))
}

/// [`child_row_id_bytes`] of many rows of one child table, `(parent id, list index)` each,
/// appended to `out` in order.
///
/// Ids whose text fits one SHAKE-128 block (all but those of very long parent ids or table
/// names) are hashed four at a time: with AVX2 the four permutations cost less than two one by
/// one. The last few, and the longer ones, are hashed one by one.
pub fn child_row_ids<'a>(rows: impl IntoIterator<Item = (&'a [u8], usize)>, child_table: &str, out: &mut Vec<RowId>) {
    let middle = [b"_", child_table.as_bytes(), b"_"].concat();
    // The text of one id and its padding, all zero again after each use.
    let mut block = [0u8; RATE];
    let mut lanes = [[0u64; 4]; 25];
    // Where in `out` the ids of the states in `lanes` go.
    let mut slots = [0usize; 4];
    let mut pending = 0;
    for (parent_id, list_idx) in rows {
        let (digits, at) = decimal(list_idx);
        let digits = &digits[at..];
        let len = parent_id.len() + middle.len() + digits.len();
        if len >= RATE {
            out.push(encode_id(&shake128_10(&[parent_id, &middle, digits])));
            continue;
        }
        let (text, _) = block.split_at_mut(len);
        let (parent, rest) = text.split_at_mut(parent_id.len());
        let (mid, idx) = rest.split_at_mut(middle.len());
        parent.copy_from_slice(parent_id);
        mid.copy_from_slice(&middle);
        idx.copy_from_slice(digits);
        pad(&mut block, len);
        // The state before the permutation is the block (21 lanes) and a zero capacity.
        for (j, lane) in lanes.iter_mut().enumerate() {
            lane[pending] = block.get(8 * j..8 * j + 8).map_or(0, |bytes| u64::from_le_bytes(bytes.try_into().expect("8 bytes")));
        }
        block[..=len].fill(0);
        block[RATE - 1] = 0;
        slots[pending] = out.len();
        out.push([0; 14]);
        pending += 1;
        if pending == 4 {
            keccak4::f1600x4(&mut lanes);
            for (k, &slot) in slots.iter().enumerate() {
                out[slot] = encode_id(&digest10(lanes[0][k], lanes[1][k]));
            }
            pending = 0;
        }
    }
    for (k, &slot) in slots[..pending].iter().enumerate() {
        let mut state = std::array::from_fn(|i| lanes[i][k]);
        keccak4::f1600(&mut state);
        out[slot] = encode_id(&digest10(state[0], state[1]));
    }
}

/// The decimal digits of `n` without allocating: they are `buffer[start..]` of `(buffer, start)`.
fn decimal(mut n: usize) -> ([u8; 20], usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (digits, at);
        }
    }
}

/// SHAKE-128's rate: the bytes of input absorbed per permutation.
const RATE: usize = 168;

/// XORs a block of input into the state (the first 21 of its 25 lanes, little-endian).
fn absorb(state: &mut [u64; 25], block: &[u8; RATE]) {
    for (lane, bytes) in state.iter_mut().zip(block.chunks_exact(8)) {
        *lane ^= u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    }
}

/// SHAKE's domain bits and pad10*1 after the `len` bytes of input in the last block.
fn pad(block: &mut [u8; RATE], len: usize) {
    block[len] ^= 0x1F;
    block[RATE - 1] ^= 0x80;
}

/// The first 10 bytes of output: all of lane 0, two bytes of lane 1.
fn digest10(lane0: u64, lane1: u64) -> [u8; 10] {
    let mut out = [0u8; 10];
    out[..8].copy_from_slice(&lane0.to_le_bytes());
    out[8..].copy_from_slice(&lane1.to_le_bytes()[..2]);
    out
}

/// The first 10 bytes of SHAKE-128 of the concatenated `parts`. One Keccak permutation per
/// 168-byte block of input and none after: `sha3`'s reader permutes once more ahead of a second
/// output block that a 10-byte digest never reads, which doubled the cost of every child id.
fn shake128_10(parts: &[&[u8]]) -> [u8; 10] {
    let mut state = [0u64; 25];
    let mut block = [0u8; RATE];
    let mut at = 0;
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            let n = rest.len().min(RATE - at);
            block[at..at + n].copy_from_slice(&rest[..n]);
            at += n;
            rest = &rest[n..];
            if at == RATE {
                absorb(&mut state, &block);
                keccak4::f1600(&mut state);
                block = [0; RATE];
                at = 0;
            }
        }
    }
    pad(&mut block, at);
    absorb(&mut state, &block);
    keccak4::f1600(&mut state);
    digest10(state[0], state[1])
}

/// Normalizes one item of a resource into `out`: the root row first, then nested rows.
///
/// An item that is not an object is stored as `{"value": item}`, as dlt does.
pub fn normalize_item(schema: &Schema, ctx: &RowContext<'_>, item: Value, ids: &mut IdGenerator, out: &mut Vec<FlatRow>) {
    let fields = match item {
        Value::Object(fields) => fields,
        other => vec![(C_VALUE.to_owned(), other)],
    };
    let row_hash = ctx.row_hash_id.then(|| row_hash(&fields));
    let (mut cells, lists) = flatten(schema, ctx.root_table, fields, 0, ctx.max_nesting);
    let root_id = match (row_hash, ctx.key_hash_id) {
        (Some(h), _) => h,
        (None, Some(keys)) => key_hash(&cells, keys),
        (None, None) => ids.root_id(),
    };
    set_cell(&mut cells, C_LOAD_ID.to_owned(), Value::Text(ctx.load_id.to_owned()));
    set_cell(&mut cells, C_ID.to_owned(), Value::Text(root_id.clone()));
    out.push(FlatRow { table: ctx.root_table.to_owned(), parent: None, cells });
    let root = ctx.propagate_root_id.then_some(root_id.as_str());
    for (path, items, level) in lists {
        let child = NestedTable::new(schema.naming(), ctx.root_table, &path);
        normalize_list(schema, ctx, child, ctx.root_table, &root_id, root, items, level, out);
    }
}

/// Lists found while flattening: (path below the table, not shortened; items; nesting level of
/// the child table).
type FoundLists = Vec<(String, Vec<Value>, u32)>;

/// A nested table: its name, and the path it is named from (the fragments from the root table
/// down, joined with `__`, before shortening; what its own nested tables are named from).
struct NestedTable {
    name: String,
    path: String,
}

impl NestedTable {
    /// The table of list `below` (a path in the rows of the table at `parent_path`).
    fn new(naming: Naming, parent_path: &str, below: &str) -> Self {
        let path = join(parent_path, below.to_owned());
        NestedTable { name: naming.shorten_joined(&path).into_owned(), path }
    }
}

/// `prefix__name` (dlt's `make_path`: an empty part is skipped).
fn join(prefix: &str, name: String) -> String {
    if prefix.is_empty() {
        return name;
    }
    if name.is_empty() {
        return prefix.to_owned();
    }
    let mut joined = String::with_capacity(prefix.len() + PATH_SEPARATOR.len() + name.len());
    joined.push_str(prefix);
    joined.push_str(PATH_SEPARATOR);
    joined.push_str(&name);
    joined
}

#[allow(clippy::too_many_arguments)]
fn normalize_list(
    schema: &Schema,
    ctx: &RowContext<'_>,
    table: NestedTable,
    parent_table: &str,
    parent_id: &str,
    root_id: Option<&str>,
    items: Vec<Value>,
    level: u32,
    out: &mut Vec<FlatRow>,
) {
    // Explicit work list instead of recursion: arbitrarily deep data cannot overflow the stack.
    let naming = schema.naming();
    let mut work: Vec<(NestedTable, String, String, Vec<Value>, u32)> = vec![(table, parent_table.to_owned(), parent_id.to_owned(), items, level)];
    while let Some((nested, parent_table, parent_id, items, level)) = work.pop() {
        let table = &nested.name;
        let mut pending: Vec<(NestedTable, String, String, Vec<Value>, u32)> = Vec::new();
        for (idx, item) in items.into_iter().enumerate() {
            let row_id = child_row_id(&parent_id, table, idx);
            let (mut cells, lists) = match item {
                Value::Object(fields) => flatten(schema, table, fields, level, ctx.max_nesting),
                // A list inside a list is the row `{"list": [...]}` one level down (dlt's rule):
                // a `<table>__list` child table, or a JSON `list` column below the nesting limit.
                Value::List(inner) => flatten(schema, table, vec![(LIST_TABLE.to_owned(), Value::List(inner))], level + 1, ctx.max_nesting),
                scalar => (vec![(C_VALUE.to_owned(), scalar)], Vec::new()),
            };
            if let Some(root) = root_id {
                set_cell(&mut cells, C_ROOT_ID.to_owned(), Value::Text(root.to_owned()));
            }
            set_cell(&mut cells, C_PARENT_ID.to_owned(), Value::Text(parent_id.clone()));
            set_cell(&mut cells, C_LIST_IDX.to_owned(), Value::Int(idx as i64));
            set_cell(&mut cells, C_ID.to_owned(), Value::Text(row_id.clone()));
            out.push(FlatRow { table: table.clone(), parent: Some(parent_table.clone()), cells });
            for (path, items, child_level) in lists {
                pending.push((NestedTable::new(naming, &nested.path, &path), table.clone(), row_id.clone(), items, child_level));
            }
        }
        // Keep dlt's order: children of this list in the order they were found.
        work.extend(pending.into_iter().rev());
    }
}

/// Inserts a cell, replacing an earlier one of the same name in place (dict semantics: two keys
/// that normalize to the same name keep the first position and the last value).
fn set_cell(cells: &mut Vec<(String, Value)>, name: String, value: Value) {
    match cells.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => cells.push((name, value)),
    }
}

/// Flattens an object of table `table` at nesting `level` into cells and lists of child rows.
fn flatten(schema: &Schema, table: &str, fields: Vec<(String, Value)>, level: u32, max: u32) -> (Vec<(String, Value)>, FoundLists) {
    let naming = schema.naming();
    let mut cells = Vec::with_capacity(fields.len() + 2);
    let mut lists = Vec::new();
    // (joined path of the object, not shortened; its fields; its level); the root object has an
    // empty path.
    let mut stack: Vec<(String, Vec<(String, Value)>, u32)> = vec![(String::new(), fields, level)];
    while let Some((prefix, fields, lvl)) = stack.pop() {
        for (key, value) in fields {
            // Each key normalized (and shortened) on its own, then the path shortened as a whole.
            let path = join(&prefix, naming.normalize_path(&key));
            match value {
                Value::Object(_) | Value::List(_) if lvl >= max || schema.column_type(table, &naming.shorten_joined(&path)) == Some(DataType::Json) => {
                    set_cell(&mut cells, naming.shorten_owned(path), value);
                }
                Value::Object(inner) => {
                    if !inner.is_empty() {
                        stack.push((path, inner, lvl + 1));
                    }
                }
                Value::List(items) => lists.push((path, items, lvl + 1)),
                scalar => set_cell(&mut cells, naming.shorten_owned(path), scalar),
            }
        }
    }
    (cells, lists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_as_the_base64_crate_encodes_them() {
        let mut ids = IdGenerator { state: 7 };
        let mut inputs: Vec<[u8; 10]> = vec![[0; 10], [0xff; 10], [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 1]];
        inputs.extend((0..10_000).map(|_| {
            let (a, b) = (ids.next_u64().to_le_bytes(), ids.next_u64().to_le_bytes());
            std::array::from_fn(|i| if i < 8 { a[i] } else { b[i - 8] })
        }));
        for bytes in inputs {
            let expected = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
            assert_eq!(std::str::from_utf8(&encode_id(&bytes)).unwrap(), expected, "{bytes:?}");
        }
    }

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn run(item: Value, max: u32) -> Vec<FlatRow> {
        let schema = Schema::new("s");
        let ctx = RowContext { root_table: "orders", load_id: "L1", max_nesting: max, propagate_root_id: false, key_hash_id: None, row_hash_id: false };
        let mut out = Vec::new();
        normalize_item(&schema, &ctx, item, &mut IdGenerator::new(), &mut out);
        out
    }

    fn names(row: &FlatRow) -> Vec<&str> {
        row.cells.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn nested_dicts_flatten_scalars_first_then_last_pushed_dict() {
        let item = obj(vec![
            ("id", Value::Int(2)),
            ("address", obj(vec![("street", "S".into()), ("geo", obj(vec![("extra", obj(vec![("deep", true.into())]))]))])),
            ("meta", obj(vec![("tag", "x".into())])),
            ("empty", obj(vec![])),
        ]);
        let rows = run(item, DEFAULT_MAX_NESTING);
        assert_eq!(names(&rows[0]), ["id", "meta__tag", "address__street", "address__geo__extra__deep", "_dlt_load_id", "_dlt_id"]);
    }

    #[test]
    fn lists_become_child_tables_with_hashed_ids() {
        let item = obj(vec![
            ("id", Value::Int(1)),
            ("codes", Value::List(vec![Value::Int(7), Value::Null])),
            ("matrix", Value::List(vec![Value::List(vec![Value::Int(1), Value::Int(2)])])),
        ]);
        let rows = run(item, DEFAULT_MAX_NESTING);
        let root_id = match rows[0].get_cell("_dlt_id") {
            Some(Value::Text(s)) => s.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(root_id.len(), 14);
        let tables: Vec<&str> = rows.iter().map(|r| r.table.as_str()).collect();
        assert_eq!(tables, ["orders", "orders__codes", "orders__codes", "orders__matrix", "orders__matrix__list", "orders__matrix__list"]);
        assert_eq!(names(&rows[1]), ["value", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]);
        assert_eq!(rows[2].get_cell("value"), Some(&Value::Null));
        assert_eq!(rows[1].get_cell("_dlt_id"), Some(&Value::Text(child_row_id(&root_id, "orders__codes", 0))));
        assert_eq!(names(&rows[3]), ["_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]);
        let matrix_id = rows[3].get_cell("_dlt_id").cloned();
        assert_eq!(rows[4].get_cell("_dlt_parent_id").cloned(), matrix_id);
    }

    #[test]
    fn max_nesting_keeps_deeper_data_as_json() {
        let item = obj(vec![
            ("id", Value::Int(1)),
            ("d1", obj(vec![("d2", obj(vec![("d3", Value::Int(1))]))])),
            ("l1", Value::List(vec![obj(vec![("n", Value::Int(1)), ("l2", Value::List(vec![Value::Int(1)]))])])),
        ]);
        let rows = run(item, 1);
        assert_eq!(names(&rows[0]), ["id", "d1__d2", "_dlt_load_id", "_dlt_id"]);
        assert!(matches!(rows[0].get_cell("d1__d2"), Some(Value::Object(_))));
        assert_eq!(rows[1].table, "orders__l1");
        assert!(matches!(rows[1].get_cell("l2"), Some(Value::List(_))));
    }

    #[test]
    fn upsert_ids_are_the_key_hash_dlt_computes() {
        // dlt 1.31: primary key `id = 1` gives `z5jIxXIbUnmbKw` (shake_128 of `{"id":1}`).
        assert_eq!(key_hash(&[("id".into(), Value::Int(1)), ("x".into(), Value::Int(5))], &["id".into()]), "z5jIxXIbUnmbKw");
    }

    #[test]
    fn child_ids_without_allocation_are_dlt_digests() {
        for idx in [0, 7, 10, 12345] {
            assert_eq!(child_row_id("abc", "t__items", idx), digest128(&format!("abc_t__items_{idx}"), 10));
        }
        // Inputs around and beyond one SHAKE-128 block (168 bytes).
        for n in [140, 150, 151, 152, 153, 160, 167, 168, 169, 300, 336, 400] {
            let table = "t".repeat(n);
            assert_eq!(child_row_id("abcdefghijklmn", &table, 3), digest128(&format!("abcdefghijklmn_{table}_3"), 10), "{n}");
        }
    }

    /// SHAKE-128 of `text`, its first 10 bytes, by the `sha3` crate.
    fn sha3_10(text: &[u8]) -> [u8; 10] {
        let mut hasher = sha3::Shake128::default();
        hasher.update(text);
        let mut out = [0u8; 10];
        hasher.finalize_xof().read(&mut out);
        out
    }

    /// The state of SHAKE-128 of the concatenated `parts` (at most 167 bytes) before its only
    /// permutation, built as `shake128_10` builds it.
    fn single_block(parts: &[&[u8]]) -> [u64; 25] {
        let mut block = [0u8; RATE];
        let mut at = 0;
        for part in parts {
            block[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        pad(&mut block, at);
        let mut state = [0u64; 25];
        absorb(&mut state, &block);
        state
    }

    /// Random bytes of every length from 0 to 399, several of each, from a fixed seed.
    fn random_texts() -> Vec<Vec<u8>> {
        let mut x = 7u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..3 * 400).map(|i| (0..i % 400).map(|_| next() as u8).collect()).collect()
    }

    #[test]
    fn shake128_10_is_sha3s_shake128_for_any_length() {
        for text in random_texts() {
            assert_eq!(shake128_10(&[&text]), sha3_10(&text), "{}", text.len());
            let (a, b) = text.split_at(text.len() / 3);
            assert_eq!(shake128_10(&[a, b]), sha3_10(&text), "{}", text.len());
        }
    }

    #[test]
    fn single_blocks_permuted_four_at_a_time_are_sha3s_shake128() {
        let texts: Vec<Vec<u8>> = random_texts().into_iter().filter(|t| t.len() < RATE).collect();
        // Neighbouring lengths in one group: 0 1 2 3, 1 2 3 4, ...
        for four in texts.windows(4) {
            let mut lanes = [[0u64; 4]; 25];
            for (k, text) in four.iter().enumerate() {
                let state = single_block(&[text]);
                for (lane, value) in lanes.iter_mut().zip(state) {
                    lane[k] = value;
                }
            }
            keccak4::f1600x4(&mut lanes);
            for (k, text) in four.iter().enumerate() {
                assert_eq!(digest10(lanes[0][k], lanes[1][k]), sha3_10(text), "{}", text.len());
            }
        }
    }

    #[test]
    fn child_ids_in_batches_are_the_ids_one_by_one() {
        let texts = random_texts();
        let table = "orders__items";
        // Parent ids of every length: the longer ones need more than one block, so they go
        // through the general path between ids that are hashed four at a time.
        let rows: Vec<(&[u8], usize)> = texts.iter().enumerate().map(|(i, t)| (t.as_slice(), i * 7919 % 100_003)).collect();
        // Longer texts before shorter ones too: what a longer one left in the block must not count.
        let reversed: Vec<(&[u8], usize)> = rows.iter().rev().copied().collect();
        for (rows, n) in [&rows, &reversed].into_iter().flat_map(|rows| (0..=9).chain([160, 170, rows.len()]).map(move |n| (rows, n))) {
            for start in [0, 130, 150] {
                let rows = &rows[start..(start + n).min(rows.len())];
                let mut ids = vec![*b"already there!"];
                child_row_ids(rows.iter().copied(), table, &mut ids);
                assert_eq!(ids.len(), rows.len() + 1);
                assert_eq!(&ids[0], b"already there!");
                for (&(parent, idx), id) in rows.iter().zip(&ids[1..]) {
                    let text = [parent, b"_", table.as_bytes(), b"_", idx.to_string().as_bytes()].concat();
                    assert_eq!(*id, encode_id(&sha3_10(&text)), "{}", text.len());
                    assert_eq!(*id, child_row_id_bytes(parent, table, idx));
                }
            }
        }
    }

    /// `cargo test --release -p etl-core bench -- --ignored --nocapture --test-threads=1`
    #[test]
    #[ignore = "benchmark"]
    fn bench_child_ids() {
        const N: usize = 64_000;
        let mut ids = IdGenerator::new();
        let parents: Vec<RowId> = (0..N / 2).map(|_| ids.root_id_bytes()).collect();
        let rows: Vec<(&[u8], usize)> = parents.iter().flat_map(|p| [(p.as_slice(), 0), (p.as_slice(), 1)]).collect();
        let table = "events__payload__items";
        let mut out = Vec::with_capacity(N);
        let ns = keccak4::tests::race(N, 3, |i| {
            out.clear();
            match i {
                // What `child_row_id_bytes` was: the same text and block, `keccak::f1600`.
                0 => out.extend(rows.iter().map(|&(parent, idx)| {
                    let (digits, at) = decimal(idx);
                    let mut state = single_block(&[parent, b"_", table.as_bytes(), b"_", &digits[at..]]);
                    keccak::f1600(&mut state);
                    encode_id(&digest10(state[0], state[1]))
                })),
                1 => out.extend(rows.iter().map(|&(parent, idx)| child_row_id_bytes(parent, table, idx))),
                _ => child_row_ids(rows.iter().copied(), table, &mut out),
            }
            std::hint::black_box(&mut out);
        });
        println!("ns per child id: with keccak::f1600 {:.1}, child_row_id_bytes {:.1}, child_row_ids {:.1}", ns[0], ns[1], ns[2]);
        println!("speed-up: child_row_id_bytes {:.2}x, child_row_ids {:.2}x", ns[0] / ns[1], ns[0] / ns[2]);
    }

    #[test]
    fn digest_matches_dlt_length() {
        assert_eq!(digest128("x", 10).len(), 14);
        assert_eq!(digest128("x", 9).len(), 12);
    }

    #[test]
    fn very_deep_nesting_does_not_overflow() {
        let mut v = Value::Int(1);
        // serde_json refuses input nested deeper than 128 levels, so deeper values only come
        // from user types; 3000 levels is far past `max_table_nesting`'s default of 1000.
        for _ in 0..3_000 {
            v = Value::List(vec![v]);
        }
        let rows = run(obj(vec![("deep", v)]), DEFAULT_MAX_NESTING);
        // A list inside a list costs two nesting levels: ~500 tables deep, then JSON.
        assert!(rows.len() > 400, "{}", rows.len());
        let last = rows.last().unwrap();
        assert!(matches!(last.get_cell("list"), Some(Value::List(_))), "the rest is kept as JSON");
    }
}
