//! The link-time registry: what `#[etl::assets]` submits, and discovery of it.
//!
//! Registration entries are const data (names, locations, fn pointers); nothing runs before
//! `main`. Discovery sorts entries by `(module_path, name)` so listings are reproducible, and
//! every runtime API also accepts an explicit [`Registry`], which is how tests run definitions
//! without the global one.

use crate::asset::{AssetError, Location, Materializations};
use crate::check::{AssetCheckResult, CheckSpec};
use crate::config::ConfigCheck;
use crate::context::InvokeContext;
use crate::partition::{Partition, PartitionsDefinition};
use crate::sensor::{SensorContext, SensorResult, SensorSpec};
use etl_pipeline::pipeline::Pipeline;
use crate::retry::RetryPolicy;
use crate::translator::DltTranslator;
use etl_core::Source;

/// A resource type an asset parameter needs, for validation before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// The type's id.
    pub type_id: std::any::TypeId,
    /// The type's name, for messages.
    pub type_name: &'static str,
}

/// One `#[etl::assets]` definition: a dlt source run by a pipeline, materializing one asset per
/// selected resource. Built by the macro as a const; not meant to be written by hand.
pub struct DltAssetsDef {
    /// The op name (the function's name, or `name = ...`).
    pub name: &'static str,
    /// Where the function is.
    pub location: Location,
    /// Builds the source (the `dlt_source` expression), lazily.
    pub source: fn() -> Source,
    /// Builds the pipeline (the `dlt_pipeline` expression), lazily.
    pub pipeline: fn() -> Pipeline,
    /// Calls the user's function with its parameters resolved.
    pub invoke: fn(&InvokeContext<'_>) -> Materializations,
    /// `group_name = ...`.
    pub group_name: Option<&'static str>,
    /// `translator = ...`.
    pub translator: Option<fn() -> Box<dyn DltTranslator>>,
    /// The resource types the parameters need.
    pub requirements: fn() -> Vec<Option<Requirement>>,
    /// `retry = ...`: the op's retry policy.
    pub retry: Option<fn() -> RetryPolicy>,
    /// `pool = "..."`: a named pool the op runs in, besides its DuckDB file's.
    pub pool: Option<&'static str>,
    /// `partitions = ...`: how its assets are partitioned.
    pub partitions: Option<fn() -> PartitionsDefinition>,
    /// `dlt_source = |partition| ...`: the source of a run's partition.
    pub source_for: Option<fn(&Partition) -> Source>,
    /// The run config its parameters take (`etl::Config<T>`), for validation before a run.
    pub configs: fn() -> Vec<Option<ConfigCheck>>,
}

inventory::collect!(DltAssetsDef);

/// One plain `#[etl::asset]` function: materializes one asset, after its deps. Built by the
/// macro as a const; not meant to be written by hand.
pub struct AssetDef {
    /// The function's name (the op name).
    pub name: &'static str,
    /// The key as `a/b/c` (`key = ...`, default: the function's name).
    pub key: &'static str,
    /// Upstream keys as `a/b/c` (`deps = [...]`).
    pub deps: &'static [&'static str],
    /// `group_name = ...`.
    pub group_name: Option<&'static str>,
    /// `kinds = [...]`.
    pub kinds: &'static [&'static str],
    /// `tags = ["key=value", "flag"]`.
    pub tags: &'static [&'static str],
    /// `description = ...` or the doc comment.
    pub description: Option<&'static str>,
    /// `pool = "..."`.
    pub pool: Option<&'static str>,
    /// `retry = ...`.
    pub retry: Option<fn() -> RetryPolicy>,
    /// Where the function is.
    pub location: Location,
    /// Calls the user's function with its parameters resolved.
    pub invoke: fn(&InvokeContext<'_>) -> Materializations,
    /// The resource types the parameters need.
    pub requirements: fn() -> Vec<Option<Requirement>>,
    /// `partitions = ...`.
    pub partitions: Option<fn() -> PartitionsDefinition>,
    /// The run config its parameters take.
    pub configs: fn() -> Vec<Option<ConfigCheck>>,
}

inventory::collect!(AssetDef);

/// One `#[etl::asset_check]` function: checks an asset after it is materialized. Built by the
/// macro as a const.
pub struct AssetCheckDef {
    /// The function's name (the check's name).
    pub name: &'static str,
    /// The asset it checks, as `a/b`.
    pub asset: &'static str,
    /// `blocking = true`: a failure with severity error skips the asset's downstream.
    pub blocking: bool,
    /// `description = ...` or the doc comment.
    pub description: Option<&'static str>,
    /// Where the function is.
    pub location: Location,
    /// Calls the user's function with its parameters resolved.
    pub invoke: fn(&InvokeContext<'_>) -> Result<AssetCheckResult, AssetError>,
    /// The resource types the parameters need.
    pub requirements: fn() -> Vec<Option<Requirement>>,
    /// The run config its parameters take.
    pub configs: fn() -> Vec<Option<ConfigCheck>>,
}

inventory::collect!(AssetCheckDef);

/// One `#[etl::sensor]` function. Built by the macro as a const.
pub struct SensorDef {
    /// The function's name (the sensor's name).
    pub name: &'static str,
    /// `minimum_interval = N`: seconds between evaluations (default 30).
    pub minimum_interval_secs: u64,
    /// `target = "..."`: the selection of run requests that name none.
    pub target: Option<&'static str>,
    /// `description = ...` or the doc comment.
    pub description: Option<&'static str>,
    /// Where the function is.
    pub location: Location,
    /// Calls the user's function.
    pub evaluate: fn(&SensorContext) -> Result<SensorResult, AssetError>,
}

inventory::collect!(SensorDef);

/// An op: what one step of a run executes.
#[derive(Clone, Copy)]
pub enum OpRef {
    /// A dlt multi-asset (`#[etl::assets]`).
    Dlt(&'static DltAssetsDef),
    /// A plain asset (`#[etl::asset]`).
    Asset(&'static AssetDef),
}

impl OpRef {
    /// The op name.
    pub fn name(&self) -> &'static str {
        match self {
            OpRef::Dlt(d) => d.name,
            OpRef::Asset(a) => a.name,
        }
    }

    /// Where it is defined.
    pub fn location(&self) -> Location {
        match self {
            OpRef::Dlt(d) => d.location,
            OpRef::Asset(a) => a.location,
        }
    }

    /// The function that runs it.
    pub fn invoke(&self) -> fn(&InvokeContext<'_>) -> Materializations {
        match self {
            OpRef::Dlt(d) => d.invoke,
            OpRef::Asset(a) => a.invoke,
        }
    }

    /// The resources its parameters need.
    pub fn requirements(&self) -> Vec<Requirement> {
        match self {
            OpRef::Dlt(d) => (d.requirements)(),
            OpRef::Asset(a) => (a.requirements)(),
        }
        .into_iter()
        .flatten()
        .collect()
    }

    /// Its retry policy (none by default).
    pub fn retry(&self) -> RetryPolicy {
        match self {
            OpRef::Dlt(d) => d.retry,
            OpRef::Asset(a) => a.retry,
        }
        .map(|f| f())
        .unwrap_or_default()
    }

    /// Its declared pool.
    pub fn pool(&self) -> Option<&'static str> {
        match self {
            OpRef::Dlt(d) => d.pool,
            OpRef::Asset(a) => a.pool,
        }
    }

    /// How its assets are partitioned.
    pub fn partitions(&self) -> Option<PartitionsDefinition> {
        match self {
            OpRef::Dlt(d) => d.partitions,
            OpRef::Asset(a) => a.partitions,
        }
        .map(|f| f())
    }

    /// The run config its parameters take.
    pub fn configs(&self) -> Vec<ConfigCheck> {
        match self {
            OpRef::Dlt(d) => (d.configs)(),
            OpRef::Asset(a) => (a.configs)(),
        }
        .into_iter()
        .flatten()
        .collect()
    }

    /// The dlt definition, if it is one.
    pub fn dlt(&self) -> Option<&'static DltAssetsDef> {
        match self {
            OpRef::Dlt(d) => Some(d),
            OpRef::Asset(_) => None,
        }
    }

    /// Whether two refs name the same definition.
    pub fn same(&self, other: &OpRef) -> bool {
        match (self, other) {
            (OpRef::Dlt(a), OpRef::Dlt(b)) => std::ptr::eq(*a, *b),
            (OpRef::Asset(a), OpRef::Asset(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

/// A set of definitions: the binary's (see [`registered`]) or any chosen set in tests.
#[derive(Clone, Default)]
pub struct Registry {
    /// dlt multi-assets.
    pub dlt: Vec<&'static DltAssetsDef>,
    /// Plain assets.
    pub assets: Vec<&'static AssetDef>,
    /// Asset checks (`#[etl::asset_check]` functions and built-in checks).
    pub checks: Vec<CheckSpec>,
    /// Sensors (`#[etl::sensor]` functions and built-in sensors).
    pub sensors: Vec<SensorSpec>,
}

impl Registry {
    /// Whether it has no assets.
    pub fn is_empty(&self) -> bool {
        self.dlt.is_empty() && self.assets.is_empty()
    }

    /// The checks of one asset.
    pub fn checks_of<'a>(&'a self, key: &'a crate::asset::AssetKey) -> impl Iterator<Item = &'a CheckSpec> + 'a {
        self.checks.iter().filter(move |c| &c.asset == key)
    }
}

impl From<Vec<&'static DltAssetsDef>> for Registry {
    fn from(dlt: Vec<&'static DltAssetsDef>) -> Self {
        Registry { dlt, ..Registry::default() }
    }
}

impl From<&[&'static DltAssetsDef]> for Registry {
    fn from(dlt: &[&'static DltAssetsDef]) -> Self {
        Registry { dlt: dlt.to_vec(), ..Registry::default() }
    }
}

/// Every registered definition, each kind sorted by `(module_path, name)`.
pub fn registered() -> Registry {
    let mut dlt: Vec<&'static DltAssetsDef> = inventory::iter::<DltAssetsDef>.into_iter().collect();
    dlt.sort_by(|a, b| (a.location.module_path, a.name).cmp(&(b.location.module_path, b.name)));
    let mut assets: Vec<&'static AssetDef> = inventory::iter::<AssetDef>.into_iter().collect();
    assets.sort_by(|a, b| (a.location.module_path, a.name).cmp(&(b.location.module_path, b.name)));
    let mut checks: Vec<&'static AssetCheckDef> = inventory::iter::<AssetCheckDef>.into_iter().collect();
    checks.sort_by(|a, b| (a.location.module_path, a.name).cmp(&(b.location.module_path, b.name)));
    let mut sensors: Vec<&'static SensorDef> = inventory::iter::<SensorDef>.into_iter().collect();
    sensors.sort_by(|a, b| (a.location.module_path, a.name).cmp(&(b.location.module_path, b.name)));
    Registry {
        dlt,
        assets,
        checks: checks.into_iter().map(CheckSpec::from_def).collect(),
        sensors: sensors.into_iter().map(SensorSpec::from_def).collect(),
    }
}

/// The warning printed when a binary has no assets.
pub const EMPTY_REGISTRY_HELP: &str = "\
no assets are registered in this binary.
  `#[etl::assets]` and `#[etl::asset]` definitions are collected at link time, and Rust links a crate only if the
  binary refers to it. If your assets live in another crate (or a module behind a feature), name
  it from the binary, e.g. `use my_assets as _;`, and make sure the module with the definitions
  is compiled (`mod assets;`).";
