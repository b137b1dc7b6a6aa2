//! Pipelines: extract a source's selected resources, normalize their items, load them into the
//! destination, in one transaction per run.
//!
//! The three stages stream: items are normalized as they are pulled, coerced rows are buffered
//! per table in bounded batches, and each full batch goes to DuckDB as an Arrow batch while the
//! resource keeps producing. Nothing is committed until every resource finished and the
//! bookkeeping rows (`_dlt_version`, `_dlt_pipeline_state`, `_dlt_loads`) are written, so a
//! failure anywhere leaves the destination as it was before the run.

mod info;
mod maintenance;
#[cfg(feature = "duckdb")]
mod resource;
mod run;

pub use info::{LoadInfo, PipelineInfo, TableLoad};
#[cfg(feature = "duckdb")]
pub(crate) use resource::{resource_window, Prepared, RunCtx, Started};
#[cfg(feature = "duckdb")]
use resource::PARALLEL_RESOURCES;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use etl_core::naming::default_schema_name;
use etl_core::{Resource, Schema, SchemaChange, Source};

use crate::error::PipelineError;
use crate::progress::{ExtractObserver, Progress};
// The load path: compiled with a destination.
#[cfg(feature = "duckdb")]
use crate::progress::ProgressSink;
#[cfg(feature = "duckdb")]
use etl_core::{
    naming::normalize_identifier,
    normalize::{IdGenerator, DEFAULT_MAX_NESTING},
    resource::BoxError,
    WriteDisposition,
};
#[cfg(feature = "duckdb")]
use std::panic::{catch_unwind, AssertUnwindSafe};
#[cfg(feature = "duckdb")]
use std::time::Instant;
#[cfg(feature = "duckdb")]
use crate::destination::{Merge, Session, Target};
#[cfg(feature = "duckdb")]
use crate::loader::Job;
#[cfg(feature = "duckdb")]
use crate::sink::{next_item, panic_message, read_guarded, NodeCtx, RowSink, Shared};


/// The destination type name dlt reports for DuckDB.
pub const DUCKDB_DESTINATION_TYPE: &str = "dlt.destinations.duckdb";

/// Where a pipeline loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    path: Option<PathBuf>,
}

/// The DuckDB destination (dlt's `destination="duckdb"`): the file `<pipeline_name>.duckdb` in
/// the pipeline's working directory unless a path is given.
pub fn duckdb() -> Destination {
    Destination { path: None }
}

impl Destination {
    /// Loads into this DuckDB file (relative paths are taken from the working directory).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The destination's name (`duckdb`), also the asset kind.
    pub fn name(&self) -> &'static str {
        "duckdb"
    }

    /// dlt's destination type string.
    pub fn destination_type(&self) -> &'static str {
        DUCKDB_DESTINATION_TYPE
    }

    /// The database file for a pipeline run in `working_dir`.
    pub fn file_for(&self, pipeline_name: &str, working_dir: &Path) -> PathBuf {
        match &self.path {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => working_dir.join(p),
            None => working_dir.join(format!("{pipeline_name}.duckdb")),
        }
    }
}

/// A pipeline definition (dlt's `dlt.pipeline(...)`). Cheap to clone; runs are independent.
#[derive(Debug, Clone)]
pub struct Pipeline {
    name: String,
    dataset_name: Option<String>,
    destination: Destination,
    progress: Progress,
    working_dir: Option<PathBuf>,
    schema_contract: Option<etl_core::SchemaContract>,
    #[cfg_attr(not(feature = "duckdb"), allow(dead_code))]
    spool: bool,
    compress_row_ids: bool,
    observer: Option<Observer>,
}

/// An [`ExtractObserver`] in a pipeline definition.
#[derive(Clone)]
struct Observer(#[cfg_attr(not(feature = "duckdb"), allow(dead_code))] ExtractObserver);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtractObserver")
    }
}

/// Starts a pipeline definition.
pub fn pipeline(name: impl Into<String>) -> Pipeline {
    Pipeline {
        name: name.into(),
        dataset_name: None,
        destination: duckdb(),
        progress: Progress::None,
        working_dir: None,
        schema_contract: None,
        spool: true,
        compress_row_ids: false,
        observer: None,
    }
}

/// Something a pipeline can run: a source, one resource, or several resources.
pub trait IntoSource {
    /// Makes the source; `default_name` is the schema name to use when there is no source.
    fn into_source(self, default_name: &str) -> Result<Source, PipelineError>;
}

impl IntoSource for Source {
    fn into_source(mut self, _default_name: &str) -> Result<Source, PipelineError> {
        match self.take_error() {
            Some(error) => Err(PipelineError::config_from(format!("source `{}` could not be built", self.name()), error)),
            None => Ok(self),
        }
    }
}

impl IntoSource for Resource {
    fn into_source(self, default_name: &str) -> Result<Source, PipelineError> {
        Source::with(default_name, self).map_err(|e| PipelineError::config(e.to_string()))
    }
}

impl IntoSource for Vec<Resource> {
    fn into_source(self, default_name: &str) -> Result<Source, PipelineError> {
        Source::with(default_name, self).map_err(|e| PipelineError::config(e.to_string()))
    }
}

impl Pipeline {
    /// Sets the dataset name (default `<pipeline_name>_dataset`).
    pub fn dataset_name(mut self, name: impl Into<String>) -> Self {
        self.dataset_name = Some(name.into());
        self
    }

    /// Sets the destination.
    pub fn destination(mut self, destination: Destination) -> Self {
        self.destination = destination;
        self
    }

    /// Sets how progress is reported.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Sets the working directory (default: the process's current directory). The DuckDB file
    /// lives here unless the destination names an absolute path.
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Lets DuckDB compress the row-id columns (`_dlt_id`, `_dlt_parent_id`, `_dlt_root_id`) of
    /// tables this pipeline creates. Off by default: the ids are random text, and compressing
    /// them costs about a quarter of a large load's time for files about a quarter smaller.
    pub fn compress_row_ids(mut self, compress: bool) -> Self {
        self.compress_row_ids = compress;
        self
    }

    /// Sets a schema contract for every run of this pipeline; it overrides the contracts of
    /// sources and resources (dlt's `run(..., schema_contract=...)`).
    pub fn schema_contract(mut self, contract: etl_core::SchemaContract) -> Self {
        self.schema_contract = Some(contract);
        self
    }

    /// Tells `observer` how many items each resource has extracted, every 1,000 items, while a
    /// run goes on (an orchestrator's progress bar).
    pub fn on_extracted(mut self, observer: ExtractObserver) -> Self {
        self.observer = Some(Observer(observer));
        self
    }

    /// Pipeline name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The destination.
    pub fn destination_config(&self) -> &Destination {
        &self.destination
    }

    /// Dataset name as configured or defaulted (not normalized).
    pub fn dataset(&self) -> String {
        self.dataset_name.clone().unwrap_or_else(|| format!("{}_dataset", self.name))
    }

    /// The working directory this pipeline runs in.
    pub fn resolved_working_dir(&self) -> PathBuf {
        self.working_dir.clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
    }

    /// The DuckDB file this pipeline loads into.
    pub fn database_path(&self) -> PathBuf {
        self.destination.file_for(&self.name, &self.resolved_working_dir())
    }

}

/// A new load id: Unix time in seconds with microseconds, as dlt writes it.
pub fn new_load_id() -> String {
    let now = Utc::now();
    let secs = now.timestamp() as f64 + f64::from(now.timestamp_subsec_micros()) / 1e6;
    etl_core::types::python_float_repr(secs)
}

/// A timestamp as text DuckDB parses into `TIMESTAMPTZ`.
pub fn timestamp_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}
