//! A test helper binary: a dlt asset loading `NUMBERS_ROWS` rows (default 1000) of
//! `numbers(id, v)` into `numbers.duckdb`, appended with an incremental cursor on `id`, in pages
//! of 100 with `NUMBERS_SLEEP_MS` (default 0) between pages. When extraction starts it appends
//! `extracting <pid>` to `loading.txt` in the current directory, so a test can kill the
//! process mid-run. Run by workers, it shows that a run retried after its worker was killed
//! loads every row once.

use std::io::Write;
use std::time::Duration;

#[etl::source]
fn numbers() -> etl::Source {
    #[etl::resource(write_disposition = "append", incremental = etl::Incremental::new("id"))]
    fn numbers() -> impl Iterator<Item = serde_json::Value> + Send + 'static {
        let rows: u64 = std::env::var("NUMBERS_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        let sleep: u64 = std::env::var("NUMBERS_SLEEP_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        (0..rows).map(move |i| {
            if i == 0 {
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open("loading.txt").expect("loading.txt");
                writeln!(f, "extracting {}", std::process::id()).expect("loading.txt");
            }
            if i % 100 == 0 && sleep > 0 {
                std::thread::sleep(Duration::from_millis(sleep));
            }
            serde_json::json!({"id": i, "v": format!("row {i}")})
        })
    }

    numbers()
}

#[etl::assets(
    dlt_source = numbers(),
    dlt_pipeline = etl::pipeline("numbers_pipeline").dataset_name("numbers").destination(etl::duckdb().path("numbers.duckdb")),
)]
fn numbers_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

fn main() -> std::process::ExitCode {
    etl::main()
}
