//! Progress reporting of pipeline runs (dlt's `progress=`).

#[cfg(loads)]
use std::{collections::BTreeMap, io::Write, time::Duration};

#[cfg(loads)]
use crate::error::PipelineError;

/// How a pipeline reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Nothing beyond `tracing` events.
    #[default]
    None,
    /// Per-stage counters printed to stderr (dlt's `progress="log"`): rows extracted per resource,
    /// rows normalized per table, the load.
    Log,
}

/// Told how many items a resource has extracted so far (every 1,000 items): the orchestrator's
/// progress bar, for instance. Arguments: pipeline, resource, items.
pub type ExtractObserver = std::sync::Arc<dyn Fn(&str, &str, u64) + Send + Sync>;

/// Receives progress events during a run.
#[cfg(loads)]
pub(crate) struct ProgressSink {
    mode: Progress,
    pipeline: String,
    observer: Option<ExtractObserver>,
}

#[cfg(loads)]
impl ProgressSink {
    pub(crate) fn new(mode: Progress, pipeline: &str, observer: Option<ExtractObserver>) -> Self {
        ProgressSink { mode, pipeline: pipeline.to_owned(), observer }
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        if self.mode == Progress::Log {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "[{}] {}", self.pipeline, text);
        }
    }

    /// Called after each item; prints every 100k items, and tells the observer (if any) every
    /// 1,000.
    pub(crate) fn extracted(&mut self, resource: &str, items: u64) {
        if items % 1_000 == 0 {
            if let Some(observer) = &self.observer {
                observer(&self.pipeline, resource, items);
            }
        }
        if items % 100_000 == 0 {
            self.line(format_args!("Extract: {resource}: {items} items"));
        }
    }

    pub(crate) fn resource_done(&mut self, resource: &str, root_rows: u64, all_rows: u64, took: Duration) {
        tracing::info!(pipeline = %self.pipeline, resource, root_rows, all_rows, "resource extracted and normalized");
        self.line(format_args!(
            "Extract: {resource}: {root_rows} rows; Normalize: {all_rows} rows in all tables ({:.3}s)",
            took.as_secs_f64()
        ));
    }

    pub(crate) fn finished(&mut self, loaded: bool, rows: &BTreeMap<String, u64>, took: chrono::Duration) {
        tracing::info!(pipeline = %self.pipeline, loaded, "run finished");
        if !loaded {
            self.line(format_args!("Load: nothing to load"));
            return;
        }
        let jobs: Vec<String> = rows.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        self.line(format_args!(
            "Load: {} jobs completed ({}) in {:.3}s",
            rows.len(),
            jobs.join(", "),
            took.num_microseconds().unwrap_or(0) as f64 / 1e6
        ));
    }

    pub(crate) fn pending(&mut self, count: usize, dir: &std::path::Path) {
        tracing::warn!(pipeline = %self.pipeline, count, "pending packages of failed runs are kept in {}", dir.display());
        self.line(format_args!(
            "{count} pending package(s) of failed or killed runs are kept in {}; load them with `load-pending` or discard them with `drop-pending`",
            dir.display()
        ));
    }

    pub(crate) fn failed(&mut self, error: &PipelineError) {
        tracing::error!(pipeline = %self.pipeline, step = %error.step, "run failed: {error}");
        self.line(format_args!("Failed: {error}; the destination is unchanged"));
    }
}
