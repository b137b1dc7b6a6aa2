//! `/`: the asset catalog, with search and filters (group, kind, status), each asset's last
//! materialization, and the launch form (tick assets, or type a selection, and Materialize).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use etl_runtime::asset::AssetKey;
use etl_runtime::history::Event;

use super::layout::{page, status};
use super::{error_page, respond};
use crate::app::App;

#[derive(Debug, Default, Deserialize)]
pub struct CatalogQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    kind: String,
    /// `materialized` or `never`.
    #[serde(default)]
    status: String,
}

pub async fn catalog(State(app): State<Arc<App>>, Query(q): Query<CatalogQuery>) -> Response {
    let nodes: Vec<_> = app
        .graph
        .nodes()
        .iter()
        .filter(|n| q.q.is_empty() || n.spec.key.to_user_string().contains(&q.q))
        .filter(|n| q.group.is_empty() || n.spec.group == q.group)
        .filter(|n| q.kind.is_empty() || n.spec.kinds.iter().any(|k| *k == q.kind))
        .collect();
    let keys: Vec<AssetKey> = nodes.iter().map(|n| n.spec.key.clone()).collect();
    let latest = match app.read(move |s| s.latest_materializations(&keys)).await {
        Ok(l) => l,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Assets", &e.to_string()),
    };
    let rows: Vec<_> = nodes
        .iter()
        .zip(latest)
        .filter(|(_, last)| match q.status.as_str() {
            "materialized" => last.is_some(),
            "never" => last.is_none(),
            _ => true,
        })
        .collect();
    let groups: std::collections::BTreeSet<&str> = app.graph.nodes().iter().map(|n| n.spec.group.as_str()).collect();
    let kinds: std::collections::BTreeSet<&str> = app.graph.nodes().iter().flat_map(|n| n.spec.kinds.iter().map(String::as_str)).collect();
    let body = html! {
        form method="get" action="/" {
            input type="search" name="q" value=(q.q) placeholder="search keys";
            " "
            select name="group" { option value="" { "any group" } @for g in &groups { option value=(g) selected[q.group == *g] { (g) } } }
            " "
            select name="kind" { option value="" { "any kind" } @for k in &kinds { option value=(k) selected[q.kind == *k] { (k) } } }
            " "
            select name="status" {
                option value="" { "any status" }
                option value="materialized" selected[q.status == "materialized"] { "materialized" }
                option value="never" selected[q.status == "never"] { "never materialized" }
            }
            " " button type="submit" { "Filter" }
        }
        form method="post" action="/launch" id="launch" {
            input type="hidden" name="csrf" value=(app.csrf);
            table {
                tr { th {} th { "Asset" } th { "Group" } th { "Kinds" } th { "Deps" } th { "Last materialization" } th class="num" { "Rows loaded" } }
                @for (node, last) in &rows {
                    @let key = node.spec.key.to_user_string();
                    tr {
                        td { input type="checkbox" name="asset" value=(key) id=(format!("pick-{key}")); }
                        td { a href=(format!("/assets/{key}")) { (key) } }
                        td { (node.spec.group) }
                        td { (node.spec.kinds.join(", ")) }
                        td { (node.spec.deps.iter().map(AssetKey::to_user_string).collect::<Vec<_>>().join(", ")) }
                        td { (last_cell(last.as_ref())) }
                        td class="num" { (last.as_ref().and_then(|e| e.data.get("rows_loaded")).map(ToString::to_string).unwrap_or_default()) }
                    }
                }
            }
            p {
                "or a selection: " input type="text" name="select" placeholder="group:shop+ or key:orders" size="40";
                " " button type="submit" id="materialize" { "Materialize" }
            }
        }
    };
    respond(page("Assets", None, body))
}

fn last_cell(last: Option<&Event>) -> maud::Markup {
    match last {
        Some(e) => html! { a href=(format!("/runs/{}", e.run_id)) { (e.ts.format("%Y-%m-%d %H:%M:%S")) } " " (status("SUCCESS")) },
        None => html! { span class="muted" { "never" } },
    }
}
