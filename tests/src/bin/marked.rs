//! A test helper binary: one asset, `marked`, in no pool, that records when it runs. It appends
//! `start <pid> <unix µs>` to `<working dir>/spans.txt`, sleeps `MARKED_SLEEP_MS` (default
//! 800), then appends `end <pid> <unix µs>`. Started as several processes on one instance, the
//! lines show how many runs were in progress at once (`[instance] max_concurrent_runs`), and
//! which runs ran (each line ends with the run id). `MARKED_CRON` adds a schedule of it.

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
    // `MARKED_CRON`: a schedule of the asset, for the daemon tests.
    let mut definitions = etl::Definitions::new();
    if let Ok(cron) = std::env::var("MARKED_CRON") {
        definitions = definitions.schedule(etl::Schedule::new("marked_often", &cron).select("marked"));
    }
    etl::main_with(definitions)
}
