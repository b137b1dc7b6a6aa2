//! PostgreSQL building blocks against a real, throwaway server (`etl-testkit`): DDL and
//! bookkeeping tables, binary COPY of every column type, transactions, and the layout of the
//! goldens dlt 1.31 wrote to PostgreSQL 15.

mod copy;
mod goldens;
mod pipeline;
mod transactions;

use etl_core::columnar::TableColumns;
use etl_core::{Column, DataType, Table, Value};
use etl_pipeline::destination::postgres::{bookkeeping, ddl, CopyBatch, PgSession};

/// A nullable column.
pub fn col(name: &str, t: DataType) -> Column {
    Column { name: name.into(), data_type: Some(t), nullable: true, ..Default::default() }
}

/// A small user table: `id bigint, name varchar, _dlt_load_id varchar NOT NULL, _dlt_id varchar
/// UNIQUE NOT NULL`.
pub fn users() -> Table {
    let mut load_id = col("_dlt_load_id", DataType::Text);
    load_id.nullable = false;
    let mut id = col("_dlt_id", DataType::Text);
    (id.nullable, id.unique, id.row_key) = (false, true, true);
    Table { name: "users".into(), columns: vec![col("id", DataType::Bigint), col("name", DataType::Text), load_id, id], ..Default::default() }
}

/// Rows `(id, name, load id, row id)` of [`users`] as column buffers.
pub fn user_rows(table: &Table, rows: &[(i64, &str)]) -> TableColumns {
    let mut buffers = TableColumns::default();
    for (i, (id, name)) in rows.iter().enumerate() {
        let row = [(0, Value::Int(*id)), (1, Value::Text((*name).into())), (2, Value::Text("L1".into())), (3, Value::Text(format!("row{id}_{i}")))];
        buffers.push_row(table, &row).unwrap();
    }
    buffers
}

/// In one session: the dataset, the bookkeeping tables and `table`, created.
pub fn create_all(session: &mut PgSession, dataset: &str, table: &Table) {
    session.execute(&ddl::create_dataset_sql(dataset)).unwrap();
    for sql in bookkeeping::create_bookkeeping_sql(dataset).unwrap() {
        session.execute(&sql).unwrap();
    }
    session.execute(&ddl::table_update_sql(dataset, table, &[]).unwrap().unwrap()).unwrap();
}

/// COPYs `buffers` of `table` into `dataset`.
pub fn copy(session: &mut PgSession, dataset: &str, table: &Table, buffers: &TableColumns) -> u64 {
    let batch = CopyBatch::from_table_columns(table, buffers).unwrap();
    session.copy(dataset, &batch).unwrap()
}

/// Rows of a query, every column as text (NULL as `None`).
pub fn texts(client: &mut postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let rows = client.query(sql, &[]).unwrap();
    rows.iter().map(|r| (0..r.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect()
}
