//! Ready-made sources for `etl` (dlt's `filesystem`, `rest_api` and config providers):
//!
//! - [`filesystem`]: CSV, JSONL, JSON and Parquet files from local paths and globs, each file
//!   loaded once until it changes (modification time and size kept in the resource state).
//! - [`rest`]: declarative REST API sources, from a Rust builder or from TOML/JSON config:
//!   auth, paginators (with auto-detection), data selectors, parent/child resources,
//!   incremental windows pushed to query parameters, retries with backoff that honour
//!   `Retry-After`.
//! - `sql` (feature `sql`): dlt's `sql_database` / `sql_table` for PostgreSQL, tables read
//!   in chunks as Arrow record batches, incremental cursors pushed into the query.
//! - [`config`]: values and secrets from `.etl/config.toml`, `.etl/secrets.toml` and
//!   environment variables in dlt's layout (`SOURCES__<SOURCE>__<KEY>`).
//! - [`Secret`]: a string whose `Debug`/`Display` never show it.
//!
//! Every producer yields [`etl_core::Value`] rows through an [`etl_core::Resource`], so the
//! results plug into a `#[etl::source]` function or `etl::pipeline(..).run(..)` directly.

#![warn(missing_docs)]

/// Config values and secrets (the `etl-config` crate).
pub mod config {
    pub use etl_config::*;
}
pub mod filesystem;
pub mod jsonpath;
pub mod rest;
#[cfg(feature = "sql")]
pub mod sql;
pub mod testing;

pub use config::{Config, ConfigError};
pub use filesystem::{FileError, FileSource, Format};
pub use jsonpath::JsonPath;
pub use rest::{RestApi, RestError};
pub use etl_config::Secret;
