//! Run history: what is recorded of every run (its record, its events and log lines) so that a
//! later process (`runs`, `run <id>`, `asset <key>`, `--from-failure`) can read them. Where it
//! is kept is the instance storage's business (`crate::storage`: files, or PostgreSQL).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::asset::{AssetKey, Materialization};

/// The environment variable that moves the home directory.
pub const HOME_ENV: &str = "ETL_HOME";

pub use crate::storage::{active_log, RunLog, RunStore};

/// Errors of the instance storage, naming the file or server at fault.
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
    /// The storage named is none this binary knows.
    #[error("unknown instance storage `{spec}` (from {origin}): give a PostgreSQL URL (`postgresql://user@host/db`), `files` or `files:<dir>`")]
    UnknownStorage {
        /// The storage as given, with any password removed.
        spec: String,
        /// Where it was given (`--storage`, `ETL_STORAGE`, the config file).
        origin: String,
    },
    /// A PostgreSQL storage was named, but this binary is built without PostgreSQL.
    #[error("instance storage `{0}` is PostgreSQL, but this binary is built without the `postgres` feature")]
    NoPostgres(String),
    /// The config file's `[instance] storage` cannot be read.
    #[error("reading `[instance] storage` from the config: {0}")]
    Config(#[from] etl_config::ConfigError),
    /// A pool's limit (`[pools] <name>`) cannot be read.
    #[error("reading the limit of pool `{pool}` (`[pools]`) from the config: {source}")]
    PoolConfig {
        /// The pool.
        pool: String,
        /// Why.
        source: etl_config::ConfigError,
    },
    /// A pool's limit is not a whole number of at least 1.
    #[error("pool `{pool}` has limit {value} in {place}: a pool's limit is a whole number from 1")]
    PoolLimit {
        /// The pool.
        pool: String,
        /// The limit given.
        value: i64,
        /// Where it was given.
        place: String,
    },
    /// `[instance] max_concurrent_runs` or `tag_concurrency_limits` cannot be read.
    #[error("reading the run limits of `[instance]` from the config: {0}")]
    RunLimitConfig(etl_config::ConfigError),
    /// `[instance] max_concurrent_runs` is not a whole number of at least 1.
    #[error("`max_concurrent_runs` is {value} in {place}: it is a whole number from 1 (leave it unset for no limit)")]
    RunLimit {
        /// The limit given.
        value: i64,
        /// Where it was given.
        place: String,
    },
    /// A rule of `[instance] tag_concurrency_limits` is wrong.
    #[error("`[instance] tag_concurrency_limits`, the rule of tag `{key}`: {message}")]
    TagLimit {
        /// The rule's tag key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `[run_retries]` or a run's retry tags are wrong.
    #[error("run retries: {0}")]
    RetryPolicy(String),
    /// The PostgreSQL storage failed.
    #[error("instance storage on PostgreSQL at {target}: {action}: {message}")]
    Postgres {
        /// Host, port, database and user (never the password).
        target: String,
        /// What was being done.
        action: &'static str,
        /// The cause (the client's or server's message).
        message: String,
    },
    /// A stored value is not what the storage wrote.
    #[error("instance storage: run `{run_id}` is damaged: {message}")]
    DamagedRow {
        /// The run.
        run_id: String,
        /// What is wrong.
        message: String,
    },
}

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Submitted, waiting in the run queue for a worker.
    Queued,
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
            RunStatus::Queued => "QUEUED",
            RunStatus::Started => "STARTED",
            RunStatus::Success => "SUCCESS",
            RunStatus::Failure => "FAILURE",
            RunStatus::Abandoned => "ABANDONED",
        })
    }
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Id (time-ordered).
    pub run_id: String,
    /// The selection as given.
    pub selection: String,
    /// The selected asset keys, as `a/b` (empty while a run re-executing another is queued).
    pub assets: Vec<String>,
    /// Status.
    pub status: RunStatus,
    /// Start (for a queued run: when it was submitted).
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// The run this one re-executes (`--from-failure`, or a retry).
    pub parent_run_id: Option<String>,
    /// The schedule that started it.
    pub schedule: Option<String>,
    /// The process that ran it (0 while queued).
    pub pid: u32,
    /// Tags (Dagster's run tags): `key = value`, set by `--tag`, schedules and retries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The partition it materializes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The host and process that ran it, `host/pid` (a worker, `materialize` or the daemon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Until when its worker's lease holds (runs claimed from the queue); a run past it lost its
    /// worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// The run config (`materialize --config`, a schedule's or a sensor's), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Json>,
}

impl RunRecord {
    /// A run started now by this process.
    pub fn new(run_id: &str, selection: &str, assets: Vec<String>) -> Self {
        RunRecord {
            run_id: run_id.to_owned(),
            selection: selection.to_owned(),
            assets,
            status: RunStatus::Started,
            started_at: Utc::now(),
            ended_at: None,
            parent_run_id: None,
            schedule: None,
            pid: std::process::id(),
            tags: BTreeMap::new(),
            partition: None,
            worker: Some(this_worker()),
            lease_until: None,
            config: None,
        }
    }

    /// The status, with runs whose process is gone shown as abandoned: a claimed run whose
    /// lease ran out, or a run of this host whose process no longer exists. (A run of another
    /// host without a lease is shown as recorded: its process cannot be checked from here.)
    pub fn effective_status(&self) -> RunStatus {
        if self.status != RunStatus::Started {
            return self.status;
        }
        if let Some(until) = self.lease_until {
            return if until < Utc::now() { RunStatus::Abandoned } else { RunStatus::Started };
        }
        let same_host = self.worker.as_deref().is_none_or(|w| w.rsplit_once('/').is_none_or(|(host, _)| host == hostname()));
        if same_host && self.pid != std::process::id() && !process_alive(self.pid) {
            RunStatus::Abandoned
        } else {
            RunStatus::Started
        }
    }

    /// Wall time, if ended.
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.ended_at.map(|e| e - self.started_at)
    }
}

/// This machine's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `localhost`).
pub fn hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
}

/// This process as a worker: `host/pid`.
pub fn this_worker() -> String {
    format!("{}/{}", hostname(), std::process::id())
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
    /// An asset check was evaluated (data: the `CheckEvaluation`).
    AssetCheckEvaluation,
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
