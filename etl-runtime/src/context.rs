//! What an asset function receives: parameters injected by type (axum-style extractors).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use etl_core::naming::normalize_identifier;

use crate::asset::{AssetError, AssetKey, AssetSpec, Materialization, Materializations, MetadataValue, TableColumn};
use crate::history::{Event, EventKind, RunLog};
use etl_pipeline::pipeline::LoadInfo;
use crate::partition::{Partition, TimeWindow};
use crate::registry::{DltAssetsDef, Requirement};

/// User resources available to assets, by type (Dagster's `resources={...}`).
#[derive(Clone, Default)]
pub struct Resources {
    by_type: HashMap<TypeId, Registered>,
}

#[derive(Clone)]
struct Registered {
    value: Arc<dyn Any + Send + Sync>,
    name: &'static str,
    pool: fn(&dyn Any, &Path) -> Option<String>,
}

impl std::fmt::Debug for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_type.values().map(|r| r.name)).finish()
    }
}

impl Resources {
    /// No user resources (the loader, [`DltResource`], is always available).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a resource; assets take it as a `&T` parameter.
    pub fn with<T: ConfigurableResource>(mut self, resource: T) -> Self {
        fn pool<T: ConfigurableResource>(value: &dyn Any, working_dir: &Path) -> Option<String> {
            value.downcast_ref::<T>().and_then(|v| v.pool(working_dir))
        }
        let registered = Registered { value: Arc::new(resource), name: std::any::type_name::<T>(), pool: pool::<T> };
        self.by_type.insert(TypeId::of::<T>(), registered);
        self
    }

    /// A registered resource.
    pub fn get<T: ConfigurableResource>(&self) -> Option<&T> {
        self.by_type.get(&TypeId::of::<T>()).and_then(|r| r.value.downcast_ref::<T>())
    }

    /// Whether a requirement is met.
    pub fn satisfies(&self, req: &Requirement) -> bool {
        self.by_type.contains_key(&req.type_id)
    }

    /// The pool an asset that needs `req` must run in, if the resource names one.
    pub fn pool_of(&self, req: &Requirement, working_dir: &Path) -> Option<String> {
        self.by_type.get(&req.type_id).and_then(|r| (r.pool)(r.value.as_ref(), working_dir))
    }
}

/// Marks a type as a resource that assets can take as a `&T` parameter once it is registered
/// with [`Resources::with`].
pub trait ConfigurableResource: Any + Send + Sync {
    /// The pool assets using this resource run in: at most one of them at a time (e.g. the
    /// writer of one DuckDB file). Default: none.
    fn pool(&self, _working_dir: &Path) -> Option<String> {
        None
    }
}

/// The pool of a DuckDB file: every op that writes it runs alone in this pool (DuckDB allows one
/// writing process, and our pipeline lock one writer).
pub fn duckdb_pool(path: &Path, working_dir: &Path) -> String {
    let abs = if path.is_absolute() { path.to_owned() } else { working_dir.join(path) };
    let mut normal = PathBuf::new();
    for part in abs.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    format!("duckdb:{}", normal.display())
}

/// The context of one op execution (Dagster's `AssetExecutionContext`).
pub struct AssetExecutionContext {
    pub(crate) run_id: String,
    pub(crate) op: String,
    pub(crate) selected: Vec<AssetSpec>,
    pub(crate) working_dir: PathBuf,
    pub(crate) attempt: u32,
    pub(crate) log: Option<RunLog>,
    /// The op's progress bar, if the run shows bars.
    pub(crate) bar: Option<indicatif::ProgressBar>,
    /// The partition the run materializes.
    pub(crate) partition: Option<Partition>,
}

impl AssetExecutionContext {
    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The op (function) being executed.
    pub fn op_name(&self) -> &str {
        &self.op
    }

    /// The assets this execution must materialize (a subset of the op's assets).
    pub fn selected_assets(&self) -> &[AssetSpec] {
        &self.selected
    }

    /// Keys of the selected assets.
    pub fn selected_asset_keys(&self) -> Vec<AssetKey> {
        self.selected.iter().map(|s| s.key.clone()).collect()
    }

    /// The directory the run works in (DuckDB files are created here by default).
    pub fn working_dir(&self) -> &Path {
        &self.working_dir
    }

    /// The attempt (1 for the first, 2 for the first retry, ...).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether the run materializes a partition (one key or a range).
    pub fn has_partition_key(&self) -> bool {
        self.partition.is_some()
    }

    /// The partition key of the run (Dagster's `context.partition_key`). An error when the run
    /// is not partitioned, or materializes a range of several keys (use
    /// [`Self::partition_keys`] or [`Self::partition_time_window`]).
    pub fn partition_key(&self) -> Result<&str, AssetError> {
        match &self.partition {
            None => Err(AssetError::msg(format!("op `{}`: the run has no partition (pass `--partition KEY`)", self.op))),
            Some(p) => p.key().ok_or_else(|| {
                AssetError::msg(format!(
                    "op `{}`: the run materializes {} partitions ({}); use `partition_keys()` or `partition_time_window()`",
                    self.op,
                    p.keys().len(),
                    p.request()
                ))
            }),
        }
    }

    /// The run's partition keys, in order (empty when the run is not partitioned).
    pub fn partition_keys(&self) -> &[String] {
        self.partition.as_ref().map(Partition::keys).unwrap_or_default()
    }

    /// The time window the run's partitions span (time-window partitions).
    pub fn partition_time_window(&self) -> Result<TimeWindow, AssetError> {
        self.partition.as_ref().and_then(Partition::time_window).ok_or_else(|| {
            AssetError::msg(format!("op `{}`: the run has no time-window partition", self.op))
        })
    }

    /// The run's partition.
    pub fn partition(&self) -> Option<&Partition> {
        self.partition.as_ref()
    }

    /// The same context materializing `partition` (for unit tests of partitioned assets).
    pub fn with_partition(mut self, partition: Partition) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Logs a message attributed to this run and op, into the run history and `tracing`.
    pub fn log(&self, message: &str) {
        tracing::info!(op = %self.op, "{message}");
        if let Some(log) = &self.log {
            log.emit(
                Event::new(&self.run_id, EventKind::Log)
                    .op(&self.op)
                    .message(message)
                    .data(serde_json::json!({"level": "INFO"})),
            );
        }
    }

    /// A context for calling an asset function directly in a unit test: run id `test`, the
    /// given working directory, no run history.
    pub fn for_test(op: &str, selected: Vec<AssetSpec>, working_dir: impl Into<PathBuf>) -> Self {
        AssetExecutionContext {
            run_id: "test".into(),
            op: op.into(),
            selected,
            working_dir: working_dir.into(),
            attempt: 1,
            log: None,
            bar: None,
            partition: None,
        }
    }
}

/// Everything parameter resolution can draw from.
pub struct InvokeContext<'a> {
    /// The execution context.
    pub context: &'a AssetExecutionContext,
    /// The loader.
    pub dlt: &'a DltResource,
    /// User resources.
    pub resources: &'a Resources,
    /// The run config (`ops.<op>.config` is this op's).
    pub config: Option<&'a serde_json::Value>,
}

/// A type an asset function can take as a parameter. Implemented for `&AssetExecutionContext`,
/// `&DltResource` and `&T` for every registered [`ConfigurableResource`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be injected into an asset function",
    label = "not injectable",
    note = "asset parameters are resolved by type: use `&etl::AssetExecutionContext`, `&etl::DltResource`, `etl::Config<T>` (run config, `T: Deserialize`), or `&T` where `T: etl::ConfigurableResource` is registered with `etl::Resources::with`"
)]
pub trait AssetParam<'a>: Sized {
    /// Resolves the parameter for one execution.
    fn resolve(cx: &'a InvokeContext<'a>) -> Result<Self, AssetError>;
    /// The resource this parameter needs, checked before anything runs.
    fn requirement() -> Option<Requirement> {
        None
    }
    /// The run config this parameter takes, checked before anything runs.
    fn config_check() -> Option<crate::config::ConfigCheck> {
        None
    }
}

impl<'a> AssetParam<'a> for &'a AssetExecutionContext {
    fn resolve(cx: &'a InvokeContext<'a>) -> Result<Self, AssetError> {
        Ok(cx.context)
    }
}

impl<'a> AssetParam<'a> for &'a DltResource {
    fn resolve(cx: &'a InvokeContext<'a>) -> Result<Self, AssetError> {
        Ok(cx.dlt)
    }
}

impl<'a, T: ConfigurableResource> AssetParam<'a> for &'a T {
    fn resolve(cx: &'a InvokeContext<'a>) -> Result<Self, AssetError> {
        cx.resources.get::<T>().ok_or_else(|| {
            AssetError::msg(format!(
                "asset op `{}` needs the resource `{}`, which is not registered; register it with `etl::Resources::new().with(...)`",
                cx.context.op,
                std::any::type_name::<T>()
            ))
        })
    }
    fn requirement() -> Option<Requirement> {
        Some(Requirement { type_id: TypeId::of::<T>(), type_name: std::any::type_name::<T>() })
    }
}

/// What an asset function may return.
pub trait IntoAssetOutput {
    /// Converts into materializations.
    fn into_output(self) -> Materializations;
}

impl IntoAssetOutput for Materializations {
    fn into_output(self) -> Materializations {
        self
    }
}

impl IntoAssetOutput for Vec<Materialization> {
    fn into_output(self) -> Materializations {
        Ok(self)
    }
}

/// What a plain `#[etl::asset]` function may return: `()`, [`MaterializeResult`] (metadata),
/// or either inside a `Result` whose error converts into [`AssetError`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of an `#[etl::asset]` function",
    label = "return `()`, `etl::MaterializeResult`, or `Result<_, E>` of those",
    note = "the asset is materialized when the function returns; attach metadata with `etl::MaterializeResult::new().with(\"rows\", etl::MetadataValue::Int(n))`"
)]
pub trait IntoAssetResult {
    /// The materialization of `key`.
    fn into_result(self, key: &AssetKey) -> Result<Materialization, AssetError>;
}

/// Metadata a plain asset reports with its materialization (Dagster's `MaterializeResult`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaterializeResult {
    /// Entries, in order.
    pub metadata: Vec<(String, MetadataValue)>,
}

impl MaterializeResult {
    /// No metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    pub fn with(mut self, key: impl Into<String>, value: MetadataValue) -> Self {
        self.metadata.push((key.into(), value));
        self
    }
}

impl IntoAssetResult for () {
    fn into_result(self, key: &AssetKey) -> Result<Materialization, AssetError> {
        Ok(Materialization::new(key.clone()))
    }
}

impl IntoAssetResult for MaterializeResult {
    fn into_result(self, key: &AssetKey) -> Result<Materialization, AssetError> {
        Ok(Materialization { asset_key: key.clone(), metadata: self.metadata })
    }
}

impl<T: IntoAssetResult, E: Into<AssetError>> IntoAssetResult for Result<T, E> {
    fn into_result(self, key: &AssetKey) -> Result<Materialization, AssetError> {
        self.map_err(Into::into)?.into_result(key)
    }
}

/// Turns a plain asset's return value into its materialization (called by generated code).
pub fn plain_asset_output(context: &AssetExecutionContext, output: impl IntoAssetResult) -> Materializations {
    let key = context.selected.first().map(|s| s.key.clone()).unwrap_or_else(|| AssetKey::new(context.op.clone()));
    output.into_result(&key).map(|m| vec![m])
}

/// The loader resource (dagster-dlt's `DagsterDltResource`): runs the op's dlt source through its
/// pipeline, loading only the selected resources, and reports one materialization per asset.
///
/// The executor injects one per op, carrying the op's `#[etl::assets]` definition (its source and
/// pipeline); `DltResource::new()` carries none and can only report that.
#[derive(Clone, Default)]
pub struct DltResource {
    def: Option<&'static DltAssetsDef>,
    fetch_row_count: bool,
}

impl std::fmt::Debug for DltResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DltResource")
            .field("definition", &self.def.map(|d| d.name))
            .field("fetch_row_count", &self.fetch_row_count)
            .finish()
    }
}

impl DltResource {
    /// A loader without a definition (running it reports that the op is not a dlt multi-asset).
    pub fn new() -> Self {
        Self::default()
    }

    /// The loader of one `#[etl::assets]` definition.
    pub fn for_definition(def: &'static DltAssetsDef) -> Self {
        DltResource { def: Some(def), fetch_row_count: false }
    }

    /// The same loader, adding dagster-dlt's `dagster/row_count` to each materialization: the
    /// rows in the asset's table after the load (a `count(*)`; a table the run did not create
    /// counts 0). dagster-dlt's `dlt.run(context).fetch_row_count()`:
    /// `dlt.fetch_row_count().run(context)`.
    pub fn fetch_row_count(&self) -> DltResource {
        DltResource { fetch_row_count: true, ..self.clone() }
    }

    /// Runs the pipeline for the context's selected assets.
    pub fn run(&self, context: &AssetExecutionContext) -> Materializations {
        let def = self.def.ok_or_else(|| {
            AssetError::msg(format!("op `{}` is not a dlt multi-asset: `DltResource::run` needs `#[etl::assets(dlt_source = ..)]`", context.op))
        })?;
        let wanted: Vec<String> = context.selected.iter().filter_map(|s| s.dlt_resource.clone()).collect();
        let source = match (def.source_for, &context.partition) {
            (Some(source_for), Some(partition)) => source_for(partition),
            _ => (def.source)(),
        };
        let mut source = source.with_resources(&wanted)?;
        if let Some(window) = context.partition.as_ref().and_then(Partition::time_window) {
            let mapped = crate::partition::dlt::apply_window(&mut source, window).map_err(|e| AssetError::msg(format!("op `{}`: {e}", context.op)))?;
            for (resource, start, end) in &mapped.windowed {
                context.log(&format!("resource `{resource}` loads the partition's window [{start}, {end})"));
            }
            if !mapped.unwindowed.is_empty() && def.source_for.is_none() {
                context.log(&format!(
                    "warning: resources {:?} have no incremental cursor and the source does not take the partition (`dlt_source = |partition| ...`): they load the same data for every partition",
                    mapped.unwindowed
                ));
            }
        }
        let source_name = source.name().to_owned();
        let tables: HashMap<String, String> =
            source.resources().iter().map(|r| (r.name().to_owned(), normalize_identifier(r.hints().table()))).collect();
        let mut pipeline = (def.pipeline)().working_dir(context.working_dir());
        if let Some(bar) = context.bar.clone() {
            pipeline = pipeline.on_extracted(std::sync::Arc::new(move |pipeline: &str, resource: &str, items: u64| {
                bar.set_message(format!("{pipeline}: {resource}: {items} items extracted"));
            }));
        }
        context.log(&format!("running pipeline `{}` for resources {:?} of source `{source_name}`", pipeline.name(), wanted));
        let info = pipeline.run(source)?;
        let counts = if self.fetch_row_count {
            let wanted_tables = wanted.iter().filter_map(|r| tables.get(r).cloned()).collect();
            row_counts(&pipeline, context, wanted_tables)
        } else {
            HashMap::new()
        };
        Ok(context
            .selected
            .iter()
            .filter_map(|spec| {
                let resource = spec.dlt_resource.as_ref()?;
                let table = tables.get(resource)?;
                let m = materialization_for(spec.key.clone(), table, &info);
                Some(match counts.get(table) {
                    Some(n) => m.with("dagster/row_count", MetadataValue::Int(i64::try_from(*n).unwrap_or(i64::MAX))),
                    None => m,
                })
            })
            .collect())
    }
}

/// Rows per table after a load; a failed count is logged and leaves the key out (it never fails
/// the materialization, whose load committed).
fn row_counts(pipeline: &etl_pipeline::pipeline::Pipeline, context: &AssetExecutionContext, tables: Vec<String>) -> HashMap<String, u64> {
    #[cfg(any(feature = "duckdb", feature = "postgres"))]
    match pipeline.row_counts(&tables) {
        Ok(counts) => return counts.into_iter().collect(),
        Err(e) => context.log(&format!("dagster/row_count left out: cannot count rows of {tables:?}: {e}")),
    }
    #[cfg(not(any(feature = "duckdb", feature = "postgres")))]
    let _ = (pipeline, context, tables);
    HashMap::new()
}

/// dagster-dlt's metadata for one resource's table.
pub fn materialization_for(key: AssetKey, table: &str, info: &LoadInfo) -> Materialization {
    let mut m = Materialization::new(key);
    for child in info.schema.descendants(table) {
        m = m.with(child.name.clone(), MetadataValue::TableSchema(table_columns(&info.schema, &child.name)));
    }
    let ts = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
    // The real load jobs of the resource's tables (root and nested), as the loader recorded them.
    let own: Vec<String> = std::iter::once(table.to_owned()).chain(info.schema.descendants(table).into_iter().map(|t| t.name.clone())).collect();
    let jobs: Vec<serde_json::Value> = info
        .tables
        .iter()
        .filter(|t| own.contains(&t.table))
        .filter_map(|t| t.job.as_ref().map(|j| j.to_json(info.load_id.as_deref())))
        .collect();
    m = m
        .with("destination_type", MetadataValue::Text(info.destination_type.clone()))
        .with("destination_name", MetadataValue::Text(info.destination_name.clone()))
        .with("dataset_name", MetadataValue::Text(info.dataset_name.clone()))
        .with("first_run", MetadataValue::Bool(info.first_run))
        .with("started_at", MetadataValue::Text(ts(info.started_at)))
        .with("finished_at", MetadataValue::Text(ts(info.finished_at)))
        .with("jobs", MetadataValue::Json(serde_json::Value::Array(jobs)))
        .with("rows_loaded", MetadataValue::Int(info.rows(table) as i64))
        .with("dagster/column_schema", MetadataValue::TableSchema(table_columns(&info.schema, table)))
        .with("dagster/table_name", MetadataValue::Text(format!("{}.{}.{}", info.destination_name, info.schema_name, table)))
        .with("dagster/storage_kind", MetadataValue::Text(info.destination_name.clone()));
    m
}

fn table_columns(schema: &etl_core::Schema, table: &str) -> Vec<TableColumn> {
    let Some(t) = schema.table(table) else { return Vec::new() };
    t.complete_columns()
        .map(|c| {
            let mut other = Vec::new();
            for (flag, name) in [
                (c.primary_key, "primary_key"),
                (c.merge_key, "merge_key"),
                (c.row_key, "row_key"),
                (c.parent_key, "parent_key"),
                (c.root_key, "root_key"),
                (c.variant, "variant"),
            ] {
                if flag {
                    other.push(name.to_owned());
                }
            }
            TableColumn {
                name: c.name.clone(),
                data_type: c.data_type.map(|t| t.name().to_owned()).unwrap_or_default(),
                nullable: c.nullable,
                unique: c.unique,
                other,
            }
        })
        .collect()
}

#[cfg(test)]
mod dlt_resource_tests {
    use super::*;

    #[test]
    fn a_loader_without_a_definition_says_so_and_fetch_row_count_keeps_the_definition() {
        let context = AssetExecutionContext::for_test("plain_op", Vec::new(), std::env::temp_dir());
        let err = DltResource::new().run(&context).unwrap_err().to_string();
        assert!(err.contains("op `plain_op` is not a dlt multi-asset"), "{err}");
        let counted = DltResource::new().fetch_row_count();
        assert!(counted.fetch_row_count && counted.def.is_none());
    }
}
