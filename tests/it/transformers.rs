//! Transformers as dlt's pipe graph runs them: each parent is extracted once per run, feeding its
//! own table (if selected) and every selected transformer in the same pass, under the parent's
//! incremental window and state, which move only with the run's transaction. And `skip`, which
//! dlt keeps for its own tables.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use etl::{Resource, WriteDisposition};
use etl_tests::{scalar, tables};
use serde_json::json;

static NUMBER_CALLS: AtomicUsize = AtomicUsize::new(0);

#[etl::resource]
fn numbers() -> Vec<i64> {
    NUMBER_CALLS.fetch_add(1, Ordering::SeqCst);
    vec![1, 2, 3]
}

#[etl::transformer(data_from = numbers())]
fn doubles(n: i64) -> Vec<serde_json::Value> {
    vec![json!({"n": n, "double": n * 2})]
}

#[etl::transformer(data_from = numbers())]
fn squares(n: i64) -> Vec<serde_json::Value> {
    vec![json!({"n": n, "square": n * n})]
}

/// A transformer of a transformer: the chain still pulls `numbers` once.
#[etl::transformer(data_from = doubles())]
fn halves(row: serde_json::Value) -> Vec<serde_json::Value> {
    vec![json!({"half": row["double"].as_i64().unwrap() / 2})]
}

#[etl::source]
fn counted() -> etl::Source {
    (numbers(), doubles(), squares(), halves())
}

#[test]
fn a_parent_is_extracted_once_per_run_for_its_table_and_all_its_transformers() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("counted_pipeline").dataset_name("counted").working_dir(dir.path());
    let before = NUMBER_CALLS.load(Ordering::SeqCst);
    let info = p.run(counted()).unwrap();
    assert_eq!(NUMBER_CALLS.load(Ordering::SeqCst) - before, 1, "one call of the parent per run");
    let db = p.database_path();
    for (table, rows) in [("numbers", 3), ("doubles", 3), ("squares", 3), ("halves", 3)] {
        assert_eq!(scalar(&db, &format!("SELECT count(*) FROM counted.{table}")), json!(rows), "{table}");
        assert_eq!(info.rows(table), rows as u64);
    }
    assert_eq!(scalar(&db, "SELECT sum(square)::BIGINT FROM counted.squares"), json!(14));
    assert_eq!(scalar(&db, "SELECT sum(half)::BIGINT FROM counted.halves"), json!(6));

    // Only the transformers selected: the parent is pulled once, its table not loaded.
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("counted_pipeline").dataset_name("counted").working_dir(dir.path());
    let before = NUMBER_CALLS.load(Ordering::SeqCst);
    p.run(counted().with_resources(&["squares", "halves"]).unwrap()).unwrap();
    assert_eq!(NUMBER_CALLS.load(Ordering::SeqCst) - before, 1);
    let t = tables(&p.database_path(), "counted");
    assert!(t.contains(&"squares".to_owned()) && t.contains(&"halves".to_owned()), "{t:?}");
    assert!(!t.contains(&"numbers".to_owned()) && !t.contains(&"doubles".to_owned()), "deselected resources load nothing: {t:?}");

    // The assets of the source run in one op: still one call.
    let before = NUMBER_CALLS.load(Ordering::SeqCst);
    let run = etl::testing::materialize("dlt_counted_numbers,dlt_counted_doubles,dlt_counted_squares,dlt_counted_halves").run().unwrap();
    assert_eq!(run.materializations().len(), 4);
    assert!(run.result().success(), "{:?}", run.result().failures());
    assert_eq!(NUMBER_CALLS.load(Ordering::SeqCst) - before, 1);
}

#[etl::assets(dlt_source = counted(), dlt_pipeline = etl::pipeline("counted_assets").dataset_name("counted"))]
fn counted_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

/// Rows the incremental parent "fetches"; the tests change it between runs.
static EVENTS: Mutex<Vec<serde_json::Value>> = Mutex::new(Vec::new());
/// Fail the transformer on this id.
static FAIL_ON: Mutex<Option<i64>> = Mutex::new(None);

#[etl::resource(incremental = etl::Incremental::new("id").initial_value(0), selected = false)]
fn events(cx: &etl::ResourceContext) -> Vec<serde_json::Value> {
    let runs = cx.state.get("runs").and_then(|v| v.as_i64()).unwrap_or(0);
    cx.state.set("runs", runs + 1);
    EVENTS.lock().unwrap().clone()
}

#[etl::transformer(data_from = events())]
fn enriched(event: serde_json::Value) -> Result<Vec<serde_json::Value>, std::io::Error> {
    let id = event["id"].as_i64().unwrap();
    if *FAIL_ON.lock().unwrap() == Some(id) {
        return Err(std::io::Error::other(format!("lookup of {id} failed")));
    }
    Ok(vec![json!({"id": id, "label": format!("event {id}")})])
}

#[etl::source]
fn feed() -> etl::Source {
    (events(), enriched())
}

#[test]
fn the_parents_window_and_state_feed_transformers_and_move_only_with_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("enrich_pipeline").dataset_name("enrich").working_dir(dir.path());
    let db = p.database_path();
    let ids = |db: &std::path::Path| etl::testing::query_file(db, "SELECT id FROM enrich.enriched ORDER BY id").unwrap().into_iter().map(|r| r[0].as_i64().unwrap()).collect::<Vec<_>>();
    let cursor = |p: &etl::Pipeline| {
        let (_, doc) = p.info().unwrap().state.unwrap();
        (doc["sources"]["feed"]["resources"]["events"]["incremental"]["id"]["last_value"].clone(), doc["sources"]["feed"]["resources"]["events"]["runs"].clone())
    };

    *EVENTS.lock().unwrap() = (1..=3).map(|i| json!({"id": i})).collect();
    p.run(feed()).unwrap();
    assert_eq!(ids(&db), [1, 2, 3]);
    assert!(!tables(&db, "enrich").contains(&"events".to_owned()), "the deselected parent has no table");
    assert_eq!(cursor(&p), (json!(3), json!(1)));

    // The parent's window applies: only the new events reach the transformer.
    EVENTS.lock().unwrap().extend((4..=5).map(|i| json!({"id": i})));
    p.run(feed()).unwrap();
    assert_eq!(ids(&db), [1, 2, 3, 4, 5]);
    assert_eq!(cursor(&p), (json!(5), json!(2)));

    // A failing transformer fails the run: the parent's cursor and state stay where they were.
    EVENTS.lock().unwrap().extend((6..=7).map(|i| json!({"id": i})));
    *FAIL_ON.lock().unwrap() = Some(7);
    let err = p.run(feed()).unwrap_err();
    assert!(err.to_string().contains("enriched") && err.to_string().contains("lookup of 7 failed"), "{err}");
    assert_eq!(cursor(&p), (json!(5), json!(2)));
    assert_eq!(ids(&db), [1, 2, 3, 4, 5]);

    // The next run picks the same events up again.
    *FAIL_ON.lock().unwrap() = None;
    p.run(feed()).unwrap();
    assert_eq!(ids(&db), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(cursor(&p), (json!(7), json!(3)));
}

#[etl::resource]
fn letters() -> Vec<String> {
    vec!["a".into(), "b".into()]
}

#[etl::transformer(data_from = letters())]
fn upper(letter: String) -> Vec<serde_json::Value> {
    vec![json!({"letter": letter.to_uppercase()})]
}

#[test]
fn a_transformer_on_its_own_runs_its_parent_inside_it() {
    // Unit-testing a single transformer: its items, without a pipeline.
    let out: Vec<serde_json::Value> = upper().take_items().unwrap().map(|v| v.unwrap().to_json()).collect();
    assert_eq!(out, [json!({"letter": "A"}), json!({"letter": "B"})]);
}

#[test]
fn skip_is_refused_before_anything_is_pulled_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("skip_pipeline").dataset_name("skipped").working_dir(dir.path());
    p.run(Resource::from_data("kept", vec![json!({"id": 1})])).unwrap();
    let pulled = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = pulled.clone();
    let skipped = Resource::new(etl::ResourceHints::new("skipped"), move || {
        seen.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(std::iter::once(Ok(etl::Value::from(json!({"id": 2}))))) as etl::Items)
    })
    .with_write_disposition(WriteDisposition::Skip);
    let err = p.run(vec![Resource::from_data("kept", vec![json!({"id": 3})]), skipped]).unwrap_err();
    assert_eq!(err.step, etl::Step::Config);
    let text = err.to_string();
    assert!(text.contains("resource `skipped`") && text.contains("`skip`") && text.contains("selected = false"), "{text}");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    let db = p.database_path();
    assert_eq!(scalar(&db, "SELECT count(*) FROM skipped.kept"), json!(1), "nothing of the failed run is loaded");
    assert!(!tables(&db, "skipped").contains(&"skipped".to_owned()));
}

static WITH_EXTRA: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stands for a stream read once (`replayable = false`): a failed run keeps the group's items.
#[etl::resource(replayable = false)]
fn orders() -> Vec<serde_json::Value> {
    (1..=3).map(|i| json!({"id": i})).collect()
}

#[etl::transformer(data_from = orders())]
fn order_lines(order: serde_json::Value) -> Vec<serde_json::Value> {
    let id = order["id"].as_i64().unwrap();
    let mut line = json!({"order_id": id, "qty": id * 10});
    if WITH_EXTRA.load(Ordering::SeqCst) && id == 3 {
        line["extra"] = json!("new column");
    }
    vec![line]
}

#[etl::source]
fn shop_lines() -> etl::Source {
    (orders(), order_lines())
}

#[test]
fn a_failed_group_keeps_each_resources_items_as_a_pending_package() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("lines_pipeline").dataset_name("lines").working_dir(dir.path());
    p.run(shop_lines()).unwrap();
    let db = p.database_path();

    // A frozen schema and a new column in the transformer's third row: normalize fails, the
    // items of both the parent and the transformer pulled so far are kept.
    WITH_EXTRA.store(true, Ordering::SeqCst);
    let frozen = p.clone().schema_contract(etl::SchemaContract::all(etl::ContractMode::Freeze));
    let err = frozen.run(shop_lines()).unwrap_err();
    WITH_EXTRA.store(false, Ordering::SeqCst);
    assert_eq!(err.step, etl::Step::Normalize, "{err}");
    assert!(err.to_string().contains("pending package"), "{err}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM lines.order_lines"), json!(3));
    assert_eq!(p.pending_packages().len(), 1);

    // Loaded on request: the parent's and the transformer's items, each into its own table,
    // without running the transformer again.
    let results = p.load_pending();
    assert_eq!(results.len(), 1);
    let info = results[0].1.as_ref().unwrap();
    assert_eq!((info.rows("orders"), info.rows("order_lines")), (3, 3));
    assert_eq!(scalar(&db, "SELECT count(*) FROM lines.orders"), json!(6));
    assert_eq!(scalar(&db, "SELECT count(*) FROM lines.order_lines WHERE extra = 'new column'"), json!(1));
    assert!(p.pending_packages().is_empty());
}

#[etl::resource(parallelized = true, incremental = etl::Incremental::new("page").initial_value(2))]
fn pages() -> Vec<serde_json::Value> {
    (1..=5).map(|p| json!({"page": p})).collect()
}

#[etl::transformer(data_from = pages())]
fn page_rows(page: serde_json::Value) -> Vec<serde_json::Value> {
    let p = page["page"].as_i64().unwrap();
    (0..p).map(|i| json!({"page": p, "row": i})).collect()
}

#[test]
fn a_parallelized_parent_started_ahead_feeds_its_transformers_within_its_window() {
    #[etl::source]
    fn paged() -> etl::Source {
        (Resource::from_data("first", vec![json!({"id": 1})]), pages(), page_rows())
    }
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("paged_pipeline").dataset_name("paged").working_dir(dir.path());
    let info = p.run(paged()).unwrap();
    // Pages 2..=5 pass the parent's window: 2 + 3 + 4 + 5 rows.
    assert_eq!((info.rows("pages"), info.rows("page_rows"), info.rows("first")), (4, 14, 1));
}
