//! Every conformance case in `tests/data/conformance/` (produced by the real dlt 1.31 + DuckDB
//! 2.0) through the runner into a DuckDB file in the case's working directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use etl_tests::example_binary;
use serde_json::{json, Value as J};

use super::{assert_only_not_yet, cases, run_case, Col, RawTable, Snapshot};

/// Cases that need features this build does not have yet, with the reason. The test fails if one
/// of them starts passing (so the list shrinks as features land) or if any other case fails.
const NOT_YET: &[(&str, &str)] = &[];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("conformance")
}

/// The DuckDB file a case's pipeline writes in its working directory.
struct DuckDbFile {
    db: PathBuf,
}

impl DuckDbFile {
    fn query(&self, sql: &str) -> Vec<Vec<J>> {
        etl::testing::query_file(&self.db, sql).unwrap()
    }
}

impl Snapshot for DuckDbFile {
    fn runner_args(&self) -> Vec<String> {
        Vec::new()
    }

    fn datasets(&mut self) -> Option<BTreeSet<String>> {
        if !self.db.exists() {
            return None;
        }
        let rows = self.query("SELECT DISTINCT table_schema FROM information_schema.tables");
        Some(rows.into_iter().map(|r| r[0].as_str().unwrap().to_owned()).filter(|s| s != "main").collect())
    }

    fn tables(&mut self, ds: &str) -> BTreeMap<String, RawTable> {
        let names = self.query(&format!("SELECT table_name FROM information_schema.tables WHERE table_schema = '{ds}'"));
        let mut out = BTreeMap::new();
        for t in names.into_iter().map(|r| r[0].as_str().unwrap().to_owned()) {
            let columns: Vec<Col> = self
                .query(&format!(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                     WHERE table_schema = '{ds}' AND table_name = '{t}' ORDER BY ordinal_position"
                ))
                .into_iter()
                .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned(), r[2] == "YES"))
                .collect();
            let mut rows = self.query(&format!("SELECT * FROM \"{ds}\".\"{t}\""));
            for row in &mut rows {
                for (v, (_, ty, _)) in row.iter_mut().zip(&columns) {
                    // DuckDB reads in UTC; the golden has Python's isoformat with the offset.
                    if ty == "TIMESTAMP WITH TIME ZONE" {
                        if let Some(s) = v.get("$datetime").and_then(J::as_str) {
                            *v = json!({"$datetime": format!("{s}+00:00")});
                        }
                    }
                }
            }
            out.insert(t, RawTable { columns, rows, constraints: None });
        }
        out
    }

    fn states(&mut self, ds: &str) -> Vec<String> {
        let rows = etl::testing::query_file(&self.db, &format!("SELECT state FROM \"{ds}\"._dlt_pipeline_state ORDER BY version")).unwrap_or_default();
        rows.into_iter().map(|r| r[0].as_str().unwrap_or_default().to_owned()).collect()
    }

    fn stored_schema(&mut self, ds: &str) -> Option<String> {
        let sql = format!("SELECT schema FROM \"{ds}\"._dlt_version ORDER BY inserted_at DESC, version DESC LIMIT 1");
        let rows = etl::testing::query_file(&self.db, &sql).unwrap_or_default();
        rows.first().and_then(|r| r[0].as_str()).map(str::to_owned)
    }
}

#[test]
fn conformance_cases_match_dlt() {
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let all = cases(&data_dir());
    assert!(all.len() >= 19, "expected the 19 shared cases, found {}", all.len());
    for case in &all {
        let name = case.file_stem().unwrap().to_string_lossy().to_string();
        let case_json: J = serde_json::from_str(&std::fs::read_to_string(case).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut db = DuckDbFile { db: dir.path().join(format!("{}.duckdb", case_json["pipeline_name"].as_str().unwrap())) };
        let problems = run_case(case, dir.path(), &mut db);
        if !problems.is_empty() {
            failures.insert(name, problems);
        }
    }
    assert_only_not_yet(&failures, NOT_YET);
}

/// Our rule where dlt blocks: after a run rejected by a `freeze` contract, the next run loads its
/// own data (the rejected row is not replayed) and the destination never saw the rejected column.
#[test]
fn contract_violation_does_not_block_the_next_run() {
    let case = data_dir().join("schema_contract_freeze.json");
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let out = Command::new(example_binary("conformance")).arg(&case).arg("--workdir").arg(dir.path()).arg("--run").arg(i.to_string()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line: J = serde_json::from_slice(&out.stdout).unwrap();
        if i == 1 {
            assert_eq!(line["outcome"], "error");
            assert_eq!(line["step"], "normalize");
            let msg = line["error"].as_str().unwrap();
            assert!(msg.contains("new_col") && msg.contains("items") && msg.contains("freeze") && msg.contains("resource `items`"), "{msg}");
        } else {
            assert_eq!(line["outcome"], "ok", "run {i}: {line}");
        }
    }
    let db = dir.path().join("freeze_pipeline.duckdb");
    let ids = etl::testing::query_file(&db, "SELECT id FROM \"freeze\".items ORDER BY id").unwrap();
    assert_eq!(ids, vec![vec![json!(1)], vec![json!(3)]]);
    let cols = etl::testing::query_file(&db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'new_col'").unwrap();
    assert_eq!(cols[0][0], json!(0));
    let loads = etl::testing::query_file(&db, "SELECT count(*) FROM \"freeze\"._dlt_loads").unwrap();
    assert_eq!(loads[0][0], json!(2));
}
