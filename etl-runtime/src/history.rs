//! Run history: every run, its events and its log lines, kept in an embedded store so that a
//! later process (`runs`, `run <id>`, `asset <key>`, `--from-failure`) can read them.
//!
//! The store is a directory (the *home*: `$ETL_HOME`, or `.etl` in the working directory):
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
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::asset::{AssetKey, Materialization};

/// The environment variable that moves the home directory.
pub const HOME_ENV: &str = "ETL_HOME";

/// Errors of the store, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Reading or writing a file failed.
    #[error("run history: {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not what the store wrote.
    #[error("run history: `{path}` is damaged: {message}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No such run.
    #[error("no run `{0}` in the run history")]
    NoRun(String),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HistoryError + 'a {
    move |source| HistoryError::Io { action, path: path.to_owned(), source }
}

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going (or its process died: see [`RunRecord::effective_status`]).
    Started,
    /// Every asset materialized.
    Success,
    /// Some asset failed or was skipped.
    Failure,
    /// The process ended without finishing the run.
    Abandoned,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Started => "STARTED",
            RunStatus::Success => "SUCCESS",
            RunStatus::Failure => "FAILURE",
            RunStatus::Abandoned => "ABANDONED",
        })
    }
}

/// One run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Id (time-ordered).
    pub run_id: String,
    /// The selection as given.
    pub selection: String,
    /// The selected asset keys, as `a/b`.
    pub assets: Vec<String>,
    /// Status.
    pub status: RunStatus,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// The run this one re-executes (`--from-failure`).
    pub parent_run_id: Option<String>,
    /// The schedule that started it.
    pub schedule: Option<String>,
    /// The process that ran it.
    pub pid: u32,
}

impl RunRecord {
    /// The status, with runs whose process is gone shown as abandoned.
    pub fn effective_status(&self) -> RunStatus {
        if self.status == RunStatus::Started && self.pid != std::process::id() && !process_alive(self.pid) {
            RunStatus::Abandoned
        } else {
            self.status
        }
    }

    /// Wall time, if ended.
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.ended_at.map(|e| e - self.started_at)
    }
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The run started (data: selection, assets, steps).
    RunStart,
    /// The run ended (data: status, counts).
    RunEnd,
    /// An op started an attempt (data: attempt, assets).
    StepStart,
    /// An op succeeded.
    StepSuccess,
    /// An op attempt failed (data: error, chain, attempt).
    StepFailure,
    /// A retry was scheduled (data: attempt, delay_ms).
    StepRetry,
    /// An asset was materialized (data: its metadata).
    Materialization,
    /// An asset was not run because an upstream asset failed (data: because).
    Skipped,
    /// A log line (data: level, fields).
    Log,
}

/// One event of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// When.
    pub ts: DateTime<Utc>,
    /// The run.
    pub run_id: String,
    /// What.
    pub kind: EventKind,
    /// The op, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// The asset, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// A message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Details.
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub data: Json,
}

impl Event {
    /// A new event now.
    pub fn new(run_id: &str, kind: EventKind) -> Self {
        Event { ts: Utc::now(), run_id: run_id.to_owned(), kind, op: None, asset: None, message: String::new(), data: Json::Null }
    }

    /// Sets the op.
    pub fn op(mut self, op: &str) -> Self {
        self.op = Some(op.to_owned());
        self
    }

    /// Sets the asset.
    pub fn asset(mut self, key: &AssetKey) -> Self {
        self.asset = Some(key.to_user_string());
        self
    }

    /// Sets the message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Sets the details.
    pub fn data(mut self, data: Json) -> Self {
        self.data = data;
        self
    }
}

/// Metadata of a materialization as a JSON object, in entry order.
pub fn metadata_json(m: &Materialization) -> Json {
    Json::Object(m.metadata.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// The embedded store.
#[derive(Debug, Clone)]
pub struct RunStore {
    home: PathBuf,
}

impl RunStore {
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

    /// The store at `home` (created on first write).
    pub fn at(home: impl Into<PathBuf>) -> Self {
        RunStore { home: home.into() }
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn run_dir(&self, run_id: &str) -> PathBuf {
        self.home.join("runs").join(run_id)
    }

    fn asset_file(&self, key: &str) -> PathBuf {
        // Percent-encoded, so that distinct keys never share a file (`a/b` vs `a.b`).
        let mut name = String::with_capacity(key.len());
        for c in key.chars() {
            match c {
                '/' => name.push_str("%2F"),
                '%' => name.push_str("%25"),
                '\\' => name.push_str("%5C"),
                c => name.push(c),
            }
        }
        self.home.join("assets").join(format!("{name}.jsonl"))
    }

    /// Starts recording a run: writes its record and opens its event log.
    pub fn start(&self, record: RunRecord) -> Result<RunLog, HistoryError> {
        let dir = self.run_dir(&record.run_id);
        fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let events_path = dir.join("events.jsonl");
        let events = OpenOptions::new().create(true).append(true).open(&events_path).map_err(io("open", &events_path))?;
        let log = RunLog { store: self.clone(), inner: Arc::new(Mutex::new(LogInner { record, events, failed_write: false })) };
        log.write_record()?;
        active().lock().unwrap_or_else(|e| e.into_inner()).insert(log.run_id(), log.clone());
        Ok(log)
    }

    /// Run records, newest first, at most `limit`.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        let dir = self.home.join("runs");
        let mut ids: Vec<String> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(HistoryError::Io { action: "list", path: dir, source: e }),
        };
        ids.sort_unstable_by(|a, b| b.cmp(a));
        // A directory without its record (a process killed while creating it) is no run.
        ids.into_iter()
            .filter_map(|id| match self.record(&id) {
                Err(HistoryError::NoRun(_)) => None,
                other => Some(other),
            })
            .take(limit)
            .collect()
    }

    /// One run's record.
    pub fn record(&self, run_id: &str) -> Result<RunRecord, HistoryError> {
        let path = self.run_dir(run_id).join("run.json");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(HistoryError::NoRun(run_id.to_owned())),
            Err(e) => return Err(HistoryError::Io { action: "read", path, source: e }),
        };
        serde_json::from_str(&text).map_err(|e| HistoryError::Damaged { path, message: e.to_string() })
    }

    /// One run's events, in order.
    pub fn events(&self, run_id: &str) -> Result<Vec<Event>, HistoryError> {
        self.record(run_id)?;
        read_lines(&self.run_dir(run_id).join("events.jsonl"))
    }

    /// The materializations of an asset across runs, oldest first.
    pub fn asset_history(&self, key: &AssetKey) -> Result<Vec<Event>, HistoryError> {
        read_lines(&self.asset_file(&key.to_user_string()))
    }
}

fn read_lines(path: &Path) -> Result<Vec<Event>, HistoryError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HistoryError::Io { action: "read", path: path.to_owned(), source: e }),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(e) => out.push(e),
            // A process killed mid-write can leave a partial last line; skip only that one.
            Err(_) if n + 1 == lines.len() => break,
            Err(e) => return Err(HistoryError::Damaged { path: path.to_owned(), message: format!("line {}: {e}", n + 1) }),
        }
    }
    Ok(out)
}

struct LogInner {
    record: RunRecord,
    events: File,
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
    /// The run id.
    pub fn run_id(&self) -> String {
        self.lock().record.run_id.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_record(&self) -> Result<(), HistoryError> {
        let inner = self.lock();
        let dir = self.store.run_dir(&inner.record.run_id);
        let tmp = dir.join("run.json.tmp");
        let path = dir.join("run.json");
        let text = serde_json::to_string_pretty(&inner.record).expect("record serializes");
        fs::write(&tmp, text).map_err(io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("write", &path))
    }

    /// Appends an event (and, for materializations, to the asset's history).
    pub fn emit(&self, event: Event) {
        let mut line = serde_json::to_string(&event).expect("event serializes");
        line.push('\n');
        let mut inner = self.lock();
        let mut result = inner.events.write_all(line.as_bytes());
        if result.is_ok() && event.kind == EventKind::Materialization {
            if let Some(asset) = &event.asset {
                let path = self.store.asset_file(asset);
                result = path
                    .parent()
                    .map_or(Ok(()), fs::create_dir_all)
                    .and_then(|_| OpenOptions::new().create(true).append(true).open(&path))
                    .and_then(|mut f| f.write_all(line.as_bytes()));
            }
        }
        if let Err(e) = result {
            if !inner.failed_write {
                eprintln!("warning: cannot write the run history under {}: {e}", self.store.home.display());
                inner.failed_write = true;
            }
        }
    }

    /// Ends the run: writes the final status and closes the log.
    pub fn finish(&self, status: RunStatus) -> Result<(), HistoryError> {
        {
            let mut inner = self.lock();
            inner.record.status = status;
            inner.record.ended_at = Some(Utc::now());
        }
        let result = self.write_record();
        active().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.run_id());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::MetadataValue;

    fn record(id: &str) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            selection: "*".into(),
            assets: vec!["a".into()],
            status: RunStatus::Started,
            started_at: Utc::now(),
            ended_at: None,
            parent_run_id: None,
            schedule: None,
            pid: std::process::id(),
        }
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
}
