//! Live updates of a run: `GET /api/runs/{id}/events/stream`, server-sent events. Each of the
//! run's events is sent once, in order, as `event: run_event` with `id: <index>` (its place in
//! the run's log) and the row the run page shows as `data`; when the run has ended and
//! everything is sent, `event: end` with its status, and the stream closes. A client that
//! reconnects sends `Last-Event-ID` (browsers do it themselves) and gets what follows it;
//! `?from=N` starts at index N.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;

use etl_runtime::history::{Event, EventKind, RunStatus};

use crate::app::App;

/// How often the storage is read for new events.
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize)]
pub struct From {
    from: Option<usize>,
}

/// The row of the run page's event table.
pub fn row(e: &Event) -> serde_json::Value {
    let label = match e.kind {
        EventKind::Log => format!("LOG {}", e.data.get("level").and_then(|l| l.as_str()).unwrap_or("INFO")),
        k => serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_uppercase)).unwrap_or_default(),
    };
    let mut message = e.message.clone();
    if e.kind == EventKind::Materialization {
        if let Some(r) = e.data.get("rows_loaded") {
            message.push_str(&format!(" rows_loaded={r}"));
        }
    }
    json!({
        "time": e.ts.format("%H:%M:%S%.3f").to_string(),
        "label": label,
        "subject": e.asset.clone().or(e.op.clone()).unwrap_or_default(),
        "message": message,
        "error": e.kind == EventKind::StepFailure,
    })
}

pub async fn stream(State(app): State<Arc<App>>, Path(id): Path<String>, Query(q): Query<From>, headers: HeaderMap) -> Response {
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).map(|n| n + 1);
    let from = resume.or(q.from).unwrap_or(0);
    axum::response::sse::Sse::new(events(app, id, from)).keep_alive(KeepAlive::default()).into_response()
}

/// The stream's state: the next index to send, and whether the end was sent.
fn events(app: Arc<App>, run_id: String, from: usize) -> impl Stream<Item = Result<Sse, Infallible>> {
    stream::unfold((from, false, Vec::<Sse>::new()), move |(mut next, ended, mut pending)| {
        let (app, run_id) = (app.clone(), run_id.clone());
        async move {
            loop {
                if let Some(e) = pending.pop() {
                    return Some((Ok(e), (next, ended, pending)));
                }
                if ended {
                    return None;
                }
                let id = run_id.clone();
                let read = app.read(move |s| Ok((s.record(&id)?, s.events(&id)?))).await;
                let (record, log) = match read {
                    Ok(x) => x,
                    Err(e) => {
                        // A run that is gone, or a storage that is: say so, and end.
                        let end = Sse::default().event("end").data(json!({"error": e.to_string()}).to_string());
                        return Some((Ok(end), (next, true, pending)));
                    }
                };
                let done = !matches!(record.effective_status(), RunStatus::Queued | RunStatus::Started);
                let mut fresh: Vec<Sse> =
                    log.iter().enumerate().skip(next).map(|(i, e)| Sse::default().event("run_event").id(i.to_string()).data(row(e).to_string())).collect();
                next = next.max(log.len());
                if done {
                    fresh.push(Sse::default().event("end").data(json!({"status": record.effective_status()}).to_string()));
                }
                fresh.reverse();
                pending = fresh;
                if pending.is_empty() {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                let ended_now = done;
                let e = pending.pop().expect("not empty");
                return Some((Ok(e), (next, ended_now, pending)));
            }
        }
    })
}
