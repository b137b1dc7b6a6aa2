//! `[instance] max_concurrent_runs` and `tag_concurrency_limits` across processes, on both
//! instance storages: with a limit of 1, two runs started at once never overlap (the ops' own
//! start and end times), and the one that waits says so once; unset, they overlap; a bad value
//! fails the run naming the key and the file; a tag rule limits the runs with its tag (or each
//! value apart) and no others.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use etl_testkit::pg_or_skip;

use super::pools::{command, dir_with_config, finish, most_at_once, spans, text};

const WAITING: &str = "waiting for a run slot";

/// `marked` runs started at once in a directory with `config`, one per argument list, each
/// sleeping `sleep_ms`; returns their output and the most runs in progress at once.
fn runs_at_once(config: &str, storage: Option<&str>, runs: &[&[&str]], sleep_ms: &str) -> (String, usize) {
    let dir = dir_with_config(config);
    let exe = Path::new(env!("CARGO_BIN_EXE_marked"));
    let children: Vec<Child> = runs.iter().map(|args| command(exe, dir.path(), storage, args).env("MARKED_SLEEP_MS", sleep_ms).spawn().unwrap()).collect();
    let mut output = String::new();
    for child in children {
        let out = finish(child, Duration::from_secs(60), "marked");
        assert!(out.status.success(), "marked:\n{}", text(&out));
        output.push_str(&text(&out));
    }
    let spans = spans(dir.path());
    assert_eq!(spans.len(), runs.len(), "{spans:?}");
    (output, most_at_once(&spans))
}

/// Two runs of everything at once.
fn two_runs_at_once(config: &str, storage: Option<&str>) -> (String, usize) {
    let all: &[&str] = &["materialize", "--select", "*"];
    runs_at_once(config, storage, &[all, all], "1500")
}

fn one_run_at_a_time(storage: Option<&str>) {
    let (output, most) = two_runs_at_once("[instance]\nmax_concurrent_runs = 1\n", storage);
    assert_eq!(most, 1, "the runs never overlap:\n{output}");
    assert_eq!(output.matches(WAITING).count(), 1, "the run that waited said so once:\n{output}");
}

#[test]
fn max_concurrent_runs_of_one_serializes_two_processes_on_files_storage() {
    one_run_at_a_time(None);
}

#[test]
fn max_concurrent_runs_of_one_serializes_two_processes_on_postgres_storage() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    one_run_at_a_time(Some(&url));
}

#[test]
fn without_max_concurrent_runs_two_runs_overlap() {
    let (output, most) = two_runs_at_once("", None);
    assert_eq!(most, 2, "the runs overlap:\n{output}");
    assert!(!output.contains(WAITING), "{output}");
}

#[test]
fn a_bad_max_concurrent_runs_fails_the_run_naming_the_key_and_the_file() {
    let exe = Path::new(env!("CARGO_BIN_EXE_marked"));
    for bad in ["0", "-2", "\"two\""] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
        std::fs::write(dir.path().join(".etl/config.toml"), format!("[instance]\nmax_concurrent_runs = {bad}\n")).unwrap();
        let out = command(exe, dir.path(), None, &["materialize", "--select", "*"]).output().unwrap();
        let output = text(&out);
        assert!(!out.status.success(), "{bad}: {output}");
        assert!(output.contains("max_concurrent_runs") && output.contains(".etl/config.toml"), "{bad}: {output}");
        assert!(!dir.path().join("spans.txt").exists(), "{bad}: no step ran");
    }
}

/// Three `marked` runs at once, tagged as given, under `tag_concurrency_limits`.
fn three_tagged_runs(config: &str, tags: [&str; 3], storage: Option<&str>) -> (String, usize) {
    let args = tags.map(|tag| ["materialize", "--tag", tag]);
    runs_at_once(config, storage, &[&args[0][..], &args[1][..], &args[2][..]], "1200")
}

fn tag_limits_hold_across_processes(storage: Option<&str>) {
    // One run at a time with db=wh; db=lake is not limited.
    let one = "[instance]\ntag_concurrency_limits = [{ key = \"db\", value = \"wh\", limit = 1 }]\n";
    let (output, most) = three_tagged_runs(one, ["db=wh", "db=wh", "db=wh"], storage);
    assert_eq!(most, 1, "never two db=wh runs at once:\n{output}");
    assert!(output.contains("`[instance] tag_concurrency_limits`") && output.contains("tag[0]:db=wh"), "{output}");
    let (output, most) = three_tagged_runs(one, ["db=lake", "db=lake", "db=lake"], storage);
    assert_eq!(most, 3, "another value is not limited:\n{output}");
    // Per unique value: two values, one run each at a time.
    let per_value = "[instance]\ntag_concurrency_limits = [{ key = \"db\", value = { applyLimitPerUniqueValue = true }, limit = 1 }]\n";
    let (output, most) = three_tagged_runs(per_value, ["db=a", "db=a", "db=b"], storage);
    assert_eq!(most, 2, "db=b runs beside one db=a run, the second db=a waits:\n{output}");
}

#[test]
fn tag_concurrency_limits_hold_across_processes_on_files() {
    tag_limits_hold_across_processes(None);
}

#[test]
fn tag_concurrency_limits_hold_across_processes_on_postgres() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    tag_limits_hold_across_processes(Some(&url));
}
