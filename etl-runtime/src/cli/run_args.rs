//! What `materialize`, `submit` and `backfill` share: run tags, a partition, a run config.

use std::path::PathBuf;

use clap::Args;

use crate::execute::RunOptions;
use crate::partition::PartitionRequest;
use crate::queue::submit::RunParams;

/// Arguments that shape one run.
#[derive(Debug, Args, Default)]
pub(super) struct RunArgs {
    /// A run tag `key=value` (repeatable): for `tag_concurrency_limits`, retries
    /// (`etl/max_retries`, `etl/retry_strategy`) or labels.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// The partition to materialize (of partitioned assets).
    #[arg(long, value_name = "KEY", conflicts_with = "partition_range")]
    pub partition: Option<String>,
    /// A range of partitions materialized in one run, both ends included.
    #[arg(long, value_name = "FIRST...LAST")]
    pub partition_range: Option<String>,
    /// The run config: a TOML (`.toml`) or JSON file laid out as Dagster's
    /// (`[ops.<op>.config]`).
    #[arg(long, value_name = "FILE", conflicts_with = "config_json")]
    pub config: Option<PathBuf>,
    /// The run config as JSON text: `{"ops": {"<op>": {"config": {...}}}}`.
    #[arg(long, value_name = "JSON")]
    pub config_json: Option<String>,
}

impl RunArgs {
    /// The tags, partition and run config, each checked (a bad one is named).
    pub fn params(&self) -> Result<RunParams, String> {
        let tags = super::queue::parse_tags(&self.tags)?;
        let partition = match (&self.partition, &self.partition_range) {
            (Some(k), _) if k.contains("...") => return Err(format!("`--partition {k}` is a range: use `--partition-range {k}`")),
            (Some(k), _) => Some(PartitionRequest::parse(k).map_err(|e| e.to_string())?),
            (None, Some(r)) => match PartitionRequest::parse(r).map_err(|e| e.to_string())? {
                range @ PartitionRequest::Range(..) => Some(range),
                PartitionRequest::Key(k) => return Err(format!("`--partition-range {k}` is not a range: write `FIRST...LAST`, or use `--partition {k}`")),
            },
            (None, None) => None,
        };
        let config = match (&self.config, &self.config_json) {
            (Some(path), _) => Some(crate::config::read_file(path)?),
            (None, Some(text)) => Some(serde_json::from_str(text).map_err(|e| format!("`--config-json` is not valid JSON: {e}"))?),
            (None, None) => None,
        };
        Ok(RunParams { tags, partition, config })
    }

    /// Sets them on `options`.
    pub fn apply(&self, options: &mut RunOptions) -> Result<(), String> {
        let RunParams { tags, partition, config } = self.params()?;
        options.tags = tags;
        options.partition = partition;
        options.config = config;
        Ok(())
    }
}
