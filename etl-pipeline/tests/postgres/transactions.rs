//! A session is one transaction: data, DDL and bookkeeping rows commit together or not at all.

use chrono::Utc;
use etl_core::DataType;
use etl_pipeline::destination::postgres::{bookkeeping, ddl, PgSession};
use etl_testkit::pg_or_skip;

use crate::{col, copy, create_all, texts, user_rows, users};

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

fn schema_exists(client: &mut postgres::Client, name: &str) -> bool {
    count(client, &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{name}'")) == 1
}

#[test]
fn a_committed_session_holds_tables_rows_and_bookkeeping() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let table = users();
    let mut session = PgSession::begin(&url).unwrap();
    create_all(&mut session, "ds", &table);
    assert_eq!(copy(&mut session, "ds", &table, &user_rows(&table, &[(1, "Alice"), (2, "Bob")])), 2);
    let now = Utc::now();
    session.execute_with(&bookkeeping::insert_version_sql("ds"), &[&2i64, &11i64, &now, &"simple", &"hash", &"{}"]).unwrap();
    session.execute_with(&bookkeeping::insert_load_sql("ds"), &[&"L1", &"simple", &0i64, &now, &"hash"]).unwrap();
    session.commit().unwrap();

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(texts(&mut client, "SELECT id::text, name FROM ds.users ORDER BY id"), vec![vec![Some("1".into()), Some("Alice".into())], vec![Some("2".into()), Some("Bob".into())]]);
    let stored = client.query_one(&bookkeeping::stored_schema_sql("ds"), &[&"simple"]).unwrap();
    assert_eq!((stored.get::<_, i64>(0), stored.get::<_, String>(4)), (2, "hash".into()));
    assert_eq!(count(&mut client, "SELECT count(*) FROM ds._dlt_loads WHERE status = 0"), 1);
    // The bookkeeping DDL may run again (IF NOT EXISTS), as dlt's does on every run.
    let mut again = PgSession::begin(&url).unwrap();
    for sql in bookkeeping::create_bookkeeping_sql("ds").unwrap() {
        again.execute(&sql).unwrap();
    }
    again.commit().unwrap();
}

#[test]
fn a_rolled_back_or_dropped_session_leaves_nothing() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let table = users();
    for commit_nor_rollback in [false, true] {
        let mut session = PgSession::begin(&url).unwrap();
        create_all(&mut session, "ds", &table);
        copy(&mut session, "ds", &table, &user_rows(&table, &[(1, "Alice")]));
        session.execute_with(&bookkeeping::insert_load_sql("ds"), &[&"L1", &"simple", &0i64, &Utc::now(), &"hash"]).unwrap();
        if commit_nor_rollback {
            drop(session);
        } else {
            session.rollback().unwrap();
        }
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        assert!(!schema_exists(&mut client, "ds"), "dataset, tables and rows are gone");
    }
}

#[test]
fn ddl_inside_the_transaction_is_rolled_back_with_the_data() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let table = users();
    let mut session = PgSession::begin(&url).unwrap();
    create_all(&mut session, "ds", &table);
    copy(&mut session, "ds", &table, &user_rows(&table, &[(1, "Alice")]));
    session.commit().unwrap();

    // A second run: a new column, a new nested table, more rows; then it fails.
    let mut evolved = table.clone();
    evolved.columns.push(col("email", DataType::Text));
    let mut nested = users();
    nested.name = "users__roles".into();
    let mut session = PgSession::begin(&url).unwrap();
    let existing: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let alter = ddl::table_update_sql("ds", &evolved, &existing).unwrap().unwrap();
    assert!(alter.starts_with("ALTER TABLE \"ds\".\"users\"\nADD COLUMN \"email\" varchar"), "{alter}");
    session.execute(&alter).unwrap();
    session.execute(&ddl::table_update_sql("ds", &nested, &[]).unwrap().unwrap()).unwrap();
    copy(&mut session, "ds", &table, &user_rows(&table, &[(2, "Bob"), (3, "Carol")]));
    // A statement the server refuses fails the transaction; the session is rolled back.
    assert!(session.execute("SELECT 1/0").is_err());
    session.rollback().unwrap();

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(count(&mut client, "SELECT count(*) FROM ds.users"), 1);
    assert_eq!(count(&mut client, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ds' AND table_name = 'users' AND column_name = 'email'"), 0);
    assert_eq!(count(&mut client, "SELECT count(*) FROM pg_tables WHERE schemaname = 'ds' AND tablename = 'users__roles'"), 0);
}

#[test]
fn the_unique_constraint_on_dlt_id_holds() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let table = users();
    let mut session = PgSession::begin(&url).unwrap();
    create_all(&mut session, "ds", &table);
    copy(&mut session, "ds", &table, &user_rows(&table, &[(1, "Alice")]));
    session.commit().unwrap();
    let mut session = PgSession::begin(&url).unwrap();
    let batch = user_rows(&table, &[(1, "Alice again")]);
    let err = session.copy("ds", &etl_pipeline::destination::postgres::CopyBatch::from_table_columns(&table, &batch).unwrap()).unwrap_err();
    assert!(format!("{err:?}").contains("users__dlt_id_key"), "{err:?}");
}
