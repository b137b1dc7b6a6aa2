//! dlt's `sql_database` / `sql_table` for PostgreSQL and DuckDB files (`duckdb:///path`): the tables (and, if asked, views) of a
//! schema, reflected with their types, primary keys and nullability, each a resource named
//! after its table whose rows stream in chunks of `chunk_size` as Arrow record batches, which
//! the pipeline writes column by column (no row values).
//!
//! ```no_run
//! let source = etl_sources::sql::sql_database("postgresql://etl@db/shop")
//!     .table_names(["orders", "customers"])
//!     .incremental("orders", etl_core::Incremental::new("updated_at"))
//!     .source();
//! ```
//!
//! As dlt: the resource is the table's name, its write disposition `append`, its primary key the
//! table's; types are reflected as dlt's `full` reflection level gives them (`numeric(p, s)` →
//! `decimal` of that precision and scale, `timestamp` with or without time zone → `timestamp`
//! with its `timezone` flag, `date`, `time`, `json`/`jsonb` → `json`, `bytea` → `binary`,
//! `uuid` and enums → `text`, arrays → `json`); an incremental cursor is pushed into the query
//! (`WHERE cursor >= start [AND cursor < end]`, `ORDER BY cursor` when the row order is given);
//! a query adapter may rewrite each table's query. Unlike dlt, a column of a type the reader
//! cannot read (`interval`, `inet`, ...) is an error naming table and column when the table is
//! read: exclude it ([`SqlDatabase::exclude_columns`]) or cast it in a query adapter.

#[cfg(feature = "sql-duckdb")]
pub mod duckdb;
pub mod postgres;

use std::collections::BTreeMap;
use std::sync::Arc;

use etl_core::hints::{ColumnHint, DataType, ResourceHints};
use etl_core::incremental::{Incremental, LastValueFunc, RowOrder};
use etl_core::resource::{ArrowBatches, BoxError, Resource, ResourceContext, Source};

/// A function that rewrites a table's query: `(table, query) -> query`.
pub type QueryAdapter = Arc<dyn Fn(&str, String) -> String + Send + Sync>;

/// What went wrong reading a database, naming the table and column where there is one.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to {target}: {message}")]
    Connect {
        /// Host, port, database and user (never the password).
        target: String,
        /// Why.
        message: String,
    },
    /// A statement failed.
    #[error("{what}: {message}")]
    Query {
        /// What was being done.
        what: String,
        /// The server's message.
        message: String,
    },
    /// A table asked for does not exist.
    #[error("table `{table}` does not exist in schema `{schema}` (its tables: {tables})")]
    NoTable {
        /// The table.
        table: String,
        /// The schema.
        schema: String,
        /// The tables there are.
        tables: String,
    },
    /// A column's type cannot be read.
    #[error("table `{table}`, column `{column}`: type `{type_name}` cannot be read; leave the column out with `exclude_columns(\"{table}\", [\"{column}\"])` or cast it in a query adapter")]
    Unsupported {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its type.
        type_name: String,
    },
    /// A value could not be read.
    #[error("table `{table}`: {message}")]
    Read {
        /// The table.
        table: String,
        /// What is wrong (names the column).
        message: String,
    },
}

/// A reflected column.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlColumn {
    /// Name.
    pub name: String,
    /// The database's type (`numeric(10,2)`, `timestamp with time zone`, ...).
    pub type_name: String,
    /// dlt's type with its precision, scale and timezone (`None`: a type the reader cannot read).
    pub data_type: Option<(DataType, Option<u32>, Option<u32>, Option<bool>)>,
    /// Nullable.
    pub nullable: bool,
    /// How it is selected (a cast for arrays and enums).
    pub select: String,
}

/// A reflected table or view.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlTable {
    /// Name.
    pub name: String,
    /// A view.
    pub view: bool,
    /// Columns, in order.
    pub columns: Vec<SqlColumn>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
}

/// The `sql_database` source of one schema.
#[derive(Clone)]
pub struct SqlDatabase {
    url: String,
    schema: Option<String>,
    table_names: Option<Vec<String>>,
    include_views: bool,
    chunk_size: usize,
    incremental: BTreeMap<String, Incremental>,
    excluded: BTreeMap<String, Vec<String>>,
    query_adapter: Option<QueryAdapter>,
}

/// The tables of a database (dlt's `sql_database`): a PostgreSQL URL (schema `public`), or a
/// DuckDB file as `duckdb:///path/to/file.duckdb` (schema `main`; feature `sql-duckdb`).
pub fn sql_database(url: impl Into<String>) -> SqlDatabase {
    SqlDatabase {
        url: url.into(),
        schema: None,
        table_names: None,
        include_views: false,
        chunk_size: 50_000,
        incremental: BTreeMap::new(),
        excluded: BTreeMap::new(),
        query_adapter: None,
    }
}

/// One table (dlt's `sql_table`).
pub fn sql_table(url: impl Into<String>, table: impl Into<String>) -> Result<Resource, SqlError> {
    let table = table.into();
    let mut resources = sql_database(url).table_names([table.clone()]).resources()?;
    Ok(resources.remove(0))
}

impl SqlDatabase {
    /// The schema (default `public` in PostgreSQL, `main` in a DuckDB file).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    fn schema_name(&self) -> String {
        self.schema.clone().unwrap_or_else(|| if self.duckdb_file().is_some() { "main".into() } else { "public".into() })
    }

    /// The DuckDB file a `duckdb:///path` URL names (`None`: PostgreSQL).
    fn duckdb_file(&self) -> Option<std::path::PathBuf> {
        #[cfg(feature = "sql-duckdb")]
        return duckdb::file_of(&self.url);
        #[cfg(not(feature = "sql-duckdb"))]
        return None;
    }

    /// Only these tables (or views), in this order; a name that does not exist is an error.
    pub fn table_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.table_names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Views too (named views are read whatever this says, as in dlt).
    pub fn include_views(mut self, yes: bool) -> Self {
        self.include_views = yes;
        self
    }

    /// Rows per record batch (default 50,000, dlt's).
    pub fn chunk_size(mut self, rows: usize) -> Self {
        self.chunk_size = rows.max(1);
        self
    }

    /// Loads `table` incrementally on a cursor column, pushed into its query.
    pub fn incremental(mut self, table: impl Into<String>, incremental: Incremental) -> Self {
        self.incremental.insert(table.into(), incremental);
        self
    }

    /// Leaves columns of a table out.
    pub fn exclude_columns<S: Into<String>>(mut self, table: impl Into<String>, columns: impl IntoIterator<Item = S>) -> Self {
        self.excluded.entry(table.into()).or_default().extend(columns.into_iter().map(Into::into));
        self
    }

    /// Rewrites each table's query (dlt's `query_adapter_callback`): gets the table's name and
    /// its query (incremental condition included) and returns the query to run.
    pub fn query_adapter(mut self, adapter: impl Fn(&str, String) -> String + Send + Sync + 'static) -> Self {
        self.query_adapter = Some(Arc::new(adapter));
        self
    }

    /// The source `sql_database`: one resource per table (reflected now).
    pub fn source(self) -> Source {
        match self.resources() {
            Ok(resources) => Source::with("sql_database", resources).unwrap_or_else(|e| Source::failed("sql_database", e)),
            Err(e) => Source::failed("sql_database", e),
        }
    }

    /// One resource per table, reflected now.
    pub fn resources(self) -> Result<Vec<Resource>, SqlError> {
        let views = self.include_views || self.table_names.is_some();
        let schema = self.schema_name();
        let reflected = match self.duckdb_file() {
            #[cfg(feature = "sql-duckdb")]
            Some(file) => duckdb::reflect(&file, &schema, views)?,
            _ => postgres::reflect(&self.url, &schema, views)?,
        };
        let tables: Vec<SqlTable> = match &self.table_names {
            None => reflected.into_iter().filter(|t| !t.view || self.include_views).collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    reflected.iter().find(|t| &t.name == n).cloned().ok_or_else(|| SqlError::NoTable {
                        table: n.clone(),
                        schema: schema.clone(),
                        tables: reflected.iter().map(|t| t.name.clone()).collect::<Vec<_>>().join(", "),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let shared = Arc::new(self);
        Ok(tables.into_iter().map(|t| shared.clone().resource(t)).collect())
    }

    fn resource(self: Arc<Self>, mut table: SqlTable) -> Resource {
        if let Some(excluded) = self.excluded.get(&table.name) {
            table.columns.retain(|c| !excluded.contains(&c.name));
        }
        let mut hints = ResourceHints::new(table.name.clone());
        hints.primary_key = table.primary_key.clone();
        hints.columns = table
            .columns
            .iter()
            .filter_map(|c| {
                let (data_type, precision, scale, timezone) = c.data_type?;
                let mut hint = ColumnHint::new(c.name.clone()).data_type(data_type);
                hint.nullable = Some(c.nullable);
                (hint.precision, hint.scale, hint.timezone) = (precision, scale, timezone);
                Some(hint)
            })
            .collect();
        hints.incremental = self.incremental.get(&table.name).cloned();
        Resource::from_arrow(hints, move |cx: &ResourceContext| -> Result<ArrowBatches, BoxError> {
            let (sql, params) = self.query(&table, cx)?;
            match self.duckdb_file() {
                #[cfg(feature = "sql-duckdb")]
                Some(file) => Ok(duckdb::stream(&file, table, sql, params, self.chunk_size)?),
                _ => Ok(postgres::stream(&self.url, table, sql, params, self.chunk_size)?),
            }
        })
    }

    /// The table's query with its incremental condition pushed in, and its parameters (text,
    /// cast to the cursor's type in the query).
    fn query(&self, table: &SqlTable, cx: &ResourceContext) -> Result<(String, Vec<String>), SqlError> {
        let quote = etl_core::naming::quote_ident;
        let columns: Vec<&str> = table.columns.iter().map(|c| c.select.as_str()).collect();
        let mut sql = format!("SELECT {} FROM {}.{}", columns.join(", "), quote(&self.schema_name()), quote(&table.name));
        let mut params = Vec::new();
        if let Some(inc) = self.incremental.get(&table.name) {
            let cursor = table.columns.iter().find(|c| c.name == inc.cursor_path).ok_or_else(|| SqlError::Read {
                table: table.name.clone(),
                message: format!("the incremental cursor `{}` is not a column of the table", inc.cursor_path),
            })?;
            let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
            let (start_op, end_op) = match inc.last_value_func {
                LastValueFunc::Max => (">=", "<"),
                LastValueFunc::Min => ("<=", ">"),
            };
            let mut conditions = Vec::new();
            if let Some(start) = cx.start_value.as_ref().filter(|v| !v.is_null()) {
                params.push(text(start));
                conditions.push(format!("{} {start_op} ${}::text::{}", quote(&cursor.name), params.len(), cursor.type_name));
                if let Some(end) = cx.end_value.as_ref().filter(|v| !v.is_null()) {
                    params.push(text(end));
                    conditions.push(format!("{} {end_op} ${}::text::{}", quote(&cursor.name), params.len(), cursor.type_name));
                }
            }
            if !conditions.is_empty() {
                sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
            }
            let order = match (inc.row_order, inc.last_value_func) {
                (Some(RowOrder::Asc), LastValueFunc::Max) | (Some(RowOrder::Desc), LastValueFunc::Min) => Some("ASC"),
                (Some(_), _) => Some("DESC"),
                (None, _) => None,
            };
            if let Some(order) = order {
                sql.push_str(&format!(" ORDER BY {} {order}", quote(&cursor.name)));
            }
        }
        if let Some(adapt) = &self.query_adapter {
            sql = adapt(&table.name, sql);
        }
        Ok((sql, params))
    }
}

/// Reads a table on a thread of its own: `read` runs the query, calls `ready` once the database
/// accepted it, and hands each chunk to `send` (`false`: the pipeline stopped reading, e.g. a
/// limit). A chunk waits in a channel of one, so at most about three are in memory. An error
/// before `ready` is returned here; one after comes as the batches' error.
pub(crate) fn reader(
    table: &str,
    read: impl FnOnce(&dyn Fn(), &dyn Fn(arrow::record_batch::RecordBatch) -> bool) -> Result<(), SqlError> + Send + 'static,
) -> Result<ArrowBatches, SqlError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), SqlError>>(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<arrow::record_batch::RecordBatch, BoxError>>(1);
    let name = table.to_owned();
    std::thread::Builder::new()
        .name(format!("sql-{name}"))
        .spawn(move || {
            let ready = || {
                let _ = ready_tx.send(Ok(()));
            };
            let send = |batch| tx.send(Ok(batch)).is_ok();
            if let Err(e) = read(&ready, &send) {
                // Before `ready` the caller waits on it; after, on the batches.
                if let Err(std::sync::mpsc::TrySendError::Full(Err(e)) | std::sync::mpsc::TrySendError::Disconnected(Err(e))) = ready_tx.try_send(Err(e)) {
                    let _ = tx.send(Err(Box::new(e)));
                }
            }
        })
        .map_err(|e| SqlError::Read { table: table.to_owned(), message: format!("cannot start a reader thread: {e}") })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(Box::new(rx.into_iter())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(SqlError::Read { table: table.to_owned(), message: "the reader thread ended before reading".into() }),
    }
}
