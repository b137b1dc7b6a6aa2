//! A paginated JSON "feed" API loaded incrementally (dlt's `rest_api` source): each run asks
//! only for events updated since the last loaded one (`?since=<cursor>`), follows the `next`
//! links, retries on 429/5xx (honouring `Retry-After`) and merges events by `id`.
//!
//! ```text
//! cargo run --release --example api_pipeline -- --base-url http://127.0.0.1:8080 materialize
//! ```
//!
//! The API answers `GET /events?since=<timestamp>` with
//! `{"data": [{"id": .., "updated_at": "..", ...}], "next": "<url of the next page>" | null}`.
//!
//! Config of the source `api_source` (`--base-url`, env `SOURCES__API_SOURCE__<KEY>`, or
//! `[sources.api_source]` in `.etl/config.toml` / `.etl/secrets.toml`):
//! `base_url` (required), `token` (secret, optional: sent as a bearer token),
//! `start` (first window start, default `2024-01-01T00:00:00Z`), `max_retries`, `backoff_secs`.

use std::process::ExitCode;
use std::time::Duration;

use etl::sources::rest::{Auth, Incremental, Paginator, RestApi, RestResource};
use etl::sources::{Config, Secret};

#[path = "../common/args.rs"]
mod args;
use args::take_option;

#[derive(serde::Deserialize)]
struct Settings {
    base_url: String,
    token: Option<Secret>,
    start: Option<String>,
    max_retries: Option<u32>,
    backoff_secs: Option<f64>,
}

fn feed_api(s: Settings) -> RestApi {
    let mut api = RestApi::new(s.base_url)
        .paginator(Paginator::json_link("next"))
        .retries(s.max_retries.unwrap_or(5), Duration::from_secs_f64(s.backoff_secs.unwrap_or(1.0)))
        .timeout(Duration::from_secs(30));
    if let Some(token) = s.token {
        api = api.auth(Auth::Bearer { token });
    }
    api.resource(
        RestResource::new("events")
            .path("events")
            .data_selector("data")
            .primary_key(["id"])
            .write_disposition(etl::WriteDisposition::Merge)
            .incremental(
                Incremental::new("updated_at")
                    .start_param("since")
                    .initial_value(s.start.unwrap_or_else(|| "2024-01-01T00:00:00Z".to_owned())),
            ),
    )
}

#[etl::source]
fn api_source() -> etl::Source {
    let resources = Config::load()
        .and_then(|c| c.resolve::<Settings>(&["sources", "api_source"], &["base_url"]))
        .map_err(|e| e.to_string())
        .and_then(|s| feed_api(s).resources().map_err(|e| e.to_string()));
    match resources {
        Ok(resources) => resources,
        // The asset list stays usable; running reports what is missing and where it was looked for.
        Err(message) => vec![etl::Resource::new(etl::ResourceHints::new("events"), move || Err(message.into()))],
    }
}

#[etl::assets(
    dlt_source = api_source(),
    dlt_pipeline = etl::pipeline("api_pipeline").dataset_name("feed").destination(etl::duckdb()).progress(etl::Progress::Log),
)]
fn api_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() -> ExitCode {
    // `--base-url <url>` becomes the config value SOURCES__API_SOURCE__BASE_URL.
    match take_option("--base-url") {
        Some((url, rest)) => {
            // Set before any thread starts; the source reads it as config.
            std::env::set_var("SOURCES__API_SOURCE__BASE_URL", url);
            etl::main_from(rest, etl::Definitions::new())
        }
        None => etl::main(),
    }
}
