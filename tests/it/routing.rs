//! Per-item table routing (issue 17): dlt's dynamic table names (`table_name` as a function of
//! the item), `with_table_name` and `with_hints` marks. Routed tables get their own nested
//! tables and the resource's (or their own) write disposition and keys.

use etl::Value;
use serde_json::json;

fn events(run: i64) -> Vec<serde_json::Value> {
    vec![
        json!({"id": 1, "kind": "click", "n": run, "tags": ["a", "b"]}),
        json!({"id": 2, "kind": "view", "n": run, "tags": ["c"]}),
        json!({"id": 3, "kind": "click", "n": run, "tags": []}),
    ]
}

fn routed(run: i64) -> etl::Source {
    let r = etl::Resource::from_data("events", events(run))
        .with_write_disposition(etl::WriteDisposition::Merge)
        .with_primary_key(["id"])
        .with_table_name_fn(|item| item.get("kind").and_then(Value::as_str).unwrap_or("other").to_owned());
    etl::Source::with("routing", vec![r]).unwrap()
}

#[test]
fn a_table_name_function_routes_items_to_tables_with_their_own_nested_tables_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("routing").dataset_name("routed").working_dir(dir.path());
    pipeline.run(routed(1)).unwrap();
    pipeline.run(routed(2)).unwrap();
    let ds = pipeline.dataset();
    let counts = ds.row_counts().unwrap();
    assert_eq!(counts.get("click"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("view"), Some(&1));
    assert_eq!(counts.get("click__tags"), Some(&2), "each routed table has its nested tables, merged too");
    assert_eq!(counts.get("view__tags"), Some(&1));
    assert!(!counts.contains_key("events"), "no row went to the resource's own table: {counts:?}");
    let n = ds.query("SELECT DISTINCT n FROM click").fetchall().unwrap();
    assert_eq!(n, vec![vec![Value::Int(2)]], "merged on the primary key: the second run's values");
    // The stored schema: each routed table has the resource's disposition and key.
    let schema = pipeline.info().unwrap().schema_tables;
    assert!(schema.iter().any(|t| t.name == "click__tags" && t.parent.as_deref() == Some("click")));
}

#[test]
fn marked_items_go_to_their_table_with_their_own_hints() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("marks").dataset_name("marked").working_dir(dir.path());
    let source = |run: i64| {
        let mut audit = etl::ResourceHints::new("audit_hints");
        audit.table_name = Some("audit".into());
        audit.write_disposition = etl::WriteDisposition::Replace;
        let items = vec![
            Value::from(json!({"id": run, "what": "plain row"})),
            etl::mark::with_table_name(vec![json!({"id": 10 + run}), json!({"id": 20 + run})], "side"),
            etl::mark::with_hints(json!({"run": run}), &audit),
        ];
        etl::Source::with("marks", vec![etl::Resource::from_values("main", items)]).unwrap()
    };
    pipeline.run(source(1)).unwrap();
    pipeline.run(source(2)).unwrap();
    let counts = pipeline.dataset().row_counts().unwrap();
    assert_eq!(counts["main"], 2, "the resource's table appends");
    assert_eq!(counts["side"], 4, "a marked list: each row, appended as the resource");
    assert_eq!(counts["audit"], 1, "the marked table's own `replace`");
    let audit = pipeline.dataset().query("SELECT run FROM audit").fetchall().unwrap();
    assert_eq!(audit, vec![vec![Value::Int(2)]]);
}

#[test]
fn the_incremental_window_is_judged_before_routing() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("routing_inc").dataset_name("routed").working_dir(dir.path());
    let source = |ids: std::ops::RangeInclusive<i64>| {
        let rows: Vec<serde_json::Value> = ids.map(|i| json!({"id": i, "kind": if i % 2 == 0 { "even" } else { "odd" }})).collect();
        let r = etl::Resource::from_data("numbers", rows)
            .with_incremental(etl::Incremental::new("id"))
            .with_table_name_fn(|item| item.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned());
        etl::Source::with("routing_inc", vec![r]).unwrap()
    };
    pipeline.run(source(1..=10)).unwrap();
    pipeline.run(source(1..=14)).unwrap();
    let counts = pipeline.dataset().row_counts().unwrap();
    assert_eq!((counts["even"], counts["odd"]), (7, 7), "ids 11-14 only on the second run: {counts:?}");
}
