//! Resource shapes beyond iterators: transformers, `async fn`, streams, `Result` returns and
//! parallelized resources, loaded through a pipeline.

use etl_tests::{columns, scalar};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize, Deserialize, Clone)]
struct User {
    id: i64,
    name: String,
}

#[derive(Serialize)]
struct Detail {
    user_id: i64,
    key: String,
    score: f64,
}

#[etl::resource(primary_key = "id")]
fn users() -> Vec<User> {
    vec![User { id: 1, name: "Ada".into() }, User { id: 2, name: "Grace".into() }]
}

/// Details per user: two rows each, fetched "from an API" that knows a `prefix`.
#[etl::transformer(data_from = users(), write_disposition = "merge", primary_key = ["user_id", "key"])]
fn user_details(user: User, prefix: String) -> Result<Vec<Detail>, std::io::Error> {
    Ok((0..2).map(|i| Detail { user_id: user.id, key: format!("{prefix}{i}"), score: user.id as f64 + i as f64 / 10.0 }).collect())
}

/// Fails for user 2: the run fails and loads nothing.
#[etl::transformer(data_from = users())]
fn failing_details(user: User) -> Result<Option<Detail>, std::io::Error> {
    if user.id == 2 {
        return Err(std::io::Error::other(format!("HTTP 500 for user {}", user.id)));
    }
    Ok(Some(Detail { user_id: user.id, key: "k".into(), score: 0.0 }))
}

#[etl::source]
fn people() -> etl::Source {
    (users(), user_details("k".to_owned()))
}

#[test]
fn a_transformer_loads_rows_per_parent_item_and_depends_on_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("people_pipeline").dataset_name("people").working_dir(dir.path());
    p.run(people()).unwrap();
    let db = p.database_path();
    assert_eq!(scalar(&db, "SELECT count(*) FROM people.user_details"), json!(4));
    assert_eq!(scalar(&db, "SELECT string_agg(key, ',' ORDER BY user_id, key) FROM people.user_details"), json!("k0,k1,k0,k1"));
    assert_eq!(scalar(&db, "SELECT count(*) FROM people.users"), json!(2));
    // Merge on the compound key: a second run replaces, not duplicates.
    p.run(people()).unwrap();
    assert_eq!(scalar(&db, "SELECT count(*) FROM people.user_details"), json!(4));
    assert_eq!(user_details("k".into()).hints().data_from.as_deref(), Some("users"));
}

#[etl::assets(dlt_source = people(), dlt_pipeline = etl::pipeline("people_assets_pipeline").dataset_name("people"))]
fn people_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

#[test]
fn a_transformer_asset_depends_on_its_root_resource_in_the_built_graph() {
    let graph = etl::asset_graph().unwrap();
    let deps = |key: &str| graph.node(&etl::AssetKey::new(key)).map(|n| n.spec.deps.iter().map(ToString::to_string).collect::<Vec<_>>());
    // dagster-dlt: a transformer depends on `<source>_<root resource>`, as its parent does.
    assert_eq!(deps("dlt_people_user_details"), Some(vec!["people_users".to_owned()]));
    assert_eq!(deps("dlt_people_users"), Some(vec!["people_users".to_owned()]));
}

#[test]
fn an_error_returned_by_a_resource_fails_the_run_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("fail_pipeline").working_dir(dir.path());
    let err = p.run(failing_details()).unwrap_err();
    assert_eq!(err.step, etl::Step::Extract);
    let text = err.to_string();
    assert!(text.contains("failing_details") && text.contains("HTTP 500 for user 2"), "{text}");
    assert!(!p.database_path().exists(), "a failed first run leaves no database");

    #[etl::resource]
    fn page() -> Result<Vec<serde_json::Value>, std::io::Error> {
        Err(std::io::Error::other("rate limited"))
    }
    let err = p.run(page()).unwrap_err();
    assert!(err.to_string().contains("rate limited"), "a `Result` return never drops its error: {err}");
}

#[test]
fn async_and_stream_and_parallelized_resources_load() {
    #[etl::resource]
    async fn fetched() -> Vec<serde_json::Value> {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        (1..=3).map(|i| json!({"id": i})).collect()
    }

    struct Pages(u32);
    impl futures_core::Stream for Pages {
        type Item = serde_json::Value;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            self.0 += 1;
            std::task::Poll::Ready((self.0 <= 5).then(|| json!({"page": self.0})))
        }
    }

    #[etl::resource]
    fn streamed() -> etl::StreamRows<Pages> {
        etl::stream_rows(Pages(0))
    }

    #[etl::resource(parallelized = true)]
    fn threaded() -> impl Iterator<Item = serde_json::Value> + Send + 'static {
        (0..10_000).map(|i| json!({"i": i, "even": i % 2 == 0}))
    }

    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("shapes_pipeline").dataset_name("shapes").working_dir(dir.path());
    p.run(etl::Source::with("shapes", (fetched(), streamed(), threaded())).unwrap()).unwrap();
    let db = p.database_path();
    assert_eq!(scalar(&db, "SELECT count(*) FROM shapes.fetched"), json!(3));
    assert_eq!(scalar(&db, "SELECT sum(page)::BIGINT FROM shapes.streamed"), json!(15));
    assert_eq!(scalar(&db, "SELECT count(*) FILTER (WHERE even) FROM shapes.threaded"), json!(5000));
    assert_eq!(columns(&db, "shapes", "threaded")[1].1, "BOOLEAN");
}

#[etl::source]
fn configured(#[config] base_url: String, #[secret] token: Option<String>, #[config] page_size: Option<u32>) -> etl::Source {
    #[etl::resource]
    fn settings(url: String, token: Option<String>, page_size: Option<u32>) -> Vec<serde_json::Value> {
        vec![json!({"url": url, "has_token": token.is_some(), "page_size": page_size})]
    }
    settings(base_url, token, page_size)
}

#[test]
fn config_parameters_come_from_the_environment_and_missing_ones_are_named() {
    // The only test that sets these variables (tests run in threads of one process).
    std::env::set_var("SOURCES__CONFIGURED__BASE_URL", "http://127.0.0.1:9/api");
    std::env::set_var("SOURCES__CONFIGURED__PAGE_SIZE", "50");
    let source = configured();
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("configured_pipeline").dataset_name("cfg").working_dir(dir.path());
    p.run(source).unwrap();
    let db = p.database_path();
    assert_eq!(scalar(&db, "SELECT url || ' ' || has_token || ' ' || page_size FROM cfg.settings"), json!("http://127.0.0.1:9/api false 50"));

    std::env::remove_var("SOURCES__CONFIGURED__BASE_URL");
    // A missing value is an error of the run (no panic) naming every place it was looked for.
    let err = p.run(configured()).unwrap_err();
    assert_eq!(err.step, etl::Step::Config);
    let text = err.to_string();
    assert!(text.contains("source `configured` could not be built") && text.contains("`base_url`"), "{text}");
    for place in ["env SOURCES__CONFIGURED__BASE_URL", "secrets.toml [sources.configured] base_url", "config.toml [sources.configured] base_url"] {
        assert!(text.contains(place), "names where it looked ({place}): {text}");
    }
    assert!(!text.contains("token"), "optional values are not required: {text}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM cfg.settings"), json!(1), "nothing ran");
}

/// A resource's `#[config]` values; the expression options may use them.
#[etl::resource(primary_key = "id", columns = [etl::column(&key_column).data_type(etl::DataType::Text)])]
fn configured_feed(#[config] key_column: String, #[secret] mut token: Option<String>) -> Vec<serde_json::Value> {
    let token = token.take().unwrap_or_default();
    let mut row = serde_json::Map::new();
    row.insert("id".into(), json!(1));
    row.insert(key_column, json!(token));
    vec![serde_json::Value::Object(row)]
}

#[test]
fn a_resource_reads_its_config_when_called_and_a_missing_value_fails_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("feed_pipeline").dataset_name("feed").working_dir(dir.path());
    let err = etl::core::resource::with_run_dir(dir.path(), || p.run(configured_feed())).unwrap_err();
    assert_eq!((err.step, err.resource.as_deref()), (etl::Step::Extract, Some("configured_feed")));
    let text = err.to_string();
    assert!(text.contains("the config of `configured_feed` cannot be resolved") && text.contains("`key_column`"), "{text}");
    assert!(text.contains("env SOURCES__CONFIGURED_FEED__KEY_COLUMN"), "{text}");
    std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
    std::fs::write(dir.path().join(".etl/config.toml"), "[sources.configured_feed]\nkey_column = \"code\"\n").unwrap();
    std::fs::write(dir.path().join(".etl/secrets.toml"), "[sources.configured_feed]\ntoken = \"007\"\n").unwrap();
    etl::core::resource::with_run_dir(dir.path(), || p.run(configured_feed())).unwrap();
    assert_eq!(scalar(&p.database_path(), "SELECT code FROM feed.configured_feed"), json!("007"));
}

#[etl::source]
fn greeting(#[config] greeting: Option<String>) -> etl::Source {
    #[etl::resource]
    fn hello(text: String) -> Vec<serde_json::Value> {
        vec![json!({"text": text})]
    }
    hello(greeting.unwrap_or_else(|| "hello".into()))
}

#[etl::assets(dlt_source = greeting(), dlt_pipeline = etl::pipeline("greeting_pipeline").dataset_name("greeting"))]
fn greeting_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
    dlt.run(context)
}

#[test]
fn config_is_read_from_the_run_directory() {
    let first = etl::testing::materialize("dlt_greeting_hello").run().unwrap();
    assert!(first.result().success());
    std::fs::create_dir_all(first.dir().join(".etl")).unwrap();
    std::fs::write(first.dir().join(".etl/config.toml"), "[sources.greeting]\ngreeting = \"bonjour\"\n").unwrap();
    let second = etl::testing::materialize("dlt_greeting_hello").after(&first).run().unwrap();
    assert!(second.result().success());
    let rows = second.query("greeting_pipeline", "SELECT text FROM greeting.hello ORDER BY _dlt_load_id").unwrap();
    assert_eq!(rows, vec![vec![json!("hello")], vec![json!("bonjour")]]);
}

/// (resource, first item produced at, last item produced at) of the parallel test.
static PRODUCED: std::sync::Mutex<Vec<(&'static str, std::time::Instant, std::time::Instant)>> = std::sync::Mutex::new(Vec::new());

fn slow_pages(name: &'static str) -> impl Iterator<Item = serde_json::Value> + Send + 'static {
    let start = std::time::Instant::now();
    (0..4).map(move |page| {
        std::thread::sleep(std::time::Duration::from_millis(60)); // a request
        if page == 3 {
            PRODUCED.lock().unwrap().push((name, start, std::time::Instant::now()));
        }
        json!({"page": page, "updated_at": format!("2026-01-0{}T00:00:00Z", page + 1)})
    })
}

#[etl::resource(parallelized = true)]
fn feed_a() -> impl Iterator<Item = serde_json::Value> + Send + 'static {
    slow_pages("feed_a")
}

#[etl::resource(parallelized = true)]
fn feed_b() -> impl Iterator<Item = serde_json::Value> + Send + 'static {
    slow_pages("feed_b")
}

#[etl::resource(parallelized = true, incremental = etl::Incremental::new("updated_at"))]
fn feed_c(cx: &etl::ResourceContext) -> impl Iterator<Item = serde_json::Value> + Send + 'static {
    let since = cx.start_value.clone();
    slow_pages("feed_c").filter(move |row| since.as_ref().is_none_or(|s| row["updated_at"].as_str() > s.as_str()))
}

#[test]
fn parallelized_resources_of_a_source_extract_at_once_and_keep_their_windows() {
    let dir = tempfile::tempdir().unwrap();
    let p = etl::pipeline("feeds_pipeline").dataset_name("feeds").working_dir(dir.path());
    p.run(etl::Source::with("feeds", (feed_a(), feed_b(), feed_c())).unwrap()).unwrap();
    let spans: Vec<_> = PRODUCED.lock().unwrap().clone();
    let (a, b) = (spans.iter().find(|s| s.0 == "feed_a").unwrap(), spans.iter().find(|s| s.0 == "feed_b").unwrap());
    assert!(b.1 < a.2 && a.1 < b.2, "feed_b was fetching while feed_a was: {spans:?}");
    let db = p.database_path();
    for t in ["feed_a", "feed_b", "feed_c"] {
        assert_eq!(scalar(&db, &format!("SELECT count(*) FROM feeds.{t}")), json!(4), "{t}");
    }
    // The window of a resource started ahead is its own: the second run asks only for new rows.
    p.run(etl::Source::with("feeds", feed_c()).unwrap()).unwrap();
    assert_eq!(scalar(&db, "SELECT count(*) FROM feeds.feed_c"), json!(4));
}
