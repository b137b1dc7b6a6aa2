//! Binaries loading into a real, throwaway PostgreSQL chosen by one environment variable: an
//! example's assets, SIGKILL at random moments of a load, and a server restart in the middle of
//! one. None of them leaves a partial load or blocks the next run.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use etl_testkit::pg_or_skip;

const CREDENTIALS: &str = "DESTINATION__POSTGRES__CREDENTIALS";

fn count(url: &str, sql: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.query_one(sql, &[]).unwrap().get(0)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn an_example_loads_into_postgres_with_one_variable() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(etl_tests::example_binary("two_resources")).args(args).env(CREDENTIALS, &url).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "two_resources {args:?}:\n{}", text(&out));
        out
    };
    let list = text(&run(&["list"]));
    assert!(list.contains("dlt,postgres"), "asset kinds name the destination: {list}");
    run(&["materialize", "--select", "*"]);
    assert!(!dir.path().join("two_resources_pipeline.duckdb").exists(), "nothing went to DuckDB");
    assert_eq!(count(&url, "SELECT count(*) FROM shop.users"), 2);
    assert_eq!(count(&url, "SELECT count(*) FROM shop.orders__items"), 6);
    let info = text(&run(&["info"]));
    assert!(info.contains("postgres") && info.contains("127.0.0.1") && info.contains("orders__items"), "{info}");
    assert!(!info.contains("password"), "{info}");
}

/// Loads `n` orders with 3 items each into `kill.orders` of the server (`slow_load`).
fn slow_load(url: &str, dir: &std::path::Path, n: u64) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slow_load"));
    cmd.arg(dir).arg(n.to_string()).env(CREDENTIALS, url);
    cmd
}

/// Every load id in the data has its `_dlt_loads` row and exactly `n` orders with 3 items each.
fn whole_loads_only(url: &str, n: i64, context: &str) -> i64 {
    let loads = count(url, "SELECT count(*) FROM kill._dlt_loads");
    assert_eq!(count(url, "SELECT count(*) FROM kill.orders"), loads * n, "{context}: partial load");
    assert_eq!(count(url, "SELECT count(*) FROM kill.orders__items"), loads * n * 3, "{context}: partial nested load");
    assert_eq!(count(url, "SELECT count(*) FROM kill.orders WHERE _dlt_load_id NOT IN (SELECT load_id FROM kill._dlt_loads)"), 0, "{context}");
    loads
}

#[test]
fn killed_postgres_runs_leave_whole_loads_only_and_never_block() {
    const N: u64 = 20_000;
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(slow_load(&url, dir.path(), N).status().unwrap().success());
    let started = Instant::now();
    assert!(slow_load(&url, dir.path(), N).status().unwrap().success());
    let run_ms = started.elapsed().as_millis().max(20) as u64;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for attempt in 0..10 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = seed % (run_ms + run_ms / 2);
        let mut child = slow_load(&url, dir.path(), N).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        whole_loads_only(&url, N as i64, &format!("attempt {attempt} (kill after {delay} ms)"));
    }
    // The killed runs' connections and their pipeline locks are gone: the next run works.
    let before = whole_loads_only(&url, N as i64, "after the kills");
    let out = slow_load(&url, dir.path(), N).output().unwrap();
    assert!(out.status.success(), "a run after kills: {}", text(&out));
    assert_eq!(whole_loads_only(&url, N as i64, "the run after"), before + 1);
}

#[test]
fn a_server_restart_mid_load_fails_the_run_clearly_and_leaves_nothing() {
    const N: u64 = 150_000;
    let mut pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(slow_load(&url, dir.path(), 10).status().unwrap().success());
    // The test server runs with synchronous_commit=off: make the first load survive the crash.
    postgres::Client::connect(&url, postgres::NoTls).unwrap().batch_execute("CHECKPOINT").unwrap();
    let child = slow_load(&url, dir.path(), N).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Wait until the load is writing (rows of the new load are in flight), then restart.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let busy = count(&pg.url(), "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %'");
        if busy > 0 || Instant::now() > until {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    pg.restart().unwrap();
    let out = child.wait_with_output().unwrap();
    let message = text(&out);
    if out.status.success() {
        // The load finished before the restart took it down: it must be whole.
        eprintln!("note: the load committed before the restart; checking it is whole");
    } else {
        assert!(message.contains("load failed") && message.contains("pipeline step `load` failed"), "{message}");
        assert!(message.contains("the connection to PostgreSQL was lost during"), "the error says the connection went: {message}");
    }
    let loads = count(&url, "SELECT count(*) FROM kill._dlt_loads");
    assert_eq!(count(&url, "SELECT count(*) FROM kill.orders"), 10 + (loads - 1) * N as i64, "whole loads only");
    let out = slow_load(&url, dir.path(), 10).output().unwrap();
    assert!(out.status.success(), "the next run works: {}", text(&out));
}

#[test]
fn the_run_history_can_live_on_postgres() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(etl_tests::example_binary("two_resources"));
        cmd.args(args).current_dir(dir.path()).env_remove("ETL_STORAGE").env_remove("ETL_HOME");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "two_resources {args:?}:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Recorded through --storage; the data still goes to DuckDB, nothing to the files.
    run(&["--storage", &url, "materialize", "--select", "*"], &[]);
    assert!(dir.path().join("two_resources_pipeline.duckdb").exists());
    assert!(!dir.path().join(".etl/runs").exists(), "the run history went to PostgreSQL, not to the files");
    assert_eq!(count(&url, "SELECT count(*) FROM etl_instance.runs WHERE status = 'success'"), 1);
    // Read through ETL_STORAGE.
    let runs = run(&["runs"], &[("ETL_STORAGE", &url)]);
    let run_id = runs.lines().nth(1).and_then(|l| l.split_whitespace().next()).unwrap_or_default().to_owned();
    assert!(runs.contains("SUCCESS") && run_id.len() > 20, "{runs}");
    let one = run(&["run", &run_id[..12]], &[("ETL_STORAGE", &url)]);
    assert!(one.contains(&format!("run {run_id} SUCCESS")) && one.contains("MATERIALIZATION  dlt_two_source_users  rows_loaded=2"), "{one}");
    assert!(one.contains("LOG INFO") && one.contains("STEP_SUCCESS"), "log lines and steps are stored too: {one}");
    // And through the config file: a second run, then the asset's history across both.
    std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
    std::fs::write(dir.path().join(".etl/config.toml"), format!("[instance]\nstorage = \"{url}\"\n")).unwrap();
    run(&["materialize", "--select", "dlt_two_source_users"], &[]);
    let asset = run(&["asset", "dlt_two_source_users"], &[]);
    assert!(asset.contains("2 materializations") && asset.contains(&run_id) && asset.contains("rows_loaded 2"), "{asset}");
    assert!(asset.contains("schema: 5 columns"), "{asset}");
    assert_eq!(run(&["runs"], &[]).lines().count(), 3, "a header and two runs");
    assert!(!dir.path().join(".etl/runs").exists());
    // `files` overrides the config: the files hold no run.
    assert!(run(&["--storage", "files", "runs"], &[]).contains("no runs recorded"));
    // An unknown storage is one clear error.
    let out = Command::new(etl_tests::example_binary("two_resources"))
        .args(["runs"])
        .env("ETL_STORAGE", "mysql://bob:hunter2@db/x")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = text(&out);
    assert!(!out.status.success() && err.contains("unknown instance storage `mysql://bob@db/x` (from ETL_STORAGE)") && !err.contains("hunter2"), "{err}");
}
