//! The sources examples (`csv_pipeline`, `api_pipeline`) run as binaries, the API one against
//! a real HTTP server on 127.0.0.1 that paginates, rate-limits, fails and answers garbage.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use etl::sources::testing::{HttpServer, Response};
use etl_tests::{example_binary, scalar, tables};
use serde_json::{json, Value as Json};

fn run(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out: Output = Command::new(example_binary(bin)).args(args).envs(env.iter().copied()).current_dir(dir).output().expect("run example");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn ok(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let (success, text) = run(bin, dir, args, env);
    assert!(success, "{bin} {args:?} failed:\n{text}");
    text
}

#[test]
fn csv_pipeline_loads_the_shipped_folder() {
    let dir = tempfile::tempdir().unwrap();
    let list = ok("csv_pipeline", dir.path(), &["list"], &[]);
    assert!(list.contains("dlt_csv_source_customers") && list.contains("dlt_csv_source_orders"), "{list}");
    ok("csv_pipeline", dir.path(), &["materialize"], &[]);
    let db = dir.path().join("csv_pipeline.duckdb");
    assert_eq!(scalar(&db, "SELECT count(*) FROM csv_data.customers"), json!(3));
    assert_eq!(scalar(&db, "SELECT sum(quantity)::BIGINT FROM csv_data.orders"), json!(7));
    // Headers are snake_case columns, cells typed (a leading-zero zip stays text).
    assert_eq!(scalar(&db, "SELECT typeof(signed_up) || ',' || typeof(is_active) || ',' || zip FROM csv_data.customers WHERE customer_id = 1"), json!("TIMESTAMP WITH TIME ZONE,BOOLEAN,02139"));
}

#[test]
fn csv_pipeline_dir_option_loads_new_and_changed_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("Sales Report.csv");
    std::fs::write(&file, "Region,Total Sales\nnorth,10.5\nsouth,20\n").unwrap();
    let d = data.path().to_str().unwrap();
    let out = ok("csv_pipeline", dir.path(), &["--dir", d, "materialize"], &[]);
    assert!(out.contains("Extract: sales_report: 2 rows"), "{out}");
    let db = dir.path().join("csv_pipeline.duckdb");
    assert_eq!(tables(&db, "csv_data").iter().filter(|t| !t.starts_with("_dlt")).collect::<Vec<_>>(), ["sales_report"]);
    assert_eq!(scalar(&db, "SELECT sum(total_sales) FROM csv_data.sales_report"), json!(30.5));

    // Nothing changed: nothing loaded, and the run says so.
    let out = ok("csv_pipeline", dir.path(), &["--dir", d, "materialize"], &[]);
    assert!(out.contains("Load: nothing to load"), "{out}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM csv_data._dlt_loads"), json!(1));

    // A changed file is loaded again (the env var is the same config value as --dir).
    std::fs::write(&file, "Region,Total Sales\nnorth,10.5\nsouth,20\neast,1\n").unwrap();
    ok("csv_pipeline", dir.path(), &["materialize"], &[("SOURCES__CSV_SOURCE__DIR", d)]);
    assert_eq!(scalar(&db, "SELECT count(*) FROM csv_data.sales_report"), json!(5));

    // A malformed row fails the run, naming file and line; nothing is loaded.
    std::fs::write(&file, "Region,Total Sales\nwest,1\nbroken\n").unwrap();
    let (success, out) = run("csv_pipeline", dir.path(), &["--dir", d, "materialize"], &[]);
    assert!(!success, "{out}");
    assert!(out.contains("Sales Report.csv:3: found 1 fields, expected 2"), "{out}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM csv_data.sales_report"), json!(5));
}

/// The feed API: events filtered by `since`, two per page, `next` links; switches for
/// rate limiting, failures and garbage.
#[derive(Default)]
struct Feed {
    events: Vec<Json>,
    rate_limit_next: bool,
    fail_page_2: usize,
    garbage: bool,
    token: Option<String>,
}

fn feed_server(feed: Arc<Mutex<Feed>>) -> HttpServer {
    HttpServer::start(move |req| {
        let mut f = feed.lock().unwrap();
        if let Some(t) = &f.token {
            if req.header("authorization") != Some(&format!("Bearer {t}")) {
                return Response::json(401, &json!({"error": "unauthorized"}));
            }
        }
        if req.path != "/events" {
            return Response::json(404, &json!({"error": "not found"}));
        }
        if f.rate_limit_next {
            f.rate_limit_next = false;
            return Response::json(429, &json!({"error": "slow down"})).header("Retry-After", "1");
        }
        let page: usize = req.param("page").map_or(1, |p| p.parse().unwrap());
        if page == 2 && f.fail_page_2 > 0 {
            f.fail_page_2 -= 1;
            return Response::text(500, "internal error");
        }
        if f.garbage {
            return Response::text(200, "{\"data\": [oops");
        }
        let since = req.param("since").unwrap_or("").to_owned();
        let mut events: Vec<Json> = f.events.iter().filter(|e| e["updated_at"].as_str().unwrap() >= since.as_str()).cloned().collect();
        events.sort_by(|a, b| a["updated_at"].as_str().cmp(&b["updated_at"].as_str()));
        let chunk: Vec<Json> = events.iter().skip((page - 1) * 2).take(2).cloned().collect();
        let next = if events.len() > page * 2 { json!(format!("/events?since={since}&page={}", page + 1)) } else { Json::Null };
        Response::json(200, &json!({"data": chunk, "next": next}))
    })
}

fn event(id: u64, day: u32, title: &str) -> Json {
    json!({"id": id, "title": title, "updated_at": format!("2024-03-{day:02}T12:00:00Z"), "tags": ["a", "b"]})
}

const FAST: [(&str, &str); 2] = [("SOURCES__API_SOURCE__BACKOFF_SECS", "0.05"), ("SOURCES__API_SOURCE__MAX_RETRIES", "2")];

#[test]
fn api_pipeline_paginates_retries_and_loads_only_new_data() {
    let feed = Arc::new(Mutex::new(Feed { events: (1..=5).map(|i| event(i, i as u32, "v1")).collect(), rate_limit_next: true, fail_page_2: 1, ..Feed::default() }));
    let server = feed_server(feed.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let args = ["--base-url", url.as_str(), "materialize"];

    let t = std::time::Instant::now();
    let out = ok("api_pipeline", dir.path(), &args, &FAST);
    assert!(t.elapsed() >= std::time::Duration::from_secs(1), "Retry-After: 1 was honoured");
    assert!(out.contains("Extract: events: 5 rows"), "{out}");
    let db = dir.path().join("api_pipeline.duckdb");
    assert_eq!(scalar(&db, "SELECT count(*) FROM feed.events"), json!(5));
    assert_eq!(scalar(&db, "SELECT count(*) FROM feed.events__tags"), json!(10));
    let reqs = server.requests();
    assert_eq!(reqs[0].param("since"), Some("2024-01-01T00:00:00Z"));
    assert_eq!(reqs.iter().filter(|r| r.param("page") == Some("2")).count(), 2, "page 2 failed once, then succeeded");
    assert_eq!(reqs.len(), 5, "429 + page 1, 500 + page 2, page 3: {reqs:?}");

    // No new data: the request asks from the last cursor, nothing is loaded, and the run says so.
    let out = ok("api_pipeline", dir.path(), &args, &FAST);
    assert!(out.contains("Load: nothing to load"), "{out}");
    assert_eq!(server.requests().last().unwrap().param("since"), Some("2024-03-05T12:00:00Z"));
    assert_eq!(scalar(&db, "SELECT count(*) FROM feed._dlt_loads"), json!(1));

    // One new event and one update: two rows, merged by id.
    {
        let mut f = feed.lock().unwrap();
        f.events.push(event(6, 6, "v1"));
        f.events[1] = event(2, 7, "v2");
    }
    let out = ok("api_pipeline", dir.path(), &args, &FAST);
    assert!(out.contains("Extract: events: 2 rows"), "{out}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM feed.events"), json!(6));
    assert_eq!(scalar(&db, "SELECT title FROM feed.events WHERE id = 2"), json!("v2"));
}

#[test]
fn api_pipeline_failure_loads_nothing_and_the_next_run_resumes() {
    let feed = Arc::new(Mutex::new(Feed { events: (1..=5).map(|i| event(i, i as u32, "v1")).collect(), fail_page_2: 100, ..Feed::default() }));
    let server = feed_server(feed.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let args = ["--base-url", url.as_str(), "materialize"];

    let (success, out) = run("api_pipeline", dir.path(), &args, &FAST);
    assert!(!success, "{out}");
    assert!(out.contains("resource `events`") && out.contains("/events?since=") && out.contains("page=2") && out.contains("HTTP 500 after 3 attempt(s)"), "{out}");
    assert!(!dir.path().join("api_pipeline.duckdb").exists(), "a failed first run leaves no database");

    // The API recovers: the next run loads everything from the start of the window.
    feed.lock().unwrap().fail_page_2 = 0;
    ok("api_pipeline", dir.path(), &args, &FAST);
    let db = dir.path().join("api_pipeline.duckdb");
    assert_eq!(scalar(&db, "SELECT count(*) FROM feed.events"), json!(5));

    // Garbage fails the run naming the URL; the loaded data stays as it was.
    feed.lock().unwrap().garbage = true;
    let (success, out) = run("api_pipeline", dir.path(), &args, &FAST);
    assert!(!success && out.contains("response is not JSON") && out.contains(&format!("{url}/events?since=2024-03-05T12")), "{out}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM feed.events"), json!(5));
}

#[test]
fn api_pipeline_config_and_secrets_files() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing configured: one error naming every place base_url was looked for.
    let (success, out) = run("api_pipeline", dir.path(), &["materialize"], &[]);
    assert!(!success, "{out}");
    assert!(out.contains("`base_url`") && out.contains("env SOURCES__API_SOURCE__BASE_URL") && out.contains(".etl/config.toml [sources.api_source] base_url"), "{out}");

    let feed = Arc::new(Mutex::new(Feed { events: vec![event(1, 1, "v1")], token: Some("s3cret-token".into()), ..Feed::default() }));
    let server = feed_server(feed);
    std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
    std::fs::write(dir.path().join(".etl/config.toml"), format!("[sources.api_source]\nbase_url = \"{}\"\nstart = \"2024-02-01T00:00:00Z\"\n", server.url())).unwrap();
    // A wrong token: the error never shows it.
    std::fs::write(dir.path().join(".etl/secrets.toml"), "[sources.api_source]\ntoken = \"wrong-token\"\n").unwrap();
    let (success, out) = run("api_pipeline", dir.path(), &["materialize"], &FAST);
    assert!(!success && out.contains("HTTP 401") && !out.contains("wrong-token"), "{out}");
    std::fs::write(dir.path().join(".etl/secrets.toml"), "[sources.api_source]\ntoken = \"s3cret-token\"\n").unwrap();
    ok("api_pipeline", dir.path(), &["materialize"], &FAST);
    assert_eq!(server.requests().last().unwrap().param("since"), Some("2024-02-01T00:00:00Z"));
    assert_eq!(scalar(&dir.path().join("api_pipeline.duckdb"), "SELECT count(*) FROM feed.events"), json!(1));
}
