//! A small warehouse: two dlt multi-assets loading into one DuckDB file, a flaky upstream asset
//! with a retry policy, and a downstream `#[etl::asset]` report that queries the loaded tables.
//!
//! ```text
//! cd examples/warehouse
//! cargo run --release --example warehouse -- list
//! cargo run --release --example warehouse -- graph --format mermaid
//! cargo run --release --example warehouse -- materialize                  # everything, in parallel where it can
//! cargo run --release --example warehouse -- materialize --select +revenue_report
//! cargo run --release --example warehouse -- runs
//! cargo run --release --example warehouse -- run <run id>
//! cargo run --release --example warehouse -- asset dlt_shop_orders
//! cargo run --release --example warehouse -- daemon                       # runs the schedules
//! ```
//!
//! The run history lives in `.etl/` of the working directory (or `$ETL_HOME`). Environment:
//! `WAREHOUSE_FLAKY=<n>` makes `exchange_rates` fail its first `n` attempts (it retries 3
//! times); `WAREHOUSE_CRON` sets the cron of the `refresh` schedule (default: hourly, on the hour).
//!
//! Both schedules write `warehouse.duckdb`, which is a pool of limit 1: its writers take turns,
//! within a run and across runs and processes on one instance (the `.etl/pools` lock files, or
//! advisory locks on a PostgreSQL instance storage). So the schedules may overlap: a run that
//! finds the file's pool held waits for it, holding no concurrency slot
//! (`tests/it/pools.rs` starts both selections at once).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// The one DuckDB file both pipelines load into; the report reads it.
const WAREHOUSE: &str = "warehouse.duckdb";

#[derive(Serialize)]
struct Customer {
    id: i64,
    name: String,
    country: String,
}

#[derive(Serialize)]
struct Line {
    sku: String,
    qty: i64,
    unit_price: f64,
}

#[derive(Serialize)]
struct Order {
    id: i64,
    customer_id: i64,
    currency: String,
    lines: Vec<Line>,
}

#[etl::source]
fn shop() -> etl::Source {
    /// Customers, merged on `id`.
    #[etl::resource(primary_key = "id", write_disposition = "merge")]
    fn customers() -> Vec<Customer> {
        [("Ada", "GB"), ("Grace", "US"), ("Linus", "FI"), ("Margaret", "US")]
            .iter()
            .enumerate()
            .map(|(i, (name, country))| Customer { id: i as i64 + 1, name: (*name).into(), country: (*country).into() })
            .collect()
    }

    /// Orders with their lines (nested table `orders__lines`), replaced on every load.
    #[etl::resource(primary_key = "id", write_disposition = "replace")]
    fn orders() -> impl Iterator<Item = Order> + Send + 'static {
        (1..=12).map(|id| Order {
            id,
            customer_id: 1 + id % 4,
            currency: if id % 3 == 0 { "EUR".into() } else { "USD".into() },
            lines: (0..1 + id % 3)
                .map(|i| Line { sku: format!("SKU-{}", (id + i) % 5), qty: 1 + i, unit_price: 4.5 + (id % 7) as f64 })
                .collect(),
        })
    }

    (customers(), orders())
}

#[etl::source]
fn web() -> etl::Source {
    /// Page views, loaded incrementally on `viewed_at`: a second run loads only new views.
    #[etl::resource(primary_key = "id", write_disposition = "append", incremental = etl::Incremental::new("viewed_at"))]
    fn page_views() -> Vec<serde_json::Value> {
        (1..=20)
            .map(|id| {
                serde_json::json!({
                    "id": id,
                    "customer_id": 1 + id % 4,
                    "path": format!("/products/{}", id % 5),
                    "viewed_at": format!("2026-11-{:02}T10:{:02}:00Z", 1 + id / 5, id),
                })
            })
            .collect()
    }

    page_views()
}

#[etl::assets(
    dlt_source = shop(),
    dlt_pipeline = etl::pipeline("shop_pipeline").dataset_name("shop").destination(etl::duckdb().path(WAREHOUSE)),
    group_name = "shop",
)]
fn shop_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

#[etl::assets(
    dlt_source = web(),
    dlt_pipeline = etl::pipeline("web_pipeline").dataset_name("web").destination(etl::duckdb().path(WAREHOUSE)),
    group_name = "web",
    retry = etl::RetryPolicy::new(2).delay(Duration::from_millis(500)),
)]
fn web_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

/// Today's exchange rates to USD, written to `exchange_rates.json` for the report. Stands in
/// for a call to a rate API, which fails now and then: it is retried with backoff.
#[etl::asset(
    group_name = "finance",
    kinds = ["json"],
    tags = ["source=rates-api"],
    retry = etl::RetryPolicy::new(3).delay(Duration::from_millis(200)).backoff(etl::Backoff::Exponential).jitter(etl::Jitter::PlusMinus),
)]
fn exchange_rates(context: &etl::AssetExecutionContext) -> Result<etl::MaterializeResult, etl::AssetError> {
    let flaky: u32 = std::env::var("WAREHOUSE_FLAKY").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    if context.attempt() <= flaky {
        return Err(etl::AssetError::msg(format!("rates API answered 503 (attempt {})", context.attempt())));
    }
    let rates = serde_json::json!({"USD": 1.0, "EUR": 1.08});
    let path = context.working_dir().join("exchange_rates.json");
    std::fs::write(&path, rates.to_string()).map_err(|e| etl::AssetError::msg(format!("cannot write {}: {e}", path.display())))?;
    context.log(&format!("wrote {}", path.display()));
    Ok(etl::MaterializeResult::new().with("currencies", etl::MetadataValue::Int(2)).with("attempt", etl::MetadataValue::Int(context.attempt().into())))
}

/// Revenue in USD per customer and country, from the loaded orders, the customers and today's
/// rates; with page views per customer. Rebuilt atomically as `reports.revenue_by_customer`.
#[etl::asset(
    deps = ["dlt_shop_orders", "dlt_shop_customers", "dlt_web_page_views", "exchange_rates"],
    group_name = "reports",
    kinds = ["duckdb", "sql"],
)]
fn revenue_report(context: &etl::AssetExecutionContext, db: &etl::DuckDbResource) -> Result<etl::MaterializeResult, etl::AssetError> {
    let rates: serde_json::Value = read_json(&context.working_dir().join("exchange_rates.json"))?;
    let eur = rates["EUR"].as_f64().ok_or_else(|| etl::AssetError::msg("exchange_rates.json has no EUR rate"))?;
    db.execute(
        context,
        &format!(
            "CREATE SCHEMA IF NOT EXISTS reports;
             CREATE OR REPLACE TABLE reports.revenue_by_customer AS
             SELECT c.id AS customer_id, c.name, c.country,
                    round(sum(l.qty * l.unit_price * CASE o.currency WHEN 'EUR' THEN {eur} ELSE 1.0 END), 2) AS revenue_usd,
                    (SELECT count(*) FROM web.page_views v WHERE v.customer_id = c.id) AS page_views
             FROM shop.customers c
             JOIN shop.orders o ON o.customer_id = c.id
             JOIN shop.orders__lines l ON l._dlt_parent_id = o._dlt_id
             GROUP BY ALL ORDER BY customer_id"
        ),
    )?;
    let rows = db.query(context, "SELECT count(*), sum(revenue_usd)::VARCHAR FROM reports.revenue_by_customer")?;
    let (count, total) = (rows[0][0].as_i64().unwrap_or(0), rows[0][1].as_str().unwrap_or("0").to_owned());
    context.log(&format!("{count} customers, {total} USD in all"));
    Ok(etl::MaterializeResult::new()
        .with("rows", etl::MetadataValue::Int(count))
        .with("revenue_usd", etl::MetadataValue::Text(total))
        .with("dagster/table_name", etl::MetadataValue::Text("warehouse.reports.revenue_by_customer".into())))
}

fn read_json(path: &Path) -> Result<serde_json::Value, etl::AssetError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| etl::AssetError::msg(format!("cannot read {} (materialize `exchange_rates` first): {e}", path.display())))?;
    Ok(serde_json::from_str(&text)?)
}

fn main() -> std::process::ExitCode {
    let cron = std::env::var("WAREHOUSE_CRON").unwrap_or_else(|_| "0 * * * *".into());
    etl::main_with(
        etl::Definitions::new()
            .resources(etl::Resources::new().with(etl::DuckDbResource::new(WAREHOUSE)))
            .schedule(etl::Schedule::new("refresh", &cron).select("*"))
            .schedule(etl::Schedule::new("nightly_report", "30 3 * * *").select("+revenue_report")),
    )
}
