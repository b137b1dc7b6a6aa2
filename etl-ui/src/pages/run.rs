//! `/runs/{id}`: a run's record, its steps, its event log (filtered by level, or errors
//! only), the error with its cause chain, and re-execution (all, or from failure). While the
//! run goes the page refreshes itself every 2 s (no JavaScript needed).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use etl_runtime::history::{Event, EventKind, HistoryError, RunStatus};

use super::layout::{page, status};
use super::{error_page, respond};
use crate::app::App;

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    /// `debug`, `info`, `warn` or `error`: log lines at this level or above.
    #[serde(default)]
    level: String,
    /// Only failures and error lines.
    #[serde(default)]
    errors: Option<String>,
}

fn rank(level: &str) -> u8 {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => 0,
        "DEBUG" => 1,
        "INFO" => 2,
        "WARN" => 3,
        "ERROR" => 4,
        _ => 2,
    }
}

fn is_error(e: &Event) -> bool {
    matches!(e.kind, EventKind::StepFailure) || (e.kind == EventKind::Log && rank(e.data.get("level").and_then(|l| l.as_str()).unwrap_or("")) >= 4)
}

pub async fn run(State(app): State<Arc<App>>, Path(id): Path<String>, Query(q): Query<LogQuery>) -> Response {
    let (record, events) = match app.read(move |s| Ok((s.record(&id)?, s.events(&id)?))).await {
        Ok(x) => x,
        Err(HistoryError::NoRun(id)) => return error_page(StatusCode::NOT_FOUND, "No such run", &format!("no run `{id}` in the run history")),
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Run", &e.to_string()),
    };
    let shown_status = record.effective_status();
    let going = matches!(shown_status, RunStatus::Queued | RunStatus::Started);
    let errors_only = q.errors.is_some();
    let floor = if q.level.is_empty() { 0 } else { rank(&q.level) };
    let shown: Vec<&Event> = events
        .iter()
        .filter(|e| !errors_only || is_error(e))
        .filter(|e| e.kind != EventKind::Log || rank(e.data.get("level").and_then(|l| l.as_str()).unwrap_or("INFO")) >= floor)
        .collect();
    let failures: Vec<&Event> = events.iter().filter(|e| e.kind == EventKind::StepFailure).collect();
    let body = html! {
        p {
            (status(&shown_status.to_string())) " · selection " code { (record.selection) }
            " · started " (record.started_at.format("%Y-%m-%d %H:%M:%S"))
            @if let Some(d) = record.duration() { " · " (format!("{:.3}s", d.num_milliseconds() as f64 / 1000.0)) }
            @if let Some(w) = &record.worker { span class="muted" { " · worker " (w) } }
        }
        @if let Some(p) = &record.parent_run_id { p { "re-executes " a href=(format!("/runs/{p}")) { (p) } } }
        @if !record.tags.is_empty() { p class="muted" { "tags: " @for (k, v) in &record.tags { code { (k) "=" (v) } " " } } }
        @if !going {
            form method="post" action="/launch" class="inline" {
                input type="hidden" name="csrf" value=(app.csrf);
                input type="hidden" name="select" value=(record.selection);
                button type="submit" { "Re-execute all" }
            }
            " "
            @if shown_status != RunStatus::Success {
                form method="post" action="/launch" class="inline" {
                    input type="hidden" name="csrf" value=(app.csrf);
                    input type="hidden" name="from_failure" value=(record.run_id);
                    button type="submit" { "Re-execute from failure" }
                }
            }
        }
        @if !failures.is_empty() {
            h2 class="error" { "Errors" }
            @for f in &failures { (failure(f)) }
        }
        h2 { "Steps" }
        (steps(&events))
        h2 { "Events" }
        form method="get" {
            "level " select name="level" {
                @for l in ["", "debug", "info", "warn", "error"] { option value=(l) selected[q.level == l] { @if l.is_empty() { "all" } @else { (l) } } }
            }
            " " label { input type="checkbox" name="errors" value="1" checked[errors_only]; " errors only" }
            " " button type="submit" { "Show" }
        }
        table id="events" {
            tr { th { "Time (UTC)" } th { "Event" } th { "Op / asset" } th { "Message" } }
            @for e in &shown {
                tr class=(if is_error(e) { "error" } else { "" }) {
                    td { (e.ts.format("%H:%M:%S%.3f")) }
                    td { (kind(e)) }
                    td { (e.asset.clone().or(e.op.clone()).unwrap_or_default()) }
                    td { (e.message) @if e.kind == EventKind::Materialization { @if let Some(r) = e.data.get("rows_loaded") { " rows_loaded=" (r) } } }
                }
            }
        }
    };
    let live = going && !errors_only && floor == 0;
    let body = html! { (body) @if live { (live_script(&record.run_id, events.len())) } };
    respond(page(&format!("Run {}", record.run_id), going.then_some(2), body))
}

/// Appends the run's new events to the table as they come (server-sent events, which the
/// browser resumes after a reconnect), and reloads the page when the run ends. Our own code,
/// a few lines: rows are filled with `textContent`, never parsed as markup.
fn live_script(run_id: &str, from: usize) -> Markup {
    let url = format!("/api/runs/{}/events/stream?from={from}", run_id);
    let code = format!(
        "(function(){{var t=document.getElementById('events');if(!window.EventSource||!t)return;\
var s=new EventSource({url});\
s.addEventListener('run_event',function(m){{var e=JSON.parse(m.data),r=t.insertRow(-1);if(e.error)r.className='error';\
[e.time,e.label,e.subject,e.message].forEach(function(x){{r.insertCell(-1).textContent=x;}});}});\
s.addEventListener('end',function(){{s.close();location.reload();}});}})();",
        url = serde_json::to_string(&url).unwrap_or_default()
    );
    html! { script { (maud::PreEscaped(code.replace("</", "<\\/"))) } }
}

fn kind(e: &Event) -> String {
    match e.kind {
        EventKind::Log => format!("LOG {}", e.data.get("level").and_then(|l| l.as_str()).unwrap_or("INFO")),
        k => serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_uppercase)).unwrap_or_default(),
    }
}

/// A step failure with its cause chain (`data.chain`, when the executor recorded one).
fn failure(e: &Event) -> Markup {
    let chain: Vec<String> = e.data.get("chain").and_then(|c| c.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default();
    html! {
        div {
            strong { (e.op.clone().unwrap_or_default()) } ": " (e.message)
            @if !chain.is_empty() { pre { @for (i, c) in chain.iter().enumerate() { (format!("{}caused by: {c}\n", "  ".repeat(i))) } } }
        }
    }
}

/// Per op: first start, end, attempts and how it ended, with a bar on the run's timeline (a
/// Gantt chart drawn on the server).
fn steps(events: &[Event]) -> Markup {
    let mut ops: Vec<(String, Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>, u32, &'static str)> = Vec::new();
    for e in events {
        let Some(op) = &e.op else { continue };
        let i = match ops.iter().position(|o| &o.0 == op) {
            Some(i) => i,
            None => {
                ops.push((op.clone(), None, None, 0, "RUNNING"));
                ops.len() - 1
            }
        };
        let o = &mut ops[i];
        match e.kind {
            EventKind::StepStart => {
                o.1.get_or_insert(e.ts);
                o.3 += 1;
            }
            EventKind::StepSuccess => {
                o.2 = Some(e.ts);
                o.4 = "SUCCESS";
            }
            EventKind::StepFailure => {
                o.2 = Some(e.ts);
                o.4 = "FAILURE";
            }
            EventKind::Skipped => o.4 = "SKIPPED",
            _ => {}
        }
    }
    let t0 = ops.iter().filter_map(|o| o.1).min();
    let t1 = ops.iter().filter_map(|o| o.2.or(o.1)).max();
    let span_ms = match (t0, t1) {
        (Some(a), Some(b)) => ((b - a).num_milliseconds().max(1)) as f64,
        _ => 1.0,
    };
    let bar = |start: &Option<chrono::DateTime<chrono::Utc>>, end: &Option<chrono::DateTime<chrono::Utc>>| -> (f64, f64) {
        let (Some(t0), Some(s)) = (t0, start) else { return (0.0, 0.0) };
        let from = (*s - t0).num_milliseconds() as f64 / span_ms * 300.0;
        let to = end.map_or(300.0, |e| (e - t0).num_milliseconds() as f64 / span_ms * 300.0);
        (from, (to - from).max(2.0))
    };
    html! {
        table class="steps" {
            tr { th { "Op" } th { "Status" } th { "Timeline" } th { "Start" } th class="num" { "Duration" } th class="num" { "Attempts" } }
            @for (op, start, end, attempts, st) in &ops {
                @let (x, w) = bar(start, end);
                tr {
                    td { (op) } td { (status(st)) }
                    td {
                        svg width="300" height="14" class="gantt" {
                            rect x=(format!("{x:.1}")) y="2" width=(format!("{w:.1}")) height="10" rx="2"
                                fill=(match *st { "SUCCESS" => "#2f9e44", "FAILURE" => "#e03131", "SKIPPED" => "#adb5bd", _ => "#f59f00" }) {}
                        }
                    }
                    td { (start.map(|s| s.format("%H:%M:%S%.3f").to_string()).unwrap_or_default()) }
                    td class="num" { @if let (Some(s), Some(e)) = (start, end) { (format!("{:.3}s", (*e - *s).num_milliseconds() as f64 / 1000.0)) } }
                    td class="num" { (attempts) }
                }
            }
        }
    }
}
