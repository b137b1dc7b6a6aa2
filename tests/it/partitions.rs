//! Partitions, backfills, asset checks, sensors and run config, end to end: the `partitioned`
//! example binary run as a user runs it (its landing files in a temporary directory), and
//! definitions of this binary run in process.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use etl::runtime::{Daemon, RunOptions};
use etl_tests::{example_binary, scalar};
use serde_json::{json, Value};

fn example(dir: &Path, args: &[&str]) -> Output {
    Command::new(example_binary("partitioned")).args(args).current_dir(dir).output().expect("run the partitioned example")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = example(dir, args);
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "partitioned {args:?} failed:\n{text}");
    text
}

fn failing(dir: &Path, args: &[&str]) -> String {
    let out = example(dir, args);
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "partitioned {args:?} should fail:\n{text}");
    text
}

/// Rows of day `d` (January 2024) in the events table.
fn rows_of_day(db: &Path, d: u32) -> Value {
    let next = if d == 31 { "2024-02-01".to_owned() } else { format!("2024-01-{:02}", d + 1) };
    scalar(db, &format!(
        "SELECT count(*) FROM events.events WHERE occurred_at >= TIMESTAMPTZ '2024-01-{d:02}T00:00:00+00:00' AND occurred_at < TIMESTAMPTZ '{next}T00:00:00+00:00'"
    ))
}

fn runs_recorded(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(".etl/runs")).map(|rd| rd.count()).unwrap_or(0)
}

#[test]
fn a_backfill_of_ten_days_in_one_run_and_in_runs_of_three_loads_each_days_rows_once() {
    for (per_run, runs) in [(None, 1), (Some("3"), 4)] {
        let dir = tempfile::tempdir().unwrap();
        ok(dir.path(), &["generate", "--days", "10", "--per-day", "24"]);
        let mut args = vec!["backfill", "--select", "dlt_events_source_events+", "--from", "2024-01-01", "--to", "2024-01-10"];
        if let Some(n) = per_run {
            args.extend(["--max-partitions-per-run", n]);
        }
        let out = ok(dir.path(), &args);
        assert!(out.contains(&format!("0 materialized already, {runs} run(s) to go")), "{out}");
        assert!(out.contains(&format!("run {runs}/{runs}")) && out.contains("[10/10 partitions materialized]"), "{out}");
        assert_eq!(runs_recorded(dir.path()), runs, "{per_run:?}");
        let db = dir.path().join("events_pipeline.duckdb");
        assert_eq!(scalar(&db, "SELECT count(*) FROM events.events"), json!(240));
        assert_eq!(scalar(&db, "SELECT count(DISTINCT id) FROM events.events"), json!(240), "no row twice");
        for d in 1..=10 {
            assert_eq!(rows_of_day(&db, d), json!(24), "day {d} with {per_run:?}");
        }
        assert_eq!(scalar(&db, "SELECT count(*) FROM events.daily_summary WHERE events = 24"), json!(10), "the summary of each day");
        // The windows are stateless: no cursor was stored in the pipeline's state.
        let info = ok(dir.path(), &["info"]);
        assert!(!info.contains("occurred_at"), "no incremental cursor in the state: {info}");
        // The grid, and a second backfill that has nothing to do.
        let asset = ok(dir.path(), &["asset", "dlt_events_source_events"]);
        assert!(asset.contains("31 in all, 10 materialized, 0 failed, 21 missing") && asset.contains("■■■■■■■"), "{asset}");
        assert!(asset.contains("every_day_has_events (blocking)  PASSED"), "{asset}");
        let again = ok(dir.path(), &args);
        assert!(again.contains("10 materialized already, 0 run(s) to go"), "{again}");
        assert_eq!(runs_recorded(dir.path()), runs);
    }
}

#[test]
fn a_failed_backfill_runs_again_for_its_failed_partitions_only() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["generate", "--days", "6", "--per-day", "10"]);
    let day5 = dir.path().join("landing/2024-01-05.jsonl");
    let good = std::fs::read_to_string(&day5).unwrap();
    std::fs::write(&day5, format!("{good}{{not json\n")).unwrap();
    let args = ["backfill", "--select", "dlt_events_source_events", "--from", "2024-01-01", "--to", "2024-01-06", "--max-partitions-per-run", "3"];
    let out = failing(dir.path(), &args);
    assert!(out.contains("run 1/2 2024-01-01...2024-01-03: success") && out.contains("run 2/2 2024-01-04...2024-01-06: FAILED"), "{out}");
    assert!(out.contains("2024-01-05.jsonl line 11"), "the bad line is named: {out}");
    assert!(out.contains("run the same command again"), "{out}");
    let asset = ok(dir.path(), &["asset", "dlt_events_source_events"]);
    assert!(asset.contains("3 materialized, 3 failed") && asset.contains("failed: 2024-01-04, 2024-01-05, 2024-01-06"), "{asset}");
    let db = dir.path().join("events_pipeline.duckdb");
    assert_eq!(scalar(&db, "SELECT count(*) FROM events.events"), json!(30), "the failed run loaded nothing");
    std::fs::write(&day5, good).unwrap();
    let out = ok(dir.path(), &args);
    assert!(out.contains("3 materialized already, 1 run(s) to go") && out.contains("run 1/1 2024-01-04...2024-01-06: success"), "{out}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM events.events"), json!(60));
    assert_eq!(scalar(&db, "SELECT count(DISTINCT id) FROM events.events"), json!(60));
}

/// `(start, end)` in µs of each step of op `op` in the runs recorded under `dir`.
fn step_spans(dir: &Path, op: &str) -> Vec<(i64, i64)> {
    let mut spans = Vec::new();
    for run in std::fs::read_dir(dir.join(".etl/runs")).unwrap().filter_map(Result::ok) {
        let text = std::fs::read_to_string(run.path().join("events.jsonl")).unwrap();
        let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let at = |kind: &str| {
            events.iter().find(|e| e["kind"] == kind && e["op"] == op).and_then(|e| e["ts"].as_str()).map(|t| {
                chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp_micros()
            })
        };
        spans.push((at("step_start").expect("started"), at("step_success").expect("succeeded")));
    }
    spans
}

#[test]
fn two_partitions_of_one_pipeline_started_at_once_take_turns_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["generate", "--days", "2", "--per-day", "500"]);
    let start = |key: &str| {
        Command::new(example_binary("partitioned"))
            .args(["materialize", "--select", "dlt_events_source_events", "--partition", key])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start("2024-01-01"), start("2024-01-02"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    let db = dir.path().join("events_pipeline.duckdb");
    assert_eq!(rows_of_day(&db, 1), json!(500));
    assert_eq!(rows_of_day(&db, 2), json!(500));
    assert_eq!(scalar(&db, "SELECT count(*) FROM events._dlt_loads"), json!(2), "two loads");
    let mut spans = step_spans(dir.path(), "events_assets");
    spans.sort();
    assert_eq!(spans.len(), 2);
    assert!(spans[0].1 <= spans[1].0, "the pipeline's pool serialized them: {spans:?}");
    let asset = ok(dir.path(), &["asset", "dlt_events_source_events"]);
    assert!(asset.contains("2 materialized"), "{asset}");
}

#[test]
fn a_failed_blocking_check_skips_the_downstream_asset() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["generate", "--days", "1", "--per-day", "24"]);
    let config = r#"{"ops": {"every_day_has_events": {"config": {"min_events": 100}}}}"#;
    let out = failing(dir.path(), &["materialize", "--select", "dlt_events_source_events+", "--partition", "2024-01-01", "--config-json", config]);
    assert!(out.contains("MATERIALIZED dlt_events_source_events"), "the asset itself loaded: {out}");
    assert!(out.contains("CHECK FAILED (ERROR) every_day_has_events of dlt_events_source_events: fewer than 100 events: 2024-01-01 has 24"), "{out}");
    assert!(out.contains("SKIPPED daily_summary: upstream dlt_events_source_events failed its blocking check `every_day_has_events`"), "{out}");
    assert!(out.contains("CHECK PASSED column_schema_change") && out.contains("CHECK PASSED rows_loaded_bounds"), "built-in checks ran: {out}");
    let db = dir.path().join("events_pipeline.duckdb");
    assert_eq!(rows_of_day(&db, 1), json!(24));
    assert_eq!(scalar(&db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'daily_summary'"), json!(0));
    let checks = failing(dir.path(), &["checks"]);
    assert!(checks.contains("every_day_has_events (blocking)") && checks.contains("FAILED (ERROR)"), "{checks}");
    // With the default config the check passes and the summary runs.
    let out = ok(dir.path(), &["materialize", "--select", "dlt_events_source_events+", "--partition", "2024-01-01"]);
    assert!(out.contains("MATERIALIZED daily_summary") && out.contains("CHECK PASSED every_day_has_events"), "{out}");
}

#[test]
fn bad_run_config_and_partitions_are_rejected_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["generate", "--days", "1"]);
    let select = ["materialize", "--select", "dlt_events_source_events+", "--partition", "2024-01-01", "--config-json"];
    let cases: [(&str, &[&str]); 6] = [
        (r#"{"ops": {"daily_summary": {"config": {"min_amount": "lots"}}}}"#, &["op `daily_summary`", "SummaryConfig", "at `min_amount`: invalid type: string \"lots\", expected f64"]),
        (r#"{"ops": {"every_day_has_events": {"config": {"min_events": 1.5}}}}"#, &["op `every_day_has_events`", "at `min_events`"]),
        (r#"{"ops": {"daily_sumary": {"config": {}}}}"#, &["names op `daily_sumary`, which this run does not execute"]),
        (r#"{"resources": {}}"#, &["unknown top-level key `resources`"]),
        (r#"{"ops": "#, &["`--config-json` is not valid JSON"]),
        (r#"{"ops": {"daily_summary": {"cfg": {}}}}"#, &["unknown key `ops.daily_summary.cfg`"]),
    ];
    for (config, expected) in cases {
        let mut args = select.to_vec();
        args.push(config);
        let out = failing(dir.path(), &args);
        for e in expected {
            assert!(out.contains(e), "{config}: expected {e:?} in:\n{out}");
        }
    }
    let out = failing(dir.path(), &["materialize", "--select", "dlt_events_source_events"]);
    assert!(out.contains("asset `dlt_events_source_events` is partitioned (daily from 2024-01-01 to 2024-02-01): pass `--partition KEY`"), "{out}");
    let out = failing(dir.path(), &["materialize", "--select", "dlt_events_source_events", "--partition", "2024-02-01"]);
    assert!(out.contains("unknown partition key `2024-02-01`: expected one of the 31 keys from `2024-01-01` to `2024-01-31`"), "{out}");
    let out = failing(dir.path(), &["materialize", "--select", "dlt_events_source_events", "--partition-range", "2024-01-05...2024-01-02"]);
    assert!(out.contains("runs backwards"), "{out}");
    let toml = dir.path().join("run.toml");
    std::fs::write(&toml, "[ops.daily_summary.config]\nmin_amount = true\n").unwrap();
    let out = failing(dir.path(), &["materialize", "--select", "daily_summary", "--partition", "2024-01-01", "--config", toml.to_str().unwrap()]);
    assert!(out.contains("at `min_amount`: invalid type: boolean `true`"), "{out}");
    assert!(!dir.path().join("events_pipeline.duckdb").exists(), "nothing ran");
    assert_eq!(runs_recorded(dir.path()), 0, "no run was recorded");
}

// --- In process: a source that takes its partition, sensors. ---

#[etl::source]
fn regions_source(region: String) -> etl::Source {
    #[etl::resource(primary_key = "id")]
    fn sales(region: String) -> Vec<Value> {
        (1..=3).map(|i| json!({"id": format!("{region}-{i}"), "region": region, "amount": i})).collect()
    }
    sales(region)
}

#[etl::assets(
    dlt_source = |partition| regions_source(partition.key().unwrap_or_default().to_owned()),
    dlt_pipeline = etl::pipeline("regions_pipeline").dataset_name("regions"),
    partitions = etl::static_partitions(["eu", "us", "apac"]),
)]
fn regions_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

#[test]
fn a_source_can_take_the_runs_partition_key() {
    let run = etl::testing::materialize("dlt_regions_source_sales").partition("us").run().unwrap();
    assert!(run.result().success(), "{:?}", run.result().failures());
    let rows = run.query("regions_pipeline", "SELECT DISTINCT region FROM regions.sales").unwrap();
    assert_eq!(rows, vec![vec![json!("us")]]);
    let m = run.result().materialization("dlt_regions_source_sales").unwrap();
    assert_eq!(m.get("partition"), Some(&etl::MetadataValue::Text("us".into())));
    let err = etl::testing::materialize("dlt_regions_source_sales").partition("asia").run().err().unwrap().to_string();
    assert!(err.contains("unknown partition key `asia`: expected one of the 3 keys from `eu` to `apac`"), "{err}");
    let err = etl::testing::materialize("dlt_regions_source_sales").run().err().unwrap().to_string();
    assert!(err.contains("is partitioned (static (3 keys))"), "{err}");
}

static LANDED: AtomicUsize = AtomicUsize::new(0);

/// What the sensors' runs materialize.
#[etl::asset]
fn landed() {
    LANDED.fetch_add(1, Ordering::SeqCst);
}

fn sensor_registry(sensor: etl::SensorSpec) -> etl::runtime::Registry {
    let mut registry = etl::runtime::registered();
    registry.dlt.clear();
    registry.assets.retain(|a| a.name == "landed");
    registry.checks.clear();
    registry.sensors = vec![sensor];
    registry
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[test]
fn a_file_seen_twice_starts_one_run_even_when_the_cursor_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("landing")).unwrap();
    let sensor = etl::sensors::file_sensor("landing_files", "landing/*.jsonl").select("landed");
    let mut options = RunOptions::new(dir.path());
    options.home = Some(dir.path().join(".etl"));
    let clock = etl::ManualClock::new(at("2026-12-06T10:00:00Z"));
    let mut daemon = Daemon::new(sensor_registry(sensor.into()), options.clone(), &[], Arc::new(clock.clone())).unwrap();
    let tick = daemon.sensor_tick().remove(0);
    assert!(tick.runs.is_empty() && tick.reason.as_deref() == Some("no new or changed files match `landing/*.jsonl`"), "{tick:?}");
    std::fs::write(dir.path().join("landing/a.jsonl"), "{\"id\": 1}\n").unwrap();
    clock.advance(chrono::Duration::seconds(10));
    assert!(daemon.sensor_tick().is_empty(), "not due before its interval");
    clock.advance(chrono::Duration::seconds(30));
    assert_eq!(daemon.sensor_tick()[0].runs.len(), 1, "the new file");
    clock.advance(chrono::Duration::seconds(30));
    let tick = daemon.sensor_tick().remove(0);
    assert!(tick.runs.is_empty() && tick.seen_keys.is_empty(), "the cursor knows it: {tick:?}");
    // The cursor lost (or a second daemon with an old one): the run key still holds.
    let queue = options.store().unwrap().queue().unwrap();
    queue.put_state("sensors", &[("landing_files".into(), json!({}))]).unwrap();
    clock.advance(chrono::Duration::seconds(30));
    let tick = daemon.sensor_tick().remove(0);
    assert!(tick.runs.is_empty() && tick.seen_keys.len() == 1, "{tick:?}");
    // A changed file is new again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(dir.path().join("landing/a.jsonl"), "{\"id\": 1}\n{\"id\": 2}\n").unwrap();
    clock.advance(chrono::Duration::seconds(30));
    assert_eq!(daemon.sensor_tick()[0].runs.len(), 1, "changed");
    let finished = daemon.wait();
    assert_eq!(finished.len(), 2);
    for (run_id, result) in &finished {
        let result = result.as_ref().unwrap();
        assert!(result.success(), "{run_id}");
        let record = options.store().unwrap().record(run_id).unwrap();
        assert_eq!(record.tags.get("etl/sensor").map(String::as_str), Some("landing_files"));
        assert!(record.tags.get("etl/run_key").is_some_and(|k| k.starts_with("landing/a.jsonl@")), "{:?}", record.tags);
    }
}

/// The selection the counting sensor asks for (a test switches it to a bad one).
static SENSOR_TARGET: Mutex<&str> = Mutex::new("landed");

/// Asks for one run per evaluation, keyed by its cursor.
#[etl::sensor(minimum_interval = 5)]
fn counting_sensor(context: &etl::SensorContext) -> etl::SensorResult {
    let n: u32 = context.cursor().and_then(|c| c.parse().ok()).unwrap_or(0);
    let target = *SENSOR_TARGET.lock().unwrap();
    etl::SensorResult::new().request(etl::RunRequest::new(format!("k{n}")).select(target)).cursor((n + 1).to_string())
}

#[test]
fn a_sensors_cursor_moves_only_once_its_runs_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let spec = etl::runtime::registered().sensors.into_iter().find(|s| s.name == "counting_sensor").expect("registered by the macro");
    assert_eq!(spec.minimum_interval, std::time::Duration::from_secs(5));
    let mut options = RunOptions::new(dir.path());
    options.home = Some(dir.path().join(".etl"));
    let clock = etl::ManualClock::new(at("2026-12-06T10:00:00Z"));
    let mut daemon = Daemon::new(sensor_registry(spec), options.clone(), &[], Arc::new(clock.clone())).unwrap();
    *SENSOR_TARGET.lock().unwrap() = "nope";
    let tick = daemon.sensor_tick().remove(0);
    assert!(tick.failed && tick.reason.as_deref().unwrap_or("").contains("no asset `nope`"), "{tick:?}");
    let queue = options.store().unwrap().queue().unwrap();
    assert_eq!(etl::runtime::registered().sensors.len(), 1);
    let state = |q: &std::sync::Arc<dyn etl::runtime::RunQueue>| q.state("sensors").unwrap().get("counting_sensor").and_then(|s| s["cursor"].as_str().map(str::to_owned));
    assert_eq!(state(&queue), None, "the cursor did not move");
    *SENSOR_TARGET.lock().unwrap() = "landed";
    clock.advance(chrono::Duration::seconds(5));
    let tick = daemon.sensor_tick().remove(0);
    assert_eq!(tick.runs.len(), 1, "key k0 is free again: {tick:?}");
    assert_eq!(state(&queue).as_deref(), Some("1"));
    daemon.wait();
}
