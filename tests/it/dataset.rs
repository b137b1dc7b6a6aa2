//! dlt parity (issue 17): reading a dataset back (`pipeline.dataset()`) from DuckDB and
//! PostgreSQL, resource steps (`add_map`, `add_filter`, `add_yield_map`, `add_limit`, the
//! `limit` option), and dlt's `.dlt/` configuration files.

use std::io::Write;

use etl::Value;
use etl_testkit::pg_or_skip;
use serde_json::json;

/// A source with the types the readers must bring back.
fn typed_source() -> etl::Source {
    let rows = vec![
        json!({"id": 1, "name": "Alice", "amount": "12.50", "seen_at": "2024-01-15T10:30:00+00:00", "day": "2024-01-15", "tags": ["a"], "ok": true, "ratio": 0.5}),
        json!({"id": 2, "name": null, "amount": "3.25", "seen_at": "2024-01-16T00:00:00+00:00", "day": "2024-01-16", "tags": [], "ok": false, "ratio": 1.5}),
    ];
    let resource = etl::Resource::from_values("people", rows.into_iter().map(Value::from).collect()).with_columns(vec![
        etl::column("amount").data_type(etl::DataType::Decimal),
        etl::column("day").data_type(etl::DataType::Date),
    ]);
    etl::Source::with("typed", vec![resource]).unwrap()
}

fn check_dataset(ds: &etl::Dataset) {
    let counts = ds.row_counts().unwrap();
    assert_eq!(counts.get("people"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("people__tags"), Some(&1));
    assert!(ds.tables().unwrap().iter().all(|t| !t.starts_with("_dlt")));
    let rows = ds.table("people").unwrap().rows().unwrap();
    assert_eq!(rows.len(), 2);
    for c in ["id", "name", "amount", "seen_at", "day", "ok", "ratio", "_dlt_load_id", "_dlt_id"] {
        assert!(rows.columns.iter().any(|x| x == c), "{c} in {:?}", rows.columns);
    }
    let by_id = ds.query("SELECT id, name, amount, seen_at, day, ok, ratio FROM people ORDER BY id").rows().unwrap();
    let first = &by_id.rows[0];
    assert_eq!(first[0], Value::Int(1));
    assert_eq!(first[1], Value::Text("Alice".into()));
    assert!(matches!(first[2], Value::Decimal(_)) && first[2].as_f64() == Some(12.5), "a decimal: {:?}", first[2]);
    assert!(matches!(first[3], Value::Timestamp(t) if t.to_rfc3339() == "2024-01-15T10:30:00+00:00"), "{:?}", first[3]);
    assert!(matches!(first[4], Value::Date(d) if d.to_string() == "2024-01-15"), "{:?}", first[4]);
    assert_eq!(first[5], Value::Bool(true));
    assert_eq!(first[6], Value::Float(0.5));
    assert_eq!(by_id.rows[1][1], Value::Null);
    let json = by_id.to_json();
    assert_eq!(json[1]["id"], json!(2));
    let batches = ds.query("SELECT id FROM people WHERE ok").arrow().unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert_eq!(ds.table("people__tags").unwrap().count().unwrap(), 1);
    let err = ds.table("nope").unwrap_err().to_string();
    assert!(err.contains("has no table `nope`") && err.contains("people"), "{err}");
    let err = ds.query("SELECT * FROM missing_table").rows().unwrap_err().to_string();
    assert!(err.contains("missing_table"), "{err}");
}

#[test]
fn a_duckdb_dataset_reads_back_as_rows_arrow_sql_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("ds_duck").dataset_name("typed_data").destination(etl::duckdb()).working_dir(dir.path());
    pipeline.run(typed_source()).unwrap();
    check_dataset(&pipeline.dataset());
    let missing = etl::pipeline("never_ran").working_dir(dir.path()).dataset().row_counts().unwrap_err().to_string();
    assert!(missing.contains("run it first"), "{missing}");
}

#[test]
fn a_postgres_dataset_reads_back_as_rows_arrow_sql_and_counts() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("ds_pg").dataset_name("typed_data").destination(etl::postgres(&url)).working_dir(dir.path());
    pipeline.run(typed_source()).unwrap();
    check_dataset(&pipeline.dataset());
}

#[etl::resource(limit = 3)]
fn limited_numbers() -> Vec<serde_json::Value> {
    (1..=10).map(|i| json!({"n": i})).collect()
}

#[test]
fn resource_steps_shape_what_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("steps").dataset_name("steps").working_dir(dir.path());
    let evens = etl::Resource::from_data("evens", (1..=10).map(|i| json!({"n": i, "secret": "x"})))
        .add_filter(|v| v.get("n").and_then(Value::as_i64).is_some_and(|n| n % 2 == 0))
        .add_map(|v| Value::from(json!({"n": v.get("n").and_then(Value::as_i64), "square": v.get("n").and_then(Value::as_i64).map(|n| n * n)})))
        .add_yield_map(|v| vec![v.clone(), v]);
    let lines_file = dir.path().join("in.jsonl");
    let mut f = std::fs::File::create(&lines_file).unwrap();
    for i in 0..100 {
        writeln!(f, "{{\"i\": {i}}}").unwrap();
    }
    drop(f);
    let lines = etl::Resource::from_json_lines_file(etl::ResourceHints::new("lines"), &lines_file).add_limit(7);
    let source = etl::Source::with("steps", vec![evens, lines, limited_numbers()]).unwrap();
    pipeline.run(source).unwrap();
    let ds = pipeline.dataset();
    let counts = ds.row_counts().unwrap();
    assert_eq!(counts["evens"], 10, "5 evens, each yielded twice: {counts:?}");
    assert_eq!(counts["lines"], 7, "a limited JSON-lines file");
    assert_eq!(counts["limited_numbers"], 3, "`limit = 3` on the resource");
    let cols = ds.table("evens").unwrap().rows().unwrap().columns;
    assert!(cols.contains(&"square".to_owned()) && !cols.contains(&"secret".to_owned()), "the map's shape: {cols:?}");
    let squares = ds.query("SELECT DISTINCT square FROM evens ORDER BY 1").fetchall().unwrap();
    assert_eq!(squares, vec![vec![Value::Int(4)], vec![Value::Int(16)], vec![Value::Int(36)], vec![Value::Int(64)], vec![Value::Int(100)]]);
}

#[test]
fn a_dlt_projects_dot_dlt_secrets_choose_the_destination_unchanged() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".dlt")).unwrap();
    // As a dlt project keeps it: `.dlt/secrets.toml`, no `.etl/` at all.
    std::fs::write(dir.path().join(".dlt/secrets.toml"), format!("[destination.postgres]\ncredentials = \"{url}\"\n")).unwrap();
    let pipeline = etl::pipeline("from_dlt_config").dataset_name("dlt_cfg").working_dir(dir.path());
    let info = pipeline.run(etl::Source::with("s", vec![etl::Resource::from_data("rows", vec![json!({"a": 1})])]).unwrap()).unwrap();
    assert_eq!(info.destination_name, "postgres");
    assert!(!dir.path().join("from_dlt_config.duckdb").exists());
    assert_eq!(pipeline.dataset().row_counts().unwrap()["rows"], 1);
    // `.etl/` overrides `.dlt/` key by key: a DuckDB destination named there wins.
    std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
    std::fs::write(dir.path().join(".etl/config.toml"), "destination_type = \"duckdb\"\n").unwrap();
    let info = pipeline.run(etl::Source::with("s", vec![etl::Resource::from_data("rows", vec![json!({"a": 2})])]).unwrap()).unwrap();
    assert_eq!(info.destination_name, "duckdb");
}
