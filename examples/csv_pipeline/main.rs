//! Every CSV file of a folder, each loaded into its own table (dlt's `filesystem` source with
//! `read_csv`): headers become snake_case columns, cells are typed, and a file is loaded again
//! only when it changes.
//!
//! ```text
//! cargo run --release --example csv_pipeline -- materialize                 # the shipped data/
//! cargo run --release --example csv_pipeline -- --dir ./my_csvs materialize # another folder
//! cargo run --release --example csv_pipeline -- --dir ./my_csvs list
//! ```
//!
//! The folder is config value `dir` of the source `csv_source`: `--dir`, the environment
//! variable `SOURCES__CSV_SOURCE__DIR`, or `dir = "..."` under `[sources.csv_source]` in
//! `.etl/config.toml`.

use std::process::ExitCode;

#[path = "../common/args.rs"]
mod args;
use args::take_option;

use etl::sources::filesystem::{resources_in_dir, Format};
use etl::sources::Config;

/// The folder shipped with the example.
const DEFAULT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/csv_pipeline/data");

#[etl::source]
fn csv_source() -> etl::Source {
    let dir = Config::load()
        .and_then(|c| c.get::<String>(&["sources", "csv_source"], "dir"))
        .map(|d| d.unwrap_or_else(|| DEFAULT_DIR.to_owned()));
    let resources = dir.map_err(|e| e.to_string()).and_then(|dir| resources_in_dir(&dir, Format::Csv).map_err(|e| e.to_string()));
    match resources {
        Ok(resources) => resources,
        // The asset list stays usable; running reports the problem.
        Err(message) => vec![etl::Resource::new(etl::ResourceHints::new("csv_files"), move || Err(message.into()))],
    }
}

#[etl::assets(
    dlt_source = csv_source(),
    dlt_pipeline = etl::pipeline("csv_pipeline").dataset_name("csv_data").destination(etl::duckdb()).progress(etl::Progress::Log),
)]
fn csv_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() -> ExitCode {
    // `--dir <folder>` is this example's own option: it becomes the config value
    // SOURCES__CSV_SOURCE__DIR and the asset CLI runs with the other arguments.
    match take_option("--dir") {
        Some((dir, rest)) => {
            let dir = std::path::absolute(&dir).unwrap_or_else(|_| dir.into());
            // Set before any thread starts; the source reads it as config.
            std::env::set_var("SOURCES__CSV_SOURCE__DIR", dir);
            etl::main_from(rest, etl::Definitions::new())
        }
        None => etl::main(),
    }
}
