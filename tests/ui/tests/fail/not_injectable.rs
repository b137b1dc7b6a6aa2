#[etl::source]
fn src() -> etl::Source {
    #[etl::resource]
    fn rows() -> Vec<i64> {
        vec![1]
    }
    rows()
}

#[etl::assets(dlt_source = src(), dlt_pipeline = etl::pipeline("p"))]
fn assets(_dlt: &etl::DltResource, retries: u32) -> etl::Materializations {
    let _ = retries;
    Ok(Vec::new())
}

fn main() {}
