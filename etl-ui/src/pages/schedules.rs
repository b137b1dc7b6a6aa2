//! `/schedules`: each schedule with its cron, selection and tags, whether it is running or
//! stopped (Start and Stop act for every daemon on the storage), its next ticks, and its tick
//! history (newest first, each started tick linking to its run).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout::{page, status};
use super::{error_page, respond};
use crate::app::App;

/// Ticks shown per schedule.
const HISTORY: usize = 20;

pub async fn schedules(State(app): State<Arc<App>>) -> Response {
    let names: Vec<String> = app.schedules.iter().map(|s| s.name().to_owned()).collect();
    let states = match app
        .read(move |s| {
            let queue = s.queue()?;
            names.iter().map(|n| Ok((queue.schedule_stopped(n)?, queue.ticks(n)?))).collect::<Result<Vec<_>, _>>()
        })
        .await
    {
        Ok(x) => x,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Schedules", &e.to_string()),
    };
    let now = chrono::Utc::now();
    let body = html! {
        @if app.schedules.is_empty() { p class="muted" { "this binary defines no schedules (`etl::Definitions::new().schedule(..)`)" } }
        p class="muted" { "The daemon (`daemon`) acts on the ticks; a stopped schedule's ticks pass unrecorded." }
        @for (schedule, (stopped, ticks)) in app.schedules.iter().zip(&states) {
            h2 id=(format!("schedule-{}", schedule.name())) { (schedule.name()) " " @if *stopped { span class="FAILURE" { "STOPPED" } } @else { span class="SUCCESS" { "RUNNING" } } }
            p {
                "cron " code { (schedule.cron().map(|c| c.as_str().to_owned()).unwrap_or_else(|e| e.to_string())) }
                " (" (schedule.cron().ok().and_then(|c| c.timezone()).map(|t| t.name().to_owned()).unwrap_or_else(|| "UTC".into())) ") · selects " code { (schedule.selection()) }
                @if !schedule.tags().is_empty() { " · tags " @for (k, v) in schedule.tags() { code { (k) "=" (v) } " " } }
            }
            form method="post" action=(format!("/schedules/{}/{}", schedule.name(), if *stopped { "start" } else { "stop" })) class="inline" {
                input type="hidden" name="csrf" value=(app.csrf);
                button type="submit" { @if *stopped { "Start" } @else { "Stop" } }
            }
            @if let Ok(cron) = schedule.cron() {
                p { "next ticks: "
                    @for t in std::iter::successors(cron.next_after(now), |t| cron.next_after(*t)).take(5) { code { (t.format("%Y-%m-%d %H:%M:%S UTC")) } " " }
                }
            }
            table {
                tr { th { "Tick (UTC)" } th { "Status" } th { "Run" } th { "Reason" } }
                @for t in ticks.iter().rev().take(HISTORY) {
                    tr {
                        td { (t.tick.format("%Y-%m-%d %H:%M:%S")) }
                        td { (status(&format!("{:?}", t.status).to_uppercase())) }
                        td { @if let Some(r) = &t.run_id { a href=(format!("/runs/{r}")) { (r) } } }
                        td class="muted" { (t.reason.clone().unwrap_or_default()) }
                    }
                }
            }
            @if ticks.is_empty() { p class="muted" { "no ticks yet" } }
        }
    };
    respond(page("Schedules", None, body))
}

/// `POST /schedules/{name}/start` and `.../stop`.
pub async fn set(State(app): State<Arc<App>>, Path((name, action)): Path<(String, String)>) -> Response {
    if !app.schedules.iter().any(|s| s.name() == name) {
        return error_page(StatusCode::NOT_FOUND, "No such schedule", &format!("this binary defines no schedule `{name}`"));
    }
    let stopped = match action.as_str() {
        "stop" => true,
        "start" => false,
        other => return error_page(StatusCode::NOT_FOUND, "Schedules", &format!("no action `{other}`: start or stop")),
    };
    let target = name.clone();
    match app.read(move |s| s.queue()?.set_schedule_stopped(&target, stopped)).await {
        Ok(()) => (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/schedules#schedule-{name}"))]).into_response(),
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, "Schedules", &e.to_string()),
    }
}
