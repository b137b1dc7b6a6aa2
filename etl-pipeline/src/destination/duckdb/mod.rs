//! The DuckDB destination: one connection, one transaction per run.
//!
//! Everything a run writes (DDL, rows, `_dlt_version`, `_dlt_pipeline_state`, `_dlt_loads`)
//! happens inside one transaction, so a failed run leaves the file exactly as it was. Identifiers
//! are always quoted; values only ever travel as parameters or Arrow batches, never as SQL text.

pub mod batch;
pub mod query;
pub mod scan;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use duckdb::arrow::record_batch::RecordBatch;
use duckdb::{params, Connection};
use etl_core::naming::quote_ident;
use etl_core::schema::{LOADS_TABLE, STATE_TABLE, VERSION_TABLE};
use etl_core::Schema;

use crate::destination::merge_sql::{self, MergeTables};
use crate::destination::{Batch, Capabilities, DestinationError, Inserted, Merge, Session};
use crate::jobs::InsertMethod;
use crate::state::PipelineState;

/// Errors from DuckDB, with the statement or table they concern.
#[derive(Debug, thiserror::Error)]
pub enum DuckDbError {
    /// Opening the database file failed.
    #[error("cannot open DuckDB file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// DuckDB's error.
        source: duckdb::Error,
    },
    /// A statement failed.
    #[error("{what}: {source}")]
    Sql {
        /// What was being done.
        what: String,
        /// DuckDB's error.
        source: duckdb::Error,
    },
    /// Stored bookkeeping that cannot be read.
    #[error("{0}")]
    Corrupt(String),
}

fn sql_err(what: impl Into<String>) -> impl FnOnce(duckdb::Error) -> DuckDbError {
    let what = what.into();
    move |source| DuckDbError::Sql { what, source }
}

/// DuckDB's buffer pool while loading. Appended row groups are written to the file as they
/// fill; without a bound DuckDB keeps every written block cached (its default limit is 80 % of
/// RAM), so a process's memory grew with the size of the load (1 GB for 10 M events). With it,
/// peak memory is the same for any load size. Merges run with DuckDB's default
/// ([`DuckDbSession::with_default_memory`]): their joins and windows are better off without it.
const LOAD_MEMORY_LIMIT: &str = "128MB";

pub use super::Target;

/// Batches of at least this many rows are inserted through a scan (`INSERT ... SELECT`), smaller
/// ones through an appender, which costs no SQL statement to parse (a short run's start-up).
pub const SCAN_MIN_ROWS: usize = 4096;

/// An open DuckDB file with a dataset (DuckDB schema).
pub struct DuckDbSession {
    conn: Connection,
    /// The database (catalog) name, for fully qualified names: a dataset called like the file
    /// (`bench` in `bench.duckdb`) would otherwise be ambiguous.
    catalog: String,
    dataset: String,
    staging: String,
    /// Columns of each table that exists in the dataset or its staging schema.
    existing: HashMap<(Target, String), Vec<String>>,
    /// Staging tables this session emptied before first use (leftovers, e.g. from dlt, are never
    /// merged again).
    fresh_staging: std::collections::HashSet<String>,
    in_transaction: bool,
    /// Whether the Arrow table function is registered on this connection.
    arrow_scan: bool,
    /// Whether [`self::scan::EtlScan`] is registered on this connection.
    etl_scan: bool,
    /// Whether new tables let DuckDB compress their row-id columns.
    compress_row_ids: bool,
    /// `etl_scan` statements run (tests check that batches go in together).
    #[cfg(test)]
    scan_statements: usize,
}

impl DuckDbSession {
    /// Opens (or creates) the file and reads which tables the dataset has.
    pub fn open(path: &Path, dataset: &str) -> Result<Self, DuckDbError> {
        let open_err = |source| DuckDbError::Open { path: path.to_owned(), source };
        // One core is the normalizer's (extract + normalize run beside the load on their own
        // thread); DuckDB gets the others. With all of them, DuckDB's own workers compete with
        // the normalizer for the cores and its appending thread spins waiting for them: on two
        // cores a 1 M-event load took 13-15 s instead of 11 s.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        let config = duckdb::Config::default()
            .threads(threads as i64)
            .and_then(|c| c.with("memory_limit", LOAD_MEMORY_LIMIT))
            .map_err(open_err)?;
        let conn = Connection::open_with_flags(path, config).map_err(open_err)?;
        // Whether the dataset (or its staging schema) exists at all: a new file or dataset has no
        // tables to read, and reading the catalog's columns is not free: `duckdb_columns()` scans
        // every schema, which makes DuckDB parse its ~50 built-in views (a fifth of the lesson's
        // run). One statement for both answers.
        let staging = format!("{dataset}_staging");
        let (catalog, schemas): (String, i64) = conn
            .query_row(
                "SELECT current_database(), count(*) FROM duckdb_schemas() \
                 WHERE database_name = current_database() AND schema_name IN (?, ?)",
                params![dataset, staging],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql_err("reading the database name"))?;
        let mut session = DuckDbSession {
            conn,
            catalog,
            dataset: dataset.to_owned(),
            staging,
            existing: HashMap::new(),
            fresh_staging: std::collections::HashSet::new(),
            in_transaction: false,
            arrow_scan: false,
            etl_scan: false,
            compress_row_ids: false,
            #[cfg(test)]
            scan_statements: 0,
        };
        if schemas > 0 {
            session.refresh_existing()?;
        }
        Ok(session)
    }

    fn refresh_existing(&mut self) -> Result<(), DuckDbError> {
        let mut stmt = self
            .conn
            .prepare(
                // duckdb_columns() rather than information_schema: the views cost tens of
                // milliseconds to bind on a fresh instance, and this runs at every start.
                "SELECT schema_name, table_name, column_name FROM duckdb_columns() \
                 WHERE database_name = current_database() AND schema_name IN (?, ?) \
                 ORDER BY schema_name, table_name, column_index",
            )
            .map_err(sql_err("reading the dataset's tables"))?;
        let rows = stmt
            .query_map(params![self.dataset, self.staging], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(sql_err("reading the dataset's tables"))?;
        self.existing.clear();
        for row in rows {
            let (ds, t, c) = row.map_err(sql_err("reading the dataset's tables"))?;
            let target = if ds == self.dataset { Target::Main } else { Target::Staging };
            self.existing.entry((target, t)).or_default().push(c);
        }
        Ok(())
    }

    fn qualified(&self, table: &str) -> String {
        self.qualified_in(Target::Main, table)
    }

    fn schema_name(&self, target: Target) -> &str {
        match target {
            Target::Main => &self.dataset,
            Target::Staging => &self.staging,
        }
    }

    fn qualified_in(&self, target: Target, table: &str) -> String {
        format!("{}.{}.{}", quote_ident(&self.catalog), quote_ident(self.schema_name(target)), quote_ident(table))
    }

    /// Whether the dataset has this table.
    pub fn has_table(&self, table: &str) -> bool {
        self.existing.contains_key(&(Target::Main, table.to_owned()))
    }

    /// Starts the run's transaction.
    pub fn begin(&mut self) -> Result<(), DuckDbError> {
        self.conn.execute_batch("BEGIN TRANSACTION").map_err(sql_err("starting the transaction"))?;
        self.in_transaction = true;
        Ok(())
    }

    /// Commits the run.
    pub fn commit(&mut self) -> Result<(), DuckDbError> {
        self.conn.execute_batch("COMMIT").map_err(sql_err("committing the load"))?;
        self.in_transaction = false;
        Ok(())
    }

    /// Rolls the run back (errors are ignored: the transaction is gone either way).
    pub fn rollback(&mut self) {
        self.fresh_staging.clear();
        if self.in_transaction {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.in_transaction = false;
        }
        let _ = self.refresh_existing();
    }

    /// The newest stored version of a schema, if any.
    pub fn stored_schema(&self, schema_name: &str) -> Result<Option<Schema>, DuckDbError> {
        if !self.has_table(VERSION_TABLE) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT schema FROM {} WHERE schema_name = ? ORDER BY version DESC, inserted_at DESC LIMIT 1",
            self.qualified(VERSION_TABLE)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(sql_err("reading the stored schema"))?;
        let mut rows = stmt.query(params![schema_name]).map_err(sql_err("reading the stored schema"))?;
        let Some(row) = rows.next().map_err(sql_err("reading the stored schema"))? else { return Ok(None) };
        let text: String = row.get(0).map_err(sql_err("reading the stored schema"))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| DuckDbError::Corrupt(format!("stored schema `{schema_name}` is not JSON: {e}")))?;
        Schema::from_stored_json(&json).map(Some).map_err(|e| DuckDbError::Corrupt(format!("stored schema `{schema_name}`: {e}")))
    }

    /// The newest stored state of a pipeline, if any.
    pub fn stored_state(&self, pipeline_name: &str) -> Result<Option<PipelineState>, DuckDbError> {
        if !self.has_table(STATE_TABLE) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT state FROM {} WHERE pipeline_name = ? ORDER BY version DESC, created_at DESC LIMIT 1",
            self.qualified(STATE_TABLE)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(sql_err("reading the stored state"))?;
        let mut rows = stmt.query(params![pipeline_name]).map_err(sql_err("reading the stored state"))?;
        let Some(row) = rows.next().map_err(sql_err("reading the stored state"))? else { return Ok(None) };
        let text: String = row.get(0).map_err(sql_err("reading the stored state"))?;
        PipelineState::decode(&text).map(Some).map_err(|e| DuckDbError::Corrupt(format!("stored state of `{pipeline_name}`: {e}")))
    }

    /// Creates the dataset schema if missing.
    pub fn ensure_dataset(&mut self) -> Result<(), DuckDbError> {
        // Only when missing: once a schema named like the database file exists, even
        // `CREATE SCHEMA IF NOT EXISTS` is ambiguous to DuckDB.
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() AND schema_name = ?",
                params![self.dataset],
                |r| r.get(0),
            )
            .map_err(sql_err("reading the dataset"))?;
        if exists > 0 {
            return Ok(());
        }
        self.conn
            .execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&self.dataset)))
            .map_err(sql_err(format!("creating dataset `{}`", self.dataset)))
    }

    /// Makes the destination table match the schema table: creates it, or adds missing columns.
    /// Returns whether anything changed. A table with no typed column is not created yet.
    pub fn sync_table(&mut self, schema: &Schema, table: &str) -> Result<bool, DuckDbError> {
        self.sync_table_in(Target::Main, schema, table)
    }

    /// [`Self::sync_table`] in the dataset or in its staging schema (which has no NOT NULL
    /// constraints: it only holds a load until the merge).
    pub fn sync_table_in(&mut self, target: Target, schema: &Schema, table: &str) -> Result<bool, DuckDbError> {
        match schema.table(table) {
            Some(t) => self.sync_table_def(target, t),
            None => Ok(false),
        }
    }

    /// [`Self::sync_table_in`] from a table definition.
    pub fn sync_table_def(&mut self, target: Target, t: &etl_core::Table) -> Result<bool, DuckDbError> {
        let table = t.name.as_str();
        let complete: Vec<_> = t.complete_columns().collect();
        if complete.is_empty() {
            return Ok(false);
        }
        let key = (target, table.to_owned());
        if target == Target::Staging && self.fresh_staging.insert(table.to_owned()) && self.existing.remove(&key).is_some() {
            let sql = format!("DROP TABLE {}", self.qualified_in(target, table));
            self.conn.execute_batch(&sql).map_err(sql_err(format!("dropping leftover staging table `{table}`")))?;
        }
        match self.existing.get(&key) {
            None => {
                if target == Target::Staging {
                    self.conn
                        .execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&self.staging)))
                        .map_err(sql_err("creating the staging schema"))?;
                }
                let defs: Vec<String> = complete
                    .iter()
                    .map(|c| {
                        let ty = c.duckdb_type().expect("complete column");
                        let not_null = !c.nullable && target == Target::Main;
                        // Row ids are random text: compressing them costs the load CPU for
                        // almost no space, so DuckDB is told not to analyze them.
                        let random = !self.compress_row_ids && (c.row_key || c.parent_key || c.root_key);
                        format!(
                            "{} {}{}{}",
                            quote_ident(&c.name),
                            ty,
                            if random { " USING COMPRESSION uncompressed" } else { "" },
                            if not_null { " NOT NULL" } else { "" }
                        )
                    })
                    .collect();
                let sql = format!("CREATE TABLE {} ({})", self.qualified_in(target, table), defs.join(", "));
                self.conn.execute_batch(&sql).map_err(sql_err(format!("creating table `{table}`")))?;
                self.existing.insert(key, complete.iter().map(|c| c.name.clone()).collect());
                Ok(true)
            }
            Some(have) => {
                let missing: Vec<_> = complete.into_iter().filter(|c| !have.contains(&c.name)).collect();
                for c in &missing {
                    // Added columns are nullable: rows loaded before have no value for them.
                    let sql = format!(
                        "ALTER TABLE {} ADD COLUMN {} {}",
                        self.qualified_in(target, table),
                        quote_ident(&c.name),
                        c.duckdb_type().expect("complete column")
                    );
                    self.conn.execute_batch(&sql).map_err(sql_err(format!("adding column `{}` to table `{table}`", c.name)))?;
                }
                let have = self.existing.get_mut(&key).expect("present");
                have.extend(missing.iter().map(|c| c.name.clone()));
                Ok(!missing.is_empty())
            }
        }
    }

    /// Deletes every row of a table (replace), if it exists.
    pub fn truncate(&mut self, table: &str) -> Result<(), DuckDbError> {
        if self.has_table(table) {
            self.conn
                .execute_batch(&format!("DELETE FROM {}", self.qualified(table)))
                .map_err(sql_err(format!("emptying table `{table}` for replace")))?;
        }
        Ok(())
    }

    /// Whether tables created from now on let DuckDB compress their row-id columns.
    pub fn set_compress_row_ids(&mut self, compress: bool) {
        self.compress_row_ids = compress;
    }

    /// Appends a batch by column name: small batches through DuckDB's appender, large ones
    /// through an Arrow scan.
    pub fn append(&mut self, target: Target, table: &str, columns: &[String], batch: RecordBatch) -> Result<(), DuckDbError> {
        if batch.num_rows() < SCAN_MIN_ROWS {
            // Small batches: an appender costs no SQL statement to parse (a short run's start-up).
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            let schema = self.schema_name(target).to_owned();
            let mut app = self
                .conn
                .appender_with_columns_to_catalog_and_db(table, &self.catalog, &schema, &names)
                .map_err(sql_err(format!("opening an appender on table `{table}`")))?;
            app.append_record_batch(batch).map_err(sql_err(format!("appending rows to table `{table}`")))?;
            return app.flush().map_err(sql_err(format!("appending rows to table `{table}`")));
        }
        // Large batches: an Arrow scan inserted with `INSERT ... SELECT` skips the appender's copy
        // into its own collection.
        if !self.arrow_scan {
            self.conn
                .register_table_function::<duckdb::vtab::arrow::ArrowVTab>("arrow")
                .map_err(sql_err("registering the Arrow scan"))?;
            self.arrow_scan = true;
        }
        let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let sql = format!("INSERT INTO {} ({}) SELECT * FROM arrow(?)", self.qualified_in(target, table), cols.join(", "));
        let registration = duckdb::vtab::arrow::ArrowBatchRegistration::new(batch);
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.execute([&registration]))
            .map_err(sql_err(format!("appending rows to table `{table}`")))?;
        Ok(())
    }

    /// Inserts batches of column buffers (of one table, with the same columns) through
    /// [`self::scan`] in one statement: DuckDB reads them straight into its vectors, in order.
    /// Returns the batches once DuckDB is done with them (their buffers can be reused). The
    /// statement is not cached: a cached one would keep its last batches bound.
    pub fn insert_scan(&mut self, target: Target, table: &str, batches: self::scan::ScanBatches) -> Result<Option<self::scan::ScanBatches>, DuckDbError> {
        let Some(first) = batches.first() else { return Ok(Some(batches)) };
        if !self.etl_scan {
            self.conn
                .register_table_function::<self::scan::EtlScan>(self::scan::SCAN_FUNCTION)
                .map_err(sql_err("registering the column scan"))?;
            self.etl_scan = true;
        }
        let cols: Vec<String> = first.names().iter().map(|c| quote_ident(c)).collect();
        let sql =
            format!("INSERT INTO {} ({}) SELECT * FROM {}(?)", self.qualified_in(target, table), cols.join(", "), self::scan::SCAN_FUNCTION);
        let batches = std::sync::Arc::new(batches);
        let registration = self::scan::Registration::new(std::sync::Arc::clone(&batches));
        self.conn.execute(&sql, [registration.token()]).map_err(sql_err(format!("appending rows to table `{table}`")))?;
        drop(registration);
        #[cfg(test)]
        {
            self.scan_statements += 1;
        }
        Ok(std::sync::Arc::into_inner(batches))
    }

    /// Inserts the batches gathered in `scan` (none: nothing is run) and records each as inserted.
    fn flush_scan(&mut self, target: Target, table: &str, scan: &mut self::scan::ScanBatches, inserted: &mut Vec<Inserted>) -> Result<(), DuckDbError> {
        let count = scan.len();
        match self.insert_scan(target, table, std::mem::take(scan))? {
            Some(done) => inserted.extend(done.into_iter().map(|b| Inserted { method: InsertMethod::EtlScan, buffers: Some(b.into_buffers()) })),
            None => inserted.extend((0..count).map(|_| Inserted { method: InsertMethod::EtlScan, buffers: None })),
        }
        Ok(())
    }

    /// Runs `work` (a merge) with DuckDB's default memory limit instead of the loading bound.
    pub fn with_default_memory<T>(&mut self, work: impl FnOnce(&mut Self) -> Result<T, DuckDbError>) -> Result<T, DuckDbError> {
        self.conn.execute_batch("RESET memory_limit").map_err(sql_err("raising the memory limit for a merge"))?;
        let result = work(self);
        self.conn
            .execute_batch(&format!("SET memory_limit = '{LOAD_MEMORY_LIMIT}'"))
            .map_err(sql_err("restoring the memory limit after a merge"))?;
        result
    }

    /// Merges the staged load of `root` (and its nested tables) into the dataset by `merge`
    /// (see [`crate::destination::merge_sql`]), then drops the staging tables.
    pub fn merge_staged(&mut self, schema: &Schema, root: &str, merge: &Merge) -> Result<(), DuckDbError> {
        if schema.table(root).is_none() {
            return Ok(());
        }
        let children = merge_sql::nested(schema, root);
        // The dataset's tables get the load's new columns first.
        self.sync_table(schema, root)?;
        for child in &children {
            if self.existing.contains_key(&(Target::Staging, child.clone())) {
                self.sync_table(schema, child)?;
            }
        }
        let (statements, boundary) = match merge {
            Merge::Scd2 { columns, boundary } => (merge_sql::scd2(self, schema, root, columns), Some(boundary.as_str())),
            // The keys of delete-insert and upsert are in the schema's hints.
            Merge::DeleteInsert | Merge::Upsert => (merge_sql::delete_insert(self, schema, root), None),
        };
        for s in statements {
            match (s.boundary, boundary) {
                (true, Some(b)) => self.conn.execute(&s.sql, params![b]).map(drop),
                _ => self.conn.execute_batch(&s.sql),
            }
            .map_err(sql_err(s.what))?;
        }
        self.drop_staging(root, &children)
    }

    fn drop_staging(&mut self, root: &str, children: &[String]) -> Result<(), DuckDbError> {
        for t in std::iter::once(root.to_owned()).chain(children.iter().cloned()) {
            if self.existing.remove(&(Target::Staging, t.clone())).is_some() {
                let sql = format!("DROP TABLE {}", self.qualified_in(Target::Staging, &t));
                self.conn.execute_batch(&sql).map_err(sql_err(format!("dropping staging table `{t}`")))?;
            }
        }
        if !self.existing.keys().any(|(target, _)| *target == Target::Staging) {
            self.conn
                .execute_batch(&format!("DROP SCHEMA IF EXISTS {}", quote_ident(&self.staging)))
                .map_err(sql_err("dropping the staging schema"))?;
        }
        Ok(())
    }

    /// Creates dlt's bookkeeping tables that the schema has and the file lacks.
    pub fn ensure_dlt_tables(&mut self, schema: &Schema) -> Result<(), DuckDbError> {
        for t in [VERSION_TABLE, LOADS_TABLE, STATE_TABLE] {
            if schema.table(t).is_some() {
                self.sync_table(schema, t)?;
            }
        }
        Ok(())
    }

    /// Stores a schema version.
    pub fn insert_version(&mut self, schema: &Schema, inserted_at: &str) -> Result<(), DuckDbError> {
        let sql = format!(
            "INSERT INTO {} (version, engine_version, inserted_at, schema_name, version_hash, schema) \
             VALUES (?, ?, CAST(? AS TIMESTAMPTZ), ?, ?, ?)",
            self.qualified(VERSION_TABLE)
        );
        let json = schema.to_stored_json().to_string();
        self.conn
            .execute(&sql, params![schema.version, etl_core::schema::ENGINE_VERSION, inserted_at, schema.name, schema.version_hash, json])
            .map_err(sql_err("storing the schema version"))?;
        Ok(())
    }

    /// Stores a pipeline state row.
    pub fn insert_state(&mut self, pipeline_name: &str, state: &PipelineState, created_at: &str, load_id: &str, row_id: &str) -> Result<(), DuckDbError> {
        let sql = format!(
            "INSERT INTO {} (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) \
             VALUES (?, ?, ?, ?, CAST(? AS TIMESTAMPTZ), ?, ?, ?)",
            self.qualified(STATE_TABLE)
        );
        self.conn
            .execute(
                &sql,
                params![state.version(), crate::state::STATE_ENGINE_VERSION, pipeline_name, state.encode(), created_at, state.version_hash(), load_id, row_id],
            )
            .map_err(sql_err("storing the pipeline state"))?;
        Ok(())
    }

    /// Records a completed load.
    pub fn insert_load(&mut self, load_id: &str, schema: &Schema, inserted_at: &str) -> Result<(), DuckDbError> {
        let sql = format!(
            "INSERT INTO {} (load_id, schema_name, status, inserted_at, schema_version_hash) VALUES (?, ?, 0, CAST(? AS TIMESTAMPTZ), ?)",
            self.qualified(LOADS_TABLE)
        );
        self.conn
            .execute(&sql, params![load_id, schema.name, inserted_at, schema.version_hash])
            .map_err(sql_err("recording the load in _dlt_loads"))?;
        Ok(())
    }

    /// Drops a table of the dataset if it exists.
    pub fn drop_table(&mut self, table: &str) -> Result<bool, DuckDbError> {
        if !self.has_table(table) {
            return Ok(false);
        }
        self.conn
            .execute_batch(&format!("DROP TABLE {}", self.qualified(table)))
            .map_err(sql_err(format!("dropping table `{table}`")))?;
        self.existing.remove(&(Target::Main, table.to_owned()));
        Ok(true)
    }

    /// Tables left in the staging schema (`<dataset>_staging.<table>`), sorted.
    pub fn staging_tables(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.existing.keys().filter(|(t, _)| *t == Target::Staging).map(|(_, n)| format!("{}.{n}", self.staging)).collect();
        out.sort();
        out
    }

    /// Tables of the dataset that exist in the file, sorted.
    pub fn tables(&self) -> Vec<String> {
        let mut out: Vec<String> = self.existing.keys().filter(|(t, _)| *t == Target::Main).map(|(_, n)| n.clone()).collect();
        out.sort();
        out
    }

    /// Whether a load committed.
    pub fn has_load(&self, load_id: &str) -> Result<bool, DuckDbError> {
        if !self.has_table(LOADS_TABLE) {
            return Ok(false);
        }
        let sql = format!("SELECT count(*) FROM {} WHERE load_id = ?", self.qualified(LOADS_TABLE));
        let n: i64 = self.conn.query_row(&sql, params![load_id], |r| r.get(0)).map_err(sql_err("reading _dlt_loads"))?;
        Ok(n > 0)
    }

    /// Number of completed loads and the newest load id.
    pub fn loads(&self) -> Result<(i64, Option<String>), DuckDbError> {
        if !self.has_table(LOADS_TABLE) {
            return Ok((0, None));
        }
        let sql = format!("SELECT count(*), max(load_id) FROM {}", self.qualified(LOADS_TABLE));
        self.conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).map_err(sql_err("reading _dlt_loads"))
    }

    /// Number of rows in a table (0 if it does not exist).
    pub fn row_count(&self, table: &str) -> Result<i64, DuckDbError> {
        if !self.has_table(table) {
            return Ok(0);
        }
        self.conn
            .query_row(&format!("SELECT count(*) FROM {}", self.qualified(table)), [], |r| r.get(0))
            .map_err(sql_err(format!("counting rows of `{table}`")))
    }

}

impl MergeTables for DuckDbSession {
    fn qualified(&self, target: Target, table: &str) -> String {
        self.qualified_in(target, table)
    }
    fn columns(&self, target: Target, table: &str) -> Option<&[String]> {
        self.existing.get(&(target, table.to_owned())).map(Vec::as_slice)
    }
    fn boundary_param(&self) -> &'static str {
        "CAST(? AS TIMESTAMPTZ)"
    }
}

impl From<DuckDbError> for DestinationError {
    fn from(e: DuckDbError) -> Self {
        DestinationError::new(e)
    }
}

impl Session for DuckDbSession {
    fn capabilities(&self) -> Capabilities {
        // DuckDB has no identifier limit that dlt shortens for; DDL is transactional.
        Capabilities { max_identifier_length: 65_536, transactional_ddl: true }
    }
    fn begin(&mut self) -> Result<(), DestinationError> {
        Ok(DuckDbSession::begin(self)?)
    }
    fn commit(&mut self) -> Result<(), DestinationError> {
        Ok(DuckDbSession::commit(self)?)
    }
    fn rollback(&mut self) {
        DuckDbSession::rollback(self)
    }
    fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>, DestinationError> {
        Ok(DuckDbSession::stored_schema(self, schema_name)?)
    }
    fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<PipelineState>, DestinationError> {
        Ok(DuckDbSession::stored_state(self, pipeline_name)?)
    }
    fn has_load(&mut self, load_id: &str) -> Result<bool, DestinationError> {
        Ok(DuckDbSession::has_load(self, load_id)?)
    }
    fn ensure_dataset(&mut self) -> Result<(), DestinationError> {
        Ok(DuckDbSession::ensure_dataset(self)?)
    }
    fn sync_table(&mut self, target: Target, table: &etl_core::Table) -> Result<bool, DestinationError> {
        Ok(DuckDbSession::sync_table_def(self, target, table)?)
    }
    fn truncate(&mut self, table: &str) -> Result<(), DestinationError> {
        Ok(DuckDbSession::truncate(self, table)?)
    }
    fn insert(&mut self, target: Target, table: &etl_core::Table, rows: usize, columns: Vec<Option<etl_core::columnar::ColumnBuffer>>) -> Result<Inserted, DestinationError> {
        let mut inserted = self.insert_batches(target, table, vec![Batch { rows, columns }])?;
        inserted.pop().ok_or_else(|| DestinationError::new(format!("table `{}`: the batch was not inserted", table.name)))
    }
    /// Large batches through the `etl_scan` table function, as many in one statement as follow
    /// each other (their buffers come back); small ones, and those with a decimal or 128-bit
    /// column, through Arrow and the appender. In order either way.
    fn insert_batches(&mut self, target: Target, table: &etl_core::Table, batches: Vec<Batch>) -> Result<Vec<Inserted>, DestinationError> {
        let mut inserted = Vec::with_capacity(batches.len());
        let mut scan: scan::ScanBatches = Vec::new();
        for Batch { rows, columns } in batches {
            let mut columns = columns;
            if rows >= SCAN_MIN_ROWS {
                match scan::ScanBatch::try_new(rows, columns, table) {
                    Ok(batch) => {
                        if scan.first().is_some_and(|first| !first.same_columns(&batch)) {
                            self.flush_scan(target, &table.name, &mut scan, &mut inserted)?;
                        }
                        scan.push(batch);
                        continue;
                    }
                    Err(back) => columns = back,
                }
            }
            self.flush_scan(target, &table.name, &mut scan, &mut inserted)?;
            let (names, batch) = batch::batch_from_columns(rows, columns, table)
                .map_err(|e| DestinationError::new(format!("table `{}`: {e}", table.name)))?;
            self.append(target, &table.name, &names, batch)?;
            inserted.push(Inserted { method: InsertMethod::ArrowAppender, buffers: None });
        }
        self.flush_scan(target, &table.name, &mut scan, &mut inserted)?;
        Ok(inserted)
    }
    /// Merges with DuckDB's default memory limit instead of the loading bound.
    fn merge(&mut self, schema: &Schema, root: &str, merge: &Merge) -> Result<(), DestinationError> {
        Ok(self.with_default_memory(|db| db.merge_staged(schema, root, merge))?)
    }
    fn ensure_dlt_tables(&mut self, schema: &Schema) -> Result<(), DestinationError> {
        Ok(DuckDbSession::ensure_dlt_tables(self, schema)?)
    }
    fn insert_version(&mut self, schema: &Schema, inserted_at: &str) -> Result<(), DestinationError> {
        Ok(DuckDbSession::insert_version(self, schema, inserted_at)?)
    }
    fn insert_state(&mut self, pipeline_name: &str, state: &PipelineState, created_at: &str, load_id: &str, row_id: &str) -> Result<(), DestinationError> {
        Ok(DuckDbSession::insert_state(self, pipeline_name, state, created_at, load_id, row_id)?)
    }
    fn insert_load(&mut self, load_id: &str, schema: &Schema, inserted_at: &str) -> Result<(), DestinationError> {
        Ok(DuckDbSession::insert_load(self, load_id, schema, inserted_at)?)
    }
    fn drop_table(&mut self, table: &str) -> Result<bool, DestinationError> {
        Ok(DuckDbSession::drop_table(self, table)?)
    }
    fn tables(&self) -> Vec<String> {
        DuckDbSession::tables(self)
    }
    fn staging_tables(&self) -> Vec<String> {
        DuckDbSession::staging_tables(self)
    }
    fn row_count(&mut self, table: &str) -> Result<i64, DestinationError> {
        Ok(DuckDbSession::row_count(self, table)?)
    }
    fn loads(&mut self) -> Result<(i64, Option<String>), DestinationError> {
        Ok(DuckDbSession::loads(self)?)
    }
    fn query_arrow(&mut self, sql: &str) -> Result<Vec<duckdb::arrow::record_batch::RecordBatch>, DestinationError> {
        let fail = |e: duckdb::Error| DestinationError::new(format!("{e}\n  in: {sql}"));
        let using = format!("USE {}.{}", etl_core::naming::quote_ident(&self.catalog), etl_core::naming::quote_ident(&self.dataset));
        self.conn.execute_batch(&using).map_err(fail)?;
        let mut statement = self.conn.prepare(sql).map_err(fail)?;
        let batches = statement.query_arrow([]).map_err(fail)?.collect();
        Ok(batches)
    }
}
