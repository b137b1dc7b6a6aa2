//! Two resources in one source: `users` (typed rows) and `orders` with a nested list of items,
//! which dlt's normalizer turns into the child table `orders__items` linked by
//! `_dlt_parent_id` / `_dlt_list_idx` / `_dlt_id`.
//!
//! ```text
//! cargo run --release --example two_resources -- list
//! cargo run --release --example two_resources -- materialize --select dlt_two_source_users
//! ```

use serde::Serialize;

#[derive(Serialize)]
struct User {
    id: i64,
    name: String,
    email: Option<String>,
}

#[derive(Serialize)]
struct Item {
    sku: String,
    qty: i64,
    price: f64,
}

#[derive(Serialize)]
struct Order {
    id: i64,
    user_id: i64,
    items: Vec<Item>,
}

#[etl::source]
fn two_source() -> etl::Source {
    /// Registered users.
    #[etl::resource(primary_key = "id")]
    fn users() -> Vec<User> {
        vec![
            User { id: 1, name: "Alice".into(), email: Some("alice@example.com".into()) },
            User { id: 2, name: "Bob".into(), email: None },
        ]
    }

    /// Orders with their line items.
    #[etl::resource]
    fn orders() -> impl Iterator<Item = Order> + Send + 'static {
        (1..=3).map(|id| Order {
            id,
            user_id: 1 + id % 2,
            items: (0..id).map(|i| Item { sku: format!("SKU-{id}-{i}"), qty: i + 1, price: 9.5 * (i + 1) as f64 }).collect(),
        })
    }

    (users(), orders())
}

#[etl::assets(
    dlt_source = two_source(),
    // No destination in code: DuckDB (`two_resources_pipeline.duckdb`), or what configuration
    // says: `DESTINATION__POSTGRES__CREDENTIALS=postgres://...` loads into PostgreSQL.
    dlt_pipeline = etl::pipeline("two_resources_pipeline").dataset_name("shop"),
    group_name = "shop",
)]
fn shop_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() -> std::process::ExitCode {
    etl::main()
}
