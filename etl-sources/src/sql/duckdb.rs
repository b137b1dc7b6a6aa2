//! DuckDB files for `sql_database` (`duckdb:///path/to/file.duckdb`): reflection from
//! `information_schema` and `duckdb_constraints()`, and a table's rows as DuckDB's own Arrow
//! record batches, gathered into chunks of `chunk_size` rows by a thread of its own (the file is
//! opened read-only).

use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use etl_core::hints::DataType;
use etl_core::naming::quote_ident;
use etl_core::resource::ArrowBatches;

use super::{SqlColumn, SqlError, SqlTable};

/// The file of a `duckdb:///path` URL (or a path ending in `.duckdb`).
pub fn file_of(url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("duckdb:///") {
        return Some(PathBuf::from(if path.starts_with('/') || cfg!(windows) { path.to_owned() } else { format!("/{path}") }));
    }
    if let Some(path) = url.strip_prefix("duckdb://") {
        return Some(PathBuf::from(path));
    }
    url.ends_with(".duckdb").then(|| PathBuf::from(url))
}

fn open(path: &Path) -> Result<duckdb::Connection, SqlError> {
    if !path.is_file() {
        return Err(SqlError::Connect { target: path.display().to_string(), message: "no such DuckDB file".into() });
    }
    let config = duckdb::Config::default()
        .access_mode(duckdb::AccessMode::ReadOnly)
        .map_err(|e| SqlError::Connect { target: path.display().to_string(), message: e.to_string() })?;
    duckdb::Connection::open_with_flags(path, config).map_err(|e| SqlError::Connect { target: path.display().to_string(), message: e.to_string() })
}

fn query_error(what: &str) -> impl Fn(duckdb::Error) -> SqlError + '_ {
    move |e| SqlError::Query { what: what.to_owned(), message: e.to_string() }
}

/// dlt's type of a DuckDB column type (`DECIMAL(10,2)`, `TIMESTAMP WITH TIME ZONE`, ...).
fn dlt_type(t: &str) -> Option<(DataType, Option<u32>, Option<u32>, Option<bool>)> {
    let upper = t.to_ascii_uppercase();
    if let Some(shape) = upper.strip_prefix("DECIMAL(").and_then(|r| r.strip_suffix(')')) {
        let (p, s) = shape.split_once(',')?;
        return Some((DataType::Decimal, p.trim().parse().ok(), s.trim().parse().ok(), None));
    }
    if upper.ends_with("[]") || upper.starts_with("STRUCT") || upper.starts_with("MAP") || upper.contains("[") {
        return Some((DataType::Json, None, None, None));
    }
    Some(match upper.as_str() {
        "BOOLEAN" => (DataType::Bool, None, None, None),
        "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "UTINYINT" | "USMALLINT" | "UINTEGER" => (DataType::Bigint, None, None, None),
        "UBIGINT" | "HUGEINT" | "UHUGEINT" => (DataType::Bigint, Some(128), None, None),
        "FLOAT" | "DOUBLE" => (DataType::Double, None, None, None),
        "VARCHAR" | "UUID" => (DataType::Text, None, None, None),
        "JSON" => (DataType::Json, None, None, None),
        "BLOB" => (DataType::Binary, None, None, None),
        "DATE" => (DataType::Date, None, None, None),
        "TIME" => (DataType::Time, None, None, None),
        "TIMESTAMP" | "TIMESTAMP_S" | "TIMESTAMP_MS" | "TIMESTAMP_NS" => (DataType::Timestamp, None, None, Some(false)),
        "TIMESTAMP WITH TIME ZONE" => (DataType::Timestamp, None, None, Some(true)),
        _ => return None,
    })
}

/// The tables (and views, with `views`) of `schema` in the file.
pub fn reflect(path: &Path, schema: &str, views: bool) -> Result<Vec<SqlTable>, SqlError> {
    let conn = open(path)?;
    let mut tables: Vec<SqlTable> = Vec::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT c.table_name, t.table_type, c.column_name, c.is_nullable, c.data_type
                 FROM information_schema.columns c
                 JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_catalog = c.table_catalog
                 WHERE c.table_schema = ? AND c.table_catalog = current_database()
                 ORDER BY c.table_name, c.ordinal_position",
            )
            .map_err(query_error("reflecting the tables"))?;
        let mut rows = stmt.query([schema]).map_err(query_error("reflecting the tables"))?;
        while let Some(row) = rows.next().map_err(query_error("reflecting the tables"))? {
            let (table, kind, name, nullable, type_name): (String, String, String, String, String) =
                (row.get(0).map_err(query_error("reflecting"))?, row.get(1).map_err(query_error("reflecting"))?, row.get(2).map_err(query_error("reflecting"))?, row.get(3).map_err(query_error("reflecting"))?, row.get(4).map_err(query_error("reflecting"))?);
            let view = kind.contains("VIEW");
            if view && !views {
                continue;
            }
            if tables.last().is_none_or(|t| t.name != table) {
                tables.push(SqlTable { name: table.clone(), view, columns: Vec::new(), primary_key: Vec::new() });
            }
            let data_type = dlt_type(&type_name);
            let select = if matches!(data_type, Some((DataType::Json, ..))) && !type_name.eq_ignore_ascii_case("JSON") {
                format!("to_json({0})::VARCHAR AS {0}", quote_ident(&name))
            } else if type_name.eq_ignore_ascii_case("UUID") {
                format!("{0}::VARCHAR AS {0}", quote_ident(&name))
            } else {
                quote_ident(&name)
            };
            tables.last_mut().expect("pushed").columns.push(SqlColumn { name, type_name, data_type, nullable: nullable == "YES", select });
        }
    }
    let mut stmt = conn
        .prepare("SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE schema_name = ? AND constraint_type = 'PRIMARY KEY'")
        .map_err(query_error("reflecting the primary keys"))?;
    let mut rows = stmt.query([schema]).map_err(query_error("reflecting the primary keys"))?;
    while let Some(row) = rows.next().map_err(query_error("reflecting the primary keys"))? {
        let table: String = row.get(0).map_err(query_error("reflecting"))?;
        let columns: duckdb::types::Value = row.get(1).map_err(query_error("reflecting"))?;
        if let (Some(t), duckdb::types::Value::List(cols)) = (tables.iter_mut().find(|t| t.name == table), columns) {
            t.primary_key = cols.into_iter().filter_map(|c| if let duckdb::types::Value::Text(s) = c { Some(s) } else { None }).collect();
        }
    }
    Ok(tables)
}

/// The rows of `sql` (with its text parameters) in record batches of about `chunk_size` rows,
/// read by a thread of its own ([`super::reader`]).
pub fn stream(path: &Path, table: SqlTable, sql: String, params: Vec<String>, chunk_size: usize) -> Result<ArrowBatches, SqlError> {
    let conn = open(path)?;
    let name = table.name.clone();
    super::reader(&name, move |ready, send| {
        let mut stmt = conn.prepare(&sql).map_err(|e| SqlError::Query { what: format!("table `{}`: {sql}", table.name), message: e.to_string() })?;
        let values: Vec<&dyn duckdb::ToSql> = params.iter().map(|p| p as &dyn duckdb::ToSql).collect();
        let batches = stmt.query_arrow(values.as_slice()).map_err(query_error("reading rows"))?;
        ready();
        let concat = |pending: &[RecordBatch]| {
            arrow::compute::concat_batches(&pending[0].schema(), pending).map_err(|e| SqlError::Read { table: table.name.clone(), message: e.to_string() })
        };
        let (mut pending, mut rows) = (Vec::new(), 0);
        for batch in batches {
            rows += batch.num_rows();
            pending.push(batch);
            if rows >= chunk_size {
                let chunk = concat(&pending)?;
                (pending, rows) = (Vec::new(), 0);
                if !send(chunk) {
                    return Ok(());
                }
            }
        }
        if !pending.is_empty() {
            send(concat(&pending)?);
        }
        Ok(())
    })
}
