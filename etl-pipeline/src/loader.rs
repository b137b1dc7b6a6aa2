//! The load side of a run on its own thread: while the calling thread extracts and normalizes,
//! the loader thread turns row batches into Arrow and appends them to DuckDB, in order, inside
//! the run's transaction. A bounded queue keeps memory flat when the source is faster than
//! DuckDB: at most [`QUEUE`] jobs, and at most [`IN_FLIGHT_BYTES`] of batches (a larger batch
//! waits for the queue to empty).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use chrono::Utc;
use etl_core::columnar::ColumnBuffer;
use etl_core::{Schema, Table};

use crate::destination::{Merge, Session, Target};
use crate::error::PipelineError;
use crate::jobs::JobLog;

/// A loaded batch's buffers, by column index, and their table: sent back to the normalizer to
/// be refilled.
pub(crate) type Recycled = (String, Vec<(usize, ColumnBuffer)>);

/// What the loader thread does, in order.
pub(crate) enum Job {
    /// Create the dataset.
    EnsureDataset,
    /// Empty tables for `replace`, then create or widen the root table (`then_sync`).
    Truncate { tables: Vec<String>, then_sync: Option<Table> },
    /// Insert a batch of rows.
    Insert(InsertJob),
    /// Merge the staged rows of `root` (whose tables are `tables`) into the dataset.
    Merge { schema: Box<Schema>, root: String, merge: Merge, tables: Vec<String>, jobs: JobLog },
    /// Anything else (tests).
    #[cfg(test)]
    Custom(Box<dyn FnOnce(&mut dyn Session) -> Result<(), PipelineError> + Send>),
}

/// A batch of rows for one table.
pub(crate) struct InsertJob {
    /// The table and its parents, parents first (each must exist in the destination).
    pub chain: Vec<Table>,
    pub target: Target,
    pub rows: usize,
    pub columns: Vec<Option<ColumnBuffer>>,
    /// Where the buffers go back to, if the destination returns them.
    pub recycle: Sender<Recycled>,
    pub jobs: JobLog,
}

impl Job {
    fn execute(self, db: &mut dyn Session) -> Result<(), PipelineError> {
        match self {
            Job::EnsureDataset => db.ensure_dataset().map_err(PipelineError::load_from),
            Job::Truncate { tables, then_sync } => {
                for t in &tables {
                    db.truncate(t).map_err(PipelineError::load_from)?;
                }
                if let Some(def) = &then_sync {
                    db.sync_table(Target::Main, def).map_err(PipelineError::load_from)?;
                }
                Ok(())
            }
            Job::Insert(InsertJob { chain, target, rows, columns, recycle, jobs }) => {
                let (started_at, clock) = (Utc::now(), Instant::now());
                for def in &chain {
                    db.sync_table(target, def).map_err(PipelineError::load_from)?;
                }
                let table = chain.last().expect("a table");
                let inserted = db.insert(target, table, rows, columns).map_err(PipelineError::load_from)?;
                if let Some(buffers) = inserted.buffers {
                    let _ = recycle.send((table.name.clone(), buffers));
                }
                jobs.inserted(&table.name, rows as u64, inserted.method, target == Target::Staging, started_at, clock.elapsed());
                Ok(())
            }
            Job::Merge { schema, root, merge, tables, jobs } => {
                let clock = Instant::now();
                db.merge(&schema, &root, &merge).map_err(PipelineError::load_from)?;
                jobs.merged(&tables, merge.name(), clock.elapsed());
                Ok(())
            }
            #[cfg(test)]
            Job::Custom(f) => f(db),
        }
    }
}

/// A job and the bytes of batches it holds.
type Queued = (Job, Option<Held>);

/// Jobs in flight between the two threads. Enough to ride out DuckDB's pauses (a row group
/// written and compressed) without the normalizer stopping: 4 instead of 16 made a 10 M load
/// 9 % slower.
const QUEUE: usize = 16;

/// Bytes of batches in flight (queued or being inserted).
const IN_FLIGHT_BYTES: usize = 64 << 20;

/// Jobs before the loader from which it counts as [`Loader::backlogged`]: with two queued it
/// is the busier thread (against half the queue, 8: 0.985 times the wall time of a 1 M load,
/// JSON or typed, the loader hashing fewer of the ids).
const BACKLOG: usize = 2;

/// Sends work to the loader thread.
pub(crate) struct Loader {
    tx: SyncSender<Queued>,
    failed: Arc<AtomicBool>,
    in_flight: Arc<(Mutex<usize>, Condvar)>,
    /// Jobs queued or running.
    queued: Arc<AtomicUsize>,
}

impl Loader {
    /// Queues a job. Fails at once if an earlier job failed (the real error is reported when the
    /// loader is finished), so the run stops pulling data.
    pub(crate) fn run(&self, job: Job) -> Result<(), PipelineError> {
        self.queue(job, None)
    }

    fn queue(&self, job: Job, held: Option<Held>) -> Result<(), PipelineError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(PipelineError::load("the loader stopped on an earlier error"));
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.send((job, held)).map_err(|_| PipelineError::load("the loader stopped on an earlier error"))
    }

    /// Whether the loader has work before it: [`BACKLOG`] jobs, or half its budget of bytes
    /// counting one batch of `bytes` more. The sender is then not what the loader waits for, and
    /// may better spend its time on work the loader would do otherwise (child ids).
    pub(crate) fn backlogged(&self, bytes: usize) -> bool {
        if self.queued.load(Ordering::Relaxed) >= BACKLOG {
            return true;
        }
        let (lock, _) = &*self.in_flight;
        let used = *lock.lock().unwrap_or_else(PoisonError::into_inner);
        used + bytes > IN_FLIGHT_BYTES / 2
    }

    /// Queues a job that holds `bytes` of batches, once the batches in flight leave room for it
    /// (or none are in flight: one batch larger than the budget still goes, alone).
    pub(crate) fn run_sized(&self, bytes: usize, job: Job) -> Result<(), PipelineError> {
        {
            let (lock, freed) = &*self.in_flight;
            let mut used = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while *used > 0 && *used + bytes > IN_FLIGHT_BYTES {
                used = freed.wait(used).unwrap_or_else(PoisonError::into_inner);
            }
            *used += bytes;
        }
        self.queue(job, Some(Held { in_flight: Arc::clone(&self.in_flight), bytes }))
    }
}

/// Bytes of a queued job, given back when it is dropped.
struct Held {
    in_flight: Arc<(Mutex<usize>, Condvar)>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        let (lock, freed) = &*self.in_flight;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) -= self.bytes;
        freed.notify_all();
    }
}

/// Runs `work` with a loader thread that owns `db`; returns the session and the outcome. An
/// error of the loader takes precedence: it is what stopped the run.
pub(crate) fn with_loader<T>(
    db: Box<dyn Session>,
    work: impl FnOnce(&Loader) -> Result<T, PipelineError>,
) -> (Box<dyn Session>, Result<T, PipelineError>) {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Queued>(QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let in_flight = Arc::new((Mutex::new(0), Condvar::new()));
        let queued = Arc::new(AtomicUsize::new(0));
        let done = Arc::clone(&queued);
        let worker = scope.spawn(move || {
            let mut db = db;
            let mut first_error = None;
            for (job, held) in rx {
                if first_error.is_none() {
                    if let Err(e) = job.execute(db.as_mut()) {
                        flag.store(true, Ordering::Release);
                        first_error = Some(e);
                    }
                }
                drop(held);
                done.fetch_sub(1, Ordering::Relaxed);
            }
            (db, first_error)
        });
        let loader = Loader { tx, failed, in_flight, queued };
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

#[cfg(all(test, feature = "duckdb"))]
mod tests {
    use super::*;

    fn session(dir: &tempfile::TempDir) -> Box<dyn Session> {
        Box::new(crate::destination::duckdb::DuckDbSession::open(&dir.path().join("t.duckdb"), "d").unwrap())
    }

    fn custom(f: impl FnOnce(&mut dyn Session) -> Result<(), PipelineError> + Send + 'static) -> Job {
        Job::Custom(Box::new(f))
    }

    #[test]
    fn batches_over_the_budget_go_one_at_a_time_and_all_run_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (_, result) = with_loader(session(&dir), |loader| {
            for i in 0..5 {
                let order = Arc::clone(&order);
                let bytes = if i % 2 == 0 { IN_FLIGHT_BYTES * 2 } else { 10 };
                loader.run_sized(
                    bytes,
                    custom(move |_| {
                        order.lock().unwrap().push(i);
                        Ok(())
                    }),
                )?;
            }
            Ok(())
        });
        result.unwrap();
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn after_a_failed_job_queued_batches_give_their_bytes_back_and_the_first_error_wins() {
        let dir = tempfile::tempdir().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let (_, result) = with_loader(session(&dir), |loader| {
            loader.run_sized(IN_FLIGHT_BYTES, custom(|_| Err(PipelineError::load("first"))))?;
            // Each of these waits for the one before: they must not wait forever on jobs that
            // are dropped unrun.
            for _ in 0..QUEUE * 2 {
                let ran = Arc::clone(&ran);
                if loader
                    .run_sized(
                        IN_FLIGHT_BYTES,
                        custom(move |_| {
                            ran.fetch_add(1, Ordering::Relaxed);
                            Ok(())
                        }),
                    )
                    .is_err()
                {
                    break;
                }
            }
            Ok(())
        });
        assert!(result.unwrap_err().to_string().contains("first"));
        assert_eq!(ran.load(Ordering::Relaxed), 0);
    }
}
