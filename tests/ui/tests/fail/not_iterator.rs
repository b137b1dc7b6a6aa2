#[etl::resource]
fn count() -> i64 {
    3
}

fn main() {}
