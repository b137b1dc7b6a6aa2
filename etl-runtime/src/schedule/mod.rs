//! Schedules (cron expressions attached to a selection) and the daemon that runs them.
//!
//! The daemon evaluates every schedule against a [`Clock`] (the system clock, or a manual one in
//! tests) and acts on each due tick: it starts the run in its own process (the embedded files)
//! or queues it for the workers (PostgreSQL), never starts a second run of a schedule while one
//! is going (the tick is recorded as skipped), and on shutdown stops starting runs and waits for
//! the ones in progress. Ticks are recorded in the instance storage, where a tick is taken once
//! however many daemons run.

mod cron;
mod daemon;
mod sensors;

pub use cron::{Cron, CronError};
pub use daemon::Daemon;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::execute::RunOptions;

/// A schedule: a selection run on a cron expression.
///
/// ```
/// let nightly = etl_runtime::schedule::Schedule::new("nightly", "0 3 * * *").select("group:shop+");
/// assert_eq!(nightly.name(), "nightly");
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    name: String,
    cron: Result<Cron, CronError>,
    selection: String,
    tags: BTreeMap<String, String>,
    missed: MissedTicks,
    config: Option<serde_json::Value>,
}

/// What a daemon does, when it starts, with the ticks it missed while no daemon ran (counted
/// from the schedule's last recorded tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissedTicks {
    /// Nothing: the next tick is the next one from now (the default).
    Skip,
    /// Act on the most recent missed ticks, at most this many, oldest first.
    CatchUp(u32),
}

impl Schedule {
    /// A schedule of every asset; narrow it with [`Schedule::select`]. An invalid expression is
    /// reported when the definitions are validated. Missed ticks are skipped unless
    /// [`Schedule::catch_up`] says otherwise.
    pub fn new(name: &str, cron: &str) -> Self {
        Schedule {
            name: name.to_owned(),
            cron: Cron::parse(cron),
            selection: "*".into(),
            tags: BTreeMap::new(),
            missed: MissedTicks::Skip,
            config: None,
        }
    }

    /// Reads the cron expression in the IANA timezone `name` (`Europe/Berlin`): `0 3 * * *` is
    /// 03:00 there, summer and winter. An unknown name is reported when the definitions are
    /// validated.
    pub fn timezone(mut self, name: &str) -> Self {
        self.cron = self.cron.and_then(|c| c.in_timezone(name));
        self
    }

    /// Tags the schedule's runs (`tag_concurrency_limits`, retry tags, or just labels).
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.insert(key.to_owned(), value.to_owned());
        self
    }

    /// On start, the daemon acts on the ticks missed since the last recorded one, at most `n`
    /// (the most recent ones); 0 skips them.
    pub fn catch_up(mut self, n: u32) -> Self {
        self.missed = if n == 0 { MissedTicks::Skip } else { MissedTicks::CatchUp(n) };
        self
    }

    /// The run config of its runs (`{"ops": {"<op>": {"config": {...}}}}`), checked when the
    /// daemon starts.
    pub fn config(mut self, config: serde_json::Value) -> Self {
        self.config = Some(config);
        self
    }

    /// The run config of its runs.
    pub fn run_config(&self) -> Option<&serde_json::Value> {
        self.config.as_ref()
    }

    /// The tags of its runs.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }

    /// What is done with missed ticks.
    pub fn missed_ticks(&self) -> MissedTicks {
        self.missed
    }

    /// The selection to run (Dagster's syntax, as `materialize --select`).
    pub fn select(mut self, selection: &str) -> Self {
        self.selection = selection.to_owned();
        self
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Selection.
    pub fn selection(&self) -> &str {
        &self.selection
    }

    /// The cron expression, if valid.
    pub fn cron(&self) -> Result<&Cron, &CronError> {
        self.cron.as_ref()
    }
}

/// Where the daemon takes the time from.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(now)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: ChronoDuration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the daemon did with a due tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// The schedule.
    pub schedule: String,
    /// The tick's time.
    pub tick: DateTime<Utc>,
    /// `started`, `skipped` or `failed`.
    pub status: TickStatus,
    /// The run started.
    pub run_id: Option<String>,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
}

/// Outcome of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TickStatus {
    /// A run was started (or queued for the workers).
    Started,
    /// No run was started: the schedule's previous run is still going.
    Skipped,
    /// The run could not be started (no thread for it, the storage refused it).
    Failed,
}

/// The recorded ticks of a schedule, oldest first (none if the storage cannot be read).
pub fn ticks(options: &RunOptions, schedule: &str) -> Vec<Tick> {
    match options.store().and_then(|s| s.queue()).and_then(|q| q.ticks(schedule)) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("cannot read the ticks of schedule `{schedule}`: {e}");
            Vec::new()
        }
    }
}
