//! The server-rendered pages, readable with JavaScript off: the asset catalog (and launching
//! from it), an asset's page, the runs list and a run's page.

pub mod asset;
pub mod catalog;
pub mod layout;
pub mod lineage;
pub mod plot;
pub mod queue;
pub mod run;
pub mod runs;
pub mod schedules;

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};

use etl_runtime::queue::submit::Submission;

use crate::app::App;

/// A page as a response.
pub fn respond(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// An error page.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    (status, Html(layout::page(title, None, html! { p class="error" { (message) } }).into_string())).into_response()
}

/// `POST /launch`: launches, then sends the browser to the run's page.
pub async fn launch(State(app): State<Arc<App>>, Form(form): Form<Vec<(String, String)>>) -> Response {
    // The form: a selection typed, assets ticked, or a run to re-execute from its failure.
    let field = |name: &str| form.iter().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_owned());
    let ticked: Vec<String> = form.iter().filter(|(k, _)| k == "asset").map(|(_, v)| format!("key:\"{}\"", v.replace('"', ""))).collect();
    let what = if let Some(id) = field("from_failure") {
        Submission::FromFailure(id)
    } else if let Some(select) = field("select") {
        Submission::Select(select)
    } else if !ticked.is_empty() {
        Submission::Select(ticked.join(" or "))
    } else {
        return error_page(StatusCode::BAD_REQUEST, "Nothing to launch", "tick assets or type a selection");
    };
    let partition = match field("partition").map(|p| etl_runtime::partition::PartitionRequest::parse(&p)).transpose() {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "The run was not launched", &e.to_string()),
    };
    let params = etl_runtime::queue::submit::RunParams { partition, ..Default::default() };
    match app.launch(what, params).await {
        Ok(run_id) => (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/runs/{run_id}"))]).into_response(),
        Err(e) => error_page(StatusCode::BAD_REQUEST, "The run was not launched", &e.0),
    }
}
