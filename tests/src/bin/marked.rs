//! A test helper binary: one asset, `marked`, in no pool, that records when it runs. It appends
//! `start <pid> <unix µs>` to `<working dir>/spans.txt`, sleeps `MARKED_SLEEP_MS` (default
//! 800), then appends `end <pid> <unix µs>`. Started as several processes on one instance, the
//! lines show how many runs were in progress at once (`[instance] max_concurrent_runs`).

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn mark(context: &etl::AssetExecutionContext, what: &str) -> Result<(), etl::AssetError> {
    let path = context.working_dir().join("spans.txt");
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| etl::AssetError::msg(format!("cannot open {}: {e}", path.display())))?;
    file.write_all(format!("{what} {} {micros}\n", std::process::id()).as_bytes()).map_err(|e| etl::AssetError::msg(format!("cannot write {}: {e}", path.display())))
}

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
