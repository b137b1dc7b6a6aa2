//! A test helper binary for the command line's edges (`tests/it/cli.rs`), with a registry of its
//! own: three pipelines, a plain asset, a source whose resource is named by config, and switches
//! that make a load of `events_pipeline` fail in normalize (so that it keeps a pending package):
//!
//! - `CLI_EDGES_EXTRA=<column>`: the `events` rows carry a new column `<column>`;
//! - `CLI_EDGES_FREEZE=1`: `events_pipeline` freezes its schema (a new column is rejected).

use std::process::ExitCode;

use serde_json::json;

#[etl::source]
fn events_source() -> etl::Source {
    /// Stands for a stream read once: a failed run keeps its items.
    #[etl::resource(replayable = false)]
    fn events() -> Vec<serde_json::Value> {
        if let Ok(column) = std::env::var("CLI_EDGES_EXTRA") {
            let mut row = serde_json::Map::new();
            row.insert("id".into(), json!(2));
            row.insert(column, json!("x"));
            vec![serde_json::Value::Object(row), json!({"id": 3})]
        } else {
            vec![json!({"id": 1})]
        }
    }
    events()
}

fn events_pipeline() -> etl::Pipeline {
    let pipeline = etl::pipeline("events_pipeline").dataset_name("events");
    if std::env::var_os("CLI_EDGES_FREEZE").is_some() {
        pipeline.schema_contract(etl::SchemaContract::all(etl::ContractMode::Freeze))
    } else {
        pipeline
    }
}

#[etl::assets(dlt_source = events_source(), dlt_pipeline = events_pipeline())]
fn events_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

#[etl::source]
fn users_source() -> etl::Source {
    #[etl::resource]
    fn users() -> Vec<serde_json::Value> {
        vec![json!({"id": 1, "name": "Ada"}), json!({"id": 2, "name": "Grace"})]
    }
    users()
}

#[etl::assets(dlt_source = users_source(), dlt_pipeline = etl::pipeline("users_pipeline").dataset_name("users"))]
fn users_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

/// A plain asset downstream of the users: nothing of it can be dropped.
#[etl::asset(deps = ["dlt_users_source_users"], group_name = "reports")]
fn users_report() {}

/// One resource, named by the config value `table` (`[sources.configured] table = ...`).
#[etl::source]
fn configured(#[config] table: Option<String>) -> etl::Source {
    etl::Resource::from_data(table.unwrap_or_else(|| "default_table".into()), vec![json!({"id": 1})])
}

#[etl::assets(dlt_source = configured(), dlt_pipeline = etl::pipeline("configured_pipeline").dataset_name("configured"))]
fn configured_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() -> ExitCode {
    etl::main()
}
