//! The instance storage's contract, run against both implementations: the embedded files (in a
//! temporary directory) and PostgreSQL (a throwaway server from `etl-testkit`; skipped loudly
//! without one, a failure under `CI=true`). Also the PostgreSQL storage's own concerns:
//! migrations run twice and from two threads at once, and an unreachable server.

use chrono::{Duration, Utc};
use etl_runtime::asset::AssetKey;
use etl_runtime::history::{Event, EventKind, HistoryError, RunRecord, RunStatus, RunStore};
use etl_runtime::storage::RunFilter;
use serde_json::json;

fn record(id: &str, selection: &str, minutes_ago: i64) -> RunRecord {
    let mut r = RunRecord::new(id, selection, vec!["a/b".into(), "c".into()]);
    r.started_at = Utc::now() - Duration::minutes(minutes_ago);
    r
}

fn ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

/// What every storage does; `reopen` gives a second handle on the same storage (a new
/// connection, or the same directory read afresh).
fn contract(store: RunStore, reopen: impl Fn() -> RunStore) {
    assert!(store.runs(10).unwrap().is_empty());
    assert!(matches!(store.record("nope"), Err(HistoryError::NoRun(_))));

    // Run 1 fails after materializing `a/b`; run 2 re-executes it from a schedule.
    let first = "20260101T000000.000-aaaa";
    let log = store.start(record(first, "*", 10)).unwrap();
    log.emit(Event::new(first, EventKind::RunStart).message("run started").data(json!({"steps": ["op"]})));
    log.emit(Event::new(first, EventKind::StepStart).op("op"));
    log.emit(Event::new(first, EventKind::Materialization).op("op").asset(&AssetKey::from_path("a/b")).data(json!({"rows_loaded": 3})));
    log.emit(Event::new(first, EventKind::StepFailure).op("op2").message("boom"));
    log.finish(RunStatus::Failure).unwrap();

    let second = "20260102T000000.000-bbbb";
    let mut rec = record(second, "c", 5);
    rec.parent_run_id = Some(first.into());
    rec.schedule = Some("nightly".into());
    let started_at = rec.started_at;
    // Events come from the executor's tokio tasks: appending and reading inside a runtime
    // must work (rust-postgres's synchronous client alone would panic there).
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let log = store.start(rec).unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let log = log.clone();
                tokio::task::spawn(async move { log.emit(Event::new(second, EventKind::Log).message(format!("line {i}"))) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        log.emit(Event::new(second, EventKind::Materialization).asset(&AssetKey::from_path("a/b")).data(json!({"rows_loaded": 5})));
    });
    // Still started: a reader sees it as going.
    assert_eq!(runtime.block_on(async { store.record(second) }).unwrap().status, RunStatus::Started);
    log.finish(RunStatus::Success).unwrap();
    drop(runtime);

    let store = reopen();
    let runs = store.runs(10).unwrap();
    assert_eq!(ids(&runs), [second, first], "newest first");
    assert_eq!(ids(&store.runs(1).unwrap()), [second]);
    let r = &runs[0];
    assert_eq!((r.selection.as_str(), r.status, r.effective_status()), ("c", RunStatus::Success, RunStatus::Success));
    assert_eq!(r.assets, ["a/b", "c"]);
    assert_eq!((r.parent_run_id.as_deref(), r.schedule.as_deref()), (Some(first), Some("nightly")));
    assert_eq!(r.started_at.timestamp_micros(), started_at.timestamp_micros());
    assert!(r.ended_at.is_some_and(|e| e >= r.started_at));
    assert_eq!(r.pid, std::process::id());
    assert_eq!(store.record(first).unwrap().status, RunStatus::Failure);
    // Filters and pages.
    let page = |f: RunFilter| ids(&store.runs_where(&f).unwrap()).into_iter().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(page(RunFilter { status: Some(RunStatus::Failure), ..RunFilter::default() }), [first]);
    assert_eq!(page(RunFilter { asset: Some("c".into()), ..RunFilter::default() }), [second, first]);
    assert!(page(RunFilter { asset: Some("a".into()), ..RunFilter::default() }).is_empty(), "a prefix of a key is another asset");
    assert_eq!(page(RunFilter { limit: 1, ..RunFilter::default() }), [second]);
    assert_eq!(page(RunFilter { before: Some(second.into()), limit: 1, ..RunFilter::default() }), [first], "the next page");
    assert_eq!(page(RunFilter { since: Some(Utc::now() - Duration::minutes(7)), ..RunFilter::default() }), [second], "started 5 of 10 minutes ago");

    let events = store.events(first).unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::RunStart, EventKind::StepStart, EventKind::Materialization, EventKind::StepFailure]);
    assert_eq!((events[0].message.as_str(), &events[0].data), ("run started", &json!({"steps": ["op"]})));
    assert_eq!((events[2].op.as_deref(), events[2].asset.as_deref()), (Some("op"), Some("a/b")));
    assert_eq!(events[3].data, serde_json::Value::Null);
    assert!(events.iter().all(|e| e.run_id == first));
    let mut lines: Vec<String> = store.events(second).unwrap().iter().filter(|e| e.kind == EventKind::Log).map(|e| e.message.clone()).collect();
    lines.sort();
    assert_eq!(lines, ["line 0", "line 1", "line 2", "line 3"]);
    assert!(matches!(store.events("nope"), Err(HistoryError::NoRun(_))));

    let history = store.asset_history(&AssetKey::from_path("a/b")).unwrap();
    assert_eq!(history.iter().map(|e| (e.run_id.as_str(), e.data["rows_loaded"].as_i64())).collect::<Vec<_>>(), [
        (first, Some(3)),
        (second, Some(5))
    ]);
    assert!(store.asset_history(&AssetKey::from_path("c")).unwrap().is_empty());
    assert!(store.asset_history(&AssetKey::from_path("a")).unwrap().is_empty(), "a prefix of a key is another asset");
    let latest = store.latest_materializations(&[AssetKey::from_path("c"), AssetKey::from_path("a/b")]).unwrap();
    assert!(latest[0].is_none());
    assert_eq!(latest[1].as_ref().map(|e| (e.run_id.as_str(), e.data["rows_loaded"].as_i64())), Some((second, Some(5))), "the newest");
}

/// Resolving a run id from a prefix: byte order, the id itself first, `limit`, and a prefix's
/// LIKE metacharacters (`%`, `_`, `\`) taken literally.
fn prefix_lookup(store: &RunStore) {
    for id in ["r1", "r10", "r2", "p_1", "p%2", "pa3", "p\\4", "20260101T000000.000-aaaa", "20260101T000000.000-aaab"] {
        store.start(record(id, "*", 0)).unwrap().finish(RunStatus::Success).unwrap();
    }
    let find = |prefix: &str, limit: usize| store.run_ids_with_prefix(prefix, limit).unwrap();
    assert_eq!(find("r1", 2), ["r1", "r10"], "the id itself comes first");
    assert_eq!(find("r10", 2), ["r10"]);
    assert_eq!(find("r", 10), ["r1", "r10", "r2"]);
    assert_eq!(find("2026", 1), ["20260101T000000.000-aaaa"]);
    assert_eq!(find("20260101T000000.000-aaab", 2), ["20260101T000000.000-aaab"]);
    assert_eq!(find("p_", 10), ["p_1"], "`_` is no wildcard");
    assert_eq!(find("p%", 10), ["p%2"], "`%` is no wildcard");
    assert_eq!(find("p\\", 10), ["p\\4"]);
    assert_eq!(find("p", 2), ["p%2", "p\\4"], "byte order, at most `limit`");
    assert!(find("zz", 2).is_empty());
    assert!(find("R1", 2).is_empty(), "case matters");
}

#[test]
fn files_find_run_ids_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::at(dir.path());
    prefix_lookup(&store);
    // A directory without its record (a process killed while creating it) is no run.
    std::fs::create_dir_all(dir.path().join("runs/r3-half-made")).unwrap();
    assert!(store.run_ids_with_prefix("r3", 2).unwrap().is_empty());
}

#[test]
fn postgres_finds_run_ids_by_prefix() {
    let pg = etl_testkit::pg_or_skip!();
    let url = pg.create_database().unwrap();
    prefix_lookup(&RunStore::open(&url, std::path::Path::new("."), "test").unwrap());
}

#[test]
fn files_keep_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join(".etl");
    contract(RunStore::at(&home), || RunStore::at(&home));
    // `files:<dir>` names the same storage.
    let again = RunStore::open("files:.etl", dir.path(), "test").unwrap();
    assert_eq!(again.runs(10).unwrap().len(), 2);
}

#[test]
fn postgres_keeps_the_contract() {
    let pg = etl_testkit::pg_or_skip!();
    let url = pg.create_database().unwrap();
    let store = RunStore::open(&url, std::path::Path::new("."), "test").unwrap();
    assert!(store.describe().contains("127.0.0.1"), "{}", store.describe());
    contract(store, || RunStore::open(&url, std::path::Path::new("."), "test").unwrap());
}

#[test]
fn postgres_migrations_run_twice_and_at_once() {
    let pg = etl_testkit::pg_or_skip!();
    let url = pg.create_database().unwrap();
    // Two threads open the same fresh database at once (each its own connection): both wait
    // for the advisory lock, one creates the schema, the other finds it done.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || RunStore::open(&url, std::path::Path::new("."), "test").map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    // And once more, later.
    let store = RunStore::open(&url, std::path::Path::new("."), "test").unwrap();
    store.start(record("r1", "*", 0)).unwrap().finish(RunStatus::Success).unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions: Vec<i32> =
        client.query("SELECT version FROM etl_instance.schema_version ORDER BY version", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=etl_runtime::storage::postgres::LATEST_VERSION).collect::<Vec<_>>());
    // A schema from a newer binary is refused, naming both versions.
    client.execute("INSERT INTO etl_instance.schema_version (version) VALUES (999)", &[]).unwrap();
    let err = RunStore::open(&url, std::path::Path::new("."), "test").unwrap_err().to_string();
    assert!(err.contains("version 999") && err.contains("newer"), "{err}");
}

#[test]
fn an_unreachable_server_is_one_error_naming_the_host_and_never_the_password() {
    // Port 1 on the loopback: nothing listens, the connection is refused at once.
    let err = RunStore::open("postgresql://alice:s3cr3t-pw@127.0.0.1:1/instance", std::path::Path::new("."), "--storage")
        .unwrap_err()
        .to_string();
    assert!(err.contains("host=127.0.0.1") && err.contains("port=1") && err.contains("user=alice"), "{err}");
    assert!(err.contains("connecting") && err.to_lowercase().contains("refused"), "{err}");
    assert!(!err.contains("s3cr3t-pw"), "{err}");
}

#[test]
fn an_unknown_storage_is_an_error_that_says_what_is_accepted() {
    let err = RunStore::open("mysql://bob:hunter2@db/x", std::path::Path::new("."), "ETL_STORAGE").unwrap_err().to_string();
    assert!(err.contains("mysql://bob@db/x") && err.contains("ETL_STORAGE") && err.contains("postgresql://"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn postgres_storage_connects_again_after_a_server_restart() {
    let mut pg = etl_testkit::pg_or_skip!();
    let url = pg.create_database().unwrap();
    let store = RunStore::open(&url, std::path::Path::new("."), "test").unwrap();
    store.start(record("r1", "*", 1)).unwrap().finish(RunStatus::Success).unwrap();
    // The throwaway server runs with `synchronous_commit=off`: what committed just now is made
    // durable before the crash-like restart.
    postgres::Client::connect(&url, postgres::NoTls).unwrap().batch_execute("CHECKPOINT").unwrap();
    pg.restart().unwrap();
    // The first request after the restart finds the connection closed, connects again and
    // runs once more; a whole run then goes through the new connection.
    assert_eq!(ids(&store.runs(10).unwrap()), ["r1"]);
    let log = store.start(record("r2", "*", 0)).unwrap();
    log.emit(Event::new("r2", EventKind::RunStart));
    log.finish(RunStatus::Success).unwrap();
    assert_eq!(store.events("r2").unwrap().len(), 1);
    assert_eq!(ids(&store.runs(10).unwrap()), ["r2", "r1"]);
}

/// Advisory locks are re-entrant on one connection, and every run of a process shares the
/// storage's pool connection: a slot held by one run must still be refused to another run of
/// the same process, and be free again once released; another process sees it taken too.
#[test]
fn a_postgres_pool_slot_is_held_once_per_process_and_across_processes() {
    let pg = etl_testkit::pg_or_skip!();
    let url = pg.create_database().unwrap();
    let store = RunStore::open(&url, std::path::Path::new("."), "test").unwrap();
    let slots = store.pool_slots().unwrap();
    let held = slots.try_slot("shared", 0).unwrap().expect("a free slot");
    assert!(slots.try_slot("shared", 0).unwrap().is_none(), "the same process, another run: taken");
    assert!(slots.try_slot("shared", 1).unwrap().is_some(), "another slot of the pool is free");
    let other = RunStore::open(&url, std::path::Path::new("."), "test").unwrap().pool_slots().unwrap();
    // Another storage handle: its own connection, as another process would have.
    assert!(other.try_slot("shared", 0).unwrap().is_none(), "another process: taken");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let locks: i64 = client.query_one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted", &[]).unwrap().get(0);
    assert!(locks >= 1, "the slot is a server-side lock");
    drop(held);
    // The unlock is sent to the slots' thread on drop, not waited for: another process sees the
    // slot free a moment later.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut again = other.try_slot("shared", 0).unwrap();
    while again.is_none() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
        again = other.try_slot("shared", 0).unwrap();
    }
    assert!(again.is_some(), "released on drop, for every process");
}
