//! Transformers in a run, as dlt's pipe graph has them: each parent is extracted once per run,
//! under its own incremental window and state, and every item it yields goes in the same pass
//! to its own table (if selected) and to each selected transformer fed by it, whose items go on
//! to theirs.
//!
//! A run is planned as [`Unit`]s in source order: a resource that feeds no selected transformer
//! is a [`Unit::Single`] (loaded by the pipeline's streaming path, fast path included); a parent
//! with selected transformers below it is a [`Unit::Group`], loaded here from values.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use etl_core::incremental::{Decision, IncrementalFilter};
use etl_core::resource::Transform;
use etl_core::{Resource, ResourceContext, ResourceHints, Value};

use crate::error::PipelineError;
use crate::pipeline::{LoadRun, Prepared, Started};
use crate::sink::{next_item, panic_message};

/// A resource and the selected transformers it feeds.
pub(crate) struct Node {
    resource: Resource,
    /// Its own table is loaded (a selected resource of the source).
    loads: bool,
    children: Vec<Node>,
}

/// What a run loads, in order.
pub(crate) enum Unit {
    /// A selected resource that feeds no selected transformer.
    Single(Resource),
    /// A parent (selected or not) with the selected transformers below it.
    Group(Node),
}

impl Unit {
    /// The resource whose items the unit pulls.
    pub fn root_mut(&mut self) -> &mut Resource {
        match self {
            Unit::Single(r) => r,
            Unit::Group(n) => &mut n.resource,
        }
    }

    /// Whether the root's own table is loaded.
    pub fn root_loads(&self) -> bool {
        match self {
            Unit::Single(_) => true,
            Unit::Group(n) => n.loads,
        }
    }
}

/// Plans a source's resources (and the parents it keeps for its transformers) into units: one
/// per root that is selected or feeds a selected transformer, in the order the source lists
/// them.
pub(crate) fn plan(resources: Vec<Resource>, parents: Vec<Resource>) -> Result<Vec<Unit>, PipelineError> {
    let mut pool: Vec<Option<(Resource, bool)>> = resources.into_iter().map(|r| { let loads = r.is_selected(); Some((r, loads)) }).collect();
    let explicit = pool.len();
    pool.extend(parents.into_iter().map(|p| Some((p, false))));
    let names: Vec<String> = pool.iter().map(|e| e.as_ref().map(|(r, _)| r.name().to_owned()).unwrap_or_default()).collect();
    let parent_of: Vec<Option<usize>> = pool
        .iter()
        .map(|e| {
            let (r, _) = e.as_ref().expect("full");
            match r.parent_name() {
                None => Ok(None),
                Some(p) => names.iter().position(|n| n == p).map(Some).ok_or_else(|| {
                    PipelineError::config(format!("transformer `{}`: its parent `{p}` is not in the source", r.name()))
                }),
            }
        })
        .collect::<Result<_, _>>()?;
    let loads: Vec<bool> = pool.iter().map(|e| e.as_ref().is_some_and(|(_, l)| *l)).collect();
    for (r, _) in pool.iter().flatten().filter(|(r, loads)| *loads && r.hints().write_disposition == etl_core::WriteDisposition::Skip) {
        // dlt keeps `skip` for its own bookkeeping tables, and its loader refuses a data file for
        // such a table; here the run fails before anything is pulled or written.
        return Err(PipelineError::config(format!(
            "resource `{}`: write disposition `skip` marks dlt's own bookkeeping tables and cannot load rows \
             (dlt's loader refuses them too); to feed transformers from a resource without loading its table, \
             deselect it (`selected = false`)",
            r.name()
        )));
    }
    // A resource is needed if it loads or feeds one that does.
    let mut needed = loads.clone();
    for i in 0..pool.len() {
        if loads[i] {
            let mut p = parent_of[i];
            while let Some(j) = p {
                needed[j] = true;
                p = parent_of[j];
            }
        }
    }
    let root_of = |mut i: usize| {
        while let Some(p) = parent_of[i] {
            i = p;
        }
        i
    };
    let mut units = Vec::new();
    let mut emitted = vec![false; pool.len()];
    for i in 0..explicit {
        let root = root_of(i);
        if emitted[root] || !needed[root] {
            continue;
        }
        emitted[root] = true;
        let node = take_node(root, &mut pool, &parent_of, &needed);
        units.push(if node.children.is_empty() { Unit::Single(node.resource) } else { Unit::Group(node) });
    }
    Ok(units)
}

fn take_node(i: usize, pool: &mut [Option<(Resource, bool)>], parent_of: &[Option<usize>], needed: &[bool]) -> Node {
    let (resource, loads) = pool[i].take().expect("each resource is planned once");
    let children = (0..pool.len()).filter(|&c| parent_of[c] == Some(i) && needed[c]).collect::<Vec<_>>();
    let children = children.into_iter().map(|c| take_node(c, pool, parent_of, needed)).collect();
    Node { resource, loads, children }
}

impl Node {
    /// Whether the resource and every transformer below it are replayable.
    fn replayable(&self) -> bool {
        self.resource.is_replayable() && self.children.iter().all(Node::replayable)
    }
}

/// A node while its group runs.
struct Live<'a> {
    name: String,
    hints: ResourceHints,
    transform: Option<Transform>,
    context: ResourceContext,
    filter: Option<IncrementalFilter>,
    sink: Option<Prepared<'a>>,
    spool_index: Option<usize>,
    /// Rows that reached this node (for error positions).
    rows_in: u64,
    /// Items pulled from this node's producer or transform.
    pulled: u64,
    children: Vec<Live<'a>>,
}

/// What one resource of a group loaded.
pub(crate) struct Loaded {
    pub hints: ResourceHints,
    pub written: BTreeMap<String, u64>,
    pub took: std::time::Duration,
}

/// Loads a group: extracts its root once and feeds every node in one pass. Returns what each
/// resource loaded, root first.
pub(crate) fn load_group(run: &mut LoadRun<'_>, root: Node, ahead: Option<Started>) -> Result<Vec<Loaded>, PipelineError> {
    let started = Instant::now();
    // A parallelized root was started ahead of its turn, with its window.
    let (window, items) = match ahead {
        Some(Started { filter, context, items }) => (Some((filter, context)), Some(items)),
        None => (None, None),
    };
    // The group's items are kept (each loading node's) unless all of its resources are
    // replayable: the next run pulls them again.
    let keep = !root.replayable();
    let (mut live, mut resource) = start(run, root, window, keep)?;
    let items = match items {
        Some(items) => items,
        None => catch_unwind(AssertUnwindSafe(|| resource.take_items_with(&live.context))).unwrap_or_else(|p| Err(panic_message(p))),
    };
    let mut items = items.map_err(|e| PipelineError::extract(&live.name, None, e))?;
    while let Some(value) = next_item(&mut items).map_err(|e| PipelineError::extract(&live.name, Some(live.rows_in), e))? {
        live.pulled += 1;
        run.acc.progress.extracted(&live.name, live.pulled);
        if live.feed(run, value)? {
            break;
        }
    }
    drop(items);
    let mut out = Vec::new();
    finish(run, live, started, &mut out)?;
    Ok(out)
}

/// Prepares a node and its children (pre-order: sinks, windows, spool files); `window` is the
/// node's window when it was computed already. Returns the node's resource too (the root's
/// items are taken from it).
fn start<'a>(
    run: &mut LoadRun<'a>,
    node: Node,
    window: Option<(Option<IncrementalFilter>, ResourceContext)>,
    keep: bool,
) -> Result<(Live<'a>, Resource), PipelineError> {
    let Node { mut resource, loads, children } = node;
    let hints = resource.hints().clone();
    let sink = if loads { Some(run.prepare_sink(&hints)?) } else { None };
    let (filter, context) = match window {
        Some(window) => window,
        None => run.window(&hints, loads)?,
    };
    let transform = match resource.parent_name() {
        Some(_) => Some(resource.take_transform().ok_or_else(|| PipelineError::extract(resource.name(), None, "the transformer was already run".into()))?),
        None => None,
    };
    let spool_index = match (loads && keep, run.acc.spool.as_mut()) {
        (true, Some(sp)) => {
            let index = run.acc.spool_index;
            run.acc.spool_index += 1;
            sp.begin_resource(index, &hints, crate::spool::Keep::Values)?;
            Some(index)
        }
        _ => None,
    };
    let mut live = Live {
        name: hints.name.clone(),
        hints,
        transform,
        context,
        filter,
        sink,
        spool_index,
        rows_in: 0,
        pulled: 0,
        children: Vec::new(),
    };
    for child in children {
        let (c, _) = start(run, child, None, keep)?;
        live.children.push(c);
    }
    Ok((live, resource))
}

impl Live<'_> {
    /// One item of this node: kept in the spool (if it loads), judged by its window, written to
    /// its table (if it loads) and handed to each transformer. Returns whether to stop pulling
    /// (ordered rows past the window).
    fn feed(&mut self, run: &mut LoadRun<'_>, value: Value) -> Result<bool, PipelineError> {
        if let (Some(index), Some(sp)) = (self.spool_index, run.acc.spool.as_mut()) {
            sp.keep_value_for(index, value.clone())?;
        }
        let (admitted, stop) = self.admit(value)?;
        let Some(value) = admitted else { return Ok(stop) };
        if let Some(prepared) = self.sink.as_mut() {
            prepared.sink.item(&mut run.acc.schema, &value)?;
        }
        for child in &mut self.children {
            let transform = child.transform.as_mut().expect("a child is a transformer");
            let context = &child.context;
            let input = value.clone();
            let produced = catch_unwind(AssertUnwindSafe(|| transform(input, context))).unwrap_or_else(|p| Err(panic_message(p)));
            let mut items = produced.map_err(|e| PipelineError::extract(&child.name, Some(child.rows_in), e))?;
            while let Some(item) = next_item(&mut items).map_err(|e| PipelineError::extract(&child.name, Some(child.rows_in), e))? {
                child.pulled += 1;
                run.acc.progress.extracted(&child.name, child.pulled);
                if child.feed(run, item)? {
                    // Ordered rows past the transformer's window: the rest of this batch is out too.
                    break;
                }
            }
        }
        Ok(stop)
    }

    /// The rows of an item that pass this node's incremental window (a list keeps its passing
    /// rows; one with none passes nothing), and whether the window says to stop.
    fn admit(&mut self, value: Value) -> Result<(Option<Value>, bool), PipelineError> {
        let Some(filter) = self.filter.as_mut() else {
            self.rows_in += match &value {
                Value::List(rows) => rows.len() as u64,
                _ => 1,
            };
            return Ok((Some(value), false));
        };
        let mut judge = |row: &Value, rows_in: &mut u64| {
            *rows_in += 1;
            filter.check(row).map_err(|e| PipelineError::extract(&self.name, Some(*rows_in - 1), Box::new(e)))
        };
        match value {
            Value::List(rows) => {
                let mut kept = Vec::with_capacity(rows.len());
                let mut stop = false;
                for row in rows {
                    match judge(&row, &mut self.rows_in)? {
                        Decision::Keep => kept.push(row),
                        Decision::Skip => {}
                        Decision::Stop => {
                            stop = true;
                            break;
                        }
                    }
                }
                Ok(((!kept.is_empty()).then_some(Value::List(kept)), stop))
            }
            row => match judge(&row, &mut self.rows_in)? {
                Decision::Keep => Ok((Some(row), false)),
                Decision::Skip => Ok((None, false)),
                Decision::Stop => Ok((None, true)),
            },
        }
    }
}

/// Stores each node's state and cursor and finishes its sink (pre-order).
fn finish(run: &mut LoadRun<'_>, live: Live<'_>, started: Instant, out: &mut Vec<Loaded>) -> Result<(), PipelineError> {
    let Live { name, hints, context, filter, sink, children, .. } = live;
    let source_name = run.facts.source.name.as_str();
    run.acc.state.set_resource_state(source_name, &name, context.state.snapshot());
    if let (Some(f), Some(inc)) = (filter, hints.incremental.as_ref()) {
        if let Some(cursor) = f.finish() {
            run.acc.state.set_cursor(source_name, &name, &inc.cursor_path, &cursor);
        }
    }
    if let Some(prepared) = sink {
        let written = run.finish_sink(prepared)?;
        out.push(Loaded { hints, written, took: started.elapsed() });
    }
    for child in children {
        finish(run, child, started, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(units: &[Unit]) -> Vec<String> {
        units
            .iter()
            .map(|u| match u {
                Unit::Single(r) => r.name().to_owned(),
                Unit::Group(n) => {
                    fn walk(n: &Node) -> String {
                        let kids: Vec<String> = n.children.iter().map(walk).collect();
                        format!("{}{}[{}]", n.resource.name(), if n.loads { "" } else { "~" }, kids.join(","))
                    }
                    walk(n)
                }
            })
            .collect()
    }

    fn transformer(name: &str, parent: Resource) -> Resource {
        Resource::transformer(ResourceHints::new(name), parent, |v, _| Ok(Box::new(std::iter::once(Ok(v))) as etl_core::Items))
    }

    #[test]
    fn parents_are_planned_once_with_their_selected_transformers() {
        let users = || Resource::from_data("users", vec![1]);
        let source = etl_core::Source::with(
            "s",
            vec![
                users(),
                transformer("details", users()),
                transformer("more", users()),
                Resource::from_data("orders", vec![2]),
                transformer("deep", transformer("mid", Resource::from_data("hidden", vec![3]))),
                transformer("off", Resource::from_data("lonely", vec![4])).selected(false),
            ],
        )
        .unwrap();
        // A source made of another's resources keeps every parent, a chain of them too.
        let source = etl_core::Source::with("s", source).unwrap();
        assert_eq!(source.transformer_parents().iter().map(Resource::name).collect::<Vec<_>>(), ["hidden", "mid", "lonely"]);
        let (resources, parents) = source.into_pipes();
        let units = plan(resources, parents).unwrap();
        // `lonely` feeds only a deselected transformer: not pulled at all.
        assert_eq!(names(&units), ["users[details[],more[]]", "orders", "hidden~[mid~[deep[]]]"]);
    }
}
