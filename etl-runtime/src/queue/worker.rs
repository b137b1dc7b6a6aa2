//! A worker: claims queued runs one at a time and has its launcher execute them, renewing the
//! run's lease from a thread of its own while the run goes. Between runs it reaps the runs
//! whose workers were lost (their lease ran out): each is marked failed, with the reason in its
//! event log, and retried under the run retry policy. A failed run of its own is retried the
//! same way. A run's `max_concurrent_runs` and tag limits are taken by the worker before it
//! runs it; a run whose limit is full is handed back and passed over until the next round, so
//! it waits in the queue, not in a worker. On shutdown (SIGTERM,
//! SIGINT) it finishes the run in progress and claims no more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::launcher::RunLauncher;
use super::retry::retry_of;
use super::{record_failure, RunQueue};
use crate::execute::RunOptions;
use crate::history::{this_worker, HistoryError, RunRecord, RunStore};
use crate::storage::pools::SlotGuard;
use crate::storage::run_limit;

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// A claimed run's lease; renewed every third of it. A run whose worker is lost is retried
    /// after at most this long.
    pub lease: Duration,
    /// How long to wait before looking at an empty queue again.
    pub poll: Duration,
    /// Stop when the queue is empty and no claimed run is left (a batch worker).
    pub drain: bool,
    /// Stop after this many runs.
    pub max_runs: Option<usize>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions { lease: Duration::from_secs(30), poll: Duration::from_secs(1), drain: false, max_runs: None }
    }
}

/// What a worker did.
#[derive(Debug, Default)]
pub struct WorkerReport {
    /// The runs it executed, with whether each succeeded.
    pub runs: Vec<(String, bool)>,
    /// The lost runs it reaped.
    pub reaped: Vec<String>,
    /// Retries it queued (of its own failed runs and of reaped ones).
    pub retries: Vec<String>,
}

/// A worker over one storage.
pub struct Worker<'a> {
    store: RunStore,
    queue: Arc<dyn RunQueue>,
    launcher: &'a dyn RunLauncher,
    run_options: RunOptions,
    options: WorkerOptions,
    /// `host/pid`, as the executor records it.
    name: String,
    /// `[instance] max_concurrent_runs` and `tag_concurrency_limits`: a run whose limits are
    /// full stays in the queue for another time rather than wait in this worker.
    max_runs: Option<u32>,
    tag_rules: Vec<run_limit::TagLimit>,
}

impl<'a> Worker<'a> {
    /// A worker of the queue of `run_options`' storage.
    pub fn new(launcher: &'a dyn RunLauncher, run_options: RunOptions, options: WorkerOptions) -> Result<Self, HistoryError> {
        let store = run_options.store()?;
        let queue = store.queue()?;
        let config = etl_config::Config::load_from(&run_options.working_dir).map_err(HistoryError::RunLimitConfig)?;
        let (max_runs, tag_rules) = (run_limit::max_concurrent_runs(&config)?, run_limit::tag_limits(&config)?);
        let mut run_options = run_options;
        run_options.storage = Some(store.clone());
        Ok(Worker { store, queue, launcher, run_options, options, name: this_worker(), max_runs, tag_rules })
    }

    /// Works until `shutdown` is set (or, with `drain`, the queue is done; with `max_runs`,
    /// that many runs were executed). A storage that cannot be reached is waited for.
    pub fn run(&self, shutdown: &AtomicBool) -> WorkerReport {
        let mut report = WorkerReport::default();
        let mut storage_down = false;
        // Runs left in the queue this round because a limit of theirs is full.
        let mut skip: Vec<String> = Vec::new();
        while !shutdown.load(Ordering::SeqCst) && self.options.max_runs.is_none_or(|n| report.runs.len() < n) {
            self.reap(&mut report);
            match self.queue.claim_skipping(&self.name, self.options.lease, &skip) {
                Ok(Some(run)) => {
                    storage_down = false;
                    if shutdown.load(Ordering::SeqCst) {
                        // Told to stop while claiming: another worker takes it.
                        self.hand_back(&run);
                        break;
                    }
                    let held = match self.take_limits(&run) {
                        Ok(held) => held,
                        Err(full) => {
                            tracing::info!(run_id = %run.run_id, "left in the queue for now: {full} is full");
                            self.hand_back(&run);
                            skip.push(run.run_id);
                            continue;
                        }
                    };
                    skip.clear();
                    let ok = self.execute(&run, !held.is_empty(), &mut report);
                    drop(held);
                    report.runs.push((run.run_id, ok));
                }
                Ok(None) => {
                    storage_down = false;
                    if self.options.drain && skip.is_empty() && self.queue.claimed().is_ok_and(|c| c.is_empty()) {
                        break;
                    }
                    skip.clear();
                    sleep_unless(shutdown, self.options.poll);
                }
                Err(e) => {
                    if !storage_down {
                        tracing::error!("worker: cannot claim a run, retrying: {e}");
                        storage_down = true;
                    }
                    sleep_unless(shutdown, self.options.poll.max(Duration::from_millis(500)));
                }
            }
        }
        report
    }

    fn hand_back(&self, run: &RunRecord) {
        if let Err(e) = self.queue.hand_back(&run.run_id, &self.name) {
            tracing::warn!(run_id = %run.run_id, "cannot hand the run back (it is retried once its lease runs out): {e}");
        }
    }

    /// Takes a slot of each of the run's limits (`max_concurrent_runs`, its tags' limits), as
    /// Dagster's queued run coordinator checks them before it dequeues a run: `Err` names the
    /// first that is full (nothing is kept then). The slots are held for the run by the worker
    /// (the run does not take them again). A slot that cannot be checked is left to the run,
    /// which then waits for it as a run started by `materialize` does.
    fn take_limits(&self, run: &RunRecord) -> Result<Vec<SlotGuard>, String> {
        let pools = run_limit::run_pools(self.max_runs, &self.tag_rules, &run.tags);
        if pools.is_empty() {
            return Ok(Vec::new());
        }
        let Ok(slots) = self.store.pool_slots() else { return Ok(Vec::new()) };
        let mut held = Vec::with_capacity(pools.len());
        for (pool, limit) in pools {
            let mut taken = None;
            for slot in 0..limit {
                match slots.try_slot(&pool, slot) {
                    Ok(Some(guard)) => {
                        taken = Some(guard);
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(run_id = %run.run_id, "cannot check `{pool}`; the run takes its slot itself: {e}");
                        return Ok(Vec::new());
                    }
                }
            }
            match taken {
                Some(guard) => held.push(guard),
                None => return Err(format!("`{pool}` (limit {limit})")),
            }
        }
        Ok(held)
    }

    /// Reaps the runs whose lease ran out, writing each one's end and queueing its retry.
    fn reap(&self, report: &mut WorkerReport) {
        let reaped = match self.queue.reap_expired(retry_of) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("worker: cannot look for lost runs: {e}");
                return;
            }
        };
        for lost in reaped {
            let reason = format!(
                "its worker {} was lost: the run's lease ran out{}",
                lost.run.worker.as_deref().unwrap_or("?"),
                lost.retry.as_ref().map(|r| format!("; retried as run {}", r.run_id)).unwrap_or_default()
            );
            tracing::warn!(run_id = %lost.run.run_id, "{reason}");
            if let Err(e) = record_failure(&self.store, &lost.run, &reason) {
                tracing::warn!(run_id = %lost.run.run_id, "cannot record the end of a lost run: {e}");
            }
            report.reaped.push(lost.run.run_id);
            report.retries.extend(lost.retry.map(|r| r.run_id));
        }
    }

    /// Executes a claimed run with its lease renewed (`limits_held`: the worker holds its run
    /// limits' slots); returns whether it succeeded.
    fn execute(&self, run: &RunRecord, limits_held: bool, report: &mut WorkerReport) -> bool {
        tracing::info!(run_id = %run.run_id, selection = %run.selection, "worker: claimed a run");
        let heartbeat = Heartbeat::start(self.queue.clone(), run.run_id.clone(), self.name.clone(), self.options.lease);
        let mut options = self.run_options.clone();
        options.run_limits_held = limits_held;
        let launched = self.launcher.launch(run, &options);
        let lease_lost = heartbeat.stop();
        let (ok, mut ended) = match launched {
            Ok(result) => {
                let ok = result.success();
                let ended = self.store.record(&run.run_id).unwrap_or_else(|_| run.clone());
                (ok, ended)
            }
            Err(e) => {
                let reason = format!("the run could not start: {e}");
                tracing::error!(run_id = %run.run_id, "{reason}");
                if let Err(e) = record_failure(&self.store, run, &reason) {
                    tracing::warn!(run_id = %run.run_id, "cannot record the run's failure: {e}");
                }
                (false, run.clone())
            }
        };
        if let Err(e) = self.queue.release(&run.run_id, &self.name) {
            tracing::warn!(run_id = %run.run_id, "cannot release the run's claim (it is reaped once its lease runs out): {e}");
        }
        // Its tags decide the retry; the stored record has them, unless it cannot be read.
        if ended.tags.is_empty() {
            ended.tags = run.tags.clone();
        }
        // A run whose lease was lost was reaped, and retried, by whoever reaped it.
        if !ok && !lease_lost {
            if let Some(retry) = retry_of(&ended) {
                match self.queue.enqueue(&retry) {
                    Ok(()) => {
                        tracing::warn!(run_id = %run.run_id, retry = %retry.run_id, "the run failed; retried");
                        report.retries.push(retry.run_id);
                    }
                    Err(e) => tracing::error!(run_id = %run.run_id, "the run failed and its retry cannot be queued: {e}"),
                }
            }
        }
        ok
    }
}

fn sleep_unless(shutdown: &AtomicBool, total: Duration) {
    let end = Instant::now() + total;
    while !shutdown.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Renews a run's lease every third of it until stopped.
struct Heartbeat {
    stop: Arc<(Mutex<bool>, Condvar)>,
    lost: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(queue: Arc<dyn RunQueue>, run_id: String, worker: String, lease: Duration) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let lost = Arc::new(AtomicBool::new(false));
        let (flag, lost_flag) = (stop.clone(), lost.clone());
        let thread = std::thread::Builder::new()
            .name("etl-lease".into())
            .spawn(move || loop {
                {
                    let (lock, wake) = &*flag;
                    let stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                    let (stopped, _) = wake.wait_timeout_while(stopped, lease / 3, |s| !*s).unwrap_or_else(|e| e.into_inner());
                    if *stopped {
                        return;
                    }
                }
                match queue.renew(&run_id, &worker, lease) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(%run_id, "the run's lease was lost: it ran out, and the run was reaped and retried; its outcome here is not its record's");
                        lost_flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!(%run_id, "cannot renew the run's lease, trying again: {e}"),
                }
            })
            .ok();
        if thread.is_none() {
            tracing::error!("cannot start the lease thread; the run may be reaped as lost after its lease");
        }
        Heartbeat { stop, lost, thread }
    }

    /// Stops renewing; returns whether the lease was lost.
    fn stop(mut self) -> bool {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.lost.load(Ordering::SeqCst)
    }
}
