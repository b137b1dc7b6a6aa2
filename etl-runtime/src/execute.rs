//! Executing a selection: one op execution per definition with selected assets.

use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;

use crate::asset::{AssetError, AssetKey, Materialization};
use crate::context::{AssetExecutionContext, DltResource, InvokeContext, Resources};
use crate::graph::{AssetGraph, GraphError};
use crate::registry::DltAssetsDef;

/// How an asset ended in a run.
#[derive(Debug)]
pub enum AssetOutcome {
    /// Materialized.
    Materialized(Materialization),
    /// Its op failed.
    Failed {
        /// The asset.
        key: AssetKey,
        /// Why (shared by every asset of the failed op).
        error: String,
    },
}

/// The result of a run.
#[derive(Debug)]
pub struct RunResult {
    /// Run id.
    pub run_id: String,
    /// Per asset, in graph order.
    pub outcomes: Vec<AssetOutcome>,
    /// Wall time.
    pub elapsed: std::time::Duration,
}

impl RunResult {
    /// Whether every asset materialized.
    pub fn success(&self) -> bool {
        self.outcomes.iter().all(|o| matches!(o, AssetOutcome::Materialized(_)))
    }

    /// The materializations.
    pub fn materializations(&self) -> Vec<&Materialization> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                AssetOutcome::Materialized(m) => Some(m),
                AssetOutcome::Failed { .. } => None,
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
                AssetOutcome::Materialized(_) => None,
            })
            .collect()
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Working directory (DuckDB files go here by default).
    pub working_dir: PathBuf,
    /// User resources.
    pub resources: Resources,
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

/// Materializes `selection` of `defs`. Graph problems (duplicate keys, unknown selection,
/// missing resources) are reported before anything runs.
pub fn materialize(defs: &[&'static DltAssetsDef], selection: &str, options: &RunOptions) -> Result<RunResult, GraphError> {
    let graph = AssetGraph::build(defs)?;
    let keys = graph.select(selection)?;
    // Validate resources of every op that will run.
    let mut problems = Vec::new();
    let mut ops: Vec<&'static DltAssetsDef> = Vec::new();
    for key in &keys {
        let node = graph.node(key).expect("selected keys exist");
        if !ops.iter().any(|d| std::ptr::eq(*d, node.def)) {
            ops.push(node.def);
            for req in (node.def.requirements)().into_iter().flatten() {
                if !options.resources.satisfies(&req) {
                    problems.push(format!(
                        "op `{}` ({}) needs resource `{}`, which is not registered",
                        node.def.name, node.def.location, req.type_name
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(GraphError { problems });
    }
    let run_id = new_run_id();
    let started = Instant::now();
    let span = tracing::info_span!("run", run_id = %run_id);
    let _enter = span.enter();
    let dlt = DltResource::new();
    let mut outcomes = Vec::new();
    for def in ops {
        let selected: Vec<_> = keys
            .iter()
            .filter_map(|k| graph.node(k))
            .filter(|n| std::ptr::eq(n.def, def))
            .map(|n| n.spec.clone())
            .collect();
        let op_span = tracing::info_span!("op", op = def.name);
        let _op = op_span.enter();
        tracing::info!(assets = selected.len(), "op started");
        let context = AssetExecutionContext {
            run_id: run_id.clone(),
            op: def.name.to_owned(),
            selected: selected.clone(),
            working_dir: options.working_dir.clone(),
            dlt: Some(def),
        };
        let invoke = InvokeContext { context: &context, dlt: &dlt, resources: &options.resources };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (def.invoke)(&invoke)))
            .unwrap_or_else(|_| Err(AssetError::msg(format!("op `{}` panicked", def.name))));
        match result {
            Ok(mats) => {
                for spec in &selected {
                    match mats.iter().find(|m| m.asset_key == spec.key) {
                        Some(m) => outcomes.push(AssetOutcome::Materialized(m.clone())),
                        None => outcomes.push(AssetOutcome::Failed {
                            key: spec.key.clone(),
                            error: format!("op `{}` returned no materialization for `{}`", def.name, spec.key),
                        }),
                    }
                }
                tracing::info!("op succeeded");
            }
            Err(e) => {
                tracing::error!("op failed: {e}");
                for spec in &selected {
                    outcomes.push(AssetOutcome::Failed { key: spec.key.clone(), error: e.to_string() });
                }
            }
        }
    }
    Ok(RunResult { run_id, outcomes, elapsed: started.elapsed() })
}
