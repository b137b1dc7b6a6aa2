//! The data model of `etl`: resources and sources, hints, dlt's naming convention, the value
//! model, type inference, the versioned schema and the relational normalizer.
//!
//! This crate does no IO and no orchestration: everything here is a pure function of its inputs,
//! unit-tested in place. `etl-runtime` runs pipelines on top of it; users reach it through the
//! `etl` facade.

#![warn(missing_docs)]

pub mod arrow_items;
pub mod arrow_values;
pub mod columnar;
pub mod error;
pub mod fast;
pub mod hints;
pub mod incremental;
mod keccak4;
pub mod naming;
pub mod normalize;
pub mod resource;
pub mod schema;
pub mod types;
pub mod value;

#[cfg(test)]
mod identifier_limit_tests;
#[cfg(test)]
mod proptests;

pub use error::{HintError, SchemaError, SourceError};
pub use hints::{ColumnHint, ContractMode, DataType, ResourceHints, SchemaContract, WriteDisposition};
pub use incremental::{CursorMissing, Incremental, LastValueFunc, RowOrder};
pub use resource::{BoxError, IntoResources, Items, JsonLines, Resource, ResourceContext, ResourceState, Source, TypedItem, TypedItems};
pub use schema::{Column, Schema, SchemaChange, Table};
pub use value::{to_value, Value};
