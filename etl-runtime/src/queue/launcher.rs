//! Run launchers: what a worker does with a run it claimed (Dagster's `RunLauncher`). The
//! worker owns the claim (lease, release, retry); the launcher owns the execution. Today's
//! launcher executes the run in the worker's own process; another (a container or a Kubernetes
//! job per run) implements the same trait and waits for its job to end.

use crate::execute::{materialize, materialize_from_failure, RunOptions, RunResult};
use crate::graph::GraphError;
use crate::history::RunRecord;
use crate::queue::retry::FROM_FAILURE_TAG;
use crate::registry::Registry;

/// Executes claimed runs.
pub trait RunLauncher: Send + Sync {
    /// Executes `run` (a claimed record: its id, selection, tags, parent) to its end, recording
    /// it under its own id in `options`' storage. An error: the run could not start (its
    /// selection no longer resolves, its parent cannot be read); nothing of it ran.
    fn launch(&self, run: &RunRecord, options: &RunOptions) -> Result<RunResult, GraphError>;
}

/// Executes runs in this process, on the executor, with the binary's registered assets.
pub struct InProcessLauncher {
    registry: Registry,
}

impl InProcessLauncher {
    /// A launcher of these definitions.
    pub fn new(registry: Registry) -> Self {
        InProcessLauncher { registry }
    }
}

/// The options of a claimed run's execution: its id, tags, schedule, partition and parent.
pub fn options_for(run: &RunRecord, options: &RunOptions) -> RunOptions {
    let mut options = options.clone();
    options.run_id = Some(run.run_id.clone());
    options.tags = run.tags.clone();
    options.schedule = run.schedule.clone();
    options.parent_run_id = run.parent_run_id.clone();
    options.partition = run.partition.as_deref().and_then(|p| crate::partition::PartitionRequest::parse(p).ok());
    options.config = run.config.clone();
    options
}

impl RunLauncher for InProcessLauncher {
    fn launch(&self, run: &RunRecord, options: &RunOptions) -> Result<RunResult, GraphError> {
        let options = options_for(run, options);
        let from_failure = run.tags.get(FROM_FAILURE_TAG).is_some_and(|v| v == "true");
        match (&run.parent_run_id, from_failure) {
            (Some(parent), true) => materialize_from_failure(&self.registry, parent, &options),
            _ => materialize(&self.registry, &run.selection, &options),
        }
    }
}
