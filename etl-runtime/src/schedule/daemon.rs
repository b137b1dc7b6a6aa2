//! The daemon: acts on the schedules' due ticks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Clock, Cron, MissedTicks, Schedule, Tick, TickStatus};
use crate::execute::{materialize, new_run_id, RunOptions, RunResult};
use crate::graph::{AssetGraph, GraphError};
use crate::history::{HistoryError, RunStatus, RunStore};
use crate::queue::retry::RetryPolicy;
use crate::queue::{queued_record, RunQueue};
use crate::registry::Registry;

/// What a run thread returns.
pub(super) type RunOutcome = Result<RunResult, GraphError>;

/// Starts a run's thread (a seam: tests make it fail).
pub(super) type Spawner = fn(std::thread::Builder, Box<dyn FnOnce() -> RunOutcome + Send>) -> std::io::Result<JoinHandle<RunOutcome>>;

fn spawn_thread(builder: std::thread::Builder, run: Box<dyn FnOnce() -> RunOutcome + Send>) -> std::io::Result<JoinHandle<RunOutcome>> {
    builder.spawn(run)
}

struct Scheduled {
    schedule: Schedule,
    cron: Cron,
    next: Option<DateTime<Utc>>,
    /// Missed ticks still to act on (catch-up), oldest first.
    backlog: std::collections::VecDeque<DateTime<Utc>>,
    /// A run this daemon started in its own process.
    /// (Several only while catching up.)
    running: Vec<(String, JoinHandle<RunOutcome>)>,
    /// The last run it queued for the workers.
    queued: Option<String>,
}

/// Runs schedules: starts each due tick's run in this process, or, when the instance has
/// workers (PostgreSQL, or `[instance] run_coordinator = "queued"`), queues it for them.
pub struct Daemon {
    pub(super) registry: Registry,
    pub(super) options: RunOptions,
    pub(super) clock: Arc<dyn Clock>,
    scheduled: Vec<Scheduled>,
    finished: Vec<(String, RunOutcome)>,
    pub(super) spawn: Spawner,
    pub(super) store: RunStore,
    pub(super) queue: Arc<dyn RunQueue>,
    /// Runs go to the queue (with this retry policy) rather than to a thread.
    pub(super) queued: Option<RetryPolicy>,
    /// The graph of the definitions (selections, partitions).
    pub(super) graph: Arc<AssetGraph>,
    /// Sensors and freshness checks, with when each is next due.
    pub(super) watched: super::sensors::Watched,
}

/// `None` when the daemon runs its ticks' runs itself, else the retry policy of the runs it
/// queues: `[instance] run_coordinator` (`queued` or `in_process`) decides, else whether the
/// storage has workers.
fn queue_policy(options: &RunOptions, store: &RunStore) -> Result<Option<RetryPolicy>, String> {
    let config = etl_config::Config::load_from(&options.working_dir).map_err(|e| e.to_string())?;
    let queued = match config.get_found::<String>(&["instance"], "run_coordinator").map_err(|e| e.to_string())? {
        None => store.has_workers(),
        Some((v, _)) if v == "queued" => true,
        Some((v, _)) if v == "in_process" => false,
        Some((v, place)) => return Err(format!("`[instance] run_coordinator` is `{v}` in {place}: use `queued` (workers run the runs) or `in_process`")),
    };
    if !queued {
        return Ok(None);
    }
    RetryPolicy::from_config(&config).map(Some).map_err(|e| e.to_string())
}

impl Daemon {
    /// A daemon of these schedules. Invalid cron expressions and selections, and a storage
    /// that cannot be opened, are reported, all at once, before anything runs.
    pub fn new(registry: Registry, options: RunOptions, schedules: &[Schedule], clock: Arc<dyn Clock>) -> Result<Self, GraphError> {
        let graph = etl_core::resource::with_run_dir(&options.working_dir, || AssetGraph::build(&registry))?;
        let store = options.store().map_err(|e| GraphError::one(e.to_string()))?;
        let queue = store.queue().map_err(|e| GraphError::one(e.to_string()))?;
        let mut problems = Vec::new();
        let queued = queue_policy(&options, &store).unwrap_or_else(|e| {
            problems.push(e);
            None
        });
        let mut scheduled = Vec::new();
        let now = clock.now();
        for s in schedules {
            match graph.select(&s.selection) {
                Err(e) => problems.push(format!("schedule `{}`: {e}", s.name)),
                // Its run config is checked now, with the partition a tick now would take.
                Ok(keys) => {
                    let partitioned = partitions_of(&graph, &keys);
                    let partition = last_window(&graph, &s.selection, now);
                    let checked = match (&partitioned, &partition) {
                        (Some(crate::partition::PartitionsDefinition::Static(_)), _) => Err(GraphError::one(
                            "it selects assets with static partitions: a schedule runs the last time window that has ended; use a sensor or `backfill` for static partitions",
                        )),
                        // No window has ended yet: the run config is checked at the first tick.
                        (Some(_), None) => Ok(None),
                        _ => graph.plan(&keys).and_then(|steps| crate::execute::check_run(&registry, &steps, partition.as_ref(), s.run_config())),
                    };
                    if let Err(e) = checked {
                        problems.extend(e.problems.into_iter().map(|p| format!("schedule `{}`: {p}", s.name)));
                    }
                }
            }
            match &s.cron {
                Ok(cron) => {
                    let backlog = match missed(s, cron, &*queue, now) {
                        Ok(b) => b,
                        Err(e) => {
                            problems.push(format!("schedule `{}`: cannot read its last tick: {e}", s.name));
                            Default::default()
                        }
                    };
                    scheduled.push(Scheduled { schedule: s.clone(), cron: cron.clone(), next: cron.next_after(now), backlog, running: Vec::new(), queued: None })
                }
                Err(e) => problems.push(format!("schedule `{}`: {e}", s.name)),
            }
        }
        let watched = super::sensors::Watched::new(&registry, &graph, now, &mut problems);
        if scheduled.is_empty() && watched.is_empty() && problems.is_empty() {
            problems.push(
                "no schedules, sensors or freshness checks are defined; add one with `etl::Definitions::new().schedule(etl::Schedule::new(..))`, `#[etl::sensor]` or `etl::checks::last_update_freshness`"
                    .into(),
            );
        }
        if !problems.is_empty() {
            return Err(GraphError { problems });
        }
        let mut options = options;
        options.storage = Some(store.clone());
        Ok(Daemon { registry, options, clock, scheduled, finished: Vec::new(), spawn: spawn_thread, store, queue, queued, graph: Arc::new(graph), watched })
    }

    /// The next time a schedule is due.
    pub fn next_tick(&self) -> Option<DateTime<Utc>> {
        self.scheduled.iter().filter_map(|s| s.backlog.front().copied().or(s.next)).min()
    }

    /// Whether a run started by the daemon in its own process is still going.
    pub fn busy(&self) -> bool {
        self.scheduled.iter().any(|s| !s.running.is_empty()) || !self.watched.running.is_empty()
    }

    /// Whether the daemon queues its runs for workers.
    pub fn queues_runs(&self) -> bool {
        self.queued.is_some()
    }

    /// Collects finished runs and acts on every due tick: a run started or queued, or the tick
    /// skipped. Returns the ticks acted on (not those another daemon took first).
    pub fn tick(&mut self) -> Vec<Tick> {
        self.reap(false);
        let now = self.clock.now();
        let mut ticks = Vec::new();
        for i in 0..self.scheduled.len() {
            // Missed ticks being caught up are acted on all, each with its run.
            let mut due: Vec<(DateTime<Utc>, bool)> = self.scheduled[i].backlog.drain(..).map(|t| (t, true)).collect();
            if let Some(next) = self.scheduled[i].next.filter(|t| *t <= now) {
                due.push((next, false));
                self.scheduled[i].next = self.scheduled[i].cron.next_after(now);
            }
            for (at, catching_up) in due {
                ticks.extend(self.act(i, at, catching_up));
            }
        }
        ticks
    }

    /// The run of schedule `i` still going, if any.
    fn previous_run(&self, i: usize) -> Option<String> {
        let s = &self.scheduled[i];
        if let Some((run_id, _)) = s.running.last() {
            return Some(run_id.clone());
        }
        self.queued?;
        // Queued for the workers: the schedule's latest run, whichever daemon queued it.
        let id = match self.queue.last_started_tick(&s.schedule.name) {
            Ok(tick) => tick.and_then(|t| t.run_id).or_else(|| s.queued.clone())?,
            Err(e) => {
                tracing::warn!(schedule = %s.schedule.name, "cannot read the schedule's last tick: {e}");
                s.queued.clone()?
            }
        };
        match self.store.record(&id) {
            Ok(r) if matches!(r.effective_status(), RunStatus::Queued | RunStatus::Started) => Some(id),
            _ => None,
        }
    }

    /// Acts on one due tick of schedule `i` (skipped while the schedule's previous run goes,
    /// unless `catching_up`); `None`: another daemon took it.
    fn act(&mut self, i: usize, at: DateTime<Utc>, catching_up: bool) -> Option<Tick> {
        let name = self.scheduled[i].schedule.name.clone();
        // Stopped (from the UI, on any machine): its ticks pass unrecorded, as Dagster's do.
        match self.queue.schedule_stopped(&name) {
            Ok(true) => {
                tracing::debug!(schedule = %name, tick = %at, "the schedule is stopped");
                return None;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(schedule = %name, "cannot read whether the schedule is stopped; acting on its tick: {e}"),
        }
        let mut tick = Tick { schedule: name.clone(), tick: at, status: TickStatus::Started, run_id: None, reason: None };
        if let Some(run_id) = self.previous_run(i).filter(|_| !catching_up) {
            tracing::warn!(schedule = %name, %run_id, "tick skipped: the previous run is still going");
            tick.status = TickStatus::Skipped;
            tick.reason = Some(format!("run {run_id} of this schedule is still going"));
            return self.claim(tick, None);
        }
        let run_id = new_run_id();
        tick.run_id = Some(run_id.clone());
        let s = &self.scheduled[i].schedule;
        // A schedule of time-partitioned assets materializes the last window that has ended.
        let partition = last_window(&self.graph, &s.selection, at);
        let partitioned = self.graph.select(&s.selection).ok().and_then(|keys| partitions_of(&self.graph, &keys)).is_some();
        if partitioned && partition.is_none() {
            tracing::warn!(schedule = %name, "tick skipped: no partition has ended yet");
            tick.status = TickStatus::Skipped;
            tick.run_id = None;
            tick.reason = Some("no partition of its assets has ended yet".into());
            return self.claim(tick, None);
        }
        if let Some(policy) = self.queued {
            let mut run = queued_record(&run_id, &s.selection, Vec::new());
            run.schedule = Some(name.clone());
            run.tags = s.tags.clone();
            run.partition = partition.as_ref().map(ToString::to_string);
            run.config = s.run_config().cloned();
            policy.stamp(&mut run.tags);
            let tick = self.claim(tick, Some(&run))?;
            if tick.status == TickStatus::Started {
                tracing::info!(schedule = %name, %run_id, "tick: run queued for the workers");
                self.scheduled[i].queued = Some(run_id);
            }
            return Some(tick);
        }
        let mut tick = self.claim(tick, None)?;
        let mut options = self.options.clone();
        options.schedule = Some(name.clone());
        options.run_id = Some(run_id.clone());
        options.tags = s.tags.clone();
        options.partition = partition;
        options.config = s.run_config().cloned();
        let (registry, selection) = (self.registry.clone(), s.selection.clone());
        tracing::info!(schedule = %name, %run_id, "tick: starting a run");
        // A thread name cannot hold a NUL byte (std panics on one).
        let builder = std::thread::Builder::new().name(format!("schedule-{}", name.replace('\0', "")));
        match (self.spawn)(builder, Box::new(move || materialize(&registry, &selection, &options))) {
            Ok(handle) => self.scheduled[i].running.push((run_id, handle)),
            Err(e) => {
                tracing::error!(schedule = %name, "tick failed: cannot start a thread for the run: {e}");
                tick.status = TickStatus::Failed;
                tick.run_id = None;
                tick.reason = Some(format!("cannot start a thread for the run: {e}"));
                if let Err(e) = self.queue.update_tick(&tick) {
                    tracing::error!(schedule = %name, "cannot record the tick's failure: {e}");
                }
            }
        }
        Some(tick)
    }

    /// Records a tick (queueing `run` with it) unless another daemon did; a storage failure is
    /// a failed tick.
    fn claim(&self, mut tick: Tick, run: Option<&crate::history::RunRecord>) -> Option<Tick> {
        match self.queue.claim_tick(&tick, run) {
            Ok(true) => Some(tick),
            Ok(false) => {
                tracing::debug!(schedule = %tick.schedule, tick = %tick.tick, "tick taken by another daemon");
                None
            }
            Err(e) => {
                tracing::error!(schedule = %tick.schedule, "tick failed: cannot record it in the instance storage: {e}");
                tick.status = TickStatus::Failed;
                tick.run_id = None;
                tick.reason = Some(format!("cannot record the tick: {e}"));
                Some(tick)
            }
        }
    }

    fn reap(&mut self, wait: bool) {
        let (done, going): (Vec<_>, Vec<_>) = std::mem::take(&mut self.watched.running).into_iter().partition(|(_, h)| wait || h.is_finished());
        self.watched.running = going;
        for (run_id, handle) in done {
            let result = handle.join().unwrap_or_else(|_| Err(GraphError::one(format!("run {run_id} panicked"))));
            self.finished.push((run_id, result));
        }
        for s in &mut self.scheduled {
            let (done, going): (Vec<_>, Vec<_>) = std::mem::take(&mut s.running).into_iter().partition(|(_, h)| wait || h.is_finished());
            s.running = going;
            for (run_id, handle) in done {
                let result = handle.join().unwrap_or_else(|_| Err(GraphError::one(format!("run {run_id} panicked"))));
                self.finished.push((run_id, result));
            }
        }
    }

    /// Waits for the runs in progress and returns every run finished since the last call.
    pub fn wait(&mut self) -> Vec<(String, RunOutcome)> {
        self.reap(true);
        std::mem::take(&mut self.finished)
    }

    /// Runs until `shutdown` is set: ticks when due, then waits for runs in progress.
    pub fn run(&mut self, shutdown: &AtomicBool) -> Vec<(String, RunOutcome)> {
        let mut finished = Vec::new();
        while !shutdown.load(Ordering::SeqCst) {
            self.tick();
            self.sensor_tick();
            self.freshness_tick();
            self.reap(false);
            finished.append(&mut self.finished);
            let wait = self
                .next_tick()
                .map(|t| (t - self.clock.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_millis(200));
            std::thread::sleep(wait);
        }
        if self.busy() {
            tracing::info!("shutting down: waiting for the runs in progress");
        }
        finished.extend(self.wait());
        finished
    }
}

/// The partitions of the first partitioned asset among `keys`.
fn partitions_of(graph: &AssetGraph, keys: &[crate::asset::AssetKey]) -> Option<crate::partition::PartitionsDefinition> {
    keys.iter().filter_map(|k| graph.node(k)).find_map(|n| n.spec.partitions.clone())
}

/// The partition a run of `selection` started at `at` materializes: the last window of its
/// time-partitioned assets that has ended by then (none for other assets).
fn last_window(graph: &AssetGraph, selection: &str, at: DateTime<Utc>) -> Option<crate::partition::PartitionRequest> {
    let keys = graph.select(selection).ok()?;
    let def = keys
        .iter()
        .filter_map(|k| graph.node(k))
        .find_map(|n| n.spec.partitions.clone().filter(|d| matches!(d, crate::partition::PartitionsDefinition::TimeWindow(_))))?;
    match def.last_key(at) {
        Ok(key) => key.map(crate::partition::PartitionRequest::Key),
        Err(e) => {
            tracing::error!(selection, "cannot find the last partition: {e}");
            None
        }
    }
}

/// The ticks of `s` missed since its last recorded tick, as its policy says (oldest first).
fn missed(s: &Schedule, cron: &Cron, queue: &dyn RunQueue, now: DateTime<Utc>) -> Result<std::collections::VecDeque<DateTime<Utc>>, HistoryError> {
    let MissedTicks::CatchUp(n) = s.missed else { return Ok(Default::default()) };
    let Some(last) = queue.ticks(&s.name)?.into_iter().map(|t| t.tick).max() else { return Ok(Default::default()) };
    let mut missed = std::collections::VecDeque::new();
    let mut at = cron.next_after(last);
    while let Some(t) = at.filter(|t| *t <= now) {
        missed.push_back(t);
        if missed.len() > n as usize {
            missed.pop_front();
        }
        at = cron.next_after(t);
    }
    Ok(missed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{ticks, ManualClock};
    use chrono::Duration as ChronoDuration;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    static ASSET: std::sync::LazyLock<crate::registry::AssetDef> = std::sync::LazyLock::new(|| crate::registry::AssetDef {
        name: "nightly",
        key: "nightly",
        deps: &[],
        group_name: None,
        kinds: &[],
        tags: &[],
        description: None,
        pool: None,
        retry: None,
        location: crate::asset::Location { module_path: "m", file: "src/m.rs", line: 1, column: 1 },
        invoke: |_| Ok(Vec::new()),
        requirements: Vec::new,
        partitions: None,
        configs: Vec::new,
    });

    static DAILY: std::sync::LazyLock<crate::registry::AssetDef> = std::sync::LazyLock::new(|| crate::registry::AssetDef {
        name: "daily",
        key: "daily",
        partitions: Some(|| crate::partition::daily_partitions("2026-11-01").timezone("Europe/Berlin").into()),
        ..clone_def(&ASSET)
    });

    fn clone_def(def: &crate::registry::AssetDef) -> crate::registry::AssetDef {
        crate::registry::AssetDef { ..*def }
    }

    #[test]
    fn a_schedule_of_a_partitioned_asset_materializes_the_last_window_that_has_ended() {
        let (_dir, options, mut registry) = setup();
        registry.assets.push(&*DAILY);
        // 01:00 in Berlin on the 24th: the 23rd (Berlin time) has ended.
        let clock = ManualClock::new(at("2026-11-23T23:59:30Z"));
        let nightly = Schedule::new("nightly_daily", "0 1 * * *").select("daily").timezone("Europe/Berlin");
        let mut daemon = Daemon::new(registry, options.clone(), &[nightly], Arc::new(clock.clone())).unwrap();
        clock.advance(ChronoDuration::seconds(30));
        let acted = daemon.tick();
        assert_eq!(acted.len(), 1);
        daemon.wait();
        let run = options.store().unwrap().record(acted[0].run_id.as_deref().unwrap()).unwrap();
        assert_eq!(run.partition.as_deref(), Some("2026-11-23"));
    }

    /// A temporary home (kept alive by the returned directory), its options, one asset.
    fn setup() -> (tempfile::TempDir, RunOptions, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let mut options = RunOptions::new(dir.path());
        options.home = Some(dir.path().join(".etl"));
        (dir, options, Registry { dlt: Vec::new(), assets: vec![&*ASSET], ..Registry::default() })
    }

    fn no_thread(_: std::thread::Builder, _: Box<dyn FnOnce() -> RunOutcome + Send>) -> std::io::Result<JoinHandle<RunOutcome>> {
        Err(std::io::Error::new(std::io::ErrorKind::WouldBlock, "Resource temporarily unavailable"))
    }

    #[test]
    fn a_daemon_catches_up_the_last_missed_ticks_when_told_to_and_skips_them_otherwise() {
        let (_dir, options, registry) = setup();
        let clock = ManualClock::new(at("2026-11-24T10:00:30Z"));
        let every_minute = Schedule::new("every_minute", "* * * * *").select("nightly");
        let mut first = Daemon::new(registry.clone(), options.clone(), &[every_minute.clone()], Arc::new(clock.clone())).unwrap();
        clock.advance(ChronoDuration::seconds(30));
        assert_eq!(first.tick().len(), 1, "10:01");
        first.wait();
        drop(first);
        // No daemon from 10:01:00 to 10:06:30: 10:02 to 10:06 were missed.
        clock.advance(ChronoDuration::seconds(330));
        let mut skipping = Daemon::new(registry.clone(), options.clone(), &[every_minute.clone()], Arc::new(clock.clone())).unwrap();
        assert!(skipping.tick().is_empty(), "missed ticks are skipped by default");
        drop(skipping);
        let mut catching_up = Daemon::new(registry, options.clone(), &[every_minute.catch_up(3)], Arc::new(clock.clone())).unwrap();
        let acted = catching_up.tick();
        let times: Vec<String> = acted.iter().map(|t| t.tick.format("%H:%M").to_string()).collect();
        assert_eq!(times, ["10:04", "10:05", "10:06"], "the last three missed ticks");
        assert!(acted.iter().all(|t| t.status == TickStatus::Started), "each with its run: {acted:?}");
        assert_eq!(catching_up.wait().len(), 3);
        assert_eq!(ticks(&options, "every_minute").len(), 4);
    }

    #[test]
    fn a_schedule_in_a_timezone_ticks_at_its_wall_clock_time_and_a_bad_zone_is_named() {
        let (_dir, options, registry) = setup();
        // 09:00 in New York is 14:00 UTC in winter.
        let clock = ManualClock::new(at("2026-12-07T13:59:30Z"));
        let nine = Schedule::new("nine_in_new_york", "0 9 * * *").select("nightly").timezone("America/New_York");
        let mut daemon = Daemon::new(registry.clone(), options.clone(), &[nine], Arc::new(clock.clone())).unwrap();
        assert_eq!(daemon.next_tick(), Some(at("2026-12-07T14:00:00Z")));
        clock.advance(ChronoDuration::seconds(30));
        assert_eq!(daemon.tick().len(), 1);
        daemon.wait();
        let bad = [Schedule::new("mars", "0 9 * * *").timezone("Mars/Olympus")];
        let err = Daemon::new(registry, options, &bad, Arc::new(clock)).err().unwrap().to_string();
        assert!(err.contains("schedule `mars`") && err.contains("unknown timezone `Mars/Olympus`"), "{err}");
    }

    #[test]
    fn a_stopped_schedule_is_not_acted_on_until_started_again() {
        let (_dir, options, registry) = setup();
        let clock = ManualClock::new(at("2026-11-24T10:00:30Z"));
        let mut daemon = Daemon::new(registry, options.clone(), &[Schedule::new("every_minute", "* * * * *").select("nightly")], Arc::new(clock.clone())).unwrap();
        let queue = options.store().unwrap().queue().unwrap();
        queue.set_schedule_stopped("every_minute", true).unwrap();
        clock.advance(ChronoDuration::seconds(30));
        assert!(daemon.tick().is_empty(), "stopped: 10:01 passes");
        queue.set_schedule_stopped("every_minute", false).unwrap();
        clock.advance(ChronoDuration::seconds(60));
        assert_eq!(daemon.tick().len(), 1, "started again: 10:02 runs");
        daemon.wait();
        assert_eq!(ticks(&options, "every_minute").len(), 1);
    }

    #[test]
    fn a_run_thread_that_cannot_start_is_a_failed_tick_not_a_panic() {
        let (_dir, options, registry) = setup();
        let clock = ManualClock::new(at("2026-11-24T10:00:30Z"));
        let schedules = [Schedule::new("every_minute", "* * * * *").select("nightly")];
        let mut daemon = Daemon::new(registry, options.clone(), &schedules, Arc::new(clock.clone())).unwrap();
        daemon.spawn = no_thread;
        clock.advance(ChronoDuration::seconds(30));
        let acted = daemon.tick();
        assert_eq!(acted.len(), 1);
        assert_eq!(acted[0].status, TickStatus::Failed);
        assert_eq!(acted[0].reason.as_deref(), Some("cannot start a thread for the run: Resource temporarily unavailable"));
        assert!(!daemon.busy(), "nothing is running");
        assert_eq!(ticks(&options, "every_minute"), acted, "the failed tick is recorded");
        // The next tick tries again.
        daemon.spawn = spawn_thread;
        clock.advance(ChronoDuration::seconds(60));
        assert_eq!(daemon.tick()[0].status, TickStatus::Started);
        let finished = daemon.wait();
        let result = finished[0].1.as_ref().expect("the run ran");
        assert_eq!(result.outcomes[0].key().to_string(), "nightly");
    }

}
