#[etl::asset_check(blocking = "yes")]
fn no_asset() -> bool {
    true
}

#[etl::sensor(minimum_interval = 0, every = 5)]
fn two_params(a: &etl::SensorContext, b: u32) -> etl::SensorResult {
    let _ = (a, b);
    etl::SensorResult::new()
}

#[etl::asset_check(asset = "orders")]
fn bad_return() -> u32 {
    3
}

fn main() {}
