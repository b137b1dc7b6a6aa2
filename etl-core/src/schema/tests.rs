//! Tests of the schema: evolution, contracts, hints and the stored JSON.

use super::*;

fn row(table: &str, cells: Vec<(&str, Value)>) -> FlatRow {
    FlatRow { table: table.into(), parent: None, cells: cells.into_iter().map(|(k, v)| (k.into(), v)).collect() }
}

#[test]
fn stored_numbers_out_of_range_and_bad_dedup_sort_are_errors_naming_table_and_value() {
    let stored = |column: Json| json!({"name": "s", "tables": {"orders": {"name": "orders", "columns": {"amount": column}}}});
    let err = Schema::from_stored_json(&stored(json!({"data_type": "decimal", "precision": 4_294_967_296u64}))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stored schema is not readable: table `orders`, column `amount`: `precision` is 4294967296, not a number from 0 to 4294967295"
    );
    let err = Schema::from_stored_json(&stored(json!({"data_type": "decimal", "scale": -1}))).unwrap_err();
    assert!(err.to_string().contains("`scale` is -1"), "{err}");
    let err = Schema::from_stored_json(&stored(json!({"data_type": "bigint", "dedup_sort": "up"}))).unwrap_err();
    assert!(err.to_string().contains("table `orders`, column `amount`: `dedup_sort` is \"up\""), "{err}");
    let ok = Schema::from_stored_json(&stored(json!({"data_type": "decimal", "precision": 38, "scale": 9, "dedup_sort": "desc"}))).unwrap();
    let c = ok.table("orders").unwrap().column("amount").unwrap();
    assert_eq!((c.precision, c.scale, c.dedup_sort.as_deref()), (Some(38), Some(9), Some("desc")));
}

#[test]
fn a_dedup_sort_other_than_asc_or_desc_is_an_error_naming_resource_and_column() {
    let mut hints = ResourceHints::new("stock");
    hints.columns = vec![ColumnHint::new("version").dedup_sort("newest")];
    let err = Schema::new("s").apply_resource_hints(&hints, "stock").unwrap_err();
    assert_eq!(err.to_string(), "resource `stock`: column `version`: `dedup_sort` is `newest`; expected `asc` or `desc`");
    hints.columns = vec![ColumnHint::new("version").dedup_sort("asc")];
    assert!(Schema::new("s").apply_resource_hints(&hints, "stock").is_ok());
}

#[test]
fn first_value_decides_then_variants() {
    let mut s = Schema::new("s");
    let mut ch = Vec::new();
    s.coerce_row(row("t", vec![("a", Value::Int(1)), ("b", Value::Null)]), &mut ch).unwrap();
    let out = s.coerce_row(row("t", vec![("a", Value::Text("two".into()))]), &mut ch).unwrap();
    let t = s.table("t").unwrap();
    assert_eq!(t.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a", "a__v_text"]);
    assert!(t.columns[1].variant);
    assert_eq!(out, vec![(1, Value::Text("two".into()))]);
    assert!(s.table("t").unwrap().column("b").is_none(), "all-null column is not created");
}

#[test]
fn contracts_freeze_discard_and_evolve() {
    let mut s = Schema::new("s");
    let mut ch = Vec::new();
    s.coerce_row(row("t", vec![("a", Value::Int(1))]), &mut ch).unwrap();
    let freeze = SchemaContract { columns: ContractMode::Freeze, ..Default::default() };
    let err = s.coerce_row_with(row("t", vec![("a", Value::Int(2)), ("b", Value::Int(3))]), &freeze, &mut ch).unwrap_err();
    assert_eq!(
        err.to_string(),
        "contract on `columns` with `contract_mode=freeze` is violated: can't add column `b` to table `t` (table `t`, column `b`, value 3)"
    );
    assert!(s.table("t").unwrap().column("b").is_none(), "a rejected row changes nothing");
    let discard_value = SchemaContract { columns: ContractMode::DiscardValue, ..Default::default() };
    let kept = s.coerce_row_with(row("t", vec![("a", Value::Int(2)), ("b", Value::Int(3))]), &discard_value, &mut ch).unwrap();
    assert_eq!(kept, Some(vec![(0, Value::Int(2))]));
    let discard_row = SchemaContract { data_type: ContractMode::DiscardRow, ..Default::default() };
    assert_eq!(s.coerce_row_with(row("t", vec![("a", Value::Text("x".into()))]), &discard_row, &mut ch).unwrap(), None);
    let frozen_tables = SchemaContract::all(ContractMode::Freeze);
    assert!(s.coerce_row_with(row("new", vec![("a", Value::Int(1))]), &frozen_tables, &mut ch).is_err());
    // Values that fit are fine under any contract.
    assert!(s.coerce_row_with(row("t", vec![("a", Value::Text("7".into()))]), &frozen_tables, &mut ch).unwrap().is_some());
}

#[test]
fn hinted_columns_come_first_and_pk_is_not_null() {
    let mut s = Schema::new("s");
    let mut hints = ResourceHints::new("users");
    hints.columns = vec![ColumnHint::new("code").data_type(DataType::Bigint).precision(16), ColumnHint::new("later")];
    hints.primary_key = vec!["id".into()];
    s.apply_resource_hints(&hints, "users").unwrap();
    let mut ch = Vec::new();
    s.coerce_row(row("users", vec![("id", Value::Int(1)), ("x", Value::Bool(true))]), &mut ch).unwrap();
    let t = s.table("users").unwrap();
    let names: Vec<_> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["code", "later", "id", "x"]);
    assert_eq!(t.columns[0].duckdb_type().unwrap(), "SMALLINT");
    assert!(!t.column("id").unwrap().nullable);
    assert!(t.column("later").unwrap().data_type.is_none());
}

#[test]
fn stored_as_dlt_stores_it_and_round_trips() {
    let mut s = Schema::new("s");
    let mut hints = ResourceHints::new("events");
    hints.columns = vec![ColumnHint::new("payload").data_type(DataType::Json), ColumnHint::new("req").data_type(DataType::Text).nullable(false)];
    hints.primary_key = vec!["id".into()];
    hints.write_disposition = WriteDisposition::Merge;
    hints.max_table_nesting = Some(1);
    hints.incremental = Some(crate::incremental::Incremental::new("updated_at"));
    s.apply_resource_hints(&hints, "events").unwrap();
    let mut ch = Vec::new();
    let nested = FlatRow { table: "events__tags".into(), parent: Some("events".into()), cells: vec![(C_ROOT_ID.into(), Value::Text("r".into()))] };
    s.coerce_row(row("events", vec![("id", Value::Int(1)), ("updated_at", Value::Int(5))]), &mut ch).unwrap();
    s.coerce_row(nested, &mut ch).unwrap();
    s.ensure_state_table();
    assert!(s.bump_version());
    let stored = s.to_stored_json();
    let names: Vec<&String> = stored["tables"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["_dlt_version", "_dlt_loads", "events", "_dlt_pipeline_state", "events__tags"], "new roots and the state table before new nested tables");
    let events = &stored["tables"]["events"];
    assert_eq!(events["columns"]["payload"], json!({"name": "payload", "data_type": "json"}), "a hint made it complete without `nullable`");
    assert_eq!(events["columns"]["req"]["nullable"], json!(false));
    assert_eq!(events["columns"]["id"]["nullable"], json!(false));
    assert_eq!(events["columns"]["updated_at"], json!({"name": "updated_at", "data_type": "bigint", "nullable": true, "incremental": true}));
    assert_eq!(events["x-normalizer"], json!({"max_nesting": 1, "seen-data": true}));
    assert_eq!(stored["tables"]["_dlt_pipeline_state"]["file_format"], json!("preferred"));
    assert_eq!(stored["normalizers"]["json"]["config"], json!({"propagation": {"tables": {"events": {"_dlt_id": "_dlt_root_id"}}}}));
    let restored = Schema::from_stored_json(&stored).unwrap();
    assert_eq!(restored.to_stored_json(), stored);
    assert_eq!(restored.content_hash(), s.version_hash);
}

#[test]
fn a_schema_stored_by_an_older_build_loads_and_keeps_its_hash() {
    // Written before `nullable_set`, `file_format`, `incremental`, `max_nesting` and the
    // normalizer's config: `nullable` on every column, none of the others.
    let mut old = Schema::new("s");
    let mut ch = Vec::new();
    old.coerce_row(row("t", vec![("a", Value::Int(1))]), &mut ch).unwrap();
    old.ensure_state_table();
    old.bump_version();
    let mut stored = old.to_stored_json();
    stored["tables"]["_dlt_pipeline_state"].as_object_mut().unwrap().remove("file_format");
    for table in stored["tables"].as_object_mut().unwrap().values_mut() {
        for column in table["columns"].as_object_mut().unwrap().values_mut() {
            let nullable = column.get("nullable").cloned().unwrap_or(json!(true));
            column["nullable"] = nullable;
        }
    }
    let hash = Schema::from_stored_json(&stored).unwrap().content_hash();
    let mut restored = Schema::from_stored_json(&stored).unwrap();
    assert_eq!(restored.to_stored_json()["tables"], stored["tables"]);
    assert!(restored.table(STATE_TABLE).unwrap().file_format.is_none());
    restored.version_hash = hash.clone();
    assert!(!restored.bump_version(), "nothing changed: no new version");
    assert_eq!(restored.content_hash(), hash);
}

#[test]
fn version_bumps_only_on_change_and_round_trips() {
    let mut s = Schema::new("s");
    assert!(!s.bump_version());
    let mut ch = Vec::new();
    s.coerce_row(row("t", vec![("a", Value::Int(1))]), &mut ch).unwrap();
    assert!(s.bump_version());
    assert_eq!(s.version, 2);
    assert!(!s.bump_version());
    let restored = Schema::from_stored_json(&s.to_stored_json()).unwrap();
    assert_eq!(restored, s);
}
