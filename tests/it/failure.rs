//! A run that fails leaves the destination exactly as it was, names the resource, and does not
//! block the next run.

use std::sync::atomic::{AtomicBool, Ordering};

use etl_tests::scalar;
use serde_json::json;

static FAIL: AtomicBool = AtomicBool::new(false);
static PANIC: AtomicBool = AtomicBool::new(false);

#[derive(Debug)]
struct Boom;
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom in the middle")
    }
}
impl std::error::Error for Boom {}

#[etl::source]
fn flaky_source() -> etl::Source {
    /// Yields two rows, then fails when `FAIL` is set.
    #[etl::resource]
    fn rows() -> Vec<Result<serde_json::Value, Boom>> {
        let mut out = vec![Ok(json!({"id": 1, "nested": [1, 2]})), Ok(json!({"id": 2, "extra": "x"}))];
        if FAIL.load(Ordering::SeqCst) {
            out.push(Err(Boom));
        }
        if PANIC.load(Ordering::SeqCst) {
            panic!("resource exploded");
        }
        out.push(Ok(json!({"id": 3})));
        out
    }
    rows()
}

#[etl::assets(dlt_source = flaky_source(), dlt_pipeline = etl::pipeline("flaky_pipeline").dataset_name("flaky"))]
fn flaky_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

const KEY: &str = "dlt_flaky_source_rows";

fn snapshot(run: &etl::testing::TestRun) -> Vec<serde_json::Value> {
    let db = run.database("flaky_pipeline");
    vec![
        scalar(&db, "SELECT count(*) FROM flaky.rows"),
        scalar(&db, "SELECT count(*) FROM flaky.rows__nested"),
        scalar(&db, "SELECT count(*) FROM flaky._dlt_loads"),
        scalar(&db, "SELECT count(*) FROM flaky._dlt_pipeline_state"),
        scalar(&db, "SELECT count(*) FROM flaky._dlt_version"),
        scalar(&db, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'flaky'"),
    ]
}

// One test owns the flags: the steps must not interleave with another test of this source.
#[test]
fn failed_runs_change_nothing_and_never_block() {
    // First run fails after yielding rows: no file is left behind at all.
    FAIL.store(true, Ordering::SeqCst);
    let failed = etl::testing::materialize(KEY).run().unwrap();
    assert!(!failed.result().success());
    let (key, error) = failed.result().failures()[0];
    assert_eq!(key.to_string(), KEY);
    assert!(error.contains("extract") && error.contains("resource `rows`") && error.contains("boom in the middle"), "{error}");
    assert!(!failed.database("flaky_pipeline").exists(), "a failed first run leaves no DuckDB file");

    // A clean run in the same directory works.
    FAIL.store(false, Ordering::SeqCst);
    let ok = etl::testing::materialize(KEY).after(&failed).run().unwrap();
    assert!(ok.result().success(), "{:?}", ok.result().failures());
    let before = snapshot(&ok);
    assert_eq!(before[0], json!(3));

    // A failing second run (which would have added a column and rows) changes nothing.
    FAIL.store(true, Ordering::SeqCst);
    let failed_again = etl::testing::materialize(KEY).after(&ok).run().unwrap();
    assert!(!failed_again.result().success());
    assert_eq!(snapshot(&ok), before);

    // A panicking resource is reported and rolled back the same way.
    FAIL.store(false, Ordering::SeqCst);
    PANIC.store(true, Ordering::SeqCst);
    let panicked = etl::testing::materialize(KEY).after(&ok).run().unwrap();
    PANIC.store(false, Ordering::SeqCst);
    let (_, error) = panicked.result().failures()[0];
    assert!(error.contains("resource `rows`") && error.contains("resource exploded"), "{error}");
    assert_eq!(snapshot(&ok), before);

    // And the next clean run appends normally.
    let again = etl::testing::materialize(KEY).after(&ok).run().unwrap();
    assert!(again.result().success());
    let after = snapshot(&again);
    assert_eq!(after[0], json!(6));
    assert_eq!(after[2], json!(2));
}

/// SIGKILL at arbitrary points of many runs: the file always holds whole loads only (every load
/// id in the data has its `_dlt_loads` row and exactly N orders with 3 items each), and the next
/// run after a kill works.
#[test]
fn killed_runs_leave_whole_loads_only() {
    const N: u64 = 20_000;
    let bin = env!("CARGO_BIN_EXE_slow_load");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill_pipeline.duckdb");
    let load = || std::process::Command::new(bin).arg(dir.path()).arg(N.to_string()).status().unwrap();
    assert!(load().success());
    // Time one run to spread the kills over it.
    let started = std::time::Instant::now();
    assert!(load().success());
    let run_ms = started.elapsed().as_millis().max(20) as u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for attempt in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = seed % (run_ms + run_ms / 2);
        let mut child = std::process::Command::new(bin).arg(dir.path()).arg(N.to_string()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let loads = scalar(&db, "SELECT count(*) FROM kill._dlt_loads").as_i64().unwrap();
        let orders = scalar(&db, "SELECT count(*) FROM kill.orders").as_i64().unwrap();
        let items = scalar(&db, "SELECT count(*) FROM kill.orders__items").as_i64().unwrap();
        let load_ids = scalar(&db, "SELECT count(DISTINCT _dlt_load_id) FROM kill.orders").as_i64().unwrap();
        let orphans = scalar(&db, "SELECT count(*) FROM kill.orders WHERE _dlt_load_id NOT IN (SELECT load_id FROM kill._dlt_loads)").as_i64().unwrap();
        assert_eq!(orders, loads * N as i64, "attempt {attempt} (kill after {delay} ms): partial load");
        assert_eq!(items, orders * 3, "attempt {attempt}: nested rows without their parents");
        assert_eq!(load_ids, loads, "attempt {attempt}");
        assert_eq!(orphans, 0, "attempt {attempt}: rows without a _dlt_loads row");
    }
    let before = scalar(&db, "SELECT count(*) FROM kill._dlt_loads").as_i64().unwrap();
    assert!(load().success(), "a run after kills works");
    assert_eq!(scalar(&db, "SELECT count(*) FROM kill.orders").as_i64().unwrap(), (before + 1) * N as i64);
    // Killed runs' pulled items became pending packages (never loaded silently); none of them
    // belongs to a load that committed.
    let p = etl::pipeline("kill_pipeline").dataset_name("kill").working_dir(dir.path());
    for pkg in p.pending_packages() {
        let committed = scalar(&db, &format!("SELECT count(*) FROM kill._dlt_loads WHERE load_id = '{}'", pkg.load_id));
        assert_eq!(committed, json!(0), "pending package {} belongs to a committed load", pkg.load_id);
    }
    p.drop_pending();
    assert!(p.pending_packages().is_empty());
}

/// A second run of the same pipeline while one is running fails at once and names the holder;
/// after the holder exits (even by SIGKILL) the next run takes the lock over.
#[test]
fn concurrent_runs_fail_fast_naming_the_holder() {
    let bin = env!("CARGO_BIN_EXE_slow_load");
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("kill_pipeline.duckdb.lock");
    let mut child = std::process::Command::new(bin).arg(dir.path()).arg("300000").spawn().unwrap();
    let pid = child.id();
    // Wait until the child holds the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(&lock).unwrap_or_default().contains(&format!("pid {pid}")) {
        assert!(std::time::Instant::now() < deadline, "child never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let p = etl::pipeline("kill_pipeline").dataset_name("kill").working_dir(dir.path());
    let err = p.run(etl::Resource::from_data("orders", vec![serde_json::json!({"id": 1})])).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("already running") && text.contains(&format!("pid {pid}")) && text.contains("since"), "{text}");
    // Kill the holder: its lock goes with it, and the next run works.
    let _ = child.kill();
    let _ = child.wait();
    p.run(etl::Resource::from_data("orders", vec![serde_json::json!({"id": 1, "customer": "x"})])).unwrap();
}

/// The rule for items pulled by a run that failed in normalize or load: kept on disk as a pending
/// package, reported, never loaded silently, never blocking; loaded on request in its own load,
/// or discarded on request.
#[test]
fn items_of_a_failed_load_are_kept_and_loaded_or_dropped_on_request() {
    use etl::{ContractMode, Resource, SchemaContract};
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("keep_pipeline").dataset_name("keep").working_dir(dir.path());
    let db = p.database_path();
    p.run(Resource::from_data("events", vec![json!({"id": 1})])).unwrap();

    // A run rejected in normalize (a run-level freeze contract): the items of a resource that
    // cannot be pulled again are kept.
    let strict = p.clone().schema_contract(SchemaContract::all(ContractMode::Freeze));
    let once = |items: Vec<serde_json::Value>| Resource::from_data("events", items).replayable(false);
    let err = strict.run(once(vec![json!({"id": 2, "extra": "x"}), json!({"id": 3})])).unwrap_err();
    assert!(err.to_string().contains("pending package"), "{err}");
    assert_eq!(p.pending_packages().len(), 1);
    assert_eq!(scalar(&db, "SELECT count(*) FROM keep.events"), json!(1), "nothing of the failed run is loaded");

    // New runs are not blocked and do not load the package silently.
    p.run(Resource::from_data("events", vec![json!({"id": 4})])).unwrap();
    assert_eq!(scalar(&db, "SELECT count(*) FROM keep.events"), json!(2));
    assert_eq!(p.pending_packages().len(), 1);
    assert!(p.info().unwrap().pending.iter().any(|x| x.contains("pending package")));

    // Loading on request: its own load id, with the resource's own hints (no run-level contract).
    let results = p.load_pending();
    assert_eq!(results.len(), 1);
    assert!(results[0].1.is_ok(), "{:?}", results[0].1.as_ref().err().map(ToString::to_string));
    // The failed run stopped at its first item (the one it rejected): that is all it pulled.
    assert_eq!(scalar(&db, "SELECT count(*) FROM keep.events"), json!(3));
    assert_eq!(scalar(&db, "SELECT count(*) FROM keep.events WHERE id = 2 AND extra = 'x'"), json!(1));
    assert_eq!(scalar(&db, "SELECT count(DISTINCT _dlt_load_id) FROM keep.events"), json!(3));
    assert!(p.pending_packages().is_empty());

    // A package that fails again is kept; dropping discards it.
    let err = strict.run(once(vec![json!({"id": 5, "other": 1})])).unwrap_err();
    assert!(err.to_string().contains("pending package"));
    let kept = p.clone().schema_contract(SchemaContract::all(ContractMode::Freeze));
    assert!(kept.load_pending()[0].1.is_err());
    assert_eq!(p.pending_packages().len(), 1);
    assert_eq!(p.drop_pending(), 1);
    assert!(p.pending_packages().is_empty());

    // A resource that fails itself is run again next time: nothing is kept.
    let failing = Resource::new(etl::ResourceHints::new("events"), || {
        Ok(Box::new(vec![Ok(etl::Value::from(json!({"id": 9}))), Err("api down".into())].into_iter()) as etl::core::Items)
    });
    assert_eq!(p.run(failing).unwrap_err().step, etl::Step::Extract);
    assert!(p.pending_packages().is_empty());
}
