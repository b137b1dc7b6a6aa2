//! Items a run pulled from its sources, kept on disk when the run fails after pulling them.
//!
//! The rule (README, "Failed runs"): the items a run could not pull again are written to a spool
//! file while the run goes on ([`keep_of`]): those of resources that are not replayable, as
//! values or JSON lines, and a file of JSON lines as a hard link plus how much of it was read.
//! Replayable resources (the default for functions, data, Arrow and the built-in sources) are not
//! spooled: the pipeline state moves only when a load commits, so the next run pulls the same
//! items again. When the run commits, or fails because a resource itself failed (the resource is
//! run again next time, as dlt discards a failed extract), the spool is deleted. When it fails in
//! normalize or load, the items are kept as a *pending package* in
//! `<working dir>/.etl/pipelines/<pipeline>/pending/<load id>/`; so are the items of a run that
//! was killed (its `running/` spool is found by the next run and moved there, unless its load
//! had committed). Pending packages are never loaded silently: every run reports them, and
//! `Pipeline::load_pending` (CLI `load-pending`) loads each in its own transaction and load id,
//! or `Pipeline::drop_pending` (CLI `drop-pending`) discards them. They never block new runs.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use etl_core::{Resource, ResourceHints, Source, TypedItem, Value};
use serde_json::json;

use crate::error::PipelineError;

/// Extension of a spool file of JSON lines kept verbatim.
const RAW_ITEMS: &str = "raw.jsonl";
/// Extension of a spool file of values in their binary form ([`etl_core::value::binary`]), each
/// after its length as a little-endian `u32`. (Packages of earlier versions hold tagged JSON
/// lines, `NNNN.jsonl`; they still load.)
const VALUE_ITEMS: &str = "values.bin";

/// Extension of the record of a JSON-lines file kept as a hard link (`NNNN.raw.jsonl` is the
/// link): the file's path, size and modification time when the run started reading it, and,
/// once the run failed, how many bytes it read and their CRC-32.
const LINKED_FILE: &str = "file.json";

/// How a resource's items are kept.
pub enum Keep<'a> {
    /// Values, in their binary form.
    Values,
    /// JSON lines, copied as read.
    Lines,
    /// JSON lines of this file: a hard link to it instead of a copy (a copy if it cannot link).
    LinesOf(&'a Path),
}

/// How a failed run keeps the items of `resource`, if at all: a file of JSON lines as a hard
/// link (nearly free, and it holds the bytes even if the file is replaced), a resource that is
/// not replayable ([`Resource::is_replayable`]) as its JSON lines or values, a replayable one
/// not at all (the next run pulls its items again).
pub fn keep_of(resource: &Resource) -> Option<Keep<'_>> {
    match resource.json_lines_file() {
        Some(path) => Some(Keep::LinesOf(path)),
        None if resource.is_replayable() => None,
        None if resource.is_json_lines() => Some(Keep::Lines),
        None => Some(Keep::Values),
    }
}

/// A JSON-lines file kept as a hard link: what the run has read of it.
struct Linked {
    base: PathBuf,
    /// What `NNNN.file.json` says of the file when the run started reading it.
    record: serde_json::Value,
    bytes: u64,
    crc: crc32fast::Hasher,
}

/// The spool directory of a pipeline run in `working_dir`.
pub fn pipeline_dir(working_dir: &Path, pipeline: &str) -> PathBuf {
    working_dir.join(".etl").join("pipelines").join(pipeline)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::load(format!("{what} {}: {e}", path.display()))
}

/// Items (or bytes of raw lines) handed to the spool writer at once.
const SPOOL_BATCH_ITEMS: usize = 64;
const SPOOL_BATCH_BYTES: usize = 1 << 20;

/// The spool writer thread.
type SpoolWriter = JoinHandle<Result<(), PipelineError>>;

/// A kept item: a value, or a typed item the spool thread encodes as its value would be
/// ([`TypedItem::encode`]), so that no value is built for an item the fast path wrote.
enum Kept {
    Value(Value),
    Typed(Box<dyn TypedItem>),
}

/// What the pipeline thread sends to the spool writer.
enum SpoolMsg {
    /// Start a new items file.
    Begin(PathBuf),
    /// Items to write as values in their binary form.
    Values(Vec<Kept>),
    /// Raw JSON lines, written as they are.
    Raw(Vec<u8>),
}

/// The spool of the running load. Items are batched and written by a thread of its own, so
/// serializing them costs the normalizing thread nothing but a move; at most a couple of batches
/// are in flight. Written batches come back to be freed where they were allocated (glibc's
/// malloc is slow when one thread frees what another allocates: it spent more time in
/// `malloc_consolidate` than the serialization saved). A failing write stops the run (the next
/// hand-over fails).
pub struct Spool {
    dir: PathBuf,
    pending_dir: PathBuf,
    values: Vec<Kept>,
    raw: Vec<u8>,
    writer: Option<(SyncSender<SpoolMsg>, SpoolWriter)>,
    written: Option<Receiver<Vec<Kept>>>,
    items: u64,
    /// Linked files of this run; the last one is the current resource's if `linking`.
    linked: Vec<Linked>,
    linking: bool,
    /// The resource (spool index) whose values file is the writer's current one.
    current: Option<usize>,
}

fn write_spool(dir: PathBuf, rx: Receiver<SpoolMsg>, back: Sender<Vec<Kept>>) -> Result<(), PipelineError> {
    // A new file closes the others (one resource after the other); a parent and its
    // transformers write theirs in turns, and a file written again is opened again to append.
    let mut files: Vec<(PathBuf, Option<BufWriter<File>>)> = Vec::new();
    let mut current: Option<usize> = None;
    let mut record = Vec::new();
    for msg in rx {
        match msg {
            SpoolMsg::Begin(path) => {
                let i = match files.iter().position(|(p, _)| *p == path) {
                    Some(i) => i,
                    None => {
                        for (p, w) in &mut files {
                            if let Some(mut w) = w.take() {
                                w.flush().map_err(|e| io_err("cannot flush spool", p, e))?;
                            }
                        }
                        let file = File::create(&path).map_err(|e| io_err("cannot create", &path, e))?;
                        files.push((path, Some(BufWriter::with_capacity(1 << 16, file))));
                        files.len() - 1
                    }
                };
                if files[i].1.is_none() {
                    let path = &files[i].0;
                    let file = fs::OpenOptions::new().append(true).open(path).map_err(|e| io_err("cannot open", path, e))?;
                    files[i].1 = Some(BufWriter::with_capacity(1 << 16, file));
                }
                current = Some(i);
            }
            SpoolMsg::Values(values) => {
                let w = current.and_then(|i| files[i].1.as_mut()).ok_or_else(|| PipelineError::load("spool items before a resource"))?;
                for kept in &values {
                    record.clear();
                    match kept {
                        Kept::Value(v) => etl_core::value::binary::encode(v, &mut record),
                        // Written through the fast path: the encoding of its value, without the value.
                        Kept::Typed(item) => item.encode(&mut record).map_err(|e| PipelineError::load(format!("cannot keep an item in the spool: {e}")))?,
                    }
                    let len = u32::try_from(record.len()).map_err(|_| PipelineError::load("cannot spool an item of 4 GB or more"))?;
                    w.write_all(&len.to_le_bytes()).and_then(|()| w.write_all(&record)).map_err(|e| io_err("cannot spool into", &dir, e))?;
                }
                // Freed by the pipeline thread, unless it is gone.
                let _ = back.send(values);
            }
            SpoolMsg::Raw(bytes) => {
                let w = current.and_then(|i| files[i].1.as_mut()).ok_or_else(|| PipelineError::load("spool items before a resource"))?;
                w.write_all(&bytes).map_err(|e| io_err("cannot spool into", &dir, e))?;
            }
        }
    }
    for (p, w) in files {
        if let Some(mut w) = w {
            w.flush().map_err(|e| io_err("cannot flush spool", &p, e))?;
        }
    }
    Ok(())
}

impl Spool {
    /// Starts a spool for `load_id` under `pipeline_dir`.
    pub fn create(pipeline_dir: &Path, load_id: &str, source: &Source) -> Result<Self, PipelineError> {
        let dir = pipeline_dir.join("running").join(load_id);
        fs::create_dir_all(&dir).map_err(|e| io_err("cannot create", &dir, e))?;
        let manifest = json!({"source": source.name(), "max_table_nesting": source.max_table_nesting(), "root_key": source.root_key()});
        fs::write(dir.join("source.json"), manifest.to_string()).map_err(|e| io_err("cannot write", &dir, e))?;
        let (tx, rx) = sync_channel(2);
        let (back, written) = channel();
        let worker_dir = dir.clone();
        let handle = std::thread::Builder::new()
            .name("etl-spool".into())
            .spawn(move || write_spool(worker_dir, rx, back))
            .map_err(|e| io_err("cannot start the spool writer for", &dir, e))?;
        Ok(Spool {
            pending_dir: pipeline_dir.join("pending").join(load_id),
            dir,
            values: Vec::new(),
            raw: Vec::new(),
            writer: Some((tx, handle)),
            written: Some(written),
            items: 0,
            linked: Vec::new(),
            linking: false,
            current: None,
        })
    }

    fn send(&mut self, msg: SpoolMsg) -> Result<(), PipelineError> {
        let stopped = || PipelineError::load("the spool writer stopped on an earlier error");
        let (tx, _) = self.writer.as_ref().ok_or_else(stopped)?;
        if tx.send(msg).is_err() {
            // The writer failed: its own error says why.
            return Err(self.join().err().unwrap_or_else(stopped));
        }
        Ok(())
    }

    /// Hands the batched items to the writer.
    fn hand_over(&mut self) -> Result<(), PipelineError> {
        // A written batch is emptied here and becomes the next one (no regrowing).
        let mut spare = None;
        if let Some(written) = &self.written {
            while let Ok(mut values) = written.try_recv() {
                values.clear();
                spare = Some(values);
            }
        }
        if !self.values.is_empty() {
            let next = spare.unwrap_or_else(|| Vec::with_capacity(SPOOL_BATCH_ITEMS));
            let values = std::mem::replace(&mut self.values, next);
            self.send(SpoolMsg::Values(values))?;
        }
        if !self.raw.is_empty() {
            let raw = std::mem::replace(&mut self.raw, Vec::with_capacity(SPOOL_BATCH_BYTES + (64 << 10)));
            self.send(SpoolMsg::Raw(raw))?;
        }
        Ok(())
    }

    fn join(&mut self) -> Result<(), PipelineError> {
        match self.writer.take() {
            Some((tx, handle)) => {
                drop(tx);
                handle.join().unwrap_or_else(|_| Err(PipelineError::load("the spool writer panicked")))
            }
            None => Ok(()),
        }
    }

    /// Starts the items of a resource: kept as values ([`Spool::keep_value`], file
    /// `NNNN.values.bin`), as JSON lines copied verbatim ([`Spool::write_raw`], file
    /// `NNNN.raw.jsonl`), or, for a file of JSON lines, as a hard link to the file
    /// (`NNNN.raw.jsonl` again) and a record of how much of it the run read (`NNNN.file.json`).
    pub fn begin_resource(&mut self, index: usize, hints: &ResourceHints, keep: Keep<'_>) -> Result<(), PipelineError> {
        self.hand_over()?;
        self.linking = false;
        let base = self.dir.join(format!("{index:04}"));
        fs::write(base.with_extension("hints.json"), hints.to_json().to_string()).map_err(|e| io_err("cannot write", &base, e))?;
        if let Keep::LinesOf(path) = keep {
            if let Some(linked) = link_file(path, &base) {
                self.linked.push(linked);
                self.linking = true;
                return Ok(());
            }
        }
        self.current = Some(index);
        self.send(SpoolMsg::Begin(base.with_extension(if matches!(keep, Keep::Values) { VALUE_ITEMS } else { RAW_ITEMS })))
    }

    /// Keeps one item of the resource begun (with [`Keep::Values`]) under `index`: a parent and
    /// its transformers keep theirs in turns, each in its own file.
    pub fn keep_value_for(&mut self, index: usize, item: Value) -> Result<(), PipelineError> {
        if self.current != Some(index) {
            self.hand_over()?;
            self.linking = false;
            self.current = Some(index);
            self.send(SpoolMsg::Begin(self.dir.join(format!("{index:04}")).with_extension(VALUE_ITEMS)))?;
        }
        self.keep_value(item).map(|_| ())
    }

    /// Keeps one pulled item; returns it, to be normalized from the spool's batch.
    pub fn keep_value(&mut self, item: Value) -> Result<&Value, PipelineError> {
        if self.values.len() >= SPOOL_BATCH_ITEMS {
            self.hand_over()?;
        }
        self.items += 1;
        self.values.push(Kept::Value(item));
        match self.values.last() {
            Some(Kept::Value(v)) => Ok(v),
            _ => unreachable!("just pushed a value"),
        }
    }

    /// Keeps one pulled typed item, already normalized; the spool thread makes its value (the
    /// same file and form as [`Spool::keep_value`]'s, in pull order with them).
    pub fn keep_typed(&mut self, item: Box<dyn TypedItem>) -> Result<(), PipelineError> {
        if self.values.len() >= SPOOL_BATCH_ITEMS {
            self.hand_over()?;
        }
        self.items += 1;
        self.values.push(Kept::Typed(item));
        Ok(())
    }

    /// Keeps one pulled JSON line as it was read (a copy, no serialization; for a linked file,
    /// only its length and checksum).
    pub fn write_raw(&mut self, line: &[u8]) -> Result<(), PipelineError> {
        self.items += 1;
        if self.linking {
            let linked = self.linked.last_mut().expect("linking a file");
            linked.bytes += line.len() as u64;
            linked.crc.update(line);
            return Ok(());
        }
        self.raw.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            self.raw.push(b'\n');
        }
        if self.raw.len() >= SPOOL_BATCH_BYTES {
            self.hand_over()?;
        }
        Ok(())
    }

    /// The run committed, or its failure means the items must be pulled again: delete.
    pub fn discard(mut self) {
        self.values.clear();
        self.raw.clear();
        let _ = self.join();
        let _ = fs::remove_dir_all(&self.dir);
    }

    /// The run failed after pulling items it cannot count on pulling again: keep them as a
    /// pending package. Returns where they are, if there was anything to keep.
    pub fn keep(mut self) -> Option<PathBuf> {
        let written = self.hand_over().and_then(|()| self.join());
        if written.is_err() || self.items == 0 {
            let _ = fs::remove_dir_all(&self.dir);
            return None;
        }
        for linked in std::mem::take(&mut self.linked) {
            linked.finish();
        }
        let parent = self.pending_dir.parent()?;
        fs::create_dir_all(parent).ok()?;
        fs::rename(&self.dir, &self.pending_dir).ok()?;
        Some(self.pending_dir.clone())
    }
}

/// Links `path` as `<base>.raw.jsonl` and records it; `None` (copy the lines instead) when the
/// file cannot be linked.
fn link_file(path: &Path, base: &Path) -> Option<Linked> {
    let link = base.with_extension(RAW_ITEMS);
    let meta = fs::metadata(path).ok()?;
    fs::hard_link(path, &link).ok()?;
    let record = json!({"path": path.display().to_string(), "size": meta.len(), "mtime_ns": mtime_ns(&meta)});
    if fs::write(base.with_extension(LINKED_FILE), record.to_string()).is_err() {
        let _ = fs::remove_file(&link);
        return None;
    }
    Some(Linked { base: base.to_owned(), record, bytes: 0, crc: crc32fast::Hasher::new() })
}

fn mtime_ns(meta: &fs::Metadata) -> u64 {
    meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64)
}

/// CRC-32 of the first `bytes` bytes of `path` (`None` if it is shorter or unreadable).
fn crc_of_prefix(path: &Path, bytes: u64) -> Option<u32> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).ok()?.take(bytes));
    let mut crc = crc32fast::Hasher::new();
    let mut read = 0u64;
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        crc.update(buf);
        read += buf.len() as u64;
        let n = buf.len();
        reader.consume(n);
    }
    (read == bytes).then(|| crc.finalize())
}

impl Linked {
    /// The run failed: records how much of the file it read, if the link still holds exactly
    /// those bytes (the file was not rewritten in place while the run read it).
    fn finish(self) {
        let Linked { base, mut record, bytes, crc } = self;
        let crc = crc.finalize();
        if crc_of_prefix(&base.with_extension(RAW_ITEMS), bytes) == Some(crc) {
            record["bytes"] = bytes.into();
            record["crc32"] = crc.into();
        } else {
            record["changed"] = true.into();
            tracing::warn!(file = %record["path"], "the file changed while the failed run read it: the lines it read cannot be kept");
        }
        let _ = fs::write(base.with_extension(LINKED_FILE), record.to_string());
    }
}

/// The reader of a linked file's lines that a failed run read: all of them if it recorded how
/// many bytes it read and their checksum still matches; the whole file if the run was killed
/// (it could not record how far it got) and the file is as it was when the run started.
fn linked_lines(link: &Path, record_path: &Path) -> Result<impl BufRead + Send + 'static, String> {
    let record: serde_json::Value = serde_json::from_str(&fs::read_to_string(record_path).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let source = record["path"].as_str().unwrap_or("?");
    if record["changed"].as_bool() == Some(true) {
        return Err(format!("the file {source} changed while the failed run read it; the lines it read were not kept (drop the package with drop-pending)"));
    }
    let bytes = match (record["bytes"].as_u64(), record["crc32"].as_u64()) {
        (Some(bytes), Some(crc)) => {
            if crc_of_prefix(link, bytes) != Some(crc as u32) {
                return Err(format!("its link to {source} no longer holds the {bytes} bytes the failed run read (the file was changed in place)"));
            }
            bytes
        }
        _ => {
            let meta = fs::metadata(link).map_err(|e| e.to_string())?;
            if Some(meta.len()) != record["size"].as_u64() || Some(mtime_ns(&meta)) != record["mtime_ns"].as_u64() {
                return Err(format!("the run reading {source} was killed and the file changed since"));
            }
            meta.len()
        }
    };
    Ok(BufReader::with_capacity(1 << 20, File::open(link).map_err(|e| e.to_string())?.take(bytes)))
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
        match &manifest["max_table_nesting"] {
            serde_json::Value::Null => {}
            n => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(depth) => source = source.with_max_table_nesting(depth),
                None => return Err(bad(format!("source `{}`: `max_table_nesting` is {n}, not a number from 0 to {}", source.name(), u32::MAX))),
            },
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
            let record_path = PathBuf::from(hints_path.to_string_lossy().replace(".hints.json", &format!(".{LINKED_FILE}")));
            if raw_path.exists() && record_path.exists() {
                // A linked file: the part the failed run read.
                let lines = linked_lines(&raw_path, &record_path).map_err(bad)?;
                source.add(Resource::from_json_lines(hints, move || Ok(lines))).map_err(|e| bad(e.to_string()))?;
                continue;
            }
            if raw_path.exists() {
                // JSON lines kept verbatim: read back as the JSON-lines resource they came from.
                let file = File::open(&raw_path).map_err(|e| bad(e.to_string()))?;
                source.add(Resource::from_json_lines(hints, move || Ok(BufReader::with_capacity(1 << 20, file)))).map_err(|e| bad(e.to_string()))?;
                continue;
            }
            let bin_path = PathBuf::from(hints_path.to_string_lossy().replace(".hints.json", &format!(".{VALUE_ITEMS}")));
            if bin_path.exists() {
                let file = File::open(&bin_path).map_err(|e| bad(e.to_string()))?;
                let path = bin_path.display().to_string();
                let resource = Resource::new(hints, move || Ok(Box::new(binary_items(BufReader::with_capacity(1 << 20, file), path)) as etl_core::Items));
                source.add(resource).map_err(|e| bad(e.to_string()))?;
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

/// The values of a binary spool file. A record cut short at the end (a killed run's last write)
/// ends the items; a record that does not decode is an error.
fn binary_items(mut reader: impl BufRead + Send + 'static, path: String) -> impl Iterator<Item = Result<Value, etl_core::BoxError>> + Send {
    let mut record = Vec::new();
    std::iter::from_fn(move || {
        let mut len = [0u8; 4];
        reader.read_exact(&mut len).ok()?;
        record.resize(u32::from_le_bytes(len) as usize, 0);
        reader.read_exact(&mut record).ok()?;
        let mut input = record.as_slice();
        Some(match etl_core::value::binary::decode(&mut input) {
            Some(v) if input.is_empty() => Ok(v),
            _ => Err(format!("{path}: an item that is not a spooled value").into()),
        })
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_max_table_nesting_out_of_range_in_a_package_is_an_error_naming_source_or_resource() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = PendingPackage { dir: dir.path().to_owned(), load_id: "1".into() };
        let message = |pkg: &PendingPackage| pkg.source().err().map(|e| e.to_string()).unwrap_or_default();
        fs::write(dir.path().join("source.json"), r#"{"source": "shop", "max_table_nesting": 4294967296}"#).unwrap();
        let text = message(&pkg);
        assert!(text.contains("source `shop`: `max_table_nesting` is 4294967296, not a number from 0 to 4294967295"), "{text}");
        fs::write(dir.path().join("source.json"), r#"{"source": "shop", "max_table_nesting": 2}"#).unwrap();
        fs::write(dir.path().join("0000.hints.json"), r#"{"name": "orders", "max_table_nesting": -3}"#).unwrap();
        let text = message(&pkg);
        assert!(text.contains("resource `orders`: stored `max_table_nesting` is -3"), "{text}");
    }
}
