//! Resources and sources: lazily evaluated producers of items, with their hints.
//!
//! A [`Resource`] holds a producer closure that is called once, when a pipeline runs it; building
//! a resource (calling a `#[etl::resource]` function) pulls no data. A [`Source`] is a named group
//! of resources; its name is the schema name.

use std::fmt;

use serde::Serialize;

use crate::fast::RowWriter;
use crate::hints::{ColumnHint, ResourceHints, WriteDisposition};
use crate::normalize::IdGenerator;
use crate::schema::Schema;
use crate::value::{to_value, ToValueError, Value};

pub mod routing;
mod source;
mod steps;
pub use routing::{with_hints, with_table_name, TableRouter};
pub use source::{make_source, IntoResources, Source};
pub use steps::Limit;

/// Boxed error from user code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The items of a resource, each a value or the error that stopped the resource.
pub type Items = Box<dyn Iterator<Item = Result<Value, BoxError>> + Send>;

/// A reader of JSON lines (one item per line), as [`Resource::from_json_lines`] opens it.
pub type JsonLines = Box<dyn std::io::BufRead + Send>;

/// An item of a typed Rust type, kept as it is until the pipeline writes it: through the fast
/// path straight from its `Serialize` implementation, or as a [`Value`] where that path cannot.
pub trait TypedItem: Send + 'static {
    /// Writes the item through [`RowWriter::serialize`]; `false`: nothing was written.
    fn write_fast(&self, writer: &mut RowWriter, schema: &Schema, ids: &mut IdGenerator) -> bool;
    /// The item as a value ([`to_value`]).
    fn to_value(&self) -> Result<Value, ToValueError>;
    /// Appends the binary form of the item's value ([`crate::value::binary::encode_serialize`]:
    /// without building it; exact for an item [`TypedItem::write_fast`] wrote).
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ToValueError>;
}

impl<T: Serialize + Send + 'static> TypedItem for T {
    fn write_fast(&self, writer: &mut RowWriter, schema: &Schema, ids: &mut IdGenerator) -> bool {
        writer.serialize(schema, self, ids)
    }
    fn to_value(&self) -> Result<Value, ToValueError> {
        to_value(self)
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ToValueError> {
        crate::value::binary::encode_serialize(self, out)
    }
}

/// The items of a typed resource ([`Resource::from_data`]), each a typed item or the error that
/// stopped the resource.
pub type TypedItems = Box<dyn Iterator<Item = Result<Box<dyn TypedItem>, BoxError>> + Send>;

/// The items of an Arrow resource ([`Resource::from_arrow`]): record batches, each a batch of
/// rows, or the error that stopped the resource.
pub type ArrowBatches = Box<dyn Iterator<Item = Result<arrow::record_batch::RecordBatch, BoxError>> + Send>;

type ProduceItems = Box<dyn FnOnce(&ResourceContext) -> Result<Items, BoxError> + Send>;
type ProduceArrow = Box<dyn FnOnce(&ResourceContext) -> Result<ArrowBatches, BoxError> + Send>;
type ProduceTyped = Box<dyn FnOnce(&ResourceContext) -> Result<TypedItems, BoxError> + Send>;
type OpenJsonLines = Box<dyn FnOnce() -> Result<JsonLines, BoxError> + Send>;

/// A transformer's function: the items it makes of one item of its parent.
pub type Transform = Box<dyn FnMut(Value, &ResourceContext) -> Result<Items, BoxError> + Send>;

enum Producer {
    Items(ProduceItems),
    Typed(ProduceTyped),
    Arrow(ProduceArrow),
    JsonLines(OpenJsonLines),
    /// A transformer: its parent (until a source takes it, see [`Source::add`]) and its function.
    Transform { parent: Option<Box<Resource>>, parent_name: String, transform: Transform },
}

impl Producer {
    /// The items as values (what every consumer but the pipeline's typed loop takes).
    fn into_items(self, context: &ResourceContext) -> Result<Items, BoxError> {
        match self {
            Producer::Items(produce) => produce(context),
            Producer::Typed(produce) => Ok(Box::new(typed_values(produce(context)?))),
            Producer::Arrow(produce) => Ok(Box::new(arrow_rows(produce(context)?))),
            Producer::JsonLines(open) => Ok(Box::new(json_line_items(open()?))),
            Producer::Transform { parent: Some(mut parent), parent_name, transform } => {
                // Outside a source (a transformer run on its own, e.g. in a unit test): the parent
                // runs inside it, with the same context.
                let items = parent.take_items_with(context).map_err(|e| parent_failed(&parent_name, e))?;
                Ok(Box::new(transform_items(items, transform, context.clone(), parent_name)))
            }
            Producer::Transform { parent: None, parent_name, .. } => Err(format!(
                "a transformer's parent `{parent_name}` belongs to its source: the pipeline feeds the transformer from it"
            )
            .into()),
        }
    }
}

fn parent_failed(parent: &str, e: BoxError) -> BoxError {
    format!("its parent `{parent}` failed: {e}").into()
}

/// The items a transformer makes of its parent's items, in order.
fn transform_items(items: Items, mut transform: Transform, cx: ResourceContext, parent: String) -> impl Iterator<Item = Result<Value, BoxError>> + Send {
    items.flat_map(move |item| -> Items {
        let result = match item {
            Ok(value) => transform(value, &cx),
            Err(e) => Err(parent_failed(&parent, e)),
        };
        match result {
            Ok(items) => items,
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    })
}

/// Arrow batches as values: each row an object of its columns.
fn arrow_rows(batches: ArrowBatches) -> impl Iterator<Item = Result<Value, BoxError>> + Send {
    batches.flat_map(|batch| -> Box<dyn Iterator<Item = Result<Value, BoxError>> + Send> {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        match crate::arrow_values::rows(std::slice::from_ref(&batch)) {
            Ok(rows) => Box::new(rows.into_iter().map(move |r| Ok(Value::Object(names.iter().cloned().zip(r).collect())))),
            Err(e) => Box::new(std::iter::once(Err(e.into()))),
        }
    })
}

/// Typed items as values.
fn typed_values(items: TypedItems) -> impl Iterator<Item = Result<Value, BoxError>> + Send {
    items.map(|item| item.and_then(|item| item.to_value().map_err(|e| Box::new(e) as BoxError)))
}

/// A resource's own state (dlt's `dlt.current.resource_state()`): a JSON map the resource reads
/// and writes while it runs. It is stored in `_dlt_pipeline_state` in the same transaction as the
/// rows, so a failed run keeps the previous state.
#[derive(Debug, Clone, Default)]
pub struct ResourceState(std::sync::Arc<std::sync::Mutex<serde_json::Map<String, serde_json::Value>>>);

impl ResourceState {
    /// State starting from a stored map.
    pub fn from_map(map: serde_json::Map<String, serde_json::Value>) -> Self {
        ResourceState(std::sync::Arc::new(std::sync::Mutex::new(map)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, serde_json::Map<String, serde_json::Value>> {
        // A panic while holding the lock cannot leave the map half-written (single insertions).
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A value.
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        self.lock().get(key).cloned()
    }

    /// Sets a value.
    pub fn set(&self, key: impl Into<String>, value: impl Into<serde_json::Value>) {
        self.lock().insert(key.into(), value.into());
    }

    /// Removes a value.
    pub fn remove(&self, key: &str) -> Option<serde_json::Value> {
        self.lock().remove(key)
    }

    /// A copy of the whole map.
    pub fn snapshot(&self) -> serde_json::Map<String, serde_json::Value> {
        self.lock().clone()
    }
}

impl PartialEq for ResourceState {
    fn eq(&self, other: &Self) -> bool {
        self.snapshot() == other.snapshot()
    }
}

/// What a running resource can know about its run: the incremental window, so it can push the
/// filter down to its source (an API query, a SQL `WHERE`), and its own state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceContext {
    /// Lower bound of the incremental window (the last value of the previous run, or the initial
    /// value), if the resource is incremental.
    pub start_value: Option<serde_json::Value>,
    /// The stored last value (before this run).
    pub last_value: Option<serde_json::Value>,
    /// End of the window, if set.
    pub end_value: Option<serde_json::Value>,
    /// The resource's state.
    pub state: ResourceState,
}

thread_local! {
    static RUN_DIR: std::cell::RefCell<Option<std::path::PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `dir` as the directory of the current run (an asset's `--workdir`), which
/// config lookups (`.etl/config.toml`) use instead of the process's working directory.
pub fn with_run_dir<T>(dir: &std::path::Path, f: impl FnOnce() -> T) -> T {
    let previous = RUN_DIR.with(|d| d.replace(Some(dir.to_owned())));
    let out = f();
    RUN_DIR.with(|d| *d.borrow_mut() = previous);
    out
}

/// The directory of the run this thread works for, if any (see [`with_run_dir`]).
pub fn run_dir() -> Option<std::path::PathBuf> {
    RUN_DIR.with(|d| d.borrow().clone())
}

/// A named, lazily evaluated producer of rows (dlt's `@dlt.resource`).
pub struct Resource {
    hints: ResourceHints,
    producer: Option<Producer>,
    /// The file a JSON-lines producer reads ([`Resource::from_json_lines_file`]).
    json_lines_file: Option<std::path::PathBuf>,
    /// Routes each item to a table ([`Resource::with_table_name_fn`]).
    router: Option<TableRouter>,
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource").field("hints", &self.hints).field("consumed", &self.producer.is_none()).finish()
    }
}

impl Resource {
    /// A resource from hints and a producer that is called once, when the resource runs.
    pub fn new(hints: ResourceHints, producer: impl FnOnce() -> Result<Items, BoxError> + Send + 'static) -> Self {
        Resource { hints, producer: Some(Producer::Items(Box::new(move |_: &ResourceContext| producer()))), json_lines_file: None, router: None }
    }

    /// A resource whose producer sees its run's [`ResourceContext`] (incremental window).
    pub fn with_context(
        hints: ResourceHints,
        producer: impl FnOnce(&ResourceContext) -> Result<Items, BoxError> + Send + 'static,
    ) -> Self {
        Resource { hints, producer: Some(Producer::Items(Box::new(producer))), json_lines_file: None, router: None }
    }

    /// A resource reading JSON lines (one item per line; empty lines are skipped) from the reader
    /// `open` returns when the resource runs, e.g. a buffered file. The pipeline parses such
    /// lines straight into its column buffers instead of building a [`Value`] per item. A reader
    /// is read once, so a failed run keeps its lines verbatim (the failed-run rule); mark it
    /// [`Resource::replayable`]`(true)` when `open` can read the same lines again.
    pub fn from_json_lines<R>(hints: ResourceHints, open: impl FnOnce() -> Result<R, BoxError> + Send + 'static) -> Self
    where
        R: std::io::BufRead + Send + 'static,
    {
        Resource { hints, producer: Some(Producer::JsonLines(Box::new(move || Ok(Box::new(open()?) as JsonLines)))), json_lines_file: None, router: None }
    }

    /// A resource reading a file of JSON lines (one item per line, `.jsonl`), as
    /// [`Resource::from_json_lines`]. The file can be read again, so the failed-run rule does
    /// not copy its lines: a failed run's pending package holds a hard link to the file and how
    /// many bytes the run read, with their checksum (a copy only where the link cannot be made,
    /// e.g. on another file system).
    pub fn from_json_lines_file(hints: ResourceHints, path: impl Into<std::path::PathBuf>) -> Self {
        let path = path.into();
        let open = path.clone();
        let mut resource = Resource::from_json_lines(hints, move || {
            let file = std::fs::File::open(&open).map_err(|e| -> BoxError { format!("cannot open {}: {e}", open.display()).into() })?;
            Ok(std::io::BufReader::with_capacity(1 << 20, file))
        });
        resource.json_lines_file = Some(path);
        resource
    }

    /// The file a JSON-lines resource reads, if it was made by
    /// [`Resource::from_json_lines_file`] and has not run yet.
    pub fn json_lines_file(&self) -> Option<&std::path::Path> {
        self.json_lines_file.as_deref().filter(|_| self.is_json_lines())
    }

    /// Whether the resource reads JSON lines ([`Resource::from_json_lines`]).
    pub fn is_json_lines(&self) -> bool {
        matches!(self.producer, Some(Producer::JsonLines(_)))
    }

    /// Opens the reader of a JSON-lines resource (`None` for other resources, which are left
    /// as they are). A resource runs once, either way.
    pub fn take_json_lines(&mut self) -> Option<Result<JsonLines, BoxError>> {
        match self.producer.take() {
            Some(Producer::JsonLines(open)) => Some(open()),
            other => {
                self.producer = other;
                None
            }
        }
    }

    /// Declares whether running the resource again yields its items again (the failed-run
    /// rule, README "Failed runs"). A failed run keeps the items of a resource that is not
    /// replayable as a pending package, and keeps nothing of one that is: the next run pulls
    /// them again, as it does after a failed extract. Mark `replayable(false)` a resource that
    /// consumes what it yields (a queue it acknowledges, files it moves away, a stream that
    /// cannot be read twice). The default is [`Resource::is_replayable`]'s.
    pub fn replayable(mut self, replayable: bool) -> Self {
        self.hints.replayable = Some(replayable);
        self
    }

    /// Whether running the resource again yields its items again: as declared with
    /// [`Resource::replayable`], else `true` for functions, iterators, data, Arrow batches and
    /// files (the pipeline state a run reads, incremental cursors included, moves only when its
    /// load commits, so a resource run again sees the same window), and `false` for a reader of
    /// JSON lines ([`Resource::from_json_lines`]), which is read once (a file given by its path,
    /// [`Resource::from_json_lines_file`], is replayable).
    pub fn is_replayable(&self) -> bool {
        self.hints.replayable.unwrap_or_else(|| !self.is_json_lines() || self.json_lines_file.is_some())
    }

    /// Makes the resource incremental on a cursor (dlt's `incremental=`).
    pub fn with_incremental(mut self, incremental: crate::incremental::Incremental) -> Self {
        self.hints.incremental = Some(incremental);
        self
    }

    /// A resource from data (dlt's `dlt.resource(data, name=...)`): any `Serialize` items.
    /// A `Vec` item is flattened into rows, a scalar becomes `{"value": ...}`. The pipeline writes
    /// items of shapes its schema knows straight from their `Serialize` implementation, without
    /// a [`Value`] per item ([`TypedItem`]).
    pub fn from_data<I, T>(name: impl Into<String>, data: I) -> Self
    where
        I: IntoIterator<Item = T> + Send + 'static,
        I::IntoIter: Send + 'static,
        T: Serialize + Send + 'static,
    {
        Resource::typed(ResourceHints::new(name), move |_: &ResourceContext| {
            Ok(Box::new(data.into_iter().map(|item| Ok(Box::new(item) as Box<dyn TypedItem>))) as TypedItems)
        })
    }

    /// A resource of typed items ([`TypedItem`]): the producer is called once, with the run's
    /// context, when the resource runs.
    pub fn typed(hints: ResourceHints, producer: impl FnOnce(&ResourceContext) -> Result<TypedItems, BoxError> + Send + 'static) -> Self {
        Resource { hints, producer: Some(Producer::Typed(Box::new(producer))), json_lines_file: None, router: None }
    }

    /// A resource of Arrow record batches (dlt's arrow items): the pipeline loads them column by
    /// column, without a row value in between. The producer is called once, with the run's
    /// context, when the resource runs.
    pub fn from_arrow(hints: ResourceHints, producer: impl FnOnce(&ResourceContext) -> Result<ArrowBatches, BoxError> + Send + 'static) -> Self {
        Resource { hints, producer: Some(Producer::Arrow(Box::new(producer))), json_lines_file: None, router: None }
    }

    /// A resource of ready record batches.
    pub fn from_batches(name: impl Into<String>, batches: Vec<arrow::record_batch::RecordBatch>) -> Self {
        Resource::from_arrow(ResourceHints::new(name), move |_: &ResourceContext| Ok(Box::new(batches.into_iter().map(Ok)) as ArrowBatches))
    }

    /// Whether the resource yields Arrow record batches ([`Resource::from_arrow`]).
    pub fn is_arrow(&self) -> bool {
        matches!(self.producer, Some(Producer::Arrow(_)))
    }

    /// Runs the producer of an Arrow resource (`None` for other resources, which are left as
    /// they are). A resource runs once, either way.
    pub fn take_arrow_batches_with(&mut self, context: &ResourceContext) -> Option<Result<ArrowBatches, BoxError>> {
        match self.producer.take() {
            Some(Producer::Arrow(produce)) => Some(produce(context)),
            other => {
                self.producer = other;
                None
            }
        }
    }

    /// Whether the resource yields typed items ([`Resource::from_data`], [`Resource::typed`]).
    pub fn is_typed(&self) -> bool {
        matches!(self.producer, Some(Producer::Typed(_)))
    }

    /// Runs the producer of a typed resource (`None` for other resources, which are left as
    /// they are). A resource runs once, either way.
    pub fn take_typed_items_with(&mut self, context: &ResourceContext) -> Option<Result<TypedItems, BoxError>> {
        match self.producer.take() {
            Some(Producer::Typed(produce)) => Some(produce(context)),
            other => {
                self.producer = other;
                None
            }
        }
    }

    /// A resource that could not be built (e.g. its `#[config]` values are missing): running it
    /// fails with `error`, naming the resource. Its hints are kept, so it is listed and selected
    /// as it would have been.
    pub fn failed(hints: ResourceHints, error: impl Into<BoxError>) -> Self {
        let error = error.into();
        Resource::new(hints, move || Err(error))
    }

    /// A resource from ready values.
    pub fn from_values(name: impl Into<String>, values: Vec<Value>) -> Self {
        Resource::new(ResourceHints::new(name), move || Ok(Box::new(values.into_iter().map(Ok)) as Items))
    }

    /// Resource name.
    pub fn name(&self) -> &str {
        &self.hints.name
    }

    /// All hints.
    pub fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    /// Mutable hints (dlt's `apply_hints`).
    pub fn hints_mut(&mut self) -> &mut ResourceHints {
        &mut self.hints
    }

    /// Whether the resource runs when its source runs.
    pub fn is_selected(&self) -> bool {
        self.hints.selected
    }

    /// Sets the table name.
    pub fn with_table_name(mut self, table: impl Into<String>) -> Self {
        self.hints.table_name = Some(table.into());
        self
    }

    /// Sets the write disposition.
    pub fn with_write_disposition(mut self, wd: WriteDisposition) -> Self {
        self.hints.write_disposition = wd;
        self
    }

    /// Sets the primary key.
    pub fn with_primary_key<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.hints.primary_key = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the merge key.
    pub fn with_merge_key<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.hints.merge_key = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `max_table_nesting`.
    pub fn with_max_table_nesting(mut self, depth: u32) -> Self {
        self.hints.max_table_nesting = Some(depth);
        self
    }

    /// Sets column hints.
    pub fn with_columns(mut self, columns: Vec<ColumnHint>) -> Self {
        self.hints.columns = columns;
        self
    }

    /// Selects or deselects the resource.
    pub fn selected(mut self, selected: bool) -> Self {
        self.hints.selected = selected;
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.hints.description = Some(description.into());
        self
    }

    /// A transformer (dlt's `@dlt.transformer`): every item `parent` yields is handed to `f`,
    /// whose items are this resource's. In a source, the parent belongs to the source (see
    /// [`Source::add`]) and the pipeline extracts it once per run, feeding its own table (if
    /// selected) and every selected transformer in the same pass, under the parent's own
    /// incremental window and state. On its own (`take_items`), the transformer runs its parent
    /// inside itself.
    pub fn transformer(
        mut hints: ResourceHints,
        parent: Resource,
        f: impl FnMut(Value, &ResourceContext) -> Result<Items, BoxError> + Send + 'static,
    ) -> Resource {
        hints.data_from = Some(parent.hints.data_from.clone().unwrap_or_else(|| parent.name().to_owned()));
        let parent_name = parent.name().to_owned();
        let producer = Producer::Transform { parent: Some(Box::new(parent)), parent_name, transform: Box::new(f) };
        Resource { hints, producer: Some(producer), json_lines_file: None, router: None }
    }

    /// For a transformer, the name of the resource whose items it receives.
    pub fn parent_name(&self) -> Option<&str> {
        match &self.producer {
            Some(Producer::Transform { parent_name, .. }) => Some(parent_name),
            _ => None,
        }
    }

    /// Takes a transformer's parent out (a source keeps it; see [`Source::add`]).
    fn take_parent(&mut self) -> Option<Resource> {
        match &mut self.producer {
            Some(Producer::Transform { parent, .. }) => parent.take().map(|p| *p),
            _ => None,
        }
    }

    /// Takes a transformer's function, for the pipeline to feed it its parent's items (`None`
    /// for other resources, which are left as they are).
    pub fn take_transform(&mut self) -> Option<Transform> {
        match self.producer.take() {
            Some(Producer::Transform { transform, .. }) => Some(transform),
            other => {
                self.producer = other;
                None
            }
        }
    }

    /// Runs the producer on a thread of its own, handing items over through a channel of
    /// `capacity` items (dlt's `parallelized=True`): the resource's IO overlaps normalization,
    /// and a full channel stops the producer (backpressure).
    pub fn parallelized(mut self, capacity: usize) -> Resource {
        if matches!(self.producer, Some(Producer::Transform { .. })) {
            // A transformer is fed item by item by its parent's run: it has no producer of its own
            // to move to a thread.
            return self;
        }
        // Its default replayability is its producer's, which becomes a closure here.
        self.hints.replayable = Some(self.is_replayable());
        let Some(producer) = self.producer.take() else { return self };
        let name = self.hints.name.clone();
        // JSON lines and typed items become values here (the pipeline's streaming parse needs
        // the reader).
        let produce = move |cx: &ResourceContext| producer.into_items(cx);
        self.producer = Some(Producer::Items(Box::new(move |cx: &ResourceContext| {
            let cx = cx.clone();
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Value, BoxError>>(capacity.max(1));
            std::thread::Builder::new()
                .name(format!("resource-{name}"))
                .spawn(move || {
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match produce(&cx) {
                        Ok(items) => {
                            for item in items {
                                if tx.send(item).is_err() {
                                    return; // The pipeline stopped reading.
                                }
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }));
                    if let Err(panic) = run {
                        let _ = tx.send(Err(format!("resource panicked: {}", crate::error::panic_text(panic.as_ref())).into()));
                    }
                })
                .map_err(|e| -> BoxError { format!("cannot start a thread for resource: {e}").into() })?;
            Ok(Box::new(rx.into_iter()) as Items)
        })));
        self.hints.parallelized = true;
        self
    }

    /// Runs the producer. A resource runs once: a second call reports that it was consumed.
    pub fn take_items(&mut self) -> Result<Items, BoxError> {
        self.take_items_with(&ResourceContext::default())
    }

    /// Runs the producer with a context.
    pub fn take_items_with(&mut self, context: &ResourceContext) -> Result<Items, BoxError> {
        let producer = self.producer.take().ok_or_else(|| -> BoxError {
            format!("resource `{}` was already run; build it again (call its function) to run it again", self.hints.name).into()
        })?;
        producer.into_items(context)
    }
}

/// The items of a JSON-lines reader as values; a line that is not JSON is an error naming it.
pub fn json_line_items(reader: JsonLines) -> impl Iterator<Item = Result<Value, BoxError>> + Send {
    use std::io::BufRead as _;
    reader.lines().enumerate().filter(|(_, l)| !matches!(l, Ok(s) if s.trim().is_empty())).map(|(no, line)| {
        let line = line?;
        serde_json::from_str::<Value>(&line).map_err(|e| format!("line {}: {e}", no + 1).into())
    })
}

/// Conversion of a resource's items into values, choosing by type at the call site
/// ("autoref specialization"): `Result<T, E>` items surface their error, other items are
/// serialized. Used by generated code.
pub mod item {
    use super::*;

    /// Chosen for `Result<T, E>` items.
    pub struct ResultTag;
    /// Chosen for any other `Serialize` item.
    pub struct PlainTag;

    /// Picks [`ResultTag`] for results.
    pub trait ResultKind {
        /// The tag.
        fn __etl_kind(&self) -> ResultTag {
            ResultTag
        }
    }
    impl<T: Serialize, E: Into<BoxError>> ResultKind for Result<T, E> {}

    /// Picks [`PlainTag`] for everything else.
    pub trait PlainKind {
        /// The tag.
        fn __etl_kind(&self) -> PlainTag {
            PlainTag
        }
    }
    impl<T: Serialize + ?Sized> PlainKind for &T {}

    impl ResultTag {
        /// Converts an `Ok` item; passes an `Err` on.
        pub fn into_value<T: Serialize, E: Into<BoxError>>(self, item: Result<T, E>) -> Result<Value, BoxError> {
            match item {
                Ok(v) => to_value(&v).map_err(|e| Box::new(e) as BoxError),
                Err(e) => Err(e.into()),
            }
        }
    }

    impl PlainTag {
        /// Converts the item.
        pub fn into_value<T: Serialize>(self, item: T) -> Result<Value, BoxError> {
            to_value(&item).map_err(|e| Box::new(e) as BoxError)
        }

        /// Keeps the item as it is ([`TypedItem`]).
        pub fn into_typed<T: Serialize + Send + 'static>(self, item: T) -> Result<Box<dyn TypedItem>, BoxError> {
            Ok(Box::new(item))
        }
    }

    impl ResultTag {
        /// Keeps an `Ok` item as it is ([`TypedItem`]); passes an `Err` on.
        pub fn into_typed<T: Serialize + Send + 'static, E: Into<BoxError>>(self, item: Result<T, E>) -> Result<Box<dyn TypedItem>, BoxError> {
            match item {
                Ok(v) => Ok(Box::new(v)),
                Err(e) => Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use item::{PlainKind as _, ResultKind as _};

    #[test]
    fn resources_are_lazy_and_run_once() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let pulled = Arc::new(AtomicBool::new(false));
        let flag = pulled.clone();
        let mut r = Resource::new(ResourceHints::new("r"), move || {
            flag.store(true, Ordering::SeqCst);
            Ok(Box::new(std::iter::empty()) as Items)
        });
        assert!(!pulled.load(Ordering::SeqCst));
        assert!(r.take_items().is_ok());
        assert!(pulled.load(Ordering::SeqCst));
        assert!(r.take_items().err().expect("consumed").to_string().contains("already run"));
    }

    #[test]
    fn with_resources_selects_and_reports_unknown_names() {
        let s = Source::with("src", (Resource::from_values("a", vec![]), Resource::from_values("b", vec![]))).unwrap();
        let s = s.with_resources(&["b"]).unwrap();
        assert_eq!(s.selected_resources().map(Resource::name).collect::<Vec<_>>(), ["b"]);
        let err = s.with_resources(&["c"]).unwrap_err();
        assert_eq!(err.to_string(), "source `src` has no resource named `c`; it has: `a`, `b`");
    }

    #[test]
    fn a_failed_source_or_resource_keeps_its_error_until_it_runs() {
        let mut s = Source::failed("cfg", "the config of `cfg` is missing `url`").with_resources(&["anything"]).unwrap();
        assert_eq!(s.error().map(ToString::to_string).as_deref(), Some("the config of `cfg` is missing `url`"));
        assert!(s.resources().is_empty());
        assert!(s.take_error().is_some() && s.error().is_none());
        let mut hints = ResourceHints::new("feed");
        hints.table_name = Some("items".into());
        let mut r = Resource::failed(hints, "missing `token`");
        assert_eq!(r.hints().table(), "items", "the hints are kept");
        assert_eq!(r.take_items().err().map(|e| e.to_string()).as_deref(), Some("missing `token`"));
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let err = Source::with("src", vec![Resource::from_values("a", vec![]), Resource::from_values("a", vec![])]).unwrap_err();
        assert!(err.to_string().contains("two resources named `a`"));
    }

    #[test]
    fn a_returned_error_is_an_error_item_and_transformers_map_parent_items() {
        use ret::{RetPlainKind as _, RetResultKind as _};
        let failed: Result<Vec<i32>, std::io::Error> = Err(std::io::Error::other("HTTP 500"));
        assert!(matches!((&failed).__etl_ret().rows(failed), ret::Rows::Failed(e) if e.to_string() == "HTTP 500"));
        let plain = vec![1, 2];
        assert!(matches!((&plain).__etl_ret().rows(plain), ret::Rows::Rows(v) if v.len() == 2));

        let parent = Resource::from_data("ids", vec![1, 2, 3]);
        let mut t = Resource::transformer(ResourceHints::new("details"), parent, |v, _| {
            let id: i64 = item_as("details", v)?;
            Ok(Box::new((0..id).map(move |k| Ok(Value::Int(id * 10 + k)))) as Items)
        });
        assert_eq!(t.hints().data_from.as_deref(), Some("ids"));
        let out: Vec<Value> = t.take_items().unwrap().map(Result::unwrap).collect();
        assert_eq!(out, [10, 20, 21, 30, 31, 32].map(Value::Int));
        let bad = Resource::from_data("names", vec!["x"]);
        let mut t = Resource::transformer(ResourceHints::new("lookup"), bad, |v, _| {
            let id: i64 = item_as("lookup", v)?;
            Ok(Box::new(std::iter::once(Ok(Value::Int(id)))) as Items)
        });
        let err = t.take_items().unwrap().next().unwrap().unwrap_err().to_string();
        assert!(err.starts_with("transformer `lookup`: an item of its parent is not a `i64`"), "{err}");
    }

    #[test]
    fn parallelized_resources_hand_items_over_with_backpressure() {
        let produced = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = produced.clone();
        let r = Resource::new(ResourceHints::new("r"), move || {
            Ok(Box::new((0..100).map(move |i| {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(Value::Int(i))
            })) as Items)
        });
        let mut items = r.parallelized(4).take_items().unwrap();
        assert_eq!(items.next().unwrap().unwrap(), Value::Int(0));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(produced.load(std::sync::atomic::Ordering::SeqCst) <= 6, "the producer waits for the reader");
        assert_eq!(items.count(), 99);
    }

    #[test]
    fn items_dispatch_on_result() {
        let ok: Result<i32, std::io::Error> = Ok(3);
        assert_eq!((&ok).__etl_kind().into_value(ok).unwrap(), Value::Int(3));
        let err: Result<i32, std::io::Error> = Err(std::io::Error::other("boom"));
        assert_eq!((&err).__etl_kind().into_value(err).unwrap_err().to_string(), "boom");
        let plain = 5u8;
        assert_eq!((&plain).__etl_kind().into_value(plain).unwrap(), Value::Int(5));
    }
}


/// What a `#[etl::resource]` function may return: anything iterable whose iterator can move to
/// the thread that runs the pipeline.
#[diagnostic::on_unimplemented(
    message = "a resource function must return an iterator of rows, and `{Self}` is not one",
    label = "not an iterator of rows",
    note = "return a `Vec<T>`, an array, or any `IntoIterator` that is `Send + 'static`, whose items are `Serialize + Send + 'static` (or `Result<T, E>` of them)"
)]
pub trait ResourceReturn {
    /// The iterator.
    type Rows: Iterator + Send + 'static;
    /// Starts iterating.
    fn into_rows(self) -> Self::Rows;
}

impl<I> ResourceReturn for I
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
{
    type Rows = I::IntoIter;
    fn into_rows(self) -> I::IntoIter {
        self.into_iter()
    }
}

/// An item of a transformer's parent as the transformer's parameter type.
pub fn item_as<T: serde::de::DeserializeOwned>(transformer: &str, item: Value) -> Result<T, BoxError> {
    serde_json::from_value(item.to_json()).map_err(|e| -> BoxError {
        format!("transformer `{transformer}`: an item of its parent is not a `{}`: {e}", std::any::type_name::<T>()).into()
    })
}

/// Dispatch on what a resource function returned, by type at the call site (autoref): a
/// `Result` whose error becomes the resource's error, or the rows themselves. Used by generated
/// code, so that `-> Result<Vec<Row>, E>` never drops its error.
pub mod ret {
    use super::*;

    /// Chosen for `Result<R, E>`.
    pub struct RetResultTag;
    /// Chosen for anything else.
    pub struct RetPlainTag;

    /// Picks [`RetResultTag`].
    pub trait RetResultKind {
        /// The tag.
        fn __etl_ret(&self) -> RetResultTag {
            RetResultTag
        }
    }
    impl<R, E: Into<BoxError>> RetResultKind for Result<R, E> {}

    /// Picks [`RetPlainTag`].
    pub trait RetPlainKind {
        /// The tag.
        fn __etl_ret(&self) -> RetPlainTag {
            RetPlainTag
        }
    }
    impl<R> RetPlainKind for &R {}

    /// The rows, or the error the function returned.
    pub enum Rows<R> {
        /// What the function returned (a `ResourceReturn`).
        Rows(R),
        /// The function failed.
        Failed(BoxError),
    }

    impl RetResultTag {
        /// Rows of an `Ok`, the error of an `Err`.
        pub fn rows<R, E: Into<BoxError>>(self, ret: Result<R, E>) -> Rows<R> {
            match ret {
                Ok(r) => Rows::Rows(r),
                Err(e) => Rows::Failed(e.into()),
            }
        }
    }

    impl RetPlainTag {
        /// The rows.
        pub fn rows<R>(self, ret: R) -> Rows<R> {
            Rows::Rows(ret)
        }
    }

    /// The items of a resource whose function failed: its error.
    pub fn failed_items(error: BoxError) -> Items {
        Box::new(std::iter::once(Err(error)))
    }

    /// The typed items of a resource whose function failed: its error.
    pub fn failed_typed_items(error: BoxError) -> TypedItems {
        Box::new(std::iter::once(Err(error)))
    }
}

/// Boxes converted items (used by generated code).
pub fn boxed_items<I>(items: I) -> Items
where
    I: Iterator<Item = Result<Value, BoxError>> + Send + 'static,
{
    Box::new(items)
}

/// Boxes typed items (used by generated code).
pub fn boxed_typed_items<I>(items: I) -> TypedItems
where
    I: Iterator<Item = Result<Box<dyn TypedItem>, BoxError>> + Send + 'static,
{
    Box::new(items)
}
