//! Opening a [`Resolved`] destination as a [`Session`], with what keeps a pipeline's runs apart:
//! DuckDB's lock file next to the database, PostgreSQL's advisory lock on the server.

use std::path::PathBuf;

use super::{Resolved, Session};
use crate::error::PipelineError;

/// What is opened, and for what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opening<'a> {
    /// The pipeline (its lock).
    pub pipeline: &'a str,
    /// The dataset (normalized).
    pub dataset: &'a str,
    /// Take the pipeline's lock (a run, a drop): one at a time.
    pub exclusive: bool,
    /// Create the database if there is none (a run); otherwise there is nothing to open.
    pub create: bool,
    /// DuckDB: let new tables compress their row ids (PostgreSQL has no such choice).
    #[cfg_attr(not(feature = "duckdb"), allow(dead_code))]
    pub compress_row_ids: bool,
}

/// An open destination and its guard.
pub(crate) struct Opened {
    /// The session.
    pub session: Box<dyn Session>,
    /// Held until the run is over (after the session is closed).
    pub guard: Guard,
}

/// What an open destination holds besides its session.
#[derive(Debug)]
pub(crate) struct Guard {
    #[cfg(feature = "duckdb")]
    _lock: Option<crate::lock::PipelineLock>,
    /// A DuckDB file that this opening created.
    created: Option<PathBuf>,
}

impl Guard {
    /// After a failed run: a DuckDB file the run created is removed, as if the run never
    /// happened. Call it after the session is closed.
    pub(crate) fn discard_created(&self) {
        if let Some(file) = &self.created {
            let _ = std::fs::remove_file(file);
            let mut wal = file.clone().into_os_string();
            wal.push(".wal");
            let _ = std::fs::remove_file(wal);
        }
    }
}

/// Opens `resolved`; `None` when it has no database or dataset and `opening.create` is off.
pub(crate) fn open(resolved: &Resolved, opening: Opening<'_>) -> Result<Option<Opened>, PipelineError> {
    match resolved {
        #[cfg(feature = "duckdb")]
        Resolved::DuckDb { file } => open_duckdb(file, opening),
        #[cfg(not(feature = "duckdb"))]
        Resolved::DuckDb { .. } => {
            let _ = opening;
            Err(PipelineError::config("this build of etl has no DuckDB destination (the `duckdb` feature is off)"))
        }
        #[cfg(feature = "postgres")]
        Resolved::Postgres { url } => open_postgres(url.expose(), &resolved.location(), opening),
        #[cfg(not(feature = "postgres"))]
        Resolved::Postgres { .. } => {
            Err(PipelineError::config("this build of etl has no PostgreSQL destination (the `postgres` feature is off)"))
        }
    }
}

#[cfg(feature = "duckdb")]
fn open_duckdb(file: &std::path::Path, opening: Opening<'_>) -> Result<Option<Opened>, PipelineError> {
    use super::duckdb::DuckDbSession;
    if !opening.create && !file.exists() {
        return Ok(None);
    }
    if let Some(dir) = file.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| PipelineError::load(format!("cannot create directory {}: {e}", dir.display())))?;
        }
    }
    let lock = if opening.exclusive { Some(crate::lock::PipelineLock::acquire(file, opening.pipeline)?) } else { None };
    let existed = file.exists();
    let mut duck = DuckDbSession::open(file, opening.dataset).map_err(PipelineError::load_from)?;
    duck.set_compress_row_ids(opening.compress_row_ids);
    // A file another process created meanwhile is never ours: opening it would have failed on
    // DuckDB's own lock.
    Ok(Some(Opened { session: Box::new(duck), guard: Guard { _lock: lock, created: (!existed).then(|| file.to_owned()) } }))
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str, location: &str, opening: Opening<'_>) -> Result<Option<Opened>, PipelineError> {
    use super::postgres::PgDataset;
    let mut db = PgDataset::open(url, opening.dataset).map_err(PipelineError::load_from)?;
    if !opening.create && !db.dataset_exists().map_err(PipelineError::load_from)? {
        return Ok(None);
    }
    if opening.exclusive {
        db.lock_pipeline(opening.pipeline, location).map_err(|e| PipelineError {
            step: crate::error::Step::Config,
            resource: None,
            row: None,
            message: e.to_string(),
            source: Some(Box::new(e)),
        })?;
    }
    let guard = Guard {
        #[cfg(feature = "duckdb")]
        _lock: None,
        created: None,
    };
    Ok(Some(Opened { session: Box::new(db), guard }))
}
