//! The course lesson ("Dagster and dlt", lesson 5) in Rust: one source with one resource,
//! loaded into `simple_pipeline.duckdb` (dataset `simple`) as the asset
//! `dlt_simple_source_load_dict`.
//!
//! ```text
//! cargo run --release --example simple_pipeline -- materialize --select '*'
//! cargo run --release --example simple_pipeline -- list
//! ```

use serde_json::json;

#[etl::source]
fn simple_source() -> etl::Source {
    /// Two users, as in the lesson.
    #[etl::resource]
    fn load_dict() -> Vec<serde_json::Value> {
        vec![json!({"id": 1, "name": "Alice"}), json!({"id": 2, "name": "Bob"})]
    }

    load_dict()
}

#[etl::assets(
    dlt_source = simple_source(),
    dlt_pipeline = etl::pipeline("simple_pipeline")
        .dataset_name("simple")
        .destination(etl::duckdb())
        .progress(etl::Progress::Log),
)]
fn dlt_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() -> std::process::ExitCode {
    etl::main()
}
