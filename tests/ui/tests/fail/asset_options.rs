#[etl::asset(key = "reports//daily", deps = 3, colour = "red")]
fn report() {}

fn main() {}
