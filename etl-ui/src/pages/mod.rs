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
use serde::Deserialize;

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

/// The form of the launch: a selection typed, assets ticked in the catalog, or a run to
/// re-execute from its failure.
#[derive(Debug, Deserialize)]
pub struct LaunchForm {
    #[serde(default)]
    select: String,
    #[serde(default)]
    asset: Vec<String>,
    #[serde(default)]
    from_failure: String,
}

/// `POST /launch`: launches, then sends the browser to the run's page.
pub async fn launch(State(app): State<Arc<App>>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let mut parsed = LaunchForm { select: String::new(), asset: Vec::new(), from_failure: String::new() };
    for (k, v) in form {
        match k.as_str() {
            "select" => parsed.select = v,
            "asset" => parsed.asset.push(v),
            "from_failure" => parsed.from_failure = v,
            _ => {}
        }
    }
    let what = if !parsed.from_failure.is_empty() {
        Submission::FromFailure(parsed.from_failure)
    } else if !parsed.select.trim().is_empty() {
        Submission::Select(parsed.select.trim().to_owned())
    } else if !parsed.asset.is_empty() {
        Submission::Select(parsed.asset.iter().map(|a| format!("key:\"{}\"", a.replace('"', ""))).collect::<Vec<_>>().join(" or "))
    } else {
        return error_page(StatusCode::BAD_REQUEST, "Nothing to launch", "tick assets or type a selection");
    };
    match app.launch(what).await {
        Ok(run_id) => (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/runs/{run_id}"))]).into_response(),
        Err(e) => error_page(StatusCode::BAD_REQUEST, "The run was not launched", &e.0),
    }
}
