//! Sensors (Dagster's `@sensor`): a function the daemon evaluates every `minimum_interval`,
//! given the cursor it returned last time; it returns run requests (a selection, a partition, a
//! run config, tags and a `run_key`) and a new cursor. A run key is acted on once per sensor,
//! ever: a request whose key was seen is dropped. The cursor is stored only after every run of
//! the evaluation was created (queued or started), so a daemon that dies in between evaluates
//! the same cursor again, and the run keys keep it from running anything twice.
//!
//! State: the instance state's namespace `sensors` (cursor and last evaluation per sensor) and
//! `sensor_run_keys/<sensor>` (each key with its run).

pub mod files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::asset::{AssetError, Location};
use crate::history::HistoryError;
use crate::queue::RunQueue;
use crate::registry::SensorDef;

/// What a sensor sees when evaluated.
#[derive(Debug, Clone)]
pub struct SensorContext {
    name: String,
    cursor: Option<String>,
    last_evaluated: Option<DateTime<Utc>>,
    working_dir: PathBuf,
    now: DateTime<Utc>,
}

impl SensorContext {
    /// A context (the daemon makes them; tests too).
    pub fn new(name: impl Into<String>, cursor: Option<String>, working_dir: impl Into<PathBuf>, now: DateTime<Utc>) -> Self {
        SensorContext { name: name.into(), cursor, last_evaluated: None, working_dir: working_dir.into(), now }
    }

    /// The sensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cursor the previous evaluation returned.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// When it was last evaluated.
    pub fn last_evaluated(&self) -> Option<DateTime<Utc>> {
        self.last_evaluated
    }

    /// The working directory (relative paths start here).
    pub fn working_dir(&self) -> &Path {
        &self.working_dir
    }

    /// The evaluation's time.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

/// A run a sensor asks for (Dagster's `RunRequest`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRequest {
    /// Acted on once per sensor: a request whose key was seen is dropped.
    pub run_key: Option<String>,
    /// The selection (default: the sensor's `target`).
    pub selection: Option<String>,
    /// The partition (`K` or `A...B`).
    pub partition: Option<String>,
    /// The run config (`{"ops": {...}}`).
    pub config: Option<Json>,
    /// Tags of the run.
    pub tags: BTreeMap<String, String>,
}

impl RunRequest {
    /// A request with a run key.
    pub fn new(run_key: impl Into<String>) -> Self {
        RunRequest { run_key: Some(run_key.into()), ..RunRequest::default() }
    }

    /// Selects assets (default: the sensor's target).
    pub fn select(mut self, selection: impl Into<String>) -> Self {
        self.selection = Some(selection.into());
        self
    }

    /// The partition to materialize.
    pub fn partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = Some(partition.into());
        self
    }

    /// The run config.
    pub fn config(mut self, config: Json) -> Self {
        self.config = Some(config);
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// What an evaluation returns (Dagster's `SensorResult`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SensorResult {
    /// Runs to create.
    pub run_requests: Vec<RunRequest>,
    /// The new cursor (`None`: keep the old one).
    pub cursor: Option<String>,
    /// Why nothing was requested.
    pub skip_reason: Option<String>,
}

impl SensorResult {
    /// Nothing requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing requested, saying why (Dagster's `SkipReason`).
    pub fn skip(reason: impl Into<String>) -> Self {
        SensorResult { skip_reason: Some(reason.into()), ..Self::default() }
    }

    /// Adds a run request.
    pub fn request(mut self, request: RunRequest) -> Self {
        self.run_requests.push(request);
        self
    }

    /// Sets the new cursor.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// What a sensor function may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of an `#[etl::sensor]` function",
    label = "return `etl::SensorResult`, `Vec<etl::RunRequest>`, or `Result<_, E>` of those"
)]
pub trait IntoSensorResult {
    /// The result.
    fn into_sensor_result(self) -> Result<SensorResult, AssetError>;
}

impl IntoSensorResult for SensorResult {
    fn into_sensor_result(self) -> Result<SensorResult, AssetError> {
        Ok(self)
    }
}

impl IntoSensorResult for Vec<RunRequest> {
    fn into_sensor_result(self) -> Result<SensorResult, AssetError> {
        Ok(SensorResult { run_requests: self, ..SensorResult::default() })
    }
}

impl<T: IntoSensorResult, E: Into<AssetError>> IntoSensorResult for Result<T, E> {
    fn into_sensor_result(self) -> Result<SensorResult, AssetError> {
        self.map_err(Into::into)?.into_sensor_result()
    }
}

type SensorFn = Arc<dyn Fn(&SensorContext) -> Result<SensorResult, AssetError> + Send + Sync>;

/// A sensor as the runtime knows it.
#[derive(Clone)]
pub struct SensorSpec {
    /// Name (unique).
    pub name: String,
    /// Time between evaluations.
    pub minimum_interval: Duration,
    /// The selection of requests that name none.
    pub target: Option<String>,
    /// What it watches.
    pub description: Option<String>,
    /// Where it was defined (functions).
    pub location: Option<Location>,
    evaluate: SensorFn,
}

impl std::fmt::Debug for SensorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensorSpec").field("name", &self.name).field("minimum_interval", &self.minimum_interval).field("target", &self.target).finish()
    }
}

impl SensorSpec {
    /// A sensor from a function.
    pub fn new(name: impl Into<String>, evaluate: impl Fn(&SensorContext) -> Result<SensorResult, AssetError> + Send + Sync + 'static) -> Self {
        SensorSpec { name: name.into(), minimum_interval: Duration::from_secs(30), target: None, description: None, location: None, evaluate: Arc::new(evaluate) }
    }

    /// The spec of an `#[etl::sensor]` function.
    pub fn from_def(def: &'static SensorDef) -> Self {
        SensorSpec {
            name: def.name.to_owned(),
            minimum_interval: Duration::from_secs(def.minimum_interval_secs),
            target: def.target.map(str::to_owned),
            description: def.description.map(str::to_owned),
            location: Some(def.location),
            evaluate: Arc::new(def.evaluate),
        }
    }

    /// Sets the time between evaluations.
    pub fn minimum_interval(mut self, interval: Duration) -> Self {
        self.minimum_interval = interval;
        self
    }

    /// Sets the selection of requests that name none.
    pub fn target(mut self, selection: impl Into<String>) -> Self {
        self.target = Some(selection.into());
        self
    }

    /// Calls the sensor (a panic is an error naming it).
    pub fn call(&self, context: &SensorContext) -> Result<SensorResult, AssetError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.evaluate)(context)))
            .unwrap_or_else(|p| Err(AssetError::msg(format!("sensor `{}` panicked: {}", self.name, etl_core::error::panic_text(p.as_ref())))))
    }
}

/// A sensor's stored state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SensorState {
    /// The cursor.
    pub cursor: Option<String>,
    /// When it was last evaluated.
    pub last_evaluated: Option<DateTime<Utc>>,
}

const STATES: &str = "sensors";

fn run_keys(sensor: &str) -> String {
    format!("sensor_run_keys/{sensor}")
}

/// The stored state of a sensor.
pub fn state(queue: &dyn RunQueue, sensor: &str) -> Result<SensorState, HistoryError> {
    Ok(queue.state(STATES)?.remove(sensor).and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

/// A run an evaluation asks the daemon to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The new run's id.
    pub run_id: String,
    /// What to materialize.
    pub selection: String,
    /// Its request.
    pub request: RunRequest,
}

/// What one evaluation did.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorTick {
    /// The sensor.
    pub sensor: String,
    /// The runs created.
    pub runs: Vec<String>,
    /// Run keys dropped because they were acted on before.
    pub seen_keys: Vec<String>,
    /// Why nothing was requested, or what failed (the cursor did not move).
    pub reason: Option<String>,
    /// Whether it failed.
    pub failed: bool,
}

/// Evaluates `spec` once: calls it with its stored cursor, checks every request (`check`: its
/// selection, partition and run config against the graph) before creating any, creates a run
/// per request through `launch` (requests whose run key was acted on before are dropped), then
/// stores the new cursor. A failing sensor, a request that does not check out, or a run that
/// cannot be created fails the evaluation and leaves the cursor where it was (as Dagster's
/// failed ticks do), so nothing is lost and the next evaluation asks again.
pub fn evaluate(
    spec: &SensorSpec,
    queue: &dyn RunQueue,
    working_dir: &Path,
    now: DateTime<Utc>,
    check: &mut dyn FnMut(&Launch) -> Result<(), String>,
    launch: &mut dyn FnMut(&Launch) -> Result<(), String>,
) -> SensorTick {
    let mut tick = SensorTick { sensor: spec.name.clone(), runs: Vec::new(), seen_keys: Vec::new(), reason: None, failed: false };
    let fail = |mut tick: SensorTick, reason: String| {
        tracing::error!(sensor = %tick.sensor, "{reason}");
        tick.reason = Some(reason);
        tick.failed = true;
        tick
    };
    let previous = match state(queue, &spec.name) {
        Ok(s) => s,
        Err(e) => return fail(tick, format!("cannot read the sensor's cursor: {e}")),
    };
    let mut context = SensorContext::new(&spec.name, previous.cursor.clone(), working_dir, now);
    context.last_evaluated = previous.last_evaluated;
    let result = match spec.call(&context) {
        Ok(r) => r,
        Err(e) => return fail(tick, format!("sensor `{}` failed: {e}", spec.name)),
    };
    // Every request is checked first: one that cannot run fails the evaluation before any run
    // is created (no request without a run key is created twice).
    let mut orders = Vec::with_capacity(result.run_requests.len());
    for request in &result.run_requests {
        let Some(selection) = request.selection.clone().or_else(|| spec.target.clone()) else {
            return fail(tick, format!("sensor `{}` asked for a run without a selection and has no `target`", spec.name));
        };
        let mut request = request.clone();
        request.tags.insert("etl/sensor".into(), spec.name.clone());
        if let Some(key) = &request.run_key {
            request.tags.insert("etl/run_key".into(), key.clone());
        }
        let order = Launch { run_id: crate::execute::new_run_id(), selection, request };
        if let Err(e) = check(&order) {
            let key = order.request.run_key.as_deref().map(|k| format!(" (run key `{k}`)")).unwrap_or_default();
            return fail(tick, format!("sensor `{}` asked for a run that cannot run{key}: {e}", spec.name));
        }
        orders.push(order);
    }
    for order in orders {
        if let Some(key) = &order.request.run_key {
            match queue.put_state_new(&run_keys(&spec.name), key, &json!({"run_id": order.run_id, "at": now})) {
                Ok(true) => {}
                Ok(false) => {
                    tick.seen_keys.push(key.clone());
                    continue;
                }
                Err(e) => return fail(tick, format!("cannot record run key `{key}`: {e}")),
            }
        }
        if let Err(e) = launch(&order) {
            // The key is free again, so the next evaluation (same cursor) asks once more.
            if let Some(key) = &order.request.run_key {
                if let Err(e) = queue.remove_state(&run_keys(&spec.name), key) {
                    tracing::error!(sensor = %spec.name, "cannot free run key `{key}`: {e}");
                }
            }
            return fail(tick, format!("cannot create the run of sensor `{}`: {e}", spec.name));
        }
        tick.runs.push(order.run_id);
    }
    let stored = SensorState { cursor: result.cursor.or(previous.cursor), last_evaluated: Some(now) };
    if let Err(e) = queue.put_state(STATES, &[(spec.name.clone(), serde_json::to_value(&stored).expect("state serializes"))]) {
        return fail(tick, format!("cannot store the sensor's cursor: {e}"));
    }
    tick.reason = result.skip_reason;
    if tick.runs.is_empty() && tick.reason.is_none() && !tick.seen_keys.is_empty() {
        tick.reason = Some(format!("{} run key(s) acted on before", tick.seen_keys.len()));
    }
    tick
}
