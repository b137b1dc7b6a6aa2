//! The embedded instance storage: plain files under a home directory (`$ETL_HOME`, or `.etl`
//! in the working directory):
//!
//! ```text
//! <home>/runs/<run id>/run.json       the run record, rewritten atomically at start and end
//! <home>/runs/<run id>/events.jsonl   one event per line, appended as they happen
//! <home>/assets/<key>.jsonl           the materializations of one asset, across runs
//! ```
//!
//! Appends are single `write` calls of one line on files opened with `O_APPEND`, so readers in
//! other processes see whole lines, and a killed run leaves everything up to its last event.
//! Plain files need no server and no lock shared with the DuckDB destination.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::InstanceStorage;
use crate::asset::AssetKey;
use crate::history::{Event, EventKind, HistoryError, RunRecord, RunStatus, HOME_ENV};

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HistoryError + 'a {
    move |source| HistoryError::Io { action, path: path.to_owned(), source }
}

/// The home for a working directory: `$ETL_HOME` if set, else `<working_dir>/.etl`.
pub fn home_for(working_dir: &Path) -> PathBuf {
    match std::env::var_os(HOME_ENV) {
        Some(h) if !h.is_empty() => {
            let h = PathBuf::from(h);
            if h.is_absolute() {
                h
            } else {
                working_dir.join(h)
            }
        }
        _ => working_dir.join(".etl"),
    }
}

/// A name as a file name: percent-encoded, so that distinct names never share a file (`a/b`
/// vs `a.b`).
pub(crate) fn escape_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '/' => name.push_str("%2F"),
            '%' => name.push_str("%25"),
            '\\' => name.push_str("%5C"),
            c => name.push(c),
        }
    }
    name
}

/// The files under one home.
#[derive(Debug)]
pub struct FileStorage {
    home: PathBuf,
    /// The event logs of the runs this process records, open for appending.
    open: Mutex<HashMap<String, File>>,
}

impl FileStorage {
    /// The storage at `home` (created on first write).
    pub fn at(home: impl Into<PathBuf>) -> Self {
        FileStorage { home: home.into(), open: Mutex::new(HashMap::new()) }
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn run_dir(&self, run_id: &str) -> PathBuf {
        self.home.join("runs").join(run_id)
    }

    fn asset_file(&self, key: &str) -> PathBuf {
        self.home.join("assets").join(format!("{}.jsonl", escape_name(key)))
    }

    /// Writes a run's record atomically (a temporary file renamed over it), creating its
    /// directory.
    pub(crate) fn write_record(&self, record: &RunRecord) -> Result<(), HistoryError> {
        let dir = self.run_dir(&record.run_id);
        fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        // Named per writer: a worker and a reaper may write one record at once.
        let tmp = dir.join(format!("run.json.{}.{:?}.tmp", std::process::id(), std::thread::current().id()).replace(['(', ')'], ""));
        let path = dir.join("run.json");
        let text = serde_json::to_string_pretty(record).expect("record serializes");
        fs::write(&tmp, text).map_err(io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("write", &path))
    }

    /// The names under `<home>/runs` that `keep` accepts, unsorted (none if it does not exist).
    fn run_dirs(&self, keep: impl Fn(&str) -> bool) -> Result<Vec<String>, HistoryError> {
        let dir = self.home.join("runs");
        match fs::read_dir(&dir) {
            Ok(rd) => Ok(rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).filter(|n| keep(n)).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(HistoryError::Io { action: "list", path: dir, source: e }),
        }
    }

    fn open_files(&self) -> std::sync::MutexGuard<'_, HashMap<String, File>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl InstanceStorage for FileStorage {
    fn describe(&self) -> String {
        self.home.display().to_string()
    }

    fn start_run(&self, record: &RunRecord) -> Result<(), HistoryError> {
        let dir = self.run_dir(&record.run_id);
        fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let events_path = dir.join("events.jsonl");
        let events = OpenOptions::new().create(true).append(true).open(&events_path).map_err(io("open", &events_path))?;
        self.open_files().insert(record.run_id.clone(), events);
        self.write_record(record)
    }

    fn append_event(&self, event: &Event) -> Result<(), HistoryError> {
        let mut line = serde_json::to_string(event).expect("event serializes");
        line.push('\n');
        let mut open = self.open_files();
        let events_path = self.run_dir(&event.run_id).join("events.jsonl");
        let events = match open.entry(event.run_id.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                // A run of another process (a reaper writing a lost run's end): its log may not
                // exist yet if its worker died before starting it.
                e.insert(OpenOptions::new().create(true).append(true).open(&events_path).map_err(io("open", &events_path))?)
            }
        };
        events.write_all(line.as_bytes()).map_err(io("append to", &events_path))?;
        if event.kind == EventKind::Materialization {
            if let Some(asset) = &event.asset {
                let path = self.asset_file(asset);
                path.parent()
                    .map_or(Ok(()), fs::create_dir_all)
                    .and_then(|_| OpenOptions::new().create(true).append(true).open(&path))
                    .and_then(|mut f| f.write_all(line.as_bytes()))
                    .map_err(io("append to", &path))?;
            }
        }
        Ok(())
    }

    fn finish_run(&self, record: &RunRecord) -> Result<(), HistoryError> {
        let ended = matches!(self.record(&record.run_id), Ok(stored) if !matches!(stored.status, RunStatus::Started | RunStatus::Queued));
        let result = if ended { Ok(()) } else { self.write_record(record) };
        self.open_files().remove(&record.run_id);
        result
    }

    fn runs(&self, filter: &super::RunFilter) -> Result<Vec<RunRecord>, HistoryError> {
        let mut ids = self.run_dirs(|_| true)?;
        ids.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(before) = &filter.before {
            ids.retain(|id| id.as_str() < before.as_str());
        }
        // A directory without its record (a process killed while creating it) is no run; a
        // record that cannot be read (damaged on disk) is skipped and reported, never fatal to
        // the listing.
        ids.into_iter()
            .filter_map(|id| match self.record(&id) {
                Err(HistoryError::NoRun(_)) => None,
                Err(e @ HistoryError::Damaged { .. }) => {
                    tracing::warn!("run `{id}` skipped: {e}");
                    None
                }
                Ok(r) if !filter.admits(&r) => None,
                other => Some(other),
            })
            .take(filter.limit)
            .collect()
    }

    fn run_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<String>, HistoryError> {
        // Names only: the prefix is never made into a path, and only the matching directories
        // are checked for their record (a directory without one is no run).
        let mut ids = self.run_dirs(|name| name.starts_with(prefix))?;
        ids.sort_unstable();
        Ok(ids.into_iter().filter(|id| self.run_dir(id).join("run.json").is_file()).take(limit).collect())
    }

    fn record(&self, run_id: &str) -> Result<RunRecord, HistoryError> {
        let path = self.run_dir(run_id).join("run.json");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(HistoryError::NoRun(run_id.to_owned())),
            Err(e) => return Err(HistoryError::Io { action: "read", path, source: e }),
        };
        serde_json::from_str(&text).map_err(|e| HistoryError::Damaged { path, message: e.to_string() })
    }

    fn events(&self, run_id: &str) -> Result<Vec<Event>, HistoryError> {
        self.record(run_id)?;
        read_lines(&self.run_dir(run_id).join("events.jsonl"))
    }

    fn asset_history(&self, key: &AssetKey, newest: Option<usize>) -> Result<super::AssetHistory, HistoryError> {
        let (total, events) = read_tail(&self.asset_file(&key.to_user_string()), newest)?;
        Ok(super::AssetHistory { total, events })
    }

    fn latest_materializations(&self, keys: &[AssetKey]) -> Result<Vec<Option<Event>>, HistoryError> {
        keys.iter().map(|k| last_event(&self.asset_file(&k.to_user_string()))).collect()
    }

    fn pool_slots(&self) -> Result<std::sync::Arc<dyn super::pools::PoolSlots>, HistoryError> {
        Ok(std::sync::Arc::new(super::pools::FileSlots::at(&self.home)))
    }

    fn queue(&self) -> Result<std::sync::Arc<dyn crate::queue::RunQueue>, HistoryError> {
        Ok(std::sync::Arc::new(crate::queue::files::FileQueue::at(&self.home)))
    }

    fn has_workers(&self) -> bool {
        false
    }
}

/// The last whole event of a file, reading only its tail (a history may be megabytes).
fn last_event(path: &Path) -> Result<Option<Event>, HistoryError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(HistoryError::Io { action: "open", path: path.to_owned(), source: e }),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut tail = 64 * 1024u64;
    loop {
        let start = len.saturating_sub(tail);
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_to_end(&mut buf))
            .map_err(|e| HistoryError::Io { action: "read", path: path.to_owned(), source: e })?;
        let text = String::from_utf8_lossy(&buf);
        // Whole lines only: the first may be cut (unless the tail is the whole file), the last
        // may be partial (a process killed mid-write).
        let lines: Vec<&str> = text.lines().skip(usize::from(start > 0)).collect();
        if let Some(e) = lines.iter().rev().find_map(|l| serde_json::from_str::<Event>(l).ok()) {
            return Ok(Some(e));
        }
        if start == 0 {
            return Ok(None);
        }
        tail *= 4;
    }
}

fn read_lines(path: &Path) -> Result<Vec<Event>, HistoryError> {
    Ok(read_tail(path, None)?.1)
}

/// The events of a file (the last `newest` lines only, if given; only those are parsed), and
/// how many lines it has.
fn read_tail(path: &Path, newest: Option<usize>) -> Result<(usize, Vec<Event>), HistoryError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Vec::new())),
        Err(e) => return Err(HistoryError::Io { action: "read", path: path.to_owned(), source: e }),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let skip = newest.map_or(0, |n| lines.len().saturating_sub(n));
    let mut out = Vec::with_capacity(lines.len() - skip);
    for (n, line) in lines.iter().enumerate().skip(skip) {
        match serde_json::from_str(line) {
            Ok(e) => out.push(e),
            // A process killed mid-write can leave a partial last line: skipped quietly.
            Err(_) if n + 1 == lines.len() => break,
            // Anything else that cannot be read is skipped and reported; the rest is shown.
            Err(e) => tracing::warn!("{}: line {} skipped, it is not an event: {e}", path.display(), n + 1),
        }
    }
    Ok((lines.len(), out))
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;


    use crate::asset::{AssetKey, Materialization, MetadataValue};
    use crate::history::{metadata_json, Event, EventKind, HistoryError, RunRecord, RunStatus, RunStore};

    fn record(id: &str) -> RunRecord {
        RunRecord::new(id, "*", vec!["a".into()])
    }

    #[test]
    fn runs_events_and_asset_history_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::at(dir.path().join(".etl"));
        for id in ["20260101T000000.000-aaaa", "20260102T000000.000-bbbb"] {
            let log = store.start(record(id)).unwrap();
            log.emit(Event::new(id, EventKind::RunStart));
            let m = Materialization::new(AssetKey::new("a")).with("rows_loaded", MetadataValue::Int(3));
            log.emit(Event::new(id, EventKind::Materialization).asset(&m.asset_key).data(metadata_json(&m)));
            log.finish(RunStatus::Success).unwrap();
        }
        let store = RunStore::at(dir.path().join(".etl"));
        let runs = store.runs(10).unwrap();
        assert_eq!(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["20260102T000000.000-bbbb", "20260101T000000.000-aaaa"]);
        assert_eq!(runs[0].effective_status(), RunStatus::Success);
        assert_eq!(store.events("20260101T000000.000-aaaa").unwrap().len(), 2);
        let history = store.asset_history(&AssetKey::new("a")).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].data["rows_loaded"], 3);
        assert!(matches!(store.events("nope"), Err(HistoryError::NoRun(_))));
    }

    #[test]
    fn a_partial_last_line_is_skipped_and_a_dead_process_is_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::at(dir.path());
        let mut rec = record("r1");
        rec.pid = u32::MAX - 1;
        let log = store.start(rec).unwrap();
        log.emit(Event::new("r1", EventKind::RunStart));
        let path = dir.path().join("runs/r1/events.jsonl");
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"ts\":\"2026").unwrap();
        assert_eq!(store.events("r1").unwrap().len(), 1);
        assert_eq!(store.record("r1").unwrap().effective_status(), RunStatus::Abandoned);
        std::fs::create_dir_all(dir.path().join("runs/r0-half-made")).unwrap();
        assert_eq!(store.runs(10).unwrap().len(), 1, "a directory without a record is skipped");
    }

    #[test]
    fn damaged_records_and_lines_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::at(dir.path());
        for id in ["r1", "r2"] {
            let log = store.start(record(id)).unwrap();
            log.emit(Event::new(id, EventKind::RunStart));
            log.emit(Event::new(id, EventKind::RunEnd));
            log.finish(RunStatus::Success).unwrap();
        }
        // A record cut short on disk, and an event line garbled in the middle of a log.
        std::fs::write(dir.path().join("runs/r1/run.json"), b"{\"run_id\": \"r1\", \"sel").unwrap();
        let events = dir.path().join("runs/r2/events.jsonl");
        let text = std::fs::read_to_string(&events).unwrap();
        std::fs::write(&events, format!("not json\n{text}")).unwrap();
        let runs = store.runs(10).unwrap();
        assert_eq!(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["r2"], "the damaged run is left out of the list");
        assert!(matches!(store.record("r1"), Err(HistoryError::Damaged { .. })), "asked for by id, it is an error naming the file");
        assert_eq!(store.events("r2").unwrap().len(), 2, "the readable events are shown");
    }
}
