// `dedup_sort` is "asc" or "desc": another literal is a compile error on that literal.
#[etl::resource(
    write_disposition = "merge",
    primary_key = "id",
    columns = [etl::column("version").dedup_sort("newest"), etl::column("at").dedup_sort("desc")],
)]
fn stock() -> Vec<serde_json::Value> {
    vec![]
}

#[etl::transformer(data_from = stock(), columns = vec![etl::column("v").dedup_sort("DESC")])]
fn details(item: serde_json::Value) -> Vec<serde_json::Value> {
    vec![item]
}

fn main() {}
