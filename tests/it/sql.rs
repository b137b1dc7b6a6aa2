//! dlt's `sql_database` (issue 17) against a real, throwaway PostgreSQL server: every listed
//! column type reflected and read, primary keys, views, table names, chunks, an incremental
//! cursor pushed into the query (the second run reads only new rows), a query adapter, excluded
//! columns, and errors that name the table and column; the `sql_pipeline` example.

use std::sync::{Arc, Mutex};

use etl::sources::sql::sql_database;
use etl::Value;
use etl_testkit::pg_or_skip;

fn exec(url: &str, sql: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.batch_execute(sql).unwrap();
}

const TYPES: &str = "
    CREATE TYPE mood AS ENUM ('happy', 'sad');
    CREATE TABLE every_type (
        id integer PRIMARY KEY,
        small smallint,
        big bigint,
        price numeric(10, 2),
        loose numeric,
        ratio real,
        score double precision,
        name varchar(20),
        code char(3),
        note text,
        ok boolean,
        seen_at timestamp,
        seen_at_tz timestamptz,
        day date,
        at_time time,
        doc json,
        docb jsonb,
        raw bytea,
        uid uuid,
        nums integer[],
        feeling mood
    );
    INSERT INTO every_type VALUES
        (1, 7, 9000000000, 12.34, 1.5, 0.25, 2.5, 'Alice', 'abc', 'x', true, '2024-01-15 10:30:00', '2024-01-15 10:30:00+02',
         '2024-01-15', '10:30:01.5', '{\"a\": [1, 2]}', '{\"b\": true}', '\\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2,3}', 'happy'),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    CREATE VIEW happy_ones AS SELECT id, name FROM every_type WHERE feeling = 'happy';
";

#[test]
fn every_listed_type_is_reflected_and_read_with_its_precision() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    exec(&url, TYPES);
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("sql_types").dataset_name("copied").working_dir(dir.path());
    let info = pipeline.run(sql_database(&url).chunk_size(1).source()).unwrap();
    assert_eq!(info.rows("every_type"), 2);
    let ds = pipeline.dataset();
    assert_eq!(ds.tables().unwrap(), ["every_type"], "views only when asked");
    let rows = ds.query("SELECT * FROM every_type ORDER BY id").rows().unwrap();
    let get = |c: &str| rows.column(c).unwrap()[0].clone();
    assert_eq!(get("small"), Value::Int(7));
    assert_eq!(get("big"), Value::Int(9_000_000_000));
    assert_eq!(get("price").to_json(), serde_json::json!("12.34"));
    assert_eq!(get("loose").as_f64(), Some(1.5));
    assert_eq!(get("ratio"), Value::Float(0.25));
    assert_eq!(get("name"), Value::Text("Alice".into()));
    assert_eq!(get("code"), Value::Text("abc".into()));
    assert_eq!(get("ok"), Value::Bool(true));
    assert!(matches!(get("seen_at"), Value::Timestamp(t) if t.to_rfc3339() == "2024-01-15T10:30:00+00:00"), "{:?}", get("seen_at"));
    assert!(matches!(get("seen_at_tz"), Value::Timestamp(t) if t.to_rfc3339() == "2024-01-15T08:30:00+00:00"), "{:?}", get("seen_at_tz"));
    assert!(matches!(get("day"), Value::Date(d) if d.to_string() == "2024-01-15"));
    assert!(matches!(get("at_time"), Value::Time(t) if t.to_string() == "10:30:01.500"), "{:?}", get("at_time"));
    let json = |c: &str| serde_json::from_str::<serde_json::Value>(get(c).as_str().unwrap()).unwrap();
    assert_eq!(json("doc"), serde_json::json!({"a": [1, 2]}));
    assert_eq!(json("docb"), serde_json::json!({"b": true}));
    assert_eq!(json("nums"), serde_json::json!([1, 2, 3]));
    assert_eq!(get("raw"), Value::Bytes(vec![0, 255]));
    assert_eq!(get("uid"), Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()));
    assert_eq!(get("feeling"), Value::Text("happy".into()));
    assert!(rows.rows[1][1..20].iter().all(|v| *v == Value::Null), "the row of nulls: {:?}", rows.rows[1]);
    // The stored schema has dlt's types, precision and scale, timezone flags, nullability, key.
    let stored = pipeline.info().unwrap().schema_tables.into_iter().find(|t| t.name == "every_type").unwrap();
    let ty = |c: &str| stored.columns.iter().find(|x| x.0 == c).map(|x| (x.1.clone(), x.2)).unwrap();
    assert_eq!(ty("id"), ("bigint".into(), false), "NOT NULL reflected");
    for (c, t) in [("price", "decimal"), ("doc", "json"), ("nums", "json"), ("raw", "binary"), ("uid", "text"), ("at_time", "time"), ("seen_at_tz", "timestamp")] {
        assert_eq!(ty(c).0, t, "{c}");
    }
    let copied = postgres_type(dir.path(), "copied", "every_type", "price");
    assert_eq!(copied, "DECIMAL(10,2)");
    assert_eq!(postgres_type(dir.path(), "copied", "every_type", "seen_at"), "TIMESTAMP", "without time zone");
    assert_eq!(postgres_type(dir.path(), "copied", "every_type", "seen_at_tz"), "TIMESTAMP WITH TIME ZONE");
}

/// The DuckDB type of a copied column.
fn postgres_type(dir: &std::path::Path, schema: &str, table: &str, column: &str) -> String {
    let db = dir.join("sql_types.duckdb");
    etl_tests::columns(&db, schema, table).into_iter().find(|c| c.0 == column).map(|c| c.1).unwrap()
}

#[test]
fn an_incremental_cursor_goes_into_the_query_and_the_next_run_reads_only_new_rows() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    exec(&url, "CREATE TABLE events (id serial PRIMARY KEY, updated_at timestamptz NOT NULL, what text);
        INSERT INTO events (updated_at, what) SELECT timestamptz '2024-01-01' + i * interval '1 minute', 'e' || i FROM generate_series(1, 1000) i;");
    let dir = tempfile::tempdir().unwrap();
    let queries = Arc::new(Mutex::new(Vec::new()));
    let source = || {
        let seen = queries.clone();
        sql_database(&url)
            .incremental("events", etl::Incremental::new("updated_at").row_order(etl::RowOrder::Asc))
            .chunk_size(300)
            .query_adapter(move |table, q| {
                seen.lock().unwrap().push(format!("{table}: {q}"));
                q
            })
            .source()
    };
    let pipeline = etl::pipeline("sql_inc").dataset_name("copied").working_dir(dir.path());
    assert_eq!(pipeline.run(source()).unwrap().rows("events"), 1000);
    exec(&url, "INSERT INTO events (updated_at, what) SELECT timestamptz '2024-02-01' + i * interval '1 minute', 'n' || i FROM generate_series(1, 25) i;");
    let second = pipeline.run(source()).unwrap();
    assert_eq!(second.rows("events"), 25, "only the new rows are read (the boundary row is deduplicated)");
    assert_eq!(pipeline.dataset().row_counts().unwrap()["events"], 1025);
    let queries = queries.lock().unwrap();
    assert!(!queries[0].contains("WHERE"), "the first run has no start: {}", queries[0]);
    assert!(queries[1].contains("WHERE \"updated_at\" >= $1::text::timestamp with time zone") && queries[1].ends_with("ORDER BY \"updated_at\" ASC"), "{}", queries[1]);
}

#[test]
fn views_table_names_adapters_exclusions_and_errors() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    exec(&url, TYPES);
    exec(&url, "CREATE TABLE odd (id int PRIMARY KEY, span interval, label text); INSERT INTO odd VALUES (1, '1 day', 'a'), (2, '2 days', 'b');");
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, source: etl::Source| etl::pipeline(name).dataset_name("copied").working_dir(dir.path()).run(source);
    // A named view is read; the view's rows.
    let info = run("views", sql_database(&url).table_names(["happy_ones"]).source()).unwrap();
    assert_eq!(info.rows("happy_ones"), 1);
    // An unreadable type names table and column; nothing is loaded for the failed run.
    let err = run("odd", sql_database(&url).table_names(["odd"]).source()).unwrap_err().to_string();
    assert!(err.contains("table `odd`, column `span`: type `interval` cannot be read"), "{err}");
    assert!(!dir.path().join("odd.duckdb").exists(), "a failed first run leaves no file");
    // Excluded, or cast by a query adapter.
    assert_eq!(run("odd", sql_database(&url).table_names(["odd"]).exclude_columns("odd", ["span"]).source()).unwrap().rows("odd"), 2);
    let adapted = sql_database(&url)
        .table_names(["odd"])
        .exclude_columns("odd", ["span"])
        .query_adapter(|_, q| format!("{q} WHERE id > 1"))
        .source();
    assert_eq!(run("odd_adapted", adapted).unwrap().rows("odd"), 1);
    // A table that does not exist, and a server that cannot be reached.
    let err = run("missing", sql_database(&url).table_names(["nope"]).source()).unwrap_err().to_string();
    assert!(err.contains("table `nope` does not exist in schema `public`") && err.contains("every_type"), "{err}");
    let err = run("down", sql_database("postgresql://etl:hunter2@127.0.0.1:1/db").source()).unwrap_err().to_string();
    assert!(err.contains("cannot connect to 127.0.0.1:1/db as etl") && !err.contains("hunter2"), "{err}");
}

#[test]
fn a_value_that_does_not_fit_fails_the_run_naming_table_and_column_and_loads_nothing() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    exec(&url, "CREATE TABLE amounts (id int PRIMARY KEY, v numeric); INSERT INTO amounts SELECT i, i FROM generate_series(1, 100) i; INSERT INTO amounts VALUES (101, 0.123456789012);");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("amounts").dataset_name("copied").working_dir(dir.path());
    let err = pipeline.run(sql_database(&url).chunk_size(10).source()).unwrap_err().to_string();
    assert!(err.contains("table `amounts`") && err.contains("column `v`") && err.contains("12 decimals"), "{err}");
    assert!(!dir.path().join("amounts.duckdb").exists());
}

#[test]
fn the_sql_pipeline_example_copies_every_public_table() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    exec(&url, TYPES);
    exec(&url, "CREATE TABLE second (id int PRIMARY KEY, v text); INSERT INTO second SELECT i, 'v' || i FROM generate_series(1, 500) i;");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(etl_tests::example_binary("sql_pipeline")).args(["--url", &url, "materialize"]).current_dir(dir.path()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("MATERIALIZED dlt_sql_database_every_type") && text.contains("MATERIALIZED dlt_sql_database_second"), "{text}");
    let db = dir.path().join("sql_pipeline.duckdb");
    assert_eq!(etl_tests::scalar(&db, "SELECT count(*) FROM sql_data.second"), serde_json::json!(500));
}

#[test]
fn a_duckdb_file_is_a_sql_database_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("source.duckdb");
    etl::testing::execute_file(
        &file,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, price DECIMAL(10,2), name VARCHAR, tags VARCHAR[], seen TIMESTAMP, doc JSON, raw BLOB, ok BOOLEAN);
         INSERT INTO items SELECT i, i * 1.25, 'item ' || i, ['a', 'b'], TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE, '{\"k\": 1}', '\\xAA'::BLOB, i % 2 = 0
         FROM range(1, 5001) t(i);
         CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10;",
    )
    .unwrap();
    let url = format!("duckdb:///{}", file.display().to_string().trim_start_matches('/'));
    let pipeline = etl::pipeline("from_duckdb").dataset_name("copied").working_dir(dir.path());
    let source = || {
        sql_database(&url)
            .incremental("items", etl::Incremental::new("seen"))
            .chunk_size(1000)
            .source()
    };
    let info = pipeline.run(source()).unwrap();
    assert_eq!(info.rows("items"), 5000);
    assert!(info.rows("cheap") == 0, "views only when asked");
    let ds = pipeline.dataset();
    let r = ds.query("SELECT price, name, tags, ok FROM items WHERE id = 4").rows().unwrap();
    assert_eq!(r.rows[0][0].to_json(), serde_json::json!("5.00"));
    assert_eq!(r.rows[0][1], Value::Text("item 4".into()));
    assert_eq!(serde_json::from_str::<serde_json::Value>(r.rows[0][2].as_str().unwrap()).unwrap(), serde_json::json!(["a", "b"]));
    assert_eq!(r.rows[0][3], Value::Bool(true));
    // The next run reads only rows from the cursor on: nothing new, one boundary row deduplicated.
    assert_eq!(pipeline.run(source()).unwrap().rows("items"), 0);
    let views = etl::pipeline("duck_views").dataset_name("copied").working_dir(dir.path());
    assert_eq!(views.run(sql_database(&url).table_names(["cheap"]).source()).unwrap().rows("cheap"), 7);
}
