//! The example binaries, run as a user runs them: in their own working directory.

use std::process::Command;

use etl_tests::{columns, example_binary, scalar, tables};
use serde_json::json;

fn run(bin: &str, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(example_binary(bin)).args(args).current_dir(dir).output().expect("run example");
    assert!(out.status.success(), "{bin} {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn simple_pipeline_binary_creates_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let list = run("simple_pipeline", dir.path(), &["list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("dlt_simple_source_load_dict") && text.contains("simple_source_load_dict") && text.contains("dlt,duckdb"), "{text}");

    let out = run("simple_pipeline", dir.path(), &["materialize", "--select", "*"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Extract: load_dict: 2 rows"), "progress log: {stderr}");
    let db = dir.path().join("simple_pipeline.duckdb");
    assert_eq!(columns(&db, "simple", "load_dict").len(), 4);
    assert_eq!(scalar(&db, "SELECT count(*) FROM simple.load_dict"), json!(2));

    run("simple_pipeline", dir.path(), &["materialize"]);
    assert_eq!(scalar(&db, "SELECT count(*) FROM simple.load_dict"), json!(4));
    assert_eq!(scalar(&db, "SELECT count(*) FROM simple._dlt_loads"), json!(2));
}

#[test]
fn two_resources_selection_creates_no_orders_tables() {
    let dir = tempfile::tempdir().unwrap();
    run("two_resources", dir.path(), &["materialize", "--select", "dlt_two_source_users"]);
    let db = dir.path().join("two_resources_pipeline.duckdb");
    assert!(tables(&db, "shop").iter().all(|t| !t.starts_with("orders")));
    run("two_resources", dir.path(), &["materialize", "--select", "*"]);
    assert!(tables(&db, "shop").contains(&"orders__items".to_owned()));
    assert_eq!(scalar(&db, "SELECT count(*) FROM shop.orders__items"), json!(6));
}

#[test]
fn unknown_selection_fails_with_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example_binary("simple_pipeline")).args(["materialize", "--select", "nope"]).current_dir(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no asset `nope`"));
    assert!(!dir.path().join("simple_pipeline.duckdb").exists());
}

#[test]
fn info_and_drop_commands() {
    let dir = tempfile::tempdir().unwrap();
    let info = run("two_resources", dir.path(), &["info"]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("not run yet"));
    run("two_resources", dir.path(), &["materialize"]);
    let info = String::from_utf8_lossy(&run("two_resources", dir.path(), &["info"]).stdout).to_string();
    assert!(info.contains("schema two_source version 2") && info.contains("orders__items: 6 rows") && info.contains("nothing pending"), "{info}");
    let dropped = String::from_utf8_lossy(&run("two_resources", dir.path(), &["drop", "--select", "dlt_two_source_orders"]).stdout).to_string();
    assert!(dropped.contains("orders__items") && dropped.contains("orders"), "{dropped}");
    let db = dir.path().join("two_resources_pipeline.duckdb");
    let t = tables(&db, "shop");
    assert!(t.contains(&"users".to_owned()) && !t.iter().any(|x| x.starts_with("orders")), "{t:?}");
    assert_eq!(scalar(&db, "SELECT max(version) FROM shop._dlt_version"), json!(3), "dropping stores a new schema version");
    // The next run recreates them.
    run("two_resources", dir.path(), &["materialize", "--select", "dlt_two_source_orders"]);
    assert_eq!(scalar(&db, "SELECT count(*) FROM shop.orders__items"), json!(6));
}
