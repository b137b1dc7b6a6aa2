//! The web UI of an etl asset binary (`ui`): server-rendered pages over the same instance
//! storage as every other command (the embedded files or PostgreSQL, so one UI watches workers
//! on many machines), and the JSON API under `/api/` they and the tests use.
//!
//! - `app.rs`: the shared state (definitions, graph, storage) and launching runs.
//! - `security.rs`: the token and the POST rules (Origin and CSRF).
//! - `api.rs`: `/api/assets`, `/api/graph`, `/api/assets/{key}/materializations`,
//!   `/api/runs`, `/api/runs/{id}`, `POST /api/launch`.
//! - `pages/`: the catalog, an asset, the runs, a run; `POST /launch` from their forms.
//!
//! No endpoint runs SQL or reads a file by a path the client sends: the storage is read through
//! `RunStore` by run id and asset key only.

pub mod api;
pub mod app;
pub mod lineage;
pub mod live;
pub mod pages;
pub mod security;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use etl_runtime::cli::UiRequest;

pub use app::App;

/// The routes over `app`, behind the security rules.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::catalog::catalog))
        .route("/assets/{*key}", get(pages::asset::asset))
        .route("/lineage", get(pages::lineage::lineage))
        .route("/runs", get(pages::runs::runs))
        .route("/runs/{id}", get(pages::run::run))
        .route("/launch", post(pages::launch))
        .route("/schedules", get(pages::schedules::schedules))
        .route("/schedules/{name}/{action}", post(pages::schedules::set))
        .route("/queue", get(pages::queue::queue))
        .route("/api/assets", get(api::assets))
        .route("/api/graph", get(api::graph))
        .route("/api/assets/{*key}", get(api::materializations_route))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/runs/{id}/events/stream", get(live::stream))
        .route("/api/launch", post(api::launch))
        .layer(axum::middleware::from_fn_with_state(app.clone(), security::guard))
        .with_state(app)
}

/// Whether binding `host` needs a token: anything but loopback.
pub fn needs_token(host: &str) -> bool {
    !matches!(host.parse::<IpAddr>(), Ok(ip) if ip.is_loopback()) && host != "localhost"
}

/// The `ui` command: binds, prints the address, serves until SIGINT or SIGTERM.
pub fn serve(request: UiRequest) -> ExitCode {
    let UiRequest { registry, options, host, port, token, schedules } = request;
    if needs_token(&host) && token.is_none() {
        eprintln!("error: binding `{host}` (not loopback) needs a token: `--token <secret>` or `ETL_UI_TOKEN`");
        return ExitCode::FAILURE;
    }
    let app = match App::new(registry, options, token.clone(), schedules) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the server's runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {host}:{port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| format!("{host}:{port}"));
        let with_token = token.as_ref().map(|t| format!("/?token={t}")).unwrap_or_default();
        println!("etl UI on http://{addr}{with_token} (storage: {}); stop with Ctrl-C", app.store.describe());
        let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
        let stop = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return drop(ctrl_c.await),
                };
                tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            }
            #[cfg(not(unix))]
            drop(ctrl_c.await);
        };
        match axum::serve(listener, service).with_graceful_shutdown(stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: the server stopped: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
