//! Schedules (cron expressions attached to a selection) and the daemon that runs them.
//!
//! The daemon evaluates every schedule against a [`Clock`] (the system clock, or a manual one in
//! tests), starts a run for each due tick, never starts a second run of a schedule while one is
//! going (the tick is recorded as skipped), and on shutdown stops starting runs and waits for the
//! ones in progress. Ticks are recorded under `<home>/schedules/<name>.jsonl` (a file of the
//! home even when the run history is on PostgreSQL: ticks are not in the instance storage yet).

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::execute::{materialize, new_run_id, RunOptions, RunResult};
use crate::graph::{AssetGraph, GraphError};
use crate::registry::Registry;

/// A cron expression: `min hour day-of-month month day-of-week`, optionally preceded by a
/// seconds field. Fields take `*`, numbers, ranges `a-b`, steps `*/n` or `a-b/n`, lists `a,b`,
/// and month and day names (`jan`, `mon`). Times are UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    seconds: BTreeSet<u32>,
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days: BTreeSet<u32>,
    months: BTreeSet<u32>,
    weekdays: BTreeSet<u32>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// A cron expression that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression `{expr}`: {message}")]
pub struct CronError {
    /// The expression.
    pub expr: String,
    /// What is wrong.
    pub message: String,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses an expression; `@hourly`, `@daily`, `@weekly`, `@monthly` are accepted too.
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let err = |message: String| CronError { expr: expr.to_owned(), message };
        let expanded = match expr.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match parts.len() {
            5 => ("0", &parts[..]),
            6 => (parts[0], &parts[1..]),
            n => return Err(err(format!("expected 5 fields (minute hour day month weekday) or 6 (with seconds first), found {n}"))),
        };
        let field = |text: &str, name: &str, min: u32, max: u32, names: &[&str]| {
            parse_field(text, min, max, names).map_err(|m| err(format!("{name} field `{text}`: {m}")))
        };
        let mut weekdays = field(rest[4], "weekday", 0, 7, &WEEKDAYS)?;
        if weekdays.remove(&7) {
            weekdays.insert(0);
        }
        Ok(Cron {
            text: expr.to_owned(),
            seconds: field(sec, "second", 0, 59, &[])?,
            minutes: field(rest[0], "minute", 0, 59, &[])?,
            hours: field(rest[1], "hour", 0, 23, &[])?,
            days: field(rest[2], "day-of-month", 1, 31, &[])?,
            months: field(rest[3], "month", 1, 12, &MONTHS)?,
            weekdays,
            days_restricted: rest[2] != "*" && rest[2] != "?",
            weekdays_restricted: rest[4] != "*" && rest[4] != "?",
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, t: &DateTime<Utc>) -> bool {
        let dom = self.days.contains(&t.day());
        let dow = self.weekdays.contains(&t.weekday().num_days_from_sunday());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first time strictly after `after` that matches (within ten years).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = after.with_nanosecond(0)? + ChronoDuration::seconds(1);
        let limit = after + ChronoDuration::days(366 * 10);
        while t <= limit {
            if !self.months.contains(&t.month()) {
                let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
                t = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
                continue;
            }
            if !self.day_matches(&t) {
                t = (t + ChronoDuration::days(1)).with_hour(0)?.with_minute(0)?.with_second(0)?;
                continue;
            }
            if !self.hours.contains(&t.hour()) {
                t = (t + ChronoDuration::hours(1)).with_minute(0)?.with_second(0)?;
                continue;
            }
            if !self.minutes.contains(&t.minute()) {
                t = (t + ChronoDuration::minutes(1)).with_second(0)?;
                continue;
            }
            if !self.seconds.contains(&t.second()) {
                t += ChronoDuration::seconds(1);
                continue;
            }
            return Some(t);
        }
        None
    }
}

fn parse_field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<BTreeSet<u32>, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + if min == 1 { 1 } else { 0 });
        }
        let v: u32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
        if v < min || v > max {
            return Err(format!("{v} is out of range {min}-{max}"));
        }
        Ok(v)
    };
    let mut out = BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| format!("step `{s}` must be a positive number"))?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("range {lo}-{hi} is empty"));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    Ok(out)
}

/// A schedule: a selection run on a cron expression.
///
/// ```
/// let nightly = etl_runtime::schedule::Schedule::new("nightly", "0 3 * * *").select("group:shop+");
/// assert_eq!(nightly.name(), "nightly");
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    name: String,
    cron: Result<Cron, CronError>,
    selection: String,
}

impl Schedule {
    /// A schedule of every asset; narrow it with [`Schedule::select`]. An invalid expression is
    /// reported when the definitions are validated.
    pub fn new(name: &str, cron: &str) -> Self {
        Schedule { name: name.to_owned(), cron: Cron::parse(cron), selection: "*".into() }
    }

    /// The selection to run (Dagster's syntax, as `materialize --select`).
    pub fn select(mut self, selection: &str) -> Self {
        self.selection = selection.to_owned();
        self
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Selection.
    pub fn selection(&self) -> &str {
        &self.selection
    }

    /// The cron expression, if valid.
    pub fn cron(&self) -> Result<&Cron, &CronError> {
        self.cron.as_ref()
    }
}

/// Where the daemon takes the time from.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(now)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: ChronoDuration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the daemon did with a due tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// The schedule.
    pub schedule: String,
    /// The tick's time.
    pub tick: DateTime<Utc>,
    /// `started`, `skipped` or `failed`.
    pub status: TickStatus,
    /// The run started.
    pub run_id: Option<String>,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
}

/// Outcome of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TickStatus {
    /// A run was started.
    Started,
    /// No run was started: the schedule's previous run is still going.
    Skipped,
    /// The run could not be started (no thread for it).
    Failed,
}

/// What a run thread returns.
type RunOutcome = Result<RunResult, GraphError>;

/// Starts a run's thread (a seam: tests make it fail).
type Spawner = fn(std::thread::Builder, Box<dyn FnOnce() -> RunOutcome + Send>) -> std::io::Result<JoinHandle<RunOutcome>>;

fn spawn_thread(builder: std::thread::Builder, run: Box<dyn FnOnce() -> RunOutcome + Send>) -> std::io::Result<JoinHandle<RunOutcome>> {
    builder.spawn(run)
}

struct Scheduled {
    schedule: Schedule,
    cron: Cron,
    next: Option<DateTime<Utc>>,
    running: Option<(String, JoinHandle<RunOutcome>)>,
}

/// Runs schedules.
pub struct Daemon {
    registry: Registry,
    options: RunOptions,
    clock: Arc<dyn Clock>,
    scheduled: Vec<Scheduled>,
    finished: Vec<(String, RunOutcome)>,
    spawn: Spawner,
}

impl Daemon {
    /// A daemon of these schedules. Invalid cron expressions and selections are reported, all at
    /// once, before anything runs.
    pub fn new(registry: Registry, options: RunOptions, schedules: &[Schedule], clock: Arc<dyn Clock>) -> Result<Self, GraphError> {
        let graph = AssetGraph::build(&registry)?;
        let mut problems = Vec::new();
        let mut scheduled = Vec::new();
        let now = clock.now();
        for s in schedules {
            if let Err(e) = graph.select(&s.selection) {
                problems.push(format!("schedule `{}`: {e}", s.name));
            }
            match &s.cron {
                Ok(cron) => scheduled.push(Scheduled { schedule: s.clone(), cron: cron.clone(), next: cron.next_after(now), running: None }),
                Err(e) => problems.push(format!("schedule `{}`: {e}", s.name)),
            }
        }
        if scheduled.is_empty() && problems.is_empty() {
            problems.push("no schedules are defined; add one with `etl::Definitions::new().schedule(etl::Schedule::new(..))`".into());
        }
        if !problems.is_empty() {
            return Err(GraphError { problems });
        }
        Ok(Daemon { registry, options, clock, scheduled, finished: Vec::new(), spawn: spawn_thread })
    }

    /// The next time a schedule is due.
    pub fn next_tick(&self) -> Option<DateTime<Utc>> {
        self.scheduled.iter().filter_map(|s| s.next).min()
    }

    /// Whether a run started by the daemon is still going.
    pub fn busy(&self) -> bool {
        self.scheduled.iter().any(|s| s.running.is_some())
    }

    /// Collects finished runs and starts a run for every due schedule. Returns the ticks acted on.
    pub fn tick(&mut self) -> Vec<Tick> {
        self.reap(false);
        let now = self.clock.now();
        let mut ticks = Vec::new();
        for s in &mut self.scheduled {
            let Some(due) = s.next.filter(|t| *t <= now) else { continue };
            s.next = s.cron.next_after(now);
            let tick = if let Some((run_id, _)) = &s.running {
                tracing::warn!(schedule = %s.schedule.name, %run_id, "tick skipped: the previous run is still going");
                Tick {
                    schedule: s.schedule.name.clone(),
                    tick: due,
                    status: TickStatus::Skipped,
                    run_id: None,
                    reason: Some(format!("run {run_id} of this schedule is still going")),
                }
            } else {
                let run_id = new_run_id();
                let mut options = self.options.clone();
                options.schedule = Some(s.schedule.name.clone());
                options.run_id = Some(run_id.clone());
                let (registry, selection) = (self.registry.clone(), s.schedule.selection.clone());
                tracing::info!(schedule = %s.schedule.name, %run_id, "tick: starting a run");
                // A thread name cannot hold a NUL byte (std panics on one).
                let builder = std::thread::Builder::new().name(format!("schedule-{}", s.schedule.name.replace('\0', "")));
                match (self.spawn)(builder, Box::new(move || materialize(&registry, &selection, &options))) {
                    Ok(handle) => {
                        s.running = Some((run_id.clone(), handle));
                        Tick { schedule: s.schedule.name.clone(), tick: due, status: TickStatus::Started, run_id: Some(run_id), reason: None }
                    }
                    Err(e) => {
                        tracing::error!(schedule = %s.schedule.name, "tick failed: cannot start a thread for the run: {e}");
                        let reason = format!("cannot start a thread for the run: {e}");
                        Tick { schedule: s.schedule.name.clone(), tick: due, status: TickStatus::Failed, run_id: None, reason: Some(reason) }
                    }
                }
            };
            record_tick(&self.options, &tick);
            ticks.push(tick);
        }
        ticks
    }

    fn reap(&mut self, wait: bool) {
        for s in &mut self.scheduled {
            let done = s.running.as_ref().is_some_and(|(_, h)| wait || h.is_finished());
            if done {
                let (run_id, handle) = s.running.take().expect("checked");
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

fn record_tick(options: &RunOptions, tick: &Tick) {
    let dir = options.home_dir().join("schedules");
    let path = dir.join(format!("{}.jsonl", tick.schedule));
    let line = serde_json::to_string(tick).expect("tick serializes") + "\n";
    let result = std::fs::create_dir_all(&dir)
        .and_then(|_| OpenOptions::new().create(true).append(true).open(&path))
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = result {
        eprintln!("warning: cannot record a tick of schedule `{}` in {}: {e}", tick.schedule, path.display());
    }
}

/// The recorded ticks of a schedule, oldest first.
pub fn ticks(options: &RunOptions, schedule: &str) -> Vec<Tick> {
    let path = options.home_dir().join("schedules").join(format!("{schedule}.jsonl"));
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn next_occurrences() {
        let c = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(c.next_after(at("2026-11-24T05:07:13Z")), Some(at("2026-11-24T05:15:00Z")));
        let c = Cron::parse("0 3 * * mon-fri").unwrap();
        // 2026-11-28 is a Saturday.
        assert_eq!(c.next_after(at("2026-11-27T04:00:00Z")), Some(at("2026-11-30T03:00:00Z")));
        let c = Cron::parse("0 0 29 feb *").unwrap();
        assert_eq!(c.next_after(at("2026-03-01T00:00:00Z")), Some(at("2028-02-29T00:00:00Z")));
        let c = Cron::parse("*/2 * * * * *").unwrap();
        assert_eq!(c.next_after(at("2026-11-24T05:07:13Z")), Some(at("2026-11-24T05:07:14Z")));
        let c = Cron::parse("@daily").unwrap();
        assert_eq!(c.next_after(at("2026-12-31T23:59:59Z")), Some(at("2027-01-01T00:00:00Z")));
        // Day of month and day of week restricted together: either matches (cron's rule).
        let c = Cron::parse("0 0 1 * sun").unwrap();
        assert_eq!(c.next_after(at("2026-11-24T00:00:00Z")), Some(at("2026-11-29T00:00:00Z")));
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
    });

    fn no_thread(_: std::thread::Builder, _: Box<dyn FnOnce() -> RunOutcome + Send>) -> std::io::Result<JoinHandle<RunOutcome>> {
        Err(std::io::Error::new(std::io::ErrorKind::WouldBlock, "Resource temporarily unavailable"))
    }

    #[test]
    fn a_run_thread_that_cannot_start_is_a_failed_tick_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = RunOptions::new(dir.path());
        options.home = Some(dir.path().join(".etl"));
        let clock = ManualClock::new(at("2026-11-24T10:00:30Z"));
        let registry = Registry { dlt: Vec::new(), assets: vec![&*ASSET] };
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

    #[test]
    fn errors_name_the_field() {
        assert_eq!(Cron::parse("61 * * * *").unwrap_err().message, "minute field `61`: 61 is out of range 0-59");
        assert!(Cron::parse("* * *").unwrap_err().message.starts_with("expected 5 fields"));
        assert!(Cron::parse("*/0 * * * *").unwrap_err().message.contains("step `0`"));
        assert!(Cron::parse("0 0 * * funday").unwrap_err().message.contains("weekday field"));
    }
}
