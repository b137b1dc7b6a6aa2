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
#[cfg(loads)]
mod resource;
mod run;

pub use info::{LoadInfo, PipelineInfo, SchemaTable, TableLoad};
#[cfg(loads)]
pub(crate) use resource::{Prepared, Started};
#[cfg(loads)]
pub(crate) use run::LoadRun;
#[cfg(loads)]
pub(crate) use run::{RunFacts, RunSchema};
#[cfg(loads)]
pub(crate) use resource::{setup_table, TableSetup};
#[cfg(loads)]
use run::Accumulated;
#[cfg(loads)]
use resource::PARALLEL_RESOURCES;

use std::collections::BTreeMap;
use std::path::PathBuf;
#[cfg(loads)]
use std::path::Path;

use chrono::{DateTime, Utc};
use etl_core::naming::default_schema_name;
use etl_core::{Resource, Schema, SchemaChange, Source};

use crate::destination::Destination;
use crate::error::PipelineError;
use crate::progress::{ExtractObserver, Progress};
// The load path: compiled with a destination.
#[cfg(loads)]
use crate::progress::ProgressSink;
#[cfg(loads)]
use etl_core::{
    naming::normalize_identifier,
    normalize::{IdGenerator, DEFAULT_MAX_NESTING},
    resource::BoxError,
    WriteDisposition,
};
#[cfg(loads)]
use std::panic::{catch_unwind, AssertUnwindSafe};
#[cfg(loads)]
use crate::destination::{Merge, Session, Target};
#[cfg(loads)]
use crate::loader::Job;
#[cfg(loads)]
use crate::sink::{next_item, panic_message, read_guarded, NodeCtx, RowSink};


/// A pipeline definition (dlt's `dlt.pipeline(...)`). Cheap to clone; runs are independent.
#[derive(Debug, Clone)]
pub struct Pipeline {
    name: String,
    dataset_name: Option<String>,
    destination: Destination,
    progress: Progress,
    working_dir: Option<PathBuf>,
    schema_contract: Option<etl_core::SchemaContract>,
    #[cfg_attr(not(loads), allow(dead_code))]
    spool: bool,
    compress_row_ids: bool,
    observer: Option<Observer>,
}

/// An [`ExtractObserver`] in a pipeline definition.
#[derive(Clone)]
struct Observer(#[cfg_attr(not(loads), allow(dead_code))] ExtractObserver);

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
        destination: Destination::default(),
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

    /// Sets the destination (default: from configuration, else DuckDB; see
    /// [`crate::destination::config`]).
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
    pub fn dataset_name_or_default(&self) -> String {
        self.dataset_name.clone().unwrap_or_else(|| format!("{}_dataset", self.name))
    }

    /// The working directory this pipeline runs in.
    pub fn resolved_working_dir(&self) -> PathBuf {
        self.working_dir.clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
    }

    /// The DuckDB file this pipeline loads into (with a DuckDB destination; for another, the
    /// file it would use).
    pub fn database_path(&self) -> PathBuf {
        self.destination.file_for(&self.name, &self.resolved_working_dir())
    }

    /// The destination a run opens now, with what configuration says where the code left it
    /// open.
    pub fn resolve_destination(&self) -> Result<crate::destination::Resolved, PipelineError> {
        self.destination.resolve(&self.name, &self.resolved_working_dir())
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
