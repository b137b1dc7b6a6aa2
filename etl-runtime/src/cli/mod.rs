//! The asset binary's command line: graph, materialize, run history, daemon, destinations.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::asset::AssetKey;
use crate::check::CheckSpec;
use crate::context::Resources;
use crate::sensor::SensorSpec;
use crate::execute::{materialize, materialize_from_failure, AssetOutcome, RunOptions, RunResult};
use crate::graph::{AssetGraph, GraphFormat};
use crate::logging::LogFormat;
use crate::history::RunStore;
use crate::queue::launcher::{InProcessLauncher, RunLauncher};
use crate::registry::{registered, Registry, EMPTY_REGISTRY_HELP};
use crate::schedule::{Daemon, Schedule, SystemClock};

mod checks;
mod history;
mod partitions;
mod pipelines;
mod queue;
mod run_args;

use run_args::RunArgs;

/// Everything an asset binary is made of besides its link-time definitions: user resources,
/// schedules and the run launcher of its workers (Dagster's `Definitions` and instance).
#[derive(Clone, Default)]
pub struct Definitions {
    /// User resources, injected into asset parameters by type.
    pub resources: Resources,
    /// Schedules run by the `daemon` subcommand.
    pub schedules: Vec<Schedule>,
    /// What `worker` does with a claimed run; default: execute it in the worker's process.
    pub launcher: Option<Arc<dyn RunLauncher>>,
    /// What serves `ui`: set by the `etl` crate when it is built with its web UI.
    pub ui: Option<UiServer>,
    /// Built-in asset checks (`etl::checks::...`), besides the `#[etl::asset_check]` functions.
    pub checks: Vec<CheckSpec>,
    /// Built-in sensors (`etl::sensors::...`), besides the `#[etl::sensor]` functions.
    pub sensors: Vec<SensorSpec>,
}

/// Serves the web UI until a signal (the `ui` command); see the `etl-ui` crate.
pub type UiServer = fn(UiRequest) -> ExitCode;

/// What the `ui` command hands its server.
pub struct UiRequest {
    /// The binary's definitions.
    pub registry: Registry,
    /// Run options (working directory, resources, the opened storage).
    pub options: RunOptions,
    /// The address to bind.
    pub host: String,
    /// The port (0: any free one).
    pub port: u16,
    /// The token every request must carry (required off loopback).
    pub token: Option<String>,
    /// The binary's schedules (the schedules page).
    pub schedules: Vec<Schedule>,
}

impl std::fmt::Debug for Definitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Definitions")
            .field("resources", &self.resources)
            .field("schedules", &self.schedules)
            .field("launcher", &self.launcher.as_ref().map(|_| "custom"))
            .field("ui", &self.ui.is_some())
            .finish()
    }
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

    /// Adds an asset check (a built-in one: `etl::checks::column_schema_change("orders")`).
    pub fn check(mut self, check: impl Into<CheckSpec>) -> Self {
        self.checks.push(check.into());
        self
    }

    /// Adds a sensor (a built-in one: `etl::sensors::file_sensor("landing", "landing/*.jsonl")`).
    pub fn sensor(mut self, sensor: impl Into<SensorSpec>) -> Self {
        self.sensors.push(sensor.into());
        self
    }

    /// Sets the launcher `worker` hands claimed runs to (a container or a job per run).
    pub fn launcher(mut self, launcher: impl RunLauncher + 'static) -> Self {
        self.launcher = Some(Arc::new(launcher));
        self
    }
}

impl From<Resources> for Definitions {
    fn from(resources: Resources) -> Self {
        Definitions { resources, ..Definitions::default() }
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
        #[command(flatten)]
        run: RunArgs,
        /// At most this many ops at once (default: the number of CPUs).
        #[arg(long, default_value_t = 0)]
        max_concurrency: usize,
        /// Directory to run in (DuckDB files are created here); default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Queue a run for the workers (`worker`) and print its id.
    Submit {
        /// The assets to run (Dagster's selection syntax, as `materialize --select`).
        #[arg(long, short, default_value = "*")]
        select: String,
        /// Re-execute the assets a past run did not materialize.
        #[arg(long, conflicts_with = "select")]
        from_failure: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        /// Directory whose config the run uses; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Materialize the missing and failed partitions of a range: in one run (Dagster's
    /// single-run backfill) or in runs of `--max-partitions-per-run`. Run it again after a
    /// failure: it does only what is still missing or failed.
    Backfill {
        /// The partitioned assets (Dagster's selection syntax).
        #[arg(long, short)]
        select: String,
        /// The first partition key.
        #[arg(long)]
        from: String,
        /// The last partition key (included).
        #[arg(long)]
        to: String,
        /// At most this many partitions per run (default: each contiguous range in one run).
        #[arg(long)]
        max_partitions_per_run: Option<usize>,
        /// Queue the runs for the workers instead of running them here.
        #[arg(long)]
        submit: bool,
        #[command(flatten)]
        run: RunArgs,
        /// At most this many ops at once per run.
        #[arg(long, default_value_t = 0)]
        max_concurrency: usize,
        /// Directory to run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Every asset check, with its latest result.
    Checks {
        /// Directory whose storage to read; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Every sensor, with its cursor and last evaluation.
    Sensors {
        /// Directory whose storage to read; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Claim queued runs and execute them, one at a time, until SIGINT or SIGTERM (the run in
    /// progress is finished first). Any number of workers may run on any number of machines
    /// against one PostgreSQL storage.
    Worker {
        /// At most this many ops at once per run.
        #[arg(long, default_value_t = 0)]
        max_concurrency: usize,
        /// A claimed run's lease, renewed while it runs; a run whose worker is lost is failed
        /// (and retried, per `[run_retries]`) after this long.
        #[arg(long, default_value_t = 30.0)]
        lease_secs: f64,
        /// How often an empty queue is looked at, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        poll_ms: u64,
        /// Stop once the queue is empty and no claimed run is left.
        #[arg(long)]
        drain: bool,
        /// Stop after this many runs.
        #[arg(long)]
        max_runs: Option<usize>,
        /// Directory to run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// The run queue: queued runs, and runs claimed by workers with their leases.
    Queue {
        /// Directory whose storage to read; default: the current directory.
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
        /// How many of the newest materializations to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Directory the runs ran in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Run the schedules, sensors and freshness checks until SIGINT or SIGTERM.
    Daemon {
        /// At most this many ops at once per run.
        #[arg(long, default_value_t = 0)]
        max_concurrency: usize,
        /// Directory to run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Serve the web UI: the asset catalog, lineage, asset and run pages, launching runs.
    Ui {
        /// The address to bind; any other than loopback requires `--token`.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port.
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// A token every request must carry (`Authorization: Bearer <token>`, or once as
        /// `?token=` in a browser); default: `$ETL_UI_TOKEN`.
        #[arg(long, env = "ETL_UI_TOKEN")]
        token: Option<String>,
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

pub(crate) fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// Runs a parsed command over `registry` (with the definitions' built-in checks and sensors).
pub fn run(cli: Cli, registry: &Registry, definitions: Definitions) -> ExitCode {
    if registry.is_empty() {
        eprintln!("warning: {EMPTY_REGISTRY_HELP}");
    }
    let mut merged = registry.clone();
    merged.checks.extend(definitions.checks.iter().cloned());
    merged.sensors.extend(definitions.sensors.iter().cloned());
    let registry = &merged;
    let mut out = std::io::stdout().lock();
    let command = cli.command.unwrap_or(Command::List { select: None, workdir: None });
    // The commands that read or write the run history open its storage once.
    let with_store = |mut options: RunOptions| -> Result<RunOptions, String> {
        options.storage = Some(crate::storage::resolve(&options.working_dir, cli.storage.as_deref()).map_err(|e| e.to_string())?);
        Ok(options)
    };
    let open_store = |dir: PathBuf| crate::storage::resolve(&dir, cli.storage.as_deref()).map_err(|e| e.to_string());
    match command {
        Command::List { select, workdir } => list(registry, select.as_deref(), &working_dir(workdir), &mut out),
        Command::Graph { format, select, workdir } => graph(registry, &format, select.as_deref(), &working_dir(workdir), &mut out),
        Command::Materialize { select, from_failure, run, max_concurrency, workdir } => {
            let mut options = match with_store(RunOptions::new(working_dir(workdir)).resources(definitions.resources)) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            if let Err(e) = run.apply(&mut options) {
                return fail(e);
            }
            options.max_concurrency = max_concurrency;
            if cli.log_format == LogFormat::Text {
                options.bars = crate::progress::RunBars::for_stderr();
            }
            let result = match &from_failure {
                Some(id) => options.store().map_err(|e| e.to_string()).and_then(|store| history::resolve_run_id(&store, id)).and_then(|id| materialize_from_failure(registry, &id, &options).map_err(|e| e.to_string())),
                None => materialize(registry, &select, &options).map_err(|e| e.to_string()),
            };
            match result {
                Ok(r) => report(&mut out, &r),
                Err(e) => fail(e),
            }
        }
        Command::Runs { limit, workdir } => match open_store(working_dir(workdir)) {
            Ok(store) => history::runs(&store, limit, &mut out),
            Err(e) => fail(e),
        },
        Command::Run { run_id, workdir } => match open_store(working_dir(workdir)) {
            Ok(store) => history::run(&store, &run_id, &mut out),
            Err(e) => fail(e),
        },
        Command::Asset { key, limit, workdir } => match open_store(working_dir(workdir.clone())) {
            Ok(store) => {
                let code = history::asset(&store, &key, limit, &mut out);
                partitions::asset_extras(registry, &working_dir(workdir), &store, &key, &mut out);
                code
            }
            Err(e) => fail(e),
        },
        Command::Submit { select, from_failure, run, workdir } => match open_store(working_dir(workdir.clone())) {
            Ok(store) => queue::submit(registry, &store, &working_dir(workdir), &select, from_failure.as_deref(), &run, &mut out),
            Err(e) => fail(e),
        },
        Command::Backfill { select, from, to, max_partitions_per_run, submit, run, max_concurrency, workdir } => {
            let mut options = match with_store(RunOptions::new(working_dir(workdir)).resources(definitions.resources)) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            options.max_concurrency = max_concurrency;
            let b = partitions::Backfill { select: &select, from: &from, to: &to, max_per_run: max_partitions_per_run, submit, run: &run };
            partitions::backfill(registry, options, &b, &mut out)
        }
        Command::Checks { workdir } => match open_store(working_dir(workdir)) {
            Ok(store) => checks::checks(registry, &store, &mut out),
            Err(e) => fail(e),
        },
        Command::Sensors { workdir } => match open_store(working_dir(workdir)) {
            Ok(store) => checks::sensors(registry, &store, &mut out),
            Err(e) => fail(e),
        },
        Command::Worker { max_concurrency, lease_secs, poll_ms, drain, max_runs, workdir } => {
            let mut options = match with_store(RunOptions::new(working_dir(workdir)).resources(definitions.resources)) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            options.max_concurrency = max_concurrency;
            let worker = crate::queue::worker::WorkerOptions {
                lease: std::time::Duration::from_secs_f64(lease_secs),
                poll: std::time::Duration::from_millis(poll_ms),
                drain,
                max_runs,
            };
            let launcher = definitions.launcher.clone().unwrap_or_else(|| Arc::new(InProcessLauncher::new(registry.clone())));
            queue::worker(&*launcher, options, worker, &mut out)
        }
        Command::Queue { workdir } => match open_store(working_dir(workdir)) {
            Ok(store) => queue::list(&store, &mut out),
            Err(e) => fail(e),
        },
        Command::Daemon { max_concurrency, workdir } => {
            let mut options = match with_store(RunOptions::new(working_dir(workdir)).resources(definitions.resources)) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            options.max_concurrency = max_concurrency;
            daemon(registry, options, &definitions.schedules, &mut out)
        }
        Command::Ui { host, port, token, workdir } => {
            let Some(serve) = definitions.ui else {
                return fail("this binary is built without the web UI (the `etl` crate's `ui` feature)");
            };
            let options = match with_store(RunOptions::new(working_dir(workdir)).resources(definitions.resources)) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            serve(UiRequest { registry: registry.clone(), options, host, port, token, schedules: definitions.schedules })
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

/// `daemon`: the schedules until SIGINT or SIGTERM.
fn daemon(registry: &Registry, options: RunOptions, schedules: &[Schedule], out: &mut impl Write) -> ExitCode {
    let where_ = options.storage.as_ref().map(RunStore::describe).unwrap_or_default();
    let mut daemon = match Daemon::new(registry.clone(), options, schedules, Arc::new(SystemClock)) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    if let Err(e) = watch_signals(shutdown.clone()) {
        return fail(format!("cannot watch for SIGINT/SIGTERM: {e}"));
    }
    for s in schedules {
        let zone = s.cron().ok().and_then(|c| c.timezone()).map(|t| t.name().to_owned()).unwrap_or_else(|| "UTC".into());
        let _ = writeln!(out, "schedule {}: `{}` ({zone}) selects `{}`", s.name(), s.cron().map(|c| c.as_str()).unwrap_or("?"), s.selection());
    }
    if daemon.queues_runs() {
        let _ = writeln!(out, "runs are queued for the workers (start them with `worker`) in {where_}");
    }
    let _ = writeln!(out, "daemon running; stop with Ctrl-C or SIGTERM");
    let _ = out.flush();
    let finished = daemon.run(&shutdown);
    let failed = finished.iter().filter(|(_, r)| !r.as_ref().is_ok_and(RunResult::success)).count();
    let _ = writeln!(out, "daemon stopped after {} run(s), {failed} failed", finished.len());
    ExitCode::SUCCESS
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
                let names: Vec<String> = because
                    .iter()
                    .map(|k| match result.checks.iter().find(|c| c.blocks() && c.asset == k.to_user_string()) {
                        Some(c) => format!("{k} failed its blocking check `{}`", c.check),
                        None => format!("{k} did not materialize"),
                    })
                    .collect();
                let _ = writeln!(out, "  SKIPPED {key}: upstream {}", names.join(", "));
            }
        }
    }
    for c in &result.checks {
        let _ = writeln!(out, "  CHECK {} {} of {}{}", c.outcome(), c.check, c.asset, c.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default());
    }
    for (op, attempts) in result.attempts.iter().filter(|(_, a)| **a > 1) {
        let _ = writeln!(out, "  op {op} took {attempts} attempts");
    }
    if result.success() {
        ExitCode::SUCCESS
    } else {
        let blocked = result.checks.iter().filter(|c| c.blocks()).count();
        eprintln!(
            "error: {} of {} assets failed, {} skipped, {blocked} blocking check(s) failed; re-execute with `materialize --from-failure {}`",
            result.failures().len(),
            result.outcomes.len(),
            result.skipped().len(),
            result.run_id
        );
        ExitCode::FAILURE
    }
}

pub(crate) fn table<const N: usize>(out: &mut impl Write, header: [&str; N], rows: &[[String; N]]) {
    let header = header.map(str::to_owned);
    let widths: Vec<usize> = (0..N).map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
}

/// Sets `flag` on the first SIGINT or SIGTERM (a second one exits at once).
pub(crate) fn watch_signals(flag: Arc<AtomicBool>) -> std::io::Result<()> {
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
