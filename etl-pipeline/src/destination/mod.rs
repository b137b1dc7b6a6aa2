//! Destinations, one folder each, behind [`Session`]: what any destination does for a run. A
//! session is one transaction from [`Session::begin`] to [`Session::commit`]: DDL, rows, merges
//! and dlt's bookkeeping tables commit together or not at all. DuckDB is compiled only with the
//! `duckdb` feature, PostgreSQL with the `postgres` feature. Which one a pipeline loads into is
//! its [`Destination`] (named in code or read from configuration), resolved per run.

use etl_core::columnar::ColumnBuffer;
use etl_core::hints::Scd2Columns;
use etl_core::{Schema, Table};

use crate::jobs::InsertMethod;
use crate::state::PipelineState;

pub use config::{destination, duckdb, postgres, Destination, Resolved};

pub mod config;
#[cfg(feature = "duckdb")]
pub mod duckdb;
#[cfg(loads)]
pub(crate) mod merge_sql;
#[cfg(loads)]
pub(crate) mod open;
#[cfg(feature = "postgres")]
pub mod postgres;

/// Which schema of the destination a table lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The dataset.
    Main,
    /// `<dataset>_staging`, where merge loads land before they are merged; emptied and dropped
    /// in the same transaction.
    Staging,
}

/// A destination's failure, with the destination's own error as its source.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DestinationError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl DestinationError {
    /// Wraps a destination's error.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        DestinationError(error.into())
    }
}

/// What a destination supports (dlt's destination capabilities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Longest identifier, in bytes (longer ones are shortened by dlt's rule).
    pub max_identifier_length: usize,
    /// Whether DDL is part of the run's transaction.
    pub transactional_ddl: bool,
}

/// How staged rows are merged into the dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Merge {
    /// dlt's `delete-insert`: rows whose key matches a staged row go, staged rows come in.
    DeleteInsert,
    /// dlt's `upsert`: rows are matched by the primary key's hash id.
    Upsert,
    /// dlt's `scd2`: changed and vanished records are retired at `boundary`, new ones inserted.
    Scd2 {
        /// The validity columns.
        columns: Scd2Columns,
        /// The load's timestamp, as text the destination parses.
        boundary: String,
    },
}

impl Merge {
    /// dlt's name of the strategy.
    pub fn name(&self) -> &'static str {
        match self {
            Merge::DeleteInsert => "delete-insert",
            Merge::Upsert => "upsert",
            Merge::Scd2 { .. } => "scd2",
        }
    }
}

/// A batch inserted: how, and its buffers when the destination gives them back to be reused.
#[derive(Debug)]
pub struct Inserted {
    /// How the rows went in.
    pub method: InsertMethod,
    /// The batch's column buffers, by column index, empty and ready to be refilled.
    pub buffers: Option<Vec<(usize, ColumnBuffer)>>,
}

/// Rows of one table, column by column: buffers by the table's column index (`None`: no value
/// in any row).
#[derive(Debug)]
pub struct Batch {
    /// Rows in the batch.
    pub rows: usize,
    /// The columns.
    pub columns: Vec<Option<ColumnBuffer>>,
}

/// One run's connection to a destination's dataset.
pub trait Session: Send {
    /// What the destination supports.
    fn capabilities(&self) -> Capabilities;
    /// Starts the run's transaction.
    fn begin(&mut self) -> Result<(), DestinationError>;
    /// Commits it.
    fn commit(&mut self) -> Result<(), DestinationError>;
    /// Rolls it back (never fails: a failed rollback leaves nothing committed either).
    fn rollback(&mut self);

    /// The newest stored schema of this name, as dlt stores it in `_dlt_version`.
    fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>, DestinationError>;
    /// The newest stored state of a pipeline, from `_dlt_pipeline_state`.
    fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<PipelineState>, DestinationError>;
    /// Whether a load committed (`_dlt_loads`).
    fn has_load(&mut self, load_id: &str) -> Result<bool, DestinationError>;

    /// Creates the dataset if it does not exist.
    fn ensure_dataset(&mut self) -> Result<(), DestinationError>;
    /// Creates the table or adds its new columns. Returns whether anything changed.
    fn sync_table(&mut self, target: Target, table: &Table) -> Result<bool, DestinationError>;
    /// Empties a table of the dataset (`replace`).
    fn truncate(&mut self, table: &str) -> Result<(), DestinationError>;
    /// Inserts `rows` rows of column buffers (by the table's column index) into a table.
    fn insert(&mut self, target: Target, table: &Table, rows: usize, columns: Vec<Option<ColumnBuffer>>) -> Result<Inserted, DestinationError>;
    /// Inserts batches of one table, in order: what [`Session::insert`] does for each, by
    /// default. A destination that pays for every statement overrides it (DuckDB: one statement
    /// for the batches).
    fn insert_batches(&mut self, target: Target, table: &Table, batches: Vec<Batch>) -> Result<Vec<Inserted>, DestinationError> {
        batches.into_iter().map(|b| self.insert(target, table, b.rows, b.columns)).collect()
    }
    /// Merges the staged rows of `root` and its nested tables into the dataset, then drops the
    /// staging tables.
    fn merge(&mut self, schema: &Schema, root: &str, merge: &Merge) -> Result<(), DestinationError>;

    /// Creates dlt's bookkeeping tables the schema needs.
    fn ensure_dlt_tables(&mut self, schema: &Schema) -> Result<(), DestinationError>;
    /// Stores a schema version in `_dlt_version`.
    fn insert_version(&mut self, schema: &Schema, inserted_at: &str) -> Result<(), DestinationError>;
    /// Stores the pipeline state in `_dlt_pipeline_state`.
    fn insert_state(&mut self, pipeline_name: &str, state: &PipelineState, created_at: &str, load_id: &str, row_id: &str) -> Result<(), DestinationError>;
    /// Records a completed load in `_dlt_loads`.
    fn insert_load(&mut self, load_id: &str, schema: &Schema, inserted_at: &str) -> Result<(), DestinationError>;

    /// Drops a table of the dataset. Returns whether it existed.
    fn drop_table(&mut self, table: &str) -> Result<bool, DestinationError>;
    /// The dataset's tables, sorted.
    fn tables(&self) -> Vec<String>;
    /// Staging tables left over, sorted.
    fn staging_tables(&self) -> Vec<String>;
    /// Rows in a table of the dataset (0 if it does not exist).
    fn row_count(&mut self, table: &str) -> Result<i64, DestinationError>;
    /// How many loads completed, and the newest load id.
    fn loads(&mut self) -> Result<(i64, Option<String>), DestinationError>;
    /// Runs a query with the dataset as the default schema (unqualified names are its tables)
    /// and returns its rows as Arrow record batches.
    fn query_arrow(&mut self, sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>, DestinationError>;
}
