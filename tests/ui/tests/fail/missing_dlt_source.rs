#[etl::assets(dlt_pipeline = etl::pipeline("p"))]
fn assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() {}
