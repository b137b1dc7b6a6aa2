//! The tables dlt 1.31 created in PostgreSQL for the conformance cases, made again from their
//! stored schemas with our DDL: every table's columns (`format_type`, nullability, order) and
//! constraints must be what the goldens record (`tests/data/conformance/postgres/`).

use etl_core::Schema;
use etl_pipeline::destination::postgres::{ddl, PgSession};
use etl_testkit::pg_or_skip;
use serde_json::{json, Value as Json};

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/conformance/postgres")
}

/// Columns and constraints of `dataset.table` as the goldens write them.
fn describe(client: &mut postgres::Client, dataset: &str, table: &str) -> Json {
    let columns: Vec<Json> = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&dataset, &table],
        )
        .unwrap()
        .iter()
        .map(|r| json!({"name": r.get::<_, String>(0), "type": r.get::<_, String>(1), "nullable": r.get::<_, bool>(2)}))
        .collect();
    let mut constraints: Vec<String> = client
        .query(
            "SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            &[&dataset, &table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    constraints.sort();
    json!({"columns": columns, "pg_constraints": constraints})
}

/// Every golden case: for each run, the tables of its datasets created from that run's stored
/// schema (in a dataset of their own) and compared with the golden.
#[test]
fn tables_made_from_stored_schemas_match_every_golden() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let mut paths: Vec<_> = std::fs::read_dir(golden_dir()).unwrap().flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".golden.json")).collect();
    paths.sort();
    assert_eq!(paths.len(), 19);
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for path in &paths {
        let case = path.file_name().unwrap().to_string_lossy().trim_end_matches(".golden.json").to_owned();
        let golden: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for (run, r) in golden["runs"].as_array().unwrap().iter().enumerate() {
            let Some(datasets) = r["db"].as_object() else { continue };
            let Some(stored) = datasets.values().find_map(|d| d.get("stored_schema").filter(|s| !s.is_null())) else { continue };
            let schema = Schema::from_stored_json(stored).unwrap();
            for (d, (dataset, content)) in datasets.iter().enumerate() {
                let Some(tables) = content["tables"].as_object() else { continue };
                let ours = format!("{case}_{run}_{d}");
                let mut session = PgSession::begin(&url).unwrap();
                session.execute(&ddl::create_dataset_sql(&ours)).unwrap();
                for name in tables.keys() {
                    let table = schema.table(name).unwrap_or_else(|| panic!("{case} run {run}: {dataset}.{name} not in the stored schema"));
                    if let Some(sql) = ddl::table_update_sql(&ours, table, &[]).unwrap() {
                        session.execute(&sql).unwrap();
                    }
                }
                session.commit().unwrap();
                let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                for (name, expected) in tables {
                    let got = describe(&mut client, &ours, name);
                    let want = json!({"columns": expected["columns"], "pg_constraints": expected["pg_constraints"]});
                    compared += 1;
                    if got != want {
                        mismatches.push(format!("{case} run {run} {dataset}.{name}:\n  ours   {got}\n  golden {want}"));
                    }
                }
            }
        }
    }
    assert!(compared > 50, "{compared}");
    assert!(mismatches.is_empty(), "{} of {compared} tables differ:\n{}", mismatches.len(), mismatches.join("\n"));
}
