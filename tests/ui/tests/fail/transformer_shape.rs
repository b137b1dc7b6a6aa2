#[etl::resource]
fn ids() -> Vec<i64> {
    vec![1, 2]
}

#[etl::transformer(primary_key = "id")]
fn details(id: i64) -> Vec<i64> {
    vec![id]
}

#[etl::transformer(data_from = ids())]
fn nothing_in() -> Vec<i64> {
    vec![]
}

fn main() {}
