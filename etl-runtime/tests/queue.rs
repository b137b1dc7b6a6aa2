//! The run queue's contract, run against both storages (the embedded files in a temporary
//! directory, and PostgreSQL from `etl-testkit`: skipped loudly without one, a failure under
//! `CI=true`): concurrent claimers take each run once, oldest first; leases are renewed only by
//! their worker; a lost run is reaped once, failed, and retried in the same step; a handed-back
//! run is queued again; a tick is claimed once among concurrent daemons.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use etl_runtime::history::{RunStatus, RunStore};
use etl_runtime::queue::{queued_record, retry};
use etl_runtime::schedule::{Tick, TickStatus};

fn run(id: &str, retries: u32) -> etl_runtime::history::RunRecord {
    let mut r = queued_record(id, "*", vec!["a".into()]);
    r.tags.insert(retry::MAX_RETRIES_TAG.into(), retries.to_string());
    r
}

fn contract(open: impl Fn() -> RunStore + Sync) {
    let store = open();
    let queue = store.queue().unwrap();
    // Ids sort before any new run id (retries), oldest first.
    let ids: Vec<String> = (0..40).map(|i| format!("0-{i:03}")).collect();
    for id in &ids {
        queue.enqueue(&run(id, 1)).unwrap();
    }
    assert_eq!(store.record("0-000").unwrap().status, RunStatus::Queued, "a queued run is a run record");
    assert_eq!(queue.queued(5).unwrap().len(), 5);

    // Four claimers, each with its own handle (a connection, as another process has).
    let claimed: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let open = &open;
                s.spawn(move || {
                    let queue = open().queue().unwrap();
                    std::iter::from_fn(|| queue.claim(&format!("w{w}"), Duration::from_secs(60)).unwrap()).map(|r| r.run_id).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&String> = claimed.iter().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every run claimed: {claimed:?}");
    assert_eq!(distinct.len(), 40, "no run claimed twice: {claimed:?}");
    for mine in &claimed {
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "each claimer got them oldest first: {mine:?}");
    }
    assert!(queue.claim("late", Duration::from_secs(60)).unwrap().is_none(), "the queue is empty");
    assert_eq!(queue.claimed().unwrap().len(), 40);

    // Who claimed what (one claimer may have taken none, or all).
    let owned: Vec<(String, String)> =
        claimed.iter().enumerate().flat_map(|(w, ids)| ids.iter().map(move |id| (format!("w{w}"), id.clone()))).collect();

    // One run: renewed by its worker only; released.
    let (owner, first) = &owned[0];
    assert!(queue.renew(first, owner, Duration::from_secs(60)).unwrap());
    assert!(!queue.renew(first, "nobody", Duration::from_secs(60)).unwrap());
    queue.release(first, owner).unwrap();
    assert_eq!(queue.claimed().unwrap().len(), 39);

    // Five runs lose their lease: reaped once (by one of two reapers), failed, retried.
    let losing = &owned[1..6];
    for (owner, id) in losing {
        assert!(queue.renew(id, owner, Duration::ZERO).unwrap());
    }
    std::thread::sleep(Duration::from_millis(20));
    let reaped: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let open = &open;
                s.spawn(move || open().queue().unwrap().reap_expired(retry::retry_of).unwrap())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let lost: BTreeSet<String> = reaped.iter().map(|r| r.run.run_id.clone()).collect();
    assert_eq!(lost, losing.iter().map(|(_, id)| id.clone()).collect::<BTreeSet<_>>(), "each lost run reaped");
    assert_eq!(reaped.len(), losing.len(), "and by one reaper only");
    for r in &reaped {
        let owner = &losing.iter().find(|(_, id)| *id == r.run.run_id).expect("one of the losing runs").0;
        assert_eq!(store.record(&r.run.run_id).unwrap().status, RunStatus::Failure);
        let retry = r.retry.as_ref().expect("one retry allowed");
        assert_eq!(retry.parent_run_id.as_deref(), Some(r.run.run_id.as_str()));
        assert_eq!(store.record(&retry.run_id).unwrap().status, RunStatus::Queued, "queued with the reaping");
        assert!(!queue.renew(&r.run.run_id, owner, Duration::from_secs(60)).unwrap(), "a reaped run is no longer its worker's");
    }
    // A late finish of a reaped run does not undo its failure.
    let mut late = store.record(&losing[0].1).unwrap();
    late.status = RunStatus::Success;
    store.finish_record(&late).unwrap();
    assert_eq!(store.record(&losing[0].1).unwrap().status, RunStatus::Failure);
    // The retries are claimed next; a handed-back run is queued again.
    let retry = queue.claim("w2", Duration::from_secs(60)).unwrap().expect("a retry");
    assert!(retry.tags.contains_key(retry::RETRY_NUMBER_TAG));
    queue.hand_back(&retry.run_id, "w2").unwrap();
    assert_eq!(store.record(&retry.run_id).unwrap().status, RunStatus::Queued);
    let again: BTreeSet<String> = std::iter::from_fn(|| queue.claim("w3", Duration::from_secs(60)).unwrap()).map(|r| r.run_id).collect();
    assert!(again.contains(&retry.run_id) && again.len() == reaped.len(), "{again:?}");

    // Two daemons, one tick.
    let at = Utc::now();
    let won: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|d| {
                let open = &open;
                s.spawn(move || {
                    let tick = Tick { schedule: "nightly".into(), tick: at, status: TickStatus::Started, run_id: Some(format!("t{d}")), reason: None };
                    open().queue().unwrap().claim_tick(&tick, Some(&run(&format!("t{d}"), 0))).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let ticks = queue.ticks("nightly").unwrap();
    assert_eq!(ticks.len(), 1);
    assert_eq!(queue.queued(10).unwrap().iter().map(|r| r.run_id.clone()).collect::<Vec<_>>(), vec![ticks[0].run_id.clone().unwrap()]);
    assert_eq!(queue.last_started_tick("nightly").unwrap(), Some(ticks[0].clone()));
    let mut failed = ticks[0].clone();
    failed.status = TickStatus::Failed;
    queue.update_tick(&failed).unwrap();
    assert_eq!(queue.ticks("nightly").unwrap(), vec![failed]);

    // Stopping a schedule is seen by every handle.
    assert!(!queue.schedule_stopped("nightly").unwrap());
    queue.set_schedule_stopped("nightly", true).unwrap();
    assert!(open().queue().unwrap().schedule_stopped("nightly").unwrap());
    queue.set_schedule_stopped("nightly", false).unwrap();
    assert!(!open().queue().unwrap().schedule_stopped("nightly").unwrap());

    // The instance state: a key set new by exactly one of eight concurrent writers (a sensor's
    // run key), entries replaced and removed, namespaces apart.
    let firsts: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let open = &open;
                s.spawn(move || open().queue().unwrap().put_state_new("sensor_run_keys/s", "file@1", &serde_json::json!({"w": w})).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(firsts.iter().filter(|f| **f).count(), 1, "{firsts:?}");
    queue.put_state("partitions/a", &[("2024-01-01".into(), serde_json::json!("x")), ("2024-01-02".into(), serde_json::json!(1))]).unwrap();
    queue.put_state("partitions/a", &[("2024-01-01".into(), serde_json::json!({"status": "failed"}))]).unwrap();
    let state = open().queue().unwrap().state("partitions/a").unwrap();
    assert_eq!(state.len(), 2);
    assert_eq!(state["2024-01-01"], serde_json::json!({"status": "failed"}));
    queue.remove_state("partitions/a", "2024-01-02").unwrap();
    assert_eq!(queue.state("partitions/a").unwrap().len(), 1);
    assert!(queue.state("partitions/b").unwrap().is_empty());
    assert_eq!(queue.state("sensor_run_keys/s").unwrap().len(), 1);
}

#[test]
fn files_keep_the_queue_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(|| RunStore::at(dir.path()));
}

#[test]
fn postgres_keeps_the_queue_contract() {
    let pg = etl_testkit::pg_or_skip!();
    let url = pg.create_database().unwrap();
    contract(|| RunStore::open(&url, std::path::Path::new("."), "test").unwrap());
}
