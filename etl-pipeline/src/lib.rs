//! One run of an etl pipeline (dlt's `pipeline.run`): extract a source's resources, normalize
//! their items into tables, and load them into a destination in one transaction, with the
//! pipeline state, pending packages of failed runs, and maintenance (`info`, drop).
//!
//! This crate knows nothing of assets, the registry or the terminal: `etl-runtime` orchestrates
//! runs and sees one only through [`Pipeline::run`] and [`LoadInfo`].

#![warn(missing_docs)]

pub mod destination;
pub mod error;
pub mod jobs;
#[cfg(feature = "duckdb")]
mod loader;
pub mod lock;
#[cfg(feature = "duckdb")]
mod pipe;
pub mod pipeline;
pub mod progress;
#[cfg(feature = "duckdb")]
mod readahead;
#[cfg(feature = "duckdb")]
mod sink;
#[cfg(feature = "duckdb")]
pub mod spool;
pub mod state;

pub use error::{PipelineError, Step};
pub use pipeline::{duckdb, pipeline, Destination, IntoSource, LoadInfo, Pipeline, PipelineInfo, TableLoad};
pub use progress::Progress;
