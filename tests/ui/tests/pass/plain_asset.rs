//! A plain `#[etl::asset]` is discovered with its key, deps, group, kinds, tags and doc comment,
//! downstream of a dlt asset, and runs (with a retry) when materialized.

use std::sync::atomic::{AtomicU32, Ordering};

#[etl::source]
fn shop() -> etl::Source {
    #[etl::resource]
    fn users() -> Vec<serde_json::Value> {
        vec![serde_json::json!({"id": 1})]
    }
    users()
}

#[etl::assets(dlt_source = shop(), dlt_pipeline = etl::pipeline("shop_pipeline"))]
fn shop_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// Users per day.
#[etl::asset(key = "reports/users", deps = ["dlt_shop_users"], group_name = "reports", kinds = ["sql"], tags = ["team=data"],
             retry = etl::RetryPolicy::new(1).delay(std::time::Duration::ZERO))]
fn users_report(context: &etl::AssetExecutionContext) -> Result<etl::MaterializeResult, etl::AssetError> {
    if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(etl::AssetError::msg("first attempt fails"));
    }
    Ok(etl::MaterializeResult::new().with("attempt", etl::MetadataValue::Int(context.attempt().into())))
}

fn main() {
    let graph = etl::asset_graph().expect("valid graph");
    let node = graph.nodes().iter().find(|n| n.spec.key.to_string() == "reports/users").expect("plain asset");
    assert_eq!(node.spec.deps[0].to_string(), "dlt_shop_users");
    assert_eq!((node.spec.group.as_str(), node.spec.kinds.clone()), ("reports", vec!["sql".to_owned()]));
    assert_eq!(node.spec.tags.get("team").map(String::as_str), Some("data"));
    assert_eq!(node.spec.description.as_deref(), Some("Users per day."));
    assert_eq!(graph.select("dlt_shop_users+").unwrap().len(), 2);
    let run = etl::testing::materialize("reports/users").run().expect("valid selection");
    let m = run.result().materialization("reports/users").expect("materialized after a retry");
    assert_eq!(m.get("attempt"), Some(&etl::MetadataValue::Int(2)));
}
