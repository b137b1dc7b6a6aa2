//! The run-queue commands: `submit`, `worker`, `queue`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{fail, history::resolve_run_id, table, watch_signals};
use crate::execute::RunOptions;
use crate::history::RunStore;
use crate::queue::launcher::RunLauncher;
use crate::queue::submit::{submit as submit_run, Submission};
use crate::queue::worker::{Worker, WorkerOptions};
use crate::registry::Registry;

/// `--tag key=value` arguments as a map; a tag without `=` is an error naming it.
pub(super) fn parse_tags(tags: &[String]) -> Result<BTreeMap<String, String>, String> {
    tags.iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(format!("tag `{t}` is not `key=value`")),
        })
        .collect()
}

/// `submit`: validates the selection (or the run to re-execute) here, then queues the run.
pub(super) fn submit(
    registry: &Registry,
    store: &RunStore,
    dir: &Path,
    select: &str,
    from_failure: Option<&str>,
    run: &super::RunArgs,
    out: &mut impl Write,
) -> ExitCode {
    let params = match run.params() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let what = match from_failure {
        Some(prefix) => match resolve_run_id(store, prefix) {
            Ok(id) => Submission::FromFailure(id),
            Err(e) => return fail(e),
        },
        None => Submission::Select(select.to_owned()),
    };
    match submit_run(registry, store, dir, &what, params) {
        Ok(run) => {
            let _ = writeln!(out, "{}", run.run_id);
            if !store.has_workers() {
                eprintln!("queued in {}; start a worker (`worker`) to run it", store.describe());
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `worker`: claims and executes runs until a signal (or `--drain`, `--max-runs`).
pub(super) fn worker(launcher: &dyn RunLauncher, options: RunOptions, worker: WorkerOptions, out: &mut impl Write) -> ExitCode {
    let describe = options.storage.as_ref().map(RunStore::describe).unwrap_or_default();
    let worker = match Worker::new(launcher, options, worker) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    if let Err(e) = watch_signals(shutdown.clone()) {
        return fail(format!("cannot watch for SIGINT/SIGTERM: {e}"));
    }
    let _ = writeln!(out, "worker {} on {describe}; stop with Ctrl-C or SIGTERM", crate::history::this_worker());
    let _ = out.flush();
    let report = worker.run(&shutdown);
    let failed = report.runs.iter().filter(|(_, ok)| !ok).count();
    let _ = writeln!(
        out,
        "worker stopped after {} run(s), {failed} failed; {} lost run(s) reaped, {} retried",
        report.runs.len(),
        report.reaped.len(),
        report.retries.len()
    );
    ExitCode::SUCCESS
}

/// `queue`: the queued runs and the claimed ones.
pub(super) fn list(store: &RunStore, out: &mut impl Write) -> ExitCode {
    let queue = match store.queue() {
        Ok(q) => q,
        Err(e) => return fail(e),
    };
    let (queued, claimed) = match queue.queued(1000).and_then(|q| Ok((q, queue.claimed()?))) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let now = chrono::Utc::now();
    let mut rows: Vec<[String; 5]> = claimed
        .iter()
        .map(|r| {
            let lease = r.lease_until.map(|l| format!("{:+.1}s", (l - now).num_milliseconds() as f64 / 1000.0)).unwrap_or_else(|| "-".into());
            [r.run_id.clone(), r.effective_status().to_string(), r.worker.clone().unwrap_or_default(), lease, r.selection.clone()]
        })
        .collect();
    rows.extend(queued.iter().map(|r| [r.run_id.clone(), "QUEUED".into(), "-".into(), "-".into(), r.selection.clone()]));
    if rows.is_empty() {
        let _ = writeln!(out, "the queue of {} is empty", store.describe());
    } else {
        table(out, ["RUN", "STATUS", "WORKER", "LEASE LEFT", "SELECTION"], &rows);
    }
    ExitCode::SUCCESS
}
