//! Executing a selection: the plan's steps run on tokio, in dependency order, in parallel up to
//! a limit, each op alone in its pools, with retries; every event goes to the run history.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;

use crate::storage::pools::{self, Pools};
use crate::storage::run_limit::{self, RunSlots};

use crate::asset::{AssetError, AssetKey, Materialization, MetadataValue};
use crate::check::{CheckEvaluation, CheckSpec};
use crate::partition::{status::PartitionStatus, Partition, PartitionRequest};
use crate::context::{duckdb_pool, AssetExecutionContext, DltResource, InvokeContext, Resources};
use crate::graph::{AssetGraph, GraphError, Step};
use crate::history::{metadata_json, Event, EventKind, HistoryError, RunLog, RunRecord, RunStatus, RunStore};
use crate::registry::{OpRef, Registry};

/// How an asset ended in a run.
#[derive(Debug)]
pub enum AssetOutcome {
    /// Materialized.
    Materialized(Materialization),
    /// Its op failed (after its retries).
    Failed {
        /// The asset.
        key: AssetKey,
        /// Why (shared by every asset of the failed op).
        error: String,
    },
    /// Not run, because an upstream asset failed or was skipped.
    Skipped {
        /// The asset.
        key: AssetKey,
        /// The upstream assets that failed.
        because: Vec<AssetKey>,
    },
}

impl AssetOutcome {
    /// The asset.
    pub fn key(&self) -> &AssetKey {
        match self {
            AssetOutcome::Materialized(m) => &m.asset_key,
            AssetOutcome::Failed { key, .. } | AssetOutcome::Skipped { key, .. } => key,
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct RunResult {
    /// Run id.
    pub run_id: String,
    /// Per asset, in plan order.
    pub outcomes: Vec<AssetOutcome>,
    /// Wall time.
    pub elapsed: Duration,
    /// Attempts per op (1 without retries).
    pub attempts: BTreeMap<String, u32>,
    /// The evaluations of the checks of the materialized assets.
    pub checks: Vec<CheckEvaluation>,
}

impl RunResult {
    /// Whether every asset materialized and no blocking check failed.
    pub fn success(&self) -> bool {
        self.outcomes.iter().all(|o| matches!(o, AssetOutcome::Materialized(_))) && !self.checks.iter().any(CheckEvaluation::blocks)
    }

    /// The evaluation of check `check` of asset `asset`.
    pub fn check(&self, asset: &str, check: &str) -> Option<&CheckEvaluation> {
        self.checks.iter().find(|c| c.asset == asset && c.check == check)
    }

    /// The materializations.
    pub fn materializations(&self) -> Vec<&Materialization> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                AssetOutcome::Materialized(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// The materialization of one asset.
    pub fn materialization(&self, key: &str) -> Option<&Materialization> {
        let key = AssetKey::from_path(key);
        self.materializations().into_iter().find(|m| m.asset_key == key)
    }

    /// The failures, as `(asset, error)`.
    pub fn failures(&self) -> Vec<(&AssetKey, &str)> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                AssetOutcome::Failed { key, error } => Some((key, error.as_str())),
                _ => None,
            })
            .collect()
    }

    /// The skipped assets.
    pub fn skipped(&self) -> Vec<&AssetKey> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                AssetOutcome::Skipped { key, .. } => Some(key),
                _ => None,
            })
            .collect()
    }

    /// The outcome of one asset.
    pub fn outcome(&self, key: &str) -> Option<&AssetOutcome> {
        let key = AssetKey::from_path(key);
        self.outcomes.iter().find(|o| o.key() == &key)
    }
}

/// Options of a run.
#[derive(Clone)]
pub struct RunOptions {
    /// Working directory (DuckDB files go here by default).
    pub working_dir: PathBuf,
    /// User resources.
    pub resources: Resources,
    /// The run history's home (the embedded files there); `None`: see [`RunOptions::store`].
    pub home: Option<PathBuf>,
    /// The instance storage, opened; `None`: see [`RunOptions::store`].
    pub storage: Option<RunStore>,
    /// Steps running at once; 0: the number of CPUs.
    pub max_concurrency: usize,
    /// The run this one re-executes.
    pub parent_run_id: Option<String>,
    /// The schedule that starts it.
    pub schedule: Option<String>,
    /// The run's id; `None`: a new one.
    pub run_id: Option<String>,
    /// Progress bars (the CLI sets them on a terminal).
    pub bars: Option<crate::progress::RunBars>,
    /// The run's tags (`--tag key=value`, a schedule's, a retry's).
    pub tags: BTreeMap<String, String>,
    /// The caller holds the run's slots of `max_concurrent_runs` and its tag limits (a worker
    /// takes them before it claims the run for good); the run does not take them again.
    pub run_limits_held: bool,
    /// The partition to materialize (`--partition K`, `--partition-range A...B`).
    pub partition: Option<PartitionRequest>,
    /// The run config (`{"ops": {"<op>": {"config": {...}}}}`).
    pub config: Option<Json>,
}

impl RunOptions {
    /// Defaults for a working directory.
    pub fn new(working_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            working_dir: working_dir.into(),
            resources: Resources::new(),
            home: None,
            storage: None,
            max_concurrency: 0,
            parent_run_id: None,
            schedule: None,
            run_id: None,
            bars: None,
            tags: BTreeMap::new(),
            run_limits_held: false,
            partition: None,
            config: None,
        }
    }

    /// Sets the user resources.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// The run history store: `storage` if set, else the files at `home` if set, else as
    /// [`crate::storage::resolve`] chooses (`$ETL_STORAGE`, the config file, the files).
    pub fn store(&self) -> Result<RunStore, HistoryError> {
        match (&self.storage, &self.home) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(home)) => Ok(RunStore::at(home.clone())),
            (None, None) => crate::storage::resolve(&self.working_dir, None),
        }
    }

    /// The home directory: `home` if set, else `$ETL_HOME` or `<working_dir>/.etl` (schedule
    /// ticks live there whatever the storage).
    pub fn home_dir(&self) -> PathBuf {
        self.home.clone().unwrap_or_else(|| RunStore::home_for(&self.working_dir))
    }

    fn concurrency(&self) -> usize {
        if self.max_concurrency > 0 {
            self.max_concurrency
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        }
    }
}

/// A new run id: time-ordered, with a random suffix.
pub fn new_run_id() -> String {
    let suffix: String = etl_core::normalize::IdGenerator::new()
        .root_id()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("{}-{suffix}", Utc::now().format("%Y%m%dT%H%M%S%.3f"))
}

/// Materializes `selection` of the definitions. Graph problems (duplicate keys, unknown deps,
/// cycles, unknown selection, missing resources), a wrong partition and a wrong run config are
/// reported before anything runs.
pub fn materialize(registry: &Registry, selection: &str, options: &RunOptions) -> Result<RunResult, GraphError> {
    // Sources are built (config read) as the run will build them: in its directory.
    let graph = etl_core::resource::with_run_dir(&options.working_dir, || AssetGraph::build(registry))?;
    let keys = graph.select(selection)?;
    let plan = prepare(registry, graph.plan(&keys)?, options)?;
    Ok(execute(plan, selection, options))
}

/// Re-executes run `run_id` from its failure: every asset it selected but did not materialize,
/// in a new run whose parent is `run_id`, with its partition and run config.
pub fn materialize_from_failure(registry: &Registry, run_id: &str, options: &RunOptions) -> Result<RunResult, GraphError> {
    let store = options.store().map_err(|e| GraphError::one(e.to_string()))?;
    let record = store.record(run_id).map_err(|e| GraphError::one(e.to_string()))?;
    let events = store.events(run_id).map_err(|e| GraphError::one(e.to_string()))?;
    if record.effective_status() == RunStatus::Started {
        return Err(GraphError::one(format!("run `{run_id}` is still going; re-execute it once it has ended")));
    }
    // Materialized, unless a blocking check of it failed: then it runs again, with its checks,
    // before anything downstream does.
    let blocked: BTreeSet<String> = events
        .iter()
        .filter(|e| e.kind == EventKind::AssetCheckEvaluation)
        .filter_map(|e| serde_json::from_value::<CheckEvaluation>(e.data.clone()).ok())
        .filter(CheckEvaluation::blocks)
        .map(|c| c.asset)
        .collect();
    let done: BTreeSet<String> = events
        .iter()
        .filter(|e| e.kind == EventKind::Materialization)
        .filter_map(|e| e.asset.clone())
        .filter(|a| !blocked.contains(a))
        .collect();
    let graph = etl_core::resource::with_run_dir(&options.working_dir, || AssetGraph::build(registry))?;
    let mut todo = Vec::new();
    for key in record.assets.iter().filter(|k| !done.contains(*k)) {
        let key = AssetKey::from_path(key);
        if graph.node(&key).is_none() {
            return Err(GraphError::one(format!("run `{run_id}` selected `{key}`, which this binary no longer defines")));
        }
        todo.push(key);
    }
    if todo.is_empty() {
        return Err(GraphError::one(format!("run `{run_id}` materialized every asset it selected; nothing to re-execute")));
    }
    let selection = todo.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let mut options = options.clone();
    options.parent_run_id = Some(run_id.to_owned());
    if options.partition.is_none() {
        options.partition = record.partition.as_deref().map(PartitionRequest::parse).transpose().map_err(|e| GraphError::one(e.to_string()))?;
    }
    if options.config.is_none() {
        options.config = record.config.clone();
    }
    let plan = prepare(registry, graph.plan(&todo)?, &options)?;
    Ok(execute(plan, &selection, &options))
}

/// A run ready to execute: its steps in order, the checks of its assets, its partition.
pub struct Plan {
    /// The steps, in dependency order.
    pub steps: Vec<Step>,
    /// The checks of the selected assets, run after them.
    pub checks: Vec<CheckSpec>,
    /// The partition.
    pub partition: Option<Partition>,
}

impl Plan {
    /// A plan of steps alone (no checks, no partition).
    pub fn of(steps: Vec<Step>) -> Self {
        Plan { steps, checks: Vec::new(), partition: None }
    }
}

/// Checks what a run of `steps` needs before it starts (resources, partition, run config) and
/// gathers their checks.
pub fn prepare(registry: &Registry, steps: Vec<Step>, options: &RunOptions) -> Result<Plan, GraphError> {
    let checks: Vec<CheckSpec> = checks_of(registry, &steps).cloned().collect();
    check_resources(&steps, &checks, &options.resources)?;
    let partition = check_run(registry, &steps, options.partition.as_ref(), options.config.as_ref())?;
    Ok(Plan { steps, checks, partition })
}

/// The checks of the assets of `steps`.
fn checks_of<'a>(registry: &'a Registry, steps: &'a [Step]) -> impl Iterator<Item = &'a CheckSpec> + 'a {
    registry.checks.iter().filter(|c| steps.iter().flat_map(|s| &s.assets).any(|s| s.key == c.asset))
}

/// Checks a run's partition against its assets' partitions, and its run config against what
/// its ops take; returns the partition resolved.
pub fn check_run(registry: &Registry, steps: &[Step], partition: Option<&PartitionRequest>, config: Option<&Json>) -> Result<Option<Partition>, GraphError> {
    let specs = steps.iter().flat_map(|s| s.assets.iter());
    let partition = crate::partition::for_run(specs.map(|s| (s.key.to_user_string(), s.partitions.as_ref())), partition, Utc::now())
        .map_err(GraphError::one)?
        .map(|(_, p)| p);
    let checks: Vec<&CheckSpec> = checks_of(registry, steps).collect();
    check_config(steps, &checks, config)?;
    Ok(partition)
}

/// Every op's (and asset check's) run config deserializes into what its parameters take;
/// problems name the op, the type and the field.
fn check_config(steps: &[Step], checks: &[&CheckSpec], config: Option<&Json>) -> Result<(), GraphError> {
    let ops: Vec<&str> = steps.iter().map(|s| s.op.name()).chain(checks.iter().map(|c| c.name.as_str())).collect();
    if let Some(config) = config {
        crate::config::check_shape(config, &ops).map_err(GraphError::one)?;
    }
    let takes = steps
        .iter()
        .flat_map(|s| s.op.configs().into_iter().map(move |c| (s.op.name(), s.op.location(), c)))
        .chain(checks.iter().filter_map(|c| match &c.kind {
            crate::check::CheckKind::Function(def) => Some((def.configs)().into_iter().flatten().map(move |k| (def.name, def.location, k))),
            crate::check::CheckKind::Builtin(_) => None,
        }).flatten());
    let problems: Vec<String> = takes
        .filter_map(|(op, location, check)| {
            let value = crate::config::op_config(config, op);
            (check.check)(&value).err().map(|e| format!("op `{op}` ({location}): config `{}`: {e}", check.type_name))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(GraphError { problems })
    }
}

/// Every resource the steps and the checks of their assets take is registered.
fn check_resources(steps: &[Step], checks: &[CheckSpec], resources: &Resources) -> Result<(), GraphError> {
    let register = "which is not registered; register it with `etl::Resources::new().with(...)`";
    let ops = steps
        .iter()
        .flat_map(|s| s.op.requirements().into_iter().map(move |r| (s.op, r)))
        .filter(|(_, req)| !resources.satisfies(req))
        .map(|(op, req)| format!("op `{}` ({}) needs resource `{}`, {register}", op.name(), op.location(), req.type_name));
    let of_checks = checks
        .iter()
        .flat_map(|c| c.requirements().into_iter().map(move |r| (c, r)))
        .filter(|(_, req)| !resources.satisfies(req))
        .map(|(c, req)| {
            let at = c.location.map(|l| format!(" ({l})")).unwrap_or_default();
            format!("check `{}` of asset `{}`{at} needs resource `{}`, {register}", c.name, c.asset.to_user_string(), req.type_name)
        });
    let problems: Vec<String> = ops.chain(of_checks).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(GraphError { problems })
    }
}

/// The pools a step runs in: for a dlt op its pipeline (`pipeline:<name>`: one run of a dlt
/// pipeline at a time, as its state is one) and its DuckDB file (a server takes concurrent
/// writers itself), the pools of the resources it takes and of those its assets' checks take
/// (the checks run right after it, under the same permits), and its declared pool. Sorted, so
/// permits are always taken in the same order.
fn pools(step: &Step, checks: &[CheckSpec], options: &RunOptions) -> Vec<String> {
    let mut out = BTreeSet::new();
    if let OpRef::Dlt(def) = step.op {
        if let Ok(pipeline) = std::panic::catch_unwind(def.pipeline) {
            out.insert(format!("pipeline:{}", pipeline.name()));
            if let Ok(etl_pipeline::destination::Resolved::DuckDb { file }) = pipeline.working_dir(&options.working_dir).resolve_destination() {
                out.insert(duckdb_pool(&file, &options.working_dir));
            }
        }
    }
    let check_requirements = checks.iter().filter(|c| step.assets.iter().any(|a| a.key == c.asset)).flat_map(CheckSpec::requirements);
    for req in step.op.requirements().into_iter().chain(check_requirements) {
        out.extend(options.resources.pool_of(&req, &options.working_dir));
    }
    out.extend(step.op.pool().map(str::to_owned));
    out.into_iter().collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Done,
}

struct StepOutcome {
    index: usize,
    attempts: u32,
    result: Result<Vec<Materialization>, AssetError>,
    /// The evaluations of the checks of its assets.
    checks: Vec<CheckEvaluation>,
}

/// Runs a prepared plan (see [`prepare`]) as one run.
pub fn execute(plan: Plan, selection: &str, options: &RunOptions) -> RunResult {
    let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
    let started = Instant::now();
    let steps = &plan.steps;
    let assets: Vec<String> = steps.iter().flat_map(|s| s.assets.iter().map(|a| a.key.to_user_string())).collect();
    let partition_text = plan.partition.as_ref().map(|p| p.request().to_string());
    let mut record = RunRecord::new(&run_id, selection, assets.clone());
    record.parent_run_id = options.parent_run_id.clone();
    record.schedule = options.schedule.clone();
    record.tags = options.tags.clone();
    record.partition = partition_text.clone();
    record.config = options.config.clone();
    let store = options.store();
    let log = match store.as_ref().map_err(|e| e.to_string()).and_then(|store| store.start(record).map_err(|e| e.to_string())) {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("warning: this run is not recorded, and its pools hold in this process only: {e}");
            None
        }
    };
    let emit = |event: Event| {
        if let Some(l) = &log {
            l.emit(event);
        }
    };
    // Spans at ERROR level so that every enabled log line shows its run and op.
    let span = tracing::error_span!("run", run_id = %run_id);
    let step_pools: Vec<Vec<String>> = steps.iter().map(|s| pools(s, &plan.checks, options)).collect();
    let steps_json: Vec<_> = steps
        .iter()
        .zip(&step_pools)
        .map(|(s, pools)| json!({"op": s.op.name(), "assets": s.assets.iter().map(|a| a.key.to_user_string()).collect::<Vec<_>>(), "pools": pools}))
        .collect();
    emit(Event::new(&run_id, EventKind::RunStart).message(format!("run started: {selection}")).data(json!({
        "selection": selection, "assets": assets, "steps": steps_json, "parent_run_id": options.parent_run_id, "schedule": options.schedule,
        "partition": partition_text, "config": options.config,
    })));
    span.in_scope(|| tracing::info!(steps = steps.len(), "run started"));

    let shared_store = log.as_ref().and(store.ok());
    let run_pools = open_pools(&step_pools, options, shared_store.as_ref());
    let run_slots = open_run_slots(options, shared_store.as_ref());
    let plan = Arc::new(plan);
    let outcomes = {
        let plan = plan.clone();
        let (run_id, options, log, span) = (run_id.clone(), options.clone(), log.clone(), span.clone());
        // A dedicated thread owns the runtime, so runs may be started from async code too.
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .thread_name("etl-run")
                        .enable_time()
                        .build()
                        .expect("tokio runtime");
                    runtime.block_on(run_steps(plan, step_pools, run_pools, run_slots, run_id, options, log, span))
                })
                .join()
                .expect("the run's scheduler does not panic")
        })
    };

    if let Some(bars) = &options.bars {
        bars.done();
    }
    let mut attempts = BTreeMap::new();
    let mut results: Vec<AssetOutcome> = Vec::new();
    let mut checks: Vec<CheckEvaluation> = Vec::new();
    for (step, outcome) in plan.steps.iter().zip(outcomes) {
        match outcome {
            Finished::Ran(o) => {
                attempts.insert(step.op.name().to_owned(), o.attempts);
                checks.extend(o.checks);
                match o.result {
                    Ok(mats) => {
                        for spec in &step.assets {
                            match mats.iter().find(|m| m.asset_key == spec.key) {
                                Some(m) => results.push(AssetOutcome::Materialized(m.clone())),
                                None => {
                                    let error = format!("op `{}` returned no materialization for `{}`", step.op.name(), spec.key);
                                    emit(Event::new(&run_id, EventKind::StepFailure).op(step.op.name()).asset(&spec.key).message(error.clone()));
                                    results.push(AssetOutcome::Failed { key: spec.key.clone(), error });
                                }
                            }
                        }
                    }
                    Err(e) => {
                        for spec in &step.assets {
                            results.push(AssetOutcome::Failed { key: spec.key.clone(), error: e.to_string() });
                        }
                    }
                }
            }
            Finished::Skipped(because) => {
                for spec in &step.assets {
                    results.push(AssetOutcome::Skipped { key: spec.key.clone(), because: because.clone() });
                }
            }
        }
    }
    if let (Some(partition), Some(log)) = (&plan.partition, &log) {
        record_partitions(log.store(), &plan.steps, &results, partition, &run_id);
    }
    let ok = results.iter().filter(|o| matches!(o, AssetOutcome::Materialized(_))).count();
    let blocked = checks.iter().filter(|c| c.blocks()).count();
    let status = if ok == results.len() && blocked == 0 { RunStatus::Success } else { RunStatus::Failure };
    let elapsed = started.elapsed();
    emit(Event::new(&run_id, EventKind::RunEnd).message(format!("run {}", status.to_string().to_lowercase())).data(json!({
        "status": status, "materialized": ok, "failed": results.iter().filter(|o| matches!(o, AssetOutcome::Failed { .. })).count(),
        "skipped": results.iter().filter(|o| matches!(o, AssetOutcome::Skipped { .. })).count(), "elapsed_ms": elapsed.as_millis() as u64,
        "failed_checks": checks.iter().filter(|c| !c.passed).count(),
    })));
    span.in_scope(|| tracing::info!(%status, "run ended"));
    if let Some(l) = &log {
        if let Err(e) = l.finish(status) {
            eprintln!("warning: {e}");
        }
    }
    RunResult { run_id, outcomes: results, elapsed, attempts, checks }
}

/// Stores the partition status of each partitioned asset of the run: materialized, or failed
/// (skipped assets stay as they were).
fn record_partitions(store: &RunStore, steps: &[Step], results: &[AssetOutcome], partition: &Partition, run_id: &str) {
    let queue = match store.queue() {
        Ok(q) => q,
        Err(e) => return eprintln!("warning: cannot record the partitions' status: {e}"),
    };
    let partitioned: BTreeSet<&AssetKey> = steps.iter().flat_map(|s| &s.assets).filter(|a| a.partitions.is_some()).map(|a| &a.key).collect();
    for outcome in results.iter().filter(|o| partitioned.contains(o.key())) {
        let status = match outcome {
            AssetOutcome::Materialized(_) => PartitionStatus::Materialized,
            AssetOutcome::Failed { .. } => PartitionStatus::Failed,
            AssetOutcome::Skipped { .. } => continue,
        };
        if let Err(e) = crate::partition::status::record(&*queue, outcome.key(), partition.keys(), status, run_id) {
            eprintln!("warning: cannot record the status of `{}`'s partitions: {e}", outcome.key());
        }
    }
}

enum Finished {
    Ran(StepOutcome),
    Skipped(Vec<AssetKey>),
}

/// The run's pools with their limits (`[pools]` of the config), shared through the instance
/// storage with every process on it (in this process only without a storage).
fn open_pools(step_pools: &[Vec<String>], options: &RunOptions, store: Option<&RunStore>) -> Result<Pools, HistoryError> {
    let names: BTreeSet<String> = step_pools.iter().flatten().cloned().collect();
    if names.is_empty() {
        return Pools::new(names, |_| Ok(1), None);
    }
    let config = etl_config::Config::load_from(&options.working_dir).map_err(|source| HistoryError::PoolConfig {
        pool: names.iter().next().cloned().unwrap_or_default(),
        source,
    })?;
    let shared = store.map(RunStore::pool_slots).transpose()?;
    Pools::new(names, |pool| pools::limit_of(&config, pool), shared)
}

/// The run's slots of `[instance] max_concurrent_runs` and `tag_concurrency_limits`, shared
/// like the pools; `None`: the run is not limited.
fn open_run_slots(options: &RunOptions, store: Option<&RunStore>) -> Result<Option<RunSlots>, HistoryError> {
    if options.run_limits_held {
        return Ok(None);
    }
    let config = etl_config::Config::load_from(&options.working_dir).map_err(HistoryError::RunLimitConfig)?;
    let pools = run_limit::run_pools(run_limit::max_concurrent_runs(&config)?, &run_limit::tag_limits(&config)?, &options.tags);
    if pools.is_empty() {
        return Ok(None);
    }
    let shared = store.map(RunStore::pool_slots).transpose()?;
    RunSlots::new(pools, shared)
}

#[allow(clippy::too_many_arguments)]
async fn run_steps(
    plan: Arc<Plan>,
    step_pools: Vec<Vec<String>>,
    run_pools: Result<Pools, HistoryError>,
    run_slots: Result<Option<RunSlots>, HistoryError>,
    run_id: String,
    options: RunOptions,
    log: Option<RunLog>,
    span: tracing::Span,
) -> Vec<Finished> {
    let steps = &plan.steps;
    let n = steps.len();
    let global = Arc::new(Semaphore::new(options.concurrency()));
    let fail_all = |error: String| -> Vec<Finished> {
        span.in_scope(|| tracing::error!("{error}"));
        (0..n).map(|index| Finished::Ran(StepOutcome { index, attempts: 0, result: Err(AssetError::msg(error.clone())), checks: Vec::new() })).collect()
    };
    // The run's slots first (`max_concurrent_runs`, tag limits), held until every step is done.
    let _run_slot = match run_slots.map(|slots| slots.map(Arc::new)) {
        Ok(None) => None,
        Ok(Some(slots)) => {
            let waiting = |limits: &[(String, u32)]| {
                let said: Vec<String> = limits
                    .iter()
                    .map(|(pool, n)| if pool == run_limit::RUN_POOL { format!("at most {n} run(s) at once (`[instance] max_concurrent_runs`)") } else { format!("at most {n} run(s) in `{pool}` (`[instance] tag_concurrency_limits`)") })
                    .collect();
                span.in_scope(|| tracing::warn!("waiting for a run slot: {}", said.join(", ")))
            };
            match slots.hold(waiting).await {
                Ok(permits) => Some((slots, permits)),
                Err(e) => return fail_all(format!("cannot take a run slot: {e}")),
            }
        }
        Err(e) => return fail_all(format!("cannot take a run slot: {e}")),
    };
    let run_pools = match run_pools {
        Ok(p) => Arc::new(p),
        Err(e) => return fail_all(format!("cannot open the run's pools: {e}")),
    };
    let mut state = vec![State::Pending; n];
    let mut finished: Vec<Option<Finished>> = (0..n).map(|_| None).collect();
    // Assets that did not materialize (failed or skipped) or failed a blocking check, for skip
    // decisions, with the check that blocked.
    let mut missing: BTreeMap<AssetKey, Option<String>> = BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let options = Arc::new(options);
    loop {
        for i in 0..n {
            if state[i] != State::Pending || !steps[i].upstream.iter().all(|&j| state[j] == State::Done) {
                continue;
            }
            let because: Vec<AssetKey> =
                steps[i].assets.iter().flat_map(|a| a.deps.iter()).filter(|d| missing.contains_key(*d)).cloned().collect::<BTreeSet<_>>().into_iter().collect();
            if !because.is_empty() {
                state[i] = State::Done;
                let names: Vec<String> = because
                    .iter()
                    .map(|k| match missing.get(k).cloned().flatten() {
                        Some(check) => format!("`{k}` failed its blocking check `{check}`"),
                        None => format!("`{k}` did not materialize"),
                    })
                    .collect();
                for spec in &steps[i].assets {
                    missing.insert(spec.key.clone(), None);
                    let message = format!("skipped: upstream {}", names.join(", "));
                    span.in_scope(|| tracing::warn!(asset = %spec.key, "{message}"));
                    if let Some(l) = &log {
                        l.emit(Event::new(&run_id, EventKind::Skipped).op(steps[i].op.name()).asset(&spec.key).message(message).data(json!({
                            "because": because.iter().map(AssetKey::to_user_string).collect::<Vec<_>>(),
                        })));
                    }
                }
                finished[i] = Some(Finished::Skipped(because));
                continue;
            }
            state[i] = State::Running;
            let pools = (run_pools.clone(), step_pools[i].clone());
            let (plan, global, options, log, run_id, span) =
                (plan.clone(), global.clone(), options.clone(), log.clone(), run_id.clone(), span.clone());
            tasks.spawn(async move { run_step(i, plan, global, pools, options, log, run_id, span).await });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let outcome = joined.expect("steps catch their panics");
        let i = outcome.index;
        state[i] = State::Done;
        match &outcome.result {
            Ok(mats) => {
                for spec in &steps[i].assets {
                    if !mats.iter().any(|m| m.asset_key == spec.key) {
                        missing.insert(spec.key.clone(), None);
                    }
                }
            }
            Err(_) => missing.extend(steps[i].assets.iter().map(|a| (a.key.clone(), None))),
        }
        for check in outcome.checks.iter().filter(|c| c.blocks()) {
            missing.insert(AssetKey::from_path(&check.asset), Some(check.check.clone()));
        }
        finished[i] = Some(Finished::Ran(outcome));
    }
    finished.into_iter().map(|f| f.expect("every step finishes")).collect()
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    index: usize,
    plan: Arc<Plan>,
    global: Arc<Semaphore>,
    (pools, names): (Arc<Pools>, Vec<String>),
    options: Arc<RunOptions>,
    log: Option<RunLog>,
    run_id: String,
    span: tracing::Span,
) -> StepOutcome {
    let step = &plan.steps[index];
    let op = step.op;
    let policy = op.retry();
    let keys: Vec<String> = step.assets.iter().map(|a| a.key.to_user_string()).collect();
    let emit = |event: Event| {
        if let Some(l) = &log {
            l.emit(event);
        }
    };
    let mut attempt = 1;
    loop {
        // Pools first (sorted: no deadlock), then a slot: a step waiting for its pool holds no
        // slot. A pool is held across processes when the run has a storage.
        let permits = match pools.acquire(&names).await {
            Ok(p) => p,
            Err(e) => {
                let error = AssetError::msg(format!("op `{}` cannot take its pools: {e}", op.name()));
                emit(Event::new(&run_id, EventKind::StepFailure).op(op.name()).message(format!("op `{}` failed: {error}", op.name())).data(json!({
                    "attempt": attempt, "error": error.message(), "chain": error.chain(), "elapsed_ms": 0,
                })));
                return StepOutcome { index, attempts: attempt, result: Err(error), checks: Vec::new() };
            }
        };
        let slot = global.clone().acquire_owned().await.expect("semaphores are never closed");
        emit(Event::new(&run_id, EventKind::StepStart).op(op.name()).message(format!("op `{}` started (attempt {attempt})", op.name())).data(json!({
            "attempt": attempt, "assets": keys,
        })));
        let started = Instant::now();
        let bar = options.bars.as_ref().map(|b| b.start(op.name(), attempt));
        let result = {
            let (plan, options, log, run_id, span, bar) = (plan.clone(), options.clone(), log.clone(), run_id.clone(), span.clone(), bar.clone());
            tokio::task::spawn_blocking(move || invoke(&plan.steps[index], plan.partition.as_ref(), &options, log, &run_id, attempt, &span, bar))
            .await
            .unwrap_or_else(|e| Err(AssetError::msg(format!("op `{}` could not run: {e}", op.name()))))
        };
        if let (Some(bar), Some(bars)) = (bar, &options.bars) {
            bars.finish(&bar, op.name(), attempt, result.as_ref().err());
        }
        drop(slot);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(mats) => {
                let mats = with_partition(mats, step, plan.partition.as_ref());
                for m in &mats {
                    emit(Event::new(&run_id, EventKind::Materialization).op(op.name()).asset(&m.asset_key).data(metadata_json(m)));
                }
                emit(Event::new(&run_id, EventKind::StepSuccess).op(op.name()).message(format!("op `{}` succeeded", op.name())).data(json!({
                    "attempt": attempt, "elapsed_ms": elapsed_ms,
                })));
                let checks = {
                    let (plan, options, log, run_id, span, mats) = (plan.clone(), options.clone(), log.clone(), run_id.clone(), span.clone(), mats.clone());
                    tokio::task::spawn_blocking(move || crate::check::run::after_step(&plan, index, &mats, &options, log.as_ref(), &run_id, &span))
                        .await
                        .unwrap_or_default()
                };
                // The checks read what the step wrote: its pools are held until they are done.
                drop(permits);
                return StepOutcome { index, attempts: attempt, result: Ok(mats), checks };
            }
            Err(error) => {
                drop(permits);
                span.in_scope(|| tracing::error!(op = op.name(), attempt, "op failed: {error}"));
                emit(Event::new(&run_id, EventKind::StepFailure).op(op.name()).message(format!("op `{}` failed: {error}", op.name())).data(json!({
                    "attempt": attempt, "error": error.message(), "chain": error.chain(), "elapsed_ms": elapsed_ms,
                })));
                if attempt > policy.max_retries {
                    return StepOutcome { index, attempts: attempt, result: Err(error), checks: Vec::new() };
                }
                let delay = policy.delay_before(attempt, crate::retry::random_unit());
                emit(Event::new(&run_id, EventKind::StepRetry).op(op.name()).message(format!(
                    "op `{}` will be retried in {} ms (retry {attempt} of {})",
                    op.name(),
                    delay.as_millis(),
                    policy.max_retries
                )).data(json!({"attempt": attempt + 1, "delay_ms": delay.as_millis() as u64})));
                span.in_scope(|| tracing::warn!(op = op.name(), retry = attempt, delay_ms = delay.as_millis() as u64, "retrying"));
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

/// The materializations of a partitioned run's partitioned assets carry their partition
/// (`partition` metadata: `K` or `A...B`).
fn with_partition(mats: Vec<Materialization>, step: &Step, partition: Option<&Partition>) -> Vec<Materialization> {
    let Some(partition) = partition else { return mats };
    let text = partition.request().to_string();
    mats.into_iter()
        .map(|m| {
            let partitioned = step.assets.iter().any(|a| a.key == m.asset_key && a.partitions.is_some());
            if partitioned && m.get("partition").is_none() {
                m.with("partition", MetadataValue::Text(text.clone()))
            } else {
                m
            }
        })
        .collect()
}

/// One attempt of one step, on a blocking thread, inside the step's span.
#[allow(clippy::too_many_arguments)]
fn invoke(
    step: &Step,
    partition: Option<&Partition>,
    options: &RunOptions,
    log: Option<RunLog>,
    run_id: &str,
    attempt: u32,
    run_span: &tracing::Span,
    bar: Option<indicatif::ProgressBar>,
) -> Result<Vec<Materialization>, AssetError> {
    let op = step.op;
    let keys: Vec<String> = step.assets.iter().map(|a| a.key.to_user_string()).collect();
    let span = tracing::error_span!(parent: run_span, "op", run_id, op = op.name(), asset = %keys.join(","), attempt);
    span.in_scope(|| {
        tracing::info!("op started");
        let context = AssetExecutionContext {
            run_id: run_id.to_owned(),
            op: op.name().to_owned(),
            selected: step.assets.clone(),
            working_dir: options.working_dir.clone(),
            attempt,
            log,
            bar,
            partition: partition.cloned(),
        };
        let dlt = op.dlt().map(DltResource::for_definition).unwrap_or_default();
        let cx = InvokeContext { context: &context, dlt: &dlt, resources: &options.resources, config: options.config.as_ref() };
        let run = || etl_core::resource::with_run_dir(&options.working_dir, || (op.invoke())(&cx));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .unwrap_or_else(|panic| Err(AssetError::msg(format!("op `{}` panicked: {}", op.name(), etl_core::error::panic_text(panic.as_ref())))));
        match &result {
            Ok(_) => tracing::info!("op succeeded"),
            Err(e) => tracing::debug!("op attempt failed: {e}"),
        }
        result
    })
}
