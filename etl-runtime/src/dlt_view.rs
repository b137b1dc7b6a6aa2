//! What a dlt user looks at besides the run history: a dlt asset's pipeline and its
//! destination (`PipelineInfo`: schema version, tables with columns and rows, loads, state with
//! its cursors, leftovers) and its pending packages, for the web UI's asset page. `info` shows
//! the same in the CLI.

use std::path::Path;

use etl_pipeline::pipeline::{PipelineInfo, SchemaTable};

use crate::registry::DltAssetsDef;

/// A pipeline's destination as a dlt user reads it.
#[derive(Debug, Clone)]
pub struct DltView {
    /// What the destination holds (`Pipeline::info`).
    pub info: PipelineInfo,
    /// Pending packages (load ids): items of failed runs kept for `load-pending`.
    pub pending_packages: Vec<String>,
}

impl DltView {
    /// Staging tables left over by another writer (`info.pending` without the packages).
    pub fn staging(&self) -> impl Iterator<Item = &str> {
        self.info.pending.iter().map(String::as_str).filter(|p| !p.starts_with("pending package "))
    }

    /// The tables of one resource: its root table, then its nested tables, depth first.
    pub fn tables_of(&self, resource: &str) -> Vec<&SchemaTable> {
        let tables = &self.info.schema_tables;
        let mut out: Vec<&SchemaTable> = tables.iter().filter(|t| t.resource.as_deref() == Some(resource) && t.parent.is_none()).collect();
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].name.as_str();
            let children: Vec<&SchemaTable> = tables.iter().filter(|t| t.parent.as_deref() == Some(parent)).collect();
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
        Ok(DltView { info, pending_packages: pipeline.pending_packages().into_iter().map(|p| p.load_id).collect() })
    }
    #[cfg(not(any(feature = "duckdb", feature = "postgres")))]
    {
        let _ = (def, dir);
        Err("this build has no destination (features `duckdb` and `postgres` are off)".into())
    }
}
