//! The run queue of the embedded files: workers on one machine (or on a file system whose
//! `flock` every machine honours).
//!
//! ```text
//! <home>/queue/.lock                 taken (flock) for every step of the queue
//! <home>/queue/<run id>              a queued run (its record is runs/<run id>/run.json)
//! <home>/queue/claimed/<run id>      a claimed run: `{"worker": .., "lease_until": ..}`
//! <home>/schedules/<name>.jsonl      a schedule's ticks, one per line (under <name>.lock)
//! <home>/schedules/<name>.stopped    present while the schedule is stopped
//! <home>/state/<namespace>.json       a namespace of the instance's state (under <namespace>.lock)
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{Reaped, RetryFn, RunQueue};
use crate::history::{HistoryError, RunRecord, RunStatus};
use crate::schedule::Tick;
use crate::storage::files::FileStorage;
use crate::storage::InstanceStorage;

/// The queue under a home directory.
pub struct FileQueue {
    runs: FileStorage,
    dir: PathBuf,
    schedules: PathBuf,
    state: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    worker: String,
    lease_until: DateTime<Utc>,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HistoryError + 'a {
    move |source| HistoryError::Io { action, path: path.to_owned(), source }
}

/// An exclusive `flock` on a file, released when dropped.
struct Locked(File);

impl Locked {
    fn take(path: &Path) -> Result<Self, HistoryError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io("create", dir))?;
        }
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io("open", path))?;
        file.lock().map_err(io("lock", path))?;
        Ok(Locked(file))
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lease_until(lease: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

impl FileQueue {
    fn state_file(&self, namespace: &str) -> PathBuf {
        self.state.join(format!("{}.json", crate::storage::files::escape_name(namespace)))
    }

    fn read_state(path: &Path) -> Result<BTreeMap<String, Json>, HistoryError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| HistoryError::Io {
                action: "read",
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io("read", path)(e)),
        }
    }

    /// Reads a namespace under its lock, lets `change` edit it, and writes it back (atomically)
    /// when `change` says it changed; returns what `change` said.
    fn change_state(&self, namespace: &str, change: impl FnOnce(&mut BTreeMap<String, Json>) -> bool) -> Result<bool, HistoryError> {
        let path = self.state_file(namespace);
        let _lock = Locked::take(&path.with_extension("lock"))?;
        let mut map = Self::read_state(&path)?;
        if !change(&mut map) {
            return Ok(false);
        }
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        fs::write(&tmp, serde_json::to_vec(&map).expect("state serializes")).map_err(io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("write", &path))?;
        Ok(true)
    }

    /// The queue of the files at `home`.
    pub fn at(home: &Path) -> Self {
        FileQueue { runs: FileStorage::at(home), dir: home.join("queue"), schedules: home.join("schedules"), state: home.join("state") }
    }

    fn lock(&self) -> Result<Locked, HistoryError> {
        Locked::take(&self.dir.join(".lock"))
    }

    fn claimed_dir(&self) -> PathBuf {
        self.dir.join("claimed")
    }

    /// The run ids of the files directly in `dir`, sorted (oldest first: ids are time-ordered).
    fn ids_in(dir: &Path) -> Result<Vec<String>, HistoryError> {
        let mut ids: Vec<String> = match fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io("list", dir)(e)),
        };
        ids.sort_unstable();
        Ok(ids)
    }

    fn write_lease(&self, run_id: &str, lease: &Lease) -> Result<(), HistoryError> {
        let dir = self.claimed_dir();
        fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let (path, tmp) = (dir.join(run_id), dir.join(format!(".{run_id}.tmp")));
        fs::write(&tmp, serde_json::to_vec(lease).expect("lease serializes")).map_err(io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("write", &path))
    }

    fn read_lease(&self, run_id: &str) -> Option<Lease> {
        fs::read(self.claimed_dir().join(run_id)).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    fn remove(path: &Path) -> Result<(), HistoryError> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
            _ => Ok(()),
        }
    }

    /// Queues a run; the caller holds the lock.
    fn enqueue_locked(&self, run: &RunRecord) -> Result<(), HistoryError> {
        self.runs.write_record(run)?;
        fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let marker = self.dir.join(&run.run_id);
        File::create(&marker).map(drop).map_err(io("create", &marker))
    }

    fn tick_file(&self, schedule: &str) -> PathBuf {
        self.schedules.join(format!("{schedule}.jsonl"))
    }

    /// Appends a tick's line (a later line of the same tick replaces it when read); the
    /// caller holds the schedule's lock.
    fn append_tick(&self, tick: &Tick) -> Result<(), HistoryError> {
        let path = self.tick_file(&tick.schedule);
        let line = serde_json::to_string(tick).expect("tick serializes") + "\n";
        OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| f.write_all(line.as_bytes())).map_err(io("append to", &path))
    }
}

impl RunQueue for FileQueue {
    fn enqueue(&self, run: &RunRecord) -> Result<(), HistoryError> {
        let _lock = self.lock()?;
        self.enqueue_locked(run)
    }

    fn claim_skipping(&self, worker: &str, lease: Duration, skip: &[String]) -> Result<Option<RunRecord>, HistoryError> {
        let _lock = self.lock()?;
        for run_id in Self::ids_in(&self.dir)?.into_iter().filter(|id| !skip.contains(id)) {
            let marker = self.dir.join(&run_id);
            let mut record = match self.runs.record(&run_id) {
                Ok(r) if r.status == RunStatus::Queued => r,
                Ok(_) | Err(HistoryError::NoRun(_)) => {
                    Self::remove(&marker)?;
                    continue;
                }
                Err(e) => {
                    tracing::warn!("queued run `{run_id}` skipped and taken off the queue: {e}");
                    Self::remove(&marker)?;
                    continue;
                }
            };
            record.status = RunStatus::Started;
            record.started_at = Utc::now();
            record.worker = Some(worker.to_owned());
            self.write_lease(&run_id, &Lease { worker: worker.to_owned(), lease_until: lease_until(lease) })?;
            self.runs.write_record(&record)?;
            Self::remove(&marker)?;
            return Ok(Some(record));
        }
        Ok(None)
    }

    fn renew(&self, run_id: &str, worker: &str, lease: Duration) -> Result<bool, HistoryError> {
        let _lock = self.lock()?;
        match self.read_lease(run_id) {
            Some(l) if l.worker == worker => {
                self.write_lease(run_id, &Lease { worker: worker.to_owned(), lease_until: lease_until(lease) })?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn release(&self, run_id: &str, worker: &str) -> Result<(), HistoryError> {
        let _lock = self.lock()?;
        if self.read_lease(run_id).is_some_and(|l| l.worker == worker) {
            Self::remove(&self.claimed_dir().join(run_id))?;
        }
        Ok(())
    }

    fn hand_back(&self, run_id: &str, worker: &str) -> Result<(), HistoryError> {
        let _lock = self.lock()?;
        if !self.read_lease(run_id).is_some_and(|l| l.worker == worker) {
            return Ok(());
        }
        let mut record = self.runs.record(run_id)?;
        record.status = RunStatus::Queued;
        record.worker = None;
        self.enqueue_locked(&record)?;
        Self::remove(&self.claimed_dir().join(run_id))
    }

    fn reap_expired(&self, retry: RetryFn) -> Result<Vec<Reaped>, HistoryError> {
        let _lock = self.lock()?;
        let now = Utc::now();
        let mut reaped = Vec::new();
        for run_id in Self::ids_in(&self.claimed_dir())? {
            let path = self.claimed_dir().join(&run_id);
            // A lease file that cannot be read was cut short by a crash: its run is lost too.
            if self.read_lease(&run_id).is_some_and(|l| l.lease_until >= now) {
                continue;
            }
            match self.runs.record(&run_id) {
                Ok(mut run) if run.status == RunStatus::Started => {
                    run.status = RunStatus::Failure;
                    run.ended_at = Some(now);
                    self.runs.write_record(&run)?;
                    let retry = retry(&run);
                    if let Some(r) = &retry {
                        self.enqueue_locked(r)?;
                    }
                    reaped.push(Reaped { run, retry });
                }
                // Ended, but its worker died before releasing it; or gone.
                _ => {}
            }
            Self::remove(&path)?;
        }
        Ok(reaped)
    }

    fn claimed(&self) -> Result<Vec<RunRecord>, HistoryError> {
        let ids = Self::ids_in(&self.claimed_dir())?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let mut run = self.runs.record(id).ok()?;
                run.lease_until = self.read_lease(id).map(|l| l.lease_until);
                Some(run)
            })
            .collect())
    }

    fn queued(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        let ids = Self::ids_in(&self.dir)?;
        Ok(ids.iter().filter_map(|id| self.runs.record(id).ok()).filter(|r| r.status == RunStatus::Queued).take(limit).collect())
    }

    fn claim_tick(&self, tick: &Tick, run: Option<&RunRecord>) -> Result<bool, HistoryError> {
        let _lock = Locked::take(&self.schedules.join(format!("{}.lock", tick.schedule)))?;
        let seen: HashSet<DateTime<Utc>> = self.ticks(&tick.schedule)?.into_iter().map(|t| t.tick).collect();
        if seen.contains(&tick.tick) {
            return Ok(false);
        }
        if let Some(run) = run {
            self.enqueue(run)?;
        }
        self.append_tick(tick)?;
        Ok(true)
    }

    fn set_schedule_stopped(&self, schedule: &str, stopped: bool) -> Result<(), HistoryError> {
        let path = self.schedules.join(format!("{schedule}.stopped"));
        if stopped {
            fs::create_dir_all(&self.schedules).map_err(io("create", &self.schedules))?;
            File::create(&path).map(drop).map_err(io("create", &path))
        } else {
            Self::remove(&path)
        }
    }

    fn put_state(&self, namespace: &str, entries: &[(String, Json)]) -> Result<(), HistoryError> {
        self.change_state(namespace, |map| {
            for (k, v) in entries {
                map.insert(k.clone(), v.clone());
            }
            true
        })
        .map(drop)
    }

    fn put_state_new(&self, namespace: &str, key: &str, value: &Json) -> Result<bool, HistoryError> {
        self.change_state(namespace, |map| {
            if map.contains_key(key) {
                return false;
            }
            map.insert(key.to_owned(), value.clone());
            true
        })
    }

    fn remove_state(&self, namespace: &str, key: &str) -> Result<(), HistoryError> {
        self.change_state(namespace, |map| map.remove(key).is_some()).map(drop)
    }

    fn state(&self, namespace: &str) -> Result<BTreeMap<String, Json>, HistoryError> {
        Self::read_state(&self.state_file(namespace))
    }

    fn schedule_stopped(&self, schedule: &str) -> Result<bool, HistoryError> {
        Ok(self.schedules.join(format!("{schedule}.stopped")).exists())
    }

    fn update_tick(&self, tick: &Tick) -> Result<(), HistoryError> {
        let _lock = Locked::take(&self.schedules.join(format!("{}.lock", tick.schedule)))?;
        self.append_tick(tick)
    }

    fn ticks(&self, schedule: &str) -> Result<Vec<Tick>, HistoryError> {
        match fs::read_to_string(self.tick_file(schedule)) {
            Ok(text) => {
                // A later line of the same tick (its update) replaces the earlier one.
                let mut ticks: Vec<Tick> = Vec::new();
                for tick in text.lines().filter_map(|l| serde_json::from_str::<Tick>(l).ok()) {
                    match ticks.iter_mut().rev().find(|t| t.tick == tick.tick) {
                        Some(t) => *t = tick,
                        None => ticks.push(tick),
                    }
                }
                Ok(ticks)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io("read", &self.tick_file(schedule))(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{queued_record, retry};

    #[test]
    fn runs_are_claimed_once_oldest_first_and_lost_leases_are_reaped_with_their_retry() {
        let home = tempfile::tempdir().unwrap();
        let queue = FileQueue::at(home.path());
        // Ids are time-ordered; these sort before any new one (the retry).
        for id in ["0-r2", "0-r1", "0-r3"] {
            let mut run = queued_record(id, "*", vec![]);
            run.tags.insert(retry::MAX_RETRIES_TAG.into(), "1".into());
            queue.enqueue(&run).unwrap();
        }
        assert_eq!(queue.queued(10).unwrap().len(), 3);
        let first = queue.claim("w1", Duration::from_secs(60)).unwrap().unwrap();
        assert_eq!((first.run_id.as_str(), first.status, first.worker.as_deref()), ("0-r1", RunStatus::Started, Some("w1")));
        let second = queue.claim("w2", Duration::ZERO).unwrap().unwrap();
        assert_eq!(second.run_id, "0-r2");
        assert!(queue.renew("0-r1", "w1", Duration::from_secs(60)).unwrap());
        assert!(!queue.renew("0-r1", "w2", Duration::from_secs(60)).unwrap(), "only its worker renews a lease");
        std::thread::sleep(Duration::from_millis(5));
        let reaped = queue.reap_expired(retry::retry_of).unwrap();
        assert_eq!(reaped.len(), 1, "only r2's lease ran out");
        assert_eq!(reaped[0].run.run_id, "0-r2");
        assert_eq!(reaped[0].run.status, RunStatus::Failure);
        let again = reaped[0].retry.clone().expect("one retry allowed");
        assert!(queue.reap_expired(retry::retry_of).unwrap().is_empty(), "reaped once");
        assert!(!queue.renew("0-r2", "w2", Duration::from_secs(60)).unwrap(), "a reaped run is no longer its worker's");
        let ids: Vec<String> = std::iter::from_fn(|| queue.claim("w3", Duration::from_secs(60)).unwrap()).map(|r| r.run_id).collect();
        assert_eq!(ids, vec!["0-r3".to_string(), again.run_id], "the rest, then the retry");
    }

    #[test]
    fn a_tick_is_claimed_once_and_a_handed_back_run_is_queued_again() {
        let home = tempfile::tempdir().unwrap();
        let queue = FileQueue::at(home.path());
        let tick = Tick { schedule: "s".into(), tick: Utc::now(), status: crate::schedule::TickStatus::Started, run_id: Some("t1".into()), reason: None };
        assert!(queue.claim_tick(&tick, Some(&queued_record("t1", "*", vec![]))).unwrap());
        assert!(!queue.claim_tick(&tick, Some(&queued_record("t2", "*", vec![]))).unwrap(), "a second daemon finds it taken");
        assert_eq!(queue.ticks("s").unwrap(), vec![tick]);
        assert_eq!(queue.queued(10).unwrap().len(), 1, "one run for one tick");
        let run = queue.claim("w", Duration::from_secs(60)).unwrap().unwrap();
        queue.hand_back(&run.run_id, "w").unwrap();
        assert_eq!(queue.claim("w", Duration::from_secs(60)).unwrap().unwrap().run_id, "t1");
    }
}
