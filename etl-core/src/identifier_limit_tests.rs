//! A schema's identifier limit (`Schema::set_max_identifier_length`) through every place that
//! makes names: resource hints, the general path (`normalize_item` + `coerce_row`), variants and
//! the fast path (`RowWriter`). The expected names are dlt 1.31's: the golden of the conformance
//! case `identifiers` (PostgreSQL, limit 63), and names computed by dlt's own naming code
//! (`dlt/common/normalizers/naming/{naming,snake_case,sql_cs_v1}.py` of dlt 1.31, run with
//! `NamingConvention(63)`, called as `relational.py` calls it) where no golden has them.

use serde_json::Value as Json;

use crate::fast::RowWriter;
use crate::hints::ResourceHints;
use crate::normalize::{child_row_id, normalize_item, FlatRow, IdGenerator, RowContext, DEFAULT_MAX_NESTING};
use crate::schema::Schema;
use crate::value::Value;

/// PostgreSQL's limit.
const PG: Option<usize> = Some(63);

/// A 92-character resource name (the probe of `tests/data/conformance/postgres/README.md`,
/// "Identifier length 63": dlt made `a_table_with_a_really_long_nalu1bngyyyy…` of it).
fn long_resource() -> String {
    format!("a_table_with_a_really_long_name_{}", "y".repeat(60))
}

/// An item with a nested table, a nested table below it and a long flattened column in that.
fn long_item(inner: Value) -> Value {
    let key = format!("An Inner Key That Is Long {}", "Q".repeat(50));
    let deep = Value::Object(vec![("Deep Object".into(), Value::Object(vec![(key, inner)]))]);
    let child = Value::Object(vec![("name".into(), "a".into()), ("grand_children_list".into(), Value::List(vec![deep]))]);
    Value::Object(vec![("id".into(), Value::Int(1)), (format!("Children {}", "Z".repeat(40)), Value::List(vec![child]))])
}

/// dlt's names for [`long_resource`] and [`long_item`] at limit 63 (from dlt's naming code).
const ROOT: &str = "a_table_with_a_really_long_nalu1bngyyyyyyyyyyyyyyyyyyyyyyyyyyyy";
const CHILD: &str = "a_table_with_a_really_long_nao36ozqzzzzzzzzzzzzzzzzzzzzzzzzzzzz";
const GRANDCHILD: &str = "a_table_with_a_really_long_nanuzybwzzzzzzz__grand_children_list";
const DEEP_COLUMN: &str = "deep_object__an_inner_key_thalmwkoaqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const DEEP_VARIANT: &str = "deep_object__an_inner_key_thavdvadqqqqqqqqqqqqqqqqqqqqq__v_text";

/// A resource of `schema` (its hints applied) and its rows through the general path, as the
/// pipeline runs it; returns the flat rows.
fn general(schema: &mut Schema, resource: &str, items: Vec<Value>) -> Vec<FlatRow> {
    let root = schema.table_name(resource);
    schema.apply_resource_hints(&ResourceHints::new(resource), &root).unwrap();
    let ctx = RowContext { root_table: &root, load_id: "L1", max_nesting: DEFAULT_MAX_NESTING, propagate_root_id: false, key_hash_id: None, row_hash_id: false };
    let mut ids = IdGenerator::new();
    let mut all = Vec::new();
    for item in items {
        let mut rows = Vec::new();
        normalize_item(schema, &ctx, item, &mut ids, &mut rows);
        for row in &rows {
            schema.coerce_row(row.clone(), &mut Vec::new()).unwrap();
        }
        all.extend(rows);
    }
    all
}

fn column_names(schema: &Schema, table: &str) -> Vec<String> {
    schema.table(table).unwrap_or_else(|| panic!("no table {table}")).columns.iter().map(|c| c.name.clone()).collect()
}

fn golden() -> Json {
    let path = format!("{}/../tests/data/conformance/postgres/identifiers.golden.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn case_rows() -> Vec<Value> {
    let path = format!("{}/../tests/data/conformance/postgres/identifiers.json", env!("CARGO_MANIFEST_DIR"));
    let case: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    case["runs"][0]["resources"][0]["rows"].as_array().unwrap().iter().map(|r| serde_json::from_value(r.clone()).unwrap()).collect()
}

/// The case `identifiers` at PostgreSQL's limit gives dlt's tables and columns (the 208-char
/// key is shortened, nothing else), and its stored schema is what dlt stored: the limit is not
/// in it.
#[test]
fn the_identifiers_case_gives_dlts_postgres_columns_and_stored_schema() {
    let golden = golden();
    let dataset = &golden["runs"][0]["db"]["my_data_set"];
    let mut schema = Schema::new("ident");
    schema.set_max_identifier_length(PG);
    assert_eq!(schema.max_identifier_length(), PG);
    general(&mut schema, "MyTable-Name", case_rows());
    let stored = schema.to_stored_json();
    for table in ["my_table_name", "my_table_name__child_list"] {
        let db: Vec<&str> = dataset["tables"][table]["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(column_names(&schema, table), db, "{table}");
        assert_eq!(stored["tables"][table]["columns"], dataset["stored_schema"]["tables"][table]["columns"], "{table}");
    }
    assert!(column_names(&schema, "my_table_name").contains(&"a_very_long_column_name_xxxxxcg50xwxxxxxxxxxxxxxxxxxxxxxxxx_end".to_owned()));
    // The limit is not stored: the same content, hash and JSON with or without it.
    let mut unlimited = schema.clone();
    unlimited.set_max_identifier_length(None);
    assert_eq!(unlimited.to_stored_json(), stored);
    assert_eq!(unlimited.content_hash(), schema.content_hash());
    let keys: Vec<&String> = stored.as_object().unwrap().keys().filter(|k| !["version_hash", "previous_hashes"].contains(&k.as_str())).collect();
    let mut dlt_keys: Vec<&String> = dataset["stored_schema"].as_object().unwrap().keys().collect();
    dlt_keys.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, dlt_keys);
    assert_eq!(Schema::from_stored_json(&stored).unwrap().max_identifier_length(), None, "set by the pipeline, not restored");
}

/// A long resource name with nested tables: the root table, the child (no `__` left in its
/// name), the grandchild named from the whole path (not from the child's shortened name),
/// a long flattened column and its variant; parents are kept in the rows and the schema.
#[test]
fn long_resource_names_nested_tables_columns_and_variants_are_dlts() {
    let mut schema = Schema::new("s");
    schema.set_max_identifier_length(PG);
    assert_eq!(schema.table_name(&long_resource()), ROOT);
    let rows = general(&mut schema, &long_resource(), vec![long_item(Value::Int(1)), long_item("not a number".into())]);
    let tables: Vec<(&str, Option<&str>)> = rows.iter().take(3).map(|r| (r.table.as_str(), r.parent.as_deref())).collect();
    assert_eq!(tables, [(ROOT, None), (CHILD, Some(ROOT)), (GRANDCHILD, Some(CHILD))]);
    assert!(!CHILD.contains("__"));
    for (table, parent) in [(CHILD, ROOT), (GRANDCHILD, CHILD)] {
        assert_eq!(schema.table(table).unwrap().parent.as_deref(), Some(parent));
        assert_eq!(table.len(), 63);
    }
    assert_eq!(schema.root_of(GRANDCHILD), ROOT);
    assert_eq!(schema.descendants(ROOT).iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), [CHILD, GRANDCHILD]);
    assert_eq!(column_names(&schema, GRANDCHILD), [DEEP_COLUMN, "_dlt_parent_id", "_dlt_list_idx", "_dlt_id", DEEP_VARIANT]);
    assert!(schema.table(GRANDCHILD).unwrap().column(DEEP_VARIANT).unwrap().variant);
    // Child ids are hashed with the (shortened) table name, as dlt hashes them.
    let root_id = match rows[0].get_cell("_dlt_id") {
        Some(Value::Text(id)) => id.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(rows[1].get_cell("_dlt_id"), Some(&Value::Text(child_row_id(&root_id, CHILD, 0))));
}

/// Long column hints (primary key, a hinted column) get the names the data's keys get.
#[test]
fn column_hints_are_shortened_as_keys_are() {
    let pk = format!("Primary Key Column {}", "K".repeat(60));
    let mut schema = Schema::new("s");
    schema.set_max_identifier_length(PG);
    let mut hints = ResourceHints::new("t");
    hints.primary_key = vec![pk.clone()];
    schema.apply_resource_hints(&hints, "t").unwrap();
    let ctx = RowContext { root_table: "t", load_id: "L1", max_nesting: DEFAULT_MAX_NESTING, propagate_root_id: false, key_hash_id: None, row_hash_id: false };
    let mut rows = Vec::new();
    normalize_item(&schema, &ctx, Value::Object(vec![(pk, Value::Int(7))]), &mut IdGenerator::new(), &mut rows);
    schema.coerce_row(rows.remove(0), &mut Vec::new()).unwrap();
    // dlt: normalize_path("Primary Key Column KKK…") at 63.
    let name = "primary_key_column_kkkkkkkkkkmdhtywkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
    assert_eq!(column_names(&schema, "t"), [name, "_dlt_load_id", "_dlt_id"]);
    assert!(schema.table("t").unwrap().column(name).unwrap().primary_key);
}

/// Without a limit (and with one no name reaches) nothing is shortened: the names of before.
#[test]
fn without_a_limit_names_are_as_before() {
    for limit in [None, Some(65_536)] {
        let mut schema = Schema::new("s");
        schema.set_max_identifier_length(limit);
        let rows = general(&mut schema, &long_resource(), vec![long_item(Value::Int(1)), long_item("x".into())]);
        let root = long_resource();
        let child = format!("{root}__children_{}", "z".repeat(40));
        let grandchild = format!("{child}__grand_children_list");
        let column = format!("deep_object__an_inner_key_that_is_long_{}", "q".repeat(50));
        assert_eq!(rows[2].table, grandchild);
        assert_eq!(schema.table(&grandchild).unwrap().parent.as_deref(), Some(child.as_str()));
        assert_eq!(column_names(&schema, &grandchild), [column.clone(), "_dlt_parent_id".into(), "_dlt_list_idx".into(), "_dlt_id".into(), format!("{column}__v_text")]);
    }
}

/// The fast path (JSON text, `Value` and typed items) writes items of known shapes into the
/// tables and columns the general path named, and writes what the general path writes.
#[test]
fn the_fast_path_names_as_the_general_path() {
    for limit in [PG, None] {
        let root_raw = long_resource();
        // The case's row, then again without its key " " (which names the same column as its key
        // "", which the fast path leaves to the general path).
        let case = case_rows().remove(0);
        let Value::Object(mut fields) = case.clone() else { panic!("an object") };
        fields.retain(|(k, _)| k != " ");
        let without_blank = Value::Object(fields);
        let items: Vec<Value> = (0..4).map(|i| long_item(Value::Int(i))).chain([case, without_blank.clone(), without_blank.clone(), without_blank]).collect();
        // Reference: every item through the general path into buffers.
        let mut reference = Schema::new("s");
        reference.set_max_identifier_length(limit);
        let root = reference.table_name(&root_raw);
        let ctx = RowContext { root_table: &root, load_id: "L1", max_nesting: DEFAULT_MAX_NESTING, propagate_root_id: true, key_hash_id: None, row_hash_id: false };
        reference.apply_resource_hints(&ResourceHints::new(&root_raw), &root).unwrap();
        let mut fast_schema = reference.clone();
        let (mut w_ref, mut w_fast) = (RowWriter::new(&ctx), RowWriter::new(&ctx));
        w_ref.defer_child_ids(false);
        w_fast.defer_child_ids(false);
        let mut ids_ref = IdGenerator::new();
        let mut ids_fast = ids_ref.clone();
        let mut fast = Vec::new();
        for (n, item) in items.iter().enumerate() {
            general_into(&mut reference, &mut w_ref, &ctx, item.clone(), &mut ids_ref);
            let start = ids_fast.clone();
            let text = item.to_json_string();
            let wrote = match n % 3 {
                0 => w_fast.json(&fast_schema, text.as_bytes(), &mut ids_fast),
                1 => w_fast.value(&fast_schema, item, &mut ids_fast),
                _ => w_fast.serialize(&fast_schema, &serde_json::from_str::<Json>(&text).unwrap(), &mut ids_fast),
            };
            fast.push(wrote);
            if !wrote {
                ids_fast = start;
                general_into(&mut fast_schema, &mut w_fast, &ctx, item.clone(), &mut ids_fast);
            }
        }
        // The first item of each shape evolves the schema; the repeats take the fast path.
        assert_eq!(fast, [false, true, true, true, false, true, true, true], "{limit:?}");
        assert_eq!(fast_schema, reference);
        let (a, b) = (w_fast.drain(true), w_ref.drain(true));
        assert_eq!(a.iter().map(|t| &t.0).collect::<Vec<_>>(), b.iter().map(|t| &t.0).collect::<Vec<_>>());
        assert_eq!(a, b, "{limit:?}");
        if limit.is_some() {
            assert!(a.iter().any(|t| t.0 == GRANDCHILD));
        }
    }
}

/// The general path for one item into `w`'s buffers (what the pipeline does on a fallback).
fn general_into(schema: &mut Schema, w: &mut RowWriter, ctx: &RowContext<'_>, item: Value, ids: &mut IdGenerator) {
    let mut flat = Vec::new();
    normalize_item(schema, ctx, item, ids, &mut flat);
    let mut changes = Vec::new();
    for row in flat {
        let table = row.table.clone();
        let coerced = schema.coerce_row(row, &mut changes).unwrap();
        w.push_row(schema, &table, &coerced).unwrap();
    }
    w.schema_changed();
}

/// A limit set after the fast path made its key maps makes them again: an item is not written
/// into the columns named without it.
#[test]
fn the_fast_path_follows_a_changed_limit() {
    let mut schema = Schema::new("s");
    let root = schema.table_name(&long_resource());
    let ctx = RowContext { root_table: &root, load_id: "L1", max_nesting: DEFAULT_MAX_NESTING, propagate_root_id: false, key_hash_id: None, row_hash_id: false };
    schema.apply_resource_hints(&ResourceHints::new(long_resource()), &root).unwrap();
    let mut w = RowWriter::new(&ctx);
    let mut ids = IdGenerator::new();
    general_into(&mut schema, &mut w, &ctx, long_item(Value::Int(1)), &mut ids);
    assert!(w.value(&schema, &long_item(Value::Int(2)), &mut ids), "a known shape");
    schema.set_max_identifier_length(PG);
    assert!(!w.value(&schema, &long_item(Value::Int(3)), &mut ids), "its nested tables and long column have other names now");
}
