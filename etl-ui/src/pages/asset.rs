//! `/assets/{key}`: an asset's description, its deps up and down, its latest metadata (the
//! column schema as a table), and its materializations with `rows_loaded` plotted over time
//! (each point links to its run).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use etl_runtime::asset::AssetKey;

use super::layout::page;
use super::plot::{line, Point};
use super::{error_page, respond};
use crate::app::App;

/// How many materializations the page reads.
const SHOWN: usize = 200;

pub async fn asset(State(app): State<Arc<App>>, Path(key): Path<String>) -> Response {
    let key = AssetKey::from_path(&key);
    let node = app.graph.node(&key);
    let external = app.graph.external_keys().contains(&key);
    if node.is_none() && !external {
        return error_page(StatusCode::NOT_FOUND, "No such asset", &format!("this binary defines no asset `{key}`"));
    }
    let read = key.clone();
    let history = match app.read(move |s| s.asset_history_newest(&read, SHOWN)).await {
        Ok(h) => h,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Asset", &e.to_string()),
    };
    let downstream: Vec<String> =
        app.graph.nodes().iter().filter(|n| n.spec.deps.contains(&key)).map(|n| n.spec.key.to_user_string()).collect();
    let points: Vec<Point> = history
        .events
        .iter()
        .filter_map(|e| {
            let rows = e.data.get("rows_loaded")?.as_f64()?;
            Some(Point { at: e.ts, value: rows, href: format!("/runs/{}", e.run_id), label: format!("{} rows, run {}", rows, e.run_id) })
        })
        .collect();
    // How long each materialization took, where its metadata says (dlt's `started_at` and
    // `finished_at`).
    let durations: Vec<Point> = history
        .events
        .iter()
        .filter_map(|e| {
            let at = |k: &str| e.data.get(k)?.as_str().and_then(|t| chrono::DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z").ok());
            let ms = (at("finished_at")? - at("started_at")?).num_microseconds()? as f64 / 1000.0;
            Some(Point { at: e.ts, value: ms, href: format!("/runs/{}", e.run_id), label: format!("{ms:.1} ms, run {}", e.run_id) })
        })
        .collect();
    let partitions = node.and_then(|n| n.spec.partitions.clone());
    let read = key.clone();
    let states = match &partitions {
        Some(_) => app.read(move |s| etl_runtime::partition::status::read(&*s.queue()?, &read)).await.unwrap_or_default(),
        None => Default::default(),
    };
    let partition_keys = partitions.as_ref().and_then(|d| d.keys(chrono::Utc::now()).ok()).unwrap_or_default();
    let read = key.clone();
    let check_results = app.read(move |s| etl_runtime::check::latest(&*s.queue()?, &read)).await.unwrap_or_default();
    let checks: Vec<&etl_runtime::check::CheckSpec> = app.registry.checks_of(&key).collect();
    let latest = history.events.last();
    // A dlt asset: its pipeline's destination, read on the blocking pool (it opens the database).
    let dlt = match node.map(|n| n.op) {
        Some(etl_runtime::registry::OpRef::Dlt(def)) => {
            let dir = app.options.working_dir.clone();
            Some(tokio::task::spawn_blocking(move || etl_runtime::dlt_view::view(def, &dir)).await.unwrap_or_else(|e| Err(e.to_string())))
        }
        _ => None,
    };
    let body = html! {
        @if let Some(n) = node {
            @if let Some(d) = &n.spec.description { p { (d) } }
            p class="muted" { "group " (n.spec.group) " · kinds " (n.spec.kinds.join(", ")) " · op " (n.spec.op) " · " (n.spec.location.file) ":" (n.spec.location.line) }
            p { "upstream: " @for d in &n.spec.deps { a href=(format!("/assets/{}", d.to_user_string())) { (d.to_user_string()) } " " } }
        } @else {
            p class="muted" { "an external asset: a dep that no definition of this binary materializes" }
        }
        p { "downstream: " @for d in &downstream { a href=(format!("/assets/{d}")) { (d) } " " } }
        form method="post" action="/launch" class="inline" {
            input type="hidden" name="csrf" value=(app.csrf);
            input type="hidden" name="asset" value=(key.to_user_string());
            @if partitions.is_some() {
                input type="text" name="partition" required placeholder="partition: KEY or FIRST...LAST" size="30"
                    value=(partition_keys.last().cloned().unwrap_or_default());
                " "
            }
            button type="submit" { "Materialize" }
        }
        @if let Some(def) = &partitions { (partition_grid(def, &partition_keys, &states)) }
        @if !checks.is_empty() {
            h2 { "Checks" }
            table {
                tr { th { "Check" } th { "Result" } th { "When (UTC)" } th { "Run" } th { "Description" } }
                @for c in &checks {
                    @let result = check_results.get(&c.name);
                    tr {
                        td { (c.name) @if c.blocking { span class="muted" { " (blocking)" } } }
                        td { @match result { Some(e) => { (e.outcome()) }, None => { span class="muted" { "never evaluated" } } } }
                        td { (result.map(|e| e.at.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()) }
                        td { @if let Some(id) = result.and_then(|e| e.run_id.clone()) { a href=(format!("/runs/{id}")) { (id) } } }
                        td { (result.and_then(|e| e.description.clone()).or_else(|| c.description.clone()).unwrap_or_default()) }
                    }
                }
            }
        }
        @if let Some(view) = &dlt { (dlt_view(view, node.and_then(|n| n.spec.dlt_resource.as_deref()))) }
        h2 { "Materializations" }
        p class="muted" { (history.total) " in all" @if history.total > history.events.len() { ", the newest " (history.events.len()) " shown" } }
        (line("rows_loaded", &points, 720.0, 220.0))
        @if !durations.is_empty() { (line("load duration, ms", &durations, 720.0, 180.0)) }
        @if let Some(e) = latest {
            h2 { "Latest metadata" }
            (metadata(&e.data))
        }
        table {
            tr { th { "When (UTC)" } th { "Run" } th class="num" { "rows_loaded" } }
            @for e in history.events.iter().rev() {
                tr {
                    td { (e.ts.format("%Y-%m-%d %H:%M:%S")) }
                    td { a href=(format!("/runs/{}", e.run_id)) { (e.run_id) } }
                    td class="num" { (e.data.get("rows_loaded").map(ToString::to_string).unwrap_or_default()) }
                }
            }
        }
    };
    respond(page(&format!("Asset {key}"), None, body))
}

/// The partitions as one cell each (green materialized, red failed, grey missing; the key and
/// its run in the cell's title), with the counts.
fn partition_grid(
    def: &etl_runtime::partition::PartitionsDefinition,
    keys: &[String],
    states: &std::collections::BTreeMap<String, etl_runtime::partition::status::PartitionState>,
) -> Markup {
    use etl_runtime::partition::status::{counts, PartitionStatus};
    let c = counts(keys, states);
    html! {
        h2 { "Partitions" }
        p class="muted" { (def) " · " (keys.len()) " in all: " (c.materialized) " materialized, " (c.failed) " failed, " (c.missing) " missing" }
        div class="parts" {
            @for k in keys {
                @let state = states.get(k);
                @let (class, said) = match state.map(|s| s.status) {
                    Some(PartitionStatus::Materialized) => ("p-ok", "materialized"),
                    Some(PartitionStatus::Failed) => ("p-failed", "failed"),
                    None => ("p-missing", "missing"),
                };
                span class=(class) title=(format!("{k}: {said}{}", state.map(|s| format!(" (run {})", s.run_id)).unwrap_or_default())) {}
            }
        }
    }
}

/// Metadata entries; a `dagster/column_schema` as a table of columns.
fn metadata(data: &Value) -> Markup {
    let Some(entries) = data.as_object() else { return html! {} };
    html! {
        table {
            @for (k, v) in entries {
                tr {
                    th { (k) }
                    td {
                        @if k == "dagster/column_schema" { (columns(v)) }
                        @else if let Some(s) = v.as_str() { (s) }
                        @else { code { (v.to_string()) } }
                    }
                }
            }
        }
    }
}

fn columns(v: &Value) -> Markup {
    let cols = v.as_array().cloned().unwrap_or_default();
    html! {
        table {
            tr { th { "column" } th { "type" } th { "description" } }
            @for c in &cols {
                tr {
                    td { (c.get("name").and_then(Value::as_str).unwrap_or("")) }
                    td { (c.get("type").and_then(Value::as_str).unwrap_or("")) }
                    td { (c.get("description").and_then(Value::as_str).unwrap_or("")) }
                }
            }
        }
    }
}

/// The dlt view: the pipeline's destination, schema, tables, loads, state and what is pending.
fn dlt_view(view: &Result<etl_runtime::dlt_view::DltView, String>, resource: Option<&str>) -> Markup {
    html! {
        h2 { "dlt" }
        @match view {
            Err(e) => p class="error" { "cannot read the pipeline's destination: " (e) },
            Ok(v) => {
                @let i = &v.info;
                @let staging: Vec<&str> = v.staging().collect();
                p {
                    "pipeline " code { (i.pipeline_name) } " → " (i.destination_name) " " span class="muted" { (i.location) }
                    " · dataset " code { (i.dataset) }
                    @if let Some((name, version, hash)) = &i.schema { " · schema " (name) " version " (version) " " span class="muted" { (hash) } }
                }
                @if !i.exists { p class="muted" { "not loaded yet" } }
                @else {
                    p { (i.loads) " loads, the newest " code { (i.last_load_id.clone().unwrap_or_default()) } }
                    table {
                        tr { th { "table" } th class="num" { "rows" } }
                        @for (t, n) in &i.tables { tr { td { (t) } td class="num" { (n) } } }
                    }
                    @if let Some((version, doc)) = &i.state {
                        p { "state version " (version) }
                        pre { (serde_json::to_string_pretty(doc.get("sources").unwrap_or(doc)).unwrap_or_default()) }
                    }
                }
                @if let Some(r) = resource {
                    @for t in v.tables_of(r) {
                        h3 id=(format!("table-{}", t.name)) { "table " code { (t.name) } @if let Some(p) = &t.parent { span class="muted" { " (nested in " (p) ")" } } }
                        table class="columns" {
                            tr { th { "column" } th { "type" } th { "nullable" } }
                            @for (name, ty, nullable) in &t.columns { tr { td { (name) } td { (ty) } td { @if *nullable { "yes" } @else { "no" } } } }
                        }
                    }
                }
                @if v.pending_packages.is_empty() && staging.is_empty() { p class="muted" { "nothing pending" } }
                @for p in &v.pending_packages { p class="error" { "pending package " code { (p) } ": load it with `load-pending`, or discard it with `drop-pending`" } }
                @if !staging.is_empty() { p class="muted" { "staging tables left by another writer: " (staging.join(", ")) } }
            }
        }
    }
}
