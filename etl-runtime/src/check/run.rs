//! Running the checks of a step's assets, right after the step materialized them, in the same
//! run.

use chrono::Utc;

use super::{CheckEvaluation, CheckInput, CheckKind, CheckSpec};
use crate::asset::{AssetError, Materialization};
use crate::context::{AssetExecutionContext, DltResource, InvokeContext};
use crate::execute::{Plan, RunOptions};
use crate::history::RunLog;

/// Evaluates every check of the assets step `index` materialized (`mats`), records each as a
/// run event and as its check's latest, and returns them.
pub(crate) fn after_step(
    plan: &Plan,
    index: usize,
    mats: &[Materialization],
    options: &RunOptions,
    log: Option<&RunLog>,
    run_id: &str,
    span: &tracing::Span,
) -> Vec<CheckEvaluation> {
    let step = &plan.steps[index];
    let partition = plan.partition.as_ref().map(|p| p.request().to_string());
    // The run's own storage (checks of an unrecorded run are not kept).
    let store = log.map(RunLog::store);
    let queue = store.and_then(|s| s.queue().ok());
    let mut out = Vec::new();
    for m in mats {
        for spec in plan.checks.iter().filter(|c| c.asset == m.asset_key) {
            let result = match &spec.kind {
                CheckKind::Function(def) => {
                    let selected = step.assets.iter().filter(|a| a.key == m.asset_key).cloned().collect();
                    let context = AssetExecutionContext {
                        run_id: run_id.to_owned(),
                        op: spec.name.clone(),
                        selected,
                        working_dir: options.working_dir.clone(),
                        attempt: 1,
                        log: log.cloned(),
                        bar: None,
                        partition: plan.partition.clone(),
                    };
                    let dlt = DltResource::new();
                    let cx = InvokeContext { context: &context, dlt: &dlt, resources: &options.resources, config: options.config.as_ref() };
                    call(spec, || etl_core::resource::with_run_dir(&options.working_dir, || (def.invoke)(&cx)))
                }
                CheckKind::Builtin(f) => {
                    let input = CheckInput { asset: &m.asset_key, materialization: Some(m), run_id: Some(run_id), store, now: Utc::now() };
                    call(spec, || f(&input))
                }
            };
            let evaluation = CheckEvaluation::of(spec, result, Some(run_id), partition.clone());
            span.in_scope(|| {
                if evaluation.passed {
                    tracing::info!(asset = %evaluation.asset, check = %evaluation.check, "check passed");
                } else {
                    tracing::warn!(asset = %evaluation.asset, check = %evaluation.check, severity = ?evaluation.severity, "check failed: {}", evaluation.description.as_deref().unwrap_or(""));
                }
            });
            if let Some(log) = log {
                log.emit(evaluation.event(run_id, step.op.name()));
            }
            if let Some(queue) = &queue {
                if let Err(e) = super::store_latest(&**queue, &evaluation) {
                    eprintln!("warning: cannot keep the result of check `{}`: {e}", evaluation.check);
                }
            }
            out.push(evaluation);
        }
    }
    out
}

/// Calls a check, a panic being an error that names it.
fn call(spec: &CheckSpec, f: impl FnOnce() -> Result<super::AssetCheckResult, AssetError>) -> Result<super::AssetCheckResult, AssetError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(AssetError::msg(format!("check `{}` panicked: {}", spec.name, etl_core::error::panic_text(p.as_ref())))))
}
