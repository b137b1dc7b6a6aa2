//! Whole pipeline runs into PostgreSQL: every write disposition and merge strategy, state and
//! schema restored from the server by a fresh worker, failed runs that leave nothing, a
//! destination chosen by configuration, and many writers on one dataset.

use etl_core::hints::MergeStrategy;
use etl_core::{Resource, WriteDisposition};
use etl_pipeline::destination::postgres::PgDataset;
use etl_pipeline::{pipeline, postgres, Pipeline, Step};
use etl_testkit::pg_or_skip;
use serde_json::{json, Value as J};

use crate::texts;

fn count(client: &mut ::postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

fn connect(url: &str) -> ::postgres::Client {
    ::postgres::Client::connect(url, ::postgres::NoTls).unwrap()
}

fn pg_pipeline(name: &str, url: &str, dir: &tempfile::TempDir) -> Pipeline {
    pipeline(name).dataset_name("shop").destination(postgres(url)).working_dir(dir.path())
}

fn merged(name: &str, rows: Vec<J>, strategy: MergeStrategy) -> Resource {
    let mut r = Resource::from_data(name, rows).with_write_disposition(WriteDisposition::Merge).with_primary_key(["id"]);
    r.hints_mut().merge_strategy = strategy;
    r
}

#[test]
fn append_replace_and_nested_tables_with_dlt_types_and_bookkeeping() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pg_pipeline("pg_append", &url, &dir);
    let info = p.run(Resource::from_data("orders", vec![json!({"id": 1, "items": [{"sku": "a"}, {"sku": "b"}], "paid": true, "total": 1.5})])).unwrap();
    assert_eq!((info.destination_name.as_str(), info.destination_type.as_str()), ("postgres", "dlt.destinations.postgres"));
    assert!(!info.location.contains("password") && info.database_path.is_none(), "{}", info.location);
    p.run(Resource::from_data("orders", vec![json!({"id": 2, "items": [{"sku": "c"}], "paid": false, "total": 2})])).unwrap();
    let mut c = connect(&url);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop.orders"), 2);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop.orders__items"), 3);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop._dlt_loads WHERE status = 0"), 2);
    let types = texts(&mut c, "SELECT column_name::text, format_type(atttypid, atttypmod) FROM information_schema.columns JOIN pg_attribute ON attrelid = 'shop.orders'::regclass AND attname = column_name WHERE table_schema = 'shop' AND table_name = 'orders' ORDER BY ordinal_position");
    let types: Vec<(String, String)> = types.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    assert_eq!(
        types,
        [("id", "bigint"), ("paid", "boolean"), ("total", "double precision"), ("_dlt_load_id", "character varying"), ("_dlt_id", "character varying")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'shop.orders'::regclass AND contype = 'u'"), 1, "UNIQUE (_dlt_id), as dlt");

    let replace = |rows: Vec<J>| Resource::from_data("orders", rows).with_write_disposition(WriteDisposition::Replace);
    p.run(replace(vec![json!({"id": 9, "items": [{"sku": "z"}]})])).unwrap();
    assert_eq!(texts(&mut c, "SELECT id::text FROM shop.orders"), vec![vec![Some("9".into())]]);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop.orders__items"), 1);
}

#[test]
fn every_merge_strategy_and_a_fresh_worker_continues_from_the_server() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pg_pipeline("pg_merge", &url, &dir);
    for strategy in [MergeStrategy::DeleteInsert, MergeStrategy::Upsert] {
        let table = format!("{strategy:?}_t").to_lowercase();
        p.run(merged(&table, vec![json!({"id": 1, "v": "a", "tags": ["x", "y"]}), json!({"id": 2, "v": "b"})], strategy)).unwrap();
        // delete-insert keeps one row per key of a load; upsert's keys are unique in a load (a
        // row's nested ids derive from its key, as dlt's do, so two versions cannot be told apart).
        let second = match strategy {
            MergeStrategy::DeleteInsert => vec![json!({"id": 1, "v": "a2", "tags": ["z"]}), json!({"id": 1, "v": "a3", "tags": ["w"]})],
            _ => vec![json!({"id": 1, "v": "a3", "tags": ["w"]})],
        };
        p.run(merged(&table, second, strategy)).unwrap();
        let mut c = connect(&url);
        let rows = texts(&mut c, &format!("SELECT id::text, v FROM shop.{table} ORDER BY id"));
        assert_eq!(rows.len(), 2, "{strategy:?}: one row per key: {rows:?}");
        assert_eq!(rows[1][1].as_deref(), Some("b"));
        assert_eq!(count(&mut c, &format!("SELECT count(*) FROM shop.{table}__tags")), 1, "{strategy:?}: the old nested rows went");
    }
    // scd2: a changed record is retired and its new version inserted.
    let dim = |rows: Vec<J>| merged("dim", rows, MergeStrategy::Scd2);
    p.run(dim(vec![json!({"id": 1, "name": "a"}), json!({"id": 2, "name": "b"})])).unwrap();
    p.run(dim(vec![json!({"id": 1, "name": "a"}), json!({"id": 2, "name": "b2"})])).unwrap();
    let mut c = connect(&url);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop.dim"), 3);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop.dim WHERE _dlt_valid_to IS NULL"), 2);
    assert_eq!(texts(&mut c, "SELECT name FROM shop.dim WHERE _dlt_valid_to IS NOT NULL"), vec![vec![Some("b".into())]]);
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'shop%staging%'"), 0, "no shared staging schema");

    // A worker with an empty working directory restores state and schema from the server.
    let cursor = |rows: Vec<J>| {
        Resource::from_data("events", rows).with_incremental(etl_core::incremental::Incremental::new("ts"))
    };
    p.run(cursor(vec![json!({"ts": 1}), json!({"ts": 5})])).unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = pg_pipeline("pg_merge", &url, &fresh_dir);
    let info = fresh.run(cursor(vec![json!({"ts": 3}), json!({"ts": 5}), json!({"ts": 7})])).unwrap();
    assert!(!info.first_run);
    assert_eq!(info.rows("events"), 1, "only ts 7 is new after the restored cursor 5");
}

#[test]
fn a_failed_run_leaves_nothing_not_even_ddl() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pg_pipeline("pg_fail", &url, &dir);
    p.run(Resource::from_data("users", vec![json!({"id": 1})])).unwrap();
    // Many batches go in, a new column and a new table are created, then the resource fails.
    let failing = Resource::new(etl_core::ResourceHints::new("users"), || {
        let ok = (0..50_000).map(|i| Ok(etl_core::Value::from(json!({"id": i, "extra": "x", "kids": [1]}))));
        Ok(Box::new(ok.chain(std::iter::once(Err("the source broke".into())))) as etl_core::resource::Items)
    });
    let err = p.run(failing).unwrap_err();
    assert_eq!(err.step, Step::Extract);
    let mut c = connect(&url);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop.users"), 1);
    assert_eq!(count(&mut c, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'shop' AND table_name = 'users'"), 3);
    assert_eq!(count(&mut c, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'users__kids'"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop._dlt_loads"), 1);
}

#[test]
fn a_second_run_of_a_pipeline_is_refused_naming_the_holder() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Another machine's run: a connection holding the pipeline's lock.
    let mut other = PgDataset::open(&url, "shop").unwrap();
    other.lock_pipeline("pg_locked", "there").unwrap();
    let p = pg_pipeline("pg_locked", &url, &dir);
    let err = p.run(Resource::from_data("users", vec![json!({"id": 1})])).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.step, Step::Config);
    assert!(text.contains("pipeline `pg_locked` is already running") && text.contains("held by etl pid") && text.contains("connected from"), "{text}");
    // Another pipeline on the same dataset is not blocked; the lock goes with the connection.
    pg_pipeline("pg_other", &url, &dir).run(Resource::from_data("users", vec![json!({"id": 1})])).unwrap();
    drop(other);
    p.run(Resource::from_data("users", vec![json!({"id": 2})])).unwrap();
}

#[test]
fn two_pipelines_merging_into_one_table_at_once_neither_duplicate_nor_drop() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let rounds = 6;
    std::thread::scope(|s| {
        for (w, dir) in dirs.iter().enumerate() {
            let url = url.clone();
            s.spawn(move || {
                let p = pg_pipeline(&format!("writer_{w}"), &url, dir);
                for round in 0..rounds {
                    // Both writers write every key: the shared keys 0..50 and their own 1000 + w.
                    let rows: Vec<J> = (0..50).chain([1000 + w]).map(|id| json!({"id": id, "by": w, "round": round, "tags": [w, round]})).collect();
                    p.run(merged("items", rows, MergeStrategy::DeleteInsert)).unwrap();
                }
            });
        }
    });
    let mut c = connect(&url);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop.items"), 52, "one row per key");
    assert_eq!(count(&mut c, "SELECT count(DISTINCT id) FROM shop.items"), 52);
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop.items__tags"), 104, "two nested rows per kept row");
    assert_eq!(count(&mut c, "SELECT count(*) FROM shop._dlt_loads"), 2 * rounds as i64);
}

#[test]
fn credentials_in_the_secrets_file_choose_postgres() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
    std::fs::write(dir.path().join(".etl/secrets.toml"), format!("[destination.postgres]\ncredentials = \"{url}\"\n")).unwrap();
    let p = pipeline("pg_configured").dataset_name("conf").working_dir(dir.path());
    let info = p.run(Resource::from_data("users", vec![json!({"id": 1})])).unwrap();
    assert_eq!(info.destination_name, "postgres");
    assert!(!dir.path().join("pg_configured.duckdb").exists());
    let mut c = connect(&url);
    assert_eq!(count(&mut c, "SELECT count(*) FROM conf.users"), 1);
    let pinfo = p.info().unwrap();
    assert!(pinfo.exists && pinfo.tables.iter().any(|(t, n)| t == "users" && *n == 1), "{pinfo:?}");
}

#[test]
fn wei_and_numerics_beyond_28_digits_arrive_exactly() {
    use etl_core::hints::ColumnHint;
    use etl_core::DataType;
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pg_pipeline("pg_wei", &url, &dir);
    let rows = vec![
        json!({"id": 1, "balance": "123456789012345678901234567890123456", "amount": "12345678901234567890123456789012.34"}),
        json!({"id": 2, "balance": "0xff", "amount": 1.5}),
        json!({"id": 3, "balance": u64::MAX, "amount": "-0.01"}),
    ];
    let hints = vec![ColumnHint::new("balance").data_type(DataType::Wei), ColumnHint::new("amount").data_type(DataType::Decimal).precision(38).scale(2)];
    p.run(Resource::from_data("accounts", rows).with_columns(hints)).unwrap();
    let mut c = connect(&url);
    let types = texts(&mut c, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'shop.accounts'::regclass AND attname IN ('balance', 'amount') ORDER BY attname");
    assert_eq!(types, vec![vec![Some("numeric(38,2)".into())], vec![Some("numeric(156,78)".into())]]);
    let values = texts(&mut c, "SELECT trim_scale(balance)::text, amount::text FROM shop.accounts ORDER BY id");
    assert_eq!(
        values,
        vec![
            vec![Some("123456789012345678901234567890123456".into()), Some("12345678901234567890123456789012.34".into())],
            vec![Some("255".into()), Some("1.50".into())],
            vec![Some("18446744073709551615".into()), Some("-0.01".into())],
        ]
    );
    // The stored schema keeps dlt's type name.
    let stored: String = c.query_one("SELECT schema FROM shop._dlt_version ORDER BY inserted_at DESC LIMIT 1", &[]).unwrap().get(0);
    let stored: J = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["tables"]["accounts"]["columns"]["balance"]["data_type"], json!("wei"));
}
