#[etl::resource(nmae = "users")]
fn users() -> Vec<i64> {
    vec![1, 2]
}

#[etl::source(max_nesting = 1)]
fn src() -> etl::Source {
    users()
}

fn main() {}
