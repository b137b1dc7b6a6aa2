//! Reading a pipeline's dataset back (dlt's `pipeline.dataset()`): its tables, their row
//! counts, and any table or SQL query as rows of values or as Arrow record batches, from
//! DuckDB and PostgreSQL alike.
//!
//! ```no_run
//! # fn main() -> Result<(), etl_pipeline::PipelineError> {
//! let pipeline = etl_pipeline::pipeline("shop").dataset_name("shop");
//! let ds = pipeline.dataset();
//! println!("{:?}", ds.row_counts()?);
//! let users = ds.table("users")?.rows()?;
//! let big = ds.query("SELECT id FROM orders WHERE amount > 100").arrow()?;
//! # Ok(()) }
//! ```
//!
//! Every call opens the destination (without the pipeline's lock: reading never waits for a
//! run), reads, and closes it. Unqualified names in a query are the dataset's tables.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;

use etl_core::naming::{normalize_identifier, quote_ident};
use etl_core::value::Value;

use crate::error::PipelineError;
use crate::pipeline::Pipeline;

/// A pipeline's dataset, as dlt's `pipeline.dataset()`.
#[derive(Debug, Clone)]
pub struct Dataset {
    pipeline: Pipeline,
}

/// A query of a dataset: a table or SQL, read when asked.
#[derive(Debug, Clone)]
pub struct Relation {
    dataset: Dataset,
    sql: String,
}

/// Rows read back: the column names and each row's values in that order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// Each row as a JSON object (`column: value`; timestamps, dates, times and decimals as
    /// text, bytes as hex).
    pub fn to_json(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows.iter().map(|r| self.columns.iter().cloned().zip(r.iter().map(Value::to_json)).collect()).collect()
    }

    /// The values of one column.
    pub fn column(&self, name: &str) -> Option<Vec<&Value>> {
        let i = self.columns.iter().position(|c| c == name)?;
        Some(self.rows.iter().map(|r| &r[i]).collect())
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Pipeline {
    /// The pipeline's dataset, to read back (dlt's `pipeline.dataset()`).
    pub fn dataset(&self) -> Dataset {
        Dataset { pipeline: self.clone() }
    }
}

impl Dataset {
    /// The dataset's name as stored.
    pub fn name(&self) -> String {
        normalize_identifier(&self.pipeline.dataset_name_or_default())
    }

    fn session(&self) -> Result<Box<dyn crate::destination::Session>, PipelineError> {
        let resolved = self.pipeline.resolve_destination()?;
        match self.pipeline.open_existing(&resolved, &self.name(), false)? {
            Some(opened) => Ok(opened.session),
            None => Err(PipelineError::config(format!(
                "pipeline `{}` has no dataset `{}` in {} yet: run it first",
                self.pipeline.name(),
                self.name(),
                resolved.location()
            ))),
        }
    }

    /// Every table of the dataset, dlt's own (`_dlt_loads`, ...) included, sorted.
    pub fn all_tables(&self) -> Result<Vec<String>, PipelineError> {
        Ok(self.session()?.tables())
    }

    /// The data tables (without dlt's `_dlt_*` tables), sorted.
    pub fn tables(&self) -> Result<Vec<String>, PipelineError> {
        Ok(self.all_tables()?.into_iter().filter(|t| !t.starts_with("_dlt")).collect())
    }

    /// Rows of each data table (dlt's `dataset.row_counts()`).
    pub fn row_counts(&self) -> Result<BTreeMap<String, u64>, PipelineError> {
        let mut session = self.session()?;
        let mut out = BTreeMap::new();
        for t in session.tables().into_iter().filter(|t| !t.starts_with("_dlt")) {
            let n = session.row_count(&t).map_err(PipelineError::load_from)?;
            out.insert(t, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// One table (`ds.table("users")`, dlt's `ds.users`); a table the dataset does not have is
    /// an error naming the ones it has.
    pub fn table(&self, name: &str) -> Result<Relation, PipelineError> {
        let tables = self.all_tables()?;
        if !tables.iter().any(|t| t == name) {
            return Err(PipelineError::config(format!(
                "dataset `{}` has no table `{name}`; its tables: {}",
                self.name(),
                tables.iter().filter(|t| !t.starts_with("_dlt")).cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(self.query(&format!("SELECT * FROM {}", quote_ident(name))))
    }

    /// A SQL query over the dataset (dlt's `ds("SELECT ...")`); unqualified names are its tables.
    pub fn query(&self, sql: &str) -> Relation {
        Relation { dataset: self.clone(), sql: sql.to_owned() }
    }
}

impl Relation {
    /// The query's SQL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The rows as Arrow record batches (dlt's `.arrow()`).
    pub fn arrow(&self) -> Result<Vec<RecordBatch>, PipelineError> {
        self.dataset.session()?.query_arrow(&self.sql).map_err(PipelineError::load_from)
    }

    /// The rows as values (dlt's `.fetchall()`, with the column names).
    pub fn rows(&self) -> Result<Rows, PipelineError> {
        let batches = self.arrow()?;
        let columns = batches.first().map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default();
        let rows = etl_core::arrow_values::rows(&batches).map_err(|e| PipelineError::config(format!("reading `{}`: {e}", self.sql)))?;
        Ok(Rows { columns, rows })
    }

    /// The rows' values, without the column names (dlt's `.fetchall()`).
    pub fn fetchall(&self) -> Result<Vec<Vec<Value>>, PipelineError> {
        Ok(self.rows()?.rows)
    }

    /// The number of rows.
    pub fn count(&self) -> Result<u64, PipelineError> {
        let rows = self.dataset.query(&format!("SELECT count(*) FROM ({}) AS q", self.sql)).fetchall()?;
        match rows.first().and_then(|r| r.first()) {
            Some(Value::Int(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
            other => Err(PipelineError::config(format!("counting `{}` returned {other:?}", self.sql))),
        }
    }
}
