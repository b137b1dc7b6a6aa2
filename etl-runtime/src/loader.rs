//! The load side of a run on its own thread: while the calling thread extracts and normalizes,
//! the loader thread turns row batches into Arrow and appends them to DuckDB, in order, inside
//! the run's transaction. A bounded queue (a few batches) keeps memory flat when the source is
//! faster than DuckDB.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

use crate::destination::duckdb::DuckDbSession;
use crate::error::PipelineError;

type Job = Box<dyn FnOnce(&mut DuckDbSession) -> Result<(), PipelineError> + Send>;

/// Batches in flight between the two threads.
const QUEUE: usize = 4;

/// Sends work to the loader thread.
pub(crate) struct Loader {
    tx: SyncSender<Job>,
    failed: Arc<AtomicBool>,
}

impl Loader {
    /// Queues a job. Fails at once if an earlier job failed (the real error is reported when the
    /// loader is finished), so the run stops pulling data.
    pub(crate) fn run(&self, job: impl FnOnce(&mut DuckDbSession) -> Result<(), PipelineError> + Send + 'static) -> Result<(), PipelineError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(PipelineError::load("the loader stopped on an earlier error"));
        }
        self.tx.send(Box::new(job)).map_err(|_| PipelineError::load("the loader stopped on an earlier error"))
    }
}

/// Runs `work` with a loader thread that owns `db`; returns the session and the outcome. An
/// error of the loader takes precedence: it is what stopped the run.
pub(crate) fn with_loader<T>(
    db: DuckDbSession,
    work: impl FnOnce(&Loader) -> Result<T, PipelineError>,
) -> (DuckDbSession, Result<T, PipelineError>) {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let worker = scope.spawn(move || {
            let mut db = db;
            let mut first_error = None;
            for job in rx {
                if first_error.is_none() {
                    if let Err(e) = job(&mut db) {
                        flag.store(true, Ordering::Release);
                        first_error = Some(e);
                    }
                }
            }
            (db, first_error)
        });
        let loader = Loader { tx, failed };
        let result = work(&loader);
        drop(loader);
        let (db, loader_error) = match worker.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let result = match loader_error {
            Some(e) => Err(e),
            None => result,
        };
        (db, result)
    })
}
