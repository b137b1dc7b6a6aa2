//! The runtime of `etl`: pipelines and the DuckDB destination, the link-time asset registry,
//! the asset graph, execution, the command line of asset binaries and testing support.
//!
//! Users reach all of this through the `etl` facade crate. Orchestration lives here, never in
//! `etl-core`.

#![warn(missing_docs)]
// Without the `duckdb` feature the load path is compiled out; its helpers are then unused.
#![cfg_attr(not(feature = "duckdb"), allow(unused_imports, dead_code))]

pub mod asset;
pub mod asyncio;
pub mod cli;
pub mod context;
#[cfg(feature = "duckdb")]
pub mod destination;
pub mod error;
pub mod execute;
pub mod graph;
pub mod history;
pub mod jobs;
#[cfg(feature = "duckdb")]
mod loader;
#[cfg(feature = "duckdb")]
mod readahead;
pub mod lock;
pub mod logging;
#[cfg(feature = "duckdb")]
mod pipe;
pub mod pipeline;
pub mod progress;
pub mod registry;
pub mod retry;
pub mod schedule;
pub mod selection;
#[cfg(feature = "duckdb")]
mod sink;
#[cfg(feature = "duckdb")]
pub mod spool;
pub mod state;
pub mod testing;
pub mod translator;

pub use inventory;
