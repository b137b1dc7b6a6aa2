//! The load side of a run on its own thread: while the calling thread extracts and normalizes,
//! the loader thread runs the run's jobs on its destination session, inside the run's
//! transaction: each table's batches in the order they were made, and every other job (a
//! truncate, a merge) after what was queued before it. It takes the jobs that wait all at once,
//! so that the batches of a table among them go into one insert (one statement for DuckDB). A
//! bounded queue keeps memory flat when the source is faster than the destination: at most
//! [`QUEUE`] jobs queued and as many taken, and at most [`IN_FLIGHT_BYTES`] of batches in all
//! (a larger batch waits until nothing else is in flight).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use chrono::Utc;
use etl_core::columnar::ColumnBuffer;
use etl_core::{Schema, Table};

use crate::destination::{Batch, Merge, Session, Target};
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
            Job::Insert(job) => insert(vec![job], db),
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

/// Inserts batches of one table ([`InsertJob::joins`]) as one insert of the destination
/// ([`Session::insert_batches`]), then records each batch and sends its buffers back.
fn insert(group: Vec<InsertJob>, db: &mut dyn Session) -> Result<(), PipelineError> {
    let (started_at, clock) = (Utc::now(), Instant::now());
    for job in &group {
        for def in &job.chain {
            db.sync_table(job.target, def).map_err(PipelineError::load_from)?;
        }
    }
    let (target, table) = (group[0].target, group[0].chain.last().expect("a table").clone());
    let mut group = group;
    let batches = group.iter_mut().map(|j| Batch { rows: j.rows, columns: std::mem::take(&mut j.columns) }).collect();
    let inserted = db.insert_batches(target, &table, batches).map_err(PipelineError::load_from)?;
    if inserted.len() != group.len() {
        return Err(PipelineError::load(format!("table `{}`: the destination inserted {} of {} batches", table.name, inserted.len(), group.len())));
    }
    // The statement's time, shared among its batches by their rows.
    let (elapsed, total) = (clock.elapsed(), group.iter().map(|j| j.rows).sum::<usize>().max(1));
    for (job, done) in group.into_iter().zip(inserted) {
        if let Some(buffers) = done.buffers {
            let _ = job.recycle.send((table.name.clone(), buffers));
        }
        let share = elapsed.mul_f64(job.rows as f64 / total as f64);
        job.jobs.inserted(&table.name, job.rows as u64, done.method, target == Target::Staging, started_at, share);
    }
    Ok(())
}

impl InsertJob {
    /// Whether this batch can go into the same insert as `lead`'s: the same table, as the
    /// same definition, in the same schema.
    fn joins(&self, lead: &InsertJob) -> bool {
        self.target == lead.target && self.chain.last() == lead.chain.last()
    }

    fn table_name(&self) -> &str {
        self.chain.last().map_or("", |t| t.name.as_str())
    }
}

/// A job and the bytes of batches it holds.
type Queued = (Job, Option<Held>);

/// What the loader runs next: one job, or batches of one table inserted together.
enum Run {
    One(Queued),
    Inserts(Vec<(InsertJob, Option<Held>)>),
}

impl Run {
    /// Jobs in the run.
    fn len(&self) -> usize {
        match self {
            Run::One(_) => 1,
            Run::Inserts(group) => group.len(),
        }
    }
}

/// Takes the next run off `pending`: its first job, and if that is an insert, every later
/// insert that [joins](InsertJob::joins) it up to the next job of another kind or the next
/// batch of its table as another definition (truncates, merges and the like keep their place,
/// a table's batches their order; inserts into other tables wait, in their order).
fn next_run(pending: &mut VecDeque<Queued>) -> Option<Run> {
    let (first, held) = pending.pop_front()?;
    let Job::Insert(lead) = first else { return Some(Run::One((first, held))) };
    let mut group = vec![(lead, held)];
    let mut i = 0;
    while i < pending.len() {
        match &pending[i].0 {
            Job::Insert(next) if next.joins(&group[0].0) => {
                let Some((Job::Insert(next), held)) = pending.remove(i) else { unreachable!("matched an insert") };
                group.push((next, held));
            }
            // The same table as another definition: its later batches wait behind it.
            Job::Insert(next) if next.target == group[0].0.target && next.table_name() == group[0].0.table_name() => break,
            Job::Insert(_) => i += 1,
            _ => break,
        }
    }
    Some(Run::Inserts(group))
}

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
        let worker = std::thread::Builder::new()
            .name("etl-load".into())
            .spawn_scoped(scope, move || {
                let mut db = db;
                let mut first_error = None;
                // Jobs taken off the queue: the loader takes all that wait (up to [`QUEUE`]), so
                // that batches of one table go into one statement.
                let mut pending = VecDeque::with_capacity(QUEUE);
                loop {
                    if pending.is_empty() {
                        match rx.recv() {
                            Ok(job) => pending.push_back(job),
                            Err(_) => break,
                        }
                    }
                    while pending.len() < QUEUE {
                        match rx.try_recv() {
                            Ok(job) => pending.push_back(job),
                            Err(_) => break,
                        }
                    }
                    let Some(run) = next_run(&mut pending) else { continue };
                    let count = run.len();
                    // After an error the rest is dropped unrun (their bytes given back).
                    if first_error.is_none() {
                        let outcome = match run {
                            Run::One((job, held)) => {
                                let outcome = job.execute(db.as_mut());
                                drop(held);
                                outcome
                            }
                            Run::Inserts(group) => {
                                let (jobs, held): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                                let outcome = insert(jobs, db.as_mut());
                                drop(held);
                                outcome
                            }
                        };
                        if let Err(e) = outcome {
                            flag.store(true, Ordering::Release);
                            first_error = Some(e);
                        }
                    }
                    done.fetch_sub(count, Ordering::Relaxed);
                }
                (db, first_error)
            })
            .expect("the loader thread starts");
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
    use crate::jobs::InsertMethod;

    fn session(dir: &tempfile::TempDir) -> Box<dyn Session> {
        Box::new(crate::destination::duckdb::DuckDbSession::open(&dir.path().join("t.duckdb"), "d").unwrap())
    }

    fn custom(f: impl FnOnce(&mut dyn Session) -> Result<(), PipelineError> + Send + 'static) -> Job {
        Job::Custom(Box::new(f))
    }

    /// A table of one `BIGINT` column `v` (and `w` too if `wide`).
    fn table(name: &str, wide: bool) -> Table {
        let column = |n: &str| etl_core::Column {
            name: n.into(),
            data_type: Some(etl_core::DataType::Bigint),
            nullable: true,
            nullable_set: true,
            ..Default::default()
        };
        let columns = if wide { vec![column("v"), column("w")] } else { vec![column("v")] };
        Table { name: name.into(), columns, ..Default::default() }
    }

    /// A batch of `values` for `table`'s column `v` (`w`, if there, is null).
    fn insert_job(table: &Table, values: std::ops::Range<i64>, recycle: &Sender<Recycled>, jobs: &JobLog) -> Job {
        let mut rows = etl_core::columnar::TableColumns::default();
        for v in values {
            rows.push_row(table, &[(0, etl_core::Value::Int(v))]).unwrap();
        }
        let (rows, columns) = rows.take();
        Job::Insert(InsertJob { chain: vec![table.clone()], target: Target::Main, rows, columns, recycle: recycle.clone(), jobs: jobs.clone() })
    }

    #[test]
    fn the_next_run_takes_the_waiting_batches_of_its_table_up_to_another_kind_of_job() {
        let (recycle, _) = std::sync::mpsc::channel();
        let jobs = JobLog::default();
        let (a, b, a2) = (table("a", false), table("b", false), table("a", true));
        let mut pending: VecDeque<Queued> = VecDeque::new();
        for (t, range) in [(&a, 0..1), (&b, 1..2), (&a, 2..3), (&a2, 3..4), (&a, 4..5)] {
            pending.push_back((insert_job(t, range, &recycle, &jobs), None));
        }
        pending.push_back((Job::EnsureDataset, None));
        pending.push_back((insert_job(&a, 5..6, &recycle, &jobs), None));
        // Which tables (and how many columns) each run inserts, in the order the runs come.
        let mut runs = Vec::new();
        while let Some(run) = next_run(&mut pending) {
            runs.push(match run {
                Run::One((Job::EnsureDataset, _)) => "ensure".to_owned(),
                Run::One(_) => "other".to_owned(),
                Run::Inserts(group) => {
                    let t = group[0].0.chain.last().unwrap();
                    let firsts: Vec<String> = group.iter().map(|(j, _)| j.columns[0].as_ref().unwrap().data.clone()).map(|d| format!("{d:?}")).collect();
                    format!("{}{}:{}", t.name, t.columns.len(), firsts.join(","))
                }
            });
        }
        // `a` with two columns is another definition: it and the batches of `a` after it wait
        // for their own runs, in order, as does the insert after `EnsureDataset`.
        assert_eq!(runs, ["a1:Int([0]),Int([2])", "b1:Int([1])", "a2:Int([3])", "a1:Int([4])", "ensure", "a1:Int([5])"]);
    }

    #[test]
    fn batches_that_wait_together_keep_their_order_and_their_buffers_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let (recycle, returned) = std::sync::mpsc::channel();
        let jobs = JobLog::default();
        let (a, b) = (table("a", false), table("b", false));
        let n = crate::destination::duckdb::SCAN_MIN_ROWS as i64;
        let (db, result) = with_loader(session(&dir), |loader| {
            loader.run(Job::EnsureDataset)?;
            // The loader waits until every batch is queued, so that they all wait together.
            let (open, gate) = std::sync::mpsc::channel::<()>();
            loader.run(custom(move |_| {
                let _ = gate.recv();
                Ok(())
            }))?;
            // Scanned batches of `a`, one small enough for the appender between them, and `b`'s.
            for (t, range) in [(&a, 0..n), (&b, 0..n), (&a, n..2 * n), (&a, 2 * n..2 * n + 10), (&a, 2 * n + 10..3 * n + 10)] {
                loader.run(insert_job(t, range, &recycle, &jobs))?;
            }
            let _ = open.send(());
            Ok(())
        });
        result.unwrap();
        let mut db = db;
        let expected = (0..3 * n + 10).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let sql = format!("SELECT string_agg(v::TEXT, ',' ORDER BY rowid) = '{expected}' FROM d.a");
        let answer = db.query_arrow(&sql).unwrap();
        let same = answer[0].column(0).as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap().value(0);
        assert!(same, "the rows of `a` are not in the order they were queued");
        let job = jobs.job("a").unwrap();
        assert_eq!((job.rows, job.batches), (3 * n as u64 + 10, 4));
        assert_eq!(job.insert_methods, [InsertMethod::EtlScan, InsertMethod::ArrowAppender]);
        // Every scanned batch's buffers came back (not the appender's).
        assert_eq!(returned.try_iter().count(), 4);
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
