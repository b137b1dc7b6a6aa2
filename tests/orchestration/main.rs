//! Orchestration end to end (issue #6): parallel steps, pools, skip-downstream, retries,
//! re-execution from a failure, run history across processes, schedules and the daemon.
//! A test binary of its own, so its link-time registry holds only these definitions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use etl::runtime::{registered, Daemon, EventKind, RunOptions, TickStatus};
use etl::testing::materialize;
use etl_tests::example_binary;

// ---- parallelism and pools -------------------------------------------------------------

/// (op, start, end) of the ops of the parallelism tests.
static SPANS: Mutex<Vec<(&'static str, Instant, Instant)>> = Mutex::new(Vec::new());

fn timed<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    SPANS.lock().unwrap().push((name, start, Instant::now()));
    out
}

fn spans_of(names: &[&str]) -> Vec<(&'static str, Instant, Instant)> {
    SPANS.lock().unwrap().iter().filter(|(n, _, _)| names.contains(n)).cloned().collect()
}

fn overlap(a: &(&str, Instant, Instant), b: &(&str, Instant, Instant)) -> bool {
    a.1 < b.2 && b.1 < a.2
}

#[etl::asset(group_name = "parallel")]
fn slow_a() {
    timed("slow_a", || std::thread::sleep(Duration::from_millis(300)));
}

#[etl::asset(group_name = "parallel")]
fn slow_b() {
    timed("slow_b", || std::thread::sleep(Duration::from_millis(300)));
}

#[test]
fn independent_assets_run_in_parallel_up_to_the_limit() {
    let run = materialize("slow_a,slow_b").max_concurrency(2).run().unwrap();
    assert!(run.result().success());
    let s = spans_of(&["slow_a", "slow_b"]);
    assert!(overlap(&s[s.len() - 2], &s[s.len() - 1]), "two slots: the two sleeps overlap");

    let run = materialize("group:parallel").max_concurrency(1).run().unwrap();
    assert!(run.result().success());
    let s = spans_of(&["slow_a", "slow_b"]);
    assert!(!overlap(&s[s.len() - 2], &s[s.len() - 1]), "one slot: one after the other");
}

#[etl::source]
fn first_source() -> etl::Source {
    #[etl::resource]
    fn numbers() -> Vec<serde_json::Value> {
        (0..2000).map(|i| serde_json::json!({"n": i, "tags": ["a", "b"]})).collect()
    }
    numbers()
}

#[etl::source]
fn second_source() -> etl::Source {
    #[etl::resource]
    fn letters() -> Vec<serde_json::Value> {
        (0..2000).map(|i| serde_json::json!({"letter": format!("l{i}")})).collect()
    }
    letters()
}

#[etl::assets(
    dlt_source = first_source(),
    dlt_pipeline = etl::pipeline("first").dataset_name("first").destination(etl::duckdb().path("shared.duckdb")),
    group_name = "shared",
)]
fn first_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    timed("first_assets", || dlt.run(context))
}

#[etl::assets(
    dlt_source = second_source(),
    dlt_pipeline = etl::pipeline("second").dataset_name("second").destination(etl::duckdb().path("shared.duckdb")),
    group_name = "shared",
)]
fn second_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    timed("second_assets", || dlt.run(context))
}

/// Writes the same file as the two loads, holding a write transaction open for a while.
#[etl::asset(group_name = "shared")]
fn audit_table(context: &etl::AssetExecutionContext, db: &etl::DuckDbResource) -> Result<(), etl::AssetError> {
    timed("audit_table", || {
        let conn = db.connect(context)?;
        conn.execute_batch("BEGIN; CREATE TABLE IF NOT EXISTS audit(ts TIMESTAMP); INSERT INTO audit VALUES (now());")
            .map_err(|e| etl::AssetError::msg(e.to_string()))?;
        std::thread::sleep(Duration::from_millis(150));
        conn.execute_batch("COMMIT").map_err(|e| etl::AssetError::msg(e.to_string()))
    })
}

#[test]
fn writers_of_one_duckdb_file_are_serialized_by_its_pool() {
    // Without the pool, two of these would open `shared.duckdb` at once: the second pipeline
    // would meet the first's lock ("locked by pid ...") or DuckDB's own writer lock.
    let resources = etl::Resources::new().with(etl::DuckDbResource::new("shared.duckdb"));
    let mut previous = None;
    for _ in 0..3 {
        let mut m = materialize("group:shared").resources(resources.clone()).max_concurrency(3);
        if let Some(p) = &previous {
            m = m.after(p);
        }
        let run = m.run().unwrap();
        assert!(run.result().success(), "{:?}", run.result().failures());
        previous = Some(run);
    }
    let run = previous.unwrap();
    // Each dlt op is in its pipeline's pool and its file's; the run's start lists them.
    let events = run.history().events(&run.result().run_id).unwrap();
    let steps = events.iter().find(|e| e.kind == etl::runtime::EventKind::RunStart).unwrap().data["steps"].clone();
    let pools_of = |op: &str| steps.as_array().unwrap().iter().find(|s| s["op"] == op).unwrap()["pools"].clone();
    let file_pool = pools_of("audit_table")[0].as_str().unwrap().to_owned();
    assert!(file_pool.starts_with("duckdb:") && file_pool.ends_with("shared.duckdb"), "{steps}");
    assert_eq!(pools_of("first_assets"), serde_json::json!([file_pool.clone(), "pipeline:first"]), "{steps}");
    assert_eq!(pools_of("second_assets"), serde_json::json!([file_pool, "pipeline:second"]), "{steps}");
    let db = run.dir().join("shared.duckdb");
    assert_eq!(etl_tests::scalar(&db, "SELECT count(*) FROM first.numbers"), serde_json::json!(6000));
    assert_eq!(etl_tests::scalar(&db, "SELECT count(*) FROM second.letters"), serde_json::json!(6000));
    assert_eq!(etl_tests::scalar(&db, "SELECT count(*) FROM audit"), serde_json::json!(3));
    let s = spans_of(&["first_assets", "second_assets", "audit_table"]);
    for (i, a) in s.iter().enumerate() {
        for b in &s[i + 1..] {
            assert!(!overlap(a, b), "{} and {} ran at the same time in the file's pool", a.0, b.0);
        }
    }
}

/// Three ops in the named pool `api` (two plain assets and a dlt multi-asset writing its own
/// file) and one outside it.
#[etl::asset(group_name = "pooled", pool = "api")]
fn pooled_a() {
    timed("pooled_a", || std::thread::sleep(Duration::from_millis(250)));
}

#[etl::asset(group_name = "pooled", pool = "api")]
fn pooled_b() {
    timed("pooled_b", || std::thread::sleep(Duration::from_millis(250)));
}

#[etl::asset(group_name = "pooled")]
fn not_pooled() {
    timed("not_pooled", || std::thread::sleep(Duration::from_millis(400)));
}

#[etl::source]
fn api_source() -> etl::Source {
    #[etl::resource]
    fn calls() -> Vec<serde_json::Value> {
        std::thread::sleep(Duration::from_millis(250));
        vec![serde_json::json!({"call": 1})]
    }
    calls()
}

#[etl::assets(
    dlt_source = api_source(),
    dlt_pipeline = etl::pipeline("api_calls").dataset_name("api").destination(etl::duckdb().path("api_calls.duckdb")),
    group_name = "pooled",
    pool = "api",
)]
fn pooled_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    timed("pooled_assets", || dlt.run(context))
}

#[test]
fn ops_of_one_named_pool_run_one_at_a_time_while_others_run_beside_them() {
    let run = materialize("group:pooled").max_concurrency(4).run().unwrap();
    assert!(run.result().success(), "{:?}", run.result().failures());
    let pooled = spans_of(&["pooled_a", "pooled_b", "pooled_assets"]);
    assert_eq!(pooled.len(), 3);
    for (i, a) in pooled.iter().enumerate() {
        for b in &pooled[i + 1..] {
            assert!(!overlap(a, b), "{} and {} ran at the same time in pool `api`", a.0, b.0);
        }
    }
    let free = spans_of(&["not_pooled"]);
    assert!(pooled.iter().any(|p| overlap(p, &free[0])), "an op outside the pool runs beside it: {pooled:?} {free:?}");
}

// ---- failures, skips, retries, re-execution ---------------------------------------------

static BROKEN: AtomicBool = AtomicBool::new(true);

#[etl::asset(group_name = "failing")]
fn broken() -> Result<(), etl::AssetError> {
    if BROKEN.load(Ordering::SeqCst) {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        return Err(etl::AssetError::from(io));
    }
    Ok(())
}

#[etl::asset(group_name = "failing", deps = ["broken"])]
fn after_broken() {}

#[etl::asset(group_name = "failing", deps = ["after_broken"])]
fn after_after_broken() {}

#[etl::asset(group_name = "failing")]
fn independent() {}

#[test]
fn a_failure_skips_downstream_and_the_run_resumes_from_it() {
    BROKEN.store(true, Ordering::SeqCst);
    let run = materialize("group:failing").run().unwrap();
    let r = run.result();
    assert!(!r.success());
    assert!(matches!(r.outcome("broken"), Some(etl::AssetOutcome::Failed { error, .. }) if error.contains("connection refused")));
    assert!(matches!(r.outcome("after_broken"), Some(etl::AssetOutcome::Skipped { because, .. }) if because[0].to_string() == "broken"));
    assert!(matches!(r.outcome("after_after_broken"), Some(etl::AssetOutcome::Skipped { .. })));
    assert!(matches!(r.outcome("independent"), Some(etl::AssetOutcome::Materialized(_))));
    let history = run.history();
    let record = history.record(&r.run_id).unwrap();
    assert_eq!(record.status, etl::RunStatus::Failure);
    let events = history.events(&r.run_id).unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == EventKind::Skipped).count(), 2);
    let failure = events.iter().find(|e| e.kind == EventKind::StepFailure).unwrap();
    assert_eq!(failure.op.as_deref(), Some("broken"));

    BROKEN.store(false, Ordering::SeqCst);
    let again = materialize("*").after(&run).from_failure(&r.run_id).run().unwrap();
    let keys: Vec<String> = again.result().outcomes.iter().map(|o| o.key().to_string()).collect();
    assert_eq!(keys, ["broken", "after_broken", "after_after_broken"], "only what did not materialize");
    assert!(again.result().success());
    let record = again.history().record(&again.result().run_id).unwrap();
    assert_eq!(record.parent_run_id.as_deref(), Some(r.run_id.as_str()));
    let err = materialize("*").after(&again).from_failure(&again.result().run_id).run().err().unwrap();
    assert!(err.to_string().contains("nothing to re-execute"), "{err}");
}

#[etl::asset(group_name = "retries", retry = etl::RetryPolicy::new(3).delay(Duration::from_millis(5)).backoff(etl::Backoff::Exponential))]
fn flaky(context: &etl::AssetExecutionContext) -> Result<etl::MaterializeResult, etl::AssetError> {
    if context.attempt() < 3 {
        return Err(etl::AssetError::msg(format!("503 on attempt {}", context.attempt())));
    }
    Ok(etl::MaterializeResult::new().with("attempt", etl::MetadataValue::Int(context.attempt().into())))
}

#[etl::asset(group_name = "retries", retry = etl::RetryPolicy::new(1).delay(Duration::ZERO))]
fn hopeless() -> Result<(), etl::AssetError> {
    Err(etl::AssetError::msg("always down"))
}

#[test]
fn retries_follow_the_policy() {
    let run = materialize("flaky").run().unwrap();
    let r = run.result();
    assert!(r.success());
    assert_eq!(r.attempts["flaky"], 3);
    assert_eq!(r.materialization("flaky").unwrap().get("attempt"), Some(&etl::MetadataValue::Int(3)));
    let events = run.history().events(&r.run_id).unwrap();
    let retries: Vec<_> = events.iter().filter(|e| e.kind == EventKind::StepRetry).collect();
    assert_eq!(retries.len(), 2);
    assert_eq!((retries[0].data["delay_ms"].as_u64(), retries[1].data["delay_ms"].as_u64()), (Some(5), Some(10)), "exponential backoff");

    let run = materialize("hopeless").run().unwrap();
    assert_eq!(run.result().attempts["hopeless"], 2);
    assert_eq!(run.result().failures()[0].1, "always down");
}

#[test]
fn testing_retries_and_from_failure_record_on_postgres_storage() {
    let pg = etl_testkit::pg_or_skip!();
    let url = pg.create_database().unwrap();
    let store = etl::RunStore::open(&url, std::path::Path::new("."), "test").unwrap();
    let run = materialize("flaky").storage(store.clone()).run().unwrap();
    assert!(run.result().success());
    assert!(!run.dir().join(".etl/runs").exists(), "nothing recorded in the files");
    let events = run.history().events(&run.result().run_id).unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == EventKind::StepRetry).count(), 2);
    assert_eq!(events.last().map(|e| e.kind), Some(EventKind::RunEnd));

    let failed = materialize("hopeless").storage(store.clone()).run().unwrap();
    assert!(!failed.result().success());
    let again = materialize("*").after(&failed).from_failure(&failed.result().run_id).run().unwrap();
    let keys: Vec<String> = again.result().outcomes.iter().map(|o| o.key().to_string()).collect();
    assert_eq!(keys, ["hopeless"], "re-executes what the stored run did not materialize");
    let record = store.record(&again.result().run_id).unwrap();
    assert_eq!((record.parent_run_id.as_deref(), record.status), (Some(failed.result().run_id.as_str()), etl::RunStatus::Failure));
    assert_eq!(store.runs(10).unwrap().len(), 3);
    assert_eq!(store.asset_history(&etl::AssetKey::new("flaky")).unwrap().len(), 1);
}

// ---- validation --------------------------------------------------------------------------

/// A resource nobody registers.
struct Warehouse;
impl etl::ConfigurableResource for Warehouse {}

#[etl::asset(group_name = "needs_resource")]
fn needs_warehouse(_w: &Warehouse) {}

/// An asset whose check takes the resource nobody registers.
#[etl::asset(group_name = "needs_resource")]
fn checked_by_warehouse() {}

#[etl::asset_check(asset = "checked_by_warehouse")]
fn warehouse_agrees(_w: &Warehouse) -> bool {
    true
}

#[test]
fn a_check_s_missing_resource_is_reported_before_anything_runs() {
    let err = materialize("checked_by_warehouse").run().err().expect("invalid");
    let text = err.to_string();
    assert!(text.contains("check `warehouse_agrees` of asset `checked_by_warehouse` (tests/orchestration/main.rs:"), "{text}");
    assert!(text.contains("needs resource `orchestration::Warehouse`, which is not registered"), "{text}");
}

#[test]
fn a_missing_resource_is_reported_before_anything_runs() {
    let err = materialize("needs_warehouse").run().err().expect("invalid");
    let text = err.to_string();
    assert!(text.contains("op `needs_warehouse` (tests/orchestration/main.rs:"), "{text}");
    assert!(text.contains("needs resource `orchestration::Warehouse`, which is not registered"), "{text}");
    assert!(materialize("nope").run().err().unwrap().to_string().contains("no asset `nope`"));
}

// ---- schedules ----------------------------------------------------------------------------

static GATE_OPEN: AtomicBool = AtomicBool::new(false);

#[etl::asset(group_name = "scheduled")]
fn gated() {
    while !GATE_OPEN.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_schedule_fires_on_its_tick_and_skips_ticks_while_its_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = RunOptions::new(dir.path());
    options.home = Some(dir.path().join(".etl"));
    let clock = etl::ManualClock::new("2026-11-24T10:00:30Z".parse().unwrap());
    let schedules = [etl::Schedule::new("every_minute", "* * * * *").select("gated")];
    let mut daemon = Daemon::new(registered(), options.clone(), &schedules, std::sync::Arc::new(clock.clone())).unwrap();
    assert_eq!(daemon.next_tick(), Some("2026-11-24T10:01:00Z".parse().unwrap()));
    assert!(daemon.tick().is_empty(), "not due yet");

    clock.advance(chrono::Duration::seconds(30));
    let ticks = daemon.tick();
    assert_eq!(ticks.len(), 1);
    assert_eq!(ticks[0].status, TickStatus::Started);
    assert!(daemon.busy());

    clock.advance(chrono::Duration::seconds(60));
    let ticks = daemon.tick();
    assert_eq!(ticks[0].status, TickStatus::Skipped, "never a second run of a schedule at once");

    GATE_OPEN.store(true, Ordering::SeqCst);
    let finished = daemon.wait();
    assert_eq!(finished.len(), 1);
    assert!(finished[0].1.as_ref().unwrap().success());
    let recorded = etl::runtime::ticks(&options, "every_minute");
    assert_eq!(recorded.iter().map(|t| t.status).collect::<Vec<_>>(), [TickStatus::Started, TickStatus::Skipped]);
    let run = options.store().unwrap().record(recorded[0].run_id.as_deref().unwrap()).unwrap();
    assert_eq!(run.schedule.as_deref(), Some("every_minute"));

    let bad = [etl::Schedule::new("typo", "61 * * * *"), etl::Schedule::new("ghost", "@daily").select("missing")];
    let err = Daemon::new(registered(), options, &bad, std::sync::Arc::new(clock)).err().unwrap().to_string();
    assert!(err.contains("schedule `typo`: invalid cron expression `61 * * * *`: minute field"), "{err}");
    assert!(err.contains("schedule `ghost`: no asset `missing`"), "{err}");
}

#[etl::asset(group_name = "scheduled_pg")]
fn nightly_report() -> etl::MaterializeResult {
    etl::MaterializeResult::new().with("rows", etl::MetadataValue::Int(7))
}

#[test]
fn daemons_on_postgres_storage_queue_one_run_per_tick_for_the_workers() {
    let pg = etl_testkit::pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = |dir: &std::path::Path| {
        let mut options = RunOptions::new(dir);
        options.storage = Some(etl::RunStore::open(&url, dir, "test").unwrap());
        options
    };
    let clock = etl::ManualClock::new("2026-11-24T23:59:30Z".parse().unwrap());
    let schedules = [etl::Schedule::new("nightly", "0 0 * * *").select("nightly_report").tag("team", "finance")];
    // Two daemons on one storage, each with its own connection, as on two machines.
    let mut daemons: Vec<Daemon> =
        (0..2).map(|_| Daemon::new(registered(), options(dir.path()), &schedules, std::sync::Arc::new(clock.clone())).unwrap()).collect();
    assert!(daemons.iter().all(Daemon::queues_runs), "PostgreSQL storage: the daemon queues runs for the workers");
    clock.advance(chrono::Duration::seconds(30));
    let acted: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = daemons.iter_mut().map(|d| s.spawn(move || d.tick().len())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(acted.iter().sum::<usize>(), 1, "one of the two daemons acted on the tick: {acted:?}");
    assert!(daemons.iter_mut().all(|d| d.wait().is_empty()), "no run in the daemons' own processes");
    let store = etl::RunStore::open(&url, dir.path(), "test").unwrap();
    let queued = store.queue().unwrap().queued(10).unwrap();
    assert_eq!(queued.len(), 1, "one run queued for one tick");
    assert_eq!((queued[0].schedule.as_deref(), queued[0].tags.get("team").map(String::as_str)), (Some("nightly"), Some("finance")));

    // A worker (here in this process) claims and runs it.
    let launcher = etl::runtime::InProcessLauncher::new(registered());
    let worker_options = etl::runtime::WorkerOptions { drain: true, poll: std::time::Duration::from_millis(50), ..Default::default() };
    let report = etl::runtime::Worker::new(&launcher, options(dir.path()), worker_options).unwrap().run(&std::sync::atomic::AtomicBool::new(false));
    assert_eq!(report.runs, vec![(queued[0].run_id.clone(), true)]);
    // Read back through a second connection, as `runs` in another process would.
    let runs = store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].schedule.as_deref(), runs[0].status), (Some("nightly"), etl::RunStatus::Success));
    assert!(runs[0].worker.as_deref().is_some_and(|w| w.ends_with(&format!("/{}", std::process::id()))), "{:?}", runs[0].worker);
    let history = store.asset_history(&etl::AssetKey::new("nightly_report")).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].data["rows"], 7);
    let ticks = etl::runtime::ticks(&options(dir.path()), "nightly");
    assert_eq!(ticks.iter().map(|t| (t.status, t.run_id.clone())).collect::<Vec<_>>(), [(TickStatus::Started, Some(queued[0].run_id.clone()))]);
    assert!(!dir.path().join(".etl").exists(), "nothing recorded in the files");
}

// ---- the warehouse example, as a user runs it ------------------------------------------------

fn warehouse(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = std::process::Command::new(example_binary("warehouse"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("ETL_HOME")
        .current_dir(dir)
        .output()
        .expect("run warehouse");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn warehouse_runs_retries_and_keeps_its_history_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, list, _) = warehouse(dir.path(), &["list"], &[]);
    assert!(ok && list.contains("revenue_report") && list.contains("dlt_web_page_views"), "{list}");
    let (ok, dot, _) = warehouse(dir.path(), &["graph", "--format", "dot"], &[]);
    assert!(ok && dot.contains("\"exchange_rates\" -> \"revenue_report\";"), "{dot}");

    let (ok, out, err) = warehouse(dir.path(), &["materialize"], &[("WAREHOUSE_FLAKY", "2")]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("MATERIALIZED revenue_report") && out.contains("op exchange_rates took 3 attempts"), "{out}");
    let first_id = out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_owned();

    // A second run: the incremental resource finds nothing new.
    let (ok, out, err) = warehouse(dir.path(), &["materialize", "--select", "+revenue_report"], &[]);
    assert!(ok, "{out}\n{err}");

    // New processes read the history.
    let (ok, runs, _) = warehouse(dir.path(), &["runs"], &[]);
    assert!(ok && runs.lines().count() == 3 && runs.contains(&first_id) && runs.contains("SUCCESS"), "{runs}");
    let (ok, run, _) = warehouse(dir.path(), &["run", &first_id[..20]], &[]);
    assert!(ok, "{run}");
    assert_eq!(run.matches("STEP_RETRY").count(), 2, "{run}");
    assert!(run.contains("MATERIALIZATION  dlt_shop_orders  rows_loaded=12"), "{run}");
    assert!(run.contains("revenue_report  4 customers"), "log lines of the asset are kept: {run}");
    assert!(run.contains("LOG INFO") && run.contains("resource extracted and normalized"), "tracing events inside the run's spans are kept: {run}");
    let (ok, asset, _) = warehouse(dir.path(), &["asset", "dlt_web_page_views"], &[]);
    assert!(ok && asset.contains("2 materializations"), "{asset}");
    assert!(asset.contains("rows_loaded 20") && asset.contains("rows_loaded 0"), "{asset}");
    assert!(asset.contains("schema: 6 columns: id bigint"), "{asset}");
}

#[test]
fn warehouse_failure_then_from_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = warehouse(dir.path(), &["materialize", "--select", "exchange_rates+"], &[("WAREHOUSE_FLAKY", "9")]);
    assert!(!ok);
    assert!(out.contains("FAILED exchange_rates: rates API answered 503 (attempt 4)"), "{out}");
    assert!(out.contains("SKIPPED revenue_report: upstream exchange_rates did not materialize"), "{out}");
    assert!(err.contains("re-execute with `materialize --from-failure"), "{err}");
    let id = out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_owned();
    // The report needs the loads: run them, then resume the failed run.
    let (ok, out, err) = warehouse(dir.path(), &["materialize", "--select", "group:shop,group:web"], &[]);
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = warehouse(dir.path(), &["materialize", "--from-failure", &id], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("MATERIALIZED exchange_rates") && out.contains("MATERIALIZED revenue_report"), "{out}");
    let (_, runs, _) = warehouse(dir.path(), &["runs"], &[]);
    assert!(runs.contains(&format!("(from failure of {id})")), "{runs}");
}

#[test]
fn warehouse_daemon_fires_its_schedule_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(example_binary("warehouse"))
        .args(["daemon"])
        .env("WAREHOUSE_CRON", "*/1 * * * * *")
        .env_remove("ETL_HOME")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let store = etl::RunStore::at(dir.path().join(".etl"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.runs(10).unwrap().iter().all(|r| r.status != etl::RunStatus::Success) {
        assert!(Instant::now() < deadline, "no scheduled run succeeded within a minute");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("schedule refresh: `*/1 * * * * *` (UTC) selects `*`") && stdout.contains("daemon stopped after"), "{stdout}");
    let runs = store.runs(100).unwrap();
    assert!(runs.iter().all(|r| r.status != etl::RunStatus::Started), "no run left unfinished: {runs:?}");
    assert!(runs.iter().all(|r| r.schedule.as_deref() == Some("refresh")));
}

/// Both schedules of the warehouse write `warehouse.duckdb`; pools serialize the ops of one run
/// only, and a second run's load fails at once on the file's lock. So no tick may be shared.
#[test]
fn warehouse_schedules_never_start_together() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(example_binary("warehouse"))
        .args(["daemon"])
        .env_remove("WAREHOUSE_CRON")
        .env_remove("ETL_HOME")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut crons = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.starts_with("daemon running") {
            break;
        }
        if let Some(rest) = line.strip_prefix("schedule ") {
            crons.push(rest.split('`').nth(1).unwrap().to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(crons.len(), 2, "{crons:?}");
    let start: chrono::DateTime<chrono::Utc> = "2026-11-23T00:00:00Z".parse().unwrap();
    let ticks = |cron: &str| {
        let cron = etl::Cron::parse(cron).unwrap();
        let mut out = std::collections::BTreeSet::new();
        let mut t = start;
        while let Some(next) = cron.next_after(t).filter(|n| *n < start + chrono::Duration::days(8)) {
            out.insert(next);
            t = next;
        }
        out
    };
    let (a, b) = (ticks(&crons[0]), ticks(&crons[1]));
    assert!(!a.is_empty() && !b.is_empty());
    assert!(a.is_disjoint(&b), "`{}` and `{}` start together at {:?}", crons[0], crons[1], a.intersection(&b).next());
}

#[test]
fn an_asset_function_can_be_called_directly_in_a_unit_test() {
    let dir = tempfile::tempdir().unwrap();
    let context = etl::AssetExecutionContext::for_test("flaky", Vec::new(), dir.path());
    assert_eq!((context.run_id(), context.attempt()), ("test", 1));
    let err = flaky(&context).err().expect("the first attempt fails");
    assert_eq!(err.to_string(), "503 on attempt 1");
}
