//! One run of an etl pipeline (dlt's `pipeline.run`): extract a source's resources, normalize
//! their items into tables, and load them into a destination in one transaction, with the
//! pipeline state, pending packages of failed runs, and maintenance (`info`, drop).
//!
//! This crate knows nothing of assets, the registry or the terminal: `etl-runtime` orchestrates
//! runs and sees one only through [`Pipeline::run`] and [`LoadInfo`].

#![warn(missing_docs)]

#[cfg(loads)]
pub mod dataset;
pub mod destination;
pub mod error;
pub mod jobs;
#[cfg(loads)]
mod loader;
pub mod lock;
#[cfg(loads)]
mod pipe;
pub mod pipeline;
pub mod progress;
#[cfg(loads)]
mod readahead;
#[cfg(loads)]
mod sink;
#[cfg(loads)]
pub mod spool;
pub mod state;

pub use error::{PipelineError, Step};
#[cfg(loads)]
pub use dataset::{Dataset, Relation, Rows};
pub use destination::{destination, duckdb, postgres, Destination};
pub use pipeline::{pipeline, IntoSource, LoadInfo, Pipeline, PipelineInfo, TableLoad};
pub use progress::Progress;
