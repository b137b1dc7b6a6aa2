//! The lineage graph laid out on the server, deterministically: a layered drawing (Sugiyama's
//! scheme, simplified). Each node's column is the longest path to it from a root; within a
//! column nodes are ordered by group, then by the mean position of their neighbours in the
//! column before (then after), sweeping a few times, ties broken by key. The same graph always
//! gets the same picture; 500 assets take a few milliseconds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A node to lay out.
#[derive(Debug, Clone)]
pub struct Node {
    /// The asset key (`a/b`).
    pub key: String,
    /// Its group (external deps: none).
    pub group: Option<String>,
}

/// Where a node goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub key: String,
    pub group: Option<String>,
    /// Column (0: roots) and row.
    pub column: usize,
    pub row: usize,
}

/// A laid-out graph.
#[derive(Debug, Clone)]
pub struct Layout {
    pub nodes: Vec<Placed>,
    /// Edges as indices into `nodes` (from upstream to downstream).
    pub edges: Vec<(usize, usize)>,
    pub columns: usize,
    pub rows: usize,
}

/// Lays out `nodes` with `edges` (`from` upstream of `to`, by key; edges naming unknown keys
/// are left out). The graph has no cycles (the asset graph refuses them).
pub fn layout(nodes: &[Node], edges: &[(String, String)]) -> Layout {
    let mut sorted: Vec<&Node> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let index: HashMap<&str, usize> = sorted.iter().enumerate().map(|(i, n)| (n.key.as_str(), i)).collect();
    let n = sorted.len();
    let mut ups: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut downs: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut edge_set = BTreeSet::new();
    for (from, to) in edges {
        if let (Some(&f), Some(&t)) = (index.get(from.as_str()), index.get(to.as_str())) {
            if f != t && edge_set.insert((f, t)) {
                ups[t].push(f);
                downs[f].push(t);
            }
        }
    }
    // Columns: the longest path from a root (Kahn's order).
    let mut indegree: Vec<usize> = ups.iter().map(Vec::len).collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut column = vec![0usize; n];
    while let Some(i) = ready.pop_first() {
        for &d in &downs[i] {
            column[d] = column[d].max(column[i] + 1);
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.insert(d);
            }
        }
    }
    // A cycle would leave nodes out (their indegree never reaches 0): put them in a last column
    // rather than lose them.
    let last = column.iter().copied().max().unwrap_or(0);
    for i in (0..n).filter(|&i| indegree[i] > 0) {
        column[i] = last + 1;
    }
    let columns = column.iter().copied().max().map_or(0, |c| c + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for i in 0..n {
        layers[column[i]].push(i);
    }
    let group_rank: BTreeMap<&str, usize> = {
        let groups: BTreeSet<&str> = sorted.iter().filter_map(|n| n.group.as_deref()).collect();
        groups.into_iter().enumerate().map(|(r, g)| (g, r)).collect()
    };
    let rank = |i: usize| sorted[i].group.as_deref().map_or(usize::MAX, |g| group_rank[g]);
    let mut position = vec![0f64; n];
    let place = |layers: &Vec<Vec<usize>>, position: &mut Vec<f64>| {
        for layer in layers {
            for (r, &i) in layer.iter().enumerate() {
                position[i] = r as f64;
            }
        }
    };
    for layer in &mut layers {
        layer.sort_by_key(|&i| (rank(i), i));
    }
    place(&layers, &mut position);
    for sweep in 0..4 {
        let down = sweep % 2 == 0;
        let range: Vec<usize> = if down { (1..columns).collect() } else { (0..columns.saturating_sub(1)).rev().collect() };
        for c in range {
            let neighbours = if down { &ups } else { &downs };
            let mut keyed: Vec<(usize, f64, usize)> = layers[c]
                .iter()
                .map(|&i| {
                    let ns = &neighbours[i];
                    let bary = if ns.is_empty() { position[i] } else { ns.iter().map(|&j| position[j]).sum::<f64>() / ns.len() as f64 };
                    (rank(i), bary, i)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
            layers[c] = keyed.into_iter().map(|(_, _, i)| i).collect();
            for (r, &i) in layers[c].iter().enumerate() {
                position[i] = r as f64;
            }
        }
    }
    let rows = layers.iter().map(Vec::len).max().unwrap_or(0);
    let mut row = vec![0usize; n];
    for layer in &layers {
        for (r, &i) in layer.iter().enumerate() {
            row[i] = r;
        }
    }
    let nodes = (0..n).map(|i| Placed { key: sorted[i].key.clone(), group: sorted[i].group.clone(), column: column[i], row: row[i] }).collect();
    Layout { nodes, edges: edge_set.into_iter().collect(), columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, group: &str) -> Node {
        Node { key: key.into(), group: (!group.is_empty()).then(|| group.into()) }
    }

    fn edge(a: &str, b: &str) -> (String, String) {
        (a.into(), b.into())
    }

    #[test]
    fn columns_follow_the_longest_path_and_the_picture_is_the_same_every_time() {
        let nodes = [node("raw", ""), node("orders", "shop"), node("users", "shop"), node("report", "reports")];
        let edges = [edge("raw", "orders"), edge("orders", "report"), edge("users", "report"), edge("raw", "report")];
        let a = layout(&nodes, &edges);
        let col = |k: &str| a.nodes.iter().find(|n| n.key == k).unwrap().column;
        assert_eq!((col("raw"), col("users"), col("orders"), col("report")), (0, 0, 1, 2));
        let mut reversed = nodes.to_vec();
        reversed.reverse();
        let b = layout(&reversed, &edges.iter().rev().cloned().collect::<Vec<_>>());
        assert_eq!(a.nodes, b.nodes, "deterministic whatever the input order");
        assert_eq!((a.columns, a.rows), (3, 2));
    }

    #[test]
    fn in_each_column_a_groups_nodes_are_adjacent() {
        let nodes: Vec<Node> = (0..60).map(|i| node(&format!("a{i:02}"), &format!("g{}", i % 3))).collect();
        let edges: Vec<(String, String)> = (10..60).map(|i| edge(&format!("a{:02}", i % 10), &format!("a{i:02}"))).collect();
        let l = layout(&nodes, &edges);
        for c in 0..l.columns {
            let mut column: Vec<&Placed> = l.nodes.iter().filter(|n| n.column == c).collect();
            column.sort_by_key(|n| n.row);
            let groups: Vec<&str> = column.iter().map(|n| n.group.as_deref().unwrap()).collect();
            let mut runs = groups.clone();
            runs.dedup();
            let distinct: BTreeSet<&str> = groups.iter().copied().collect();
            assert_eq!(runs.len(), distinct.len(), "column {c}: {groups:?}");
        }
    }

    #[test]
    fn five_hundred_assets_are_laid_out_in_distinct_places() {
        let nodes: Vec<Node> = (0..500).map(|i| node(&format!("a{i:03}"), &format!("g{}", i % 7))).collect();
        let edges: Vec<(String, String)> = (1..500).map(|i| edge(&format!("a{:03}", (i * 7919) % i), &format!("a{i:03}"))).collect();
        let l = layout(&nodes, &edges);
        let places: BTreeSet<(usize, usize)> = l.nodes.iter().map(|n| (n.column, n.row)).collect();
        assert_eq!(places.len(), 500);
        for &(f, t) in &l.edges {
            assert!(l.nodes[f].column < l.nodes[t].column, "edges go left to right");
        }
    }
}
