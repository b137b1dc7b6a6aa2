//! # etl: embedded ETL for Rust
//!
//! dlt-style sources and resources, normalized into DuckDB with dlt's layout, run as
//! Dagster-style assets from one binary.
//!
//! ```no_run
//! use serde_json::json;
//!
//! #[etl::source]
//! fn simple_source() -> etl::Source {
//!     #[etl::resource]
//!     fn load_dict() -> Vec<serde_json::Value> {
//!         vec![json!({"id": 1, "name": "Alice"}), json!({"id": 2, "name": "Bob"})]
//!     }
//!     load_dict()
//! }
//!
//! #[etl::assets(
//!     dlt_source = simple_source(),
//!     dlt_pipeline = etl::pipeline("simple_pipeline").dataset_name("simple").destination(etl::duckdb()),
//! )]
//! fn dlt_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
//!     dlt.run(context)
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     etl::main()
//! }
//! ```
//!
//! The binary then offers `list` and `materialize --select <keys>`; `etl::testing` runs assets
//! in tests. See the repository's README and ARCHITECTURE.md.

#![warn(missing_docs)]

pub use etl_macros::{asset, asset_check, assets, resource, sensor, source, transformer};

pub use etl_core::{
    incremental::{CursorMissing, Incremental, LastValueFunc, RowOrder},
    resource::{Limit, ResourceContext, ResourceState},
    hints::{ColumnHint, ContractMode, DataType, MergeStrategy, ResourceHints, SchemaContract, WriteDisposition},
    resource::{BoxError, IntoResources, Items, Resource, Source},
    schema::Schema,
    value::{to_value, Value},
};
pub use etl_pipeline::{
    error::{PipelineError, Step},
    jobs::{InsertMethod, LoadJob},
    destination::{config::redact_url, destination, duckdb, postgres, Destination},
    pipeline::{pipeline, IntoSource, LoadInfo, Pipeline, TableLoad},
    progress::Progress,
};
pub use etl_runtime::{
    asyncio::{stream_rows, StreamRows},
    asset::{AssetError, AssetKey, AssetSpec, Materialization, Materializations, MetadataValue, TableColumn},
    cli::Definitions,
    context::{AssetExecutionContext, ConfigurableResource, DltResource, MaterializeResult, Resources},
    execute::{AssetOutcome, RunResult},
    history::{RunStatus, RunStore},
    logging::LogFormat,
    retry::{Backoff, Jitter, RetryPolicy},
    schedule::{Clock, Cron, ManualClock, Schedule, SystemClock},
    check::{AssetCheckResult, CheckEvaluation, CheckSpec, Severity},
    config::Config,
    partition::{
        daily_partitions, hourly_partitions, monthly_partitions, static_partitions, weekly_partitions, Cadence, Partition, PartitionRequest,
        PartitionsDefinition, TimeWindow, TimeWindowPartitions,
    },
    sensor::{RunRequest, SensorContext, SensorResult, SensorSpec},
    translator::{DefaultTranslator, DltResourceInfo, DltTranslator},
};

#[cfg(feature = "duckdb")]
pub use etl_runtime::duckdb_resource::DuckDbResource;

/// Reading a pipeline's dataset back (`pipeline.dataset()`).
#[cfg(any(feature = "duckdb", feature = "postgres"))]
pub use etl_pipeline::dataset::{Dataset, Relation, Rows};

/// The Arrow crate etl reads and writes record batches with (`Relation::arrow`).
pub use arrow;

/// Built-in asset checks (Dagster's check factories): register them with
/// [`Definitions::check`].
pub mod checks {
    pub use etl_runtime::check::builtin::{column_schema_change, last_update_freshness, metadata_bounds, ColumnSchemaChange, LastUpdateFreshness, MetadataBounds};
}

/// Marks that route an item to a table of its own (dlt's `dlt.mark`).
pub mod mark {
    pub use etl_core::resource::routing::{with_hints, with_table_name};
}

/// Built-in sensors: register them with [`Definitions::sensor`].
pub mod sensors {
    pub use etl_runtime::sensor::files::{file_sensor, FileSensor};
}

/// Runs the asset binary's command line over the registered assets, with no user resources.
pub fn main() -> std::process::ExitCode {
    main_with(Definitions::new())
}

/// Runs the command line with user resources and schedules
/// (`etl::main_with(etl::Resources::new().with(..))` or `etl::main_with(etl::Definitions::new()...)`).
pub fn main_with(definitions: impl Into<Definitions>) -> std::process::ExitCode {
    etl_runtime::cli::main_with(with_ui(definitions.into()))
}

/// Runs the command line on given arguments (those after the program name), for binaries that
/// take options of their own first.
pub fn main_from<I, T>(args: I, definitions: impl Into<Definitions>) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    etl_runtime::cli::main_from(args, with_ui(definitions.into()))
}

/// The definitions with the web UI as the `ui` command's server (when built with `ui`).
fn with_ui(definitions: Definitions) -> Definitions {
    #[cfg(feature = "ui")]
    let definitions = {
        let mut definitions = definitions;
        definitions.ui.get_or_insert(etl_ui::serve);
        definitions
    };
    definitions
}

/// The asset graph of every definition registered in this binary (validated).
pub fn asset_graph() -> Result<etl_runtime::graph::AssetGraph, etl_runtime::graph::GraphError> {
    etl_runtime::graph::AssetGraph::build(&etl_runtime::registry::registered())
}

/// Orchestration for advanced use: the graph, plans, execution, run history, the daemon.
pub mod runtime {
    pub use etl_runtime::execute::{check_run, execute, materialize, materialize_from_failure, prepare, Plan, RunOptions};
    pub use etl_runtime::partition::status::{PartitionState, PartitionStatus};
    pub use etl_runtime::sensor::{evaluate as evaluate_sensor, Launch, SensorState, SensorTick};
    pub use etl_runtime::graph::{AssetGraph, GraphError, GraphFormat, Step};
    pub use etl_runtime::history::{Event, EventKind, RunRecord};
    pub use etl_runtime::asset::Location;
    pub use etl_runtime::registry::{registered, AssetDef, Registry};
    pub use etl_runtime::queue::launcher::{InProcessLauncher, RunLauncher};
    pub use etl_runtime::queue::retry::{RetryPolicy as RunRetryPolicy, RetryStrategy};
    pub use etl_runtime::queue::worker::{Worker, WorkerOptions, WorkerReport};
    pub use etl_runtime::queue::{queued_record, RunQueue};
    pub use etl_runtime::schedule::{ticks, Daemon, MissedTicks, Tick, TickStatus};
    pub use etl_runtime::selection::{Selection, SelectionError};
}

/// A column hint for `columns = [...]`: `etl::column("amount").data_type(etl::DataType::Decimal)`.
pub fn column(name: &str) -> ColumnHint {
    ColumnHint::new(name)
}

/// Testing support: materialize assets into a temporary directory and query the result.
pub mod testing {
    pub use etl_runtime::testing::*;
}

/// The data model for advanced use: naming, normalizer, schema, types.
pub mod core {
    pub use etl_core::*;
}

/// Ready-made sources: files (CSV, JSONL, JSON, Parquet), declarative REST APIs, config and secrets.
#[cfg(feature = "sources")] pub use etl_sources as sources;

#[cfg(feature = "sources")]
#[doc(hidden)]
#[macro_export]
macro_rules! __etl_config_args {
    ($name:expr, $required:expr, $ty:ty) => {
        $crate::__private::resolve_args::<$ty>($name, $required)
    };
}

#[cfg(not(feature = "sources"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __etl_config_args {
    ($($args:tt)*) => {
        ::core::compile_error!("`#[config]` and `#[secret]` parameters need etl's `sources` feature: enable it, e.g. `etl = { version = \"0.1\", features = [\"sources\"] }`")
    };
}

/// Not public API: used by the code the macros generate. May change in any release.
#[doc(hidden)]
pub mod __private {
    pub use ::core::iter::{IntoIterator, Iterator};
    pub use ::core::option::Option::{self, None, Some};
    pub use ::core::result::Result::Ok;
    pub use ::std::boxed::Box;
    pub use ::std::string::String;
    pub use ::std::vec;
    pub use ::std::vec::Vec;

    pub use etl_core::hints::{ContractMode, MergeStrategy, ResourceHints, SchemaContract, WriteDisposition};
    pub use etl_core::resource::item::{PlainKind, ResultKind};
    pub use etl_core::resource::ret::{failed_items, failed_typed_items, RetPlainKind, RetResultKind, Rows};
    pub use etl_core::resource::{
        boxed_items, boxed_typed_items, item_as, make_source, IntoResources, Resource, ResourceContext, ResourceReturn, Source,
    };
    pub use ::core::result::Result::Err;
    pub use etl_runtime::asyncio::block_on;
    pub use serde;

    /// `config_args!(name, &[required], T)` resolves `#[config]` parameters of section
    /// `sources.<name>` into `Result<T, _>` (every missing value named in one error, with every
    /// place it was looked for). Without the `sources` feature it is a compile error.
    pub use crate::__etl_config_args as config_args;
    #[cfg(feature = "sources")]
    pub use etl_sources::config::resolve_args;
    pub use etl_runtime::asset::{Location, Materializations};
    pub use etl_runtime::context::{plain_asset_output, AssetParam, IntoAssetOutput, InvokeContext};
    pub use etl_runtime::inventory;
    pub use etl_pipeline::pipeline::Pipeline;
    pub use etl_runtime::registry::{AssetCheckDef, AssetDef, DltAssetsDef, Requirement, SensorDef};
    pub use ::core::convert::Into;
    pub use ::core::result::Result;
    pub use etl_runtime::asset::AssetError;
    pub use etl_runtime::check::{AssetCheckResult, IntoCheckResult};
    pub use etl_runtime::config::ConfigCheck;
    pub use etl_runtime::partition::{Partition, PartitionsDefinition};
    pub use etl_runtime::sensor::{IntoSensorResult, SensorContext, SensorResult};
    pub use etl_runtime::retry::RetryPolicy;
    pub use etl_runtime::translator::DltTranslator;
}
