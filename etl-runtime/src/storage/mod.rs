//! The instance storage: where the run history lives. One trait, [`InstanceStorage`], with two
//! implementations: the embedded default ([`files::FileStorage`], plain files under the home
//! directory) and PostgreSQL (`postgres::PgStorage`, one instance shared by many processes).
//!
//! Which one a command uses: `--storage <url>`, else `$ETL_STORAGE`, else `[instance] storage`
//! in `.etl/config.toml`, else the files under `$ETL_HOME` or `<working dir>/.etl`
//! ([`resolve`]). A storage is given as a PostgreSQL URL (`postgresql://…` / `postgres://…`),
//! `files` (the default home) or `files:<dir>`.

pub mod files;
#[cfg(feature = "postgres")]
pub mod pg_link;
#[cfg(feature = "postgres")]
pub mod pg_pools;
pub mod pools;
pub mod run_limit;
#[cfg(feature = "postgres")]
pub mod postgres;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::Utc;

use crate::asset::AssetKey;
use crate::history::{Event, HistoryError, RunRecord, RunStatus};
use crate::queue::RunQueue;

/// The environment variable that chooses the instance storage.
pub const STORAGE_ENV: &str = "ETL_STORAGE";

/// What the run history needs of a storage. Writes of one run come from one process; reads may
/// come from any process at any time and see what was written so far.
pub trait InstanceStorage: Send + Sync {
    /// Where it is, for messages (never a password).
    fn describe(&self) -> String;
    /// Records a run that starts (replacing any record with its id).
    fn start_run(&self, record: &RunRecord) -> Result<(), HistoryError>;
    /// Appends an event to its run's log (and a materialization to its asset's history). May
    /// return before the event is stored; a failure is then reported by [`Self::finish_run`].
    fn append_event(&self, event: &Event) -> Result<(), HistoryError>;
    /// Records the run's final record (status, end), unless the stored run has ended already
    /// (a run reaped after its worker's lease ran out keeps its failure); every event appended
    /// before is stored when this returns.
    fn finish_run(&self, record: &RunRecord) -> Result<(), HistoryError>;
    /// Run records that pass `filter`, newest first (by id, which is time-ordered).
    fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, HistoryError>;
    /// The ids of the runs whose id starts with `prefix`, in byte order (an id equal to
    /// `prefix` comes first), at most `limit`. Reads no run record: resolving a prefix costs
    /// the same with 10 runs or 100,000.
    fn run_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<String>, HistoryError>;
    /// One run's record ([`HistoryError::NoRun`] if none).
    fn record(&self, run_id: &str) -> Result<RunRecord, HistoryError>;
    /// One run's events, in order ([`HistoryError::NoRun`] if no such run).
    fn events(&self, run_id: &str) -> Result<Vec<Event>, HistoryError>;
    /// The materializations of an asset across runs, oldest first: all, or the `newest` N,
    /// with how many there are in all.
    fn asset_history(&self, key: &AssetKey, newest: Option<usize>) -> Result<AssetHistory, HistoryError>;
    /// The latest materialization of each asset (the catalog, the lineage), in `keys`' order.
    fn latest_materializations(&self, keys: &[AssetKey]) -> Result<Vec<Option<Event>>, HistoryError> {
        keys.iter().map(|k| Ok(self.asset_history(k, Some(1))?.events.pop())).collect()
    }
    /// The slots of the instance's pools, shared by every process on this storage (see
    /// [`pools`]). Opened on first use and kept.
    fn pool_slots(&self) -> Result<Arc<dyn pools::PoolSlots>, HistoryError>;
    /// The run queue and the schedules' ticks (see [`crate::queue`]). Opened on first use and
    /// kept.
    fn queue(&self) -> Result<Arc<dyn RunQueue>, HistoryError>;
    /// Whether runs are meant to be executed by workers (`submit`, and the daemon's ticks
    /// queue their runs) rather than by the process that starts them. PostgreSQL: yes.
    fn has_workers(&self) -> bool;
}

/// Which runs to list: every condition given must hold.
#[derive(Debug, Clone)]
pub struct RunFilter {
    /// The run's status as shown (a run whose process is gone is `Abandoned`).
    pub status: Option<RunStatus>,
    /// The run selected this asset (`a/b`).
    pub asset: Option<String>,
    /// Started at or after.
    pub since: Option<chrono::DateTime<Utc>>,
    /// Older than this run id (the last of the previous page).
    pub before: Option<String>,
    /// At most this many.
    pub limit: usize,
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter { status: None, asset: None, since: None, before: None, limit: usize::MAX }
    }
}

impl RunFilter {
    /// Whether a record passes (the storages pre-select; this is the one rule).
    pub fn admits(&self, r: &RunRecord) -> bool {
        self.status.is_none_or(|s| r.effective_status() == s)
            && self.asset.as_ref().is_none_or(|a| r.assets.iter().any(|x| x == a))
            && self.since.is_none_or(|t| r.started_at >= t)
            && self.before.as_ref().is_none_or(|b| r.run_id.as_str() < b.as_str())
    }
}

/// Some or all of an asset's materializations.
#[derive(Debug, Clone)]
pub struct AssetHistory {
    /// How many the asset has.
    pub total: usize,
    /// The ones read, oldest first.
    pub events: Vec<Event>,
}

/// A handle on the instance storage; cloning shares it.
#[derive(Clone)]
pub struct RunStore {
    storage: Arc<dyn InstanceStorage>,
}

impl std::fmt::Debug for RunStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RunStore").field(&self.storage.describe()).finish()
    }
}

impl RunStore {
    /// The home for a working directory: `$ETL_HOME` if set, else `<working_dir>/.etl`.
    pub fn home_for(working_dir: &Path) -> PathBuf {
        files::home_for(working_dir)
    }

    /// The embedded files at `home` (created on first write).
    pub fn at(home: impl Into<PathBuf>) -> Self {
        RunStore::new(Arc::new(files::FileStorage::at(home)))
    }

    /// Any storage.
    pub fn new(storage: Arc<dyn InstanceStorage>) -> Self {
        RunStore { storage }
    }

    /// Opens a storage given as a PostgreSQL URL, `files` or `files:<dir>` (relative to
    /// `working_dir`); `origin` names where it was given, for errors.
    pub fn open(spec: &str, working_dir: &Path, origin: &str) -> Result<Self, HistoryError> {
        let spec = spec.trim();
        if spec == "files" {
            return Ok(RunStore::at(RunStore::home_for(working_dir)));
        }
        if let Some(dir) = spec.strip_prefix("files:") {
            let dir = PathBuf::from(dir);
            return Ok(RunStore::at(if dir.is_absolute() { dir } else { working_dir.join(dir) }));
        }
        if spec.starts_with("postgresql://") || spec.starts_with("postgres://") {
            #[cfg(feature = "postgres")]
            return Ok(RunStore::new(Arc::new(postgres::PgStorage::connect(spec)?)));
            #[cfg(not(feature = "postgres"))]
            return Err(HistoryError::NoPostgres(etl_pipeline::destination::config::redact_url(spec)));
        }
        Err(HistoryError::UnknownStorage { spec: etl_pipeline::destination::config::redact_url(spec), origin: origin.to_owned() })
    }

    /// Where it is, for messages.
    pub fn describe(&self) -> String {
        self.storage.describe()
    }

    /// Starts recording a run: writes its record and opens its event log.
    pub fn start(&self, record: RunRecord) -> Result<RunLog, HistoryError> {
        self.storage.start_run(&record)?;
        let log = RunLog { store: self.clone(), inner: Arc::new(Mutex::new(LogInner { record, failed_write: false })) };
        active().lock().unwrap_or_else(|e| e.into_inner()).insert(log.run_id(), log.clone());
        Ok(log)
    }

    /// Run records, newest first, at most `limit`.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        self.storage.runs(&RunFilter { limit, ..RunFilter::default() })
    }

    /// Run records that pass `filter`, newest first (a page: see [`RunFilter::before`]).
    pub fn runs_where(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, HistoryError> {
        self.storage.runs(filter)
    }

    /// The ids of the runs whose id starts with `prefix`, in byte order, at most `limit`.
    pub fn run_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<String>, HistoryError> {
        self.storage.run_ids_with_prefix(prefix, limit)
    }

    /// One run's record.
    pub fn record(&self, run_id: &str) -> Result<RunRecord, HistoryError> {
        self.storage.record(run_id)
    }

    /// One run's events, in order.
    pub fn events(&self, run_id: &str) -> Result<Vec<Event>, HistoryError> {
        self.storage.events(run_id)
    }

    /// The materializations of an asset across runs, oldest first.
    pub fn asset_history(&self, key: &AssetKey) -> Result<Vec<Event>, HistoryError> {
        Ok(self.storage.asset_history(key, None)?.events)
    }

    /// The latest materialization of each asset, in `keys`' order.
    pub fn latest_materializations(&self, keys: &[AssetKey]) -> Result<Vec<Option<Event>>, HistoryError> {
        self.storage.latest_materializations(keys)
    }

    /// The newest `n` materializations of an asset, oldest first, and how many there are.
    pub fn asset_history_newest(&self, key: &AssetKey, n: usize) -> Result<AssetHistory, HistoryError> {
        self.storage.asset_history(key, Some(n))
    }

    /// The run queue and the schedules' ticks.
    pub fn queue(&self) -> Result<Arc<dyn RunQueue>, HistoryError> {
        self.storage.queue()
    }

    /// Whether the daemon queues its runs for workers (see [`InstanceStorage::has_workers`]).
    pub fn has_workers(&self) -> bool {
        self.storage.has_workers()
    }

    /// Appends an event outside a run's own log (stored when the next [`Self::finish_record`]
    /// returns, at the latest).
    pub fn append(&self, event: &Event) -> Result<(), HistoryError> {
        self.storage.append_event(event)
    }

    /// Writes a run's final record (see [`InstanceStorage::finish_run`]).
    pub fn finish_record(&self, record: &RunRecord) -> Result<(), HistoryError> {
        self.storage.finish_run(record)
    }

    /// The slots of the instance's pools.
    pub fn pool_slots(&self) -> Result<Arc<dyn pools::PoolSlots>, HistoryError> {
        self.storage.pool_slots()
    }
}

/// The storage a command in `working_dir` uses: `explicit` (`--storage`), else `$ETL_STORAGE`,
/// else `[instance] storage` of `<working_dir>/.etl/config.toml`, else the embedded files.
pub fn resolve(working_dir: &Path, explicit: Option<&str>) -> Result<RunStore, HistoryError> {
    if let Some(spec) = explicit {
        return RunStore::open(spec, working_dir, "--storage");
    }
    if let Some(spec) = std::env::var(STORAGE_ENV).ok().filter(|s| !s.trim().is_empty()) {
        return RunStore::open(&spec, working_dir, STORAGE_ENV);
    }
    let config = etl_config::Config::load_from(working_dir)?;
    if let Some((spec, place)) = config.get_found::<String>(&["instance"], "storage")? {
        return RunStore::open(&spec, working_dir, &place);
    }
    Ok(RunStore::at(RunStore::home_for(working_dir)))
}

struct LogInner {
    record: RunRecord,
    /// A write failed already (reported once).
    failed_write: bool,
}

/// The open log of a running run. Cloning shares it. Write failures never fail the run: the
/// first one is reported on stderr.
#[derive(Clone)]
pub struct RunLog {
    store: RunStore,
    inner: Arc<Mutex<LogInner>>,
}

impl RunLog {
    /// The storage the run is recorded in.
    pub fn store(&self) -> &RunStore {
        &self.store
    }

    /// The run id.
    pub fn run_id(&self) -> String {
        self.lock().record.run_id.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an event (and, for materializations, to the asset's history).
    pub fn emit(&self, event: Event) {
        if let Err(e) = self.store.storage.append_event(&event) {
            let mut inner = self.lock();
            if !inner.failed_write {
                eprintln!("warning: cannot write the run history to {}: {e}", self.store.describe());
                inner.failed_write = true;
            }
        }
    }

    /// Ends the run: writes the final status and closes the log.
    pub fn finish(&self, status: RunStatus) -> Result<(), HistoryError> {
        let record = {
            let mut inner = self.lock();
            inner.record.status = status;
            inner.record.ended_at = Some(Utc::now());
            inner.record.clone()
        };
        let result = self.store.storage.finish_run(&record);
        active().lock().unwrap_or_else(|e| e.into_inner()).remove(&record.run_id);
        result
    }
}

fn active() -> &'static Mutex<HashMap<String, RunLog>> {
    static ACTIVE: OnceLock<Mutex<HashMap<String, RunLog>>> = OnceLock::new();
    ACTIVE.get_or_init(Default::default)
}

/// The open log of a run in this process, for log capture.
pub fn active_log(run_id: &str) -> Option<RunLog> {
    active().lock().unwrap_or_else(|e| e.into_inner()).get(run_id).cloned()
}
