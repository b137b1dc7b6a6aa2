//! An `#[etl::assets]` definition is discovered at link time with dagster-dlt's key, deps, group
//! and kinds, one asset per selected resource.

#[etl::source]
fn shop() -> etl::Source {
    /// Users.
    #[etl::resource]
    fn users() -> Vec<serde_json::Value> {
        vec![serde_json::json!({"id": 1})]
    }
    #[etl::resource(selected = false)]
    fn hidden() -> Vec<i64> {
        vec![1]
    }
    (users(), hidden())
}

#[etl::assets(dlt_source = shop(), dlt_pipeline = etl::pipeline("shop_pipeline"), group_name = "sales")]
fn shop_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() {
    let graph = etl::asset_graph().expect("valid graph");
    let specs: Vec<_> = graph.nodes().iter().map(|n| n.spec.clone()).collect();
    assert_eq!(specs.len(), 1, "one asset per selected resource");
    assert_eq!(specs[0].key.to_string(), "dlt_shop_users");
    assert_eq!(specs[0].deps[0].to_string(), "shop_users");
    assert_eq!(specs[0].group, "sales");
    assert_eq!(specs[0].kinds, vec!["dlt".to_owned(), "duckdb".to_owned()]);
    assert_eq!(specs[0].description.as_deref(), Some("Users."));
}
