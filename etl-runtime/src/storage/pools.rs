//! Pools that hold across runs and processes: a pool of limit N has N slots, and an op runs
//! only while it holds one slot of each of its pools. The slots live where the instance does,
//! so every process sharing a storage shares its pools:
//!
//! - the embedded files: one lock file per slot, `<home>/pools/<name>.<slot>.lock`, taken with
//!   an OS `flock` ([`FileSlots`]); the OS releases it when its process dies;
//! - PostgreSQL: one session-level advisory lock per slot on a connection of its own
//!   (`postgres::PgSlots`); the server releases it when its process dies.
//!
//! [`Pools`] takes them for the executor: in the run first (a semaphore of N per pool, so a
//! run never waits on a slot it holds itself), then a free slot of the instance,
//! trying the slots in turn and polling until one frees. Waiting happens on the blocking pool
//! or in a sleep, never on an executor thread, and never while holding a concurrency slot.
//!
//! Limits: `[pools] <name> = N` in `.etl/config.toml`, default 1; the pool of a DuckDB file
//! (`duckdb:<path>`) is always 1 (one writer). A dlt pipeline's pool (`pipeline:<name>`) has
//! the default 1: its state is one; a larger limit suits runs that keep no state between them.

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::history::HistoryError;

/// A held slot; released when dropped.
pub struct SlotGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl SlotGuard {
    /// A guard whose drop releases the slot.
    pub fn new(release: impl Send + Sync + 'static) -> Self {
        SlotGuard(Box::new(release))
    }
}

/// The slots of the instance's pools. Calls may block (a file lock, a round trip to the
/// server): the executor makes them on its blocking pool.
pub trait PoolSlots: Send + Sync {
    /// Tries to take slot `slot` (from 0) of `pool`; `Ok(None)` when another holder has it,
    /// another process or another run of this one.
    fn try_slot(&self, pool: &str, slot: u32) -> Result<Option<SlotGuard>, HistoryError>;
}

/// The limit of a pool in `<working_dir>/.etl/config.toml` (`[pools] <name> = N`), default 1;
/// always 1 for a DuckDB file.
pub fn limit_of(config: &etl_config::Config, pool: &str) -> Result<u32, HistoryError> {
    if pool.starts_with("duckdb:") {
        return Ok(1);
    }
    match config.get_found::<i64>(&["pools"], pool).map_err(|source| HistoryError::PoolConfig { pool: pool.to_owned(), source })? {
        None => Ok(1),
        Some((n, place)) => u32::try_from(n).ok().filter(|&n| n >= 1).ok_or(HistoryError::PoolLimit { pool: pool.to_owned(), value: n, place }),
    }
}

/// The slots of the embedded files: lock files under `<home>/pools`.
pub struct FileSlots {
    dir: PathBuf,
}

impl FileSlots {
    /// The slots under `<home>/pools`.
    pub fn at(home: &Path) -> Self {
        FileSlots { dir: home.join("pools") }
    }

    /// The lock file of a slot: the pool's name made safe for a file name, and a hash of the
    /// whole name so that two names made alike stay apart.
    pub fn path_of(&self, pool: &str, slot: u32) -> PathBuf {
        let safe: String = pool.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let safe: String = safe.chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
        self.dir.join(format!("{safe}-{:016x}.{slot}.lock", fnv1a(pool.as_bytes())))
    }
}

/// FNV-1a, 64 bits: a hash that every build of every binary computes alike.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl PoolSlots for FileSlots {
    fn try_slot(&self, pool: &str, slot: u32) -> Result<Option<SlotGuard>, HistoryError> {
        let path = self.path_of(pool, slot);
        let io = |action: &'static str| {
            let path = path.clone();
            move |source| HistoryError::Io { action, path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io("creating the pools directory"))?;
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io("opening a pool slot"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(io("locking a pool slot")(e)),
        }
        // Who holds it, for a person looking; the lock is what counts.
        let _ = file.set_len(0);
        let _ = write!(file, "pool {pool} slot {slot}: pid {}", std::process::id());
        Ok(Some(SlotGuard::new(FileSlot(file))))
    }
}

/// A held lock file: closing it releases the lock.
struct FileSlot(File);

impl Drop for FileSlot {
    fn drop(&mut self) {
        let _ = self.0.set_len(0);
        let _ = self.0.unlock();
    }
}

/// A held pool: its slot in this process and, when the pools are shared, in the instance.
pub struct PoolPermit {
    _local: OwnedSemaphorePermit,
    _shared: Option<SharedSlot>,
}

/// A slot of the instance held by this process; forgotten by [`Pools`] when dropped.
struct SharedSlot {
    guard: Option<SlotGuard>,
    key: (String, u32),
    held: Arc<Mutex<BTreeSet<(String, u32)>>>,
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}

/// The pools of one run.
pub struct Pools {
    local: HashMap<String, (u32, Arc<Semaphore>)>,
    shared: Option<Arc<dyn PoolSlots>>,
    held: Arc<Mutex<BTreeSet<(String, u32)>>>,
}

/// How long a waiter sleeps between tries at first, and at most.
const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_millis(250);

impl Pools {
    /// The pools named, with their limits; `shared`: the instance's slots (`None`: in this
    /// process only, when the storage could not be opened).
    pub fn new(names: impl IntoIterator<Item = String>, limits: impl Fn(&str) -> Result<u32, HistoryError>, shared: Option<Arc<dyn PoolSlots>>) -> Result<Self, HistoryError> {
        let mut local = HashMap::new();
        for name in names {
            if !local.contains_key(&name) {
                let limit = limits(&name)?;
                local.insert(name, (limit, Arc::new(Semaphore::new(limit as usize))));
            }
        }
        Ok(Pools { local, shared, held: Arc::default() })
    }

    /// The limit of a pool given to [`Pools::new`].
    pub fn limit(&self, pool: &str) -> Option<u32> {
        self.local.get(pool).map(|(n, _)| *n)
    }

    /// Takes one slot of each pool, in the order given (sorted, by the caller, so that two
    /// waiters never hold what the other waits for). Returns when all are held.
    pub async fn acquire(&self, pools: &[String]) -> Result<Vec<PoolPermit>, HistoryError> {
        let mut permits = Vec::with_capacity(pools.len());
        for pool in pools {
            let (limit, sem) = self.local.get(pool).expect("the pools of every step are given to Pools::new").clone();
            let local = sem.acquire_owned().await.expect("semaphores are never closed");
            let shared = match &self.shared {
                None => None,
                Some(slots) => Some(self.shared_slot(slots, pool, limit).await?),
            };
            permits.push(PoolPermit { _local: local, _shared: shared });
        }
        Ok(permits)
    }

    async fn shared_slot(&self, slots: &Arc<dyn PoolSlots>, pool: &str, limit: u32) -> Result<SharedSlot, HistoryError> {
        let mut wait = FIRST_POLL;
        loop {
            let (slots, held, name) = (slots.clone(), self.held.clone(), pool.to_owned());
            let taken = tokio::task::spawn_blocking(move || -> Result<Option<SharedSlot>, HistoryError> {
                for slot in 0..limit {
                    let key = (name.clone(), slot);
                    // Holding the run's permit, the run holds fewer than `limit` slots: one
                    // of the others is free of it.
                    if held.lock().unwrap_or_else(|e| e.into_inner()).contains(&key) {
                        continue;
                    }
                    if let Some(guard) = slots.try_slot(&name, slot)? {
                        held.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone());
                        return Ok(Some(SharedSlot { guard: Some(guard), key, held }));
                    }
                }
                Ok(None)
            })
            .await
            .expect("taking a pool slot does not panic")?;
            if let Some(slot) = taken {
                return Ok(slot);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_slot_is_held_until_dropped_and_names_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let slots = FileSlots::at(dir.path());
        let held = slots.try_slot("duckdb:/a/b.duckdb", 0).unwrap().expect("free");
        assert!(slots.try_slot("duckdb:/a/b.duckdb", 0).unwrap().is_none(), "a second open of the same slot is refused");
        assert!(slots.try_slot("duckdb:/a/b.duckdb", 1).unwrap().is_some(), "another slot is free");
        assert!(slots.try_slot("duckdb:/a_b.duckdb", 0).unwrap().is_some(), "a name made alike is another pool");
        assert_ne!(slots.path_of("duckdb:/a/b.duckdb", 0), slots.path_of("duckdb:/a_b.duckdb", 0));
        drop(held);
        assert!(slots.try_slot("duckdb:/a/b.duckdb", 0).unwrap().is_some(), "released on drop");
    }

    #[test]
    fn limits_come_from_the_config_and_a_duckdb_file_is_always_one() {
        let config = etl_config::Config::from_toml("[pools]\napi = 3\nzero = 0\n\"duckdb:/w.duckdb\" = 4\n", "").unwrap();
        assert_eq!(limit_of(&config, "api").unwrap(), 3);
        assert_eq!(limit_of(&config, "other").unwrap(), 1);
        assert_eq!(limit_of(&config, "duckdb:/w.duckdb").unwrap(), 1);
        let err = limit_of(&config, "zero").unwrap_err().to_string();
        assert!(err.contains("zero") && err.contains('0'), "{err}");
    }

    #[test]
    fn a_pool_of_two_admits_two_holders_in_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let slots: Arc<dyn PoolSlots> = Arc::new(FileSlots::at(dir.path()));
        let pools = Pools::new(["p".to_owned()], |_| Ok(2), Some(slots.clone())).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
        rt.block_on(async {
            let a = pools.acquire(&["p".into()]).await.unwrap();
            let b = pools.acquire(&["p".into()]).await.unwrap();
            assert!(slots.try_slot("p", 0).unwrap().is_none() && slots.try_slot("p", 1).unwrap().is_none(), "both slots held");
            let third = tokio::time::timeout(Duration::from_millis(200), pools.acquire(&["p".into()])).await;
            assert!(third.is_err(), "a third holder waits");
            drop(a);
            let c = tokio::time::timeout(Duration::from_secs(5), pools.acquire(&["p".into()])).await.expect("freed").unwrap();
            drop((b, c));
        });
    }
}
