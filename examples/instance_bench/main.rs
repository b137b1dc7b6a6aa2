//! The instance storage's benchmarks, on the embedded files and on PostgreSQL (a throwaway
//! server started from the installed binaries, as the tests do). One module per subcommand:
//!
//! - `reads` (`reads.rs`): fills a fresh storage with N runs and M events through the public
//!   `RunStore` API, then times what the `runs`, `asset <key>` and `run <id>` commands read, as
//!   library calls in this process and as whole commands (the `warehouse` example binary, run
//!   with `--storage`), against the bar of 100 ms (issue 14, item 4).
//!
//! - `queue` (`queue.rs`): W worker processes drain a queue of N short runs; every run is
//!   checked to have run once, and the claim overhead per run is printed beside a reference
//!   run executed in this process (issue 14, item 4). The workers are this binary
//!   (`instance_bench etl worker ...` runs the asset binary's own command line).
//!
//! - `ui` (`ui.rs`): the web UI's pages and API calls over the same fill, as server time, and
//!   the lineage of 500 generated assets (issue 15, item 5).
//!
//! ```text
//! cargo build --release --example warehouse --example instance_bench
//! cargo run --release --example instance_bench -- reads                       # 10,000 runs, 1,000,000 events
//! cargo run --release --example instance_bench -- reads --runs 1000 --events 100000 --storage files
//! cargo run --release --example instance_bench -- queue                       # 4 workers, 1,000 runs
//! ```

mod fill;
mod instance;
mod queue;
mod reads;
mod ui;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmarks of the instance storage (files and PostgreSQL)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fill a storage with runs and events, then time `runs`, `asset <key>` and `run <id>`.
    Reads(reads::Args),
    /// Workers drain a queue of short runs: exactly once, throughput, claim overhead.
    Queue(queue::Args),
    /// The web UI's pages and API over a filled storage, and the lineage of 500 assets.
    Ui(ui::Args),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    // `instance_bench etl <command>`: the asset binary's own command line (the queue's workers).
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == "etl") {
        return Ok(etl::main_from(args, etl::Definitions::new()));
    }
    match Cli::parse().command {
        Cmd::Reads(args) => reads::run(&args)?,
        Cmd::Queue(args) => queue::run(&args)?,
        Cmd::Ui(args) => ui::run(&args)?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}
