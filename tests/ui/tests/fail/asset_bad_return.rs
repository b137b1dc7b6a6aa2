#[etl::asset]
fn answer() -> i32 {
    42
}

fn main() {}
