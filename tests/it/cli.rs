//! The command line as a user runs it: `list`/`graph` with `--workdir` and `--select`, the
//! pipeline commands with `--pipeline`, `drop` naming what it cannot drop, `run` with an id or a
//! prefix, exit codes, the log format, Mermaid output and the empty-registry warning. Most of it
//! runs the helper binary `cli_edges` (`tests/src/bin/cli_edges.rs`), which has a registry of
//! its own.

use std::path::Path;
use std::process::Command;

use etl_tests::{example_binary, scalar, tables};
use serde_json::json;

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run_bin(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let out = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("ETL_HOME")
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .output()
        .expect("run the binary");
    Out { ok: out.status.success(), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

fn edges(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    run_bin(Path::new(env!("CARGO_BIN_EXE_cli_edges")), dir, args, env)
}

/// The `events` load that fails in normalize (a frozen schema meets a new column).
const FAILING: [(&str, &str); 2] = [("CLI_EDGES_EXTRA", "extra"), ("CLI_EDGES_FREEZE", "1")];

#[test]
fn list_and_graph_read_config_from_workdir_and_take_a_selection() {
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(there.path().join(".etl")).unwrap();
    std::fs::write(there.path().join(".etl/config.toml"), "[sources.configured]\ntable = \"from_workdir\"\n").unwrap();

    let out = edges(here.path(), &["list"], &[]);
    assert!(out.ok && out.stdout.contains("dlt_configured_default_table"), "{}{}", out.stdout, out.stderr);
    let workdir = there.path().to_str().unwrap();
    let out = edges(here.path(), &["list", "--workdir", workdir], &[]);
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("dlt_configured_from_workdir") && !out.stdout.contains("default_table"), "{}", out.stdout);
    let out = edges(here.path(), &["graph", "--workdir", workdir, "--format", "dot"], &[]);
    assert!(out.ok && out.stdout.contains("\"dlt_configured_from_workdir\""), "{}{}", out.stdout, out.stderr);

    let out = edges(here.path(), &["list", "--select", "group:reports or key:dlt_users_*"], &[]);
    assert!(out.ok, "{}", out.stderr);
    let keys: Vec<&str> = out.stdout.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(keys, ["dlt_users_source_users", "users_report"], "{}", out.stdout);
    let out = edges(here.path(), &["graph", "--select", "+users_report", "--format", "mermaid"], &[]);
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("  dlt_users_source_users --> users_report\n") && !out.stdout.contains("events"), "{}", out.stdout);

    // A bad selection fails, pointing at the token; a selection of nothing fails too.
    let out = edges(here.path(), &["list", "--select", "group:reports or"], &[]);
    assert!(!out.ok && out.stderr.contains("at column 17: the end of the selection"), "{}", out.stderr);
    let out = edges(here.path(), &["graph", "--select", "key:nothing_*"], &[]);
    assert!(!out.ok && out.stderr.contains("the selection `key:nothing_*` matches no asset"), "{}", out.stderr);
}

#[test]
fn pending_packages_are_loaded_or_dropped_per_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("events_pipeline.duckdb");
    let select = ["materialize", "--select", "dlt_events_source_events"];
    assert!(edges(d, &select, &[]).ok);
    let out = edges(d, &select, &FAILING);
    assert!(!out.ok && out.stdout.contains("pending package"), "a failed run exits non-zero: {}{}", out.stdout, out.stderr);

    // `info` says what really happens to the package, for the chosen pipeline only.
    let out = edges(d, &["info", "--pipeline", "events_pipeline"], &[]);
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("kept until `load-pending` loads it or `drop-pending` discards it"), "{}", out.stdout);
    assert!(!out.stdout.contains("users_pipeline") && !out.stdout.contains("dropped by the next merge"), "{}", out.stdout);
    let out = edges(d, &["info", "--pipeline", "nope"], &[]);
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stderr.contains("no pipeline `nope` in this binary; pipelines: `configured_pipeline`, `events_pipeline`, `users_pipeline`"),
        "{}",
        out.stderr
    );
    for command in ["load-pending", "drop-pending"] {
        let out = edges(d, &[command, "--pipeline", "nope"], &[]);
        assert!(!out.ok && out.stderr.contains("no pipeline `nope`"), "{command}: {}", out.stderr);
    }

    // Another pipeline's packages are not this one's.
    let out = edges(d, &["load-pending", "--pipeline", "users_pipeline"], &[]);
    assert!(out.ok && out.stdout.contains("users_pipeline: nothing pending"), "{}{}", out.stdout, out.stderr);
    assert_eq!(scalar(&db, "SELECT count(*) FROM events.events"), json!(1));

    // A package that fails again is kept, and the command fails.
    let out = edges(d, &["load-pending", "--pipeline", "events_pipeline"], &[("CLI_EDGES_FREEZE", "1")]);
    assert!(!out.ok && out.stderr.contains("failed again and is kept"), "{}{}", out.stdout, out.stderr);
    let out = edges(d, &["load-pending", "--pipeline", "events_pipeline"], &[]);
    assert!(out.ok && out.stdout.contains("events_pipeline: loaded pending package"), "{}{}", out.stdout, out.stderr);
    assert_eq!(scalar(&db, "SELECT count(*) FROM events.events WHERE extra = 'x'"), json!(1), "the kept item is loaded");
    let out = edges(d, &["info"], &[]);
    assert!(out.stdout.matches("nothing pending").count() == 3 && out.stdout.contains("pipeline users_pipeline"), "{}", out.stdout);

    // Dropping discards it: nothing is loaded, nothing is left.
    assert!(!edges(d, &select, &[("CLI_EDGES_EXTRA", "other"), ("CLI_EDGES_FREEZE", "1")]).ok);
    let out = edges(d, &["drop-pending", "--pipeline", "events_pipeline"], &[]);
    assert!(out.ok && out.stdout.contains("events_pipeline: discarded 1 pending package(s)"), "{}{}", out.stdout, out.stderr);
    let pending = d.join(".etl/pipelines/events_pipeline/pending");
    assert_eq!(std::fs::read_dir(&pending).map(|r| r.count()).unwrap_or(0), 0);
    assert_eq!(scalar(&db, "SELECT count(*) FROM events.events"), json!(2));
    let out = edges(d, &["info", "--pipeline", "events_pipeline"], &[]);
    assert!(out.stdout.contains("nothing pending"), "{}", out.stdout);
}

#[test]
fn drop_names_the_assets_it_cannot_drop_and_drops_nothing_then() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = edges(d, &["materialize"], &[]);
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    let users_db = d.join("users_pipeline.duckdb");
    assert!(tables(&users_db, "users").contains(&"users".to_owned()));

    let out = edges(d, &["drop", "--select", "*"], &[]);
    assert!(!out.ok, "{}", out.stdout);
    assert!(out.stderr.contains("cannot drop `users_report` (op `users_report` at tests/src/bin/cli_edges.rs:"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was dropped"), "{}", out.stderr);
    assert!(tables(&users_db, "users").contains(&"users".to_owned()), "nothing was dropped");

    let out = edges(d, &["drop", "--select", "+users_report and kind:dlt"], &[]);
    assert!(out.ok && out.stdout.contains("dropped dlt_users_source_users: tables users"), "{}{}", out.stdout, out.stderr);
    assert!(!tables(&users_db, "users").contains(&"users".to_owned()));
    assert!(tables(&d.join("events_pipeline.duckdb"), "events").contains(&"events".to_owned()), "other pipelines are untouched");
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(&example_binary("simple_pipeline"), dir.path(), &["--log", "info", "--log-format", "json", "materialize"], &[]);
    assert!(out.ok, "{}", out.stderr);
    let events: Vec<serde_json::Value> =
        out.stderr.lines().filter(|l| l.contains("resource extracted and normalized")).map(|l| serde_json::from_str(l).expect(l)).collect();
    assert_eq!(events.len(), 1, "{}", out.stderr);
    assert_eq!(events[0]["level"], json!("INFO"));
    assert_eq!(events[0]["fields"]["resource"], json!("load_dict"));
    assert_eq!(events[0]["fields"]["root_rows"], json!(2));
}

#[test]
fn graph_format_mermaid_draws_a_flowchart() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(&example_binary("warehouse"), dir.path(), &["graph", "--format", "mermaid"], &[]);
    assert!(out.ok, "{}", out.stderr);
    let m = &out.stdout;
    assert!(m.starts_with("flowchart LR\n"), "{m}");
    assert!(m.contains("  shop_orders[/\"shop_orders\"/]\n"), "external deps are drawn as such: {m}");
    assert!(m.contains("  revenue_report[\"revenue_report\"]\n"), "{m}");
    assert!(m.contains("  exchange_rates --> revenue_report\n") && m.contains("  dlt_shop_orders --> revenue_report\n"), "{m}");
}

#[test]
fn an_empty_registry_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(Path::new(env!("CARGO_BIN_EXE_no_assets")), dir.path(), &["list"], &[]);
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stderr.starts_with("warning: no assets are registered in this binary."), "{}", out.stderr);
    assert!(out.stderr.contains("use my_assets as _;"), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "KEY  DEPS  GROUP  KINDS");
}

#[test]
fn run_takes_an_id_or_a_unique_prefix_and_names_two_matches_of_an_ambiguous_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = etl::RunStore::at(dir.path().join(".etl"));
    for id in ["r1", "r10", "r2"] {
        let record = etl::runtime::RunRecord::new(id, "*", Vec::new());
        store.start(record).unwrap().finish(etl::RunStatus::Success).unwrap();
    }
    let out = edges(dir.path(), &["run", "r1"], &[]);
    assert!(out.ok && out.stdout.starts_with("run r1 SUCCESS"), "the id itself, though `r10` starts with it too: {}{}", out.stdout, out.stderr);
    let out = edges(dir.path(), &["run", "r2"], &[]);
    assert!(out.ok && out.stdout.starts_with("run r2 SUCCESS"), "{}{}", out.stdout, out.stderr);
    let out = edges(dir.path(), &["run", "r"], &[]);
    assert!(!out.ok && out.stderr.contains("`r` matches more than one run (r1, r10, ...)"), "{}", out.stderr);
    let out = edges(dir.path(), &["run", "x"], &[]);
    assert!(!out.ok && out.stderr.contains("no run `x`"), "{}", out.stderr);
}
