// A transformer runs item by item in its parent's pass: `parallelized` belongs on the parent.
#[etl::resource(parallelized = true)]
fn pages() -> Vec<serde_json::Value> {
    vec![]
}

#[etl::transformer(data_from = pages(), parallelized = true)]
fn details(item: serde_json::Value) -> Vec<serde_json::Value> {
    vec![item]
}

fn main() {}
