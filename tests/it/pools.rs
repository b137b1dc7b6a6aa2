//! Pools across processes, on both instance storages (the embedded files, and PostgreSQL from
//! `etl-testkit`): two `materialize` of the warehouse example writing one DuckDB file at once
//! both succeed; a pool of limit 2 (`[pools]`) is never held by more than 2 of 3 processes, as
//! the ops' own start and end times show; a process killed holding a pool does not block the
//! next one.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use etl_testkit::pg_or_skip;
use etl_tests::example_binary;

/// A command in `dir` on the files storage (`storage` `None`) or on a PostgreSQL URL.
pub(crate) fn command(exe: &Path, dir: &Path, storage: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args).current_dir(dir).env_remove("ETL_HOME").env_remove("ETL_STORAGE").stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(url) = storage {
        cmd.env("ETL_STORAGE", url);
    }
    cmd
}

/// A temporary working directory whose `.etl/config.toml` is `config`.
pub(crate) fn dir_with_config(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
    std::fs::write(dir.path().join(".etl/config.toml"), config).unwrap();
    dir
}

/// Waits for a child, killing it after `limit` (a pool that never frees must fail, not hang).
pub(crate) fn finish(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{what} still running after {limit:?}:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

pub(crate) fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn overlapping_warehouse_runs_both_succeed(storage: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let exe = example_binary("warehouse");
    // The two schedules' selections, started at once.
    let all = command(&exe, dir.path(), storage, &["materialize", "--select", "*"]).spawn().unwrap();
    let report = command(&exe, dir.path(), storage, &["materialize", "--select", "+revenue_report"]).spawn().unwrap();
    for (child, what) in [(all, "materialize *"), (report, "materialize +revenue_report")] {
        let out = finish(child, Duration::from_secs(120), what);
        assert!(out.status.success(), "{what}:\n{}", text(&out));
    }
    let runs = text(&command(&exe, dir.path(), storage, &["runs"]).output().unwrap());
    assert_eq!(runs.matches("SUCCESS").count(), 2, "two successful runs:\n{runs}");
}

#[test]
fn two_warehouse_runs_at_once_share_the_duckdb_file_on_files_storage() {
    overlapping_warehouse_runs_both_succeed(None);
}

#[test]
fn two_warehouse_runs_at_once_share_the_duckdb_file_on_postgres_storage() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    overlapping_warehouse_runs_both_succeed(Some(&url));
}

/// (pid, start µs, end µs) of each `pooled` op that ran in `dir`.
pub(crate) fn spans(dir: &Path) -> Vec<(u32, u128, u128)> {
    let text = std::fs::read_to_string(dir.join("spans.txt")).unwrap_or_default();
    let mut starts = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let (pid, at): (u32, u128) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
        match parts[0] {
            "start" => {
                starts.insert(pid, at);
            }
            _ => out.push((pid, starts[&pid], at)),
        }
    }
    out
}

/// The most spans open at one moment.
pub(crate) fn most_at_once(spans: &[(u32, u128, u128)]) -> usize {
    // Ends sort before starts at the same instant: touching spans do not overlap.
    let mut edges: Vec<(u128, i32)> = spans.iter().flat_map(|&(_, s, e)| [(s, 1), (e, -1)]).collect();
    edges.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        open += d;
        most = most.max(open);
    }
    most as usize
}

fn a_pool_of_two_is_never_exceeded_by_three_processes(storage: Option<&str>) {
    let dir = dir_with_config("[pools]\nshared = 2\n");
    let exe = Path::new(env!("CARGO_BIN_EXE_pooled"));
    let children: Vec<Child> =
        (0..3).map(|_| command(exe, dir.path(), storage, &["materialize", "--select", "*"]).env("POOLED_SLEEP_MS", "1500").spawn().unwrap()).collect();
    for child in children {
        let out = finish(child, Duration::from_secs(60), "pooled");
        assert!(out.status.success(), "pooled:\n{}", text(&out));
    }
    let spans = spans(dir.path());
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert_eq!(most_at_once(&spans), 2, "two at once, never three: {spans:?}");
}

#[test]
fn a_pool_of_two_holds_across_processes_on_files_storage() {
    a_pool_of_two_is_never_exceeded_by_three_processes(None);
}

#[test]
fn a_pool_of_two_holds_across_processes_on_postgres_storage() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    a_pool_of_two_is_never_exceeded_by_three_processes(Some(&url));
}

fn a_killed_holder_does_not_block_the_next_run(storage: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_pooled"));
    let mut holder = command(exe, dir.path(), storage, &["materialize", "--select", "*"]).env("POOLED_SLEEP_MS", "120000").spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(dir.path().join("spans.txt")).unwrap_or_default().contains("start") {
        assert!(Instant::now() < deadline, "the holder never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // While it holds the pool, another run waits.
    let waiting = command(exe, dir.path(), storage, &["materialize", "--select", "*"]).env("POOLED_SLEEP_MS", "10").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(std::fs::read_to_string(dir.path().join("spans.txt")).unwrap().matches("start").count(), 1, "the second run waits for the pool");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let out = finish(waiting, Duration::from_secs(30), "the run after the kill");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(spans(dir.path()).len(), 1, "the killed op never ended; the next one did");
}

#[test]
fn a_process_killed_holding_a_pool_does_not_block_the_next_on_files_storage() {
    a_killed_holder_does_not_block_the_next_run(None);
}

#[test]
fn a_process_killed_holding_a_pool_does_not_block_the_next_on_postgres_storage() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    a_killed_holder_does_not_block_the_next_run(Some(&url));
}
