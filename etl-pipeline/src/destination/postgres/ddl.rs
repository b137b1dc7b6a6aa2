//! The DDL dlt's `postgres` destination writes (`SqlJobClientBase._get_table_update_sql` with
//! `PostgresClient`'s hints), every identifier quoted:
//!
//! * `CREATE SCHEMA "dataset"` for a dataset that does not exist yet;
//! * a new table: `CREATE TABLE "dataset"."table" (` one column definition per line `)`, with
//!   `IF NOT EXISTS` for dlt's own tables (`_dlt_version`, `_dlt_loads`, `_dlt_pipeline_state`);
//! * new columns of an existing table: one `ALTER TABLE "dataset"."table"` with an
//!   `ADD COLUMN <definition>` per column, comma-separated;
//! * a column definition: `"name" <type> [UNIQUE] [NOT NULL]`: `UNIQUE` for a column with the
//!   `unique` hint (dlt's `create_indexes`, on by default; in practice `_dlt_id`, whose constraint
//!   PostgreSQL names `<table>__dlt_id_key`), `NOT NULL` for a column that is not nullable. No
//!   PRIMARY KEY, even for `primary_key` hints; no other index.

use etl_core::naming::quote_ident;
use etl_core::schema::{LOADS_TABLE, STATE_TABLE, VERSION_TABLE};
use etl_core::{Column, Table};

use super::types::{PgType, TypeError};

/// A statement that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DdlError {
    /// A column's type has no PostgreSQL mapping.
    #[error("column `{column}` of table `{table}`")]
    Type {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Why.
        #[source]
        source: TypeError,
    },
    /// A table or column change without columns.
    #[error("table `{0}`: no columns to create or add")]
    NoColumns(String),
}

/// Whether `table` is one of dlt's own tables (created `IF NOT EXISTS`).
pub fn is_dlt_table(table: &str) -> bool {
    [VERSION_TABLE, LOADS_TABLE, STATE_TABLE].contains(&table)
}

/// `"dataset"."table"`.
pub fn qualified_name(dataset: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(dataset), quote_ident(table))
}

/// `CREATE SCHEMA "dataset"` (dlt creates the dataset when `has_dataset` finds none).
pub fn create_dataset_sql(dataset: &str) -> String {
    format!("CREATE SCHEMA {}", quote_ident(dataset))
}

/// A column's name and type, without constraints: `"name" <type>` (a staging table's column).
pub fn column_type_def(table: &str, column: &Column) -> Result<String, DdlError> {
    let pg = PgType::of_column(column).map_err(|source| DdlError::Type { table: table.to_owned(), column: column.name.clone(), source })?;
    Ok(format!("{} {}", quote_ident(&column.name), pg.ddl()))
}

/// A column's definition: `"name" <type> [UNIQUE] [NOT NULL]`.
pub fn column_def(table: &str, column: &Column) -> Result<String, DdlError> {
    let mut def = column_type_def(table, column)?;
    if column.unique {
        def.push_str(" UNIQUE");
    }
    if !column.nullable {
        def.push_str(" NOT NULL");
    }
    Ok(def)
}

fn defs(table: &str, columns: &[&Column]) -> Result<Vec<String>, DdlError> {
    if columns.is_empty() {
        return Err(DdlError::NoColumns(table.to_owned()));
    }
    columns.iter().map(|c| column_def(table, c)).collect()
}

/// `CREATE TABLE [IF NOT EXISTS] "dataset"."table" (...)` with `columns` (the table's complete
/// columns, in table order).
pub fn create_table_sql(dataset: &str, table: &Table, columns: &[&Column]) -> Result<String, DdlError> {
    let defs = defs(&table.name, columns)?;
    let not_exists = if is_dlt_table(&table.name) { " IF NOT EXISTS" } else { "" };
    Ok(format!("CREATE TABLE{not_exists} {} (\n{})", qualified_name(dataset, &table.name), defs.join(",\n")))
}

/// `ALTER TABLE "dataset"."table"` adding `columns`.
pub fn add_columns_sql(dataset: &str, table: &str, columns: &[&Column]) -> Result<String, DdlError> {
    let adds: Vec<String> = defs(table, columns)?.into_iter().map(|d| format!("ADD COLUMN {d}")).collect();
    Ok(format!("ALTER TABLE {}\n{}", qualified_name(dataset, table), adds.join(",\n")))
}

/// The statement that brings `table` up to date given the columns the destination has
/// (`existing`, empty when the table does not exist): a `CREATE TABLE`, an `ALTER TABLE` or
/// nothing. Columns without a type are skipped, as dlt does.
pub fn table_update_sql(dataset: &str, table: &Table, existing: &[&str]) -> Result<Option<String>, DdlError> {
    let new: Vec<&Column> = table.complete_columns().filter(|c| !existing.contains(&c.name.as_str())).collect();
    if new.is_empty() {
        return Ok(None);
    }
    if existing.is_empty() {
        create_table_sql(dataset, table, &new).map(Some)
    } else {
        add_columns_sql(dataset, &table.name, &new).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etl_core::DataType;

    fn col(name: &str, t: DataType, nullable: bool) -> Column {
        Column { name: name.into(), data_type: Some(t), nullable, ..Default::default() }
    }

    fn table() -> Table {
        let mut id = col("_dlt_id", DataType::Text, false);
        id.unique = true;
        id.row_key = true;
        let mut amount = col("amount", DataType::Decimal, true);
        (amount.precision, amount.scale) = (Some(10), Some(2));
        Table {
            name: "orders".into(),
            columns: vec![col("id", DataType::Bigint, true), amount, col("_dlt_load_id", DataType::Text, false), id, Column { name: "pending".into(), nullable: true, ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn create_table_quotes_everything_and_marks_unique_and_not_null() {
        let sql = table_update_sql("shop", &table(), &[]).unwrap().unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE \"shop\".\"orders\" (\n\"id\" bigint,\n\"amount\" numeric(10,2),\n\"_dlt_load_id\" varchar NOT NULL,\n\"_dlt_id\" varchar UNIQUE NOT NULL)"
        );
    }

    #[test]
    fn new_columns_are_one_alter_table_and_nothing_when_up_to_date() {
        let mut t = table();
        t.columns.push(col("note", DataType::Json, true));
        t.columns.push(col("ts", DataType::Timestamp, true));
        let sql = table_update_sql("shop", &t, &["id", "amount", "_dlt_load_id", "_dlt_id"]).unwrap().unwrap();
        assert_eq!(sql, "ALTER TABLE \"shop\".\"orders\"\nADD COLUMN \"note\" jsonb,\nADD COLUMN \"ts\" timestamp with time zone");
        assert_eq!(table_update_sql("shop", &t, &["id", "amount", "_dlt_load_id", "_dlt_id", "note", "ts"]).unwrap(), None);
    }

    #[test]
    fn identifiers_cannot_break_out_of_their_quotes() {
        let t = Table { name: "a\"; DROP TABLE x; --".into(), columns: vec![col("b\"c", DataType::Text, true)], ..Default::default() };
        let sql = table_update_sql("d\"s", &t, &[]).unwrap().unwrap();
        assert_eq!(sql, "CREATE TABLE \"d\"\"s\".\"a\"\"; DROP TABLE x; --\" (\n\"b\"\"c\" varchar)");
    }

    #[test]
    fn unmappable_types_are_errors_naming_table_and_column() {
        let mut wide = col("n", DataType::Bigint, true);
        wide.precision = Some(128);
        let t = Table { name: "t".into(), columns: vec![wide], ..Default::default() };
        let err = table_update_sql("d", &t, &[]).unwrap_err();
        assert!(matches!(&err, DdlError::Type { table, column, source: TypeError::IntegerTooWide { precision: 128 } } if table == "t" && column == "n"));
        assert_eq!(create_table_sql("d", &t, &[]), Err(DdlError::NoColumns("t".into())));
    }
}
