//! dagster-dlt's materialization metadata that reports on the load itself: `jobs` (the real
//! load jobs of the run) and the opt-in `dagster/row_count`.

use std::sync::Mutex;

use etl::MetadataValue;
use serde_json::json;

static ORDERS: Mutex<Vec<serde_json::Value>> = Mutex::new(Vec::new());

#[etl::source]
fn shop() -> etl::Source {
    #[etl::resource(write_disposition = "merge", primary_key = "id")]
    fn orders() -> Vec<serde_json::Value> {
        ORDERS.lock().unwrap().clone()
    }
    orders()
}

#[etl::assets(dlt_source = shop(), dlt_pipeline = etl::pipeline("shop_pipeline").dataset_name("shop"))]
fn shop_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.fetch_row_count().run(context)
}

const KEY: &str = "dlt_shop_orders";

fn meta<'a>(run: &'a etl::testing::TestRun, key: &str) -> Option<&'a MetadataValue> {
    run.result().materialization(KEY).unwrap().get(key)
}

#[test]
fn jobs_are_the_runs_real_load_jobs_and_row_count_counts_the_table() {
    *ORDERS.lock().unwrap() = vec![json!({"id": 1, "items": [{"sku": "a"}, {"sku": "b"}]}), json!({"id": 2, "items": []})];
    let first = etl::testing::materialize(KEY).run().unwrap();
    assert!(first.result().success(), "{:?}", first.result().failures());
    let Some(MetadataValue::Json(serde_json::Value::Array(jobs))) = meta(&first, "jobs") else { panic!("jobs: {:?}", meta(&first, "jobs")) };
    let by_table: std::collections::BTreeMap<&str, &serde_json::Value> = jobs.iter().map(|j| (j["table_name"].as_str().unwrap(), j)).collect();
    assert_eq!(by_table.keys().copied().collect::<Vec<_>>(), ["orders", "orders__items"], "one job per table written");
    let root = by_table["orders"];
    assert_eq!(root["rows"], json!(2));
    assert_eq!(root["state"], json!("completed_jobs"));
    assert_eq!(root["staged"], json!(true));
    assert_eq!(root["merge_strategy"], json!("delete-insert"));
    assert_eq!(root["batches"], json!(1));
    assert!(matches!(root["insert_methods"][0].as_str(), Some("etl_scan" | "arrow_appender")), "{root}");
    assert_eq!(by_table["orders__items"]["rows"], json!(2));
    for j in jobs {
        assert!(j.get("file_format").is_none() && j.get("retry_count").is_none(), "nothing made up: {j}");
        assert!(j["started_at"].as_str().unwrap() <= j["finished_at"].as_str().unwrap());
    }
    assert_eq!(meta(&first, "dagster/row_count"), Some(&MetadataValue::Int(2)));

    // A merge of one changed and one new order: 3 rows in the table, 2 loaded.
    *ORDERS.lock().unwrap() = vec![json!({"id": 2, "items": []}), json!({"id": 3, "items": []})];
    let second = etl::testing::materialize(KEY).after(&first).run().unwrap();
    assert_eq!(meta(&second, "rows_loaded"), Some(&MetadataValue::Int(2)));
    assert_eq!(meta(&second, "dagster/row_count"), Some(&MetadataValue::Int(3)));

    // Nothing to load: no jobs, and the count still answers.
    *ORDERS.lock().unwrap() = Vec::new();
    let third = etl::testing::materialize(KEY).after(&first).run().unwrap();
    assert!(third.result().success());
    assert_eq!(meta(&third, "jobs"), Some(&MetadataValue::Json(json!([]))));
    assert_eq!(meta(&third, "dagster/row_count"), Some(&MetadataValue::Int(3)));
}

#[test]
fn row_count_of_a_table_never_created_is_zero() {
    #[etl::source]
    fn quiet() -> etl::Source {
        #[etl::resource]
        fn nothing() -> Vec<serde_json::Value> {
            Vec::new()
        }
        nothing()
    }
    #[etl::assets(dlt_source = quiet(), dlt_pipeline = etl::pipeline("quiet_pipeline"))]
    fn quiet_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
        dlt.fetch_row_count().run(context)
    }
    let run = etl::testing::materialize("dlt_quiet_nothing").run().unwrap();
    assert!(run.result().success(), "{:?}", run.result().failures());
    let m = run.result().materialization("dlt_quiet_nothing").unwrap();
    assert_eq!(m.get("dagster/row_count"), Some(&MetadataValue::Int(0)));
    // Without the opt-in the key is absent (an op of this file: other tests count their
    // resources' calls).
    #[etl::source]
    fn unopted() -> etl::Source {
        #[etl::resource]
        fn plain_rows() -> Vec<serde_json::Value> {
            vec![json!({"a": 1})]
        }
        plain_rows()
    }
    #[etl::assets(dlt_source = unopted(), dlt_pipeline = etl::pipeline("unopted_pipeline"))]
    fn unopted_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
        dlt.run(context)
    }
    let plain = etl::testing::materialize("dlt_unopted_plain_rows").run().unwrap();
    let m = plain.result().materialization("dlt_unopted_plain_rows").unwrap();
    assert_eq!(m.get("rows_loaded"), Some(&MetadataValue::Int(1)));
    assert!(m.get("dagster/row_count").is_none());
}
