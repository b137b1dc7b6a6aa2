//! Run retries, as Dagster's: a queued run that fails (or loses its worker) is queued again,
//! as a new run whose parent is the failed one, until `max_retries` retries were made. The
//! policy comes from `[run_retries]` of `.etl/config.toml` (`max_retries = N`, default 0;
//! `retry_strategy = "from_failure" | "all_steps"`, default `from_failure`) and is written into
//! the run's tags when it is submitted (`etl/max_retries`, `etl/retry_strategy`), where a
//! `--tag` may set it per run. A retry carries `etl/retry_number` and `etl/root_run_id`.
//!
//! `from_failure` re-executes only the assets the failed run did not materialize; `all_steps`
//! its whole selection again.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::execute::new_run_id;
use crate::history::{HistoryError, RunRecord};

/// The tag with the number of retries allowed.
pub const MAX_RETRIES_TAG: &str = "etl/max_retries";
/// The tag with the retry strategy.
pub const RETRY_STRATEGY_TAG: &str = "etl/retry_strategy";
/// The tag with a retry's number (1 for the first retry).
pub const RETRY_NUMBER_TAG: &str = "etl/retry_number";
/// The tag with the first run of a chain of retries.
pub const ROOT_RUN_TAG: &str = "etl/root_run_id";
/// The tag of a queued run that re-executes its parent's failure (its unmaterialized assets).
pub const FROM_FAILURE_TAG: &str = "etl/from_failure";

/// What a retry re-executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryStrategy {
    /// The assets the failed run did not materialize.
    FromFailure,
    /// The whole selection.
    AllSteps,
}

impl RetryStrategy {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "from_failure" | "FROM_FAILURE" => Some(RetryStrategy::FromFailure),
            "all_steps" | "ALL_STEPS" => Some(RetryStrategy::AllSteps),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            RetryStrategy::FromFailure => "from_failure",
            RetryStrategy::AllSteps => "all_steps",
        }
    }
}

/// The retry policy of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first run.
    pub max_retries: u32,
    /// What a retry runs.
    pub strategy: RetryStrategy,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 0, strategy: RetryStrategy::FromFailure }
    }
}

/// A bad `[run_retries]` value or retry tag.
fn bad(key: &str, value: impl std::fmt::Display, place: &str) -> HistoryError {
    HistoryError::RetryPolicy(format!(
        "`{key}` is `{value}` in {place}: max_retries is a whole number from 0, retry_strategy is `from_failure` or `all_steps`"
    ))
}

impl RetryPolicy {
    /// `[run_retries]` of the config.
    pub fn from_config(config: &etl_config::Config) -> Result<Self, HistoryError> {
        let mut policy = RetryPolicy::default();
        let read = |key: &str| config.get_found::<toml_value::Value>(&["run_retries"], key).map_err(|e| HistoryError::RetryPolicy(e.to_string()));
        if let Some((value, place)) = read("max_retries")? {
            policy.max_retries = value.as_u32().ok_or_else(|| bad("max_retries", &value, &place))?;
        }
        if let Some((value, place)) = read("retry_strategy")? {
            policy.strategy = value.as_str().and_then(RetryStrategy::parse).ok_or_else(|| bad("retry_strategy", &value, &place))?;
        }
        Ok(policy)
    }

    /// The policy of a run: its tags over `self`.
    pub fn of_run(self, tags: &BTreeMap<String, String>) -> Result<Self, HistoryError> {
        let mut policy = self;
        if let Some(v) = tags.get(MAX_RETRIES_TAG) {
            policy.max_retries = v.parse().map_err(|_| bad(MAX_RETRIES_TAG, v, "the run's tags"))?;
        }
        if let Some(v) = tags.get(RETRY_STRATEGY_TAG) {
            policy.strategy = RetryStrategy::parse(v).ok_or_else(|| bad(RETRY_STRATEGY_TAG, v, "the run's tags"))?;
        }
        Ok(policy)
    }

    /// Writes the policy into a submitted run's tags (tags given already win).
    pub fn stamp(self, tags: &mut BTreeMap<String, String>) {
        tags.entry(MAX_RETRIES_TAG.into()).or_insert_with(|| self.max_retries.to_string());
        tags.entry(RETRY_STRATEGY_TAG.into()).or_insert_with(|| self.strategy.as_str().into());
    }
}

/// The retry of a failed run, queued: `None` when its tags allow no more retries (or cannot
/// be read: the run is then not retried, and the reason logged).
pub fn retry_of(failed: &RunRecord) -> Option<RunRecord> {
    let policy = match RetryPolicy::default().of_run(&failed.tags) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(run_id = %failed.run_id, "not retried: {e}");
            return None;
        }
    };
    let number: u32 = failed.tags.get(RETRY_NUMBER_TAG).and_then(|n| n.parse().ok()).unwrap_or(0);
    if number >= policy.max_retries {
        return None;
    }
    let mut tags = failed.tags.clone();
    tags.insert(RETRY_NUMBER_TAG.into(), (number + 1).to_string());
    tags.entry(ROOT_RUN_TAG.into()).or_insert_with(|| failed.run_id.clone());
    tags.remove(FROM_FAILURE_TAG);
    if policy.strategy == RetryStrategy::FromFailure {
        tags.insert(FROM_FAILURE_TAG.into(), "true".into());
    }
    let mut retry = super::queued_record(&new_run_id(), &failed.selection, Vec::new());
    retry.parent_run_id = Some(failed.run_id.clone());
    retry.schedule = failed.schedule.clone();
    retry.partition = failed.partition.clone();
    retry.config = failed.config.clone();
    retry.tags = tags;
    retry.started_at = Utc::now();
    Some(retry)
}

/// A TOML value read leniently (a number or a string of one).
mod toml_value {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub enum Value {
        Int(i64),
        Text(String),
        Other(serde_json::Value),
    }

    impl Value {
        pub fn as_u32(&self) -> Option<u32> {
            match self {
                Value::Int(n) => u32::try_from(*n).ok(),
                Value::Text(t) => t.parse().ok(),
                Value::Other(_) => None,
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::Text(t) => Some(t),
                _ => None,
            }
        }
    }

    impl std::fmt::Display for Value {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Value::Int(n) => write!(f, "{n}"),
                Value::Text(t) => f.write_str(t),
                Value::Other(v) => write!(f, "{v}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::RunStatus;

    fn failed(tags: &[(&str, &str)]) -> RunRecord {
        let mut r = RunRecord::new("r1", "group:shop", vec!["a".into()]);
        r.status = RunStatus::Failure;
        r.tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        r
    }

    #[test]
    fn the_policy_comes_from_the_config_and_tags_override_it() {
        let config = etl_config::Config::from_toml("[run_retries]\nmax_retries = 2\nretry_strategy = \"all_steps\"\n", "").unwrap();
        let policy = RetryPolicy::from_config(&config).unwrap();
        assert_eq!(policy, RetryPolicy { max_retries: 2, strategy: RetryStrategy::AllSteps });
        let tags = [(MAX_RETRIES_TAG.to_string(), "5".to_string())].into_iter().collect();
        assert_eq!(policy.of_run(&tags).unwrap().max_retries, 5);
        assert_eq!(RetryPolicy::from_config(&etl_config::Config::from_toml("", "").unwrap()).unwrap(), RetryPolicy::default());
        for bad in ["[run_retries]\nmax_retries = -1\n", "[run_retries]\nretry_strategy = \"sometimes\"\n"] {
            let err = RetryPolicy::from_config(&etl_config::Config::from_toml(bad, "").unwrap()).unwrap_err().to_string();
            assert!(err.contains("max_retries") || err.contains("retry_strategy"), "{err}");
            assert!(err.contains("-1") || err.contains("sometimes"), "the value is named: {err}");
        }
    }

    #[test]
    fn retries_count_up_to_the_limit_and_remember_their_root() {
        assert!(retry_of(&failed(&[])).is_none(), "no retries by default");
        let first = retry_of(&failed(&[(MAX_RETRIES_TAG, "2"), (RETRY_STRATEGY_TAG, "from_failure")])).expect("one retry");
        assert_eq!(first.status, RunStatus::Queued);
        assert_eq!(first.parent_run_id.as_deref(), Some("r1"));
        assert_eq!(first.tags[RETRY_NUMBER_TAG], "1");
        assert_eq!(first.tags[ROOT_RUN_TAG], "r1");
        assert_eq!(first.tags[FROM_FAILURE_TAG], "true");
        assert_eq!(first.selection, "group:shop");
        let mut first_failed = first.clone();
        first_failed.status = RunStatus::Failure;
        let second = retry_of(&first_failed).expect("a second retry");
        assert_eq!(second.tags[RETRY_NUMBER_TAG], "2");
        assert_eq!(second.tags[ROOT_RUN_TAG], "r1", "the root stays the first run");
        assert_eq!(second.parent_run_id.as_deref(), Some(first.run_id.as_str()));
        let mut second_failed = second;
        second_failed.status = RunStatus::Failure;
        assert!(retry_of(&second_failed).is_none(), "two retries at most");
        let all = retry_of(&failed(&[(MAX_RETRIES_TAG, "1"), (RETRY_STRATEGY_TAG, "all_steps")])).unwrap();
        assert!(!all.tags.contains_key(FROM_FAILURE_TAG), "all_steps runs the whole selection");
    }
}
