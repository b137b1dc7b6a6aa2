//! The lesson as a test: tables, types, rows, bookkeeping and metadata, and a second run.

use etl::MetadataValue;
use etl_tests::{columns, scalar, tables};
use serde_json::json;

#[etl::source]
fn simple_source() -> etl::Source {
    /// Two users.
    #[etl::resource]
    fn load_dict() -> Vec<serde_json::Value> {
        vec![json!({"id": 1, "name": "Alice"}), json!({"id": 2, "name": "Bob"})]
    }
    load_dict()
}

#[etl::assets(
    dlt_source = simple_source(),
    dlt_pipeline = etl::pipeline("simple_pipeline").dataset_name("simple").destination(etl::duckdb()),
)]
fn lesson_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

const KEY: &str = "dlt_simple_source_load_dict";

#[test]
fn lesson_loads_dlt_layout_and_appends_on_second_run() {
    let run = etl::testing::materialize(KEY).run().expect("graph ok");
    assert!(run.result().success(), "{:?}", run.result().failures());
    let db = run.database("simple_pipeline");
    assert!(db.exists());
    assert!(db.starts_with(run.dir()), "the test never writes to the working directory");

    assert_eq!(tables(&db, "simple"), ["_dlt_loads", "_dlt_pipeline_state", "_dlt_version", "load_dict"]);
    assert_eq!(
        columns(&db, "simple", "load_dict"),
        [
            ("id".into(), "BIGINT".into(), true),
            ("name".into(), "VARCHAR".into(), true),
            ("_dlt_load_id".into(), "VARCHAR".into(), false),
            ("_dlt_id".into(), "VARCHAR".into(), false),
        ]
    );
    let rows = run.query("simple_pipeline", "SELECT id, name, length(_dlt_id) FROM simple.load_dict ORDER BY id").unwrap();
    assert_eq!(rows, vec![vec![json!(1), json!("Alice"), json!(14)], vec![json!(2), json!("Bob"), json!(14)]]);
    assert_eq!(
        columns(&db, "simple", "_dlt_loads"),
        [
            ("load_id".into(), "VARCHAR".into(), false),
            ("schema_name".into(), "VARCHAR".into(), true),
            ("status".into(), "BIGINT".into(), false),
            ("inserted_at".into(), "TIMESTAMP WITH TIME ZONE".into(), false),
            ("schema_version_hash".into(), "VARCHAR".into(), true),
        ]
    );
    assert_eq!(
        columns(&db, "simple", "_dlt_pipeline_state").into_iter().map(|c| c.0).collect::<Vec<_>>(),
        ["version", "engine_version", "pipeline_name", "state", "created_at", "version_hash", "_dlt_load_id", "_dlt_id"]
    );
    let loads = run.query("simple_pipeline", "SELECT schema_name, status FROM simple._dlt_loads").unwrap();
    assert_eq!(loads, vec![vec![json!("simple_source"), json!(0)]]);
    let version = run.query("simple_pipeline", "SELECT version, engine_version, schema_name FROM simple._dlt_version").unwrap();
    assert_eq!(version, vec![vec![json!(2), json!(11), json!("simple_source")]]);
    let state = run.query("simple_pipeline", "SELECT version, engine_version, pipeline_name FROM simple._dlt_pipeline_state").unwrap();
    assert_eq!(state, vec![vec![json!(1), json!(4), json!("simple_pipeline")]]);
    // The stored schema is dlt's JSON and names the table.
    let schema_json: serde_json::Value =
        serde_json::from_str(scalar(&db, "SELECT schema FROM simple._dlt_version").as_str().unwrap()).unwrap();
    assert_eq!(schema_json["name"], "simple_source");
    assert_eq!(schema_json["tables"]["load_dict"]["columns"]["_dlt_id"]["row_key"], true);

    // dagster-dlt's metadata.
    let m = run.result().materialization(KEY).expect("materialized");
    let keys: Vec<&str> = m.metadata.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "destination_type", "destination_name", "dataset_name", "first_run", "started_at", "finished_at", "jobs",
            "rows_loaded", "dagster/column_schema", "dagster/table_name", "dagster/storage_kind"
        ]
    );
    assert_eq!(m.get("rows_loaded"), Some(&MetadataValue::Int(2)));
    assert_eq!(m.get("first_run"), Some(&MetadataValue::Bool(true)));
    assert_eq!(m.get("dagster/table_name"), Some(&MetadataValue::Text("duckdb.simple_source.load_dict".into())));
    assert_eq!(m.get("destination_type"), Some(&MetadataValue::Text("dlt.destinations.duckdb".into())));
    match m.get("dagster/column_schema") {
        Some(MetadataValue::TableSchema(cols)) => {
            let id = cols.iter().find(|c| c.name == "_dlt_id").unwrap();
            assert!(!id.nullable && id.unique);
            assert_eq!(cols[0].data_type, "bigint");
        }
        other => panic!("no column schema: {other:?}"),
    }

    // Second run in the same directory: 2 more rows with a new load id, one more _dlt_loads row,
    // no new schema version (nothing changed), no new state row.
    let second = etl::testing::materialize(KEY).after(&run).run().unwrap();
    assert!(second.result().success());
    assert_eq!(scalar(&db, "SELECT count(*) FROM simple.load_dict"), json!(4));
    assert_eq!(scalar(&db, "SELECT count(DISTINCT _dlt_load_id) FROM simple.load_dict"), json!(2));
    assert_eq!(scalar(&db, "SELECT count(*) FROM simple._dlt_loads"), json!(2));
    assert_eq!(scalar(&db, "SELECT count(*) FROM simple._dlt_version"), json!(1));
    assert_eq!(scalar(&db, "SELECT count(*) FROM simple._dlt_pipeline_state"), json!(1));
    let m2 = second.result().materialization(KEY).unwrap();
    assert_eq!(m2.get("first_run"), Some(&MetadataValue::Bool(false)));
}

#[test]
fn two_materializations_in_one_process_are_isolated() {
    let a = etl::testing::materialize(KEY).run().unwrap();
    let b = etl::testing::materialize(KEY).run().unwrap();
    assert_ne!(a.dir(), b.dir());
    for run in [&a, &b] {
        assert_eq!(scalar(&run.database("simple_pipeline"), "SELECT count(*) FROM simple.load_dict"), json!(2));
    }
}

#[test]
fn unknown_selection_is_an_error_listing_assets() {
    let err = etl::testing::materialize("dlt_simple_source_nope").run().err().expect("unknown key");
    let text = err.to_string();
    assert!(text.contains("no asset `dlt_simple_source_nope`"), "{text}");
    assert!(text.contains(KEY), "{text}");
}
