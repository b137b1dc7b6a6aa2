//! How dlt resources become assets (dagster-dlt's `DagsterDltTranslator`).

use std::collections::BTreeMap;

use crate::asset::AssetKey;

/// What a translator sees about one resource.
#[derive(Debug, Clone)]
pub struct DltResourceInfo {
    /// Source (schema) name as written in the source function.
    pub source_name: String,
    /// Resource name.
    pub resource_name: String,
    /// Table the resource writes (normalized).
    pub table_name: String,
    /// The resource's description (its doc comment).
    pub description: Option<String>,
    /// Destination name (`duckdb`).
    pub destination_name: String,
    /// For a transformer: the root resource its items come from.
    pub data_from: Option<String>,
}

/// Customises the asset graph made from dlt resources. Every method has dagster-dlt's default;
/// override the ones you need. A translator changes the graph only, never table names.
pub trait DltTranslator: Send + Sync {
    /// Asset key; default `dlt_<source>_<resource>`.
    fn asset_key(&self, info: &DltResourceInfo) -> AssetKey {
        AssetKey::new(format!("dlt_{}_{}", info.source_name, info.resource_name))
    }

    /// Upstream keys; default `<source>_<resource>` (an external asset nothing defines), and for
    /// a transformer `<source>_<root resource>`.
    fn deps(&self, info: &DltResourceInfo) -> Vec<AssetKey> {
        let upstream = info.data_from.as_deref().unwrap_or(&info.resource_name);
        vec![AssetKey::new(format!("{}_{upstream}", info.source_name))]
    }

    /// Group; `None` keeps the definition's `group_name` or `default`.
    fn group_name(&self, _info: &DltResourceInfo) -> Option<String> {
        None
    }

    /// Description; default the resource's doc comment.
    fn description(&self, info: &DltResourceInfo) -> Option<String> {
        info.description.clone()
    }

    /// Tags; default none.
    fn tags(&self, _info: &DltResourceInfo) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Owners (people or teams, as in Dagster); default none.
    fn owners(&self, _info: &DltResourceInfo) -> Vec<String> {
        Vec::new()
    }

    /// Kinds; default `dlt` and the destination name.
    fn kinds(&self, info: &DltResourceInfo) -> Vec<String> {
        vec!["dlt".into(), info.destination_name.clone()]
    }
}

/// The translator used when none is given.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultTranslator;

impl DltTranslator for DefaultTranslator {}
