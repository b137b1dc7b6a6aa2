//! `reads`: fills a fresh storage with N runs and M events, then times, median of `--reps`
//! after one untimed call, what the history commands read:
//!
//! - as library calls on a second handle (a new connection, or the files read afresh) in this
//!   process: `runs(20)` (the `runs` command), `asset_history` of one asset (`asset <key>`), a
//!   prefix lookup, `record` and `events` of a run in the middle (`run <id>`);
//! - as whole commands: the `warehouse` example binary (beside this one, or `--cli`) run with
//!   `--storage` as a child process: start-up, connecting, reading and printing.
//!
//! Every operation is held to the bar of 100 ms (issue 14, item 4).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context as _};

use crate::fill::{asset_key, Shape};
use crate::instance::{median, Instance, Which};

/// The bar every read is held to.
const BAR_MS: f64 = 100.0;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs in the storage.
    #[arg(long, default_value_t = 10_000)]
    runs: usize,
    /// Events in the storage, in all.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Which storage.
    #[arg(long, value_enum, default_value = "both")]
    storage: Which,
    /// Timed calls of each operation (the median is shown).
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// The asset binary whose commands are timed (default: the `warehouse` example beside this
    /// binary; without one, only the library calls are timed).
    #[arg(long)]
    cli: Option<PathBuf>,
    /// Leave the filled storages in place (and the PostgreSQL server running) to try the
    /// commands on them.
    #[arg(long)]
    keep: bool,
}

/// One timed operation.
struct Timing {
    storage: &'static str,
    operation: String,
    /// What it returned, for the reader to judge the work done.
    result: String,
    ms: f64,
    /// Held to the bar (what a command reads); otherwise shown for information.
    held: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let shape = Shape::new(args.runs, args.events)?;
    let cli = match &args.cli {
        Some(path) => Some(path.clone()),
        None => Some(std::env::current_exe()?.with_file_name("warehouse")).filter(|p| p.is_file()),
    };
    if cli.is_none() {
        eprintln!("note: no `warehouse` binary beside this one: whole commands are not timed (cargo build --release --example warehouse, or --cli <asset binary>)");
    }
    let mut timings = Vec::new();
    for kind in args.storage.kinds() {
        let instance = Instance::fresh(kind)?;
        fill(&instance, &shape)?;
        timings.extend(library_calls(&instance, &shape, args.reps)?);
        if let Some(cli) = &cli {
            timings.extend(commands(cli, &instance, &shape, args.reps)?);
        }
        if args.keep {
            println!("{}: kept: {}", kind.name(), instance.keep());
        }
    }
    print_table(&timings, args.reps);
    let missed = timings.iter().filter(|t| t.held && t.ms >= BAR_MS).count();
    if missed > 0 {
        println!("{missed} operation(s) missed the bar of {BAR_MS} ms");
    }
    Ok(())
}

/// Fills the storage and prints the time taken.
pub(crate) fn fill(instance: &Instance, shape: &Shape) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    for i in 0..shape.runs {
        shape.fill_run(&instance.store, i).with_context(|| format!("recording run {i}"))?;
        if last_report.elapsed().as_secs() >= 30 {
            eprintln!("  {}: {} of {} runs recorded ({:.0} s)", instance.kind.name(), i + 1, shape.runs, started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: filled {} runs, {} events in {secs:.1} s ({:.0} events/s, {:.0} runs/s)",
        instance.kind.name(),
        shape.runs,
        shape.events,
        shape.events as f64 / secs,
        shape.runs as f64 / secs
    );
    Ok(())
}

/// Times `op`: one untimed call, then `reps` timed ones; the median in ms and the last result.
fn time<T>(reps: usize, mut op: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
    let mut last = op()?;
    let mut ms = Vec::with_capacity(reps);
    for _ in 0..reps {
        let started = Instant::now();
        last = op()?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((median(ms), last))
}

/// The run the reads look at: one in the middle.
fn middle(shape: &Shape) -> (String, usize) {
    let i = shape.runs / 2;
    (shape.run_id(i), i)
}

/// The library calls behind `runs`, `asset <key>` and `run <id>`, each checked against what
/// the fill wrote.
fn library_calls(instance: &Instance, shape: &Shape, reps: usize) -> anyhow::Result<Vec<Timing>> {
    let store = instance.reopen()?;
    let storage = instance.kind.name();
    let (run_id, i) = middle(shape);
    let asset = shape.assets_of(i).next().expect("a run has assets");
    let key = asset_key(asset);
    let prefix = &run_id[..run_id.len() - 4];
    let mut out = Vec::new();
    let mut push = |operation: String, result: String, ms: f64| out.push(Timing { storage, held: !operation.starts_with("asset_history("), operation, result, ms });

    let (ms, runs) = time(reps, || Ok(store.runs(20)?))?;
    if runs.len() != 20.min(shape.runs) || runs[0].run_id != shape.run_id(shape.runs - 1) {
        bail!("{storage}: runs(20) returned {} runs, the first {:?}", runs.len(), runs.first().map(|r| &r.run_id));
    }
    push("runs(20)".into(), format!("{} runs", runs.len()), ms);

    let (ms, history) = time(reps, || Ok(store.asset_history(&key)?))?;
    if history.len() != shape.materializations_of(asset) {
        bail!("{storage}: asset_history({key}) returned {} events, {} expected", history.len(), shape.materializations_of(asset));
    }
    let bytes: usize = history.iter().map(|e| e.data.to_string().len()).sum();
    push(format!("asset_history({key})"), format!("{} events, {} KB of metadata", history.len(), bytes / 1024), ms);

    // What `asset <key>` reads: the newest 50 (its default `--limit`) and the count.
    let (ms, newest) = time(reps, || Ok(store.asset_history_newest(&key, 50)?))?;
    if newest.total != shape.materializations_of(asset) || newest.events.len() != 50.min(newest.total) {
        bail!("{storage}: asset_history_newest({key}, 50) returned {} of {} events", newest.events.len(), newest.total);
    }
    push(format!("asset_history_newest({key}, 50)"), format!("{} of {} events", newest.events.len(), newest.total), ms);

    let (ms, ids) = time(reps, || Ok(store.run_ids_with_prefix(prefix, 2)?))?;
    if ids != [run_id.clone()] {
        bail!("{storage}: run_ids_with_prefix({prefix}) returned {ids:?}");
    }
    push(format!("run_ids_with_prefix({}…, 2)", &prefix[..12]), "1 id".into(), ms);

    let (ms, record) = time(reps, || Ok(store.record(&run_id)?))?;
    push("record(id)".into(), format!("{} assets", record.assets.len()), ms);

    let (ms, events) = time(reps, || Ok(store.events(&run_id)?))?;
    if events.len() != shape.events_of(i) {
        bail!("{storage}: events({run_id}) returned {} events, {} expected", events.len(), shape.events_of(i));
    }
    push("events(id)".into(), format!("{} events", events.len()), ms);
    Ok(out)
}

/// The commands themselves, as child processes of `cli` with `--storage`.
fn commands(cli: &Path, instance: &Instance, shape: &Shape, reps: usize) -> anyhow::Result<Vec<Timing>> {
    let storage = instance.kind.name();
    let (run_id, i) = middle(shape);
    let key = asset_key(shape.assets_of(i).next().expect("a run has assets")).to_user_string();
    let prefix = &run_id[..run_id.len() - 4];
    let cases: [(String, Vec<&str>); 3] = [
        ("`runs`".into(), vec!["runs"]),
        (format!("`asset {key}`"), vec!["asset", &key]),
        (format!("`run {}…`", &prefix[..12]), vec!["run", prefix]),
    ];
    let mut out = Vec::new();
    for (operation, args) in cases {
        let lines = command(cli, instance, &args, true)?;
        let (ms, _) = time(reps, || command(cli, instance, &args, false))?;
        out.push(Timing { storage, operation, result: format!("{lines} lines out"), ms, held: true });
    }
    Ok(out)
}

/// Runs `cli --storage <spec> <args>` in the instance's directory; the lines it printed when
/// `count`, else its output is discarded (as a terminal would take it, without the scrolling).
fn command(cli: &Path, instance: &Instance, args: &[&str], count: bool) -> anyhow::Result<usize> {
    let output = Command::new(cli)
        .arg("--storage")
        .arg(&instance.spec)
        .args(args)
        .current_dir(instance.dir.path())
        .env_remove("ETL_STORAGE")
        .env_remove("ETL_HOME")
        .stdout(if count { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {}", cli.display()))?;
    if !output.status.success() {
        bail!("{} {} failed ({}): {}", cli.display(), args.join(" "), output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(output.stdout.iter().filter(|&&b| b == b'\n').count())
}

fn print_table(timings: &[Timing], reps: usize) {
    println!();
    println!("{:<9} {:<40} {:<34} {:>10} {:>7}  result", "storage", "operation", "returned", "median ms", "bar ms");
    for t in timings {
        let verdict = match (t.held, t.ms < BAR_MS) {
            (false, _) => "(info: the whole history, which no command reads)",
            (true, true) => "pass",
            (true, false) => "FAIL",
        };
        println!("{:<9} {:<40} {:<34} {:>10.2} {:>7.0}  {verdict}", t.storage, t.operation, t.result, t.ms, BAR_MS);
    }
    println!("(median of {reps} after one untimed call; library calls on a second handle in this process, commands as child processes)");
}
