//! `/lineage`: the asset graph as an SVG laid out on the server ([`crate::lineage`]): groups as
//! clusters (in each column a group's nodes are adjacent, framed in the group's colour; a legend
//! names them), kinds under each key, a materialized asset with a solid green
//! border, an external dep dashed; each node links to its asset page. `?select=` narrows it
//! with the selection syntax (`+orders+`: a neighbourhood).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use etl_runtime::asset::AssetKey;

use super::layout::page;
use super::{error_page, respond};
use crate::app::App;
use crate::lineage::{layout, Layout, Node};

#[derive(Debug, Default, Deserialize)]
pub struct LineageQuery {
    #[serde(default)]
    select: String,
}

const PALETTE: [&str; 8] = ["#dbe4ff", "#d3f9d8", "#fff3bf", "#ffe3e3", "#e5dbff", "#c5f6fa", "#ffe8cc", "#f1f3f5"];
/// Node width and height, column and row spacing, margin.
const W: f64 = 200.0;
const H: f64 = 40.0;
const DX: f64 = 260.0;
const DY: f64 = 56.0;
const PAD: f64 = 20.0;

pub async fn lineage(State(app): State<Arc<App>>, Query(q): Query<LineageQuery>) -> Response {
    let selected: Vec<AssetKey> = if q.select.trim().is_empty() {
        app.graph.nodes().iter().map(|n| n.spec.key.clone()).collect()
    } else {
        match app.graph.select(q.select.trim()) {
            Ok(k) => k,
            Err(e) => return error_page(StatusCode::BAD_REQUEST, "Lineage", &e.to_string()),
        }
    };
    let chosen: BTreeSet<&AssetKey> = selected.iter().collect();
    let mut nodes: Vec<Node> = Vec::new();
    let mut edges: Vec<(String, String)> = Vec::new();
    let external = app.graph.external_keys();
    for n in app.graph.nodes().iter().filter(|n| chosen.contains(&n.spec.key)) {
        nodes.push(Node { key: n.spec.key.to_user_string(), group: Some(n.spec.group.clone()) });
        for d in &n.spec.deps {
            if chosen.contains(d) || external.contains(d) {
                edges.push((d.to_user_string(), n.spec.key.to_user_string()));
            }
        }
    }
    let stubs: BTreeSet<String> = edges.iter().map(|(f, _)| f.clone()).filter(|f| external.contains(&AssetKey::from_path(f))).collect();
    nodes.extend(stubs.iter().map(|k| Node { key: k.clone(), group: None }));
    let placed = layout(&nodes, &edges);
    let keys: Vec<AssetKey> = placed.nodes.iter().map(|n| AssetKey::from_path(&n.key)).collect();
    let latest = match app.read(move |s| s.latest_materializations(&keys)).await {
        Ok(l) => l,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Lineage", &e.to_string()),
    };
    let groups: Vec<String> = placed.nodes.iter().filter_map(|n| n.group.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let kinds = |key: &str| app.graph.node(&AssetKey::from_path(key)).map(|n| n.spec.kinds.join(", ")).unwrap_or_else(|| "external".into());
    let body = html! {
        form method="get" action="/lineage" {
            "selection " input type="text" name="select" value=(q.select) placeholder="+orders+ or group:shop" size="40";
            " " button type="submit" { "Show" }
        }
        p class="muted" {
            (placed.nodes.len()) " nodes, " (placed.edges.len()) " edges · groups: "
            @for g in &groups { span style=(format!("background:{};padding:0 0.4em;margin-right:0.4em", colour(&groups, g))) { (g) } }
        }
        (svg(&placed, &groups, &latest.iter().map(Option::is_some).collect::<Vec<_>>(), kinds))
        @if !q.select.trim().is_empty() {
            form method="post" action="/launch" {
                input type="hidden" name="csrf" value=(app.csrf);
                input type="hidden" name="select" value=(q.select.trim());
                button type="submit" id="materialize-selection" { "Materialize the selection (" (selected.len()) " asset" @if selected.len() != 1 { "s" } ")" }
            }
        }
        // Picking assets of the graph one by one: the nodes shown, in the picture's order.
        form method="post" action="/launch" id="pick" {
            input type="hidden" name="csrf" value=(app.csrf);
            p { "pick: "
                @for n in placed.nodes.iter().filter(|n| n.group.is_some()) {
                    label style="margin-right:0.8em" { input type="checkbox" name="asset" value=(n.key) id=(format!("pick-{}", n.key)); " " (n.key) }
                }
                button type="submit" id="materialize-picked" { "Materialize picked" }
            }
        }
    };
    respond(page("Lineage", None, body))
}

/// Per (column, group), the first and last row of the group's nodes in that column.
fn clusters(l: &Layout) -> std::collections::BTreeMap<(usize, String), (usize, usize)> {
    let mut out: std::collections::BTreeMap<(usize, String), (usize, usize)> = std::collections::BTreeMap::new();
    for n in &l.nodes {
        if let Some(g) = &n.group {
            let span = out.entry((n.column, g.clone())).or_insert((n.row, n.row));
            span.0 = span.0.min(n.row);
            span.1 = span.1.max(n.row);
        }
    }
    out
}

fn colour(groups: &[String], group: &str) -> &'static str {
    groups.iter().position(|g| g == group).map_or("#ffffff", |i| PALETTE[i % PALETTE.len()])
}

fn short(key: &str) -> String {
    if key.chars().count() <= 26 { key.to_owned() } else { format!("…{}", key.chars().rev().take(25).collect::<Vec<_>>().into_iter().rev().collect::<String>()) }
}

fn svg(l: &Layout, groups: &[String], materialized: &[bool], kinds: impl Fn(&str) -> String) -> Markup {
    let width = PAD * 2.0 + (l.columns.max(1) as f64 - 1.0) * DX + W;
    let height = PAD * 2.0 + (l.rows.max(1) as f64 - 1.0) * DY + H;
    let at = |i: usize| (PAD + l.nodes[i].column as f64 * DX, PAD + l.nodes[i].row as f64 * DY);
    html! {
        svg id="lineage" width=(width) height=(height) role="img" aria-label="asset lineage" font-family="system-ui, sans-serif" {
            // Groups as clusters: in each column a group's nodes are adjacent; one box holds them.
            @for ((column, group), (top, bottom)) in clusters(l) {
                @let (x, y0, y1) = (PAD + column as f64 * DX, PAD + top as f64 * DY, PAD + bottom as f64 * DY + H);
                rect class="cluster" x=(x - 6.0) y=(y0 - 6.0) width=(W + 12.0) height=(y1 - y0 + 12.0) rx="9" fill="none"
                    stroke=(colour(groups, &group)) stroke-width="3" {
                    title { "group " (group) }
                }
            }
            @for &(f, t) in &l.edges {
                @let ((fx, fy), (tx, ty)) = (at(f), at(t));
                path d=(format!("M{:.0},{:.0} C{:.0},{:.0} {:.0},{:.0} {:.0},{:.0}", fx + W, fy + H / 2.0, fx + W + 40.0, fy + H / 2.0, tx - 40.0, ty + H / 2.0, tx, ty + H / 2.0)) fill="none" stroke="#9aa3b5" {}
            }
            @for (i, n) in l.nodes.iter().enumerate() {
                @let (x, y) = at(i);
                a href=(format!("/assets/{}", n.key)) {
                    rect x=(x) y=(y) width=(W) height=(H) rx="6" fill=(n.group.as_deref().map_or("#ffffff", |g| colour(groups, g)))
                        stroke=(if materialized[i] { "#2f9e44" } else { "#868e96" }) stroke-width=(if materialized[i] { "2" } else { "1" })
                        stroke-dasharray=(if n.group.is_none() { "4 3" } else { "" }) {
                        title { (n.key) @if let Some(g) = &n.group { " (group " (g) ")" } }
                    }
                    text x=(x + 8.0) y=(y + 16.0) font-size="12" fill="#1d2330" { (short(&n.key)) }
                    text x=(x + 8.0) y=(y + 31.0) font-size="10" fill="#6b7280" { (kinds(&n.key)) }
                }
            }
        }
    }
}
