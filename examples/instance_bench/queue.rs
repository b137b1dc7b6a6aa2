//! `queue`: W worker processes (this binary, `etl worker --drain`) drain a queue of N short
//! runs (one asset that does nothing), on a fresh storage of each kind. It checks that every
//! run was executed exactly once (its record `SUCCESS`, one `RUN_START` event) and prints the
//! throughput and what the queue costs a run: per worker, the gap between the end of one run
//! and the start of the next (release, reap, claim and the launch), beside the reference of
//! the same run executed by `materialize` in this process on the same storage.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context as _};
use etl::runtime::{queued_record, EventKind, RunOptions};

use crate::instance::{median, Instance, Which};

/// The runs' asset: nothing to do, so what is measured is the queue and the run's bookkeeping.
#[etl::asset(group_name = "instance_bench")]
fn bench_noop() {}

#[derive(clap::Args)]
pub struct Args {
    /// Runs in the queue.
    #[arg(long, default_value_t = 1000)]
    runs: usize,
    /// Worker processes.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Runs of the in-process reference.
    #[arg(long, default_value_t = 50)]
    reference_runs: usize,
    /// Which storages.
    #[arg(long, value_enum, default_value = "both")]
    storage: Which,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.runs == 0 || args.workers == 0 {
        bail!("--runs and --workers must be at least 1");
    }
    for kind in args.storage.kinds() {
        let instance = Instance::fresh(kind)?;
        let reference = reference(&instance, args.reference_runs)?;
        drain(&instance, args, reference)?;
    }
    Ok(())
}

/// The median wall time of one run executed in this process with `materialize`, in ms.
fn reference(instance: &Instance, n: usize) -> anyhow::Result<f64> {
    let registry = etl::runtime::registered();
    let mut options = RunOptions::new(instance.dir.path());
    options.storage = Some(instance.reopen()?);
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let started = Instant::now();
        let result = etl::runtime::materialize(&registry, "bench_noop", &options)?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if !result.success() {
            bail!("the reference run failed: {:?}", result.failures());
        }
    }
    Ok(median(ms))
}

fn drain(instance: &Instance, args: &Args, reference_ms: f64) -> anyhow::Result<()> {
    let storage = instance.kind.name();
    let queue = instance.store.queue()?;
    let ids: Vec<String> = (0..args.runs).map(|i| format!("q{i:06}")).collect();
    for id in &ids {
        queue.enqueue(&queued_record(id, "bench_noop", vec!["bench_noop".into()]))?;
    }
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let children = (0..args.workers)
        .map(|_| {
            Command::new(&exe)
                .args(["etl", "worker", "--drain", "--poll-ms", "50", "--max-concurrency", "1", "--storage", &instance.spec, "--workdir"])
                .arg(instance.dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("starting a worker")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut per_worker = Vec::new();
    for child in children {
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("{storage}: a worker failed:\n{text}");
        }
        per_worker.push(text.lines().find(|l| l.starts_with("worker stopped")).unwrap_or("?").to_owned());
    }
    let wall = started.elapsed().as_secs_f64();

    // Exactly once: every run succeeded and started once.
    let store = instance.reopen()?;
    let mut by_worker: BTreeMap<String, Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>> = BTreeMap::new();
    let mut run_ms = Vec::with_capacity(ids.len());
    for id in &ids {
        let record = store.record(id)?;
        if record.status != etl::RunStatus::Success {
            bail!("{storage}: run {id} is {}", record.status);
        }
        let starts = store.events(id)?.iter().filter(|e| e.kind == EventKind::RunStart).count();
        if starts != 1 {
            bail!("{storage}: run {id} started {starts} times");
        }
        let ended = record.ended_at.context("an ended run has an end")?;
        run_ms.push((ended - record.started_at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        by_worker.entry(record.worker.unwrap_or_default()).or_default().push((record.started_at, ended));
    }
    let mut gaps = Vec::new();
    for spans in by_worker.values_mut() {
        spans.sort();
        gaps.extend(spans.windows(2).map(|w| (w[1].0 - w[0].1).num_microseconds().unwrap_or(0) as f64 / 1000.0));
    }
    let gap = if gaps.is_empty() { f64::NAN } else { median(gaps) };
    let run = median(run_ms);
    println!("{storage}: {} workers drained {} runs in {wall:.2} s ({:.0} runs/s); every run executed once", args.workers, ids.len(), ids.len() as f64 / wall);
    println!("  runs per worker: {}", by_worker.values().map(|v| v.len().to_string()).collect::<Vec<_>>().join(", "));
    println!("  a run (its record's start to end), median:        {run:8.2} ms");
    println!("  claim overhead (end of one run to the next), median: {gap:8.2} ms per run");
    println!("  reference: `materialize` of the same run in process: {reference_ms:8.2} ms per run");
    println!("  (run + claim overhead) / reference: {:.2}", (run + gap) / reference_ms);
    for line in per_worker {
        println!("  {line}");
    }
    Ok(())
}
