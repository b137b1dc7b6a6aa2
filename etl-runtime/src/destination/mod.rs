//! Destinations. DuckDB is the one destination; it is compiled only with the `duckdb` feature.

pub mod batch;
pub mod duckdb;
pub mod query;
pub mod resource;
pub mod scan;
