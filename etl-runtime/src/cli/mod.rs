//! The asset binary's command line: graph, materialize, run history, daemon, destinations.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::asset::AssetKey;
use crate::context::Resources;
use crate::execute::{materialize, materialize_from_failure, AssetOutcome, RunOptions, RunResult};
use crate::graph::{AssetGraph, GraphFormat};
use crate::history::{EventKind, RunStore};
use crate::logging::LogFormat;
use crate::registry::{registered, Registry, EMPTY_REGISTRY_HELP};
use crate::schedule::{Daemon, Schedule, SystemClock};

mod pipelines;

/// Everything an asset binary is made of besides its link-time definitions: user resources and
/// schedules (Dagster's `Definitions`).
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    /// User resources, injected into asset parameters by type.
    pub resources: Resources,
    /// Schedules run by the `daemon` subcommand.
    pub schedules: Vec<Schedule>,
}

impl Definitions {
    /// Nothing but the registered assets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the user resources.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Adds a schedule.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedules.push(schedule);
        self
    }
}

impl From<Resources> for Definitions {
    fn from(resources: Resources) -> Self {
        Definitions { resources, schedules: Vec::new() }
    }
}

/// Command line of an asset binary.
#[derive(Debug, Parser)]
#[command(about = "Lists, materializes and schedules the assets defined in this binary, and shows their run history")]
pub struct Cli {
    /// Log filter for stderr (`RUST_LOG` syntax), e.g. `info` or `etl_runtime=debug`.
    #[arg(long, global = true, default_value = "warn")]
    pub log: String,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Where the run history lives: a PostgreSQL URL (`postgresql://user@host/db`), `files` or
    /// `files:<dir>`; default: `$ETL_STORAGE`, else `[instance] storage` in `.etl/config.toml`,
    /// else the files under `$ETL_HOME` or `.etl`.
    #[arg(long, global = true)]
    pub storage: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List assets: key, deps, group, kinds.
    List {
        /// Only these assets (Dagster's selection syntax, as `materialize --select`).
        #[arg(long, short)]
        select: Option<String>,
        /// Directory whose `.etl/config.toml` and `.etl/secrets.toml` the definitions read;
        /// default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Show the lineage: text, or a Mermaid or DOT picture.
    Graph {
        /// `text`, `mermaid` or `dot`.
        #[arg(long, default_value = "text")]
        format: String,
        /// Only these assets (Dagster's selection syntax, as `materialize --select`).
        #[arg(long, short)]
        select: Option<String>,
        /// Directory whose `.etl/config.toml` and `.etl/secrets.toml` the definitions read;
        /// default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Materialize a selection of assets.
    Materialize {
        /// Dagster's selection syntax: `*` (all), `key:a/b*` (a wildcard), `group:<g>`,
        /// `kind:<k>`, `tag:<k>[=<v>]`, `owner:<o>`, `+x` / `2+x` (upstream), `x+` / `x+2`
        /// (downstream), `and`, `or`, `not`, `( )`, `roots(..)`, `sinks(..)`; legacy bare keys
        /// (`a/b`, `+a` one level per `+`, `*a` all) and comma-separated unions.
        #[arg(long, short, default_value = "*")]
        select: String,
        /// Re-execute the assets a past run did not materialize (its failed and skipped ones).
        #[arg(long, conflicts_with = "select")]
        from_failure: Option<String>,
        /// At most this many ops at once (default: the number of CPUs).
        #[arg(long, default_value_t = 0)]
        max_concurrency: usize,
        /// Directory to run in (DuckDB files are created here); default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Recent runs: id, status, duration, selection.
    Runs {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Directory the runs ran in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// One run: its events and log lines.
    Run {
        /// The run id (a unique prefix is enough).
        run_id: String,
        /// Directory the run ran in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// An asset's materializations over time: rows loaded and schema changes.
    Asset {
        /// The asset key (`a/b`).
        key: String,
        /// Directory the runs ran in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Run the schedules until SIGINT or SIGTERM.
    Daemon {
        /// At most this many ops at once per run.
        #[arg(long, default_value_t = 0)]
        max_concurrency: usize,
        /// Directory to run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Show each pipeline's destination: schema version, state (cursors), tables, loads, and
    /// anything pending.
    Info {
        /// Directory the pipelines run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
        /// Only this pipeline (default: every pipeline of the binary).
        #[arg(long)]
        pipeline: Option<String>,
    },
    /// Load the pending packages (items pulled by failed or killed runs), oldest first, each in
    /// its own load.
    LoadPending {
        /// Directory the pipelines run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
        /// Only this pipeline's packages (default: every pipeline of the binary).
        #[arg(long)]
        pipeline: Option<String>,
    },
    /// Discard the pending packages.
    DropPending {
        /// Directory the pipelines run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
        /// Only this pipeline's packages (default: every pipeline of the binary).
        #[arg(long)]
        pipeline: Option<String>,
    },
    /// Drop the tables (root and nested) and the state of the resources behind assets, so their
    /// next run starts from scratch. Only dlt assets can be dropped: a selection with others is
    /// refused, naming them.
    Drop {
        /// Asset keys (or a selection) whose resources to drop.
        #[arg(long, short)]
        select: String,
        /// Directory the pipelines run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
}

/// Runs the CLI over the registered assets, with no user resources.
pub fn main() -> ExitCode {
    main_with(Definitions::new())
}

/// Runs the CLI over the registered assets with user resources and schedules
/// (`etl::main_with(etl::Resources::new().with(..))` or `etl::main_with(etl::Definitions::new()...)`).
pub fn main_with(definitions: impl Into<Definitions>) -> ExitCode {
    main_from(std::env::args_os().skip(1), definitions)
}

/// Runs the CLI on given arguments (those after the program name), for binaries that take
/// options of their own first: parse and remove them, then hand the rest over.
pub fn main_from<I, T>(args: I, definitions: impl Into<Definitions>) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let program = std::env::args_os().next().unwrap_or_else(|| "etl".into());
    let cli = Cli::parse_from(std::iter::once(program).chain(args.into_iter().map(Into::into)));
    crate::logging::init(&cli.log, cli.log_format);
    run(cli, &registered(), definitions.into())
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// Runs a parsed command over `registry`.
pub fn run(cli: Cli, registry: &Registry, definitions: Definitions) -> ExitCode {
    if registry.is_empty() {
        eprintln!("warning: {EMPTY_REGISTRY_HELP}");
    }
    let mut out = std::io::stdout().lock();
    let command = cli.command.unwrap_or(Command::List { select: None, workdir: None });
    // The commands that read or write the run history open its storage once.
    let with_store = |mut options: RunOptions| -> Result<RunOptions, String> {
        options.storage = Some(crate::storage::resolve(&options.working_dir, cli.storage.as_deref()).map_err(|e| e.to_string())?);
        Ok(options)
    };
    match command {
        Command::List { select, workdir } => list(registry, select.as_deref(), &working_dir(workdir), &mut out),
        Command::Graph { format, select, workdir } => graph(registry, &format, select.as_deref(), &working_dir(workdir), &mut out),
        Command::Materialize { select, from_failure, max_concurrency, workdir } => {
            let mut options = match with_store(RunOptions::new(working_dir(workdir)).resources(definitions.resources)) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            options.max_concurrency = max_concurrency;
            if cli.log_format == LogFormat::Text {
                options.bars = crate::progress::RunBars::for_stderr();
            }
            let result = match &from_failure {
                Some(id) => options.store().map_err(|e| e.to_string()).and_then(|store| resolve_run_id(&store, id)).and_then(|id| materialize_from_failure(registry, &id, &options).map_err(|e| e.to_string())),
                None => materialize(registry, &select, &options).map_err(|e| e.to_string()),
            };
            match result {
                Ok(r) => report(&mut out, &r),
                Err(e) => fail(e),
            }
        }
        Command::Runs { limit, workdir } => {
            let store = match with_store(RunOptions::new(working_dir(workdir))).and_then(|o| o.store().map_err(|e| e.to_string())) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let runs = match store.runs(limit) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            if runs.is_empty() {
                let _ = writeln!(out, "no runs recorded in {}", store.describe());
                return ExitCode::SUCCESS;
            }
            let rows: Vec<[String; 5]> = runs
                .iter()
                .map(|r| {
                    [
                        r.run_id.clone(),
                        r.effective_status().to_string(),
                        r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        r.duration().map(|d| format!("{:.3}s", d.num_milliseconds() as f64 / 1000.0)).unwrap_or_else(|| "-".into()),
                        match (&r.schedule, &r.parent_run_id) {
                            (Some(s), _) => format!("{} (schedule {s})", r.selection),
                            (None, Some(p)) => format!("{} (from failure of {p})", r.selection),
                            _ => r.selection.clone(),
                        },
                    ]
                })
                .collect();
            table(&mut out, ["RUN", "STATUS", "STARTED (UTC)", "DURATION", "SELECTION"], &rows);
            ExitCode::SUCCESS
        }
        Command::Run { run_id, workdir } => {
            let store = match with_store(RunOptions::new(working_dir(workdir))).and_then(|o| o.store().map_err(|e| e.to_string())) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let id = match resolve_run_id(&store, &run_id) {
                Ok(id) => id,
                Err(e) => return fail(e),
            };
            let (record, events) = match store.record(&id).and_then(|r| Ok((r, store.events(&id)?))) {
                Ok(x) => x,
                Err(e) => return fail(e),
            };
            let _ = writeln!(out, "run {} {} selection {}", record.run_id, record.effective_status(), record.selection);
            if let Some(p) = &record.parent_run_id {
                let _ = writeln!(out, "  re-executes {p}");
            }
            for e in events {
                let what = match e.kind {
                    EventKind::Log => format!("LOG {}", e.data.get("level").and_then(|l| l.as_str()).unwrap_or("INFO")),
                    kind => serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_uppercase)).unwrap_or_default(),
                };
                let subject = e.asset.clone().or(e.op.clone()).unwrap_or_default();
                let mut line = format!("{} {what:<16} {subject}", e.ts.format("%H:%M:%S%.3f"));
                if !e.message.is_empty() {
                    line.push_str(&format!("  {}", e.message));
                }
                if e.kind == EventKind::Materialization {
                    if let Some(rows) = e.data.get("rows_loaded") {
                        line.push_str(&format!("  rows_loaded={rows}"));
                    }
                }
                let _ = writeln!(out, "{}", line.trim_end());
            }
            ExitCode::SUCCESS
        }
        Command::Asset { key, workdir } => {
            let store = match with_store(RunOptions::new(working_dir(workdir))).and_then(|o| o.store().map_err(|e| e.to_string())) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let key = AssetKey::from_path(&key);
            let history = match store.asset_history(&key) {
                Ok(h) => h,
                Err(e) => return fail(e),
            };
            if history.is_empty() {
                let _ = writeln!(out, "asset {key}: never materialized (history in {})", store.describe());
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(out, "asset {key}: {} materializations", history.len());
            let mut previous: Option<Vec<(String, String)>> = None;
            for e in &history {
                let rows = e.data.get("rows_loaded").map(ToString::to_string).unwrap_or_else(|| "-".into());
                let _ = writeln!(out, "  {}  run {}  rows_loaded {rows}", e.ts.format("%Y-%m-%d %H:%M:%S"), e.run_id);
                let columns = column_schema(&e.data);
                if let Some(columns) = &columns {
                    for change in schema_changes(previous.as_deref(), columns) {
                        let _ = writeln!(out, "      schema: {change}");
                    }
                    previous = Some(columns.clone());
                }
            }
            ExitCode::SUCCESS
        }
        Command::Daemon { max_concurrency, workdir } => {
            let mut options = match with_store(RunOptions::new(working_dir(workdir)).resources(definitions.resources)) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            options.max_concurrency = max_concurrency;
            let mut daemon = match Daemon::new(registry.clone(), options, &definitions.schedules, Arc::new(SystemClock)) {
                Ok(d) => d,
                Err(e) => return fail(e),
            };
            let shutdown = Arc::new(AtomicBool::new(false));
            if let Err(e) = watch_signals(shutdown.clone()) {
                return fail(format!("cannot watch for SIGINT/SIGTERM: {e}"));
            }
            for s in &definitions.schedules {
                let _ = writeln!(out, "schedule {}: `{}` selects `{}`", s.name(), s.cron().map(|c| c.as_str()).unwrap_or("?"), s.selection());
            }
            let _ = writeln!(out, "daemon running; stop with Ctrl-C or SIGTERM");
            let _ = out.flush();
            let finished = daemon.run(&shutdown);
            let failed = finished.iter().filter(|(_, r)| !r.as_ref().is_ok_and(RunResult::success)).count();
            let _ = writeln!(out, "daemon stopped after {} run(s), {failed} failed", finished.len());
            ExitCode::SUCCESS
        }
        Command::Info { workdir, pipeline } => pipelines::info(registry, &working_dir(workdir), pipeline.as_deref(), &mut out),
        Command::Drop { select, workdir } => pipelines::drop_assets(registry, &select, &working_dir(workdir), &mut out),
        Command::LoadPending { workdir, pipeline } => {
            pipelines::pending(registry, &working_dir(workdir), pipeline.as_deref(), true, &mut out)
        }
        Command::DropPending { workdir, pipeline } => {
            pipelines::pending(registry, &working_dir(workdir), pipeline.as_deref(), false, &mut out)
        }
    }
}

/// `list`: key, deps, group and kinds of the selected assets.
fn list(registry: &Registry, select: Option<&str>, dir: &std::path::Path, out: &mut impl Write) -> ExitCode {
    let (graph, keys) = match selected(registry, select, dir) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let rows: Vec<[String; 4]> = keys
        .iter()
        .filter_map(|k| graph.node(k))
        .map(|n| {
            [
                n.spec.key.to_string(),
                n.spec.deps.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                n.spec.group.clone(),
                n.spec.kinds.join(","),
            ]
        })
        .collect();
    table(out, ["KEY", "DEPS", "GROUP", "KINDS"], &rows);
    ExitCode::SUCCESS
}

/// `graph`: the lineage of the selected assets as text, Mermaid or DOT.
fn graph(registry: &Registry, format: &str, select: Option<&str>, dir: &std::path::Path, out: &mut impl Write) -> ExitCode {
    let format = match format {
        "text" => GraphFormat::Text,
        "mermaid" => GraphFormat::Mermaid,
        "dot" => GraphFormat::Dot,
        other => return fail(format!("unknown graph format `{other}`; use `text`, `mermaid` or `dot`")),
    };
    match selected(registry, select, dir) {
        Ok((graph, keys)) => {
            let _ = write!(out, "{}", graph.render_keys(format, &keys));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Prints a run's outcome; the exit code says whether every asset materialized.
fn report(out: &mut impl Write, result: &RunResult) -> ExitCode {
    let _ = writeln!(out, "run {} ({:.3}s)", result.run_id, result.elapsed.as_secs_f64());
    for outcome in &result.outcomes {
        match outcome {
            AssetOutcome::Materialized(m) => {
                let _ = writeln!(out, "  MATERIALIZED {}", m.asset_key);
                for (k, v) in &m.metadata {
                    let _ = writeln!(out, "      {k}: {v}");
                }
            }
            AssetOutcome::Failed { key, error } => {
                let _ = writeln!(out, "  FAILED {key}: {error}");
            }
            AssetOutcome::Skipped { key, because } => {
                let names: Vec<String> = because.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, "  SKIPPED {key}: upstream {} did not materialize", names.join(", "));
            }
        }
    }
    for (op, attempts) in result.attempts.iter().filter(|(_, a)| **a > 1) {
        let _ = writeln!(out, "  op {op} took {attempts} attempts");
    }
    if result.success() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} of {} assets failed, {} skipped; re-execute with `materialize --from-failure {}`",
            result.failures().len(),
            result.outcomes.len(),
            result.skipped().len(),
            result.run_id
        );
        ExitCode::FAILURE
    }
}

fn table<const N: usize>(out: &mut impl Write, header: [&str; N], rows: &[[String; N]]) {
    let header = header.map(str::to_owned);
    let widths: Vec<usize> = (0..N).map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
}

/// A full run id from the id itself or a unique prefix. The storage lists at most two ids
/// starting with it, in byte order (the id itself first), and reads no run's record: as fast
/// with 100,000 runs as with 10.
fn resolve_run_id(store: &RunStore, prefix: &str) -> Result<String, String> {
    let ids = store.run_ids_with_prefix(prefix, 2).map_err(|e| e.to_string())?;
    match ids.as_slice() {
        [] => Err(format!("no run `{prefix}` in the run history at {}", store.describe())),
        [first, ..] if first == prefix => Ok(first.clone()),
        [one] => Ok(one.clone()),
        [a, b, ..] => Err(format!("`{prefix}` matches more than one run ({a}, {b}, ...); give more of the id")),
    }
}

fn column_schema(metadata: &serde_json::Value) -> Option<Vec<(String, String)>> {
    let cols = metadata.get("dagster/column_schema")?.as_array()?;
    Some(
        cols.iter()
            .filter_map(|c| Some((c.get("name")?.as_str()?.to_owned(), c.get("type")?.as_str().unwrap_or("").to_owned())))
            .collect(),
    )
}

/// Column changes between two materializations' `dagster/column_schema`.
fn schema_changes(before: Option<&[(String, String)]>, after: &[(String, String)]) -> Vec<String> {
    let Some(before) = before else {
        return vec![format!("{} columns: {}", after.len(), after.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", "))];
    };
    let mut changes = Vec::new();
    for (name, ty) in after {
        match before.iter().find(|(n, _)| n == name) {
            None => changes.push(format!("added column {name} {ty}")),
            Some((_, old)) if old != ty => changes.push(format!("column {name} changed type {old} -> {ty}")),
            _ => {}
        }
    }
    for (name, _) in before.iter().filter(|(n, _)| !after.iter().any(|(a, _)| a == n)) {
        changes.push(format!("column {name} no longer reported"));
    }
    changes
}

/// Sets `flag` on the first SIGINT or SIGTERM (a second one exits at once).
fn watch_signals(flag: Arc<AtomicBool>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::SignalKind;
        watch_signals_on(flag, &[SignalKind::interrupt(), SignalKind::terminate()])
    }
    #[cfg(not(unix))]
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        std::thread::Builder::new().name("signals".into()).spawn(move || {
            runtime.block_on(async move {
                for _ in 0..2 {
                    if tokio::signal::ctrl_c().await.is_err() {
                        return;
                    }
                    on_signal(&flag);
                }
            })
        })?;
        Ok(())
    }
}

/// Installs the handlers of `kinds` now (a failure is an error, not a panic in a thread) and
/// watches them on a thread of their own.
#[cfg(unix)]
fn watch_signals_on(flag: Arc<AtomicBool>, kinds: &[tokio::signal::unix::SignalKind]) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let streams = {
        let _context = runtime.enter();
        kinds.iter().map(|k| tokio::signal::unix::signal(*k)).collect::<std::io::Result<Vec<_>>>()?
    };
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        runtime.block_on(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for mut stream in streams {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while stream.recv().await.is_some() && tx.send(()).is_ok() {}
                });
            }
            for _ in 0..2 {
                if rx.recv().await.is_none() {
                    return;
                }
                on_signal(&flag);
            }
        })
    })?;
    Ok(())
}

fn on_signal(flag: &AtomicBool) {
    if flag.swap(true, Ordering::SeqCst) {
        eprintln!("second signal: exiting now");
        std::process::exit(130);
    }
    eprintln!("shutting down: no new runs; finishing the runs in progress (signal again to exit now)");
}

/// The graph of the definitions, built in `dir` (where the sources read their config, as a run
/// does), and the keys of `select` (every asset without one).
fn selected(registry: &Registry, select: Option<&str>, dir: &std::path::Path) -> Result<(AssetGraph, Vec<AssetKey>), String> {
    let graph = etl_core::resource::with_run_dir(dir, || AssetGraph::build(registry)).map_err(|e| e.to_string())?;
    let keys = match select {
        Some(s) => graph.select(s).map_err(|e| e.to_string())?,
        None => graph.nodes().iter().map(|n| n.spec.key.clone()).collect(),
    };
    Ok((graph, keys))
}

fn working_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_signal_handler_that_cannot_be_installed_is_an_error() {
        // tokio refuses SIGKILL: the error comes back to the caller, no thread panics.
        let kill = tokio::signal::unix::SignalKind::from_raw(9);
        let err = watch_signals_on(Arc::new(AtomicBool::new(false)), &[kill]).unwrap_err();
        assert!(err.to_string().contains("signal"), "{err}");
    }
}
