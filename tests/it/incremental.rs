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

mod windows {
    //! Bounded windows (`end_value`), `lag` and the size of the stored state, on the direct
    //! pipeline API.

    use etl::{Incremental, Resource};
    use serde_json::json;

    fn nums(rows: impl IntoIterator<Item = i64>, inc: Incremental) -> Resource {
        let rows: Vec<serde_json::Value> = rows.into_iter().map(|n| json!({"n": n})).collect();
        Resource::from_data("nums", rows).with_incremental(inc)
    }

    fn cursor(p: &etl::Pipeline) -> serde_json::Value {
        let (_, doc) = p.info().unwrap().state.unwrap();
        // A resource run on its own is in the pipeline's default schema.
        let source = doc["sources"].as_object().unwrap().values().next().unwrap();
        source["resources"]["nums"]["incremental"]["n"].clone()
    }

    fn loaded(p: &etl::Pipeline) -> Vec<i64> {
        etl::testing::query_file(&p.database_path(), "SELECT n FROM win.nums ORDER BY n, _dlt_load_id")
            .unwrap()
            .into_iter()
            .map(|r| r[0].as_i64().unwrap())
            .collect()
    }

    #[test]
    fn a_backfill_window_after_forward_runs_loads_exactly_its_range_and_keeps_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let p = etl::pipeline("win_pipeline").dataset_name("win").working_dir(dir.path());
        let forward = || Incremental::new("n").initial_value(0);
        p.run(nums(0..10, forward())).unwrap();
        assert_eq!(cursor(&p)["last_value"], json!(9));
        let before = cursor(&p);

        // [2, 5) of data that goes to 20, while the stored cursor is at 9.
        let info = p.run(nums(0..20, Incremental::new("n").initial_value(2).end_value(5))).unwrap();
        assert_eq!(info.rows("nums"), 3);
        let mut expected: Vec<i64> = (0..10).chain(2..5).collect();
        expected.sort();
        assert_eq!(loaded(&p), expected);
        assert_eq!(cursor(&p), before, "a bounded window neither reads nor moves the stored cursor");

        // Forward runs continue from 9.
        let info = p.run(nums(0..12, forward())).unwrap();
        assert_eq!(info.rows("nums"), 2);
        assert_eq!(cursor(&p)["last_value"], json!(11));

        // A bounded window on a fresh pipeline creates no cursor at all.
        let dir = tempfile::tempdir().unwrap();
        let fresh = etl::pipeline("win_pipeline").dataset_name("win").working_dir(dir.path());
        fresh.run(nums(0..20, Incremental::new("n").initial_value(2).end_value(5))).unwrap();
        assert_eq!(loaded(&fresh), [2, 3, 4]);
        let state = fresh.info().unwrap().state.map(|(_, doc)| doc.to_string()).unwrap_or_default();
        assert!(!state.contains("incremental"), "{state}");

        // dlt's rules: an end value needs an initial value, after it.
        let err = p.run(nums(0..3, Incremental::new("n").end_value(5))).unwrap_err();
        assert_eq!(err.step, etl::Step::Config);
        assert!(err.to_string().contains("resource `nums`") && err.to_string().contains("without `initial_value`"), "{err}");
    }

    #[test]
    fn lag_reloads_the_last_stretch_and_the_cursor_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let p = etl::pipeline("lag_pipeline").dataset_name("win").working_dir(dir.path());
        let lagged = || Incremental::new("n").initial_value(0).lag(2.0);
        p.run(nums(0..5, lagged())).unwrap();
        assert_eq!(cursor(&p)["last_value"], json!(4));
        // Rows from 4 - 2 = 2 on load again (a lag re-loads on purpose: no boundary dedup).
        let info = p.run(nums(0..6, lagged())).unwrap();
        assert_eq!(info.rows("nums"), 4);
        assert_eq!(cursor(&p)["last_value"], json!(5));
        // Nothing past the cursor: the lagged rows load, the cursor stays.
        let info = p.run(nums(0..4, lagged())).unwrap();
        assert_eq!(info.rows("nums"), 1, "only 3 is within [5 - 2, ...)");
        assert_eq!(cursor(&p)["last_value"], json!(5));
    }

    #[test]
    fn stored_state_does_not_grow_with_the_rows_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = etl::pipeline("big_state_pipeline").dataset_name("win").working_dir(dir.path());
        p.run(nums(0..200_000, Incremental::new("n"))).unwrap();
        let c = cursor(&p);
        assert_eq!(c["last_value"], json!(199_999));
        assert_eq!(c["unique_hashes"].as_array().unwrap().len(), 1, "only the row at the last value");
        let stored = etl_tests::scalar(&p.database_path(), "SELECT max(length(state)) FROM win._dlt_pipeline_state");
        assert!(stored.as_i64().unwrap() < 1_000, "the encoded state is small: {stored}");
    }
}
