//! Every conformance case in `tests/data/conformance/postgres/` (produced by the real dlt 1.31
//! with its `postgres` destination on PostgreSQL 15) through the runner with `--destination`
//! into a fresh database of a throwaway server, read the way those goldens were made (their
//! `README.md`): column types as `format_type(atttypid, atttypmod)` in `attnum` order, nullable as
//! not `attnotnull`, `pg_constraints`, jsonb as PostgreSQL's jsonb text, bytea as
//! `{"$bytes_hex"}`, timestamps with time zone in UTC.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use postgres::{Client, NoTls};
use serde_json::{json, Value as J};

use super::{assert_only_not_yet, cases, run_case, Col, RawTable, Snapshot};

/// Cases that need features this build does not have yet, with the reason (see the DuckDB
/// test's list).
const NOT_YET: &[(&str, &str)] = &[];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("conformance").join("postgres")
}

/// One case's database.
struct PgDatabase {
    url: String,
    client: Client,
}

impl PgDatabase {
    fn connect(url: String) -> PgDatabase {
        let mut client = Client::connect(&url, NoTls).unwrap();
        // As the goldens were read: timestamps with time zone in UTC, bytea in hex.
        client.batch_execute("SET TimeZone = 'UTC'; SET bytea_output = 'hex'").unwrap();
        PgDatabase { url, client }
    }

    fn strings(&mut self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Vec<String> {
        self.client.query(sql, params).unwrap().iter().map(|r| r.get(0)).collect()
    }

    /// `pg_constraints` as the goldens list it: the sorted constraint definitions, then the
    /// definitions of indexes that back no constraint.
    fn constraints(&mut self, ds: &str, t: &str) -> Vec<String> {
        let rel = format!("{}.{}", quote(ds), quote(t));
        let mut defs = self.strings("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::text::regclass", &[&rel]);
        defs.sort();
        let mut indexes = self.strings(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1::text::regclass \
             AND indexrelid NOT IN (SELECT conindid FROM pg_constraint)",
            &[&rel],
        );
        indexes.sort();
        defs.extend(indexes);
        defs
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Snapshot for PgDatabase {
    fn runner_args(&self) -> Vec<String> {
        vec!["--destination".into(), self.url.clone()]
    }

    fn datasets(&mut self) -> Option<BTreeSet<String>> {
        let sql = "SELECT DISTINCT table_schema::text FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')";
        Some(self.strings(sql, &[]).into_iter().collect())
    }

    fn tables(&mut self, ds: &str) -> BTreeMap<String, RawTable> {
        let names = self.strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1", &[&ds]);
        let mut out = BTreeMap::new();
        for t in names {
            let columns: Vec<Col> = self
                .client
                .query(
                    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull FROM pg_attribute a \
                     WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    &[&format!("{}.{}", quote(ds), quote(&t))],
                )
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            let select: Vec<String> = columns.iter().map(|(n, _, _)| format!("{}::text", quote(n))).collect();
            let sql = format!("SELECT {} FROM {}.{}", select.join(", "), quote(ds), quote(&t));
            let rows = self
                .client
                .query(&sql, &[])
                .unwrap()
                .iter()
                .map(|r| columns.iter().enumerate().map(|(i, (_, ty, _))| r.get::<_, Option<String>>(i).map_or(J::Null, |text| value(ty, &text))).collect())
                .collect();
            let constraints = Some(self.constraints(ds, &t));
            out.insert(t, RawTable { columns, rows, constraints });
        }
        out
    }

    fn states(&mut self, ds: &str) -> Vec<String> {
        let sql = format!("SELECT state FROM {}._dlt_pipeline_state ORDER BY version", quote(ds));
        self.client.query(&sql, &[]).map(|rows| rows.iter().map(|r| r.get(0)).collect()).unwrap_or_default()
    }

    fn stored_schema(&mut self, ds: &str) -> Option<String> {
        let sql = format!("SELECT schema FROM {}._dlt_version ORDER BY inserted_at DESC, version DESC LIMIT 1", quote(ds));
        self.client.query(&sql, &[]).ok()?.first().map(|r| r.get(0))
    }
}

/// A value's text output as the golden encodes it (what psycopg2 returns, through
/// `make_golden.py`'s `jsonable`).
fn value(ty: &str, text: &str) -> J {
    // The type's first word: `double precision`, `numeric(10,2)`, `timestamp(3) without time zone`.
    let base = ty.split(['(', ' ']).next().unwrap_or(ty);
    match base {
        "bigint" | "integer" | "smallint" => json!(text.parse::<i64>().unwrap()),
        "double" | "real" => match text {
            "NaN" => json!({"$float": "nan"}),
            "Infinity" => json!({"$float": "inf"}),
            "-Infinity" => json!({"$float": "-inf"}),
            _ => json!(text.parse::<f64>().unwrap()),
        },
        // `boolean::text` is `true`/`false` (the output function's `t`/`f` is not used by a cast).
        "boolean" => json!(text == "true"),
        "numeric" => json!({"$decimal": text}),
        "date" => json!({"$date": text}),
        "bytea" => json!({"$bytes_hex": text.strip_prefix("\\x").unwrap_or(text)}),
        // Python's isoformat: `T`, microseconds (six digits) only when there are any.
        "timestamp" if ty.ends_with("with time zone") => {
            let local = text.strip_suffix("+00").unwrap_or_else(|| panic!("{ty} `{text}` not read in UTC"));
            json!({"$datetime": format!("{}+00:00", iso_time(&local.replacen(' ', "T", 1)))})
        }
        "timestamp" => json!({"$datetime": iso_time(&text.replacen(' ', "T", 1))}),
        "time" => json!({"$time": iso_time(text)}),
        // Text, and jsonb as PostgreSQL's jsonb output text.
        _ => json!(text),
    }
}

/// A time of day (or a datetime ending in one) with its fraction padded to microseconds.
fn iso_time(text: &str) -> String {
    match text.split_once('.') {
        Some((whole, fraction)) => format!("{whole}.{fraction:0<6}"),
        None => text.to_owned(),
    }
}

#[test]
fn conformance_cases_match_dlt_on_postgres() {
    let pg = etl_testkit::pg_or_skip!();
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let all = cases(&data_dir());
    assert!(all.len() >= 19, "expected the 19 shared PostgreSQL cases, found {}", all.len());
    for case in &all {
        let name = case.file_stem().unwrap().to_string_lossy().to_string();
        let dir = tempfile::tempdir().unwrap();
        let mut db = PgDatabase::connect(pg.create_database().unwrap());
        let problems = run_case(case, dir.path(), &mut db);
        if !problems.is_empty() {
            failures.insert(name, problems);
        }
    }
    assert_only_not_yet(&failures, NOT_YET);
}

/// Our rule where dlt blocks (`OUR_RULES`), on PostgreSQL as on DuckDB: after a run rejected by a
/// `freeze` contract, the next run loads its own data and the table never got the rejected column.
#[test]
fn contract_violation_does_not_block_the_next_run_on_postgres() {
    let pg = etl_testkit::pg_or_skip!();
    let case = data_dir().join("schema_contract_freeze.json");
    let dir = tempfile::tempdir().unwrap();
    let mut db = PgDatabase::connect(pg.create_database().unwrap());
    for i in 0..3 {
        let out = std::process::Command::new(etl_tests::example_binary("conformance"))
            .arg(&case)
            .arg("--workdir")
            .arg(dir.path())
            .arg("--run")
            .arg(i.to_string())
            .args(db.runner_args())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line: J = serde_json::from_slice(&out.stdout).unwrap();
        let expected = if i == 1 { "error" } else { "ok" };
        assert_eq!(line["outcome"], expected, "run {i}: {line}");
    }
    // `freeze` is one of PostgreSQL's reserved words: the dataset works because every name is quoted.
    assert_eq!(db.strings("SELECT id::text FROM \"freeze\".items ORDER BY id", &[]), ["1", "3"]);
    let new_col = db.strings("SELECT attname::text FROM pg_attribute WHERE attrelid = '\"freeze\".items'::regclass AND attname = 'new_col'", &[]);
    assert!(new_col.is_empty(), "{new_col:?}");
    assert_eq!(db.strings("SELECT count(*)::text FROM \"freeze\"._dlt_loads", &[]), ["2"]);
}
