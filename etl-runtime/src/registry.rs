//! The link-time registry: what `#[etl::assets]` submits, and discovery of it.
//!
//! Registration entries are const data (names, locations, fn pointers); nothing runs before
//! `main`. Discovery sorts entries by `(module_path, name)` so listings are reproducible, and
//! every runtime API also accepts an explicit slice of definitions, which is how tests run
//! definitions without the global registry.

use crate::asset::{Location, Materializations};
use crate::context::InvokeContext;
use crate::pipeline::Pipeline;
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
}

inventory::collect!(DltAssetsDef);

/// Every registered definition, sorted by `(module_path, name)`.
pub fn registered() -> Vec<&'static DltAssetsDef> {
    let mut defs: Vec<&'static DltAssetsDef> = inventory::iter::<DltAssetsDef>.into_iter().collect();
    defs.sort_by(|a, b| (a.location.module_path, a.name).cmp(&(b.location.module_path, b.name)));
    defs
}

/// The warning printed when a binary has no assets.
pub const EMPTY_REGISTRY_HELP: &str = "\
no assets are registered in this binary.
  `#[etl::assets]` definitions are collected at link time, and Rust links a crate only if the
  binary refers to it. If your assets live in another crate (or a module behind a feature), name
  it from the binary, e.g. `use my_assets as _;`, and make sure the module with the definitions
  is compiled (`mod assets;`).";
