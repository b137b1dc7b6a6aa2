//! Files as resources (dlt's `filesystem` source with `read_csv`, `read_jsonl`, `read_parquet`):
//! CSV (and TSV), JSON Lines, JSON documents (an array of records or one object) and Parquet,
//! from local paths, directories and glob patterns; `.gz` files are decompressed.
//!
//! ```no_run
//! use etl_sources::filesystem::{ColumnType, FileSource};
//!
//! let orders = FileSource::new("data/orders_*.csv").column_type("zip", ColumnType::Text).resource("orders");
//! let events = FileSource::new("logs/**/*.jsonl").resource("events");
//! let source = etl_core::Source::with("files", (orders, events)).unwrap();
//! ```
//!
//! - CSV headers become keys as written (the normalizer turns them into snake_case columns);
//!   each cell is typed: empty is null, `true`/`false` a bool, digits an integer (unless they
//!   have a leading zero: `007` stays text), decimals a float, anything else text (ISO
//!   timestamps are recognized by the schema inference). [`FileSource::column_type`] declares a
//!   column's type instead.
//! - Incremental by default: the resource state keeps each loaded file's modification time and
//!   size, so the next run reads only new or changed files (a changed file is read whole
//!   again). The state moves only with a successful load, like the rows.
//! - A malformed row or line fails the resource with a [`FileError`] naming the file and line;
//!   nothing is skipped silently.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use etl_core::resource::{BoxError, Items, ResourceContext, ResourceState};
use etl_core::{Resource, ResourceHints, Value};
use serde_json::{json, Value as Json};

use crate::jsonpath::JsonPath;

/// The rows of one file.
pub type Rows = Box<dyn Iterator<Item = Result<Value, FileError>> + Send>;

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row (`.csv`; `.tsv` reads tab-separated).
    Csv,
    /// One JSON value per line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// One JSON document: an array of records, or an object (`.json`).
    Json,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
}

impl Format {
    /// The format of a file name, from its extension (ignoring a trailing `.gz`).
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit('.').next()?;
        Some(match ext {
            "csv" | "tsv" => Format::Csv,
            "jsonl" | "ndjson" => Format::Jsonl,
            "json" => Format::Json,
            "parquet" | "pq" => Format::Parquet,
            _ => return None,
        })
    }
}

/// A declared type for a CSV column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Inferred per value (the default).
    Auto,
    /// Kept as text.
    Text,
    /// A 64-bit integer.
    Int,
    /// A float.
    Float,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// An ISO 8601 timestamp.
    Timestamp,
    /// A JSON value in the cell.
    Json,
}

/// Errors of the filesystem source, naming the file (and line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A row or line does not parse.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Line number, from 1 (for Parquet: the row number).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A glob pattern is invalid.
    #[error("invalid file pattern `{pattern}`: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// The format cannot be told from the file name.
    #[error("{path}: unknown file format; name it .csv, .tsv, .jsonl, .ndjson, .json or .parquet, or set FileSource::format")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The path given to [`FileSource::records_at`] does not parse.
    #[error("records_at: {source}")]
    RecordsAt {
        /// The parser's error, naming the path.
        #[source]
        source: crate::jsonpath::JsonPathError,
    },
    /// The Parquet reader failed.
    #[error("{path}: parquet: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
}

/// Files matching one or more patterns, read as one resource.
#[derive(Debug, Clone)]
pub struct FileSource {
    patterns: Vec<String>,
    format: Option<Format>,
    delimiter: Option<u8>,
    has_headers: bool,
    columns: BTreeMap<String, ColumnType>,
    records_at: Option<JsonPath>,
    incremental: bool,
    file_column: Option<String>,
}

/// The key of the resource state holding the loaded files.
pub const STATE_KEY: &str = "files";

impl FileSource {
    /// Files matching `pattern`: a file, a directory (its files of known formats) or a glob
    /// (`data/*.csv`, `logs/**/*.jsonl`).
    pub fn new(pattern: impl Into<String>) -> Self {
        FileSource {
            patterns: vec![pattern.into()],
            format: None,
            delimiter: None,
            has_headers: true,
            columns: BTreeMap::new(),
            records_at: None,
            incremental: true,
            file_column: None,
        }
    }

    /// Adds a pattern.
    pub fn pattern(mut self, pattern: impl Into<String>) -> Self {
        self.patterns.push(pattern.into());
        self
    }

    /// Reads every file in this format whatever its name.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// CSV field delimiter (default `,`; `\t` for `.tsv`).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = Some(delimiter);
        self
    }

    /// Whether CSV files start with a header row (default yes; without, columns are
    /// `column_1`, `column_2`, ...).
    pub fn has_headers(mut self, yes: bool) -> Self {
        self.has_headers = yes;
        self
    }

    /// Declares a CSV column's type (by its header as written).
    pub fn column_type(mut self, column: impl Into<String>, ty: ColumnType) -> Self {
        self.columns.insert(column.into(), ty);
        self
    }

    /// Where the records are inside each JSON document (a [`JsonPath`], e.g. `data.items`).
    /// A path that does not parse is an error naming it and where it goes wrong.
    pub fn records_at(mut self, path: &str) -> Result<Self, FileError> {
        self.records_at = Some(JsonPath::parse(path).map_err(|source| FileError::RecordsAt { source })?);
        Ok(self)
    }

    /// Reads every matching file on every run, not only new or changed ones.
    pub fn all_files(mut self) -> Self {
        self.incremental = false;
        self
    }

    /// Adds the file's path to every row, in this column.
    pub fn with_file_column(mut self, column: impl Into<String>) -> Self {
        self.file_column = Some(column.into());
        self
    }

    /// The files the patterns match now: sorted, without duplicates.
    pub fn files(&self) -> Result<Vec<PathBuf>, FileError> {
        let mut out = Vec::new();
        for pattern in &self.patterns {
            let path = Path::new(pattern);
            if path.is_dir() {
                let entries = std::fs::read_dir(path).map_err(|source| FileError::Io { path: path.to_owned(), source })?;
                for entry in entries {
                    let entry = entry.map_err(|source| FileError::Io { path: path.to_owned(), source })?;
                    let p = entry.path();
                    if p.is_file() && (self.format.is_some() || Format::from_path(&p).is_some()) {
                        out.push(p);
                    }
                }
                continue;
            }
            let paths = glob::glob(pattern).map_err(|e| FileError::Pattern { pattern: pattern.clone(), message: e.to_string() })?;
            for p in paths {
                let p = p.map_err(|e| FileError::Io { path: e.path().to_owned(), source: std::io::Error::new(e.error().kind(), e.error().to_string()) })?;
                if p.is_file() {
                    out.push(p);
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The rows of one file.
    pub fn read(&self, path: &Path) -> Result<Rows, FileError> {
        let format = self.format.or_else(|| Format::from_path(path)).ok_or_else(|| FileError::UnknownFormat { path: path.to_owned() })?;
        let rows: Rows = match format {
            Format::Csv => {
                let tsv = path.to_string_lossy().to_ascii_lowercase().trim_end_matches(".gz").ends_with(".tsv");
                let delimiter = self.delimiter.unwrap_or(if tsv { b'\t' } else { b',' });
                Box::new(read_csv(path, delimiter, self.has_headers, self.columns.clone())?)
            }
            Format::Jsonl => Box::new(read_jsonl(path)?),
            Format::Json => Box::new(read_json(path, self.records_at.as_ref())?.into_iter().map(Ok)),
            Format::Parquet => Box::new(read_parquet(path)?),
        };
        Ok(match &self.file_column {
            None => rows,
            Some(col) => {
                let col = col.clone();
                let file = path.to_string_lossy().into_owned();
                Box::new(rows.map(move |r| {
                    r.map(|v| match v {
                        Value::Object(mut fields) => {
                            fields.push((col.clone(), Value::Text(file.clone())));
                            Value::Object(fields)
                        }
                        other => other,
                    })
                }))
            }
        })
    }

    /// Whether every file this source can match is Parquet (its format, or every pattern's
    /// extension): such a source yields Arrow record batches.
    fn parquet_only(&self) -> bool {
        self.format == Some(Format::Parquet)
            || (self.format.is_none()
                && !self.patterns.is_empty()
                && self.patterns.iter().all(|p| Format::from_path(Path::new(p.trim_end_matches('*'))) == Some(Format::Parquet)))
    }

    /// The files to read in this run (new or changed ones unless every file is read), each with
    /// its state key and stamp; the unchanged ones go to `kept`.
    fn to_read(&self, cx: &ResourceContext, name: &str) -> Result<(Vec<(PathBuf, String, Json)>, serde_json::Map<String, Json>), FileError> {
        let files = self.files()?;
        let previous = match cx.state.get(STATE_KEY) {
            Some(Json::Object(m)) if self.incremental => m,
            _ => serde_json::Map::new(),
        };
        let mut kept = serde_json::Map::new();
        let mut todo = Vec::new();
        for path in files {
            let stamp = stamp(&path)?;
            // Absolute, so that a run from another directory knows the file.
            let key = std::path::absolute(&path).unwrap_or_else(|_| path.clone()).to_string_lossy().into_owned();
            if previous.get(&key) == Some(&stamp) {
                kept.insert(key, stamp);
            } else {
                todo.push((path, key, stamp));
            }
        }
        tracing::info!(resource = %name, new_or_changed = todo.len(), unchanged = kept.len(), "filesystem: files to read");
        if self.incremental {
            cx.state.set(STATE_KEY, Json::Object(kept.clone()));
        }
        Ok((todo, kept))
    }

    /// A resource named `name` that loads the matching files (only new or changed ones unless
    /// [`FileSource::all_files`]). Parquet files are read as Arrow record batches (64k rows
    /// each), which the pipeline loads column by column; other formats as rows.
    pub fn resource(self, name: impl Into<String>) -> Resource {
        let name = name.into();
        if self.parquet_only() {
            return Resource::from_arrow(ResourceHints::new(name.clone()), move |cx: &ResourceContext| {
                let (todo, kept) = self.to_read(cx, &name)?;
                Ok(Box::new(FilesIter::new(self, todo, cx.state.clone(), kept, parquet_batches)) as etl_core::resource::ArrowBatches)
            });
        }
        Resource::with_context(ResourceHints::new(name.clone()), move |cx: &ResourceContext| {
            let (todo, kept) = self.to_read(cx, &name)?;
            Ok(Box::new(FilesIter::new(self, todo, cx.state.clone(), kept, |source, path| source.read(path))) as Items)
        })
    }
}

/// One resource per file of a format in `dir` (not recursive), named by the file's stem in
/// snake_case (`orders.csv` → `orders`, `Sales Report.csv` → `sales_report`), each incremental
/// on its file.
pub fn resources_in_dir(dir: impl AsRef<Path>, format: Format) -> Result<Vec<Resource>, FileError> {
    let dir = dir.as_ref();
    let files = FileSource::new(dir.to_string_lossy().into_owned()).files()?;
    let mut out = Vec::new();
    for path in files.into_iter().filter(|p| Format::from_path(p) == Some(format)) {
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = file_name.split('.').next().unwrap_or(&file_name).to_owned();
        let name = etl_core::naming::normalize_identifier(&stem);
        out.push(FileSource::new(glob::Pattern::escape(&path.to_string_lossy())).resource(name));
    }
    Ok(out)
}

fn stamp(path: &Path) -> Result<Json, FileError> {
    let meta = std::fs::metadata(path).map_err(|source| FileError::Io { path: path.to_owned(), source })?;
    let mtime = meta
        .modified()
        .ok()
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
    Ok(json!({"modified": mtime, "size": meta.len()}))
}

/// The items of one file (rows, or record batches).
type FileItems<T> = Box<dyn Iterator<Item = Result<T, FileError>> + Send>;

/// The items of files, one file after another; a file counts as loaded in the resource's state
/// once all its items were read. An error stops the resource.
struct FilesIter<T> {
    source: FileSource,
    todo: std::vec::IntoIter<(PathBuf, String, Json)>,
    current: Option<(FileItems<T>, String, Json)>,
    state: ResourceState,
    loaded: serde_json::Map<String, Json>,
    open: fn(&FileSource, &Path) -> Result<FileItems<T>, FileError>,
}

impl<T> FilesIter<T> {
    fn new(source: FileSource, todo: Vec<(PathBuf, String, Json)>, state: ResourceState, loaded: serde_json::Map<String, Json>, open: fn(&FileSource, &Path) -> Result<FileItems<T>, FileError>) -> Self {
        FilesIter { source, todo: todo.into_iter(), current: None, state, loaded, open }
    }
}

impl<T> Iterator for FilesIter<T> {
    type Item = Result<T, BoxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((items, key, stamp)) = &mut self.current {
                match items.next() {
                    Some(Ok(v)) => return Some(Ok(v)),
                    Some(Err(e)) => {
                        self.todo = Vec::new().into_iter();
                        self.current = None;
                        return Some(Err(Box::new(e)));
                    }
                    None => {
                        // The whole file was read: it counts as loaded (with this run's rows).
                        self.loaded.insert(key.clone(), stamp.clone());
                        if self.source.incremental {
                            self.state.set(STATE_KEY, Json::Object(self.loaded.clone()));
                        }
                        self.current = None;
                    }
                }
            }
            let (path, key, stamp) = self.todo.next()?;
            match (self.open)(&self.source, &path) {
                Ok(items) => self.current = Some((items, key, stamp)),
                Err(e) => {
                    self.todo = Vec::new().into_iter();
                    return Some(Err(Box::new(e)));
                }
            }
        }
    }
}

/// Rows per record batch read from Parquet.
const PARQUET_BATCH_ROWS: usize = 64 * 1024;

/// A Parquet file's record batches (with the file's path as a column, when asked for).
fn parquet_batches(source: &FileSource, path: &Path) -> Result<FileItems<arrow::record_batch::RecordBatch>, FileError> {
    let file = File::open(path).map_err(|source| FileError::Io { path: path.to_owned(), source })?;
    let fail = |e: String| FileError::Parquet { path: path.to_owned(), message: e };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(PARQUET_BATCH_ROWS).build())
        .map_err(|e| fail(e.to_string()))?;
    let (column, path) = (source.file_column.clone(), path.to_owned());
    Ok(Box::new(reader.map(move |batch| {
        let batch = batch.map_err(|e| FileError::Parquet { path: path.clone(), message: e.to_string() })?;
        let Some(col) = &column else { return Ok(batch) };
        let file = path.to_string_lossy();
        let values = arrow::array::StringArray::from(vec![file.as_ref(); batch.num_rows()]);
        let mut fields: Vec<arrow::datatypes::FieldRef> = batch.schema().fields().iter().cloned().collect();
        fields.push(std::sync::Arc::new(arrow::datatypes::Field::new(col, arrow::datatypes::DataType::Utf8, false)));
        let mut columns = batch.columns().to_vec();
        columns.push(std::sync::Arc::new(values));
        arrow::record_batch::RecordBatch::try_new(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)), columns)
            .map_err(|e| FileError::Parquet { path: path.clone(), message: e.to_string() })
    })))
}

fn open(path: &Path) -> Result<Box<dyn Read + Send>, FileError> {
    let file = File::open(path).map_err(|source| FileError::Io { path: path.to_owned(), source })?;
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if gz { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) })
}

/// Reads a CSV file: rows as objects keyed by the headers, typed per cell (or as declared).
pub fn read_csv(
    path: &Path,
    delimiter: u8,
    has_headers: bool,
    columns: BTreeMap<String, ColumnType>,
) -> Result<impl Iterator<Item = Result<Value, FileError>> + Send, FileError> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(has_headers).flexible(false).from_reader(open(path)?);
    let headers: Vec<String> = if has_headers {
        let h = reader.headers().map_err(|e| csv_error(path, e))?;
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        h.iter()
            .enumerate()
            .map(|(i, name)| {
                let name = name.trim().trim_start_matches('\u{feff}');
                let base = if name.is_empty() { format!("column_{}", i + 1) } else { name.to_owned() };
                let n = seen.entry(base.clone()).or_insert(0);
                *n += 1;
                if *n == 1 { base } else { format!("{base}_{n}") }
            })
            .collect()
    } else {
        Vec::new()
    };
    let types: Vec<ColumnType> = headers.iter().map(|h| columns.get(h).copied().unwrap_or(ColumnType::Auto)).collect();
    let path = path.to_owned();
    let mut headers = headers;
    let mut types = types;
    Ok(reader.into_records().map(move |record| {
        let record = record.map_err(|e| csv_error(&path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        if headers.is_empty() {
            headers = (1..=record.len()).map(|i| format!("column_{i}")).collect();
            types = headers.iter().map(|h| columns.get(h).copied().unwrap_or(ColumnType::Auto)).collect();
        }
        let mut fields = Vec::with_capacity(record.len());
        for ((cell, name), ty) in record.iter().zip(&headers).zip(&types) {
            let v = typed_cell(cell, *ty).map_err(|message| FileError::Malformed {
                path: path.clone(),
                line,
                message: format!("column `{name}`: {message}"),
            })?;
            fields.push((name.clone(), v));
        }
        Ok(Value::Object(fields))
    }))
}

fn csv_error(path: &Path, e: csv::Error) -> FileError {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(_) => match e.into_kind() {
            csv::ErrorKind::Io(source) => FileError::Io { path: path.to_owned(), source },
            _ => unreachable!(),
        },
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => FileError::Malformed {
            path: path.to_owned(),
            line,
            message: format!("found {len} fields, expected {expected_len} (as in the header)"),
        },
        csv::ErrorKind::Utf8 { err, .. } => {
            FileError::Malformed { path: path.to_owned(), line, message: format!("field {} is not valid UTF-8", err.field() + 1) }
        }
        _ => FileError::Malformed { path: path.to_owned(), line, message: e.to_string() },
    }
}

/// Types one CSV cell.
pub fn typed_cell(cell: &str, ty: ColumnType) -> Result<Value, String> {
    let t = cell.trim();
    if t.is_empty() && ty != ColumnType::Text {
        return Ok(Value::Null);
    }
    let bad = |what: &str| format!("`{t}` is not {what}");
    Ok(match ty {
        ColumnType::Text => Value::Text(cell.to_owned()),
        ColumnType::Auto => infer_cell(t),
        ColumnType::Int => Value::Int(t.parse::<i64>().map_err(|_| bad("an integer"))?),
        ColumnType::Float => Value::Float(t.parse::<f64>().map_err(|_| bad("a number"))?),
        ColumnType::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Value::Bool(true),
            "false" | "f" | "no" | "n" | "0" => Value::Bool(false),
            _ => return Err(bad("a boolean")),
        },
        ColumnType::Date => Value::Date(chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad("a date (YYYY-MM-DD)"))?),
        ColumnType::Timestamp => match etl_core::types::parse_iso_timestamp(t) {
            Some(ts) => Value::Timestamp(ts),
            None => match chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
                Ok(d) => Value::Timestamp(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()),
                Err(_) => return Err(bad("an ISO 8601 timestamp")),
            },
        },
        ColumnType::Json => Value::from(serde_json::from_str::<Json>(t).map_err(|e| format!("`{t}` is not JSON: {e}"))?),
    })
}

/// Infers a cell's type: null, bool, integer, float or text.
fn infer_cell(t: &str) -> Value {
    match t {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // Leading zeros (zip codes, ids) stay text.
        if digits.len() > 1 && digits.starts_with('0') {
            return Value::Text(t.to_owned());
        }
        return match t.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Text(t.to_owned()),
        };
    }
    let numeric = digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."));
    if numeric {
        if let Ok(f) = t.parse::<f64>() {
            if f.is_finite() {
                return Value::Float(f);
            }
        }
    }
    Value::Text(t.to_owned())
}

/// Reads a JSON Lines file: one value per line (blank lines are skipped).
pub fn read_jsonl(path: &Path) -> Result<impl Iterator<Item = Result<Value, FileError>> + Send, FileError> {
    let reader = BufReader::new(open(path)?);
    let path = path.to_owned();
    let mut line_no = 0u64;
    let mut lines = reader.split(b'\n');
    Ok(std::iter::from_fn(move || loop {
        line_no += 1;
        let bytes = match lines.next()? {
            Ok(b) => b,
            Err(source) => return Some(Err(FileError::Io { path: path.clone(), source })),
        };
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t.trim(),
            Err(_) => return Some(Err(FileError::Malformed { path: path.clone(), line: line_no, message: "not valid UTF-8".into() })),
        };
        if text.is_empty() {
            continue;
        }
        return Some(serde_json::from_str::<Value>(text).map_err(|e| FileError::Malformed {
            path: path.clone(),
            line: line_no,
            message: format!("invalid JSON: {e}"),
        }));
    }))
}

/// Reads a JSON document: an array's elements, or the object itself (or what `records_at`
/// selects).
pub fn read_json(path: &Path, records_at: Option<&JsonPath>) -> Result<Vec<Value>, FileError> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text).map_err(|source| FileError::Io { path: path.to_owned(), source })?;
    let doc: Json = serde_json::from_str(&text).map_err(|e| FileError::Malformed {
        path: path.to_owned(),
        line: e.line() as u64,
        message: format!("invalid JSON: {e}"),
    })?;
    let records = match records_at {
        Some(p) => p.records(&doc),
        None => match doc {
            Json::Array(items) => items,
            other => vec![other],
        },
    };
    Ok(records.into_iter().map(Value::from).collect())
}

/// Reads a Parquet file row by row, with its types (dates, timestamps, decimals, lists, maps,
/// nested groups).
pub fn read_parquet(path: &Path) -> Result<impl Iterator<Item = Result<Value, FileError>> + Send, FileError> {
    use parquet::file::reader::SerializedFileReader;
    let file = File::open(path).map_err(|source| FileError::Io { path: path.to_owned(), source })?;
    let reader = SerializedFileReader::new(file).map_err(|e| FileError::Parquet { path: path.to_owned(), message: e.to_string() })?;
    let rows = parquet::record::reader::RowIter::from_file_into(Box::new(reader));
    let path = path.to_owned();
    Ok(rows.enumerate().map(move |(i, row)| {
        let row = row.map_err(|e| FileError::Malformed { path: path.clone(), line: i as u64 + 1, message: format!("parquet row: {e}") })?;
        Ok(Value::Object(row.into_columns().into_iter().map(|(k, f)| (k, parquet_value(f))).collect()))
    }))
}

fn parquet_value(f: parquet::record::Field) -> Value {
    use parquet::record::Field as F;
    match f {
        F::Null => Value::Null,
        F::Bool(b) => Value::Bool(b),
        F::Byte(v) => Value::Int(v.into()),
        F::Short(v) => Value::Int(v.into()),
        F::Int(v) => Value::Int(v.into()),
        F::Long(v) => Value::Int(v),
        F::UByte(v) => Value::Int(v.into()),
        F::UShort(v) => Value::Int(v.into()),
        F::UInt(v) => Value::Int(v.into()),
        F::ULong(v) => Value::from(v),
        F::Float16(v) => Value::Float(v.to_f64()),
        F::Float(v) => Value::Float(v.into()),
        F::Double(v) => Value::Float(v),
        F::Decimal(d) => {
            let bytes = d.data();
            let mut m: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
            for b in bytes.iter().take(16) {
                m = (m << 8) | i128::from(*b);
            }
            Value::BigDecimal { mantissa: m, scale: d.scale().max(0) as u32 }
        }
        F::Str(s) => Value::Text(s),
        F::Bytes(b) => Value::Bytes(b.data().to_vec()),
        F::Date(days) => chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|e| e.checked_add_signed(chrono::Duration::days(days.into())))
            .map_or(Value::Null, Value::Date),
        F::TimeMillis(ms) => chrono::NaiveTime::from_num_seconds_from_midnight_opt((ms / 1000) as u32, (ms % 1000) as u32 * 1_000_000)
            .map_or(Value::Null, Value::Time),
        F::TimeMicros(us) => {
            chrono::NaiveTime::from_num_seconds_from_midnight_opt((us / 1_000_000) as u32, (us % 1_000_000) as u32 * 1000)
                .map_or(Value::Null, Value::Time)
        }
        F::TimestampMillis(ms) => chrono::DateTime::from_timestamp_millis(ms).map_or(Value::Null, Value::Timestamp),
        F::TimestampMicros(us) => chrono::DateTime::from_timestamp_micros(us).map_or(Value::Null, Value::Timestamp),
        F::Group(row) => Value::Object(row.into_columns().into_iter().map(|(k, f)| (k, parquet_value(f))).collect()),
        F::ListInternal(list) => Value::List(list.elements().iter().cloned().map(parquet_value).collect()),
        F::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        F::Str(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (key, parquet_value(v.clone()))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(source: &FileSource, cx: &ResourceContext) -> Result<Vec<Json>, String> {
        let mut r = source.clone().resource("r");
        let items = r.take_items_with(cx).map_err(|e| e.to_string())?;
        items.map(|i| i.map(|v| v.to_json()).map_err(|e| e.to_string())).collect()
    }

    #[test]
    fn csv_cells_are_typed_and_headers_kept() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("orders.csv");
        std::fs::write(&f, "Order ID,Amount,Paid,Zip,Created At,Note,Note\n1,9.50,true,00501,2024-01-01T10:00:00Z,,x\n2,-3,FALSE,12345,2024-01-02,hi,y\n").unwrap();
        let got = rows(&FileSource::new(f.to_string_lossy()), &ResourceContext::default()).unwrap();
        assert_eq!(
            got[0],
            json!({"Order ID": 1, "Amount": 9.5, "Paid": true, "Zip": "00501", "Created At": "2024-01-01T10:00:00Z", "Note": null, "Note_2": "x"})
        );
        assert_eq!(got[1]["Amount"], json!(-3));
        assert_eq!(got[1]["Paid"], json!(false));
        // Declared types win.
        let src = FileSource::new(f.to_string_lossy()).column_type("Zip", ColumnType::Int).column_type("Amount", ColumnType::Text);
        let got = rows(&src, &ResourceContext::default()).unwrap();
        assert_eq!(got[0]["Zip"], json!(501));
        assert_eq!(got[0]["Amount"], json!("9.50"));
        assert_eq!(infer_cell("1e3"), Value::Float(1000.0));
        assert_eq!(infer_cell("inf"), Value::Text("inf".into()));
        assert_eq!(infer_cell("1.2.3"), Value::Text("1.2.3".into()));
        assert_eq!(typed_cell("2024-02-03", ColumnType::Date).unwrap(), Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 2, 3).unwrap()));
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.csv");
        std::fs::write(&f, "a,b\n1,2\n3\n4,5\n").unwrap();
        let err = rows(&FileSource::new(f.to_string_lossy()), &ResourceContext::default()).unwrap_err();
        assert!(err.contains("bad.csv:3:") && err.contains("found 1 fields, expected 2"), "{err}");

        let f = dir.path().join("typed.csv");
        std::fs::write(&f, "a\n1\nx\n").unwrap();
        let err = rows(&FileSource::new(f.to_string_lossy()).column_type("a", ColumnType::Int), &ResourceContext::default()).unwrap_err();
        assert!(err.contains("typed.csv:3: column `a`: `x` is not an integer"), "{err}");

        let f = dir.path().join("events.jsonl");
        std::fs::write(&f, "{\"id\": 1}\n\n{\"id\": 2\n").unwrap();
        let err = rows(&FileSource::new(f.to_string_lossy()), &ResourceContext::default()).unwrap_err();
        assert!(err.contains("events.jsonl:3: invalid JSON"), "{err}");

        let f = dir.path().join("doc.json");
        std::fs::write(&f, "[{\"id\": 1},\n{\"id\": }]").unwrap();
        let err = rows(&FileSource::new(f.to_string_lossy()), &ResourceContext::default()).unwrap_err();
        assert!(err.contains("doc.json:2: invalid JSON"), "{err}");

        let f = dir.path().join("x.parquet");
        std::fs::write(&f, "not parquet").unwrap();
        let err = rows(&FileSource::new(f.to_string_lossy()), &ResourceContext::default()).unwrap_err();
        assert!(err.contains("x.parquet: parquet:"), "{err}");

        let f = dir.path().join("x.txt");
        std::fs::write(&f, "").unwrap();
        let err = rows(&FileSource::new(f.to_string_lossy()), &ResourceContext::default()).unwrap_err();
        assert!(err.contains("x.txt: unknown file format"), "{err}");
    }

    #[test]
    fn json_jsonl_gz_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jsonl"), "{\"id\": 1, \"tags\": [\"x\"]}\n{\"id\": 2}\n").unwrap();
        std::fs::write(dir.path().join("b.json"), "[{\"id\": 3}, {\"id\": 4}]").unwrap();
        std::fs::write(dir.path().join("c.json"), "{\"data\": {\"items\": [{\"id\": 5}]}}").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b"id\n6\n").unwrap();
        std::fs::write(dir.path().join("d.csv.gz"), gz.finish().unwrap()).unwrap();
        let pattern = format!("{}/*.json*", dir.path().display());
        let got = rows(&FileSource::new(&pattern), &ResourceContext::default()).unwrap();
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[4], json!({"data": {"items": [{"id": 5}]}}));
        let got = rows(&FileSource::new(format!("{}/c.json", dir.path().display())).records_at("data.items").unwrap(), &ResourceContext::default()).unwrap();
        assert_eq!(got, vec![json!({"id": 5})]);
        let got = rows(&FileSource::new(dir.path().to_string_lossy()).with_file_column("_file"), &ResourceContext::default()).unwrap();
        assert_eq!(got.len(), 6);
        assert!(got[5]["_file"].as_str().unwrap().ends_with("d.csv.gz"), "{got:?}");
        assert_eq!(got[5]["id"], json!(6));
        assert!(FileSource::new("[").files().unwrap_err().to_string().contains("invalid file pattern `[`"));
    }

    #[test]
    fn a_records_path_that_does_not_parse_is_an_error_naming_it() {
        let err = FileSource::new("*.json").records_at("data[").unwrap_err();
        assert!(matches!(err, FileError::RecordsAt { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("records_at: invalid JSONPath `data[`"), "{text}");
        assert!(std::error::Error::source(&err).is_some(), "the parser's error is the source");
        assert!(FileSource::new("*.json").records_at("data.items").is_ok());
    }

    #[test]
    fn only_new_or_changed_files_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        std::fs::write(&a, "id\n1\n2\n").unwrap();
        let src = FileSource::new(format!("{}/*.csv", dir.path().display()));
        let cx = ResourceContext::default();
        assert_eq!(rows(&src, &cx).unwrap().len(), 2);
        let files = cx.state.get(STATE_KEY).unwrap();
        assert!(files.get(a.to_string_lossy().as_ref()).is_some(), "{files}");
        // Same state: nothing to read.
        assert_eq!(rows(&src, &cx).unwrap().len(), 0);
        // A new file is read, the old one is not.
        std::fs::write(dir.path().join("b.csv"), "id\n3\n").unwrap();
        assert_eq!(rows(&src, &cx).unwrap(), vec![json!({"id": 3})]);
        // A changed file is read whole again.
        std::fs::write(&a, "id\n1\n2\n10\n").unwrap();
        assert_eq!(rows(&src, &cx).unwrap().len(), 3);
        assert_eq!(rows(&src, &cx).unwrap().len(), 0);
        // all_files reads everything.
        assert_eq!(rows(&src.clone().all_files(), &cx).unwrap().len(), 4);
        // A failing file leaves its stamp out of the state.
        std::fs::write(dir.path().join("c.csv"), "id,x\n1\n").unwrap();
        assert!(rows(&src, &cx).is_err());
        assert!(cx.state.get(STATE_KEY).unwrap().get(dir.path().join("c.csv").to_string_lossy().as_ref()).is_none());
    }

    #[test]
    fn one_resource_per_file_of_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.csv"), "id\n1\n").unwrap();
        std::fs::write(dir.path().join("Open Orders.csv"), "id\n1\n").unwrap();
        std::fs::write(dir.path().join("notes.json"), "[]").unwrap();
        let names: Vec<String> = resources_in_dir(dir.path(), Format::Csv).unwrap().iter().map(|r| r.name().to_owned()).collect();
        assert_eq!(names, ["open_orders", "users"]);
    }

    #[test]
    fn parquet_rows_keep_their_types() {
        use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.parquet");
        let schema = Arc::new(
            parquet::schema::parser::parse_message_type(
                "message schema { REQUIRED INT64 id; OPTIONAL BYTE_ARRAY name (UTF8); REQUIRED INT32 day (DATE); }",
            )
            .unwrap(),
        );
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(File::create(&f).unwrap(), schema, props).unwrap();
        let mut rg = writer.next_row_group().unwrap();
        let mut n = 0;
        while let Some(mut col) = rg.next_column().unwrap() {
            match n {
                0 => {
                    col.typed::<Int64Type>().write_batch(&[1, 2], None, None).unwrap();
                }
                1 => {
                    col.typed::<ByteArrayType>().write_batch(&[ByteArray::from("a")], Some(&[1, 0]), None).unwrap();
                }
                _ => {
                    col.typed::<Int32Type>().write_batch(&[0, 19_723], None, None).unwrap();
                }
            }
            col.close().unwrap();
            n += 1;
        }
        rg.close().unwrap();
        writer.close().unwrap();
        let mut r = FileSource::new(f.to_string_lossy()).resource("p");
        let rows: Vec<Value> = r.take_items_with(&ResourceContext::default()).unwrap().map(Result::unwrap).collect();
        let date = |y, m, d| Value::Date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert_eq!(
            rows,
            vec![
                Value::Object(vec![("id".into(), Value::Int(1)), ("name".into(), Value::Text("a".into())), ("day".into(), date(1970, 1, 1))]),
                Value::Object(vec![("id".into(), Value::Int(2)), ("name".into(), Value::Null), ("day".into(), date(2024, 1, 1))]),
            ]
        );
    }
}
