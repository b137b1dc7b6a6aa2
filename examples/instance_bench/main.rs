//! The instance storage's benchmarks, on the embedded files and on PostgreSQL (a throwaway
//! server started from the installed binaries, as the tests do). One module per subcommand:
//!
//! - `reads` (`reads.rs`): fills a fresh storage with N runs and M events through the public
//!   `RunStore` API, then times what the `runs`, `asset <key>` and `run <id>` commands read, as
//!   library calls in this process and as whole commands (the `warehouse` example binary, run
//!   with `--storage`), against the bar of 100 ms (issue 14, item 4).
//!
//! ```text
//! cargo build --release --example warehouse --example instance_bench
//! cargo run --release --example instance_bench -- reads                       # 10,000 runs, 1,000,000 events
//! cargo run --release --example instance_bench -- reads --runs 1000 --events 100000 --storage files
//! ```

mod fill;
mod instance;
mod reads;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Reads(args) => reads::run(&args),
    }
}
