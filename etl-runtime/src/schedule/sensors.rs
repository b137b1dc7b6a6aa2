//! The daemon's sensors and freshness checks: each evaluated when due, its runs created the way
//! the schedules' are (queued for the workers, or started in the daemon's process).

use std::thread::JoinHandle;

use chrono::{DateTime, Duration, Utc};

use super::daemon::{Daemon, RunOutcome};
use crate::check::{CheckEvaluation, CheckInput, CheckKind, CheckSpec};
use crate::execute::{check_run, materialize};
use crate::graph::AssetGraph;
use crate::partition::PartitionRequest;
use crate::queue::queued_record;
use crate::registry::Registry;
use crate::sensor::{evaluate, Launch, SensorSpec, SensorTick};

/// What the daemon watches besides its schedules.
pub(crate) struct Watched {
    sensors: Vec<(SensorSpec, DateTime<Utc>)>,
    freshness: Vec<(CheckSpec, DateTime<Utc>)>,
    /// Runs of sensors started in this process.
    pub(super) running: Vec<(String, JoinHandle<RunOutcome>)>,
}

impl Watched {
    /// The sensors and daemon-evaluated checks of `registry`, all due now; a sensor whose
    /// target does not resolve, or two with one name, are problems.
    pub(super) fn new(registry: &Registry, graph: &AssetGraph, now: DateTime<Utc>, problems: &mut Vec<String>) -> Self {
        let mut names = std::collections::BTreeSet::new();
        for s in &registry.sensors {
            if !names.insert(s.name.as_str()) {
                problems.push(format!("two sensors are named `{}`", s.name));
            }
            if let Some(target) = &s.target {
                if let Err(e) = graph.select(target) {
                    problems.push(format!("sensor `{}`: target: {e}", s.name));
                }
            }
        }
        let freshness = registry.checks.iter().filter(|c| c.daemon_interval_secs.is_some()).map(|c| (c.clone(), now)).collect();
        Watched { sensors: registry.sensors.iter().map(|s| (s.clone(), now)).collect(), freshness, running: Vec::new() }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sensors.is_empty() && self.freshness.is_empty()
    }
}

/// Checks a sensor's request against the graph (selection, partition, run config); returns its
/// partition.
fn check_request(graph: &AssetGraph, registry: &Registry, launch: &Launch) -> Result<Option<PartitionRequest>, String> {
    let partition = launch.request.partition.as_deref().map(PartitionRequest::parse).transpose().map_err(|e| e.to_string())?;
    let keys = graph.select(&launch.selection).map_err(|e| e.to_string())?;
    let steps = graph.plan(&keys).map_err(|e| e.to_string())?;
    check_run(registry, &steps, partition.as_ref(), launch.request.config.as_ref()).map_err(|e| e.to_string())?;
    Ok(partition)
}

impl Daemon {
    /// Evaluates every sensor that is due; returns what each evaluation did.
    pub fn sensor_tick(&mut self) -> Vec<SensorTick> {
        let now = self.clock.now();
        let mut ticks = Vec::new();
        for i in 0..self.watched.sensors.len() {
            if self.watched.sensors[i].1 > now {
                continue;
            }
            let spec = self.watched.sensors[i].0.clone();
            self.watched.sensors[i].1 = now + Duration::from_std(spec.minimum_interval).unwrap_or(Duration::seconds(30));
            let queue = self.queue.clone();
            let working_dir = self.options.working_dir.clone();
            let (graph, registry) = (self.graph.clone(), self.registry.clone());
            let mut check = |launch: &Launch| check_request(&graph, &registry, launch).map(drop);
            let tick = {
                let mut create = |launch: &Launch| self.launch(&spec, launch);
                evaluate(&spec, &*queue, &working_dir, now, &mut check, &mut create)
            };
            match (&tick.reason, tick.failed) {
                (Some(reason), true) => tracing::error!(sensor = %spec.name, "{reason}"),
                _ if !tick.runs.is_empty() => tracing::info!(sensor = %spec.name, runs = ?tick.runs, "sensor requested runs"),
                (reason, _) => tracing::debug!(sensor = %spec.name, ?reason, "sensor: no runs"),
            }
            ticks.push(tick);
        }
        ticks
    }

    /// Creates one run a sensor asked for: checked against the graph first (its selection,
    /// partition and run config), then queued for the workers or started here.
    fn launch(&mut self, sensor: &SensorSpec, launch: &Launch) -> Result<(), String> {
        let partition = check_request(&self.graph, &self.registry, launch)?;
        if let Some(policy) = self.queued {
            let mut run = queued_record(&launch.run_id, &launch.selection, Vec::new());
            run.tags = launch.request.tags.clone();
            run.partition = partition.map(|p| p.to_string());
            run.config = launch.request.config.clone();
            policy.stamp(&mut run.tags);
            return self.queue.enqueue(&run).map_err(|e| e.to_string());
        }
        let mut options = self.options.clone();
        options.run_id = Some(launch.run_id.clone());
        options.tags = launch.request.tags.clone();
        options.partition = partition;
        options.config = launch.request.config.clone();
        let (registry, selection) = (self.registry.clone(), launch.selection.clone());
        let builder = std::thread::Builder::new().name(format!("sensor-{}", sensor.name.replace('\0', "")));
        let handle = (self.spawn)(builder, Box::new(move || materialize(&registry, &selection, &options)))
            .map_err(|e| format!("cannot start a thread for the run: {e}"))?;
        self.watched.running.push((launch.run_id.clone(), handle));
        Ok(())
    }

    /// Evaluates every freshness check that is due and keeps its result; returns them.
    pub fn freshness_tick(&mut self) -> Vec<CheckEvaluation> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for (spec, due) in &mut self.watched.freshness {
            if *due > now {
                continue;
            }
            *due = now + Duration::seconds(spec.daemon_interval_secs.unwrap_or(60) as i64);
            let CheckKind::Builtin(f) = &spec.kind else { continue };
            let input = CheckInput { asset: &spec.asset, materialization: None, run_id: None, store: Some(&self.store), now };
            let evaluation = CheckEvaluation::of(spec, f(&input), None, None);
            if !evaluation.passed {
                tracing::warn!(asset = %evaluation.asset, check = %evaluation.check, "{}", evaluation.description.as_deref().unwrap_or("failed"));
            }
            if let Err(e) = crate::check::store_latest(&*self.queue, &evaluation) {
                tracing::error!(check = %evaluation.check, "cannot keep the check's result: {e}");
            }
            out.push(evaluation);
        }
        out
    }
}
