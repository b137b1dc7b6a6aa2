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
    }
}
