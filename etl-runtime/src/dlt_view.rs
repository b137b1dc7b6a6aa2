//! What a dlt user looks at besides the run history: a dlt asset's pipeline and its
//! destination (schema version, tables with row counts, loads, state with its cursors,
//! anything pending), for the web UI's asset page. `info` and `drop` show the same in the CLI.

use std::path::Path;

use crate::registry::DltAssetsDef;

/// A pipeline's destination as a dlt user reads it.
#[derive(Debug, Clone, Default)]
pub struct DltView {
    /// The pipeline's name.
    pub pipeline: String,
    /// `duckdb` or `postgres`.
    pub destination: String,
    /// Where the destination is (no secrets).
    pub location: String,
    /// The dataset.
    pub dataset: String,
    /// Whether it was loaded at least once.
    pub exists: bool,
    /// The stored schema: name, version, content hash.
    pub schema: Option<(String, i64, String)>,
    /// The dataset's tables with their rows.
    pub tables: Vec<(String, i64)>,
    /// Completed loads, and the newest.
    pub loads: i64,
    /// The newest load id.
    pub last_load_id: Option<String>,
    /// The state's version and document (sources, resources, incremental cursors).
    pub state: Option<(i64, serde_json::Value)>,
    /// Staging tables left over by another writer.
    pub staging: Vec<String>,
    /// Pending packages (load ids): items of failed runs kept for `load-pending`.
    pub pending_packages: Vec<String>,
    /// The stored schema's data tables with their columns: (table, parent, resource, columns
    /// as name, type, nullable).
    pub tables_columns: Vec<TableColumns>,
}

/// A data table of the stored schema with its columns.
#[derive(Debug, Clone, Default)]
pub struct TableColumns {
    /// The table.
    pub name: String,
    /// Its parent, for a nested table.
    pub parent: Option<String>,
    /// The resource that fills a root table.
    pub resource: Option<String>,
    /// Name, dlt type, nullable.
    pub columns: Vec<(String, String, bool)>,
}

impl DltView {
    /// The tables of one resource: its root table, then its nested tables, depth first.
    pub fn tables_of(&self, resource: &str) -> Vec<&TableColumns> {
        let mut out: Vec<&TableColumns> = self.tables_columns.iter().filter(|t| t.resource.as_deref() == Some(resource) && t.parent.is_none()).collect();
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].name.clone();
            let children: Vec<&TableColumns> = self.tables_columns.iter().filter(|t| t.parent.as_deref() == Some(parent.as_str())).collect();
            for (k, c) in children.into_iter().enumerate() {
                out.insert(i + 1 + k, c);
            }
            i += 1;
        }
        out
    }
}

/// The view of `def`'s pipeline run in `dir`. An error says what failed (the pipeline's own
/// code, the destination busy or unreachable, a build without destinations).
pub fn view(def: &DltAssetsDef, dir: &Path) -> Result<DltView, String> {
    #[cfg(any(feature = "duckdb", feature = "postgres"))]
    {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let built = catch_unwind(AssertUnwindSafe(|| etl_core::resource::with_run_dir(dir, || (def.pipeline)())));
        let pipeline = built.map_err(|p| format!("building the pipeline failed: {}", etl_core::error::panic_text(p.as_ref())))?.working_dir(dir);
        let info = pipeline.info().map_err(|e| e.to_string())?;
        let staging = info.pending.iter().filter(|p| !p.starts_with("pending package ")).cloned().collect();
        Ok(DltView {
            pipeline: info.pipeline_name,
            destination: info.destination_name,
            location: info.location,
            dataset: info.dataset,
            exists: info.exists,
            schema: info.schema,
            tables: info.tables,
            loads: info.loads,
            last_load_id: info.last_load_id,
            state: info.state,
            staging,
            pending_packages: pipeline.pending_packages().into_iter().map(|p| p.load_id).collect(),
            tables_columns: info
                .schema_tables
                .into_iter()
                .map(|t| TableColumns { name: t.name, parent: t.parent, resource: t.resource, columns: t.columns })
                .collect(),
        })
    }
    #[cfg(not(any(feature = "duckdb", feature = "postgres")))]
    {
        let _ = (def, dir);
        Err("this build has no destination (features `duckdb` and `postgres` are off)".into())
    }
}
