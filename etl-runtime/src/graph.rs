//! The asset graph: specs built from definitions, validated before anything runs, selection,
//! the execution plan (steps in dependency order) and pictures of the lineage.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use etl_core::naming::normalize_identifier;

use crate::asset::{AssetKey, AssetSpec};
use crate::registry::{OpRef, Registry};
use crate::selection::{Selection, SelectionError};
use crate::translator::{DefaultTranslator, DltResourceInfo, DltTranslator};

/// One asset and the op that materializes it.
#[derive(Clone)]
pub struct AssetNode {
    /// The spec.
    pub spec: AssetSpec,
    /// The op.
    pub op: OpRef,
}

/// Problems that stop a graph from running, each with where it comes from.
#[derive(Debug, thiserror::Error)]
#[error("the asset graph is invalid:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct GraphError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl From<SelectionError> for GraphError {
    fn from(e: SelectionError) -> Self {
        GraphError::one(e.to_string())
    }
}

impl GraphError {
    /// One problem.
    pub fn one(problem: impl Into<String>) -> Self {
        GraphError { problems: vec![problem.into()] }
    }
}

/// One step of a run: an op and the assets it must materialize, after its upstream steps.
#[derive(Clone)]
pub struct Step {
    /// The op.
    pub op: OpRef,
    /// The selected assets of the op, in graph order.
    pub assets: Vec<AssetSpec>,
    /// Indexes of the steps that must succeed first.
    pub upstream: Vec<usize>,
}

/// The validated graph.
#[derive(Clone, Default)]
pub struct AssetGraph {
    nodes: Vec<AssetNode>,
}

/// An op's partitions definition, built and checked (a problem names the op).
fn partitions_of(
    make: Option<fn() -> crate::partition::PartitionsDefinition>,
    op: &str,
    location: crate::asset::Location,
    problems: &mut Vec<String>,
) -> Option<crate::partition::PartitionsDefinition> {
    let def = match catch_unwind(make?) {
        Ok(def) => def,
        Err(panic) => {
            problems.push(format!("building the partitions of `{op}` ({location}) failed: {}", etl_core::error::panic_text(panic.as_ref())));
            return None;
        }
    };
    if let Err(e) = def.validate() {
        problems.push(format!("`{op}` ({location}): {e}"));
    }
    Some(def)
}

/// Formats of [`AssetGraph::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// Indented text: each asset with its upstream.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

impl AssetGraph {
    /// Builds and validates the graph of these definitions: every source is built (lazily: no
    /// data is pulled) to learn its resources. Reports duplicate keys (with both locations),
    /// unknown deps of plain assets and cycles, each with file and line.
    pub fn build(registry: &Registry) -> Result<Self, GraphError> {
        let mut problems = Vec::new();
        let mut nodes: Vec<AssetNode> = Vec::new();
        for def in &registry.dlt {
            let built = catch_unwind(AssertUnwindSafe(|| ((def.source)(), (def.pipeline)())));
            let (source, pipeline) = match built {
                Ok(pair) => pair,
                Err(panic) => {
                    let message = etl_core::error::panic_text(panic.as_ref());
                    problems.push(format!("building the source or pipeline of `{}` ({}) failed: {message}", def.name, def.location));
                    continue;
                }
            };
            if let Some(error) = source.error() {
                problems.push(format!("building the source of `{}` ({}) failed: {error}", def.name, def.location));
                continue;
            }
            let translator: Box<dyn DltTranslator> = match def.translator {
                Some(make) => make(),
                None => Box::new(DefaultTranslator),
            };
            let destination_name = match pipeline.resolve_destination() {
                Ok(resolved) => resolved.name(),
                Err(error) => {
                    problems.push(format!("the destination of `{}` ({}): {error}", def.name, def.location));
                    continue;
                }
            };
            let partitions = partitions_of(def.partitions, def.name, def.location, &mut problems);
            for resource in source.selected_resources() {
                let info = DltResourceInfo {
                    source_name: source.name().to_owned(),
                    resource_name: resource.name().to_owned(),
                    table_name: normalize_identifier(resource.hints().table()),
                    description: resource.hints().description.clone(),
                    destination_name: destination_name.to_owned(),
                    data_from: resource.hints().data_from.clone(),
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
                        owners: translator.owners(&info),
                        op: def.name.to_owned(),
                        dlt_resource: Some(resource.name().to_owned()),
                        location: def.location,
                        partitions: partitions.clone(),
                    },
                    op: OpRef::Dlt(def),
                });
            }
        }
        for def in &registry.assets {
            let tags = def
                .tags
                .iter()
                .map(|t| match t.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => ((*t).to_owned(), String::new()),
                })
                .collect();
            nodes.push(AssetNode {
                spec: AssetSpec {
                    key: AssetKey::from_path(def.key),
                    deps: def.deps.iter().map(|d| AssetKey::from_path(d)).collect(),
                    group: def.group_name.unwrap_or("default").to_owned(),
                    kinds: def.kinds.iter().map(|k| (*k).to_owned()).collect(),
                    description: def.description.map(str::to_owned),
                    tags,
                    owners: Vec::new(),
                    op: def.name.to_owned(),
                    dlt_resource: None,
                    location: def.location,
                    partitions: partitions_of(def.partitions, def.name, def.location, &mut problems),
                },
                op: OpRef::Asset(def),
            });
        }
        let mut seen: BTreeMap<&AssetKey, &AssetNode> = BTreeMap::new();
        for node in &nodes {
            if let Some(first) = seen.insert(&node.spec.key, node) {
                problems.push(format!(
                    "duplicate asset key `{}`: defined by `{}` at {} and by `{}` at {}",
                    node.spec.key,
                    first.op.name(),
                    first.op.location(),
                    node.op.name(),
                    node.op.location()
                ));
            }
        }
        let graph = AssetGraph { nodes };
        if problems.is_empty() {
            problems.extend(graph.unknown_deps());
            problems.extend(graph.cycles());
        }
        let mut checks = BTreeSet::new();
        for check in &registry.checks {
            let at = check.location.map(|l| format!(" ({l})")).unwrap_or_default();
            if graph.node(&check.asset).is_none() {
                problems.push(format!("asset check `{}`{at} checks `{}`, which no definition provides", check.name, check.asset));
            }
            if !checks.insert((&check.asset, &check.name)) {
                problems.push(format!("asset `{}` has two checks named `{}`{at}", check.asset, check.name));
            }
        }
        if problems.is_empty() {
            Ok(graph)
        } else {
            Err(GraphError { problems })
        }
    }

    /// Keys that are deps of dlt assets but defined by nothing: dagster-dlt's external source
    /// stubs. Plain assets may depend on them too.
    pub fn external_keys(&self) -> BTreeSet<AssetKey> {
        self.nodes
            .iter()
            .filter(|n| n.spec.dlt_resource.is_some())
            .flat_map(|n| n.spec.deps.iter())
            .filter(|d| self.node(d).is_none())
            .cloned()
            .collect()
    }

    fn unknown_deps(&self) -> Vec<String> {
        let external = self.external_keys();
        let mut problems = Vec::new();
        for node in self.nodes.iter().filter(|n| n.spec.dlt_resource.is_none()) {
            for dep in &node.spec.deps {
                if self.node(dep).is_none() && !external.contains(dep) {
                    problems.push(format!(
                        "asset `{}` ({}) depends on `{dep}`, which no definition provides; assets: {}",
                        node.spec.key,
                        node.op.location(),
                        self.nodes.iter().map(|n| format!("`{}`", n.spec.key)).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        problems
    }

    fn cycles(&self) -> Vec<String> {
        // Iterative DFS with colors; one report per back edge.
        let index: BTreeMap<&AssetKey, usize> = self.nodes.iter().enumerate().map(|(i, n)| (&n.spec.key, i)).collect();
        let mut color = vec![0u8; self.nodes.len()];
        let mut problems = Vec::new();
        for start in 0..self.nodes.len() {
            if color[start] != 0 {
                continue;
            }
            let mut path: Vec<(usize, usize)> = vec![(start, 0)];
            color[start] = 1;
            while let Some(&mut (node, ref mut next)) = path.last_mut() {
                let deps = &self.nodes[node].spec.deps;
                if *next < deps.len() {
                    let dep = &deps[*next];
                    *next += 1;
                    let Some(&d) = index.get(dep) else { continue };
                    match color[d] {
                        0 => {
                            color[d] = 1;
                            path.push((d, 0));
                        }
                        1 => {
                            let from = path.iter().position(|(n, _)| *n == d).unwrap_or(0);
                            let cycle: Vec<String> = path[from..]
                                .iter()
                                .map(|(n, _)| format!("`{}` ({})", self.nodes[*n].spec.key, self.nodes[*n].op.location()))
                                .chain([format!("`{}`", self.nodes[d].spec.key)])
                                .collect();
                            problems.push(format!("dependency cycle: {}", cycle.join(" depends on ")));
                        }
                        _ => {}
                    }
                } else {
                    color[node] = 2;
                    path.pop();
                }
            }
        }
        problems
    }

    /// All assets, in definition order.
    pub fn nodes(&self) -> &[AssetNode] {
        &self.nodes
    }

    /// An asset by key.
    pub fn node(&self, key: &AssetKey) -> Option<&AssetNode> {
        self.nodes.iter().find(|n| &n.spec.key == key)
    }

    /// Resolves a selection to keys, in graph order, in Dagster's syntax (see
    /// [`crate::selection`]): `*`, `key:"a/b*"`, `group:`, `kind:`, `tag:k=v`, `owner:`, `and`,
    /// `or`, `not`, parentheses, `+x`, `2+x`, `x+`, `x+2`, `roots(..)`, `sinks(..)`, and the
    /// legacy bare keys (`a/b`, `+a`, `a*`) and comma-separated lists. A selection that cannot be
    /// parsed, a bare key that names no asset, and a selection of nothing are errors.
    pub fn select(&self, selection: &str) -> Result<Vec<AssetKey>, SelectionError> {
        let keys = Selection::parse(selection)?.resolve(self)?;
        if keys.is_empty() {
            return Err(SelectionError::Empty { selection: selection.to_owned() });
        }
        Ok(keys)
    }

    /// The steps that materialize `keys`: one per op (a dlt multi-asset runs once for all its
    /// selected resources), in dependency order. Deps on unselected assets are not waited for
    /// (they are assumed materialized, as in Dagster). Ops whose assets depend on each other
    /// both ways (through a multi-asset) are an error.
    pub fn plan(&self, keys: &[AssetKey]) -> Result<Vec<Step>, GraphError> {
        let mut steps: Vec<Step> = Vec::new();
        let mut step_of: BTreeMap<&AssetKey, usize> = BTreeMap::new();
        for key in keys {
            let node = self.node(key).ok_or_else(|| GraphError::one(format!("no asset `{key}`")))?;
            let i = match steps.iter().position(|s| s.op.same(&node.op)) {
                Some(i) => i,
                None => {
                    steps.push(Step { op: node.op, assets: Vec::new(), upstream: Vec::new() });
                    steps.len() - 1
                }
            };
            steps[i].assets.push(node.spec.clone());
            step_of.insert(&node.spec.key, i);
        }
        let mut upstream: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); steps.len()];
        for (i, step) in steps.iter().enumerate() {
            for dep in step.assets.iter().flat_map(|a| a.deps.iter()) {
                if let Some(&j) = step_of.get(dep) {
                    if j != i {
                        upstream[i].insert(j);
                    }
                }
            }
        }
        // Kahn's algorithm, stable in graph order.
        let mut order = Vec::new();
        let mut done = vec![false; steps.len()];
        while order.len() < steps.len() {
            let ready = (0..steps.len()).find(|&i| !done[i] && upstream[i].iter().all(|&j| done[j]));
            match ready {
                Some(i) => {
                    done[i] = true;
                    order.push(i);
                }
                None => {
                    let stuck: Vec<String> = (0..steps.len())
                        .filter(|&i| !done[i])
                        .map(|i| format!("`{}` ({})", steps[i].op.name(), steps[i].op.location()))
                        .collect();
                    return Err(GraphError::one(format!(
                        "these ops depend on each other through their assets and cannot be ordered: {}; select fewer of their assets or split the multi-asset",
                        stuck.join(", ")
                    )));
                }
            }
        }
        let position: BTreeMap<usize, usize> = order.iter().enumerate().map(|(pos, &i)| (i, pos)).collect();
        Ok(order
            .iter()
            .map(|&i| {
                let mut step = steps[i].clone();
                step.upstream = upstream[i].iter().map(|j| position[j]).collect();
                step
            })
            .collect())
    }

    /// The lineage as text, Mermaid or DOT.
    pub fn render(&self, format: GraphFormat) -> String {
        let all: Vec<AssetKey> = self.nodes.iter().map(|n| n.spec.key.clone()).collect();
        self.render_keys(format, &all)
    }

    /// The lineage of some assets (a selection): those assets, each with all its deps in text;
    /// in pictures the edges between them and from the external keys they depend on.
    pub fn render_keys(&self, format: GraphFormat, keys: &[AssetKey]) -> String {
        let chosen: BTreeSet<&AssetKey> = keys.iter().collect();
        let nodes: Vec<&AssetNode> = self.nodes.iter().filter(|n| chosen.contains(&n.spec.key)).collect();
        let external: BTreeSet<AssetKey> = self
            .external_keys()
            .into_iter()
            .filter(|k| nodes.iter().any(|n| n.spec.deps.contains(k)))
            .collect();
        let drawn = |dep: &AssetKey| chosen.contains(dep) || external.contains(dep);
        let mut out = String::new();
        match format {
            GraphFormat::Text => {
                for node in &nodes {
                    let s = &node.spec;
                    let _ = writeln!(out, "{}  [{}] group {} op {}", s.key, s.kinds.join(", "), s.group, s.op);
                    for dep in &s.deps {
                        let note = if external.contains(dep) { " (external)" } else { "" };
                        let _ = writeln!(out, "  <- {dep}{note}");
                    }
                }
            }
            GraphFormat::Mermaid => {
                let id = |k: &AssetKey| {
                    k.to_user_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>()
                };
                out.push_str("flowchart LR\n");
                for key in &external {
                    let _ = writeln!(out, "  {}[/\"{key}\"/]", id(key));
                }
                for node in &nodes {
                    let _ = writeln!(out, "  {}[\"{}\"]", id(&node.spec.key), node.spec.key);
                }
                for node in &nodes {
                    for dep in node.spec.deps.iter().filter(|d| drawn(d)) {
                        let _ = writeln!(out, "  {} --> {}", id(dep), id(&node.spec.key));
                    }
                }
            }
            GraphFormat::Dot => {
                out.push_str("digraph assets {\n  rankdir=LR;\n  node [shape=box];\n");
                for key in &external {
                    let _ = writeln!(out, "  \"{key}\" [style=dashed];");
                }
                for node in &nodes {
                    let _ = writeln!(out, "  \"{}\" [tooltip=\"{}\"];", node.spec.key, node.spec.group);
                }
                for node in &nodes {
                    for dep in node.spec.deps.iter().filter(|d| drawn(d)) {
                        let _ = writeln!(out, "  \"{dep}\" -> \"{}\";", node.spec.key);
                    }
                }
                out.push_str("}\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::Location;
    use crate::context::InvokeContext;
    use etl_pipeline::pipeline::Pipeline;
    use crate::registry::{AssetDef, DltAssetsDef};
    use etl_core::{Resource, Source};

    fn source() -> Source {
        Source::with("shop", Resource::from_values("users", Vec::new())).unwrap()
    }
    fn pipeline() -> Pipeline {
        etl_pipeline::pipeline::pipeline("p")
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
            retry: None,
            pool: None,
            partitions: None,
            source_for: None,
            configs: Vec::new,
        }
    }
    fn asset(key: &'static str, deps: &'static [&'static str], line: u32) -> AssetDef {
        AssetDef {
            name: key,
            key,
            deps,
            group_name: Some("reports"),
            kinds: &["sql"],
            tags: &["team=data", "nightly"],
            description: None,
            pool: None,
            retry: None,
            location: Location { module_path: "m", file: "src/report.rs", line, column: 1 },
            invoke,
            requirements: no_requirements,
            partitions: None,
            configs: Vec::new,
        }
    }
    static FIRST: std::sync::LazyLock<DltAssetsDef> = std::sync::LazyLock::new(|| def("first", 10));
    static SECOND: std::sync::LazyLock<DltAssetsDef> = std::sync::LazyLock::new(|| def("second", 20));
    static REPORT: std::sync::LazyLock<AssetDef> = std::sync::LazyLock::new(|| asset("report", &["dlt_shop_users"], 30));
    static SUMMARY: std::sync::LazyLock<AssetDef> = std::sync::LazyLock::new(|| asset("summary", &["report", "shop_users"], 40));
    static CYCLE_A: std::sync::LazyLock<AssetDef> = std::sync::LazyLock::new(|| asset("a", &["b"], 50));
    static CYCLE_B: std::sync::LazyLock<AssetDef> = std::sync::LazyLock::new(|| asset("b", &["a"], 60));
    static UNKNOWN: std::sync::LazyLock<AssetDef> = std::sync::LazyLock::new(|| asset("orphan", &["nowhere"], 70));

    fn graph() -> AssetGraph {
        AssetGraph::build(&Registry { dlt: vec![&*FIRST], assets: vec![&*REPORT, &*SUMMARY], ..Registry::default() }).unwrap()
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_locations() {
        let err = AssetGraph::build(&Registry::from(vec![&*FIRST, &*SECOND])).err().expect("duplicate");
        let text = err.to_string();
        assert!(text.contains("duplicate asset key `dlt_shop_users`"), "{text}");
        assert!(text.contains("`first` at src/assets.rs:10:1") && text.contains("`second` at src/assets.rs:20:1"), "{text}");
    }

    #[test]
    fn a_source_that_could_not_be_built_is_reported_for_its_definition() {
        fn failed_source() -> Source {
            Source::failed("cfg", "1 missing config value(s): `url`, looked for in: env SOURCES__CFG__URL")
        }
        static BROKEN: std::sync::LazyLock<DltAssetsDef> = std::sync::LazyLock::new(|| DltAssetsDef { source: failed_source, ..def("broken", 80) });
        let err = AssetGraph::build(&Registry::from(vec![&*BROKEN, &*FIRST])).err().expect("failed source");
        assert_eq!(
            err.problems,
            ["building the source of `broken` (src/assets.rs:80:1) failed: 1 missing config value(s): `url`, looked for in: env SOURCES__CFG__URL"]
        );
    }

    #[test]
    fn cycles_and_unknown_deps_are_reported_with_locations() {
        let err = AssetGraph::build(&Registry { dlt: vec![], assets: vec![&*CYCLE_A, &*CYCLE_B], ..Registry::default() }).err().expect("cycle");
        assert_eq!(err.problems.len(), 1, "{err}");
        assert!(err.problems[0].starts_with("dependency cycle: `a` (src/report.rs:50:1) depends on `b` (src/report.rs:60:1) depends on `a`"), "{err}");
        let err = AssetGraph::build(&Registry { dlt: vec![&*FIRST], assets: vec![&*UNKNOWN], ..Registry::default() }).err().expect("unknown");
        assert!(err.to_string().contains("asset `orphan` (src/report.rs:70:1) depends on `nowhere`, which no definition provides"), "{err}");
    }

    #[test]
    fn selection_syntax() {
        let graph = graph();
        let keys = |sel: &str| graph.select(sel).unwrap().iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        assert_eq!(keys("*"), "dlt_shop_users,report,summary");
        assert_eq!(keys("group:default"), "dlt_shop_users");
        assert_eq!(keys("kind:duckdb"), "dlt_shop_users");
        assert_eq!(keys("tag:team=data"), "report,summary");
        assert_eq!(keys("tag:nightly"), "report,summary");
        assert_eq!(keys("+summary"), "report,summary", "legacy: one level per `+`");
        assert_eq!(keys("+report"), "dlt_shop_users,report");
        assert_eq!(keys("dlt_shop_users+"), "dlt_shop_users,report");
        assert_eq!(keys("dlt_shop_users*"), "dlt_shop_users,report,summary");
        assert_eq!(keys("summary, dlt_shop_users"), "dlt_shop_users,summary");
        assert_eq!(keys("+group:reports"), "dlt_shop_users,report,summary");
        assert!(graph.select("kind:snowflake").is_err());
        assert!(graph.select("tag:team=ops").is_err());
        assert!(graph.select("nope").unwrap_err().to_string().contains("assets: `dlt_shop_users`, `report`, `summary`"));
        assert!(graph.select("group:").unwrap_err().to_string().contains("at column 7: the end of the selection"));
    }

    #[test]
    fn plan_orders_steps_by_dependency() {
        let graph = graph();
        let keys = graph.select("summary,report,dlt_shop_users").unwrap();
        let plan = graph.plan(&keys).unwrap();
        let names: Vec<&str> = plan.iter().map(|s| s.op.name()).collect();
        assert_eq!(names, ["first", "report", "summary"]);
        assert_eq!(plan[1].upstream, vec![0]);
        assert_eq!(plan[2].upstream, vec![1]);
        // An unselected upstream is not waited for.
        let plan = graph.plan(&graph.select("summary").unwrap()).unwrap();
        assert!(plan[0].upstream.is_empty());
    }

    #[test]
    fn renders_text_mermaid_and_dot() {
        let graph = graph();
        let text = graph.render(GraphFormat::Text);
        assert!(text.contains("summary  [sql] group reports op summary\n  <- report\n  <- shop_users (external)"), "{text}");
        let mermaid = graph.render(GraphFormat::Mermaid);
        assert!(mermaid.starts_with("flowchart LR\n") && mermaid.contains("  dlt_shop_users --> report\n"), "{mermaid}");
        let dot = graph.render(GraphFormat::Dot);
        assert!(dot.contains("\"report\" -> \"summary\";") && dot.contains("\"shop_users\" [style=dashed];"), "{dot}");
        // A selection: its assets, the edges between them and from their external deps.
        let some = graph.select("group:reports").unwrap();
        let mermaid = graph.render_keys(GraphFormat::Mermaid, &some);
        assert_eq!(mermaid, "flowchart LR\n  shop_users[/\"shop_users\"/]\n  report[\"report\"]\n  summary[\"summary\"]\n  report --> summary\n  shop_users --> summary\n");
        let text = graph.render_keys(GraphFormat::Text, &some);
        assert!(text.starts_with("report  [sql] group reports op report\n  <- dlt_shop_users\n"), "{text}");
    }
}
