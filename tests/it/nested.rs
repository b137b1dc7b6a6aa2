//! Nested lists become child tables linked by dlt's ids; selection loads only what is selected.

use etl_tests::{columns, scalar, tables};
use serde::Serialize;
use serde_json::json;

#[derive(Serialize)]
struct Item {
    sku: String,
    qty: i64,
}

#[derive(Serialize)]
struct Order {
    id: i64,
    items: Vec<Item>,
}

#[etl::source]
fn shop_source() -> etl::Source {
    #[etl::resource]
    fn users() -> Vec<serde_json::Value> {
        vec![json!({"id": 1, "name": "Alice"})]
    }
    #[etl::resource]
    fn orders() -> Vec<Order> {
        vec![
            Order { id: 1, items: vec![Item { sku: "a".into(), qty: 1 }, Item { sku: "b".into(), qty: 2 }] },
            Order { id: 2, items: vec![] },
        ]
    }
    (users(), orders())
}

#[etl::assets(dlt_source = shop_source(), dlt_pipeline = etl::pipeline("shop_pipeline").dataset_name("shop"))]
fn shop_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

#[test]
fn selecting_one_resource_loads_only_its_tables() {
    let run = etl::testing::materialize("dlt_shop_source_users").run().unwrap();
    assert!(run.result().success());
    assert_eq!(run.materializations().len(), 1);
    let db = run.database("shop_pipeline");
    assert_eq!(tables(&db, "shop"), ["_dlt_loads", "_dlt_pipeline_state", "_dlt_version", "users"]);
}

#[test]
fn child_table_rows_link_to_parents() {
    let run = etl::testing::materialize("dlt_shop_source_orders").run().unwrap();
    assert!(run.result().success(), "{:?}", run.result().failures());
    let db = run.database("shop_pipeline");
    assert_eq!(
        columns(&db, "shop", "orders__items").into_iter().map(|c| (c.0, c.1, c.2)).collect::<Vec<_>>(),
        [
            ("sku".into(), "VARCHAR".into(), true),
            ("qty".into(), "BIGINT".into(), true),
            ("_dlt_parent_id".into(), "VARCHAR".into(), false),
            ("_dlt_list_idx".into(), "BIGINT".into(), false),
            ("_dlt_id".into(), "VARCHAR".into(), false),
        ]
    );
    let linked = scalar(
        &db,
        "SELECT count(*) FROM shop.orders__items i JOIN shop.orders o ON i._dlt_parent_id = o._dlt_id WHERE o.id = 1",
    );
    assert_eq!(linked, json!(2));
    let idx = run.query("shop_pipeline", "SELECT sku, _dlt_list_idx FROM shop.orders__items ORDER BY _dlt_list_idx").unwrap();
    assert_eq!(idx, vec![vec![json!("a"), json!(0)], vec![json!("b"), json!(1)]]);
    // Child ids are dlt's hash of (parent id, table, index).
    let rows = run.query("shop_pipeline", "SELECT i._dlt_id, o._dlt_id, i._dlt_list_idx FROM shop.orders__items i JOIN shop.orders o ON i._dlt_parent_id = o._dlt_id").unwrap();
    for r in rows {
        let expected = etl::core::normalize::child_row_id(r[1].as_str().unwrap(), "orders__items", r[2].as_u64().unwrap() as usize);
        assert_eq!(r[0], json!(expected));
    }
    match run.result().materialization("dlt_shop_source_orders").unwrap().metadata.first() {
        Some((k, etl::MetadataValue::TableSchema(_))) => assert_eq!(k, "orders__items"),
        other => panic!("child table schema first: {other:?}"),
    }
}
