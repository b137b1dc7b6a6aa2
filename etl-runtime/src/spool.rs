//! Items a run pulled from its sources, kept on disk when the run fails after pulling them.
//!
//! The rule (README, "Failed runs"): every item a run pulls is written to a spool file while the
//! run goes on. When the run commits, or fails because a resource itself failed (the resource is
//! run again next time, as dlt discards a failed extract), the spool is deleted. When it fails in
//! normalize or load, the items are kept as a *pending package* in
//! `<working dir>/.etl/pipelines/<pipeline>/pending/<load id>/`; so are the items of a run that
//! was killed (its `running/` spool is found by the next run and moved there, unless its load
//! had committed). Pending packages are never loaded silently: every run reports them, and
//! `Pipeline::load_pending` (CLI `load-pending`) loads each in its own transaction and load id,
//! or `Pipeline::drop_pending` (CLI `drop-pending`) discards them. They never block new runs.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use etl_core::{Resource, ResourceHints, Source, Value};
use serde_json::json;

use crate::error::PipelineError;

/// Extension of a spool file of JSON lines kept verbatim.
const RAW_ITEMS: &str = "raw.jsonl";

/// The spool directory of a pipeline run in `working_dir`.
pub fn pipeline_dir(working_dir: &Path, pipeline: &str) -> PathBuf {
    working_dir.join(".etl").join("pipelines").join(pipeline)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::load(format!("{what} {}: {e}", path.display()))
}

/// The spool of the running load.
pub struct Spool {
    dir: PathBuf,
    pending_dir: PathBuf,
    current: Option<(String, BufWriter<File>)>,
    items: u64,
}

impl Spool {
    /// Starts a spool for `load_id` under `pipeline_dir`.
    pub fn create(pipeline_dir: &Path, load_id: &str, source: &Source) -> Result<Self, PipelineError> {
        let dir = pipeline_dir.join("running").join(load_id);
        fs::create_dir_all(&dir).map_err(|e| io_err("cannot create", &dir, e))?;
        let manifest = json!({"source": source.name(), "max_table_nesting": source.max_table_nesting(), "root_key": source.root_key()});
        fs::write(dir.join("source.json"), manifest.to_string()).map_err(|e| io_err("cannot write", &dir, e))?;
        Ok(Spool { pending_dir: pipeline_dir.join("pending").join(load_id), dir, current: None, items: 0 })
    }

    /// Starts the items of a resource. `raw`: its items are JSON lines, kept verbatim
    /// ([`Spool::write_raw`], file `NNNN.raw.jsonl`); otherwise values in tagged JSON
    /// ([`Spool::write`], file `NNNN.jsonl`).
    pub fn begin_resource(&mut self, index: usize, hints: &ResourceHints, raw: bool) -> Result<(), PipelineError> {
        self.finish_resource()?;
        let base = self.dir.join(format!("{index:04}"));
        fs::write(base.with_extension("hints.json"), hints.to_json().to_string()).map_err(|e| io_err("cannot write", &base, e))?;
        let file = File::create(base.with_extension(if raw { RAW_ITEMS } else { "jsonl" })).map_err(|e| io_err("cannot create", &base, e))?;
        self.current = Some((hints.name.clone(), BufWriter::with_capacity(1 << 16, file)));
        Ok(())
    }

    /// Keeps one pulled item.
    pub fn write(&mut self, item: &Value) -> Result<(), PipelineError> {
        if let Some((_, w)) = self.current.as_mut() {
            serde_json::to_writer(&mut *w, item).map_err(|e| PipelineError::load(format!("cannot spool an item: {e}")))?;
            w.write_all(b"\n").map_err(|e| io_err("cannot spool into", &self.dir, e))?;
            self.items += 1;
        }
        Ok(())
    }

    /// Keeps one pulled JSON line as it was read (a copy, no serialization).
    pub fn write_raw(&mut self, line: &[u8]) -> Result<(), PipelineError> {
        if let Some((_, w)) = self.current.as_mut() {
            w.write_all(line).map_err(|e| io_err("cannot spool into", &self.dir, e))?;
            if !line.ends_with(b"\n") {
                w.write_all(b"\n").map_err(|e| io_err("cannot spool into", &self.dir, e))?;
            }
            self.items += 1;
        }
        Ok(())
    }

    fn finish_resource(&mut self) -> Result<(), PipelineError> {
        if let Some((_, mut w)) = self.current.take() {
            w.flush().map_err(|e| io_err("cannot flush spool", &self.dir, e))?;
        }
        Ok(())
    }

    /// The run committed, or its failure means the items must be pulled again: delete.
    pub fn discard(mut self) {
        self.current = None;
        let _ = fs::remove_dir_all(&self.dir);
    }

    /// The run failed after pulling items it cannot count on pulling again: keep them as a
    /// pending package. Returns where they are, if there was anything to keep.
    pub fn keep(mut self) -> Option<PathBuf> {
        if self.finish_resource().is_err() || self.items == 0 {
            let _ = fs::remove_dir_all(&self.dir);
            return None;
        }
        let parent = self.pending_dir.parent()?;
        fs::create_dir_all(parent).ok()?;
        fs::rename(&self.dir, &self.pending_dir).ok()?;
        Some(self.pending_dir.clone())
    }
}

/// A kept package of a failed run.
#[derive(Debug, Clone)]
pub struct PendingPackage {
    /// Its directory.
    pub dir: PathBuf,
    /// The load id of the run that failed.
    pub load_id: String,
}

impl PendingPackage {
    /// Rebuilds the source with the resources and hints of the failed run, from the kept items.
    pub fn source(&self) -> Result<Source, PipelineError> {
        let bad = |e: String| PipelineError::config(format!("pending package {} is unreadable: {e}", self.dir.display()));
        let manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(self.dir.join("source.json")).map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
        let mut source = Source::new(manifest["source"].as_str().unwrap_or("pending"));
        if let Some(n) = manifest["max_table_nesting"].as_u64() {
            source = source.with_max_table_nesting(n as u32);
        }
        source = source.with_root_key(manifest["root_key"].as_bool().unwrap_or(false));
        let mut entries: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(|e| bad(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".hints.json"))
            .collect();
        entries.sort();
        for hints_path in entries {
            let hints_json: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&hints_path).map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
            let hints = ResourceHints::from_json(&hints_json).map_err(|e| bad(e.to_string()))?;
            let raw_path = PathBuf::from(hints_path.to_string_lossy().replace(".hints.json", &format!(".{RAW_ITEMS}")));
            if raw_path.exists() {
                // JSON lines kept verbatim: read back as the JSON-lines resource they came from.
                let file = File::open(&raw_path).map_err(|e| bad(e.to_string()))?;
                source.add(Resource::from_json_lines(hints, move || Ok(BufReader::with_capacity(1 << 20, file)))).map_err(|e| bad(e.to_string()))?;
                continue;
            }
            let items_path = PathBuf::from(hints_path.to_string_lossy().replace(".hints.json", ".jsonl"));
            let file = File::open(&items_path).map_err(|e| bad(e.to_string()))?;
            let resource = Resource::new(hints, move || {
                let lines = BufReader::new(file).lines();
                let items = lines.filter(|l| !matches!(l, Ok(s) if s.is_empty())).map(|line| {
                    let line = line?;
                    let json: serde_json::Value = serde_json::from_str(&line)?;
                    Ok(Value::from_tagged_json(&json))
                });
                Ok(Box::new(items) as etl_core::Items)
            });
            source.add(resource).map_err(|e| bad(e.to_string()))?;
        }
        Ok(source)
    }

    /// Deletes the package.
    pub fn remove(&self) -> std::io::Result<()> {
        fs::remove_dir_all(&self.dir)
    }
}

/// Spools of runs that did not finish (killed): `(load id, directory)`.
pub fn leftovers(pipeline_dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(pipeline_dir.join("running")) else { return Vec::new() };
    entries.flatten().map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())).collect()
}

/// Moves a killed run's spool to the pending packages.
pub fn adopt(pipeline_dir: &Path, load_id: &str, dir: &Path) -> std::io::Result<()> {
    let target = pipeline_dir.join("pending").join(load_id);
    fs::create_dir_all(pipeline_dir.join("pending"))?;
    fs::rename(dir, target)
}

/// Pending packages of a pipeline, oldest first.
pub fn pending(pipeline_dir: &Path) -> Vec<PendingPackage> {
    let mut out = Vec::new();
    for sub in ["pending"] {
        let Ok(entries) = fs::read_dir(pipeline_dir.join(sub)) else { continue };
        for e in entries.flatten() {
            let dir = e.path();
            if dir.join("source.json").exists() {
                let load_id = e.file_name().to_string_lossy().into_owned();
                out.push(PendingPackage { dir, load_id });
            }
        }
    }
    out.sort_by(|a, b| a.load_id.parse::<f64>().unwrap_or(0.0).total_cmp(&b.load_id.parse::<f64>().unwrap_or(0.0)));
    out
}
