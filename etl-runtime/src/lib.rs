//! The runtime of `etl`: Dagster's half. The link-time asset registry, the asset graph,
//! execution, run history, schedules, the command line of asset binaries and testing support.
//!
//! Users reach all of this through the `etl` facade crate. A pipeline run itself (extract,
//! normalize, load; destinations) is `etl-pipeline`'s: this crate sees one only through
//! `Pipeline::run` and `LoadInfo`.

#![warn(missing_docs)]

pub mod asset;
pub mod asyncio;
pub mod check;
pub mod cli;
pub mod config;
pub mod context;
pub mod dlt_view;
#[cfg(feature = "duckdb")]
pub mod duckdb_resource;
pub mod execute;
pub mod graph;
pub mod history;
pub mod storage;
pub mod logging;
pub mod partition;
pub mod progress;
pub mod queue;
pub mod registry;
pub mod retry;
pub mod schedule;
pub mod selection;
pub mod sensor;
pub mod testing;
pub mod translator;

pub use inventory;
