//! A test helper binary: one asset, `marked`, in no pool, that records when it runs. It appends
//! `start <pid> <unix µs>` to `<working dir>/spans.txt`, sleeps `MARKED_SLEEP_MS` (default
//! 800), then appends `end <pid> <unix µs>`. Started as several processes on one instance, the
//! lines show how many runs were in progress at once (`[instance] max_concurrent_runs`).

use std::time::Duration;

use etl_tests::mark_span as mark;

#[etl::asset]
fn marked(context: &etl::AssetExecutionContext) -> Result<etl::MaterializeResult, etl::AssetError> {
    let sleep: u64 = std::env::var("MARKED_SLEEP_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(800);
    mark(context, "start")?;
    std::thread::sleep(Duration::from_millis(sleep));
    mark(context, "end")?;
    Ok(etl::MaterializeResult::new())
}

fn main() -> std::process::ExitCode {
    etl::main_with(etl::Definitions::new())
}
