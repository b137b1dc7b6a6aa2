//! dlt's `sql_database`: every table of a PostgreSQL database's `public` schema copied into
//! DuckDB, one asset per table, read in chunks as Arrow record batches.
//!
//! ```text
//! cargo run --release --example sql_pipeline -- --url postgresql://user:pw@host/db list
//! cargo run --release --example sql_pipeline -- --url postgresql://user:pw@host/db materialize
//! ```
//!
//! Without `--url`, the URL is dlt's `[sources.sql_database] credentials` (in `.dlt/secrets.toml`
//! or `.etl/secrets.toml`) or `SOURCES__SQL_DATABASE__CREDENTIALS`.

use std::process::ExitCode;
use std::sync::OnceLock;

static URL: OnceLock<String> = OnceLock::new();

fn url() -> String {
    if let Some(url) = URL.get() {
        return url.clone();
    }
    etl::sources::config::Config::load()
        .ok()
        .and_then(|c| c.get::<etl::sources::Secret>(&["sources", "sql_database"], "credentials").ok().flatten())
        .map(|s| s.expose().to_owned())
        .unwrap_or_default()
}

#[etl::assets(
    dlt_source = etl::sources::sql::sql_database(url()).source(),
    dlt_pipeline = etl::pipeline("sql_pipeline").dataset_name("sql_data").destination(etl::duckdb()),
    group_name = "sql",
)]
fn sql_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.fetch_row_count().run(context)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--url") {
        let Some(url) = args.get(i + 1).cloned() else {
            eprintln!("error: `--url` needs a PostgreSQL URL, e.g. `--url postgresql://user@host/db`");
            return ExitCode::FAILURE;
        };
        let _ = URL.set(url);
        args.drain(i..=i + 1);
    }
    etl::main_from(args, etl::Definitions::new())
}
