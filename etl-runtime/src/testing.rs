//! Testing support: materialize assets in-process into a fresh temporary directory.
//!
//! ```ignore
//! // In a test of a crate that defines the asset `dlt_simple_source_load_dict`:
//! let run = etl::testing::materialize("dlt_simple_source_load_dict").run().unwrap();
//! assert!(run.result().success());
//! let rows = run.query("simple_pipeline", "SELECT id, name FROM simple.load_dict ORDER BY id").unwrap();
//! assert_eq!(rows.len(), 2);
//! ```
//!
//! Every [`Materialize::run`] gets its own directory (never the working directory), so tests can
//! run the same definitions many times in one process, in parallel.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::asset::Materialization;
use crate::context::Resources;
use crate::execute::{materialize as execute, materialize_from_failure, RunOptions, RunResult};
use crate::graph::GraphError;
use crate::history::RunStore;
use crate::registry::{registered, DltAssetsDef, Registry};

/// A materialization to run in a test.
pub struct Materialize {
    selection: String,
    resources: Resources,
    defs: Option<Registry>,
    dir: Option<Arc<TempDirHandle>>,
    max_concurrency: usize,
    from_failure: Option<String>,
    storage: Option<RunStore>,
    partition: Option<String>,
    config: Option<serde_json::Value>,
    checks: Vec<crate::check::CheckSpec>,
}

/// Starts a test materialization of `selection` (`*`, a key, `a,b`, ...) over the assets
/// registered in the test binary.
pub fn materialize(selection: &str) -> Materialize {
    Materialize {
        selection: selection.to_owned(),
        resources: Resources::new(),
        defs: None,
        dir: None,
        max_concurrency: 0,
        from_failure: None,
        storage: None,
        partition: None,
        config: None,
        checks: Vec::new(),
    }
}

impl Materialize {
    /// Registers user resources.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Uses only these dlt definitions instead of the registry.
    pub fn defs(mut self, defs: Vec<&'static DltAssetsDef>) -> Self {
        self.defs = Some(Registry::from(defs));
        self
    }

    /// Uses only these definitions instead of the registry.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.defs = Some(registry);
        self
    }

    /// At most `n` steps at once (default: the number of CPUs).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Re-executes the failed part of an earlier run (use with [`Materialize::after`]); the
    /// selection is ignored.
    pub fn from_failure(mut self, run_id: &str) -> Self {
        self.from_failure = Some(run_id.to_owned());
        self
    }

    /// Records the run history in `storage` (e.g. `RunStore::open` of a PostgreSQL URL)
    /// instead of the files of the run's directory.
    pub fn storage(mut self, storage: RunStore) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Materializes a partition: `K` or `A...B`.
    pub fn partition(mut self, partition: &str) -> Self {
        self.partition = Some(partition.to_owned());
        self
    }

    /// The run config (`{"ops": {"<op>": {"config": {...}}}}`).
    pub fn config(mut self, config: serde_json::Value) -> Self {
        self.config = Some(config);
        self
    }

    /// Adds a check (a built-in one, e.g. `etl::checks::metadata_bounds(..)`).
    pub fn check(mut self, check: impl Into<crate::check::CheckSpec>) -> Self {
        self.checks.push(check.into());
        self
    }

    /// Runs in the directory of an earlier test run (to test second runs), with its storage.
    pub fn after(mut self, earlier: &TestRun) -> Self {
        self.dir = Some(earlier.dir.clone());
        self.storage = Some(earlier.history.clone());
        self
    }

    /// Runs. Graph problems are errors; asset failures are in the result.
    pub fn run(self) -> Result<TestRun, GraphError> {
        let dir = match self.dir {
            Some(d) => d,
            None => Arc::new(TempDirHandle(
                tempfile::Builder::new().prefix("etl-test-").tempdir().map_err(|e| GraphError {
                    problems: vec![format!("cannot create a temporary directory: {e}")],
                })?,
            )),
        };
        let mut defs = self.defs.unwrap_or_else(registered);
        defs.checks.extend(self.checks);
        let mut options = RunOptions::new(dir.path()).resources(self.resources);
        options.partition = self
            .partition
            .as_deref()
            .map(crate::partition::PartitionRequest::parse)
            .transpose()
            .map_err(|e| GraphError::one(e.to_string()))?;
        options.config = self.config;
        options.home = Some(dir.path().join(".etl"));
        let history = self.storage.unwrap_or_else(|| RunStore::at(dir.path().join(".etl")));
        options.storage = Some(history.clone());
        options.max_concurrency = self.max_concurrency;
        let result = match &self.from_failure {
            Some(run_id) => materialize_from_failure(&defs, run_id, &options)?,
            None => execute(&defs, &self.selection, &options)?,
        };
        Ok(TestRun { result, dir, history, registry: defs })
    }
}

struct TempDirHandle(tempfile::TempDir);

impl TempDirHandle {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The outcome of a test materialization, with its directory (deleted when the last handle
/// is dropped).
pub struct TestRun {
    result: RunResult,
    dir: Arc<TempDirHandle>,
    history: RunStore,
    #[cfg_attr(not(any(feature = "duckdb", feature = "postgres")), allow(dead_code))]
    registry: Registry,
}

impl TestRun {
    /// The run result.
    pub fn result(&self) -> &RunResult {
        &self.result
    }

    /// The materializations.
    pub fn materializations(&self) -> Vec<&Materialization> {
        self.result.materializations()
    }

    /// The directory the run worked in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The run history (of every run made with [`Materialize::after`] this one): the files of
    /// its directory, or the storage given to [`Materialize::storage`].
    pub fn history(&self) -> RunStore {
        self.history.clone()
    }

    /// The dataset of a pipeline run here (dlt's `pipeline.dataset()`), as its `#[etl::assets]`
    /// definition builds the pipeline (its destination included): tables as rows or Arrow
    /// batches, SQL, row counts. An error names the pipelines there are.
    #[cfg(any(feature = "duckdb", feature = "postgres"))]
    pub fn dataset(&self, pipeline_name: &str) -> Result<etl_pipeline::Dataset, String> {
        let pipelines: Vec<etl_pipeline::Pipeline> = self.registry.dlt.iter().map(|d| (d.pipeline)()).collect();
        match pipelines.iter().find(|p| p.name() == pipeline_name) {
            Some(p) => Ok(p.clone().working_dir(self.dir()).dataset()),
            None => Err(format!(
                "no pipeline `{pipeline_name}` among the definitions of this test run; there are: {}",
                pipelines.iter().map(|p| format!("`{}`", p.name())).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// The DuckDB file of a pipeline run here.
    pub fn database(&self, pipeline_name: &str) -> PathBuf {
        self.dir().join(format!("{pipeline_name}.duckdb"))
    }

    /// Runs a query on a pipeline's DuckDB file and returns the rows as JSON values.
    #[cfg(feature = "duckdb")]
    pub fn query(&self, pipeline_name: &str, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, duckdb::Error> {
        query_file(&self.database(pipeline_name), sql)
    }
}

/// Decodes a `_dlt_pipeline_state.state` value (base64 of zlib of JSON) to JSON.
pub fn decode_state(encoded: &str) -> Result<serde_json::Value, String> {
    etl_pipeline::state::PipelineState::decode(encoded).map(|s| serde_json::Value::Object(s.doc))
}

/// Runs a query on a DuckDB file and returns the rows as JSON values (tests and tools).
#[cfg(feature = "duckdb")]
pub fn query_file(path: &Path, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, duckdb::Error> {
    let conn = duckdb::Connection::open(path)?;
    query_conn(&conn, sql)
}

/// Executes statements on a DuckDB file (creating it if needed).
#[cfg(feature = "duckdb")]
pub fn execute_file(path: &Path, sql: &str) -> Result<(), duckdb::Error> {
    duckdb::Connection::open(path)?.execute_batch(sql)
}

#[cfg(feature = "duckdb")]
pub use etl_pipeline::destination::duckdb::query::query_conn;
