//! Partitioned loading, as a dagster-dlt user does it every week: a daily-partitioned dlt asset
//! over an incremental resource (each partition loads exactly its day, with no state between
//! partitions), a partitioned summary downstream that takes run config, a blocking check, the
//! built-in checks, and a file sensor that loads the day of each new landing file.
//!
//! ```text
//! cargo run --release --example partitioned -- generate --days 10
//! cargo run --release --example partitioned -- backfill --select 'dlt_events_source_events+' --from 2024-01-01 --to 2024-01-10 --max-partitions-per-run 3
//! cargo run --release --example partitioned -- asset dlt_events_source_events
//! cargo run --release --example partitioned -- materialize --select daily_summary --partition 2024-01-03 --config-json '{"ops": {"daily_summary": {"config": {"min_amount": 50}}}}'
//! cargo run --release --example partitioned -- checks
//! cargo run --release --example partitioned -- daemon   # the sensor loads each new landing file's day
//! ```

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

/// The landing directory: `$LANDING_DIR`, else `landing` in the current directory.
fn landing_dir() -> std::path::PathBuf {
    std::env::var_os("LANDING_DIR").map(Into::into).unwrap_or_else(|| "landing".into())
}

/// The days of January 2024.
fn days() -> etl::TimeWindowPartitions {
    etl::daily_partitions("2024-01-01").end("2024-02-01")
}

#[etl::source]
fn events_source() -> etl::Source {
    /// Events from the landing files (`landing/YYYY-MM-DD.jsonl`), oldest first. A partitioned
    /// run gets its window as the incremental's `[start_value, end_value)`: it opens only the
    /// files of those days, and loads only rows inside the window.
    #[etl::resource(
        primary_key = "id",
        write_disposition = "merge",
        incremental = etl::Incremental::new("occurred_at").row_order(etl::RowOrder::Asc)
    )]
    fn events(window: &etl::ResourceContext) -> Result<Vec<Value>, String> {
        let dir = landing_dir();
        let day = |v: &Option<Value>| {
            v.as_ref().and_then(Value::as_str).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.naive_utc())
        };
        let (start, end) = (day(&window.start_value), day(&window.end_value));
        let in_window = |path: &Path| match day_of_file(path).and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()) {
            Some(d) => {
                let (from, to) = (d.and_hms_opt(0, 0, 0).expect("midnight"), (d + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight"));
                start.is_none_or(|s| to > s) && end.is_none_or(|e| from < e)
            }
            None => true,
        };
        let mut files: Vec<_> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && in_window(p))
                .collect(),
            Err(e) => return Err(format!("cannot read the landing directory {}: {e}", dir.display())),
        };
        files.sort();
        let mut rows = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                rows.push(serde_json::from_str(line).map_err(|e| format!("{} line {}: {e}", file.display(), i + 1))?);
            }
        }
        Ok(rows)
    }
    events()
}

#[etl::assets(
    dlt_source = events_source(),
    dlt_pipeline = etl::pipeline("events_pipeline").dataset_name("events").destination(etl::duckdb()),
    partitions = days(),
)]
fn events_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.fetch_row_count().run(context)
}

/// The run config of `daily_summary`.
#[derive(Deserialize)]
struct SummaryConfig {
    /// Only events of at least this amount count.
    #[serde(default)]
    min_amount: f64,
}

/// SQL for the instants of a window (timestamps with time zone).
fn window_sql(w: &etl::TimeWindow) -> String {
    format!("occurred_at >= TIMESTAMPTZ '{}' AND occurred_at < TIMESTAMPTZ '{}'", w.start.to_rfc3339(), w.end.to_rfc3339())
}

/// Events and amount per day, one row per partition in `events.daily_summary`.
#[etl::asset(deps = ["dlt_events_source_events"], group_name = "reports", kinds = ["duckdb"], partitions = days())]
fn daily_summary(
    context: &etl::AssetExecutionContext,
    db: &etl::DuckDbResource,
    config: etl::Config<SummaryConfig>,
) -> Result<etl::MaterializeResult, etl::AssetError> {
    let definition: etl::PartitionsDefinition = days().into();
    let mut statements = vec!["CREATE TABLE IF NOT EXISTS events.daily_summary (day VARCHAR PRIMARY KEY, events BIGINT, amount DOUBLE)".to_owned()];
    for key in context.partition_keys() {
        let w = definition.time_window(key)?.ok_or_else(|| etl::AssetError::msg("daily partitions have windows"))?;
        statements.push(format!("DELETE FROM events.daily_summary WHERE day = '{key}'"));
        statements.push(format!(
            "INSERT INTO events.daily_summary SELECT '{key}', count(*), coalesce(sum(amount), 0) FROM events.events WHERE {} AND amount >= {}",
            window_sql(&w),
            config.min_amount
        ));
    }
    db.execute(context, &statements.join(";\n"))?;
    let keys = context.partition_keys().iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    let rows = db.query(context, &format!("SELECT coalesce(sum(events), 0) FROM events.daily_summary WHERE day IN ({keys})"))?;
    let events = rows.first().and_then(|r| r.first()).and_then(Value::as_i64).unwrap_or(0);
    Ok(etl::MaterializeResult::new().with("events", etl::MetadataValue::Int(events)))
}

/// The run config of `every_day_has_events`.
#[derive(Deserialize)]
struct EveryDayConfig {
    /// The fewest events a day may have.
    #[serde(default = "one")]
    min_events: i64,
}

fn one() -> i64 {
    1
}

/// Every day of the run has events: a day with fewer than `min_events` blocks the summary.
#[etl::asset_check(asset = "dlt_events_source_events", blocking = true)]
fn every_day_has_events(
    context: &etl::AssetExecutionContext,
    db: &etl::DuckDbResource,
    config: etl::Config<EveryDayConfig>,
) -> Result<etl::AssetCheckResult, etl::AssetError> {
    let definition: etl::PartitionsDefinition = days().into();
    let mut short = Vec::new();
    for key in context.partition_keys() {
        let w = definition.time_window(key)?.ok_or_else(|| etl::AssetError::msg("daily partitions have windows"))?;
        let rows = db.query(context, &format!("SELECT count(*) FROM events.events WHERE {}", window_sql(&w)))?;
        let n = rows.first().and_then(|r| r.first()).and_then(Value::as_i64).unwrap_or(0);
        if n < config.min_events {
            short.push(format!("{key} has {n}"));
        }
    }
    Ok(if short.is_empty() {
        etl::AssetCheckResult::passed().description(format!("every day has at least {} event(s)", config.min_events))
    } else {
        etl::AssetCheckResult::failed(format!("fewer than {} events: {}", config.min_events, short.join(", ")))
    })
}

/// `landing/2024-01-05.jsonl` → `2024-01-05`.
fn day_of_file(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    chrono::NaiveDate::parse_from_str(stem, "%Y-%m-%d").ok().map(|_| stem.to_owned())
}

const KINDS: [&str; 3] = ["view", "click", "buy"];

/// `generate [--from 2024-01-01] [--days N] [--per-day N]`: writes one landing file per day.
fn generate(args: &[String]) -> ExitCode {
    let mut from = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date");
    let (mut days, mut per_day) = (10_i64, 24_i64);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().map(String::as_str).unwrap_or_default();
        let parsed = match flag.as_str() {
            "--from" => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map(|d| from = d).map_err(|e| e.to_string()),
            "--days" => value.parse().map(|n| days = n).map_err(|e: std::num::ParseIntError| e.to_string()),
            "--per-day" => value.parse().map(|n| per_day = n).map_err(|e: std::num::ParseIntError| e.to_string()),
            other => Err(format!("unknown option `{other}`; expected --from, --days, --per-day")),
        };
        if let Err(e) = parsed {
            eprintln!("error: generate {flag} {value}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let dir = landing_dir();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for d in 0..days {
        let day = from + chrono::Duration::days(d);
        let offset = (day - chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date")).num_days();
        let path = dir.join(format!("{day}.jsonl"));
        let mut text = String::new();
        for i in 0..per_day {
            let at = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc() + chrono::Duration::minutes(i * 24 * 60 / per_day.max(1));
            let row = json!({
                "id": offset * 100_000 + i,
                "occurred_at": at.to_rfc3339(),
                "kind": KINDS[(i % 3) as usize],
                "amount": (i % 10) as f64 * 12.5,
            });
            text.push_str(&row.to_string());
            text.push('\n');
        }
        if let Err(e) = std::fs::File::create(&path).and_then(|mut f| f.write_all(text.as_bytes())) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("wrote {days} landing file(s) of {per_day} events to {}", dir.display());
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("generate") {
        return generate(&args[1..]);
    }
    let asset = "dlt_events_source_events";
    etl::main_with(
        etl::Definitions::new()
            .resources(etl::Resources::new().with(etl::DuckDbResource::new("events_pipeline.duckdb")))
            .check(etl::checks::column_schema_change(asset))
            .check(etl::checks::metadata_bounds(asset, "rows_loaded").min(1.0))
            .check(etl::checks::last_update_freshness(asset, Duration::from_secs(24 * 3600)))
            .sensor(
                etl::sensors::file_sensor("landing_files", "landing/*.jsonl")
                    .select("dlt_events_source_events+")
                    .partition_from(day_of_file)
                    .minimum_interval(Duration::from_secs(5)),
            ),
    )
}
