//! Per-partition status of an asset (materialized, failed, missing), kept in the instance
//! state (namespace `partitions/<asset key>`, one entry per key: status, run, time) so that
//! `asset <key>`, backfills and the UI read it without scanning the history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::asset::AssetKey;
use crate::history::HistoryError;
use crate::queue::RunQueue;

/// What became of a partition's latest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionStatus {
    /// Materialized.
    Materialized,
    /// Its latest run failed (or was skipped) before materializing it.
    Failed,
}

/// A partition's stored state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Status.
    pub status: PartitionStatus,
    /// The run that set it.
    pub run_id: String,
    /// When.
    pub at: DateTime<Utc>,
}

fn namespace(asset: &AssetKey) -> String {
    format!("partitions/{asset}")
}

/// Records `status` for `keys` of `asset`, set by run `run_id`: the latest run's outcome is the
/// partition's status, as Dagster shows it.
pub fn record(queue: &dyn RunQueue, asset: &AssetKey, keys: &[String], status: PartitionStatus, run_id: &str) -> Result<(), HistoryError> {
    let state = PartitionState { status, run_id: run_id.to_owned(), at: Utc::now() };
    let value = serde_json::to_value(&state).expect("state serializes");
    let entries: Vec<(String, Json)> = keys.iter().map(|k| (k.clone(), value.clone())).collect();
    queue.put_state(&namespace(asset), &entries)
}

/// The stored state of every partition of `asset` that has one.
pub fn read(queue: &dyn RunQueue, asset: &AssetKey) -> Result<BTreeMap<String, PartitionState>, HistoryError> {
    Ok(queue
        .state(&namespace(asset))?
        .into_iter()
        .filter_map(|(k, v)| serde_json::from_value(v).ok().map(|s| (k, s)))
        .collect())
}

/// Counts of a partitioned asset's keys by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Materialized.
    pub materialized: usize,
    /// Failed.
    pub failed: usize,
    /// Never materialized.
    pub missing: usize,
}

/// The status of each of `keys` (`None`: missing).
pub fn statuses<'a>(keys: &'a [String], states: &'a BTreeMap<String, PartitionState>) -> impl Iterator<Item = (&'a str, Option<PartitionStatus>)> + 'a {
    keys.iter().map(|k| (k.as_str(), states.get(k).map(|s| s.status)))
}

/// Counts by status.
pub fn counts(keys: &[String], states: &BTreeMap<String, PartitionState>) -> Counts {
    let mut c = Counts::default();
    for (_, s) in statuses(keys, states) {
        match s {
            Some(PartitionStatus::Materialized) => c.materialized += 1,
            Some(PartitionStatus::Failed) => c.failed += 1,
            None => c.missing += 1,
        }
    }
    c
}

/// The keys as a grid of one character each (`■` materialized, `✗` failed, `·` missing),
/// in rows of `width`, each row led by its first key.
pub fn grid(keys: &[String], states: &BTreeMap<String, PartitionState>, width: usize) -> Vec<String> {
    let cells: Vec<(&str, char)> = statuses(keys, states)
        .map(|(k, s)| {
            let c = match s {
                Some(PartitionStatus::Materialized) => '■',
                Some(PartitionStatus::Failed) => '✗',
                None => '·',
            };
            (k, c)
        })
        .collect();
    let pad = keys.iter().map(String::len).max().unwrap_or(0);
    cells
        .chunks(width.max(1))
        .map(|row| format!("{:pad$}  {}", row[0].0, row.iter().map(|(_, c)| *c).collect::<String>()))
        .collect()
}

/// The keys among `keys` that are not materialized (missing or failed), in order.
pub fn to_do(keys: &[String], states: &BTreeMap<String, PartitionState>) -> Vec<String> {
    statuses(keys, states).filter(|(_, s)| *s != Some(PartitionStatus::Materialized)).map(|(k, _)| k.to_owned()).collect()
}
