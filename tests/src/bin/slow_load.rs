//! A test helper binary: loads `--orders N` orders (each with 3 nested items) into
//! `<dir>/kill_pipeline.duckdb` in one run. The kill test interrupts it with SIGKILL at random
//! points and checks that the file is always consistent. The orders stand for a stream that
//! cannot be read twice (`replayable(false)`), so a killed run leaves its spool behind.

use etl::Resource;
use serde_json::json;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: slow_load <dir> <orders>");
    let n: u64 = args.next().and_then(|s| s.parse().ok()).expect("usage: slow_load <dir> <orders>");
    let rows = (0..n).map(|i| json!({"id": i, "customer": format!("c{}", i % 97), "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}, {"sku": "c", "qty": 3}]}));
    let pipeline = etl::pipeline("kill_pipeline").dataset_name("kill").working_dir(dir);
    match pipeline.run(Resource::from_data("orders", rows).replayable(false)) {
        Ok(_) => {}
        Err(e) => {
            eprintln!("load failed: {e}");
            std::process::exit(1);
        }
    }
}
