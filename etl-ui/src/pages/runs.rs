//! `/runs`: runs newest first, filtered by status, asset and time, a page at a time.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::layout::{page, status};
use super::{error_page, respond};
use crate::api::RunsQuery;
use crate::app::App;

pub async fn runs(State(app): State<Arc<App>>, Query(q): Query<RunsQuery>) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Runs", &e),
    };
    let limit = filter.limit;
    let runs = match app.read(move |s| s.runs_where(&filter)).await {
        Ok(r) => r,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Runs", &e.to_string()),
    };
    let next = (runs.len() == limit).then(|| runs.last().map(|r| r.run_id.clone())).flatten().map(|before| {
        let mut params = vec![("before", before)];
        params.extend(q.status.clone().map(|s| ("status", s)));
        params.extend(q.asset.clone().map(|a| ("asset", a)));
        params.extend(q.hours.map(|h| ("hours", h.to_string())));
        format!("/runs?{}", serde_urlencoded::to_string(&params).unwrap_or_default())
    });
    let chosen = q.status.clone().unwrap_or_default().to_lowercase();
    let body = html! {
        form method="get" action="/runs" {
            select name="status" {
                option value="" { "any status" }
                @for s in ["queued", "started", "success", "failure", "abandoned"] { option value=(s) selected[chosen == s] { (s) } }
            }
            " asset " input type="text" name="asset" value=(q.asset.clone().unwrap_or_default()) size="24";
            " last " input type="number" name="hours" value=(q.hours.map(|h| h.to_string()).unwrap_or_default()) min="1" style="width:5em"; " hours "
            button type="submit" { "Filter" }
        }
        table {
            tr { th { "Run" } th { "Status" } th { "Started (UTC)" } th class="num" { "Duration" } th { "Selection" } th { "Worker" } }
            @for r in &runs {
                tr {
                    td { a href=(format!("/runs/{}", r.run_id)) { (r.run_id) } }
                    td { (status(&r.effective_status().to_string())) }
                    td { (r.started_at.format("%Y-%m-%d %H:%M:%S")) }
                    td class="num" { (r.duration().map(|d| format!("{:.3}s", d.num_milliseconds() as f64 / 1000.0)).unwrap_or_default()) }
                    td { (r.selection) @if let Some(s) = &r.schedule { span class="muted" { " (schedule " (s) ")" } } }
                    td class="muted" { (r.worker.clone().unwrap_or_default()) }
                }
            }
        }
        @if runs.is_empty() { p class="muted" { "no runs" } }
        @if let Some(href) = next {
            p { a href=(href) { "older runs →" } }
        }
    };
    respond(page("Runs", None, body))
}
