//! The commands on pipelines and their destinations: `info`, `drop`, `load-pending`,
//! `drop-pending`.

use std::io::Write;
#[cfg(any(feature = "duckdb", feature = "postgres"))]
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::ExitCode;

#[cfg(any(feature = "duckdb", feature = "postgres"))]
use crate::graph::AssetGraph;
#[cfg(any(feature = "duckdb", feature = "postgres"))]
use etl_pipeline::pipeline::Pipeline;
use crate::registry::Registry;

#[cfg(any(feature = "duckdb", feature = "postgres"))]
/// The pipelines of the registry's dlt definitions (once per name, in registry order), set to
/// run in `dir`; with `only`, just that one. An unknown name is an error naming the pipelines.
pub(super) fn pipelines(registry: &Registry, dir: &Path, only: Option<&str>) -> Result<Vec<Pipeline>, String> {
    let mut out: Vec<Pipeline> = Vec::new();
    for def in &registry.dlt {
        // The pipeline expression is the user's code, evaluated as a run would (in its directory).
        let built = catch_unwind(AssertUnwindSafe(|| etl_core::resource::with_run_dir(dir, || (def.pipeline)())));
        let pipeline = match built {
            Ok(p) => p.working_dir(dir),
            Err(panic) => {
                let message = etl_core::error::panic_text(panic.as_ref());
                return Err(format!("building the pipeline of `{}` ({}) failed: {message}", def.name, def.location));
            }
        };
        if !out.iter().any(|p| p.name() == pipeline.name()) {
            out.push(pipeline);
        }
    }
    let Some(name) = only else { return Ok(out) };
    let known = if out.is_empty() {
        "none".to_owned()
    } else {
        out.iter().map(|p| format!("`{}`", p.name())).collect::<Vec<_>>().join(", ")
    };
    match out.into_iter().find(|p| p.name() == name) {
        Some(p) => Ok(vec![p]),
        None => Err(format!("no pipeline `{name}` in this binary; pipelines: {known}")),
    }
}

#[cfg(any(feature = "duckdb", feature = "postgres"))]
fn or_fail(result: Result<Vec<Pipeline>, String>) -> Result<Vec<Pipeline>, ExitCode> {
    result.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}

#[cfg(any(feature = "duckdb", feature = "postgres"))]
fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(not(any(feature = "duckdb", feature = "postgres")))]
pub(super) fn info(_: &Registry, _: &Path, _: Option<&str>, _: &mut impl Write) -> ExitCode {
    eprintln!("error: this build has no destination (features `duckdb` and `postgres` are off)");
    ExitCode::FAILURE
}

/// Each pipeline's destination: schema, loads, tables, state, and what is pending.
#[cfg(any(feature = "duckdb", feature = "postgres"))]
pub(super) fn info(registry: &Registry, dir: &Path, only: Option<&str>, out: &mut impl Write) -> ExitCode {
    let pipelines = match or_fail(pipelines(registry, dir, only)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut failed = false;
    for pipeline in pipelines {
        let i = match pipeline.info() {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: pipeline {}: {e}", pipeline.name());
                failed = true;
                continue;
            }
        };
        let _ = writeln!(out, "pipeline {} ({} {})", i.pipeline_name, i.destination_name, i.location);
        if i.exists {
            if let Some((name, version, hash)) = &i.schema {
                let _ = writeln!(out, "  schema {name} version {version} ({hash})");
            }
            let _ = writeln!(out, "  dataset {}: {} loads, last {}", i.dataset, i.loads, i.last_load_id.as_deref().unwrap_or("-"));
            for (t, n) in &i.tables {
                let _ = writeln!(out, "    {t}: {n} rows");
            }
            if let Some((version, doc)) = &i.state {
                let sources = doc.get("sources").cloned().unwrap_or(serde_json::Value::Null);
                let _ = writeln!(out, "  state version {version}; sources: {sources}");
            }
        } else {
            let _ = writeln!(out, "  not run yet");
        }
        // `PipelineInfo::pending` lists leftover staging tables and the pending packages; the
        // packages are listed from the pipeline itself (they exist before the file does).
        let staging: Vec<&String> = i.pending.iter().filter(|p| !p.starts_with("pending package ")).collect();
        let packages = pipeline.pending_packages();
        if !staging.is_empty() {
            let names: Vec<&str> = staging.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(
                out,
                "  staging tables left by another writer (never merged; the next merge load into the same table drops them): {}",
                names.join(", ")
            );
        }
        if packages.is_empty() && staging.is_empty() {
            let _ = writeln!(out, "  nothing pending");
        }
        for p in &packages {
            let _ = writeln!(
                out,
                "  pending package {} ({}): kept until `load-pending` loads it or `drop-pending` discards it; runs never load it",
                p.load_id,
                p.dir.display()
            );
        }
    }
    exit(failed)
}

#[cfg(not(any(feature = "duckdb", feature = "postgres")))]
pub(super) fn pending(_: &Registry, _: &Path, _: Option<&str>, _: bool, _: &mut impl Write) -> ExitCode {
    eprintln!("error: this build has no destination (features `duckdb` and `postgres` are off)");
    ExitCode::FAILURE
}

/// Loads (`load`) or discards the pending packages of the pipelines.
#[cfg(any(feature = "duckdb", feature = "postgres"))]
pub(super) fn pending(registry: &Registry, dir: &Path, only: Option<&str>, load: bool, out: &mut impl Write) -> ExitCode {
    let pipelines = match or_fail(pipelines(registry, dir, only)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut failed = false;
    for pipeline in pipelines {
        let before = pipeline.pending_packages().len();
        if before == 0 {
            let _ = writeln!(out, "{}: nothing pending", pipeline.name());
            continue;
        }
        if load {
            for (load_id, result) in pipeline.load_pending() {
                match result {
                    Ok(info) => {
                        let rows: u64 = info.row_counts.values().sum();
                        let _ = writeln!(out, "{}: loaded pending package {load_id} ({rows} rows)", pipeline.name());
                    }
                    Err(e) => {
                        failed = true;
                        eprintln!("error: {}: pending package {load_id} failed again and is kept: {e}", pipeline.name());
                    }
                }
            }
        } else {
            let n = pipeline.drop_pending();
            let _ = writeln!(out, "{}: discarded {n} pending package(s)", pipeline.name());
            if n < before {
                failed = true;
                let left: Vec<String> = pipeline.pending_packages().iter().map(|p| p.dir.display().to_string()).collect();
                eprintln!("error: {}: could not remove {} pending package(s): {}", pipeline.name(), before - n, left.join(", "));
            }
        }
    }
    exit(failed)
}

#[cfg(not(any(feature = "duckdb", feature = "postgres")))]
pub(super) fn drop_assets(_: &Registry, _: &str, _: &Path, _: &mut impl Write) -> ExitCode {
    eprintln!("error: this build has no destination (features `duckdb` and `postgres` are off)");
    ExitCode::FAILURE
}

/// Drops the tables and state of the resources behind the selected assets. Assets that are not
/// dlt resources are named and nothing is dropped.
#[cfg(any(feature = "duckdb", feature = "postgres"))]
pub(super) fn drop_assets(registry: &Registry, select: &str, dir: &Path, out: &mut impl Write) -> ExitCode {
    let graph = match etl_core::resource::with_run_dir(dir, || AssetGraph::build(registry)) {
        Ok(g) => g,
        Err(e) => return super::fail(e),
    };
    let keys = match graph.select(select) {
        Ok(k) => k,
        Err(e) => return super::fail(e),
    };
    let nodes: Vec<&crate::graph::AssetNode> = keys.iter().filter_map(|k| graph.node(k)).collect();
    let plain: Vec<String> = nodes
        .iter()
        .filter(|n| n.spec.dlt_resource.is_none() || n.op.dlt().is_none())
        .map(|n| format!("`{}` (op `{}` at {})", n.spec.key, n.op.name(), n.op.location()))
        .collect();
    if !plain.is_empty() {
        eprintln!(
            "error: cannot drop {}: only the resources of dlt assets can be dropped (etl keeps no tables or state of \
             its own for other assets); nothing was dropped. Select only dlt assets, e.g. `--select '({select}) and kind:dlt'`",
            plain.join(", ")
        );
        return ExitCode::FAILURE;
    }
    for node in nodes {
        let (Some(resource), Some(def)) = (node.spec.dlt_resource.as_deref(), node.op.dlt()) else { continue };
        let pipeline = etl_core::resource::with_run_dir(dir, || (def.pipeline)()).working_dir(dir);
        match pipeline.drop_resources(&[resource]) {
            Ok(tables) => {
                let _ = writeln!(out, "dropped {}: tables {}", node.spec.key, tables.join(", "));
            }
            Err(e) => return super::fail(format!("dropping {}: {e}", node.spec.key)),
        }
    }
    ExitCode::SUCCESS
}
