//! `DuckDbResource`: a DuckDB file that plain assets read and write, run in the file's pool.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::asset::AssetError;
use crate::context::{duckdb_pool, AssetExecutionContext, ConfigurableResource};

/// A DuckDB file for plain assets (Dagster's `DuckDBResource`). A relative path is resolved
/// against the run's working directory, so `DuckDbResource::pipeline("shop")` is the file the
/// pipeline `shop` loads into. Every asset that takes it runs in the file's pool, one at a time
/// with the loads into the same file within a run, so no op of the run meets DuckDB's writer
/// lock (pools do not span runs; see the README on concurrent runs).
#[derive(Debug, Clone)]
pub struct DuckDbResource {
    path: PathBuf,
}

impl DuckDbResource {
    /// A DuckDB file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DuckDbResource { path: path.into() }
    }

    /// The file of a pipeline with the default destination: `<pipeline>.duckdb`.
    pub fn pipeline(pipeline_name: &str) -> Self {
        Self::new(format!("{pipeline_name}.duckdb"))
    }

    /// The file, resolved against the run's working directory.
    pub fn path(&self, context: &AssetExecutionContext) -> PathBuf {
        if self.path.is_absolute() {
            self.path.clone()
        } else {
            context.working_dir().join(&self.path)
        }
    }

    /// Opens a connection (DuckDB's own API).
    pub fn connect(&self, context: &AssetExecutionContext) -> Result<duckdb::Connection, AssetError> {
        let path = self.path(context);
        duckdb::Connection::open(&path).map_err(|e| AssetError::msg(format!("cannot open DuckDB file `{}`: {e}", path.display())))
    }

    /// Runs a query; rows as JSON values (dates and decimals tagged as in `etl::testing`).
    pub fn query(&self, context: &AssetExecutionContext, sql: &str) -> Result<Vec<Vec<Json>>, AssetError> {
        let conn = self.connect(context)?;
        etl_pipeline::destination::duckdb::query::query_conn(&conn, sql).map_err(|e| AssetError::msg(format!("query failed: {e}\n  in: {sql}")))
    }

    /// Executes statements in one transaction: all of them or none.
    pub fn execute(&self, context: &AssetExecutionContext, sql: &str) -> Result<(), AssetError> {
        let conn = self.connect(context)?;
        conn.execute_batch(&format!("BEGIN TRANSACTION;\n{sql};\nCOMMIT;")).map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            AssetError::msg(format!("statements failed (nothing was changed): {e}\n  in: {sql}"))
        })
    }
}

impl ConfigurableResource for DuckDbResource {
    fn pool(&self, working_dir: &Path) -> Option<String> {
        Some(duckdb_pool(&self.path, working_dir))
    }
}
