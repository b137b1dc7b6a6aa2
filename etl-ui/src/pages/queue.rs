//! `/queue`: the runs waiting for a worker, the runs workers claimed (with their leases), the
//! runs in progress and the pools their running steps hold, and the instance's limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use etl_runtime::history::{EventKind, RunStatus};
use etl_runtime::storage::RunFilter;

use super::layout::{page, status};
use super::{error_page, respond};
use crate::app::App;

pub async fn queue(State(app): State<Arc<App>>) -> Response {
    let read = app
        .read(|s| {
            let queue = s.queue()?;
            let going = s.runs_where(&RunFilter { status: Some(RunStatus::Started), limit: 200, ..RunFilter::default() })?;
            // The pools held now: those of each running run's steps that started and did not end.
            let mut held: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
            for run in &going {
                let events = s.events(&run.run_id)?;
                let Some(start) = events.iter().find(|e| e.kind == EventKind::RunStart) else { continue };
                let steps = start.data.get("steps").and_then(|v| v.as_array()).cloned().unwrap_or_default();
                for step in steps {
                    let op = step.get("op").and_then(|v| v.as_str()).unwrap_or_default();
                    let started = events.iter().any(|e| e.kind == EventKind::StepStart && e.op.as_deref() == Some(op));
                    let ended = events.iter().any(|e| matches!(e.kind, EventKind::StepSuccess) && e.op.as_deref() == Some(op));
                    if started && !ended {
                        for pool in step.get("pools").and_then(|v| v.as_array()).into_iter().flatten().filter_map(|p| p.as_str()) {
                            held.entry(pool.to_owned()).or_default().push((run.run_id.clone(), op.to_owned()));
                        }
                    }
                }
            }
            Ok((queue.queued(500)?, queue.claimed()?, going, held))
        })
        .await;
    let (queued, claimed, going, held) = match read {
        Ok(x) => x,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Queue", &e.to_string()),
    };
    let config = etl_config::Config::load_from(&app.options.working_dir).ok();
    let max_runs = config.as_ref().and_then(|c| etl_runtime::storage::run_limit::max_concurrent_runs(c).ok().flatten());
    let tag_rules = config.as_ref().and_then(|c| etl_runtime::storage::run_limit::tag_limits(c).ok()).unwrap_or_default();
    let now = chrono::Utc::now();
    let body = html! {
        p class="muted" { "storage: " (app.store.describe()) @if app.store.has_workers() { " · runs are queued for the workers" } @else { " · runs started here run in this process; `submit` queues for `worker`" } }
        p {
            "max_concurrent_runs: " (max_runs.map(|n| n.to_string()).unwrap_or_else(|| "no limit".into()))
            @for r in &tag_rules { " · tag limit " code { (r.key) @if let Some(v) = &r.value { "=" (format!("{v:?}")) } } " " (r.limit) }
        }
        h2 { "Queued (" (queued.len()) ")" }
        table {
            tr { th { "Run" } th { "Selection" } th { "Submitted (UTC)" } th { "Tags" } }
            @for r in &queued {
                tr {
                    td { a href=(format!("/runs/{}", r.run_id)) { (r.run_id) } }
                    td { (r.selection) }
                    td { (r.started_at.format("%Y-%m-%d %H:%M:%S")) }
                    td class="muted" { @for (k, v) in &r.tags { (k) "=" (v) " " } }
                }
            }
        }
        h2 { "Claimed by workers (" (claimed.len()) ")" }
        table {
            tr { th { "Run" } th { "Status" } th { "Worker" } th class="num" { "Lease left" } }
            @for r in &claimed {
                tr {
                    td { a href=(format!("/runs/{}", r.run_id)) { (r.run_id) } }
                    td { (status(&r.effective_status().to_string())) }
                    td { (r.worker.clone().unwrap_or_default()) }
                    td class="num" { (r.lease_until.map(|l| format!("{:.1}s", (l - now).num_milliseconds() as f64 / 1000.0)).unwrap_or_default()) }
                }
            }
        }
        h2 { "In progress (" (going.len()) ")" }
        table {
            tr { th { "Run" } th { "Selection" } th { "Worker" } th { "Started (UTC)" } }
            @for r in &going {
                tr { td { a href=(format!("/runs/{}", r.run_id)) { (r.run_id) } } td { (r.selection) } td { (r.worker.clone().unwrap_or_default()) } td { (r.started_at.format("%H:%M:%S")) } }
            }
        }
        h2 { "Pools held by running steps" }
        @if held.is_empty() { p class="muted" { "none" } }
        table {
            @for (pool, holders) in &held {
                tr { td { code { (pool) } } td { @for (run, op) in holders { a href=(format!("/runs/{run}")) { (op) } " " } } }
            }
        }
    };
    respond(page("Queue and pools", Some(5), body))
}
