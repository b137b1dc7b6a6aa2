//! Limits on runs in progress, across processes, as Dagster's run coordinator has them:
//!
//! - `[instance] max_concurrent_runs = N`: at most N runs of the instance at once;
//! - `[instance] tag_concurrency_limits`: at most `limit` runs at once among those with a tag
//!   (`{ key = "team", limit = 2 }`: every run with the key, whatever its value), with a tag's
//!   value (`{ key = "db", value = "warehouse", limit = 1 }`), or per value
//!   (`{ key = "db", value = { applyLimitPerUniqueValue = true }, limit = 1 }`).
//!
//! Each limit is a reserved pool: [`RUN_POOL`] for the first, `tag[<i>]:<key>[=<value>]` for
//! the i-th tag rule. A run takes one slot of each of its pools (through the instance's
//! [`PoolSlots`](super::pools::PoolSlots), so on both storages), in sorted order, before its
//! first step, and holds them until it ends. Unset, runs are not limited.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::pools::{PoolPermit, PoolSlots, Pools};
use crate::history::HistoryError;

/// The reserved pool of the instance's runs; `:` and `*` keep it apart from any op's pool name
/// an asset is likely to declare.
pub const RUN_POOL: &str = "run:*";

/// How long a run waits for its slots before it says that it waits.
const QUIET_WAIT: Duration = Duration::from_millis(100);

/// `[instance] max_concurrent_runs` of the config: `None` when unset (no limit).
pub fn max_concurrent_runs(config: &etl_config::Config) -> Result<Option<u32>, HistoryError> {
    match config.get_found::<i64>(&["instance"], "max_concurrent_runs").map_err(HistoryError::RunLimitConfig)? {
        None => Ok(None),
        Some((n, place)) => u32::try_from(n).ok().filter(|&n| n >= 1).map(Some).ok_or(HistoryError::RunLimit { value: n, place }),
    }
}

/// One rule of `[instance] tag_concurrency_limits`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagLimit {
    /// The tag's key.
    pub key: String,
    /// Which values: none (every run with the key), one, or each value apart.
    #[serde(default)]
    pub value: Option<TagValue>,
    /// Runs at once.
    pub limit: i64,
}

/// The value part of a [`TagLimit`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TagValue {
    /// Runs whose tag has this value.
    Exact(String),
    /// Each value its own limit.
    PerValue {
        /// Must be true.
        #[serde(rename = "applyLimitPerUniqueValue", alias = "apply_limit_per_unique_value")]
        apply_limit_per_unique_value: bool,
    },
}

/// `[instance] tag_concurrency_limits` of the config (empty when unset).
pub fn tag_limits(config: &etl_config::Config) -> Result<Vec<TagLimit>, HistoryError> {
    let Some((rules, place)) = config.get_found::<Vec<TagLimit>>(&["instance"], "tag_concurrency_limits").map_err(HistoryError::RunLimitConfig)? else {
        return Ok(Vec::new());
    };
    for rule in &rules {
        if rule.limit < 1 || u32::try_from(rule.limit).is_err() {
            return Err(HistoryError::TagLimit { key: rule.key.clone(), message: format!("limit {} in {place} is not a whole number from 1", rule.limit) });
        }
        if let Some(TagValue::PerValue { apply_limit_per_unique_value: false }) = rule.value {
            return Err(HistoryError::TagLimit { key: rule.key.clone(), message: format!("`applyLimitPerUniqueValue = false` in {place}: leave `value` out to limit every run with the key together") });
        }
    }
    Ok(rules)
}

/// The run pools of a run with `tags`, with their limits: [`RUN_POOL`] if `max_runs` is set,
/// and one per tag rule that applies.
pub fn run_pools(max_runs: Option<u32>, rules: &[TagLimit], tags: &BTreeMap<String, String>) -> BTreeMap<String, u32> {
    let mut pools = BTreeMap::new();
    if let Some(n) = max_runs {
        pools.insert(RUN_POOL.to_owned(), n);
    }
    for (i, rule) in rules.iter().enumerate() {
        let Some(have) = tags.get(&rule.key) else { continue };
        let limit = u32::try_from(rule.limit).unwrap_or(u32::MAX);
        let name = match &rule.value {
            None => format!("tag[{i}]:{}", rule.key),
            Some(TagValue::Exact(v)) if v == have => format!("tag[{i}]:{}={v}", rule.key),
            Some(TagValue::Exact(_)) => continue,
            Some(TagValue::PerValue { .. }) => format!("tag[{i}]:{}={have}", rule.key),
        };
        pools.insert(name, limit);
    }
    pools
}

/// The slots of one run's run pools; `shared`: the instance's slots (`None`: in this process
/// only, when the run has no storage).
pub struct RunSlots {
    pools: Pools,
    names: Vec<String>,
}

impl RunSlots {
    /// The pools of [`run_pools`]; `None` when there are none.
    pub fn new(pools: BTreeMap<String, u32>, shared: Option<Arc<dyn PoolSlots>>) -> Result<Option<Self>, HistoryError> {
        if pools.is_empty() {
            return Ok(None);
        }
        let names: Vec<String> = pools.keys().cloned().collect();
        let pools = Pools::new(names.clone(), |name| Ok(pools[name]), shared)?;
        Ok(Some(RunSlots { pools, names }))
    }

    /// Takes a slot of each pool (sorted), waiting (without spinning: [`Pools`] sleeps between
    /// tries) while one is full; `waiting` is called once, with the pools and their limits, if
    /// they are not free at once.
    pub async fn hold(&self, waiting: impl FnOnce(&[(String, u32)])) -> Result<Vec<PoolPermit>, HistoryError> {
        let acquire = self.pools.acquire(&self.names);
        tokio::pin!(acquire);
        match tokio::time::timeout(QUIET_WAIT, &mut acquire).await {
            Ok(held) => held,
            Err(_) => {
                let limits: Vec<(String, u32)> = self.names.iter().map(|n| (n.clone(), self.pools.limit(n).unwrap_or(1))).collect();
                waiting(&limits);
                acquire.await
            }
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
    fn tag_rules_give_pools_by_key_by_value_and_per_value() {
        let config = etl_config::Config::from_toml(
            "[instance]\ntag_concurrency_limits = [\n  { key = \"team\", limit = 2 },\n  { key = \"db\", value = \"wh\", limit = 1 },\n  { key = \"src\", value = { applyLimitPerUniqueValue = true }, limit = 3 },\n]\n",
            "",
        )
        .unwrap();
        let rules = tag_limits(&config).unwrap();
        let tags = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        let pools = run_pools(Some(4), &rules, &tags(&[("team", "a"), ("db", "wh"), ("src", "api")]));
        let expected: BTreeMap<String, u32> =
            [("run:*", 4), ("tag[0]:team", 2), ("tag[1]:db=wh", 1), ("tag[2]:src=api", 3)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(pools, expected);
        let other = run_pools(None, &rules, &tags(&[("team", "b"), ("db", "lake"), ("src", "files")]));
        assert_eq!(other.keys().cloned().collect::<Vec<_>>(), vec!["tag[0]:team", "tag[2]:src=files"], "another db value is not limited");
        assert!(run_pools(None, &rules, &tags(&[])).is_empty());
        for bad in ["{ key = \"t\", limit = 0 }", "{ key = \"t\", value = { applyLimitPerUniqueValue = false }, limit = 1 }"] {
            let config = etl_config::Config::from_toml(&format!("[instance]\ntag_concurrency_limits = [{bad}]\n"), "").unwrap();
            let err = tag_limits(&config).unwrap_err().to_string();
            assert!(err.contains("`t`"), "the rule's key is named: {err}");
        }
        let typo = etl_config::Config::from_toml("[instance]\ntag_concurrency_limits = [{ key = \"t\", limt = 1 }]\n", "").unwrap();
        assert!(tag_limits(&typo).unwrap_err().to_string().contains("tag_concurrency_limits"));
    }

    #[test]
    fn a_second_run_waits_for_the_slot_and_says_so_once() {
        let dir = tempfile::tempdir().unwrap();
        let shared: Arc<dyn PoolSlots> = Arc::new(FileSlots::at(dir.path()));
        let pools = || run_pools(Some(1), &[], &BTreeMap::new());
        let first = RunSlots::new(pools(), Some(shared.clone())).unwrap().unwrap();
        let second = RunSlots::new(pools(), Some(shared)).unwrap().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
        rt.block_on(async {
            let mut said = 0;
            let held = first.hold(|_| said += 1).await.unwrap();
            assert_eq!(said, 0, "a free slot is taken without waiting");
            let waiter = tokio::time::timeout(Duration::from_millis(400), second.hold(|_| said += 1)).await;
            assert!(waiter.is_err(), "the second run waits while the first holds the slot");
            assert_eq!(said, 1, "it said once that it waits");
            drop(held);
            let mut again = 0;
            let _held = tokio::time::timeout(Duration::from_secs(5), second.hold(|_| again += 1)).await.expect("freed").unwrap();
        });
    }
}
