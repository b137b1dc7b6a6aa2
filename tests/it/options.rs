//! Every option of `#[etl::resource]`, `#[etl::source]` and `#[etl::assets]` changes what is
//! loaded or the asset graph: each test here fails if its option is ignored.

use etl::{AssetKey, DltResourceInfo, DltTranslator};
use etl_tests::{columns, scalar, tables};
use serde_json::{json, Value};

fn pipeline(dir: &tempfile::TempDir, name: &str) -> etl::Pipeline {
    etl::pipeline(name).dataset_name("d").working_dir(dir.path())
}

/// The user tables of dataset `d` (not dlt's own).
fn data_tables(p: &etl::Pipeline) -> Vec<String> {
    tables(&p.database_path(), "d").into_iter().filter(|t| !t.starts_with("_dlt")).collect()
}

fn column_type(p: &etl::Pipeline, table: &str, column: &str) -> Option<String> {
    columns(&p.database_path(), "d", table).into_iter().find(|c| c.0 == column).map(|c| c.1)
}

// ---- table_name -------------------------------------------------------------------------

#[etl::resource(table_name = "people")]
fn persons() -> Vec<Value> {
    vec![json!({"id": 1, "tags": ["a"]})]
}

#[test]
fn table_name_names_the_table_and_its_nested_tables() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir, "table_name_pipeline");
    let info = p.run(persons()).unwrap();
    assert_eq!(data_tables(&p), ["people", "people__tags"]);
    assert_eq!(info.rows("people"), 1);
    // The table still belongs to the resource `persons` in the stored schema.
    let stored: Value = serde_json::from_str(scalar(&p.database_path(), "SELECT schema FROM d._dlt_version").as_str().unwrap()).unwrap();
    assert_eq!(stored["tables"]["people"]["resource"], json!("persons"));
}

// ---- max_table_nesting ------------------------------------------------------------------

fn nested_row() -> Vec<Value> {
    vec![json!({"id": 1, "items": [{"sku": "a", "parts": [{"n": 1}, {"n": 2}]}]})]
}

#[etl::resource]
fn deep() -> Vec<Value> {
    nested_row()
}

#[etl::resource(max_table_nesting = 1)]
fn one_level() -> Vec<Value> {
    nested_row()
}

#[etl::resource(max_table_nesting = 0)]
fn flat() -> Vec<Value> {
    nested_row()
}

#[test]
fn max_table_nesting_keeps_deeper_data_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir, "nesting_pipeline");
    p.run(etl::Source::with("nesting", (deep(), one_level(), flat())).unwrap()).unwrap();
    assert_eq!(data_tables(&p), ["deep", "deep__items", "deep__items__parts", "flat", "one_level", "one_level__items"]);
    assert_eq!(column_type(&p, "one_level__items", "parts").as_deref(), Some("JSON"));
    assert_eq!(column_type(&p, "flat", "items").as_deref(), Some("JSON"));
    assert_eq!(scalar(&p.database_path(), "SELECT parts->>'$[1].n' FROM d.one_level__items"), json!("2"));
}

// ---- columns ----------------------------------------------------------------------------

#[etl::resource(columns = [
    etl::column("amount").data_type(etl::DataType::Decimal),
    etl::column("payload").data_type(etl::DataType::Json),
    etl::column("note").data_type(etl::DataType::Text).nullable(false),
    etl::column("declared_only").data_type(etl::DataType::Bigint),
])]
fn payments() -> Vec<Value> {
    vec![json!({"id": 1, "amount": 12.5, "payload": {"a": {"b": 1}}, "note": "x"})]
}

#[test]
fn columns_set_types_nullability_and_declare_columns_without_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir, "columns_pipeline");
    p.run(payments()).unwrap();
    let cols: Vec<(String, String, bool)> = columns(&p.database_path(), "d", "payments");
    let find = |name: &str| cols.iter().find(|c| c.0 == name).cloned();
    assert_eq!(find("amount"), Some(("amount".into(), "DECIMAL(38,9)".into(), true)), "not DOUBLE: {cols:?}");
    assert_eq!(find("payload"), Some(("payload".into(), "JSON".into(), true)), "kept whole: {cols:?}");
    assert!(find("payload__a__b").is_none(), "a JSON column is not flattened: {cols:?}");
    assert_eq!(find("note"), Some(("note".into(), "VARCHAR".into(), false)));
    assert_eq!(find("declared_only"), Some(("declared_only".into(), "BIGINT".into(), true)), "created without data");
    assert_eq!(scalar(&p.database_path(), "SELECT amount::VARCHAR || ' ' || (payload->>'$.a.b') FROM d.payments"), json!("12.500000000 1"));
}

// ---- dedup_sort ----------------------------------------------------------------------------

#[etl::resource(write_disposition = "merge", primary_key = "sku", columns = [etl::column("version").dedup_sort("asc")])]
fn stock(rows: Vec<Value>) -> Vec<Value> {
    rows
}

#[test]
fn dedup_sort_picks_the_row_kept_per_key_and_only_asc_or_desc_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir, "dedup_pipeline");
    let rows = vec![json!({"sku": "x", "qty": 1, "version": 2}), json!({"sku": "x", "qty": 9, "version": 1})];
    p.run(stock(rows.clone())).unwrap();
    assert_eq!(scalar(&p.database_path(), "SELECT qty FROM d.stock"), json!(9), "asc: the lowest version wins");
    // In either order (without the hint, the row kept would follow the load order).
    p.run(stock(vec![json!({"sku": "x", "qty": 7, "version": 1}), json!({"sku": "x", "qty": 3, "version": 2})])).unwrap();
    assert_eq!(scalar(&p.database_path(), "SELECT qty FROM d.stock"), json!(7));
    // The builder takes any string; another value fails the run, naming resource and column.
    let bad = etl::Resource::from_data("stock", rows)
        .with_write_disposition(etl::WriteDisposition::Merge)
        .with_primary_key(["sku"])
        .with_columns(vec![etl::column("version").dedup_sort("newest")]);
    let err = p.run(bad).unwrap_err();
    assert!(err.to_string().contains("resource `stock`: column `version`: `dedup_sort` is `newest`; expected `asc` or `desc`"), "{err}");
    assert_eq!(scalar(&p.database_path(), "SELECT qty FROM d.stock"), json!(7), "the failed run changed nothing");
}

// ---- schema_contract (resource) ---------------------------------------------------------

#[etl::resource(name = "accounts")]
fn accounts_v1() -> Vec<Value> {
    vec![json!({"id": 1})]
}

#[etl::resource(name = "accounts", schema_contract = "discard_value")]
fn accounts_lenient() -> Vec<Value> {
    vec![json!({"id": 2, "email": "a@b"})]
}

#[etl::resource(name = "accounts", schema_contract = "freeze")]
fn accounts_frozen() -> Vec<Value> {
    vec![json!({"id": 3, "phone": "123"})]
}

#[test]
fn a_resource_schema_contract_discards_or_rejects_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir, "contract_pipeline");
    p.run(accounts_v1()).unwrap();
    p.run(accounts_lenient()).unwrap();
    assert_eq!(scalar(&p.database_path(), "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM d.accounts"), json!("1,2"));
    assert_eq!(column_type(&p, "accounts", "email"), None, "discard_value drops the new column's value");
    let err = p.run(accounts_frozen()).unwrap_err();
    assert_eq!(err.step, etl::Step::Normalize);
    assert!(err.to_string().contains("phone"), "{err}");
    assert_eq!(scalar(&p.database_path(), "SELECT count(*) FROM d.accounts"), json!(2));
}

// ---- merge_strategy ---------------------------------------------------------------------

#[etl::resource(write_disposition = "merge", primary_key = "id", merge_strategy = "upsert")]
fn members(rows: Vec<Value>) -> Vec<Value> {
    rows
}

#[test]
fn merge_strategy_upsert_keys_rows_by_the_primary_key_hash() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir, "upsert_option_pipeline");
    p.run(members(vec![json!({"id": 1, "name": "a"}), json!({"id": 2, "name": "b"})])).unwrap();
    let db = p.database_path();
    // dlt's upsert id for `id = 1` (delete-insert would give a random id per load).
    assert_eq!(scalar(&db, "SELECT _dlt_id FROM d.members WHERE id = 1"), json!("z5jIxXIbUnmbKw"));
    p.run(members(vec![json!({"id": 1, "name": "a2"})])).unwrap();
    assert_eq!(scalar(&db, "SELECT _dlt_id || ' ' || name FROM d.members WHERE id = 1"), json!("z5jIxXIbUnmbKw a2"));
    assert_eq!(scalar(&db, "SELECT count(*) FROM d.members"), json!(2));
}

// ---- scd2 with a merge key (dlt's "partial loads") --------------------------------------

#[etl::resource(write_disposition = "merge", merge_strategy = "scd2", merge_key = "date")]
fn partitions(rows: Vec<Value>) -> Vec<Value> {
    rows
}

/// dlt's documented example: with a `merge_key`, only records whose merge key is in the load
/// are retired when absent; other partitions stay active.
#[test]
fn scd2_with_a_merge_key_retires_only_records_of_the_loaded_keys() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir, "scd2_partitions_pipeline");
    let row = |date: &str, name: &str| json!({"date": date, "name": name});
    p.run(partitions(vec![row("2024-01-01", "a"), row("2024-01-01", "b")])).unwrap();
    p.run(partitions(vec![row("2024-01-02", "c"), row("2024-01-02", "d")])).unwrap();
    let db = p.database_path();
    let active = || scalar(&db, "SELECT string_agg(name, ',' ORDER BY name) FROM d.partitions WHERE _dlt_valid_to IS NULL");
    assert_eq!(active(), json!("a,b,c,d"), "the 2024-01-01 partition was not in the load: nothing of it retired");
    // Reload 2024-01-01: `a` unchanged, `b` gone, `bb` new.
    p.run(partitions(vec![row("2024-01-01", "a"), row("2024-01-01", "bb")])).unwrap();
    assert_eq!(active(), json!("a,bb,c,d"));
    assert_eq!(scalar(&db, "SELECT string_agg(name, ',') FROM d.partitions WHERE _dlt_valid_to IS NOT NULL"), json!("b"));
    assert_eq!(scalar(&db, "SELECT count(*) FROM d.partitions"), json!(5));
}

// ---- #[etl::source] options -------------------------------------------------------------

#[etl::source(name = "crm", max_table_nesting = 0, schema_contract = "discard_row")]
fn crm_source(contact_rows: Vec<Value>) -> etl::Source {
    #[etl::resource]
    fn contacts(rows: Vec<Value>) -> Vec<Value> {
        rows
    }
    /// Takes the source's nesting; its own contract lets its table be created.
    #[etl::resource(schema_contract = "evolve")]
    fn notes() -> Vec<Value> {
        vec![json!({"id": 1, "tags": ["a", "b"], "meta": {"x": 1}})]
    }
    /// Its own nesting overrides the source's.
    #[etl::resource(schema_contract = "evolve", max_table_nesting = 1)]
    fn deals() -> Vec<Value> {
        vec![json!({"id": 1, "lines": [{"sku": "a", "parts": [1, 2]}]})]
    }
    (contacts(contact_rows), notes(), deals())
}

#[test]
fn source_options_name_the_schema_and_set_nesting_and_contract_for_its_resources() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir, "crm_pipeline");
    // The table exists in schema `crm` before the source with its contract runs.
    p.run(etl::Source::with("crm", etl::Resource::from_data("contacts", vec![json!({"id": 1, "name": "a"})])).unwrap()).unwrap();
    p.run(crm_source(vec![json!({"id": 2, "name": "b"}), json!({"id": 3, "name": "c", "email": "c@d"})])).unwrap();
    let db = p.database_path();
    // name: one schema, `crm`, for both runs.
    assert_eq!(scalar(&db, "SELECT string_agg(DISTINCT schema_name, ',') FROM d._dlt_loads"), json!("crm"));
    assert_eq!(scalar(&db, "SELECT string_agg(DISTINCT schema_name, ',') FROM d._dlt_version"), json!("crm"));
    // schema_contract: the row with a new column is discarded, the others load.
    assert_eq!(scalar(&db, "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM d.contacts"), json!("1,2"));
    assert_eq!(column_type(&p, "contacts", "email"), None);
    // max_table_nesting = 0: lists and objects stay JSON; a resource's own value wins.
    assert_eq!(data_tables(&p), ["contacts", "deals", "deals__lines", "notes"]);
    assert_eq!(column_type(&p, "notes", "tags").as_deref(), Some("JSON"));
    assert_eq!(column_type(&p, "notes", "meta").as_deref(), Some("JSON"));
    assert_eq!(column_type(&p, "deals__lines", "parts").as_deref(), Some("JSON"));
}

// ---- translator (#[etl::assets]) --------------------------------------------------------

struct CrmTranslator;

impl DltTranslator for CrmTranslator {
    fn asset_key(&self, info: &DltResourceInfo) -> AssetKey {
        AssetKey(vec!["crm".into(), info.resource_name.clone()])
    }
    fn deps(&self, info: &DltResourceInfo) -> Vec<AssetKey> {
        vec![AssetKey(vec!["raw".into(), info.table_name.clone()])]
    }
    fn group_name(&self, _: &DltResourceInfo) -> Option<String> {
        Some("sales".into())
    }
    fn description(&self, info: &DltResourceInfo) -> Option<String> {
        Some(format!("{} from the CRM", info.resource_name))
    }
    fn tags(&self, _: &DltResourceInfo) -> std::collections::BTreeMap<String, String> {
        [("team".to_owned(), "sales".to_owned())].into()
    }
    fn kinds(&self, _: &DltResourceInfo) -> Vec<String> {
        vec!["dlt".into(), "crm".into()]
    }
}

#[etl::source]
fn leads_source() -> etl::Source {
    #[etl::resource(table_name = "lead_rows")]
    fn leads() -> Vec<Value> {
        vec![json!({"id": 1}), json!({"id": 2})]
    }
    leads()
}

#[etl::assets(
    dlt_source = leads_source(),
    dlt_pipeline = etl::pipeline("leads_pipeline").dataset_name("leads"),
    translator = CrmTranslator,
    group_name = "overridden_by_the_translator",
)]
fn leads_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

#[test]
fn a_translator_changes_keys_deps_groups_tags_and_kinds_but_never_tables() {
    let graph = etl::asset_graph().unwrap();
    let key = AssetKey(vec!["crm".into(), "leads".into()]);
    let spec = &graph.node(&key).expect("the translator's key").spec;
    assert_eq!(spec.deps, [AssetKey(vec!["raw".into(), "lead_rows".into()])]);
    assert_eq!(spec.group, "sales");
    assert_eq!(spec.description.as_deref(), Some("leads from the CRM"));
    assert_eq!(spec.tags.get("team").map(String::as_str), Some("sales"));
    assert_eq!(spec.kinds, ["dlt", "crm"]);
    assert!(graph.node(&AssetKey::new("dlt_leads_source_leads")).is_none(), "the default key is gone");

    let run = etl::testing::materialize("crm/leads").run().unwrap();
    assert!(run.result().success(), "{:?}", run.result().failures());
    assert!(run.result().materialization("crm/leads").is_some());
    assert_eq!(scalar(&run.database("leads_pipeline"), "SELECT count(*) FROM leads.lead_rows"), json!(2));
}
