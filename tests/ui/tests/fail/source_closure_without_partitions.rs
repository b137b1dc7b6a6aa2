#[etl::source]
fn s(region: String) -> etl::Source {
    #[etl::resource]
    fn r(region: String) -> Vec<serde_json::Value> {
        vec![serde_json::json!({ "region": region })]
    }
    r(region)
}

#[etl::assets(dlt_source = |p| s(p.key().unwrap_or_default().to_owned()), dlt_pipeline = etl::pipeline("p"))]
fn a(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() {}
