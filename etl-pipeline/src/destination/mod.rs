//! Destinations, one folder each. DuckDB is compiled only with the `duckdb` feature.

#[cfg(feature = "duckdb")]
pub mod duckdb;
