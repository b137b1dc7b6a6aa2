//! Pipelines used directly, without assets (dlt's `pipeline.run(data, table_name=...)`).

use etl::{ContractMode, Resource, SchemaContract, WriteDisposition};
use etl_tests::{columns, scalar};
use serde_json::json;

#[test]
fn integers_beyond_int64_get_hugeint() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("big_pipeline").working_dir(dir.path());
    p.run(Resource::from_data("nums", vec![json!({"n": u64::MAX}), json!({"n": 1})])).unwrap();
    let db = p.database_path();
    assert_eq!(columns(&db, "big_pipeline_dataset", "nums")[0], ("n".into(), "HUGEINT".into(), true));
    assert_eq!(scalar(&db, "SELECT max(n)::VARCHAR FROM big_pipeline_dataset.nums"), json!("18446744073709551615"));
}

#[test]
fn replace_swaps_parent_and_child_rows_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("rep_pipeline").dataset_name("rep").working_dir(dir.path());
    let items = |rows: Vec<serde_json::Value>| Resource::from_data("items", rows).with_write_disposition(WriteDisposition::Replace);
    p.run(items(vec![json!({"id": 1, "tags": ["a", "b"]}), json!({"id": 2, "tags": ["c"]})])).unwrap();
    let db = p.database_path();
    assert_eq!(scalar(&db, "SELECT count(*) FROM rep.items__tags"), json!(3));
    p.run(items(vec![json!({"id": 3, "tags": ["d"]})])).unwrap();
    assert_eq!(scalar(&db, "SELECT count(*) FROM rep.items"), json!(1));
    assert_eq!(scalar(&db, "SELECT count(*) FROM rep.items__tags"), json!(1));
    p.run(items(vec![])).unwrap();
    assert_eq!(scalar(&db, "SELECT count(*) FROM rep.items"), json!(0));
    assert_eq!(scalar(&db, "SELECT count(*) FROM rep.items__tags"), json!(0));
}

#[test]
fn run_level_contract_overrides_and_names_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("frozen_pipeline").dataset_name("frozen").working_dir(dir.path());
    p.run(Resource::from_data("users", vec![json!({"id": 1})])).unwrap();
    let frozen = p.clone().schema_contract(SchemaContract::all(ContractMode::Freeze));
    let err = frozen.run(Resource::from_data("users", vec![json!({"id": 2}), json!({"id": 3, "email": "x@y"})])).unwrap_err();
    assert_eq!(err.step, etl::Step::Normalize);
    let text = err.to_string();
    assert!(text.contains("resource `users`") && text.contains("at item 1") && text.contains("email") && text.contains("\"x@y\""), "{text}");
    assert_eq!(scalar(&p.database_path(), "SELECT count(*) FROM frozen.users"), json!(1));
    // discard_value keeps the row without the new column.
    let lenient = p.clone().schema_contract(SchemaContract { columns: ContractMode::DiscardValue, ..Default::default() });
    lenient.run(Resource::from_data("users", vec![json!({"id": 3, "email": "x@y"})])).unwrap();
    assert_eq!(scalar(&p.database_path(), "SELECT count(*) FROM frozen.users"), json!(2));
    assert_eq!(columns(&p.database_path(), "frozen", "users").len(), 3);
}

#[test]
fn typed_rust_rows_get_matching_duckdb_types() {
    #[derive(serde::Serialize)]
    struct Event {
        id: i64,
        at: chrono::DateTime<chrono::Utc>,
        day: chrono::NaiveDate,
        time: chrono::NaiveTime,
        amount: rust_decimal::Decimal,
        payload: Vec<u8>,
        note: Option<String>,
        ok: bool,
        score: f64,
    }
    let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let row = Event {
        id: 1,
        at: day.and_hms_opt(23, 59, 59).unwrap().and_utc(),
        day,
        time: chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        amount: rust_decimal::Decimal::new(1250, 2),
        payload: vec![1, 2, 3],
        note: None,
        ok: true,
        score: 0.5,
    };
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("typed_pipeline").dataset_name("typed").working_dir(dir.path());
    p.run(Resource::from_data("events", vec![row])).unwrap();
    let cols: Vec<(String, String)> = columns(&p.database_path(), "typed", "events").into_iter().map(|c| (c.0, c.1)).collect();
    let expect = [
        ("id", "BIGINT"),
        ("at", "TIMESTAMP WITH TIME ZONE"),
        ("day", "DATE"),
        ("time", "TIME"),
        ("amount", "DECIMAL(38,9)"),
        ("payload", "BLOB"),
        ("ok", "BOOLEAN"),
        ("score", "DOUBLE"),
        ("_dlt_load_id", "VARCHAR"),
        ("_dlt_id", "VARCHAR"),
    ];
    assert_eq!(cols, expect.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>());
    let row = etl::testing::query_file(&p.database_path(), "SELECT day, amount, payload FROM typed.events").unwrap();
    assert_eq!(row[0], vec![json!({"$date": "2024-02-29"}), json!({"$decimal": "12.500000000"}), json!({"$bytes_hex": "010203"})]);
}

#[test]
fn upsert_keeps_ids_stable_and_replaces_nested_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("ups_pipeline").dataset_name("ups").working_dir(dir.path());
    let users = |rows: Vec<serde_json::Value>| {
        let mut r = Resource::from_data("users", rows).with_write_disposition(WriteDisposition::Merge).with_primary_key(["id"]);
        r.hints_mut().merge_strategy = etl::MergeStrategy::Upsert;
        r
    };
    p.run(users(vec![json!({"id": 1, "name": "a", "tags": ["x", "y"]}), json!({"id": 2, "name": "b", "tags": []})])).unwrap();
    let db = p.database_path();
    let id1 = scalar(&db, "SELECT _dlt_id FROM ups.users WHERE id = 1");
    assert_eq!(id1, json!("z5jIxXIbUnmbKw"), "root id is dlt's hash of the key");
    p.run(users(vec![json!({"id": 1, "name": "a2", "tags": ["z"]}), json!({"id": 1, "name": "dup", "tags": []}), json!({"id": 3, "name": "c"})]))
        .unwrap();
    assert_eq!(scalar(&db, "SELECT count(*) FROM ups.users"), json!(3), "one row per key");
    assert_eq!(scalar(&db, "SELECT _dlt_id FROM ups.users WHERE id = 1"), id1);
    // The old tags of id 1 are replaced by the new load's (`z`); id 2's are untouched (none).
    let tags = etl::testing::query_file(&db, "SELECT t.value FROM ups.users__tags t JOIN ups.users u ON t._dlt_root_id = u._dlt_id WHERE u.id = 1").unwrap();
    assert_eq!(tags, vec![vec![json!("z")]]);
    assert_eq!(scalar(&db, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'ups_staging'"), json!(0), "staging is dropped");
    // Upsert without a primary key is a configuration error that names the resource.
    let mut no_key = Resource::from_data("accounts", vec![json!({"id": 9})]).with_write_disposition(WriteDisposition::Merge).with_merge_key(["id"]);
    no_key.hints_mut().merge_strategy = etl::MergeStrategy::Upsert;
    let err = p.run(no_key).unwrap_err();
    assert!(err.to_string().contains("resource `accounts`") && err.to_string().contains("primary_key"), "{err}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM ups.users"), json!(3), "the failed run changed nothing");
}

#[test]
fn resource_state_is_stored_with_the_rows_and_rolled_back_with_them() {
    fn counting(fail: bool) -> Resource {
        Resource::with_context(etl::ResourceHints::new("ticks"), move |cx: &etl::ResourceContext| {
            let runs = cx.state.get("runs").and_then(|v| v.as_i64()).unwrap_or(0) + 1;
            cx.state.set("runs", runs);
            let rows: Vec<Result<etl::Value, etl::BoxError>> =
                if fail { vec![Err("source down".into())] } else { vec![Ok(etl::Value::from(json!({"run": runs})))] };
            Ok(Box::new(rows.into_iter()) as etl::core::Items)
        })
    }
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("tick_pipeline").dataset_name("tick").working_dir(dir.path());
    p.run(counting(false)).unwrap();
    p.run(counting(true)).unwrap_err();
    p.run(counting(false)).unwrap();
    let db = p.database_path();
    // The failed run's state change was rolled back: the second successful run is run 2.
    assert_eq!(scalar(&db, "SELECT max(run) FROM tick.ticks"), json!(2));
    let state = etl::testing::query_file(&db, "SELECT state FROM tick._dlt_pipeline_state ORDER BY version DESC LIMIT 1").unwrap();
    let doc = etl::testing::decode_state(state[0][0].as_str().unwrap()).unwrap();
    assert_eq!(doc["sources"]["tick"]["resources"]["ticks"]["runs"], json!(2));
}

/// dlt's documented scd2 example: an update retires the old version and inserts the new one, a
/// deleted record is retired, a re-inserted record gets a new active version with the same row
/// hash; nested rows are not duplicated for unchanged records.
#[test]
fn scd2_retires_and_reactivates_records() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("scd_pipeline").dataset_name("scd").working_dir(dir.path());
    let dim = |rows: Vec<serde_json::Value>| {
        let mut r = Resource::from_data("dim_customer", rows).with_write_disposition(WriteDisposition::Merge);
        r.hints_mut().merge_strategy = etl::MergeStrategy::Scd2;
        r
    };
    let c1 = json!({"customer_key": 1, "c1": "foo", "c2": 1, "tags": ["a"]});
    let c1u = json!({"customer_key": 1, "c1": "foo_updated", "c2": 1, "tags": ["a"]});
    let c2 = json!({"customer_key": 2, "c1": "bar", "c2": 2, "tags": ["b", "c"]});
    p.run(dim(vec![c1.clone(), c2.clone()])).unwrap();
    let db = p.database_path();
    let cols: Vec<String> = columns(&db, "scd", "dim_customer").into_iter().map(|c| c.0).collect();
    assert_eq!(&cols[..2], ["_dlt_valid_from", "_dlt_valid_to"]);
    assert_eq!(scalar(&db, "SELECT count(*) FROM scd.dim_customer WHERE _dlt_valid_to IS NULL"), json!(2));
    let active = |sql_where: &str| scalar(&db, &format!("SELECT count(*) FROM scd.dim_customer WHERE {sql_where}"));

    p.run(dim(vec![c1u.clone(), c2.clone()])).unwrap();
    assert_eq!(active("customer_key = 1 AND _dlt_valid_to IS NOT NULL AND c1 = 'foo'"), json!(1), "old version retired");
    assert_eq!(active("customer_key = 1 AND _dlt_valid_to IS NULL AND c1 = 'foo_updated'"), json!(1), "new version active");
    assert_eq!(active("customer_key = 2 AND _dlt_valid_to IS NULL"), json!(1), "unchanged record untouched");
    assert_eq!(scalar(&db, "SELECT count(*) FROM scd.dim_customer__tags"), json!(4), "nested rows only for new versions");

    p.run(dim(vec![c1u.clone()])).unwrap();
    assert_eq!(active("customer_key = 2 AND _dlt_valid_to IS NOT NULL"), json!(1), "absent record retired");

    p.run(dim(vec![c1u, c2])).unwrap();
    assert_eq!(active("customer_key = 2"), json!(2), "re-inserted record has a second version");
    assert_eq!(active("customer_key = 2 AND _dlt_valid_to IS NULL"), json!(1));
    assert_eq!(scalar(&db, "SELECT count(DISTINCT _dlt_id) FROM scd.dim_customer WHERE customer_key = 2"), json!(1), "same row hash");
    assert_eq!(scalar(&db, "SELECT count(*) FROM scd.dim_customer"), json!(4));
    // Validity windows never overlap for one record.
    assert_eq!(active("_dlt_valid_to IS NOT NULL AND _dlt_valid_to < _dlt_valid_from"), json!(0));
}

/// delete-insert with a compound key, `dedup_sort` (the newest version of a key wins within a
/// load) and a `hard_delete` column (a row marked deleted removes the record).
#[test]
fn merge_compound_key_dedup_sort_and_hard_delete() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("cmp_pipeline").dataset_name("cmp").working_dir(dir.path());
    let stock = |rows: Vec<serde_json::Value>| {
        let mut hint_version = etl::column("version");
        hint_version.dedup_sort = Some("desc".into());
        let mut hint_deleted = etl::column("deleted");
        hint_deleted.hard_delete = Some(true);
        hint_deleted.data_type = Some(etl::DataType::Bool);
        Resource::from_data("stock", rows)
            .with_write_disposition(WriteDisposition::Merge)
            .with_primary_key(["shop", "sku"])
            .with_columns(vec![hint_version, hint_deleted])
    };
    p.run(stock(vec![
        json!({"shop": "a", "sku": "x", "qty": 1, "version": 1}),
        json!({"shop": "a", "sku": "y", "qty": 2, "version": 1}),
        json!({"shop": "b", "sku": "x", "qty": 3, "version": 1}),
    ]))
    .unwrap();
    p.run(stock(vec![
        json!({"shop": "a", "sku": "x", "qty": 10, "version": 2}),
        json!({"shop": "a", "sku": "x", "qty": 99, "version": 3}),
        json!({"shop": "a", "sku": "x", "qty": 5, "version": 1}),
        json!({"shop": "b", "sku": "x", "version": 2, "deleted": true}),
    ]))
    .unwrap();
    let db = p.database_path();
    let rows = etl::testing::query_file(&db, "SELECT shop, sku, qty FROM cmp.stock ORDER BY shop, sku").unwrap();
    assert_eq!(rows, vec![vec![json!("a"), json!("x"), json!(99)], vec![json!("a"), json!("y"), json!(2)]]);
}

#[test]
fn dataset_named_like_the_database_file_is_not_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("bench").dataset_name("bench").working_dir(dir.path());
    p.run(Resource::from_data("events", vec![json!({"id": 1, "items": [1, 2]})])).unwrap();
    p.run(Resource::from_data("events", vec![json!({"id": 2})]).with_write_disposition(WriteDisposition::Merge).with_primary_key(["id"]))
        .unwrap();
    assert_eq!(scalar(&p.database_path(), "SELECT count(*) FROM bench.bench.events"), json!(2));
}

/// Asserts that two databases hold the same tables in dataset `d`, with the same columns and the
/// same rows but for the ids, which are random per load (and children's follow their parents');
/// returns the table names.
fn same_tables(da: &std::path::Path, db: &std::path::Path) -> Vec<String> {
    let names = etl_tests::tables(da, "d");
    assert_eq!(names, etl_tests::tables(db, "d"));
    for t in names.iter().filter(|t| !t.starts_with("_dlt")) {
        assert_eq!(columns(da, "d", t), columns(db, "d", t), "columns of {t}");
        let random = if t.contains("__") { "_dlt_id, _dlt_parent_id" } else { "_dlt_id, _dlt_load_id" };
        let rows = |db: &std::path::Path| etl::testing::query_file(db, &format!("SELECT * EXCLUDE ({random}) FROM d.{t} ORDER BY ALL")).unwrap();
        assert_eq!(rows(da), rows(db), "rows of {t}");
    }
    names
}

/// A JSON-lines resource (parsed as it streams, through the columnar fast path where the schema
/// already knows the shape) loads exactly what the same items as values load, through new
/// columns, variants, nulls, escaped and colliding keys, nested lists, batches and blank lines;
/// a run of it that fails in normalize keeps its lines verbatim as a pending package.
#[test]
fn json_lines_load_like_values_and_are_kept_verbatim_when_a_run_fails() {
    let lines = [
        r#"{"id": 1, "name": "a", "at": "2024-01-15T10:30:00Z", "dev": {"os": "ios", "v": 1.5}, "items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2, "extra": true}]}"#,
        r#"{"id": 2, "name": null, "at": "2024-01-16T10:30:00+02:00", "dev": {"os": "web"}, "items": []}"#,
        "",
        r#"{"id": 8, "name": "b", "at": "2024-01-17T10:30:00Z", "dev": {"os": "ios", "v": 3}, "items": [{"sku": "x2", "qty": 5}]}"#,
        r#"{"id": "3", "name": "c", "items": [{"sku": "z", "qty": "many"}], "tags": ["t1", null, 5]}"#,
        r#"{"id": 4, "Name": "d\u00e9", "na\u006de": "e", "dev": null, "items": [[1, 2]], "tags": []}"#,
        r#"[{"id": 5}, {"id": 6, "at": "not a date"}]"#,
        r#"{"id": 7.0, "name": "f\"q", "dev": {"os": "android", "v": 2}, "items": [{"sku": "w", "qty": 3}], "tags": ["t2"]}"#,
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("items.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let from_file = |f: std::path::PathBuf| {
        Resource::from_json_lines(etl::ResourceHints::new("events"), move || Ok(std::io::BufReader::new(std::fs::File::open(f)?)))
    };
    let values: Vec<etl::Value> = lines.iter().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    let a = etl::pipeline("lines_pipeline").dataset_name("d").working_dir(dir.path().join("a"));
    let b = etl::pipeline("values_pipeline").dataset_name("d").working_dir(dir.path().join("b"));
    // Lines read through a 7-byte buffer: each crosses the buffer's end.
    let c = etl::pipeline("small_buffer_pipeline").dataset_name("d").working_dir(dir.path().join("c"));
    let tiny = |f: std::path::PathBuf| {
        Resource::from_json_lines(etl::ResourceHints::new("events"), move || Ok(std::io::BufReader::with_capacity(7, std::fs::File::open(f)?)))
    };
    for _ in 0..2 {
        // The second run starts from the stored schema: every known shape takes the fast path.
        a.run(from_file(file.clone())).unwrap();
        b.run(Resource::from_values("events", values.clone())).unwrap();
        c.run(tiny(file.clone())).unwrap();
    }
    let (da, db) = (a.database_path(), b.database_path());
    let all = "SELECT * EXCLUDE (_dlt_id, _dlt_load_id) FROM d.events ORDER BY ALL";
    assert_eq!(etl::testing::query_file(&c.database_path(), all).unwrap(), etl::testing::query_file(&da, all).unwrap());
    let names = same_tables(&da, &db);
    assert!(names.contains(&"events__items__list".to_owned()), "{names:?}");
    // Child rows point at their parents' ids (dlt's hash of parent id, table and position).
    for db in [&da, &db] {
        let orphans = "SELECT count(*) FROM d.events__items c LEFT JOIN d.events p ON c._dlt_parent_id = p._dlt_id WHERE p._dlt_id IS NULL";
        assert_eq!(scalar(db, orphans), json!(0));
    }
    assert_eq!(scalar(&da, "SELECT count(*) FROM d.events__items"), json!(12));

    // A run rejected in normalize keeps the lines it pulled, verbatim; they load on request.
    let extra = dir.path().join("extra.jsonl");
    std::fs::write(&extra, "{\"id\": 9, \"brand_new\": 1}\n").unwrap();
    let frozen = a.clone().schema_contract(SchemaContract::all(ContractMode::Freeze));
    assert_eq!(frozen.run(from_file(extra.clone())).unwrap_err().step, etl::Step::Normalize);
    let pending = a.pending_packages();
    assert_eq!(pending.len(), 1);
    assert_eq!(std::fs::read_to_string(pending[0].dir.join("0000.raw.jsonl")).unwrap(), "{\"id\": 9, \"brand_new\": 1}\n");
    assert!(a.load_pending()[0].1.is_ok());
    assert_eq!(scalar(&da, "SELECT count(*) FROM d.events WHERE brand_new = 1"), json!(1));
}

/// A file of JSON lines is read again rather than copied: a run that fails keeps a hard link to
/// the file and how much of it the run read (with a checksum). The link survives the file being
/// replaced; a file changed in place is refused by name, and the package stays until dropped.
#[test]
fn a_failed_run_links_a_json_lines_file_instead_of_copying_it() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let lines = "{\"id\": 1}\n{\"id\": 2, \"brand_new\": true}\n{\"id\": 3}\n";
    std::fs::write(&file, lines).unwrap();
    let p = etl::pipeline("linked").dataset_name("d").working_dir(dir.path().join("w"));
    p.run(Resource::from_values("events", vec![json!({"id": 0}).into()])).unwrap();
    let frozen = p.clone().schema_contract(SchemaContract::all(ContractMode::Freeze));
    let run = || frozen.run(Resource::from_json_lines_file(etl::ResourceHints::new("events"), &file)).unwrap_err();
    assert_eq!(run().step, etl::Step::Normalize);
    let pending = p.pending_packages();
    assert_eq!(pending.len(), 1);
    let link = pending[0].dir.join("0000.raw.jsonl");
    assert_eq!(std::fs::metadata(&link).unwrap().ino(), std::fs::metadata(&file).unwrap().ino(), "a link, not a copy");
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pending[0].dir.join("0000.file.json")).unwrap()).unwrap();
    assert_eq!(record["bytes"], json!("{\"id\": 1}\n{\"id\": 2, \"brand_new\": true}\n".len()), "read up to the failing line");

    // The file is replaced (written anew and renamed over): the link still has the old lines,
    // and only those the failed run read are loaded.
    let next = dir.path().join("next.jsonl");
    std::fs::write(&next, "{\"id\": 4}\n").unwrap();
    std::fs::rename(&next, &file).unwrap();
    let loaded = p.load_pending();
    assert!(loaded[0].1.is_ok(), "{:?}", loaded[0].1);
    assert_eq!(scalar(&p.database_path(), "SELECT string_agg(id::TEXT, ',' ORDER BY id) FROM d.events"), json!("0,1,2"));
    assert!(p.pending_packages().is_empty());

    // Changed in place after the failure: refused, naming the file; nothing is loaded or lost.
    std::fs::write(&file, "{\"id\": 5}\n{\"id\": 6, \"newer\": 1}\n").unwrap();
    assert_eq!(run().step, etl::Step::Normalize);
    std::fs::write(&file, "{\"id\": 7}\n{\"id\": 8, \"newer\": 1}\n").unwrap();
    let loaded = p.load_pending();
    let err = loaded[0].1.as_ref().unwrap_err().to_string();
    assert!(err.contains("events.jsonl") && err.contains("changed in place"), "{err}");
    assert_eq!(p.pending_packages().len(), 1);
    assert_eq!(scalar(&p.database_path(), "SELECT count(*) FROM d.events"), json!(3));
    assert_eq!(p.drop_pending(), 1);
}

#[test]
fn row_ids_are_stored_uncompressed_unless_asked() {
    let sql = "SELECT count(*) FILTER (WHERE column_name IN ('_dlt_id', '_dlt_parent_id') AND segment_type = 'VARCHAR' AND compression <> 'Uncompressed') \
               FROM pragma_storage_info('ids.rows')";
    let rows: Vec<serde_json::Value> = (0..5000).map(|i| json!({"i": i, "tags": ["a"]})).collect();
    let dir = tempfile::tempdir().unwrap();
    let plain = etl::pipeline("plain_ids").dataset_name("ids").working_dir(dir.path());
    plain.run(Resource::from_data("rows", rows.clone())).unwrap();
    assert_eq!(scalar(&plain.database_path(), sql), json!(0), "uncompressed by default");
    let packed = etl::pipeline("packed_ids").dataset_name("ids").working_dir(dir.path()).compress_row_ids(true);
    packed.run(Resource::from_data("rows", rows)).unwrap();
    assert_eq!(scalar(&packed.database_path(), "SELECT count(*) FROM ids.rows"), json!(5000));
    assert_ne!(scalar(&packed.database_path(), sql), json!(0), "DuckDB picks a compression when allowed");
}

/// Typed structs (`Resource::from_data`) are written from their `Serialize` implementation where
/// the schema knows their shape; the tables are those of the same items as values. A failed run
/// keeps every item it pulled, in order (typed ones converted by the spool thread).
#[test]
fn typed_items_load_like_values_and_are_kept_when_a_run_fails_if_not_replayable() {
    use std::collections::BTreeMap;
    #[derive(serde::Serialize, Clone)]
    struct Line {
        sku: String,
        qty: u32,
    }
    #[derive(serde::Serialize, Clone)]
    enum Kind {
        View,
        Buy { amount: f64 },
    }
    #[derive(serde::Serialize, Clone)]
    struct Event {
        id: u64,
        name: Option<&'static str>,
        score: f64,
        /// A typed value: items with one take the general path.
        at: Option<chrono::DateTime<chrono::Utc>>,
        when: String,
        kind: Kind,
        dev: Option<BTreeMap<String, i64>>,
        lines: Vec<Line>,
        tags: Vec<Option<String>>,
    }
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let events: Vec<Event> = (0..40u64)
        .map(|i| Event {
            id: i,
            name: (i % 3 != 0).then_some("n"),
            score: [0.5, -0.0, 0.0][i as usize % 3],
            at: (i % 5 == 0).then_some(at),
            when: "2024-01-15T10:30:00Z".into(),
            kind: if i % 2 == 0 { Kind::View } else { Kind::Buy { amount: i as f64 } },
            dev: (i % 4 != 0).then(|| [("os".to_owned(), i as i64)].into()),
            lines: (0..i % 3).map(|k| Line { sku: format!("s{k}"), qty: k as u32 }).collect(),
            tags: vec![Some("a".into()), None],
        })
        .collect();
    let values: Vec<etl::Value> = events.iter().map(|e| etl::to_value(e).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let a = etl::pipeline("typed_pipeline").dataset_name("d").working_dir(dir.path().join("a"));
    let b = etl::pipeline("values_pipeline").dataset_name("d").working_dir(dir.path().join("b"));
    for _ in 0..2 {
        // The second run starts from the stored schema.
        a.run(Resource::from_data("events", events.clone())).unwrap();
        b.run(Resource::from_values("events", values.clone())).unwrap();
    }
    let (da, db) = (a.database_path(), b.database_path());
    let names = same_tables(&da, &db);
    assert!(names.contains(&"events__lines".to_owned()), "{names:?}");
    let negative_zeros = "SELECT count(*) FROM d.events WHERE score::VARCHAR = '-0.0'";
    assert_eq!(scalar(&da, negative_zeros), scalar(&db, negative_zeros));
    let orphans = "SELECT count(*) FROM d.events__lines c LEFT JOIN d.events p ON c._dlt_parent_id = p._dlt_id WHERE p._dlt_id IS NULL";
    assert_eq!(scalar(&da, orphans), json!(0));

    // A run rejected in normalize (a new column under a frozen contract, after items written
    // through the fast path) changes nothing. Data in the program is replayable: nothing is
    // kept, the next run pulls it again.
    let mut more = events.clone();
    more[30].dev = Some([("brand_new".to_owned(), 1)].into());
    let frozen = a.clone().schema_contract(SchemaContract::all(ContractMode::Freeze));
    let err = frozen.run(Resource::from_data("events", more.clone())).unwrap_err();
    assert_eq!(err.step, etl::Step::Normalize);
    assert!(err.to_string().contains("nothing of this run was loaded, and its resources are replayable: the next run pulls their items again"), "{err}");
    assert_eq!(a.pending_packages().len(), 0, "a replayable resource keeps nothing");
    assert_eq!(scalar(&da, "SELECT count(*) FROM d.events"), json!(80));
    let running = dir.path().join("a/.etl/pipelines/typed_pipeline/running");
    assert_eq!(running.read_dir().map(|d| d.count()).unwrap_or(0), 0, "no spool left behind");
    // A resource that is not replayable keeps what it pulled; the package loads on request.
    let once = Resource::from_data("events", more).replayable(false);
    assert!(!once.is_replayable());
    assert_eq!(frozen.run(once).unwrap_err().step, etl::Step::Normalize);
    assert_eq!(a.pending_packages().len(), 1);
    assert!(a.load_pending()[0].1.is_ok());
    assert_eq!(scalar(&da, "SELECT count(*) FROM d.events"), json!(111));
    assert_eq!(scalar(&da, "SELECT count(*) FROM d.events WHERE dev__brand_new = 1"), json!(1));
    assert_eq!(scalar(&da, "SELECT count(DISTINCT _dlt_load_id) FROM d.events"), json!(3));
}

#[test]
fn wei_columns_are_decimal_38_0_in_duckdb_and_keep_dlt_s_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("wei_pipeline").dataset_name("w").working_dir(dir.path());
    let rows = vec![json!({"balance": "123456789012345678901234567890123456"}), json!({"balance": "0x10"})];
    p.run(Resource::from_data("accounts", rows).with_columns(vec![etl::column("balance").data_type(etl::DataType::Wei)])).unwrap();
    let db = p.database_path();
    assert_eq!(columns(&db, "w", "accounts")[0], ("balance".into(), "DECIMAL(38,0)".into(), true));
    assert_eq!(scalar(&db, "SELECT string_agg(balance::VARCHAR, ',' ORDER BY balance) FROM w.accounts"), json!("16,123456789012345678901234567890123456"));
    let stored: serde_json::Value = serde_json::from_str(scalar(&db, "SELECT schema FROM w._dlt_version").as_str().unwrap()).unwrap();
    assert_eq!(stored["tables"]["accounts"]["columns"]["balance"]["data_type"], json!("wei"));
}
