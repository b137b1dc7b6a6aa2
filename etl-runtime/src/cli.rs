//! The asset binary's command line: `list` and `materialize`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::Resources;
use crate::execute::{materialize, AssetOutcome, RunOptions};
use crate::graph::AssetGraph;
use crate::registry::{registered, DltAssetsDef, EMPTY_REGISTRY_HELP};

/// Command line of an asset binary.
#[derive(Debug, Parser)]
#[command(about = "Lists and materializes the assets defined in this binary")]
pub struct Cli {
    /// Log filter (`RUST_LOG` syntax), e.g. `info` or `etl_runtime=debug`.
    #[arg(long, global = true, default_value = "warn")]
    pub log: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List assets: key, deps, group, kinds.
    List,
    /// Materialize a selection of assets.
    Materialize {
        /// `*` (all), a key, or keys separated by commas; `+key` adds upstream, `key+` downstream,
        /// `group:<g>` and `kind:<k>` select by group and kind.
        #[arg(long, short, default_value = "*")]
        select: String,
        /// Directory to run in (DuckDB files are created here); default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Show each pipeline's destination: schema version, state (cursors), tables, loads, and
    /// anything pending.
    Info {
        /// Directory the pipelines run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Load the pending packages (items pulled by failed or killed runs) of every pipeline,
    /// oldest first, each in its own load.
    LoadPending {
        /// Directory the pipelines run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Discard the pending packages of every pipeline.
    DropPending {
        /// Directory the pipelines run in; default: the current directory.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Drop the tables (root and nested) and the state of the resources behind assets, so their
    /// next run starts from scratch.
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
    main_with(Resources::new())
}

/// Runs the CLI over the registered assets with user resources.
pub fn main_with(resources: Resources) -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    run(cli, &registered(), resources)
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// Runs a parsed command over `defs`.
pub fn run(cli: Cli, defs: &[&'static DltAssetsDef], resources: Resources) -> ExitCode {
    if defs.is_empty() {
        eprintln!("warning: {EMPTY_REGISTRY_HELP}");
    }
    let mut out = std::io::stdout().lock();
    match cli.command.unwrap_or(Command::List) {
        Command::List => {
            let graph = match AssetGraph::build(defs) {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let rows: Vec<[String; 4]> = graph
                .nodes()
                .iter()
                .map(|n| {
                    [
                        n.spec.key.to_string(),
                        n.spec.deps.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                        n.spec.group.clone(),
                        n.spec.kinds.join(","),
                    ]
                })
                .collect();
            let header = ["KEY".to_owned(), "DEPS".to_owned(), "GROUP".to_owned(), "KINDS".to_owned()];
            let widths: Vec<usize> =
                (0..4).map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
            for row in std::iter::once(&header).chain(rows.iter()) {
                let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
                let _ = writeln!(out, "{}", line.join("  ").trim_end());
            }
            ExitCode::SUCCESS
        }
        Command::Materialize { select, workdir } => {
            let working_dir = workdir.unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
            let options = RunOptions { working_dir, resources };
            let result = match materialize(defs, &select, &options) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
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
                }
            }
            if result.success() {
                ExitCode::SUCCESS
            } else {
                eprintln!("error: {} of {} assets failed", result.failures().len(), result.outcomes.len());
                ExitCode::FAILURE
            }
        }
        Command::Info { workdir } => info(defs, &working_dir(workdir), &mut out),
        Command::Drop { select, workdir } => drop_assets(defs, &select, &working_dir(workdir), &mut out),
        Command::LoadPending { workdir } => pending(defs, &working_dir(workdir), true, &mut out),
        Command::DropPending { workdir } => pending(defs, &working_dir(workdir), false, &mut out),
    }
}

fn working_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

#[cfg(not(feature = "duckdb"))]
fn info(_: &[&'static DltAssetsDef], _: &std::path::Path, _: &mut impl Write) -> ExitCode {
    eprintln!("error: this build has no DuckDB destination");
    ExitCode::FAILURE
}

#[cfg(feature = "duckdb")]
fn info(defs: &[&'static DltAssetsDef], dir: &std::path::Path, out: &mut impl Write) -> ExitCode {
    let mut seen = std::collections::BTreeSet::new();
    for def in defs {
        let pipeline = (def.pipeline)().working_dir(dir);
        if !seen.insert(pipeline.database_path()) {
            continue;
        }
        match pipeline.info() {
            Ok(i) => {
                let _ = writeln!(out, "pipeline {} ({})", i.pipeline_name, i.database_path.display());
                if !i.exists {
                    let _ = writeln!(out, "  not run yet");
                    continue;
                }
                if let Some((name, version, hash)) = &i.schema {
                    let _ = writeln!(out, "  schema {name} version {version} ({hash})");
                }
                let _ = writeln!(out, "  dataset {}: {} loads, last {}", i.dataset, i.loads, i.last_load_id.as_deref().unwrap_or("-"));
                for (t, n) in &i.tables {
                    let _ = writeln!(out, "    {t}: {n} rows");
                }
                if let Some((version, doc)) = &i.state {
                    let sources = doc.get("sources").cloned().unwrap_or(serde_json::Value::Null);
                    let _ = writeln!(out, "  state version {version}; sources: {sources}");
                }
                if i.pending.is_empty() {
                    let _ = writeln!(out, "  nothing pending");
                } else {
                    let _ = writeln!(out, "  pending (dropped by the next merge): {}", i.pending.join(", "));
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

#[cfg(not(feature = "duckdb"))]
fn pending(_: &[&'static DltAssetsDef], _: &std::path::Path, _: bool, _: &mut impl Write) -> ExitCode {
    eprintln!("error: this build has no DuckDB destination");
    ExitCode::FAILURE
}

#[cfg(feature = "duckdb")]
fn pending(defs: &[&'static DltAssetsDef], dir: &std::path::Path, load: bool, out: &mut impl Write) -> ExitCode {
    let mut seen = std::collections::BTreeSet::new();
    let mut failed = false;
    for def in defs {
        let pipeline = (def.pipeline)().working_dir(dir);
        if !seen.insert(pipeline.name().to_owned()) {
            continue;
        }
        if load {
            for (load_id, result) in pipeline.load_pending() {
                match result {
                    Ok(info) => {
                        let _ = writeln!(out, "{}: loaded pending package {load_id} ({} rows)", pipeline.name(), info.row_counts.values().sum::<u64>());
                    }
                    Err(e) => {
                        failed = true;
                        eprintln!("error: {}: pending package {load_id} failed again and is kept: {e}", pipeline.name());
                    }
                }
            }
        } else {
            let n = pipeline.drop_pending();
            let _ = writeln!(out, "{}: discarded {n} pending package(s)", pipeline.name());
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(not(feature = "duckdb"))]
fn drop_assets(_: &[&'static DltAssetsDef], _: &str, _: &std::path::Path, _: &mut impl Write) -> ExitCode {
    eprintln!("error: this build has no DuckDB destination");
    ExitCode::FAILURE
}

#[cfg(feature = "duckdb")]
fn drop_assets(defs: &[&'static DltAssetsDef], select: &str, dir: &std::path::Path, out: &mut impl Write) -> ExitCode {
    let graph = match AssetGraph::build(defs) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let keys = match graph.select(select) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for key in keys {
        let node = graph.node(&key).expect("selected");
        let Some(resource) = node.spec.dlt_resource.as_deref() else { continue };
        let pipeline = (node.def.pipeline)().working_dir(dir);
        match pipeline.drop_resources(&[resource]) {
            Ok(tables) => {
                let _ = writeln!(out, "dropped {key}: tables {}", tables.join(", "));
            }
            Err(e) => {
                eprintln!("error: dropping {key}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
