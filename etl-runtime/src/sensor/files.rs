//! A built-in sensor for the filesystem source: new or changed files matching a glob (relative
//! to the working directory) each ask for one run. A file is known by its path, modification
//! time and size; the cursor holds what was seen, and the run key (`path@mtime:size`) makes a
//! file that is seen twice (the cursor lost, two daemons) run once.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value as Json;

use super::{RunRequest, SensorContext, SensorResult, SensorSpec};
use crate::asset::AssetError;

/// A file sensor, made into a [`SensorSpec`] for `etl::Definitions::sensor`.
#[derive(Clone)]
pub struct FileSensor {
    name: String,
    pattern: String,
    selection: Option<String>,
    interval: Duration,
    config: Option<fn(&Path) -> Json>,
    partition: Option<fn(&Path) -> Option<String>>,
}

/// A sensor named `name` watching files that match `pattern` (`landing/*.jsonl`).
pub fn file_sensor(name: impl Into<String>, pattern: impl Into<String>) -> FileSensor {
    FileSensor { name: name.into(), pattern: pattern.into(), selection: None, interval: Duration::from_secs(30), config: None, partition: None }
}

impl FileSensor {
    /// The assets each file's run materializes.
    pub fn select(mut self, selection: impl Into<String>) -> Self {
        self.selection = Some(selection.into());
        self
    }

    /// Time between evaluations (default 30 s).
    pub fn minimum_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The partition a file's run materializes, made from its path (`landing/2024-01-05.jsonl`
    /// → `2024-01-05`); a file it gives none for is not acted on.
    pub fn partition_from(mut self, partition: fn(&Path) -> Option<String>) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The run config of a file's run, made from its path.
    pub fn config(mut self, config: fn(&Path) -> Json) -> Self {
        self.config = Some(config);
        self
    }
}

/// `mtime_ns:size` of a file.
fn stamp(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    Some(format!("{mtime}:{}", meta.len()))
}

type Make<T> = Option<fn(&Path) -> T>;

fn evaluate(pattern: &str, config: Make<Json>, partition: Make<Option<String>>, context: &SensorContext) -> Result<SensorResult, AssetError> {
    let full = if Path::new(pattern).is_absolute() { pattern.to_owned() } else { context.working_dir().join(pattern).display().to_string() };
    let paths = glob::glob(&full).map_err(|e| AssetError::msg(format!("file sensor `{}`: bad pattern `{pattern}`: {e}", context.name())))?;
    let seen: BTreeMap<String, String> = context.cursor().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    let mut now = BTreeMap::new();
    let mut result = SensorResult::new();
    for path in paths.filter_map(Result::ok) {
        let Some(stamp) = stamp(&path) else { continue };
        let shown = path.strip_prefix(context.working_dir()).unwrap_or(&path).display().to_string();
        if seen.get(&shown) != Some(&stamp) {
            let mut request = RunRequest::new(format!("{shown}@{stamp}")).tag("etl/file", shown.clone());
            if let Some(make) = config {
                request = request.config(make(&path));
            }
            match partition.map(|make| make(&path)) {
                Some(None) => tracing::warn!(sensor = context.name(), file = %shown, "no partition for this file: not acted on"),
                Some(Some(key)) => result = result.request(request.partition(key)),
                None => result = result.request(request),
            }
        }
        now.insert(shown, stamp);
    }
    if result.run_requests.is_empty() {
        result.skip_reason = Some(format!("no new or changed files match `{pattern}`"));
    }
    Ok(result.cursor(serde_json::to_string(&now).expect("cursor serializes")))
}

impl From<FileSensor> for SensorSpec {
    fn from(f: FileSensor) -> SensorSpec {
        let FileSensor { name, pattern, selection, interval, config, partition } = f;
        let description = format!("new or changed files matching `{pattern}`");
        let mut spec = SensorSpec::new(name, move |context| evaluate(&pattern, config, partition, context)).minimum_interval(interval);
        spec.target = selection;
        spec.description = Some(description);
        spec
    }
}
