//! The load jobs of a run: what was written into each table, how, and when (dlt's load package
//! jobs, as dagster-dlt reports them under `jobs`).
//!
//! The loader thread records every insert and merge it runs into a [`JobLog`]; a run that
//! commits turns it into one [`LoadJob`] per table it wrote. Nothing here is made up: a field
//! that a run cannot know is not reported.

#[cfg(loads)]
use std::collections::BTreeMap;
#[cfg(loads)]
use std::sync::{Arc, Mutex, PoisonError};
#[cfg(loads)]
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How rows went into a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InsertMethod {
    /// `INSERT … SELECT` from the `etl_scan` table function over the run's column buffers.
    EtlScan,
    /// DuckDB's appender, from an Arrow batch (small batches, decimal and 128-bit columns).
    ArrowAppender,
    /// PostgreSQL's binary `COPY ... FROM STDIN`.
    PostgresCopy,
}

/// One table's load job in a committed run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadJob {
    /// The table.
    pub table_name: String,
    /// Rows written.
    pub rows: u64,
    /// Batches the rows were inserted in.
    pub batches: u64,
    /// How the batches were inserted (each method used, in a fixed order).
    pub insert_methods: Vec<InsertMethod>,
    /// `true`: the rows went into the `<dataset>_staging` table and were merged from there.
    pub staged: bool,
    /// The merge that moved staged rows into the table (`delete-insert`, `upsert`, `scd2`).
    pub merge_strategy: Option<&'static str>,
    /// Always `completed_jobs` (dlt's name for the state): a run reports jobs only when it
    /// committed.
    pub state: &'static str,
    /// When the first batch started.
    pub started_at: DateTime<Utc>,
    /// When the last batch (or the merge) ended.
    pub finished_at: DateTime<Utc>,
    /// Time spent inside the destination for this table (inserts and merge), in seconds.
    pub seconds: f64,
}

impl LoadJob {
    /// The job as dagster-dlt's metadata JSON, with the run's load id.
    pub fn to_json(&self, load_id: Option<&str>) -> serde_json::Value {
        let ts = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
        serde_json::json!({
            "table_name": self.table_name,
            "state": self.state,
            "rows": self.rows,
            "batches": self.batches,
            "insert_methods": self.insert_methods,
            "staged": self.staged,
            "merge_strategy": self.merge_strategy,
            "started_at": ts(self.started_at),
            "finished_at": ts(self.finished_at),
            "seconds": self.seconds,
            "load_id": load_id,
        })
    }
}

/// What the loader thread records for one table.
#[cfg(loads)]
#[derive(Debug, Clone)]
struct Entry {
    rows: u64,
    batches: u64,
    methods: Vec<InsertMethod>,
    staged: bool,
    merge_strategy: Option<&'static str>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    busy: Duration,
}

/// The jobs of a running load, written by the loader thread. Cheap to clone (shared).
#[cfg(loads)]
#[derive(Debug, Clone, Default)]
pub(crate) struct JobLog(Arc<Mutex<BTreeMap<String, Entry>>>);

#[cfg(loads)]
impl JobLog {
    fn entry<T>(&self, table: &str, started_at: DateTime<Utc>, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let e = map.entry(table.to_owned()).or_insert_with(|| Entry {
            rows: 0,
            batches: 0,
            methods: Vec::new(),
            staged: false,
            merge_strategy: None,
            started_at,
            finished_at: started_at,
            busy: Duration::ZERO,
        });
        f(e)
    }

    /// A batch of `rows` inserted into `table` (its staging copy if `staged`).
    pub(crate) fn inserted(&self, table: &str, rows: u64, method: InsertMethod, staged: bool, started_at: DateTime<Utc>, busy: Duration) {
        self.entry(table, started_at, |e| {
            e.rows += rows;
            e.batches += 1;
            if !e.methods.contains(&method) {
                e.methods.push(method);
                e.methods.sort();
            }
            e.staged |= staged;
            e.finished_at = Utc::now();
            e.busy += busy;
        });
    }

    /// Staged rows of `tables` merged with `strategy` (the merge's time shared among the tables
    /// that got rows; a table without rows has no job).
    pub(crate) fn merged(&self, tables: &[String], strategy: &'static str, busy: Duration) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let staged = tables.iter().filter(|t| map.contains_key(*t)).count();
        let share = busy / u32::try_from(staged.max(1)).unwrap_or(u32::MAX);
        let now = Utc::now();
        for t in tables {
            if let Some(e) = map.get_mut(t) {
                e.merge_strategy = Some(strategy);
                e.finished_at = now;
                e.busy += share;
            }
        }
    }

    /// The job of `table`, if anything was written into it.
    pub(crate) fn job(&self, table: &str) -> Option<LoadJob> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let e = map.get(table)?;
        Some(LoadJob {
            table_name: table.to_owned(),
            rows: e.rows,
            batches: e.batches,
            insert_methods: e.methods.clone(),
            staged: e.staged,
            merge_strategy: e.merge_strategy,
            state: "completed_jobs",
            started_at: e.started_at,
            finished_at: e.finished_at,
            seconds: e.busy.as_secs_f64(),
        })
    }
}

#[cfg(all(test, feature = "duckdb"))]
mod tests {
    use super::*;

    #[test]
    fn batches_and_merges_add_up_per_table() {
        let log = JobLog::default();
        let t0 = Utc::now();
        log.inserted("a", 10, InsertMethod::EtlScan, true, t0, Duration::from_millis(5));
        log.inserted("a", 2, InsertMethod::ArrowAppender, true, t0, Duration::from_millis(1));
        log.inserted("a", 3, InsertMethod::EtlScan, true, t0, Duration::from_millis(1));
        log.merged(&["a".into(), "a__b".into()], "delete-insert", Duration::from_millis(4));
        let job = log.job("a").unwrap();
        assert_eq!((job.rows, job.batches), (15, 3));
        assert_eq!(job.insert_methods, [InsertMethod::EtlScan, InsertMethod::ArrowAppender]);
        assert!(job.staged);
        assert_eq!(job.merge_strategy, Some("delete-insert"));
        assert!((job.seconds - 0.011).abs() < 1e-9, "{}", job.seconds);
        // A table that got no rows has no job, even if the merge named it.
        assert!(log.job("a__b").is_none());
        let json = job.to_json(Some("1.5"));
        assert_eq!(json["insert_methods"], serde_json::json!(["etl_scan", "arrow_appender"]));
        assert_eq!(json["state"], "completed_jobs");
    }
}
