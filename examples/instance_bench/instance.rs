//! What every subcommand needs: a fresh instance storage of each kind, and run records.

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use etl::runtime::RunRecord;
use etl::RunStore;

/// Which storages a benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The embedded files (a temporary directory).
    Files,
    /// A throwaway PostgreSQL server (initdb into a temporary directory).
    Postgres,
    /// Both, files first.
    Both,
}

impl Which {
    /// The storages to run on, in order.
    pub fn kinds(self) -> Vec<Kind> {
        match self {
            Which::Files => vec![Kind::Files],
            Which::Postgres => vec![Kind::Postgres],
            Which::Both => vec![Kind::Files, Kind::Postgres],
        }
    }
}

/// One kind of storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Files,
    Postgres,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Files => "files",
            Kind::Postgres => "postgres",
        }
    }
}

/// A fresh, empty storage, removed (the directory, or the server) when dropped.
pub struct Instance {
    pub kind: Kind,
    /// What `--storage` (or `ETL_STORAGE`) takes to name it: `files:<dir>` or a URL.
    pub spec: String,
    pub store: RunStore,
    /// A directory to run commands in (and the files' home under it).
    pub dir: tempfile::TempDir,
    /// The throwaway server, if any: declared last, so dropped (stopped) after `store`.
    server: Option<etl_testkit::PgServer>,
}

impl Instance {
    /// A fresh storage of `kind`: a home under a new temporary directory, or a new database
    /// on a throwaway server.
    pub fn fresh(kind: Kind) -> anyhow::Result<Instance> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let (spec, server) = match kind {
            Kind::Files => (format!("files:{}", dir.path().join(".etl").display()), None),
            Kind::Postgres => {
                let server = etl_testkit::PgServer::start().map_err(|skip| anyhow::anyhow!("starting a throwaway PostgreSQL server: {skip}"))?;
                let url = server.create_database().context("creating the instance's database")?;
                (url, Some(server))
            }
        };
        let store = open(&spec, dir.path())?;
        Ok(Instance { kind, spec, store, dir, server })
    }

    /// Leaves the storage in place (the directory, and the server running) for a look with the
    /// commands; returns how to reach it and what to remove afterwards.
    pub fn keep(self) -> String {
        let dir = self.dir.keep();
        match self.server {
            Some(server) => {
                let how = format!("--storage {} (server in {}; stop it with `pg_ctl stop -D {}/data` as its user)", self.spec, server.dir().display(), server.dir().display());
                std::mem::forget(server);
                how
            }
            None => format!("--storage {} (remove {} afterwards)", self.spec, dir.display()),
        }
    }

    /// Another handle on the same storage (a new connection, or the files read afresh), as
    /// another process would open it.
    pub fn reopen(&self) -> anyhow::Result<RunStore> {
        open(&self.spec, self.dir.path())
    }
}

fn open(spec: &str, working_dir: &Path) -> anyhow::Result<RunStore> {
    RunStore::open(spec, working_dir, "instance_bench").with_context(|| format!("opening the instance storage {}", etl::redact_url(spec)))
}

/// The record of a run that starts: the one place a benchmark builds a `RunRecord`.
pub fn run_record(run_id: &str, selection: &str, assets: Vec<String>, started_at: DateTime<Utc>) -> RunRecord {
    let mut record = RunRecord::new(run_id, selection, assets);
    record.started_at = started_at;
    record
}

/// The median of some timings (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
