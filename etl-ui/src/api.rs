//! The JSON API under `/api/` (the pages and the tests use it): assets, the graph, an asset's
//! materializations, runs, one run with its events, and launching a run.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use etl_runtime::asset::AssetKey;
use etl_runtime::history::{HistoryError, RunRecord};
use etl_runtime::queue::submit::Submission;
use etl_runtime::storage::RunFilter;

use crate::app::App;

/// A JSON error with its status.
pub fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

fn storage_error(e: HistoryError) -> Response {
    match e {
        HistoryError::NoRun(id) => error(StatusCode::NOT_FOUND, format!("no run `{id}`")),
        other => error(StatusCode::INTERNAL_SERVER_ERROR, other),
    }
}

/// One asset of the catalog, as JSON.
fn asset_json(app: &App, key: &AssetKey) -> Value {
    let node = app.graph.node(key);
    json!({
        "key": key.to_user_string(),
        "group": node.map(|n| n.spec.group.clone()),
        "kinds": node.map(|n| n.spec.kinds.clone()).unwrap_or_default(),
        "deps": node.map(|n| n.spec.deps.iter().map(AssetKey::to_user_string).collect::<Vec<_>>()).unwrap_or_default(),
        "description": node.and_then(|n| n.spec.description.clone()),
        "external": node.is_none(),
    })
}

/// `GET /api/assets`: every asset with its group, kinds, deps and last materialization.
pub async fn assets(State(app): State<Arc<App>>) -> Response {
    let keys: Vec<AssetKey> = app.graph.nodes().iter().map(|n| n.spec.key.clone()).collect();
    let lookup = keys.clone();
    let latest = app.read(move |s| s.latest_materializations(&lookup)).await;
    match latest {
        Ok(latest) => {
            let list: Vec<Value> = keys
                .iter()
                .zip(latest)
                .map(|(k, last)| {
                    let mut v = asset_json(&app, k);
                    v["last_materialization"] = json!(last.map(|e| json!({"ts": e.ts, "run_id": e.run_id, "rows_loaded": e.data.get("rows_loaded")})));
                    v
                })
                .collect();
            Json(json!({"assets": list})).into_response()
        }
        Err(e) => storage_error(e),
    }
}

/// `GET /api/graph`: nodes (assets and external deps) and edges.
pub async fn graph(State(app): State<Arc<App>>) -> Response {
    let mut nodes: Vec<Value> = app.graph.nodes().iter().map(|n| asset_json(&app, &n.spec.key)).collect();
    nodes.extend(app.graph.external_keys().iter().map(|k| asset_json(&app, k)));
    let edges: Vec<Value> = app
        .graph
        .nodes()
        .iter()
        .flat_map(|n| n.spec.deps.iter().map(move |d| json!({"from": d.to_user_string(), "to": n.spec.key.to_user_string()})))
        .collect();
    Json(json!({"nodes": nodes, "edges": edges})).into_response()
}

#[derive(Deserialize)]
pub struct Limit {
    limit: Option<usize>,
}

/// `GET /api/assets/{key}/materializations` (a key may hold `/`): see [`materializations`].
pub async fn materializations_route(state: State<Arc<App>>, Path(rest): Path<String>, query: Query<Limit>) -> Response {
    match rest.strip_suffix("/materializations") {
        Some(key) => materializations(state, key, query).await,
        None => error(StatusCode::NOT_FOUND, format!("no such endpoint: /api/assets/{rest} (try /api/assets/<key>/materializations)")),
    }
}

/// The newest `limit` (default 100) materializations of an asset, oldest first, and the total.
async fn materializations(State(app): State<Arc<App>>, key: &str, Query(q): Query<Limit>) -> Response {
    let key = AssetKey::from_path(key);
    let limit = q.limit.unwrap_or(100).min(10_000);
    match app.read(move |s| s.asset_history_newest(&key, limit)).await {
        Ok(h) => Json(json!({"total": h.total, "materializations": h.events})).into_response(),
        Err(e) => storage_error(e),
    }
}

/// The filters of the runs list (API and page).
#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    pub status: Option<String>,
    pub asset: Option<String>,
    /// Hours back.
    pub hours: Option<i64>,
    pub before: Option<String>,
    pub limit: Option<usize>,
}

impl RunsQuery {
    /// The storage's filter; an unknown status is an error naming it.
    pub fn filter(&self) -> Result<RunFilter, String> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(serde_json::from_value(json!(s.to_lowercase())).map_err(|_| format!("unknown status `{s}`: use queued, started, success, failure or abandoned"))?),
        };
        Ok(RunFilter {
            status,
            asset: self.asset.clone().filter(|a| !a.is_empty()),
            since: self.hours.map(|h| chrono::Utc::now() - chrono::Duration::hours(h)),
            before: self.before.clone().filter(|b| !b.is_empty()),
            limit: self.limit.unwrap_or(50).clamp(1, 1000),
        })
    }
}

fn run_json(r: &RunRecord) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    v["status"] = json!(r.effective_status());
    v
}

/// `GET /api/runs`: a page of runs, newest first; `next` is the `before` of the next page.
pub async fn runs(State(app): State<Arc<App>>, Query(q): Query<RunsQuery>) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let limit = filter.limit;
    match app.read(move |s| s.runs_where(&filter)).await {
        Ok(runs) => {
            let next = (runs.len() == limit).then(|| runs.last().map(|r| r.run_id.clone())).flatten();
            Json(json!({"runs": runs.iter().map(run_json).collect::<Vec<_>>(), "next": next})).into_response()
        }
        Err(e) => storage_error(e),
    }
}

/// `GET /api/runs/{id}`: the run's record and its events.
pub async fn run(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.read(move |s| Ok((s.record(&id)?, s.events(&id)?))).await {
        Ok((record, events)) => Json(json!({"run": run_json(&record), "events": events})).into_response(),
        Err(e) => storage_error(e),
    }
}

#[derive(Deserialize)]
pub struct LaunchBody {
    select: Option<String>,
    from_failure: Option<String>,
    /// `K` or `A...B`.
    partition: Option<String>,
    /// `{"ops": {...}}`.
    config: Option<serde_json::Value>,
}

/// `POST /api/launch` `{"select": "<selection>", "partition": "K", "config": {...}}` (or
/// `{"from_failure": "<run id>"}`): `{"run_id": "..."}`.
pub async fn launch(State(app): State<Arc<App>>, Json(body): Json<LaunchBody>) -> Response {
    let what = match (body.select, body.from_failure) {
        (Some(s), None) => Submission::Select(s),
        (None, Some(id)) => Submission::FromFailure(id),
        _ => return error(StatusCode::BAD_REQUEST, "give `select` or `from_failure`"),
    };
    let partition = match body.partition.as_deref().map(etl_runtime::partition::PartitionRequest::parse).transpose() {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let params = etl_runtime::queue::submit::RunParams { partition, config: body.config, ..Default::default() };
    match app.launch(what, params).await {
        Ok(run_id) => Json(json!({"run_id": run_id})).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e.0),
    }
}
