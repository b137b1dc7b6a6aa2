//! Asset checks (Dagster's `@asset_check` and its check factories): a check runs after its asset
//! is materialized, in the same run, and reports passed or failed with a severity, a
//! description and metadata. A failed *blocking* check of severity error skips the asset's
//! downstream in that run. Results are run events (`asset_check_evaluation`) and the latest of
//! each check is kept in the instance state (namespace `checks/<asset key>`).
//!
//! Checks are `#[etl::asset_check]` functions or built in ([`builtin`]): column schema change,
//! metadata bounds, last-update freshness (evaluated by the daemon as well).

pub mod builtin;
pub mod run;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::asset::{AssetError, AssetKey, Location, Materialization, MetadataValue};
use crate::history::{Event, HistoryError, RunStore};
use crate::queue::RunQueue;
use crate::registry::AssetCheckDef;

/// How bad a failed check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// A warning: never blocks.
    Warn,
    /// An error: blocks the downstream when the check is blocking.
    #[default]
    Error,
}

/// What a check function returns (Dagster's `AssetCheckResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct AssetCheckResult {
    /// Whether it passed.
    pub passed: bool,
    /// The severity of a failure.
    pub severity: Severity,
    /// What it found.
    pub description: Option<String>,
    /// Metadata entries, in order.
    pub metadata: Vec<(String, MetadataValue)>,
}

impl AssetCheckResult {
    /// A passed check.
    pub fn passed() -> Self {
        AssetCheckResult { passed: true, severity: Severity::Error, description: None, metadata: Vec::new() }
    }

    /// A failed check (severity error), saying why.
    pub fn failed(description: impl Into<String>) -> Self {
        AssetCheckResult { passed: false, severity: Severity::Error, description: Some(description.into()), metadata: Vec::new() }
    }

    /// Passed when `passed`, else failed with `description`.
    pub fn new(passed: bool, description: impl Into<String>) -> Self {
        AssetCheckResult { passed, description: Some(description.into()), ..AssetCheckResult::passed() }
    }

    /// Sets the severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a metadata entry.
    pub fn with(mut self, key: impl Into<String>, value: MetadataValue) -> Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Whether it blocks the downstream of a blocking check.
    pub fn blocks(&self) -> bool {
        !self.passed && self.severity == Severity::Error
    }
}

/// What a check function may return: [`AssetCheckResult`], `bool`, or either in a `Result`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of an `#[etl::asset_check]` function",
    label = "return `etl::AssetCheckResult`, `bool`, or `Result<_, E>` of those"
)]
pub trait IntoCheckResult {
    /// The result.
    fn into_check_result(self) -> Result<AssetCheckResult, AssetError>;
}

impl IntoCheckResult for AssetCheckResult {
    fn into_check_result(self) -> Result<AssetCheckResult, AssetError> {
        Ok(self)
    }
}

impl IntoCheckResult for bool {
    fn into_check_result(self) -> Result<AssetCheckResult, AssetError> {
        Ok(if self { AssetCheckResult::passed() } else { AssetCheckResult::failed("the check returned false") })
    }
}

impl<T: IntoCheckResult, E: Into<AssetError>> IntoCheckResult for Result<T, E> {
    fn into_check_result(self) -> Result<AssetCheckResult, AssetError> {
        self.map_err(Into::into)?.into_check_result()
    }
}

/// What a built-in check sees.
pub struct CheckInput<'a> {
    /// The asset.
    pub asset: &'a AssetKey,
    /// This run's materialization of it (none when the daemon evaluates).
    pub materialization: Option<&'a Materialization>,
    /// The run (none when the daemon evaluates).
    pub run_id: Option<&'a str>,
    /// The instance storage, for the asset's history.
    pub store: Option<&'a RunStore>,
    /// Now.
    pub now: DateTime<Utc>,
}

type BuiltinFn = Arc<dyn Fn(&CheckInput<'_>) -> Result<AssetCheckResult, AssetError> + Send + Sync>;

/// How a check is evaluated.
#[derive(Clone)]
pub enum CheckKind {
    /// An `#[etl::asset_check]` function.
    Function(&'static AssetCheckDef),
    /// A built-in check.
    Builtin(BuiltinFn),
}

/// A check of an asset, as the runtime knows it.
#[derive(Clone)]
pub struct CheckSpec {
    /// The check's name (unique per asset).
    pub name: String,
    /// The asset it checks.
    pub asset: AssetKey,
    /// A failure with severity error skips the downstream.
    pub blocking: bool,
    /// What it checks.
    pub description: Option<String>,
    /// The daemon evaluates it too (freshness), every this many seconds.
    pub daemon_interval_secs: Option<u64>,
    /// Where it was defined (functions).
    pub location: Option<Location>,
    /// How it is evaluated.
    pub kind: CheckKind,
}

impl std::fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSpec").field("name", &self.name).field("asset", &self.asset).field("blocking", &self.blocking).finish()
    }
}

impl CheckSpec {
    /// The spec of an `#[etl::asset_check]` function.
    pub fn from_def(def: &'static AssetCheckDef) -> Self {
        CheckSpec {
            name: def.name.to_owned(),
            asset: AssetKey::from_path(def.asset),
            blocking: def.blocking,
            description: def.description.map(str::to_owned),
            daemon_interval_secs: None,
            location: Some(def.location),
            kind: CheckKind::Function(def),
        }
    }

    /// A built-in check.
    pub fn builtin(
        name: impl Into<String>,
        asset: impl Into<AssetKey>,
        description: impl Into<String>,
        check: impl Fn(&CheckInput<'_>) -> Result<AssetCheckResult, AssetError> + Send + Sync + 'static,
    ) -> Self {
        CheckSpec {
            name: name.into(),
            asset: asset.into(),
            blocking: false,
            description: Some(description.into()),
            daemon_interval_secs: None,
            location: None,
            kind: CheckKind::Builtin(Arc::new(check)),
        }
    }

    /// The resources its parameters need (none for a built-in check).
    pub fn requirements(&self) -> Vec<crate::registry::Requirement> {
        match &self.kind {
            CheckKind::Function(def) => (def.requirements)().into_iter().flatten().collect(),
            CheckKind::Builtin(_) => Vec::new(),
        }
    }

    /// Makes it blocking (Dagster's `blocking=True`).
    pub fn blocking(mut self, blocking: bool) -> Self {
        self.blocking = blocking;
        self
    }
}

/// One evaluation of a check, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckEvaluation {
    /// The asset, as `a/b`.
    pub asset: String,
    /// The check.
    pub check: String,
    /// Passed.
    pub passed: bool,
    /// Severity of a failure.
    pub severity: Severity,
    /// Blocking check.
    pub blocking: bool,
    /// What it found (or why it could not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Metadata, as JSON.
    #[serde(default)]
    pub metadata: BTreeMap<String, Json>,
    /// The run (none when the daemon evaluated it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The partition the run materialized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl CheckEvaluation {
    /// The evaluation of `spec` that returned `result` (an error is a failed check of
    /// severity error, saying so).
    pub fn of(spec: &CheckSpec, result: Result<AssetCheckResult, AssetError>, run_id: Option<&str>, partition: Option<String>) -> Self {
        let result = result.unwrap_or_else(|e| AssetCheckResult::failed(format!("the check could not run: {e}")));
        CheckEvaluation {
            asset: spec.asset.to_user_string(),
            check: spec.name.clone(),
            passed: result.passed,
            severity: result.severity,
            blocking: spec.blocking,
            description: result.description.clone(),
            metadata: result.metadata.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            run_id: run_id.map(str::to_owned),
            partition,
            at: Utc::now(),
        }
    }

    /// Whether it skips the downstream.
    pub fn blocks(&self) -> bool {
        self.blocking && !self.passed && self.severity == Severity::Error
    }

    /// `PASSED`, `FAILED (WARN)` or `FAILED (ERROR)`.
    pub fn outcome(&self) -> String {
        if self.passed {
            "PASSED".into()
        } else {
            format!("FAILED ({:?})", self.severity).to_uppercase()
        }
    }

    /// As a run event.
    pub fn event(&self, run_id: &str, op: &str) -> Event {
        let message = format!(
            "check `{}` of `{}` {}{}",
            self.check,
            self.asset,
            self.outcome().to_lowercase(),
            self.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
        );
        Event::new(run_id, crate::history::EventKind::AssetCheckEvaluation)
            .op(op)
            .asset(&AssetKey::from_path(&self.asset))
            .message(message)
            .data(serde_json::to_value(self).unwrap_or(json!({})))
    }
}

fn namespace(asset: &AssetKey) -> String {
    format!("checks/{asset}")
}

/// Keeps `evaluation` as its check's latest.
pub fn store_latest(queue: &dyn RunQueue, evaluation: &CheckEvaluation) -> Result<(), HistoryError> {
    let value = serde_json::to_value(evaluation).expect("evaluation serializes");
    queue.put_state(&namespace(&AssetKey::from_path(&evaluation.asset)), &[(evaluation.check.clone(), value)])
}

/// The latest evaluation of each check of `asset`, by check name.
pub fn latest(queue: &dyn RunQueue, asset: &AssetKey) -> Result<BTreeMap<String, CheckEvaluation>, HistoryError> {
    Ok(queue.state(&namespace(asset))?.into_iter().filter_map(|(k, v)| serde_json::from_value(v).ok().map(|e| (k, e))).collect())
}
