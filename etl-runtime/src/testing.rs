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
use crate::execute::{materialize as execute, RunOptions, RunResult};
use crate::graph::GraphError;
use crate::registry::{registered, DltAssetsDef};

/// A materialization to run in a test.
pub struct Materialize {
    selection: String,
    resources: Resources,
    defs: Option<Vec<&'static DltAssetsDef>>,
    dir: Option<Arc<TempDirHandle>>,
}

/// Starts a test materialization of `selection` (`*`, a key, `a,b`, ...) over the assets
/// registered in the test binary.
pub fn materialize(selection: &str) -> Materialize {
    Materialize { selection: selection.to_owned(), resources: Resources::new(), defs: None, dir: None }
}

impl Materialize {
    /// Registers user resources.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Uses only these definitions instead of the registry.
    pub fn defs(mut self, defs: Vec<&'static DltAssetsDef>) -> Self {
        self.defs = Some(defs);
        self
    }

    /// Runs in the directory of an earlier test run (to test second runs).
    pub fn after(mut self, earlier: &TestRun) -> Self {
        self.dir = Some(earlier.dir.clone());
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
        let defs = self.defs.unwrap_or_else(registered);
        let options = RunOptions { working_dir: dir.path().to_owned(), resources: self.resources };
        let result = execute(&defs, &self.selection, &options)?;
        Ok(TestRun { result, dir })
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
    crate::state::PipelineState::decode(encoded).map(|s| serde_json::Value::Object(s.doc))
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

/// Runs a query on a connection and returns the rows as JSON values. Types JSON lacks are tagged
/// as in the conformance suite: `{"$datetime": "2024-01-15T10:30:00"}` (naive, UTC),
/// `{"$date": ..}`, `{"$time": ..}`, `{"$decimal": "12.340"}`, `{"$bytes_hex": "00ff"}`.
#[cfg(feature = "duckdb")]
pub fn query_conn(conn: &duckdb::Connection, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, duckdb::Error> {
    use duckdb::types::Value as D;
    use serde_json::Value as J;
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let n = row.as_ref().column_count();
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let v: D = row.get(i)?;
            values.push(match v {
                D::Null => J::Null,
                D::Boolean(b) => J::Bool(b),
                D::TinyInt(i) => J::from(i),
                D::SmallInt(i) => J::from(i),
                D::Int(i) => J::from(i),
                D::BigInt(i) => J::from(i),
                D::HugeInt(i) => J::String(i.to_string()),
                D::UTinyInt(i) => J::from(i),
                D::USmallInt(i) => J::from(i),
                D::UInt(i) => J::from(i),
                D::UBigInt(i) => J::from(i),
                D::Float(f) => J::from(f64::from(f)),
                D::Double(f) => J::from(f),
                D::Text(s) => J::String(s),
                D::Decimal(d) => serde_json::json!({"$decimal": d.to_string()}),
                D::Blob(b) => serde_json::json!({"$bytes_hex": b.iter().map(|x| format!("{x:02x}")).collect::<String>()}),
                D::Date32(days) => {
                    let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(days.into());
                    serde_json::json!({"$date": date.to_string()})
                }
                D::Timestamp(unit, v) => {
                    let micros = to_micros(unit, v);
                    let t = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().naive_utc();
                    serde_json::json!({"$datetime": iso(t.format("%Y-%m-%dT%H:%M:%S").to_string(), micros)})
                }
                D::Time64(unit, v) => {
                    let micros = to_micros(unit, v);
                    let secs = micros.div_euclid(1_000_000);
                    let text = format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60);
                    serde_json::json!({"$time": iso(text, micros)})
                }
                other => J::String(format!("{other:?}")),
            });
        }
        out.push(values);
    }
    Ok(out)
}

#[cfg(feature = "duckdb")]
fn to_micros(unit: duckdb::types::TimeUnit, v: i64) -> i64 {
    use duckdb::types::TimeUnit as U;
    match unit {
        U::Second => v * 1_000_000,
        U::Millisecond => v * 1_000,
        U::Microsecond => v,
        U::Nanosecond => v / 1_000,
    }
}

/// Python's `isoformat`: microseconds only when non-zero.
#[cfg(feature = "duckdb")]
fn iso(base: String, micros: i64) -> String {
    match micros.rem_euclid(1_000_000) {
        0 => base,
        frac => format!("{base}.{frac:06}"),
    }
}
