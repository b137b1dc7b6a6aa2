//! Dagster's `max_concurrent_runs`: at most N runs of the instance in progress at once, across
//! processes. A run takes one slot of the reserved pool [`RUN_POOL`] (through the instance's
//! [`PoolSlots`](super::pools::PoolSlots), so on both storages) before its first step, and
//! holds it until it ends. Set with `[instance] max_concurrent_runs = N` in
//! `.etl/config.toml`; unset, runs are not limited.

use std::sync::Arc;
use std::time::Duration;

use super::pools::{PoolPermit, PoolSlots, Pools};
use crate::history::HistoryError;

/// The reserved pool of the instance's runs; `:` and `*` keep it apart from any op's pool name
/// an asset is likely to declare.
pub const RUN_POOL: &str = "run:*";

/// How long a run waits for its slot before it says that it waits.
const QUIET_WAIT: Duration = Duration::from_millis(100);

/// `[instance] max_concurrent_runs` of the config: `None` when unset (no limit).
pub fn max_concurrent_runs(config: &etl_config::Config) -> Result<Option<u32>, HistoryError> {
    match config.get_found::<i64>(&["instance"], "max_concurrent_runs").map_err(HistoryError::RunLimitConfig)? {
        None => Ok(None),
        Some((n, place)) => u32::try_from(n).ok().filter(|&n| n >= 1).map(Some).ok_or(HistoryError::RunLimit { value: n, place }),
    }
}

/// The run slots of one run, `limit` runs at once; `shared`: the instance's slots (`None`: in
/// this process only, when the run has no storage).
pub fn run_slots(limit: u32, shared: Option<Arc<dyn PoolSlots>>) -> Result<Pools, HistoryError> {
    Pools::new([RUN_POOL.to_owned()], |_| Ok(limit), shared)
}

/// Takes a run slot, waiting (without spinning: [`Pools`] sleeps between tries) while every
/// slot is held; `waiting` is called once if the slot is not free at once.
pub async fn hold_run_slot(slots: &Pools, waiting: impl FnOnce(u32)) -> Result<Vec<PoolPermit>, HistoryError> {
    let names = [RUN_POOL.to_owned()];
    let acquire = slots.acquire(&names);
    tokio::pin!(acquire);
    match tokio::time::timeout(QUIET_WAIT, &mut acquire).await {
        Ok(held) => held,
        Err(_) => {
            waiting(slots.limit(RUN_POOL).unwrap_or(1));
            acquire.await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::pools::FileSlots;

    #[test]
    fn the_limit_is_read_from_the_instance_section_and_bad_values_are_named() {
        let config = |text: &str| etl_config::Config::from_toml(text, "").unwrap();
        assert_eq!(max_concurrent_runs(&config("")).unwrap(), None);
        assert_eq!(max_concurrent_runs(&config("[instance]\nmax_concurrent_runs = 2\n")).unwrap(), Some(2));
        for bad in ["0", "-1"] {
            let err = max_concurrent_runs(&config(&format!("[instance]\nmax_concurrent_runs = {bad}\n"))).unwrap_err().to_string();
            assert!(err.contains("max_concurrent_runs") && err.contains(bad), "{err}");
        }
        let err = max_concurrent_runs(&config("[instance]\nmax_concurrent_runs = \"two\"\n")).unwrap_err().to_string();
        assert!(err.contains("max_concurrent_runs"), "{err}");
    }

    #[test]
    fn a_second_run_waits_for_the_slot_and_says_so_once() {
        let dir = tempfile::tempdir().unwrap();
        let shared: Arc<dyn PoolSlots> = Arc::new(FileSlots::at(dir.path()));
        let first = run_slots(1, Some(shared.clone())).unwrap();
        let second = run_slots(1, Some(shared)).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
        rt.block_on(async {
            let mut said = 0;
            let held = hold_run_slot(&first, |_| said += 1).await.unwrap();
            assert_eq!(said, 0, "a free slot is taken without waiting");
            let waiter = tokio::time::timeout(Duration::from_millis(400), hold_run_slot(&second, |_| said += 1)).await;
            assert!(waiter.is_err(), "the second run waits while the first holds the slot");
            assert_eq!(said, 1, "it said once that it waits");
            drop(held);
            let mut again = 0;
            let _held = tokio::time::timeout(Duration::from_secs(5), hold_run_slot(&second, |_| again += 1)).await.expect("freed").unwrap();
        });
    }
}
