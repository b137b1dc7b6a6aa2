#[etl::resource(write_disposition = "upsert", primary_key = 3)]
fn users() -> Vec<i64> {
    vec![1]
}

fn main() {}
