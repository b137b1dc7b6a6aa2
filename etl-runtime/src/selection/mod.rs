//! Dagster's asset selection syntax: a tokenizer and a recursive-descent parser into a
//! [`Selection`], and its evaluation over an [`AssetGraph`].
//!
//! - Attributes: `key:a/b` or `key:"a/b*"` (`*` matches any text, keys as `a/b/c`), `group:g`,
//!   `kind:k`, `tag:k` (a tag `k` without a value) or `tag:k=v`, `owner:o`; `kind:<null>` and
//!   `owner:<null>` select assets without any. Values are bare (letters, digits, `_ / - . @`) or
//!   quoted (`"..."`, no escapes).
//! - `*` is every asset. `and`, `or`, `not` (or `AND`, `OR`, `NOT`), with `not` binding tighter
//!   than `and`, and `and` tighter than `or`; parentheses; `roots(..)` and `sinks(..)` (the
//!   assets of a selection with no upstream, or no downstream, inside it).
//! - Traversals: `+x` (x and all its upstream), `2+x` (two levels), `x+`, `x+2`, on attributes,
//!   parentheses and functions.
//! - Dagster's legacy clauses: a bare key `a/b` (which must exist), `+a` / `++a` (one level per
//!   `+`), `*a` / `a*` (every level), and comma-separated lists (a union, below `or`).
//!
//! A selection that cannot be parsed is a [`SelectionError::Syntax`] naming the column and the
//! offending token.

mod parse;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::asset::AssetKey;
use crate::graph::AssetGraph;

/// A parsed selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `*`: every asset.
    All,
    /// `key:pattern` (a wildcard) or a bare key (exact, and it must exist).
    Key {
        /// The key as `a/b/c`; `*` matches any text (in `key:` only).
        pattern: String,
        /// A bare key (legacy): naming no asset is an error.
        must_exist: bool,
        /// Where it is in the selection (1-based, in characters).
        column: usize,
    },
    /// `group:g`.
    Group(String),
    /// `kind:k`; `None` is `kind:<null>` (no kinds).
    Kind(Option<String>),
    /// `tag:k` (value `""`) or `tag:k=v`.
    Tag {
        /// Tag key.
        key: String,
        /// Tag value (`""` for a tag without one).
        value: String,
    },
    /// `owner:o`; `None` is `owner:<null>` (no owners).
    Owner(Option<String>),
    /// The selection and its upstream, up to `depth` levels (`None`: all).
    Upstream {
        /// The selection.
        of: Box<Selection>,
        /// Levels; `None`: all.
        depth: Option<u32>,
    },
    /// The selection and its downstream, up to `depth` levels (`None`: all).
    Downstream {
        /// The selection.
        of: Box<Selection>,
        /// Levels; `None`: all.
        depth: Option<u32>,
    },
    /// `not x`: every asset but those of `x`.
    Not(Box<Selection>),
    /// `x and y`.
    And(Box<Selection>, Box<Selection>),
    /// `x or y`, `x, y`.
    Or(Box<Selection>, Box<Selection>),
    /// `roots(x)`: the assets of `x` with no upstream in `x`.
    Roots(Box<Selection>),
    /// `sinks(x)`: the assets of `x` with no downstream in `x`.
    Sinks(Box<Selection>),
}

/// A selection that cannot be parsed or names an asset that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// The text is not a selection.
    #[error("invalid selection `{selection}`: {message}, at column {column}: {shown}\n    {selection}\n    {caret}",
        shown = shown(.token), caret = caret(.column))]
    Syntax {
        /// The whole selection.
        selection: String,
        /// 1-based column of the offending token, in characters.
        column: usize,
        /// The offending token (empty at the end).
        token: String,
        /// What was expected or is wrong.
        message: String,
    },
    /// A bare key (Dagster's legacy clause) that names no asset.
    #[error("no asset `{key}` in this binary (column {column} of the selection); assets: {}", listed(.known))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// 1-based column of the key, in characters.
        column: usize,
        /// Every asset key of the graph.
        known: Vec<String>,
    },
    /// The selection is valid but selects nothing.
    #[error("the selection `{selection}` matches no asset")]
    Empty {
        /// The selection.
        selection: String,
    },
}

impl SelectionError {
    fn syntax(selection: &str, byte: usize, token: &str, message: &str) -> Self {
        SelectionError::Syntax {
            selection: selection.to_owned(),
            column: column(selection, byte),
            token: token.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// The 1-based character column of a byte offset.
fn column(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count() + 1
}

fn caret(column: &usize) -> String {
    format!("{}^", " ".repeat(column.saturating_sub(1)))
}

fn shown(token: &str) -> String {
    if token.is_empty() {
        "the end of the selection".to_owned()
    } else {
        format!("`{token}`")
    }
}

fn listed(keys: &[String]) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

impl Selection {
    /// Parses a selection (see the module documentation for the syntax).
    pub fn parse(text: &str) -> Result<Selection, SelectionError> {
        parse::parse(text)
    }

    /// The keys this selection picks out of `graph`, in graph order (possibly none). A bare key
    /// that names no asset is an error.
    pub fn resolve(&self, graph: &AssetGraph) -> Result<Vec<AssetKey>, SelectionError> {
        let view = View::new(graph);
        let chosen = view.eval(self)?;
        Ok(chosen.into_iter().map(|i| view.graph.nodes()[i].spec.key.clone()).collect())
    }
}

/// The graph as indexes: each asset's upstream and downstream assets.
struct View<'g> {
    graph: &'g AssetGraph,
    upstream: Vec<Vec<usize>>,
    downstream: Vec<Vec<usize>>,
}

impl<'g> View<'g> {
    fn new(graph: &'g AssetGraph) -> Self {
        let nodes = graph.nodes();
        let index: BTreeMap<&AssetKey, usize> = nodes.iter().enumerate().map(|(i, n)| (&n.spec.key, i)).collect();
        let mut upstream = vec![Vec::new(); nodes.len()];
        let mut downstream = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            for dep in &node.spec.deps {
                if let Some(&d) = index.get(dep) {
                    upstream[i].push(d);
                    downstream[d].push(i);
                }
            }
        }
        View { graph, upstream, downstream }
    }

    fn all(&self) -> BTreeSet<usize> {
        (0..self.graph.nodes().len()).collect()
    }

    fn matching(&self, keep: impl Fn(&crate::asset::AssetSpec) -> bool) -> BTreeSet<usize> {
        self.graph.nodes().iter().enumerate().filter(|(_, n)| keep(&n.spec)).map(|(i, _)| i).collect()
    }

    fn eval(&self, selection: &Selection) -> Result<BTreeSet<usize>, SelectionError> {
        Ok(match selection {
            Selection::All => self.all(),
            Selection::Key { pattern, must_exist, column } => {
                let found = self.matching(|s| wildcard_match(pattern, &s.key.to_user_string()));
                if found.is_empty() && *must_exist {
                    return Err(SelectionError::UnknownKey {
                        key: pattern.clone(),
                        column: *column,
                        known: self.graph.nodes().iter().map(|n| n.spec.key.to_string()).collect(),
                    });
                }
                found
            }
            Selection::Group(g) => self.matching(|s| &s.group == g),
            Selection::Kind(Some(k)) => self.matching(|s| s.kinds.contains(k)),
            Selection::Kind(None) => self.matching(|s| s.kinds.is_empty()),
            Selection::Tag { key, value } => self.matching(|s| s.tags.get(key) == Some(value)),
            Selection::Owner(Some(o)) => self.matching(|s| s.owners.contains(o)),
            Selection::Owner(None) => self.matching(|s| s.owners.is_empty()),
            Selection::Upstream { of, depth } => self.walk(self.eval(of)?, &self.upstream, *depth),
            Selection::Downstream { of, depth } => self.walk(self.eval(of)?, &self.downstream, *depth),
            Selection::Not(x) => {
                let x = self.eval(x)?;
                self.all().difference(&x).copied().collect()
            }
            Selection::And(a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                a.intersection(&b).copied().collect()
            }
            Selection::Or(a, b) => {
                let mut a = self.eval(a)?;
                a.extend(self.eval(b)?);
                a
            }
            Selection::Roots(x) => {
                let x = self.eval(x)?;
                x.iter().copied().filter(|&i| !self.upstream[i].iter().any(|u| x.contains(u))).collect()
            }
            Selection::Sinks(x) => {
                let x = self.eval(x)?;
                x.iter().copied().filter(|&i| !self.downstream[i].iter().any(|d| x.contains(d))).collect()
            }
        })
    }

    /// `from` and what `edges` reach from it within `depth` steps (breadth first, so each asset
    /// is reached at its shortest distance).
    fn walk(&self, from: BTreeSet<usize>, edges: &[Vec<usize>], depth: Option<u32>) -> BTreeSet<usize> {
        let mut out = from.clone();
        let mut queue: VecDeque<(usize, u32)> = from.into_iter().map(|i| (i, 0)).collect();
        while let Some((i, d)) = queue.pop_front() {
            if depth.is_some_and(|max| d >= max) {
                continue;
            }
            for &next in &edges[i] {
                if out.insert(next) {
                    queue.push_back((next, d + 1));
                }
            }
        }
        out
    }
}

/// Whether `text` matches `pattern`, where `*` matches any text (possibly empty) and every other
/// character itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}
