//! `checks` (every asset check with its latest result) and `sensors` (each sensor's cursor and
//! last evaluation).

use std::io::Write;
use std::process::ExitCode;

use super::{fail, table};
use crate::history::RunStore;
use crate::registry::Registry;

/// `checks`: every check of the definitions, with its latest result; exits with failure when
/// a check's latest evaluation failed with severity error.
pub(super) fn checks(registry: &Registry, store: &RunStore, out: &mut impl Write) -> ExitCode {
    if registry.checks.is_empty() {
        let _ = writeln!(out, "no asset checks are defined (`#[etl::asset_check]`, or `etl::Definitions::check`)");
        return ExitCode::SUCCESS;
    }
    let queue = match store.queue() {
        Ok(q) => q,
        Err(e) => return fail(e),
    };
    let mut rows = Vec::new();
    let mut failing = 0;
    for spec in &registry.checks {
        let latest = match crate::check::latest(&*queue, &spec.asset) {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let (outcome, at, run, description) = match latest.get(&spec.name) {
            Some(e) => {
                if !e.passed && e.severity == crate::check::Severity::Error {
                    failing += 1;
                }
                (
                    e.outcome(),
                    e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    e.run_id.clone().unwrap_or_else(|| "daemon".into()),
                    e.description.clone().unwrap_or_default(),
                )
            }
            None => ("NEVER EVALUATED".into(), "-".into(), "-".into(), spec.description.clone().unwrap_or_default()),
        };
        let name = if spec.blocking { format!("{} (blocking)", spec.name) } else { spec.name.clone() };
        rows.push([spec.asset.to_string(), name, outcome, at, run, description]);
    }
    table(out, ["ASSET", "CHECK", "RESULT", "AT (UTC)", "RUN", "DESCRIPTION"], &rows);
    if failing > 0 {
        eprintln!("error: {failing} check(s) failed with severity error");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `sensors`: every sensor with its interval, target, cursor and last evaluation.
pub(super) fn sensors(registry: &Registry, store: &RunStore, out: &mut impl Write) -> ExitCode {
    if registry.sensors.is_empty() {
        let _ = writeln!(out, "no sensors are defined (`#[etl::sensor]`, or `etl::Definitions::sensor`)");
        return ExitCode::SUCCESS;
    }
    let queue = match store.queue() {
        Ok(q) => q,
        Err(e) => return fail(e),
    };
    let mut rows = Vec::new();
    for spec in &registry.sensors {
        let state = match crate::sensor::state(&*queue, &spec.name) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let mut cursor = state.cursor.unwrap_or_else(|| "-".into());
        if cursor.chars().count() > 60 {
            cursor = format!("{}…", cursor.chars().take(59).collect::<String>());
        }
        rows.push([
            spec.name.clone(),
            format!("{}s", spec.minimum_interval.as_secs()),
            spec.target.clone().unwrap_or_else(|| "-".into()),
            state.last_evaluated.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "never".into()),
            cursor,
        ]);
    }
    table(out, ["SENSOR", "INTERVAL", "TARGET", "LAST EVALUATED (UTC)", "CURSOR"], &rows);
    ExitCode::SUCCESS
}
