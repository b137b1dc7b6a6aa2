//! Pipelines: extract a source's selected resources, normalize their items, load them into the
//! destination, in one transaction per run.
//!
//! The three stages stream: items are normalized as they are pulled, coerced rows are buffered
//! per table in bounded batches, and each full batch goes to DuckDB as an Arrow batch while the
//! resource keeps producing. Nothing is committed until every resource finished and the
//! bookkeeping rows (`_dlt_version`, `_dlt_pipeline_state`, `_dlt_loads`) are written, so a
//! failure anywhere leaves the destination as it was before the run.

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

/// What `info` reports about a pipeline's destination.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineInfo {
    /// Pipeline name.
    pub pipeline_name: String,
    /// The database file.
    pub database_path: PathBuf,
    /// Whether the file exists.
    pub exists: bool,
    /// The dataset (DuckDB schema).
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
    /// The DuckDB schema the dataset lives in (normalized).
    pub dataset_schema: String,
    /// Schema (source) name.
    pub schema_name: String,
    /// Destination name (`duckdb`).
    pub destination_name: String,
    /// Destination type (`dlt.destinations.duckdb`).
    pub destination_type: String,
    /// The database file.
    pub database_path: PathBuf,
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

    /// The stored schema, state, tables and loads of this pipeline's dataset.
    #[cfg(feature = "duckdb")]
    pub fn info(&self) -> Result<PipelineInfo, PipelineError> {
        use crate::destination::duckdb::DuckDbSession;
        let db_path = self.database_path();
        let dataset = normalize_identifier(&self.dataset());
        let mut info = PipelineInfo {
            pipeline_name: self.name.clone(),
            database_path: db_path.clone(),
            exists: db_path.exists(),
            dataset: dataset.clone(),
            schema: None,
            tables: Vec::new(),
            loads: 0,
            last_load_id: None,
            state: None,
            pending: Vec::new(),
        };
        if !info.exists {
            return Ok(info);
        }
        let db = DuckDbSession::open(&db_path, &dataset).map_err(PipelineError::load_from)?;
        let state = db.stored_state(&self.name).map_err(PipelineError::load_from)?;
        let schema_name = state
            .as_ref()
            .and_then(|s| s.doc.get("default_schema_name").and_then(serde_json::Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| default_schema_name(&self.name));
        if let Some(schema) = db.stored_schema(&schema_name).map_err(PipelineError::load_from)? {
            info.schema = Some((schema.name.clone(), schema.version, schema.version_hash.clone()));
        }
        for t in db.tables() {
            let n = db.row_count(&t).map_err(PipelineError::load_from)?;
            info.tables.push((t, n));
        }
        (info.loads, info.last_load_id) = db.loads().map_err(PipelineError::load_from)?;
        info.state = state.map(|s| (s.version(), serde_json::Value::Object(s.doc)));
        info.pending = db.staging_tables();
        info.pending.extend(self.pending_packages().into_iter().map(|p| format!("pending package {}", p.dir.display())));
        Ok(info)
    }

    /// Rows in each of `tables` of the dataset now (`count(*)`; a table that does not exist has
    /// 0 rows). For dagster-dlt's opt-in `dagster/row_count`.
    #[cfg(feature = "duckdb")]
    pub fn row_counts(&self, tables: &[String]) -> Result<BTreeMap<String, u64>, PipelineError> {
        use crate::destination::duckdb::DuckDbSession;
        let db_path = self.database_path();
        let mut out = BTreeMap::new();
        if !db_path.exists() {
            out.extend(tables.iter().map(|t| (t.clone(), 0)));
            return Ok(out);
        }
        let db = DuckDbSession::open(&db_path, &normalize_identifier(&self.dataset())).map_err(PipelineError::load_from)?;
        for t in tables {
            let n = db.row_count(t).map_err(PipelineError::load_from)?;
            out.insert(t.clone(), u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// Pending packages: items pulled by failed or killed runs, kept on disk (see README,
    /// "Failed runs").
    #[cfg(feature = "duckdb")]
    pub fn pending_packages(&self) -> Vec<crate::spool::PendingPackage> {
        crate::spool::pending(&crate::spool::pipeline_dir(&self.resolved_working_dir(), &self.name))
    }

    /// Loads every pending package, oldest first, each in its own transaction and load id.
    /// A package that loads is deleted; one that fails again is kept and its error returned in
    /// the list (the others still load).
    #[cfg(feature = "duckdb")]
    pub fn load_pending(&self) -> Vec<(String, Result<LoadInfo, PipelineError>)> {
        let mut quiet = self.clone();
        quiet.spool = false;
        self.pending_packages()
            .into_iter()
            .map(|pkg| {
                let result = pkg.source().and_then(|source| quiet.run_source(source));
                if result.is_ok() {
                    let _ = pkg.remove();
                }
                (pkg.load_id.clone(), result)
            })
            .collect()
    }

    /// Discards every pending package; returns how many there were.
    #[cfg(feature = "duckdb")]
    pub fn drop_pending(&self) -> usize {
        let pending = self.pending_packages();
        pending.iter().filter(|p| p.remove().is_ok()).count()
    }

    /// Drops the tables of resources (their root tables and all nested tables) and their state,
    /// in one transaction that also stores the new schema version and state. Returns the dropped
    /// tables. The next run of those resources starts from scratch (incremental cursors too).
    #[cfg(feature = "duckdb")]
    pub fn drop_resources(&self, resources: &[&str]) -> Result<Vec<String>, PipelineError> {
        use crate::destination::duckdb::DuckDbSession;
        let db_path = self.database_path();
        if !db_path.exists() {
            return Err(PipelineError::config(format!("pipeline `{}` has no database at {}", self.name, db_path.display())));
        }
        let _lock = crate::lock::PipelineLock::acquire(&db_path, &self.name)?;
        let dataset = normalize_identifier(&self.dataset());
        let mut db = DuckDbSession::open(&db_path, &dataset).map_err(PipelineError::load_from)?;
        let mut state = db
            .stored_state(&self.name)
            .map_err(PipelineError::load_from)?
            .ok_or_else(|| PipelineError::config(format!("pipeline `{}` has no stored state in {}", self.name, db_path.display())))?;
        let schema_name = state
            .doc
            .get("default_schema_name")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| default_schema_name(&self.name));
        let mut schema = db
            .stored_schema(&schema_name)
            .map_err(PipelineError::load_from)?
            .ok_or_else(|| PipelineError::config(format!("no stored schema `{schema_name}`")))?;
        let mut doomed: Vec<String> = Vec::new();
        let mut unknown = Vec::new();
        for r in resources {
            let roots: Vec<String> = schema.tables.iter().filter(|t| t.resource.as_deref() == Some(*r)).map(|t| t.name.clone()).collect();
            if roots.is_empty() {
                unknown.push((*r).to_owned());
            }
            for root in roots {
                doomed.extend(schema.descendants(&root).into_iter().map(|t| t.name.clone()).rev());
                doomed.push(root);
            }
        }
        if !unknown.is_empty() {
            let known: Vec<&str> = schema.data_tables().filter_map(|t| t.resource.as_deref()).collect();
            return Err(PipelineError::config(format!("schema `{schema_name}` has no resource {unknown:?}; it has {known:?}")));
        }
        let load_id = new_load_id();
        let now = timestamp_text(Utc::now());
        db.begin().map_err(PipelineError::load_from)?;
        let result = (|| -> Result<(), PipelineError> {
            for t in &doomed {
                db.drop_table(t).map_err(PipelineError::load_from)?;
            }
            schema.tables.retain(|t| !doomed.contains(&t.name));
            if let Some(sources) = state.doc.get_mut("sources").and_then(serde_json::Value::as_object_mut) {
                for section in sources.values_mut() {
                    if let Some(res) = section.get_mut("resources").and_then(serde_json::Value::as_object_mut) {
                        for r in resources {
                            res.remove(*r);
                        }
                    }
                }
            }
            if schema.bump_version() {
                db.insert_version(&schema, &now).map_err(PipelineError::load_from)?;
            }
            if state.bump_if_changed() {
                db.insert_state(&self.name, &state, &now, &load_id, &IdGenerator::new().root_id()).map_err(PipelineError::load_from)?;
            }
            db.insert_load(&load_id, &schema, &now).map_err(PipelineError::load_from)?;
            Ok(())
        })();
        match result {
            Ok(()) => db.commit().map_err(PipelineError::load_from)?,
            Err(e) => {
                db.rollback();
                return Err(e);
            }
        }
        Ok(doomed)
    }

    /// Runs a source (or resources): extract, normalize and load in one transaction.
    pub fn run(&self, data: impl IntoSource) -> Result<LoadInfo, PipelineError> {
        let source = data.into_source(&default_schema_name(&self.name))?;
        self.run_source(source)
    }

    #[cfg(not(feature = "duckdb"))]
    fn run_source(&self, _source: Source) -> Result<LoadInfo, PipelineError> {
        Err(PipelineError::config("this build of etl has no DuckDB destination (the `duckdb` feature is off)"))
    }

    #[cfg(feature = "duckdb")]
    fn run_source(&self, source: Source) -> Result<LoadInfo, PipelineError> {
        let started_at = Utc::now();
        let db_path = self.database_path();
        if let Some(dir) = db_path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| PipelineError::load(format!("cannot create directory {}: {e}", dir.display())))?;
            }
        }
        let _lock = crate::lock::PipelineLock::acquire(&db_path, &self.name)?;
        let existed = db_path.exists();
        let opened = std::cell::Cell::new(false);
        let spool_dir = self.spool.then(|| crate::spool::pipeline_dir(&self.resolved_working_dir(), &self.name));
        let result = self.run_in_transaction(source, &db_path, started_at, &opened, spool_dir.as_deref());
        if result.is_err() && !existed && opened.get() {
            // This run created the file: a failed run leaves no trace, as if it never happened.
            // (A file another process created meanwhile is never ours: opening it would have
            // failed on DuckDB's lock, and `opened` would be false.)
            let _ = std::fs::remove_file(&db_path);
            let mut wal = db_path.clone().into_os_string();
            wal.push(".wal");
            let _ = std::fs::remove_file(wal);
        }
        result
    }

    #[cfg(feature = "duckdb")]
    fn run_in_transaction(
        &self,
        source: Source,
        db_path: &Path,
        started_at: DateTime<Utc>,
        opened: &std::cell::Cell<bool>,
        spool_dir: Option<&Path>,
    ) -> Result<LoadInfo, PipelineError> {
        use crate::destination::duckdb::DuckDbSession;
        use crate::state::PipelineState;

        let dataset_display = self.dataset();
        let dataset = normalize_identifier(&dataset_display);
        let schema_name = normalize_identifier(source.name());
        let mut progress = ProgressSink::new(self.progress, &self.name, self.observer.as_ref().map(|o| o.0.clone()));

        let mut duck = DuckDbSession::open(db_path, &dataset).map_err(PipelineError::load_from)?;
        duck.set_compress_row_ids(self.compress_row_ids);
        let mut db: Box<dyn Session> = Box::new(duck);
        opened.set(true);
        let mut schema = db.stored_schema(&schema_name).map_err(PipelineError::load_from)?.unwrap_or_else(|| Schema::new(&schema_name));
        let stored_state = db.stored_state(&self.name).map_err(PipelineError::load_from)?;
        let first_run = stored_state.is_none();
        let mut state =
            stored_state.unwrap_or_else(|| PipelineState::new(&self.name, &dataset_display, &schema_name, self.destination.destination_type()));
        state.add_schema(&schema_name);

        let load_id = new_load_id();
        let mut ids = IdGenerator::new();
        let mut changes: Vec<SchemaChange> = Vec::new();
        let mut row_counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut tables: Vec<TableLoad> = Vec::new();

        let mut spool = match spool_dir {
            Some(dir) => {
                // Spools of killed runs: committed ones are garbage, the others become pending.
                for (old_id, old_dir) in crate::spool::leftovers(dir) {
                    if db.has_load(&old_id).map_err(PipelineError::load_from)? {
                        let _ = std::fs::remove_dir_all(&old_dir);
                    } else {
                        let _ = crate::spool::adopt(dir, &old_id, &old_dir);
                    }
                }
                let pending = crate::spool::pending(dir);
                if !pending.is_empty() {
                    progress.pending(pending.len(), dir);
                }
                Some(crate::spool::Spool::create(dir, &load_id, &source)?)
            }
            None => None,
        };

        let jobs = crate::jobs::JobLog::default();
        db.begin().map_err(PipelineError::load_from)?;
        let (mut db, work) = crate::loader::with_loader(db, |loader| -> Result<bool, PipelineError> {
            loader.run(Job::EnsureDataset)?;
            let (source_nesting, source_contract, source_root_key) = (source.max_table_nesting(), source.schema_contract(), source.root_key());
            let source_name = source.name().to_owned();
            let run = RunCtx { loader, load_id: &load_id, jobs: jobs.clone(), source_name: &source_name, source_nesting, source_contract, source_root_key };
            let mut sh = Shared { schema: &mut schema, changes: &mut changes, ids: &mut ids };
            let mut wrote_any = false;
            let (resources, parents) = source.into_pipes();
            let mut units: Vec<Option<crate::pipe::Unit>> = crate::pipe::plan(resources, parents)?.into_iter().map(Some).collect();
            // Parallelized resources start ahead of their turn, at most PARALLEL_RESOURCES
            // positions ahead, each behind its bounded channel; they are consumed in order.
            let mut ahead: Vec<Option<Started>> = (0..units.len()).map(|_| None).collect();
            let mut spool_index = 0;
            for index in 0..units.len() {
                for j in index..(index + PARALLEL_RESOURCES).min(units.len()) {
                    let Some(unit) = units[j].as_mut() else { continue };
                    let loads = unit.root_loads();
                    let r = unit.root_mut();
                    if ahead[j].is_none() && r.hints().parallelized {
                        let (filter, context) = resource_window(r.hints(), &source_name, &mut state, loads)?;
                        let items = catch_unwind(AssertUnwindSafe(|| r.take_items_with(&context))).unwrap_or_else(|p| Err(panic_message(p)));
                        ahead[j] = Some(Started { filter, context, items });
                    }
                }
                let loaded: Vec<crate::pipe::Loaded> = match units[index].take().expect("each unit is loaded once") {
                    crate::pipe::Unit::Single(mut resource) => {
                        let started = Instant::now();
                        if let Some(sp) = spool.as_mut() {
                            let keep = match resource.json_lines_file() {
                                Some(path) => crate::spool::Keep::LinesOf(path),
                                None if resource.is_json_lines() => crate::spool::Keep::Lines,
                                None => crate::spool::Keep::Values,
                            };
                            sp.begin_resource(spool_index, resource.hints(), keep)?;
                            spool_index += 1;
                        }
                        let written = self.load_resource(&run, &mut sh, (&mut resource, ahead[index].take()), &mut state, &mut progress, spool.as_mut())?;
                        vec![crate::pipe::Loaded { hints: resource.hints().clone(), written, took: started.elapsed() }]
                    }
                    crate::pipe::Unit::Group(node) => {
                        let mut io = crate::pipe::GroupIo { state: &mut state, progress: &mut progress, spool: spool.as_mut(), spool_index: &mut spool_index };
                        crate::pipe::load_group(self, &run, &mut sh, node, ahead[index].take(), &mut io)?
                    }
                };
                for crate::pipe::Loaded { hints, written, took } in loaded {
                    let root = normalize_identifier(hints.table());
                    for (table, rows) in &written {
                        *row_counts.entry(table.clone()).or_default() += rows;
                        let parent = sh.schema.table(table).and_then(|t| t.parent.clone());
                        tables.push(TableLoad { table: table.clone(), parent, resource: hints.name.clone(), rows: *rows, job: None });
                    }
                    let root_rows = written.get(&root).copied().unwrap_or(0);
                    progress.resource_done(&hints.name, root_rows, written.values().sum(), took);
                    wrote_any |= !written.is_empty() || hints.write_disposition == WriteDisposition::Replace;
                }
            }
            Ok(wrote_any)
        });
        // Bookkeeping on this thread, once every batch is in: schema version, state, the load.
        let outcome = work.and_then(|wrote_any| {
            let now = timestamp_text(Utc::now());
            let state_changed = state.bump_if_changed();
            if state_changed {
                if let Some(change) = schema.ensure_state_table() {
                    changes.push(change);
                }
            }
            let schema_changed = schema.bump_version();
            if !wrote_any && !state_changed && !schema_changed {
                // Nothing to load: no package and no _dlt_loads row, as dlt.
                return Ok(false);
            }
            db.ensure_dlt_tables(&schema).map_err(PipelineError::load_from)?;
            if schema_changed {
                db.insert_version(&schema, &now).map_err(PipelineError::load_from)?;
            }
            if state_changed {
                db.insert_state(&self.name, &state, &now, &load_id, &ids.root_id()).map_err(PipelineError::load_from)?;
                *row_counts.entry(etl_core::schema::STATE_TABLE.to_owned()).or_default() += 1;
            }
            db.insert_load(&load_id, &schema, &now).map_err(PipelineError::load_from)?;
            Ok(true)
        });
        let loaded = match outcome {
            Ok(true) => {
                db.commit().map_err(PipelineError::load_from)?;
                true
            }
            Ok(false) => {
                db.rollback();
                false
            }
            Err(mut e) => {
                db.rollback();
                // Items pulled before a normalize or load failure are kept (see `spool`); a
                // failing resource is run again instead, as dlt discards a failed extract.
                if let Some(sp) = spool.take() {
                    if matches!(e.step, crate::error::Step::Normalize | crate::error::Step::Load) {
                        if let Some(kept) = sp.keep() {
                            e.message.push_str(&format!(
                                "; the items pulled by this run are kept as a pending package in {} \
                                 (load them with `load-pending`, discard them with `drop-pending`)",
                                kept.display()
                            ));
                        }
                    } else {
                        sp.discard();
                    }
                }
                progress.failed(&e);
                return Err(e);
            }
        };
        if let Some(sp) = spool.take() {
            sp.discard();
        }
        for t in &mut tables {
            t.job = jobs.job(&t.table);
        }
        let finished_at = Utc::now();
        progress.finished(loaded, &row_counts, finished_at - started_at);
        Ok(LoadInfo {
            pipeline_name: self.name.clone(),
            dataset_name: dataset_display,
            dataset_schema: dataset,
            schema_name,
            destination_name: self.destination.name().to_owned(),
            destination_type: self.destination.destination_type().to_owned(),
            database_path: db_path.to_owned(),
            load_id: loaded.then_some(load_id),
            first_run,
            started_at,
            finished_at,
            row_counts: if loaded { row_counts } else { BTreeMap::new() },
            tables: if loaded { tables } else { Vec::new() },
            schema_changes: changes,
            schema,
        })
    }

    #[cfg(feature = "duckdb")]
    /// Makes the sink of a selected resource: applies its hints to the schema, empties its
    /// tables for `replace`, and decides where and how its rows go.
    pub(crate) fn prepare_sink<'a>(&self, run: &RunCtx<'a>, sh: &mut Shared<'_>, hints: &etl_core::ResourceHints) -> Result<Prepared<'a>, PipelineError> {
        let name = &hints.name;
        let root = normalize_identifier(hints.table());
        let changes = sh.schema.apply_resource_hints(hints, &root).map_err(|e| PipelineError::normalize(name, None, e.to_string()))?;
        sh.changes.extend(changes);
        if hints.write_disposition == WriteDisposition::Replace {
            // Replace: the root table and all its nested tables lose their rows, inside the run's
            // transaction, so readers never see them empty.
            let mut doomed = vec![root.clone()];
            doomed.extend(sh.schema.descendants(&root).into_iter().map(|t| t.name.clone()));
            let then_sync = sh.schema.table(&root).cloned();
            run.loader.run(Job::Truncate { tables: doomed, then_sync })?;
        }
        // Merge with a primary or merge key loads into staging, then merges (delete-insert);
        // merge without keys appends, as in dlt.
        let scd2 = hints.write_disposition == WriteDisposition::Merge && hints.merge_strategy == etl_core::hints::MergeStrategy::Scd2;
        let merging = scd2
            || hints.write_disposition == WriteDisposition::Merge
                && sh.schema.table(&root).is_some_and(|t| t.columns.iter().any(|c| c.primary_key || c.merge_key));
        let target = if merging { Target::Staging } else { Target::Main };
        let contract = self.schema_contract.or(hints.schema_contract).or(run.source_contract).unwrap_or_default();
        let primary_key: Vec<String> = sh
            .schema
            .table(&root)
            .map(|t| t.columns.iter().filter(|c| c.primary_key).map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let upsert = merging && hints.merge_strategy == etl_core::hints::MergeStrategy::Upsert;
        if upsert && primary_key.is_empty() {
            return Err(PipelineError::config(format!("resource `{name}`: merge strategy `upsert` needs a `primary_key`")));
        }
        let node = NodeCtx {
            root,
            primary_key,
            max_nesting: hints.max_table_nesting.or(run.source_nesting).unwrap_or(DEFAULT_MAX_NESTING),
            propagate_root_id: merging || run.source_root_key,
            upsert,
            scd2,
        };
        let sink = RowSink::new(run.loader, run.load_id, node, contract, name, target, run.jobs.clone(), sh.changes.len());
        Ok(Prepared { sink, hints: hints.clone(), merging, scd2 })
    }

    #[cfg(feature = "duckdb")]
    /// Extracts, normalizes and loads one resource that feeds no transformer. Returns rows
    /// written per table.
    fn load_resource(
        &self,
        run: &RunCtx<'_>,
        sh: &mut Shared<'_>,
        (resource, ahead): (&mut Resource, Option<Started>),
        state: &mut crate::state::PipelineState,
        progress: &mut ProgressSink,
        mut spool: Option<&mut crate::spool::Spool>,
    ) -> Result<BTreeMap<String, u64>, PipelineError> {
        let name = resource.name().to_owned();
        let hints = resource.hints().clone();
        let mut prepared = self.prepare_sink(run, sh, &hints)?;
        let (filter, context, mut started_items) = match ahead {
            Some(Started { filter, context, items }) => (filter, context, Some(items)),
            None => {
                let (filter, context) = resource_window(&hints, run.source_name, state, true)?;
                (filter, context, None)
            }
        };
        let sink = &mut prepared.sink;
        sink.filter = filter;
        if sink.filter.is_some() {
            // Incremental rows are filtered as values first.
            sink.writer.disable_fast_path();
        }
        // Typed items go through the fast path from their `Serialize` implementation where it
        // applies (a parallelized resource already hands values over).
        let typed = if sink.writer.fast_path_enabled() && started_items.is_none() {
            catch_unwind(AssertUnwindSafe(|| resource.take_typed_items_with(&context))).unwrap_or_else(|p| Some(Err(panic_message(p))))
        } else {
            None
        };
        if let Some(reader) = resource.take_json_lines() {
            // JSON lines stream straight into the column buffers; the spool keeps them verbatim.
            let reader = reader.map_err(|e| PipelineError::extract(&name, None, e))?;
            // Read (and decompressed, ...) on a thread of its own, beside the normalizer.
            let mut reader: etl_core::resource::JsonLines = match crate::readahead::ReadAhead::new(reader) {
                Ok(ahead) => Box::new(ahead),
                Err(reader) => reader,
            };
            let mut line = Vec::with_capacity(1 << 12);
            let mut line_no: u64 = 0;
            loop {
                // A line that is whole in the reader's buffer is parsed where it is; one that
                // crosses the buffer's end is copied out first. The buffer is filled under
                // `catch_unwind` (a reader may panic), then asked again for the slice, which a
                // filled buffer returns without reading.
                let fail = |e| PipelineError::extract(&name, Some(sink.item_no), e);
                let filled = read_guarded(|| reader.fill_buf().map(|b| b.len())).map_err(fail)?;
                if filled == 0 {
                    break;
                }
                let buf = reader.fill_buf().map_err(|e| fail(Box::new(e)))?;
                let (text, whole) = match memchr::memchr(b'\n', buf) {
                    Some(end) => (&buf[..=end], true),
                    None => {
                        line.clear();
                        read_guarded(|| reader.read_until(b'\n', &mut line)).map_err(fail)?;
                        (line.as_slice(), false)
                    }
                };
                let consumed = text.len();
                line_no += 1;
                if let Some(sp) = spool.as_deref_mut() {
                    sp.write_raw(text)?;
                }
                let trimmed = text.trim_ascii();
                let item = !trimmed.is_empty();
                let stop = item && sink.json_line(sh, trimmed, line_no)?;
                if whole {
                    reader.consume(consumed);
                }
                if item {
                    progress.extracted(&name, sink.item_no);
                }
                if stop {
                    break;
                }
            }
        } else if let Some(taken) = typed {
            let mut items = taken.map_err(|e| PipelineError::extract(&name, None, e))?;
            while let Some(item) = next_item(&mut items).map_err(|e| PipelineError::extract(&name, Some(sink.item_no), e))? {
                let stop = sink.typed_item(sh, item, spool.as_deref_mut())?;
                progress.extracted(&name, sink.item_no);
                if stop {
                    break;
                }
            }
        } else {
            let taken = match started_items.take() {
                Some(items) => items,
                None => catch_unwind(AssertUnwindSafe(|| resource.take_items_with(&context))).unwrap_or_else(|p| Err(panic_message(p))),
            };
            let mut items = taken.map_err(|e| PipelineError::extract(&name, None, e))?;
            while let Some(value) = next_item(&mut items).map_err(|e| PipelineError::extract(&name, Some(sink.item_no), e))? {
                let stop = match spool.as_deref_mut() {
                    // Normalized from the spool's batch: the spool thread serializes and frees it.
                    Some(sp) => sink.item(sh, sp.keep_value(value)?)?,
                    None => sink.item(sh, &value)?,
                };
                progress.extracted(&name, sink.item_no);
                if stop {
                    // Ordered rows past the window: stop pulling from the source.
                    break;
                }
            }
        }
        // The items are done (or stopped): what the resource wrote into its state is stored
        // with its rows.
        state.set_resource_state(run.source_name, &name, context.state.snapshot());
        if let (Some(f), Some(inc)) = (prepared.sink.filter.take(), hints.incremental.as_ref()) {
            if let Some(cursor) = f.finish() {
                state.set_cursor(run.source_name, &name, &inc.cursor_path, &cursor);
            }
        }
        self.finish_sink(run, sh, prepared)
    }

    #[cfg(feature = "duckdb")]
    /// Flushes a resource's last rows and merges them from staging. Returns rows written per
    /// table.
    pub(crate) fn finish_sink(&self, run: &RunCtx<'_>, sh: &mut Shared<'_>, prepared: Prepared<'_>) -> Result<BTreeMap<String, u64>, PipelineError> {
        let Prepared { mut sink, hints, merging, scd2 } = prepared;
        sink.flush(sh, true)?;
        let root = sink.node.root.clone();
        let written = std::mem::take(&mut sink.written);
        if !merging {
            return Ok(written);
        }
        let mut tables = vec![root.clone()];
        tables.extend(sh.schema.descendants(&root).into_iter().map(|t| t.name.clone()));
        let merge = if scd2 {
            sh.schema.set_row_key_unique(&root, false);
            Merge::Scd2 { columns: hints.scd2_columns.clone(), boundary: timestamp_text(Utc::now()) }
        } else if hints.merge_strategy == etl_core::hints::MergeStrategy::Upsert {
            Merge::Upsert
        } else {
            Merge::DeleteInsert
        };
        run.loader.run(Job::Merge { schema: Box::new(sh.schema.clone()), root, merge, tables, jobs: run.jobs.clone() })?;
        Ok(written)
    }
}

/// What the resources of one run share and never change.
#[cfg(feature = "duckdb")]
pub(crate) struct RunCtx<'a> {
    pub loader: &'a crate::loader::Loader,
    pub load_id: &'a str,
    pub jobs: crate::jobs::JobLog,
    pub source_name: &'a str,
    pub source_nesting: Option<u32>,
    pub source_contract: Option<etl_core::SchemaContract>,
    pub source_root_key: bool,
}

/// A selected resource's sink and what its end needs.
#[cfg(feature = "duckdb")]
pub(crate) struct Prepared<'a> {
    pub sink: RowSink<'a>,
    hints: etl_core::ResourceHints,
    merging: bool,
    scd2: bool,
}

/// How many resources ahead of the one being loaded a parallelized resource may start: the
/// bound on producers (and their requests) in flight besides the current one.
#[cfg(feature = "duckdb")]
const PARALLEL_RESOURCES: usize = 4;

/// A parallelized resource started ahead of its turn: its window and its running producer.
#[cfg(feature = "duckdb")]
pub(crate) struct Started {
    pub filter: Option<etl_core::incremental::IncrementalFilter>,
    pub context: etl_core::ResourceContext,
    pub items: Result<etl_core::Items, BoxError>,
}

/// A resource's incremental window and context, from the run's state (a selected `replace`
/// resource starts from empty state). A bounded window (`end_value`) neither reads nor moves the
/// stored cursor.
#[cfg(feature = "duckdb")]
pub(crate) fn resource_window(
    hints: &etl_core::ResourceHints,
    source_name: &str,
    state: &mut crate::state::PipelineState,
    selected: bool,
) -> Result<(Option<etl_core::incremental::IncrementalFilter>, etl_core::ResourceContext), PipelineError> {
    let name = &hints.name;
    if selected && hints.write_disposition == WriteDisposition::Replace {
        state.reset_resource(source_name, name);
    }
    let filter = match hints.incremental.clone() {
        Some(mut inc) => {
            inc.validate().map_err(|e| PipelineError::config(format!("resource `{name}`: {e}")))?;
            // Boundary rows are identified by the resource's primary key unless the cursor has its own.
            if inc.primary_key.is_none() && !hints.primary_key.is_empty() {
                inc.primary_key = Some(hints.primary_key.clone());
            }
            let prior = if inc.is_bounded() { None } else { state.cursor(source_name, name, &inc.cursor_path) };
            Some(etl_core::incremental::IncrementalFilter::new(inc, prior))
        }
        None => None,
    };
    let context = etl_core::ResourceContext {
        start_value: filter.as_ref().and_then(|f| f.start_value().cloned()),
        last_value: filter.as_ref().and_then(|f| f.last_value().cloned()),
        end_value: filter.as_ref().and_then(|f| f.end_value().cloned()),
        state: etl_core::ResourceState::from_map(state.resource_state(source_name, name)),
    };
    Ok((filter, context))
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
