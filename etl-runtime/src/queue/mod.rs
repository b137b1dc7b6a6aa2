//! The run queue and the scheduling state of an instance: runs submitted and waiting for a
//! worker, the leases of the runs that workers claimed, and the schedules' ticks.
//!
//! A submitted run is a run record with status `QUEUED` (so `runs` lists it). A worker claims
//! the oldest one: the record becomes `STARTED`, names the worker (`host/pid`) and carries a
//! lease that the worker renews while the run goes. A run whose lease ran out lost its worker
//! (killed, machine gone, cut off): any worker or daemon that reaps it marks it failed and, in
//! the same step, queues its retry under the run retry policy ([`retry`]). Both storages have a
//! queue: the embedded files (one machine; [`files`]) and PostgreSQL (many machines;
//! `postgres`).

pub mod files;
pub mod launcher;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod retry;
pub mod submit;
pub mod worker;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value as Json};

use crate::history::{Event, EventKind, HistoryError, RunRecord, RunStatus, RunStore};
use crate::schedule::Tick;

/// A run whose worker was lost, as the reaper found it.
#[derive(Debug, Clone)]
pub struct Reaped {
    /// Its record, now failed.
    pub run: RunRecord,
    /// The retry queued for it, if the policy allowed one.
    pub retry: Option<RunRecord>,
}

/// Builds the retry of a failed run (`None`: no retry left); see [`retry::retry_of`].
pub type RetryFn = fn(&RunRecord) -> Option<RunRecord>;

/// The run queue and scheduling state of an instance storage. Every method is one atomic step
/// of the storage (a transaction, or a section under the queue's lock), safe for any number of
/// processes on any number of machines at once.
pub trait RunQueue: Send + Sync {
    /// Adds a run (its record, status `QUEUED`).
    fn enqueue(&self, run: &RunRecord) -> Result<(), HistoryError>;
    /// Claims the oldest queued run for `worker`, with a lease of `lease` from now: the record
    /// comes back `STARTED`, naming the worker. `None`: the queue is empty.
    fn claim(&self, worker: &str, lease: Duration) -> Result<Option<RunRecord>, HistoryError> {
        self.claim_skipping(worker, lease, &[])
    }
    /// [`Self::claim`], passing over the runs `skip` names (runs whose limits are full now).
    fn claim_skipping(&self, worker: &str, lease: Duration, skip: &[String]) -> Result<Option<RunRecord>, HistoryError>;
    /// Extends the lease of a run `worker` claimed; `false`: the run is no longer its own (it
    /// was reaped after its lease ran out).
    fn renew(&self, run_id: &str, worker: &str, lease: Duration) -> Result<bool, HistoryError>;
    /// Ends the claim of a run whose record the executor has finished.
    fn release(&self, run_id: &str, worker: &str) -> Result<(), HistoryError>;
    /// Hands a claimed run that did not start back to the queue (a worker stopping).
    fn hand_back(&self, run_id: &str, worker: &str) -> Result<(), HistoryError>;
    /// Marks every claimed run whose lease ran out as failed and, in the same step, queues the
    /// retry `retry` builds for it. Each lost run is reaped by exactly one caller.
    fn reap_expired(&self, retry: RetryFn) -> Result<Vec<Reaped>, HistoryError>;
    /// The runs claimed by workers and not yet released, oldest first.
    fn claimed(&self) -> Result<Vec<RunRecord>, HistoryError>;
    /// The queued runs, oldest first, at most `limit`.
    fn queued(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError>;
    /// Records `tick` of its schedule unless a tick at that time is recorded already (by any
    /// daemon); when this call records it and `run` is given, queues `run` in the same step.
    /// Returns whether this call recorded it.
    fn claim_tick(&self, tick: &Tick, run: Option<&RunRecord>) -> Result<bool, HistoryError>;
    /// Records what became of a claimed tick (its run could not start).
    fn update_tick(&self, tick: &Tick) -> Result<(), HistoryError>;
    /// The recorded ticks of a schedule, oldest first.
    fn ticks(&self, schedule: &str) -> Result<Vec<Tick>, HistoryError>;
    /// Stops (`true`) or starts again a schedule: a stopped schedule's ticks are not acted on
    /// by any daemon on this storage.
    fn set_schedule_stopped(&self, schedule: &str, stopped: bool) -> Result<(), HistoryError>;
    /// Whether a schedule was stopped.
    fn schedule_stopped(&self, schedule: &str) -> Result<bool, HistoryError>;
    /// Sets entries of a namespace of the instance's state (partition statuses, check results,
    /// sensor cursors), replacing each key's value.
    fn put_state(&self, namespace: &str, entries: &[(String, Json)]) -> Result<(), HistoryError>;
    /// Sets `key` unless it has a value already (by any process); whether this call set it.
    fn put_state_new(&self, namespace: &str, key: &str, value: &Json) -> Result<bool, HistoryError>;
    /// Removes a key of a namespace.
    fn remove_state(&self, namespace: &str, key: &str) -> Result<(), HistoryError>;
    /// Every entry of a namespace, by key.
    fn state(&self, namespace: &str) -> Result<BTreeMap<String, Json>, HistoryError>;
    /// The schedule's latest tick that started (or queued) a run.
    fn last_started_tick(&self, schedule: &str) -> Result<Option<Tick>, HistoryError> {
        Ok(self.ticks(schedule)?.into_iter().rev().find(|t| t.status == crate::schedule::TickStatus::Started))
    }
}

/// A record for a run submitted now, waiting in the queue.
pub fn queued_record(run_id: &str, selection: &str, assets: Vec<String>) -> RunRecord {
    let mut record = RunRecord::new(run_id, selection, assets);
    record.status = RunStatus::Queued;
    record.pid = 0;
    record.worker = None;
    record
}

/// Writes the end of a run that failed outside its executor (a lost worker, a selection that no
/// longer resolves): a `RUN_END` event with `reason`, and the record's failed status (kept as
/// it is when the run has ended already, e.g. reaped).
pub fn record_failure(store: &RunStore, run: &RunRecord, reason: &str) -> Result<(), HistoryError> {
    let event = Event::new(&run.run_id, EventKind::RunEnd).message(format!("run failure: {reason}")).data(json!({
        "status": RunStatus::Failure, "reason": reason,
    }));
    store.append(&event)?;
    let mut record = run.clone();
    record.status = RunStatus::Failure;
    record.ended_at = Some(Utc::now());
    store.finish_record(&record)
}
