//! Submitting a run to the queue (`submit`, the web UI's launch): the selection, or the run to
//! re-execute, is checked against the binary's graph first, and the run retry policy of the
//! config is written into the run's tags.

use std::collections::BTreeMap;
use std::path::Path;

use super::queued_record;
use super::retry::{RetryPolicy, FROM_FAILURE_TAG};
use serde_json::Value as Json;

use crate::execute::{check_run, new_run_id};
use crate::partition::PartitionRequest;
use crate::graph::AssetGraph;
use crate::history::{RunRecord, RunStatus, RunStore};
use crate::registry::Registry;

/// What to run.
#[derive(Debug, Clone)]
pub enum Submission {
    /// A selection (Dagster's syntax).
    Select(String),
    /// The assets a past run (its full id) did not materialize.
    FromFailure(String),
}

/// What a run is given besides its selection: tags, a partition, a run config.
#[derive(Debug, Clone, Default)]
pub struct RunParams {
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The partition (`K` or `A...B`).
    pub partition: Option<PartitionRequest>,
    /// The run config.
    pub config: Option<Json>,
}

impl From<BTreeMap<String, String>> for RunParams {
    fn from(tags: BTreeMap<String, String>) -> Self {
        RunParams { tags, ..RunParams::default() }
    }
}

/// Queues a run of `what` with `params` (its tags get the retry policy's) on `store`; `dir` is
/// where the config is read and the graph built. Returns the queued record; an error says what
/// is wrong (a selection that does not resolve, a run still going, a bad retry setting, a
/// partition or run config that does not fit).
pub fn submit(registry: &Registry, store: &RunStore, dir: &Path, what: &Submission, params: impl Into<RunParams>) -> Result<RunRecord, String> {
    let RunParams { mut tags, partition, config: run_config } = params.into();
    let config = etl_config::Config::load_from(dir).map_err(|e| e.to_string())?;
    let policy = RetryPolicy::from_config(&config).map_err(|e| e.to_string())?;
    policy.of_run(&tags).map_err(|e| e.to_string())?;
    policy.stamp(&mut tags);
    let graph = etl_core::resource::with_run_dir(dir, || AssetGraph::build(registry)).map_err(|e| e.to_string())?;
    let (selection, assets, parent) = match what {
        Submission::FromFailure(id) => {
            let parent = store.record(id).map_err(|e| e.to_string())?;
            if matches!(parent.effective_status(), RunStatus::Queued | RunStatus::Started) {
                return Err(format!("run `{}` is still going; re-execute it once it has ended", parent.run_id));
            }
            tags.insert(FROM_FAILURE_TAG.into(), "true".into());
            (parent.selection.clone(), Vec::new(), Some(parent.run_id))
        }
        Submission::Select(select) => {
            let keys = graph.select(select).map_err(|e| e.to_string())?;
            let steps = graph.plan(&keys).map_err(|e| e.to_string())?;
            check_run(registry, &steps, partition.as_ref(), run_config.as_ref()).map_err(|e| e.to_string())?;
            (select.clone(), keys.iter().map(|k| k.to_user_string()).collect(), None)
        }
    };
    let mut run = queued_record(&new_run_id(), &selection, assets);
    run.parent_run_id = parent;
    run.tags = tags;
    run.partition = partition.map(|p| p.to_string());
    run.config = run_config;
    store.queue().and_then(|q| q.enqueue(&run)).map_err(|e| e.to_string())?;
    Ok(run)
}
