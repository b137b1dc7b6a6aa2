//! One run of a pipeline at a time: an OS file lock next to the database file
//! (`<file>.duckdb.lock`) that records who holds it.
//!
//! The lock is an advisory `flock`, released by the operating system when the holder exits, so a
//! lock left by a killed process is taken over by the next run. A run that finds the lock held
//! fails at once and names the holder (pid and start time).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::PipelineError;

/// A held pipeline lock; released on drop.
#[derive(Debug)]
pub struct PipelineLock {
    file: File,
    path: PathBuf,
}

impl PipelineLock {
    /// The lock file of a database file.
    pub fn path_for(db_path: &Path) -> PathBuf {
        let mut p = db_path.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Takes the lock of `db_path` for `pipeline`, or fails naming the holder.
    pub fn acquire(db_path: &Path, pipeline: &str) -> Result<Self, PipelineError> {
        let path = Self::path_for(db_path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| PipelineError::config(format!("cannot open lock file {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(PipelineError::config(format!(
                    "pipeline `{pipeline}` is already running on {} ({}); wait for it to finish or stop it",
                    db_path.display(),
                    if holder.is_empty() { "holder unknown".to_owned() } else { format!("held by {holder}") }
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(PipelineError::config(format!("cannot lock {}: {e}", path.display())));
            }
        }
        let info = format!("pid {} since {}", std::process::id(), chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"));
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.write_all(info.as_bytes());
        let _ = file.flush();
        Ok(PipelineLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PipelineLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
