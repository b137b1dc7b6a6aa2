//! The asset graph: specs built from definitions, validated before anything runs, and selection.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

use etl_core::naming::normalize_identifier;

use crate::asset::{AssetKey, AssetSpec};
use crate::registry::DltAssetsDef;
use crate::translator::{DefaultTranslator, DltResourceInfo, DltTranslator};

/// One asset and the definition that materializes it.
#[derive(Clone)]
pub struct AssetNode {
    /// The spec.
    pub spec: AssetSpec,
    /// The definition (op).
    pub def: &'static DltAssetsDef,
}

/// Problems that stop a graph from running, each with where it comes from.
#[derive(Debug, thiserror::Error)]
#[error("the asset graph is invalid:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct GraphError {
    /// One line per problem.
    pub problems: Vec<String>,
}

/// The validated graph.
#[derive(Clone, Default)]
pub struct AssetGraph {
    nodes: Vec<AssetNode>,
}

impl AssetGraph {
    /// Builds and validates the graph of these definitions: every source is built (lazily: no
    /// data is pulled) to learn its resources. Duplicate keys are reported with both locations.
    pub fn build(defs: &[&'static DltAssetsDef]) -> Result<Self, GraphError> {
        let mut problems = Vec::new();
        let mut nodes: Vec<AssetNode> = Vec::new();
        for def in defs {
            let built = catch_unwind(AssertUnwindSafe(|| ((def.source)(), (def.pipeline)())));
            let (source, pipeline) = match built {
                Ok(pair) => pair,
                Err(_) => {
                    problems.push(format!("building the source or pipeline of `{}` ({}) panicked", def.name, def.location));
                    continue;
                }
            };
            let translator: Box<dyn DltTranslator> = match def.translator {
                Some(make) => make(),
                None => Box::new(DefaultTranslator),
            };
            for resource in source.selected_resources() {
                let info = DltResourceInfo {
                    source_name: source.name().to_owned(),
                    resource_name: resource.name().to_owned(),
                    table_name: normalize_identifier(resource.hints().table()),
                    description: resource.hints().description.clone(),
                    destination_name: pipeline.destination_config().name().to_owned(),
                };
                let group = translator
                    .group_name(&info)
                    .or_else(|| def.group_name.map(str::to_owned))
                    .unwrap_or_else(|| "default".to_owned());
                nodes.push(AssetNode {
                    spec: AssetSpec {
                        key: translator.asset_key(&info),
                        deps: translator.deps(&info),
                        group,
                        kinds: translator.kinds(&info),
                        description: translator.description(&info),
                        tags: translator.tags(&info),
                        op: def.name.to_owned(),
                        dlt_resource: Some(resource.name().to_owned()),
                        location: def.location,
                    },
                    def,
                });
            }
        }
        let mut seen: BTreeMap<&AssetKey, &AssetNode> = BTreeMap::new();
        for node in &nodes {
            if let Some(first) = seen.insert(&node.spec.key, node) {
                problems.push(format!(
                    "duplicate asset key `{}`: defined by `{}` at {} and by `{}` at {}",
                    node.spec.key, first.def.name, first.def.location, node.def.name, node.def.location
                ));
            }
        }
        if problems.is_empty() {
            Ok(AssetGraph { nodes })
        } else {
            Err(GraphError { problems })
        }
    }

    /// All assets, in definition order.
    pub fn nodes(&self) -> &[AssetNode] {
        &self.nodes
    }

    /// An asset by key.
    pub fn node(&self, key: &AssetKey) -> Option<&AssetNode> {
        self.nodes.iter().find(|n| &n.spec.key == key)
    }

    /// Resolves a selection (`*`, `key`, `a,b`, `+key`, `key+`, `group:g`, `kind:k`) to keys, in
    /// graph order. Unknown keys are an error that lists the keys that exist.
    pub fn select(&self, selection: &str) -> Result<Vec<AssetKey>, GraphError> {
        let mut chosen: BTreeSet<AssetKey> = BTreeSet::new();
        let mut problems = Vec::new();
        for raw in selection.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if raw == "*" {
                chosen.extend(self.nodes.iter().map(|n| n.spec.key.clone()));
                continue;
            }
            if let Some(group) = raw.strip_prefix("group:") {
                chosen.extend(self.nodes.iter().filter(|n| n.spec.group == group).map(|n| n.spec.key.clone()));
                continue;
            }
            if let Some(kind) = raw.strip_prefix("kind:") {
                chosen.extend(self.nodes.iter().filter(|n| n.spec.kinds.iter().any(|k| k == kind)).map(|n| n.spec.key.clone()));
                continue;
            }
            let upstream = raw.starts_with('+');
            let downstream = raw.ends_with('+') && raw.len() > 1;
            let key = AssetKey::from_path(raw.trim_start_matches('+').trim_end_matches('+'));
            if self.node(&key).is_none() {
                problems.push(format!(
                    "no asset `{key}` in this binary; assets: {}",
                    self.nodes.iter().map(|n| format!("`{}`", n.spec.key)).collect::<Vec<_>>().join(", ")
                ));
                continue;
            }
            chosen.insert(key.clone());
            if upstream {
                self.walk(&key, true, &mut chosen);
            }
            if downstream {
                self.walk(&key, false, &mut chosen);
            }
        }
        if !problems.is_empty() {
            return Err(GraphError { problems });
        }
        if chosen.is_empty() {
            return Err(GraphError { problems: vec![format!("the selection `{selection}` matches no asset")] });
        }
        Ok(self.nodes.iter().map(|n| n.spec.key.clone()).filter(|k| chosen.contains(k)).collect())
    }

    fn walk(&self, from: &AssetKey, upstream: bool, out: &mut BTreeSet<AssetKey>) {
        let mut stack = vec![from.clone()];
        while let Some(key) = stack.pop() {
            let next: Vec<AssetKey> = if upstream {
                self.node(&key).map(|n| n.spec.deps.iter().filter(|d| self.node(d).is_some()).cloned().collect()).unwrap_or_default()
            } else {
                self.nodes.iter().filter(|n| n.spec.deps.contains(&key)).map(|n| n.spec.key.clone()).collect()
            };
            for k in next {
                if out.insert(k.clone()) {
                    stack.push(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::Location;
    use crate::context::InvokeContext;
    use crate::pipeline::Pipeline;
    use etl_core::{Resource, Source};

    fn source() -> Source {
        Source::with("shop", Resource::from_values("users", Vec::new())).unwrap()
    }
    fn pipeline() -> Pipeline {
        crate::pipeline::pipeline("p")
    }
    fn invoke(_: &InvokeContext<'_>) -> crate::asset::Materializations {
        Ok(Vec::new())
    }
    fn no_requirements() -> Vec<Option<crate::registry::Requirement>> {
        Vec::new()
    }
    fn def(name: &'static str, line: u32) -> DltAssetsDef {
        DltAssetsDef {
            name,
            location: Location { module_path: "m", file: "src/assets.rs", line, column: 1 },
            source,
            pipeline,
            invoke,
            group_name: None,
            translator: None,
            requirements: no_requirements,
        }
    }
    static FIRST: std::sync::LazyLock<DltAssetsDef> = std::sync::LazyLock::new(|| def("first", 10));
    static SECOND: std::sync::LazyLock<DltAssetsDef> = std::sync::LazyLock::new(|| def("second", 20));

    #[test]
    fn duplicate_keys_are_reported_with_both_locations() {
        let err = AssetGraph::build(&[&*FIRST, &*SECOND]).err().expect("duplicate");
        let text = err.to_string();
        assert!(text.contains("duplicate asset key `dlt_shop_users`"), "{text}");
        assert!(text.contains("`first` at src/assets.rs:10:1") && text.contains("`second` at src/assets.rs:20:1"), "{text}");
    }

    #[test]
    fn selection_syntax() {
        let graph = AssetGraph::build(&[&*FIRST]).unwrap();
        assert_eq!(graph.select("*").unwrap(), vec![AssetKey::new("dlt_shop_users")]);
        assert_eq!(graph.select("group:default").unwrap().len(), 1);
        assert_eq!(graph.select("kind:duckdb").unwrap().len(), 1);
        assert!(graph.select("kind:snowflake").is_err());
        assert!(graph.select("nope").unwrap_err().to_string().contains("assets: `dlt_shop_users`"));
    }
}
