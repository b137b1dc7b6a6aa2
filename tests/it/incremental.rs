//! Incremental resources written with the macros: the window is filtered, the boundary row is
//! not duplicated, the function sees the window to push it down, and a run with nothing new
//! loads nothing.

use std::sync::Mutex;

use etl_tests::scalar;
use serde_json::json;

/// What the resource was asked for on each run (the pushed-down window).
static SEEN_START: Mutex<Vec<Option<serde_json::Value>>> = Mutex::new(Vec::new());
/// Rows the "API" returns; tests append to it between runs.
static FEED: Mutex<Vec<serde_json::Value>> = Mutex::new(Vec::new());

#[etl::source]
fn feed_source() -> etl::Source {
    #[etl::resource(incremental = etl::Incremental::new("updated_at").initial_value("2024-01-01T00:00:00Z"))]
    fn posts(cx: &etl::ResourceContext) -> Vec<serde_json::Value> {
        SEEN_START.lock().unwrap().push(cx.start_value.clone());
        FEED.lock().unwrap().clone()
    }
    posts()
}

#[etl::assets(dlt_source = feed_source(), dlt_pipeline = etl::pipeline("feed_pipeline").dataset_name("feed"))]
fn feed_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

const KEY: &str = "dlt_feed_source_posts";

#[test]
fn incremental_runs_load_only_new_rows() {
    *FEED.lock().unwrap() = vec![
        json!({"id": 0, "updated_at": "2023-12-31T00:00:00Z"}),
        json!({"id": 1, "updated_at": "2024-01-02T00:00:00Z"}),
        json!({"id": 2, "updated_at": "2024-01-03T00:00:00Z"}),
    ];
    let first = etl::testing::materialize(KEY).run().unwrap();
    assert!(first.result().success(), "{:?}", first.result().failures());
    let db = first.database("feed_pipeline");
    assert_eq!(scalar(&db, "SELECT count(*) FROM feed.posts"), json!(2));

    // Same rows plus one at the boundary and one newer: only the two new ones load.
    FEED.lock().unwrap().extend([json!({"id": 3, "updated_at": "2024-01-03T00:00:00Z"}), json!({"id": 4, "updated_at": "2024-01-04T00:00:00Z"})]);
    let second = etl::testing::materialize(KEY).after(&first).run().unwrap();
    assert!(second.result().success());
    let ids = second.query("feed_pipeline", "SELECT id FROM feed.posts ORDER BY id").unwrap();
    assert_eq!(ids, vec![vec![json!(1)], vec![json!(2)], vec![json!(3)], vec![json!(4)]]);
    assert_eq!(second.result().materialization(KEY).unwrap().get("rows_loaded"), Some(&etl::MetadataValue::Int(2)));

    // Nothing new: no load, no new _dlt_loads row, rows_loaded 0.
    let third = etl::testing::materialize(KEY).after(&first).run().unwrap();
    assert!(third.result().success());
    assert_eq!(scalar(&db, "SELECT count(*) FROM feed._dlt_loads"), json!(2));
    assert_eq!(third.result().materialization(KEY).unwrap().get("rows_loaded"), Some(&etl::MetadataValue::Int(0)));

    let seen = SEEN_START.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![Some(json!("2024-01-01T00:00:00Z")), Some(json!("2024-01-03T00:00:00Z")), Some(json!("2024-01-04T00:00:00Z"))]
    );
}
