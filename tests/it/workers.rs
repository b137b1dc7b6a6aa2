//! The run queue and workers, as processes on one instance storage (PostgreSQL from
//! `etl-testkit`, and the embedded files where a test says so): `submit` queues, `worker`
//! claims and executes; each run exactly once across 3 workers; a worker killed with SIGKILL
//! mid-run has its run retried on another worker with no row loaded twice; a pool of 2 holds
//! across 3 workers; two daemons queue one run per tick; workers ride out a restart of the
//! storage's server; SIGTERM lets a worker finish its run; a bad storage URL is one clear error.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use etl_testkit::pg_or_skip;

use crate::pools::{command, dir_with_config, finish, most_at_once, spans, text};

fn marked() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_marked"))
}

fn submit(exe: &Path, dir: &Path, storage: Option<&str>, args: &[&str]) -> String {
    let mut all = vec!["submit"];
    all.extend_from_slice(args);
    let out = command(exe, dir, storage, &all).output().unwrap();
    assert!(out.status.success(), "submit:\n{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!id.is_empty() && !id.contains(char::is_whitespace), "submit prints the run id: {id:?}");
    id
}

fn workers(exe: &Path, dir: &Path, storage: Option<&str>, n: usize, extra: &[&str], env: &[(&str, &str)]) -> Vec<Child> {
    (0..n)
        .map(|_| {
            let mut args = vec!["worker", "--poll-ms", "100"];
            args.extend_from_slice(extra);
            command(exe, dir, storage, &args).envs(env.iter().copied()).spawn().unwrap()
        })
        .collect()
}

/// The run ids in `spans.txt`, with how often each started.
fn starts_per_run(dir: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(dir.join("spans.txt")).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("start ")) {
        *counts.entry(line.split(' ').nth(3).expect("run id").to_owned()).or_insert(0) += 1;
    }
    counts
}

fn store(url: &str, dir: &Path) -> etl::RunStore {
    etl::RunStore::open(url, dir, "test").unwrap()
}

fn each_queued_run_is_executed_once_by_three_workers(storage: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let submitted: Vec<String> = (0..60).map(|_| submit(marked(), dir.path(), storage, &["--select", "marked"])).collect();
    let queue = text(&command(marked(), dir.path(), storage, &["queue"]).output().unwrap());
    assert_eq!(queue.matches("QUEUED").count(), 60, "{queue}");
    let children = workers(marked(), dir.path(), storage, 3, &["--drain"], &[("MARKED_SLEEP_MS", "20")]);
    let mut executed_by = Vec::new();
    for child in children {
        let out = finish(child, Duration::from_secs(180), "worker");
        assert!(out.status.success(), "worker:\n{}", text(&out));
        executed_by.push(text(&out));
    }
    let starts = starts_per_run(dir.path());
    let expected: BTreeMap<String, usize> = submitted.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(starts, expected, "every submitted run ran, once");
    let runs = text(&command(marked(), dir.path(), storage, &["runs", "--limit", "100"]).output().unwrap());
    assert_eq!(runs.matches("SUCCESS").count(), 60, "{runs}");
    let busy = executed_by.iter().filter(|o| !o.contains("after 0 run(s)")).count();
    assert!(busy >= 2, "the runs were shared among the workers: {executed_by:?}");
}

#[test]
fn three_workers_execute_sixty_queued_runs_exactly_once_on_postgres() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    each_queued_run_is_executed_once_by_three_workers(Some(&url));
}

#[test]
fn three_workers_execute_sixty_queued_runs_exactly_once_on_files() {
    each_queued_run_is_executed_once_by_three_workers(None);
}

fn a_killed_workers_run_finishes_on_another_without_duplicates(storage: Option<&str>) {
    let dir = dir_with_config("[run_retries]\nmax_retries = 2\n");
    let exe = Path::new(env!("CARGO_BIN_EXE_queued_load"));
    let run_id = submit(exe, dir.path(), storage, &["--select", "*"]);
    let env = [("NUMBERS_ROWS", "1000"), ("NUMBERS_SLEEP_MS", "400")];
    let mut first = workers(exe, dir.path(), storage, 1, &["--lease-secs", "2"], &env).remove(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(dir.path().join("loading.txt")).unwrap_or_default().contains(&format!("extracting {}", first.id())) {
        assert!(Instant::now() < deadline, "the first worker never started the run");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    let _ = first.wait();
    // Another worker reaps the lost run once its lease ran out, and runs its retry.
    let second = workers(exe, dir.path(), storage, 1, &["--lease-secs", "2", "--drain"], &[("NUMBERS_ROWS", "1000")]).remove(0);
    let out = finish(second, Duration::from_secs(120), "second worker");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 lost run(s) reaped, 1 retried"), "{}", text(&out));
    let db = dir.path().join("numbers.duckdb");
    let counts = etl::testing::query_file(&db, "SELECT count(*), count(DISTINCT id) FROM numbers.numbers.numbers").unwrap();
    assert_eq!((counts[0][0].as_i64(), counts[0][1].as_i64()), (Some(1000), Some(1000)), "every row once");
    let shown = text(&command(exe, dir.path(), storage, &["run", &run_id]).output().unwrap());
    assert!(shown.contains("FAILURE") && shown.contains("was lost: the run's lease ran out; retried as run"), "{shown}");
    let runs = text(&command(exe, dir.path(), storage, &["runs"]).output().unwrap());
    assert!(runs.contains("SUCCESS") && runs.contains(&format!("from failure of {run_id}")), "{runs}");
}

#[test]
fn a_killed_workers_run_is_retried_on_another_worker_on_postgres() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    a_killed_workers_run_finishes_on_another_without_duplicates(Some(&url));
}

#[test]
fn a_killed_workers_run_is_retried_on_another_worker_on_files() {
    a_killed_workers_run_finishes_on_another_without_duplicates(None);
}

#[test]
fn a_pool_of_two_is_never_exceeded_by_three_workers() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = dir_with_config("[pools]\nshared = 2\n");
    let exe = Path::new(env!("CARGO_BIN_EXE_pooled"));
    for _ in 0..6 {
        submit(exe, dir.path(), Some(&url), &[]);
    }
    for child in workers(exe, dir.path(), Some(&url), 3, &["--drain"], &[("POOLED_SLEEP_MS", "700")]) {
        let out = finish(child, Duration::from_secs(120), "worker");
        assert!(out.status.success(), "{}", text(&out));
    }
    let spans = spans(dir.path());
    assert_eq!(spans.len(), 6, "{spans:?}");
    assert_eq!(most_at_once(&spans), 2, "two at once, never three: {spans:?}");
}

#[test]
fn two_daemons_queue_one_run_per_tick() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let daemons: Vec<Child> =
        (0..2).map(|_| command(marked(), dir.path(), Some(&url), &["daemon"]).env("MARKED_CRON", "* * * * * *").spawn().unwrap()).collect();
    std::thread::sleep(Duration::from_millis(4500));
    for d in &daemons {
        Command::new("kill").args(["-TERM", &d.id().to_string()]).status().unwrap();
    }
    for d in daemons {
        let out = finish(d, Duration::from_secs(30), "daemon");
        assert!(out.status.success(), "{}", text(&out));
    }
    let store = store(&url, dir.path());
    let queued = store.queue().unwrap().queued(100).unwrap();
    let ticks = etl::runtime::ticks(&etl::runtime::RunOptions { storage: Some(store.clone()), ..etl::runtime::RunOptions::new(dir.path()) }, "marked_often");
    let started: Vec<_> = ticks.iter().filter(|t| t.status == etl::runtime::TickStatus::Started).collect();
    assert!(ticks.len() >= 3, "a tick a second for 4.5 s: {ticks:?}");
    // No worker runs them: the first tick's run stays queued and later ticks are skipped.
    assert_eq!(started.len(), 1, "{ticks:?}");
    assert_eq!(queued.len(), started.len(), "one run per tick, however many daemons: {queued:?} {ticks:?}");
    let mut times: Vec<_> = ticks.iter().map(|t| t.tick).collect();
    times.dedup();
    assert_eq!(times.len(), ticks.len(), "no tick twice");
    assert!(queued.iter().all(|r| r.schedule.as_deref() == Some("marked_often")));
}

#[test]
fn workers_ride_out_a_restart_of_the_storage_server() {
    let mut pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let submitted: Vec<String> = (0..16).map(|_| submit(marked(), dir.path(), Some(&url), &[])).collect();
    let children = workers(marked(), dir.path(), Some(&url), 2, &["--drain", "--lease-secs", "10"], &[("MARKED_SLEEP_MS", "250")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while starts_per_run(dir.path()).len() < 4 {
        assert!(Instant::now() < deadline, "the workers never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    pg.restart().unwrap();
    for child in children {
        let out = finish(child, Duration::from_secs(180), "worker");
        assert!(out.status.success(), "a worker survives the restart:\n{}", text(&out));
    }
    let starts = starts_per_run(dir.path());
    for id in &submitted {
        assert!(starts.contains_key(id), "run {id} was run: {starts:?}");
    }
    let runs = store(&url, dir.path()).runs(100).unwrap();
    assert_eq!(runs.len(), submitted.len(), "no run lost or made up: {runs:?}");
    assert!(runs.iter().all(|r| r.status != etl::RunStatus::Queued && r.status != etl::RunStatus::Started), "every run ended: {runs:?}");
}

#[test]
fn sigterm_lets_a_worker_finish_its_run_and_claim_no_more() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = submit(marked(), dir.path(), Some(&url), &["--tag", "team=finance"]);
    let second = submit(marked(), dir.path(), Some(&url), &[]);
    let worker = workers(marked(), dir.path(), Some(&url), 1, &[], &[("MARKED_SLEEP_MS", "1500")]).remove(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !starts_per_run(dir.path()).contains_key(&first) {
        assert!(Instant::now() < deadline, "the worker never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    let out = finish(worker, Duration::from_secs(60), "worker");
    assert!(out.status.success() && text(&out).contains("worker stopped after 1 run(s), 0 failed"), "{}", text(&out));
    let store = store(&url, dir.path());
    let done = store.record(&first).unwrap();
    assert_eq!(done.status, etl::RunStatus::Success);
    assert_eq!(done.tags.get("team").map(String::as_str), Some("finance"));
    assert_eq!(store.record(&second).unwrap().status, etl::RunStatus::Queued, "the second run waits for another worker");
}

#[test]
fn a_bad_storage_url_is_one_clear_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["worker", "--drain"][..], &["submit"][..], &["queue"][..]] {
        let out = command(marked(), dir.path(), Some("postgresql://etl:s3cret@127.0.0.1:1/instance?connect_timeout=2"), args).output().unwrap();
        let shown = text(&out);
        assert!(!out.status.success(), "{args:?}: {shown}");
        assert!(shown.contains("127.0.0.1") && shown.contains("connecting"), "{args:?} names the host and what failed: {shown}");
        assert!(!shown.contains("s3cret"), "{args:?} never prints the password: {shown}");
    }
}

/// (run id, start µs, end µs) of each `marked` op in `dir`.
fn spans_by_run(dir: &Path) -> BTreeMap<String, (u128, u128)> {
    let text = std::fs::read_to_string(dir.join("spans.txt")).unwrap_or_default();
    let mut out: BTreeMap<String, (u128, u128)> = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let at: u128 = parts[2].parse().unwrap();
        let span = out.entry(parts[3].to_owned()).or_insert((0, 0));
        if parts[0] == "start" {
            span.0 = at;
        } else {
            span.1 = at;
        }
    }
    out
}

#[test]
fn a_run_whose_tag_limit_is_full_waits_in_the_queue_not_in_a_worker() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = dir_with_config("[instance]\ntag_concurrency_limits = [{ key = \"db\", value = \"wh\", limit = 1 }]\n");
    let limited: Vec<String> = (0..3).map(|_| submit(marked(), dir.path(), Some(&url), &["--tag", "db=wh"])).collect();
    let free: Vec<String> = (0..2).map(|_| submit(marked(), dir.path(), Some(&url), &[])).collect();
    for child in workers(marked(), dir.path(), Some(&url), 2, &["--drain"], &[("MARKED_SLEEP_MS", "800")]) {
        let out = finish(child, Duration::from_secs(120), "worker");
        assert!(out.status.success(), "{}", text(&out));
    }
    let spans = spans_by_run(dir.path());
    assert_eq!(spans.len(), 5, "{spans:?}");
    let limited_spans: Vec<(u32, u128, u128)> = limited.iter().map(|id| (0, spans[id].0, spans[id].1)).collect();
    assert_eq!(most_at_once(&limited_spans), 1, "one db=wh run at a time: {spans:?}");
    let last_limited_start = limited.iter().map(|id| spans[id].0).max().unwrap();
    for id in &free {
        assert!(spans[id].0 < last_limited_start, "run {id} went ahead of the db=wh runs waiting in the queue: {spans:?}");
    }
}
