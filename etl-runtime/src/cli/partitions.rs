//! `backfill`, and the partitions and checks shown by `asset <key>`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use super::{fail, run_args::RunArgs};
use crate::asset::AssetKey;
use crate::execute::{materialize, RunOptions};
use crate::graph::AssetGraph;
use crate::history::RunStore;
use crate::partition::status::{self, PartitionStatus};
use crate::partition::{PartitionRequest, PartitionsDefinition};
use crate::registry::Registry;

/// A backfill: which assets, which range, how many partitions per run.
pub(super) struct Backfill<'a> {
    pub select: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub max_per_run: Option<usize>,
    pub submit: bool,
    pub run: &'a RunArgs,
}

/// The runs of a backfill: the keys in `[from, to]` that are not materialized for every
/// selected partitioned asset, as contiguous ranges of at most `max` keys.
pub fn chunks(all: &[String], to_do: &[String], max: Option<usize>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut last_index: Option<usize> = None;
    for key in to_do {
        let index = all.iter().position(|k| k == key);
        let contiguous = matches!((last_index, index), (Some(a), Some(b)) if b == a + 1);
        let full = out.last().is_some_and(|c| max.is_some_and(|m| c.len() >= m));
        if contiguous && !full {
            out.last_mut().expect("contiguous follows a key").push(key.clone());
        } else {
            out.push(vec![key.clone()]);
        }
        last_index = index;
    }
    out
}

/// `backfill`: materializes the missing and failed partitions of `[from, to]`, one run per
/// contiguous range (or per `max_per_run` partitions); run again after a failure, it does only
/// what is still missing or failed.
pub(super) fn backfill(registry: &Registry, options: RunOptions, b: &Backfill<'_>, out: &mut impl Write) -> ExitCode {
    match plan_backfill(registry, &options, b) {
        Ok((runs, done)) => execute_backfill(registry, options, b, runs, done, out),
        Err(e) => fail(e),
    }
}

/// The chunks to run and how many partitions were materialized already.
fn plan_backfill(registry: &Registry, options: &RunOptions, b: &Backfill<'_>) -> Result<(Vec<Vec<String>>, usize), String> {
    if b.max_per_run == Some(0) {
        return Err("`--max-partitions-per-run` is at least 1".into());
    }
    if b.run.partition.is_some() || b.run.partition_range.is_some() {
        return Err("a backfill takes its range from `--from` and `--to`, not `--partition`".into());
    }
    let graph = etl_core::resource::with_run_dir(&options.working_dir, || AssetGraph::build(registry)).map_err(|e| e.to_string())?;
    let keys = graph.select(b.select).map_err(|e| e.to_string())?;
    let steps = graph.plan(&keys).map_err(|e| e.to_string())?;
    let range = PartitionRequest::Range(b.from.to_owned(), b.to.to_owned());
    let specs: Vec<&crate::asset::AssetSpec> = steps.iter().flat_map(|s| s.assets.iter()).collect();
    let (def, partition) = crate::partition::for_run(specs.iter().map(|s| (s.key.to_user_string(), s.partitions.as_ref())), Some(&range), Utc::now())?
        .ok_or("no selected asset is partitioned: use `materialize`")?;
    let all = def.keys(Utc::now()).map_err(|e| e.to_string())?;
    let store = options.store().map_err(|e| e.to_string())?;
    let queue = store.queue().map_err(|e| e.to_string())?;
    let mut to_do: Vec<String> = Vec::new();
    for spec in specs.iter().filter(|s| s.partitions.is_some()) {
        let states = status::read(&*queue, &spec.key).map_err(|e| e.to_string())?;
        for key in status::to_do(partition.keys(), &states) {
            if !to_do.contains(&key) {
                to_do.push(key);
            }
        }
    }
    to_do.sort_by_key(|k| all.iter().position(|a| a == k));
    let done = partition.keys().len() - to_do.len();
    Ok((chunks(&all, &to_do, b.max_per_run), done))
}

fn execute_backfill(registry: &Registry, mut options: RunOptions, b: &Backfill<'_>, runs: Vec<Vec<String>>, done: usize, out: &mut impl Write) -> ExitCode {
    let total: usize = runs.iter().map(Vec::len).sum::<usize>() + done;
    let id = format!("bf-{}", crate::execute::new_run_id());
    if let Err(e) = b.run.apply(&mut options) {
        return fail(e);
    }
    options.tags.insert("etl/backfill".into(), id.clone());
    let _ = writeln!(out, "backfill {id}: {} partition(s) of `{}` from {} to {}: {done} materialized already, {} run(s) to go", total, b.select, b.from, b.to, runs.len());
    let _ = out.flush();
    let (mut materialized, mut failed_runs) = (done, 0);
    for (i, chunk) in runs.iter().enumerate() {
        let request = PartitionRequest::Range(chunk[0].clone(), chunk[chunk.len() - 1].clone());
        let mut options = options.clone();
        options.partition = Some(request.clone());
        options.run_id = None;
        if b.submit {
            let store = match options.store() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let params = crate::queue::submit::RunParams { tags: options.tags.clone(), partition: Some(request.clone()), config: options.config.clone() };
            match crate::queue::submit::submit(registry, &store, &options.working_dir, &crate::queue::submit::Submission::Select(b.select.to_owned()), params) {
                Ok(run) => {
                    let _ = writeln!(out, "  run {}/{} {request}: queued as {}", i + 1, runs.len(), run.run_id);
                }
                Err(e) => return fail(e),
            }
            continue;
        }
        let result = materialize(registry, b.select, &options);
        let line = match &result {
            Ok(r) if r.success() => {
                materialized += chunk.len();
                format!("success ({})", r.run_id)
            }
            Ok(r) => {
                failed_runs += 1;
                format!("FAILED ({}): {}", r.run_id, r.failures().first().map(|(k, e)| format!("{k}: {e}")).unwrap_or_else(|| "a check blocked".into()))
            }
            Err(e) => {
                failed_runs += 1;
                format!("could not start: {e}")
            }
        };
        let _ = writeln!(out, "  run {}/{} {request}: {line}  [{materialized}/{total} partitions materialized]", i + 1, runs.len());
        let _ = out.flush();
    }
    if b.submit {
        let _ = writeln!(out, "backfill {id}: {} run(s) queued for the workers", runs.len());
        return ExitCode::SUCCESS;
    }
    if failed_runs > 0 {
        eprintln!(
            "error: backfill {id}: {failed_runs} of {} run(s) failed; run the same command again to materialize only the failed and missing partitions",
            runs.len()
        );
        return ExitCode::FAILURE;
    }
    let _ = writeln!(out, "backfill {id}: done, {materialized}/{total} partitions materialized");
    ExitCode::SUCCESS
}

/// For `asset <key>`: the partitions as a grid and the checks with their latest result.
pub(super) fn asset_extras(registry: &Registry, dir: &Path, store: &RunStore, key: &str, out: &mut impl Write) {
    let key = AssetKey::from_path(key);
    let Ok(queue) = store.queue() else { return };
    let graph = etl_core::resource::with_run_dir(dir, || AssetGraph::build(registry)).ok();
    let def = graph.as_ref().and_then(|g| g.node(&key)).and_then(|n| n.spec.partitions.clone());
    if let Some(def) = def {
        partitions_grid(&*queue, &key, &def, out);
    }
    let checks: Vec<_> = registry.checks_of(&key).collect();
    if checks.is_empty() {
        return;
    }
    let latest = crate::check::latest(&*queue, &key).unwrap_or_default();
    let _ = writeln!(out, "checks:");
    for c in checks {
        let result = match latest.get(&c.name) {
            Some(e) => format!("{} {} {}", e.outcome(), e.at.format("%Y-%m-%d %H:%M:%S"), e.description.as_deref().unwrap_or("")),
            None => "never evaluated".into(),
        };
        let _ = writeln!(out, "  {}{}  {}", c.name, if c.blocking { " (blocking)" } else { "" }, result.trim_end());
    }
}

fn partitions_grid(queue: &dyn crate::queue::RunQueue, key: &AssetKey, def: &PartitionsDefinition, out: &mut impl Write) {
    let keys = match def.keys(Utc::now()) {
        Ok(k) => k,
        Err(e) => {
            let _ = writeln!(out, "partitions: {e}");
            return;
        }
    };
    let states = status::read(queue, key).unwrap_or_default();
    let c = status::counts(&keys, &states);
    let _ = writeln!(out, "partitions ({def}): {} in all, {} materialized, {} failed, {} missing", keys.len(), c.materialized, c.failed, c.missing);
    let width = match def {
        PartitionsDefinition::TimeWindow(t) if t.cadence() == crate::partition::Cadence::Hourly => 24,
        PartitionsDefinition::TimeWindow(t) if t.cadence() == crate::partition::Cadence::Daily => 7,
        _ => 12,
    };
    // The newest rows, so a long history does not drown the terminal.
    let rows = status::grid(&keys, &states, width);
    let shown = rows.len().min(20);
    if rows.len() > shown {
        let _ = writeln!(out, "  ... {} older row(s)", rows.len() - shown);
    }
    for row in &rows[rows.len() - shown..] {
        let _ = writeln!(out, "  {row}");
    }
    let _ = writeln!(out, "  ■ materialized  ✗ failed  · missing");
    let failed: Vec<&str> = status::statuses(&keys, &states).filter(|(_, s)| *s == Some(PartitionStatus::Failed)).map(|(k, _)| k).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "  failed: {}", failed.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn missing_keys_run_as_contiguous_ranges_of_at_most_n() {
        let all: Vec<String> = (1..=10).map(|d| format!("d{d:02}")).collect();
        let to_do: Vec<String> = all.iter().filter(|k| *k != "d05").cloned().collect();
        let runs = chunks(&all, &to_do, None);
        assert_eq!(runs.len(), 2, "d05 splits the range: {runs:?}");
        assert_eq!(runs[0].len(), 4);
        let runs = chunks(&all, &all, Some(3));
        assert_eq!(runs.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
        assert!(chunks(&all, &[], Some(3)).is_empty());
    }
}
