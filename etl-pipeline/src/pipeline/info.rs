//! What a run did ([`LoadInfo`]) and what `info` reports ([`PipelineInfo`]).

use super::*;

/// What `info` reports about a pipeline's destination.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineInfo {
    /// Pipeline name.
    pub pipeline_name: String,
    /// The destination's name (`duckdb`, `postgres`).
    pub destination_name: String,
    /// Where the destination is, without secrets: the DuckDB file, or the server and database.
    pub location: String,
    /// The DuckDB file, with a DuckDB destination.
    pub database_path: Option<PathBuf>,
    /// Whether the database (DuckDB: the file; PostgreSQL: the dataset) exists.
    pub exists: bool,
    /// The dataset (a schema of the database).
    pub dataset: String,
    /// Schema name, version and content hash, if a schema is stored.
    pub schema: Option<(String, i64, String)>,
    /// Tables of the dataset with their row counts.
    pub tables: Vec<(String, i64)>,
    /// Completed loads.
    pub loads: i64,
    /// The newest load id.
    pub last_load_id: Option<String>,
    /// Stored state version and document (sources, cursors), if any.
    pub state: Option<(i64, serde_json::Value)>,
    /// Anything left over that a run would clean up (staging tables).
    pub pending: Vec<String>,
    /// The stored schema's data tables (roots and nested) with their columns.
    pub schema_tables: Vec<SchemaTable>,
}

/// A data table of the stored schema.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SchemaTable {
    /// Its name.
    pub name: String,
    /// The parent table of a nested table.
    pub parent: Option<String>,
    /// The resource that fills a root table.
    pub resource: Option<String>,
    /// Its columns: name, dlt type (empty when none is known yet), nullable.
    pub columns: Vec<(String, String, bool)>,
}

/// One table's part of a load.
#[derive(Debug, Clone, PartialEq)]
pub struct TableLoad {
    /// Table name.
    pub table: String,
    /// Parent table for nested tables.
    pub parent: Option<String>,
    /// Resource that produced the rows.
    pub resource: String,
    /// Rows written by this load.
    pub rows: u64,
    /// The load job that wrote them (how and when), as the loader recorded it.
    pub job: Option<crate::jobs::LoadJob>,
}

/// What a run did (dlt's `LoadInfo`, with the normalize row counts).
#[derive(Debug, Clone)]
pub struct LoadInfo {
    /// Pipeline name.
    pub pipeline_name: String,
    /// Dataset name as configured (dlt reports it unnormalized).
    pub dataset_name: String,
    /// The database schema the dataset lives in (normalized).
    pub dataset_schema: String,
    /// Schema (source) name.
    pub schema_name: String,
    /// Destination name (`duckdb`, `postgres`).
    pub destination_name: String,
    /// Destination type (`dlt.destinations.duckdb`, `dlt.destinations.postgres`).
    pub destination_type: String,
    /// Where the destination is, without secrets: the DuckDB file, or the server and database.
    pub location: String,
    /// The DuckDB file, with a DuckDB destination.
    pub database_path: Option<PathBuf>,
    /// The load id, or `None` if there was nothing to load.
    pub load_id: Option<String>,
    /// True if no earlier run of this pipeline had stored state in the destination.
    pub first_run: bool,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the run finished.
    pub finished_at: DateTime<Utc>,
    /// Rows per table (tables with rows, plus `_dlt_pipeline_state` when a state row was written).
    pub row_counts: BTreeMap<String, u64>,
    /// Per-table loads, root tables and nested tables.
    pub tables: Vec<TableLoad>,
    /// Schema changes this load made.
    pub schema_changes: Vec<SchemaChange>,
    /// The schema after the load.
    pub schema: Schema,
}

impl LoadInfo {
    /// Rows loaded into a table by this run.
    pub fn rows(&self, table: &str) -> u64 {
        self.row_counts.get(table).copied().unwrap_or(0)
    }
}
