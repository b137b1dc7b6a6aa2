//! The run-history commands: `runs`, `run <id>`, `asset <key>`.

use std::io::Write;
use std::process::ExitCode;

use super::{fail, table};
use crate::asset::AssetKey;
use crate::history::{EventKind, RunStore};

/// `runs`: the most recent runs.
pub(super) fn runs(store: &RunStore, limit: usize, out: &mut impl Write) -> ExitCode {
    let runs = match store.runs(limit) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if runs.is_empty() {
        let _ = writeln!(out, "no runs recorded in {}", store.describe());
        return ExitCode::SUCCESS;
    }
    let rows: Vec<[String; 5]> = runs
        .iter()
        .map(|r| {
            [
                r.run_id.clone(),
                r.effective_status().to_string(),
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.duration().map(|d| format!("{:.3}s", d.num_milliseconds() as f64 / 1000.0)).unwrap_or_else(|| "-".into()),
                match (&r.schedule, &r.parent_run_id) {
                    (Some(s), _) => format!("{} (schedule {s})", r.selection),
                    (None, Some(p)) => format!("{} (from failure of {p})", r.selection),
                    _ => r.selection.clone(),
                },
            ]
        })
        .collect();
    table(out, ["RUN", "STATUS", "STARTED (UTC)", "DURATION", "SELECTION"], &rows);
    ExitCode::SUCCESS
}

/// `run <id>`: one run's record and events.
pub(super) fn run(store: &RunStore, run_id: &str, out: &mut impl Write) -> ExitCode {
    let id = match resolve_run_id(store, run_id) {
        Ok(id) => id,
        Err(e) => return fail(e),
    };
    let (record, events) = match store.record(&id).and_then(|r| Ok((r, store.events(&id)?))) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let _ = writeln!(out, "run {} {} selection {}", record.run_id, record.effective_status(), record.selection);
    if let Some(p) = &record.parent_run_id {
        let _ = writeln!(out, "  re-executes {p}");
    }
    if let Some(w) = &record.worker {
        let _ = writeln!(out, "  worker {w}");
    }
    if !record.tags.is_empty() {
        let tags: Vec<String> = record.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "  tags {}", tags.join(" "));
    }
    for e in events {
        let what = match e.kind {
            EventKind::Log => format!("LOG {}", e.data.get("level").and_then(|l| l.as_str()).unwrap_or("INFO")),
            kind => serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_uppercase)).unwrap_or_default(),
        };
        let subject = e.asset.clone().or(e.op.clone()).unwrap_or_default();
        let mut line = format!("{} {what:<16} {subject}", e.ts.format("%H:%M:%S%.3f"));
        if !e.message.is_empty() {
            line.push_str(&format!("  {}", e.message));
        }
        if e.kind == EventKind::Materialization {
            if let Some(rows) = e.data.get("rows_loaded") {
                line.push_str(&format!("  rows_loaded={rows}"));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    ExitCode::SUCCESS
}

/// `asset <key>`: an asset's newest `limit` materializations, with its column changes.
pub(super) fn asset(store: &RunStore, key: &str, limit: usize, out: &mut impl Write) -> ExitCode {
    let key = AssetKey::from_path(key);
    let history = match store.asset_history_newest(&key, limit) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    if history.events.is_empty() {
        let _ = writeln!(out, "asset {key}: never materialized (history in {})", store.describe());
        return ExitCode::SUCCESS;
    }
    if history.total > history.events.len() {
        let _ = writeln!(out, "asset {key}: {} materializations, the newest {} shown (`--limit N` for more)", history.total, history.events.len());
    } else {
        let _ = writeln!(out, "asset {key}: {} materializations", history.total);
    }
    let mut previous: Option<Vec<(String, String)>> = None;
    for e in &history.events {
        let rows = e.data.get("rows_loaded").map(ToString::to_string).unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "  {}  run {}  rows_loaded {rows}", e.ts.format("%Y-%m-%d %H:%M:%S"), e.run_id);
        let columns = column_schema(&e.data);
        if let Some(columns) = &columns {
            for change in schema_changes(previous.as_deref(), columns) {
                let _ = writeln!(out, "      schema: {change}");
            }
            previous = Some(columns.clone());
        }
    }
    ExitCode::SUCCESS
}

/// A full run id from the id itself or a unique prefix. The storage lists at most two ids
/// starting with it, in byte order (the id itself first), and reads no run's record: as fast
/// with 100,000 runs as with 10.
pub(super) fn resolve_run_id(store: &RunStore, prefix: &str) -> Result<String, String> {
    let ids = store.run_ids_with_prefix(prefix, 2).map_err(|e| e.to_string())?;
    match ids.as_slice() {
        [] => Err(format!("no run `{prefix}` in the run history at {}", store.describe())),
        [first, ..] if first == prefix => Ok(first.clone()),
        [one] => Ok(one.clone()),
        [a, b, ..] => Err(format!("`{prefix}` matches more than one run ({a}, {b}, ...); give more of the id")),
    }
}

fn column_schema(metadata: &serde_json::Value) -> Option<Vec<(String, String)>> {
    let cols = metadata.get("dagster/column_schema")?.as_array()?;
    Some(
        cols.iter()
            .filter_map(|c| Some((c.get("name")?.as_str()?.to_owned(), c.get("type")?.as_str().unwrap_or("").to_owned())))
            .collect(),
    )
}

/// Column changes between two materializations' `dagster/column_schema`.
fn schema_changes(before: Option<&[(String, String)]>, after: &[(String, String)]) -> Vec<String> {
    let Some(before) = before else {
        return vec![format!("{} columns: {}", after.len(), after.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", "))];
    };
    let mut changes = Vec::new();
    for (name, ty) in after {
        match before.iter().find(|(n, _)| n == name) {
            None => changes.push(format!("added column {name} {ty}")),
            Some((_, old)) if old != ty => changes.push(format!("column {name} changed type {old} -> {ty}")),
            _ => {}
        }
    }
    for (name, _) in before.iter().filter(|(n, _)| !after.iter().any(|(a, _)| a == n)) {
        changes.push(format!("column {name} no longer reported"));
    }
    changes
}

