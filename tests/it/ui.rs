//! The web UI (`ui`), served by real asset binaries on a free loopback port and driven over
//! HTTP: the catalog, asset, runs and run pages and the JSON API on `two_resources`; launching
//! a run and seeing it succeed; the POST rules (Origin, CSRF token, non-browser clients); the
//! token off loopback; markup in names, log lines and metadata shown as text (and, where
//! Debian's Chromium is installed, not run by a real browser).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etl_tests::example_binary;
use serde_json::{json, Value};

/// A running `ui`: its address; stopped when dropped.
struct Ui {
    child: Child,
    base: String,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(exe: &Path, dir: &Path, args: &[&str]) -> Ui {
    let mut child = Command::new(exe)
        .args(["ui", "--port", "0"])
        .args(args)
        .current_dir(dir)
        .env_remove("ETL_HOME")
        .env_remove("ETL_STORAGE")
        .env_remove("ETL_UI_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).map(|u| u.split("/?").next().unwrap().trim_end_matches('/').to_owned());
    let base = base.unwrap_or_else(|| panic!("the UI prints its address: {line:?}"));
    Ui { child, base }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn wait_for_end(ui: &Ui, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = get(&format!("{}/api/runs/{run_id}", ui.base));
        if code == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            if !matches!(v["run"]["status"].as_str(), Some("queued" | "started")) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "run {run_id} did not end: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("the page's forms carry the CSRF token") + 19;
    page[at..at + 64].to_owned()
}

#[test]
fn the_ui_serves_the_catalog_launches_a_run_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let ui = start(&example_binary("two_resources"), dir.path(), &[]);
    let assets: Value = serde_json::from_str(&get(&format!("{}/api/assets", ui.base)).1).unwrap();
    let keys: Vec<&str> = assets["assets"].as_array().unwrap().iter().map(|a| a["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["dlt_two_source_users", "dlt_two_source_orders"]);
    let graph: Value = serde_json::from_str(&get(&format!("{}/api/graph", ui.base)).1).unwrap();
    assert!(graph["edges"].as_array().unwrap().iter().any(|e| e == &json!({"from": "two_source_users", "to": "dlt_two_source_users"})), "{graph}");

    // A loopback client without an Origin is not a browser: it launches with JSON.
    let launched: Value = client().post(format!("{}/api/launch", ui.base)).json(&json!({"select": "*"})).send().unwrap().json().unwrap();
    let run_id = launched["run_id"].as_str().expect("a run id").to_owned();
    let run = wait_for_end(&ui, &run_id);
    assert_eq!(run["run"]["status"], "success", "{run}");
    assert!(run["events"].as_array().unwrap().iter().any(|e| e["kind"] == "materialization"));

    let (code, catalog) = get(&format!("{}/", ui.base));
    assert_eq!(code, 200);
    assert!(catalog.contains("dlt_two_source_users") && catalog.contains(&run_id), "the catalog shows the last materialization");
    let (code, asset) = get(&format!("{}/assets/dlt_two_source_users", ui.base));
    assert_eq!(code, 200);
    assert!(asset.contains("data-points=\"1\"") && asset.contains(&format!("href=\"/runs/{run_id}\"")), "one point in the plot, linking to its run");
    assert!(asset.contains("dagster/column_schema"), "the latest metadata, with the column schema");
    assert!(asset.contains("<code>two_resources_pipeline</code> → duckdb"), "the dlt view: the pipeline and its destination");
    assert!(asset.contains("<td>users</td><td class=\"num\">2</td>") && asset.contains("<td>orders__items</td><td class=\"num\">6</td>"), "its tables with their rows");
    assert!(asset.contains("state version 1") && asset.contains("nothing pending"), "its state, nothing pending");
    assert!(asset.contains("load duration, ms"), "the load's duration plotted too");
    let orders = get(&format!("{}/assets/dlt_two_source_orders", ui.base)).1;
    assert!(orders.contains("id=\"table-orders\"") && orders.contains("id=\"table-orders__items\""), "the root table and its nested table, with their columns: {orders}");
    assert!(orders.contains("<td>_dlt_parent_id</td>"), "the nested table's columns");
    let (code, lineage) = get(&format!("{}/lineage?select=%2Bdlt_two_source_users", ui.base));
    assert_eq!(code, 200);
    assert!(lineage.contains("data-points") || lineage.contains("svg id=\"lineage\""), "{lineage}");
    assert!(lineage.contains("Materialize the selection (1 asset)"), "a neighbourhood can be launched from the graph: {lineage}");
    assert_eq!(get(&format!("{}/lineage?select=%2B%2B(", ui.base)).0, 400, "a selection that does not parse is named");
    let (code, runs) = get(&format!("{}/runs?status=success", ui.base));
    assert_eq!(code, 200);
    assert!(runs.contains(&run_id));
    assert!(!get(&format!("{}/runs?status=failure", ui.base)).1.contains(&run_id), "the status filter");
    assert_eq!(get(&format!("{}/runs?status=sideways", ui.base)).0, 400, "an unknown status is named");
    let (code, page) = get(&format!("{}/runs/{run_id}", ui.base));
    assert_eq!(code, 200);
    assert!(page.contains("SUCCESS") && page.contains("MATERIALIZATION"), "{page}");
    let mats: Value = serde_json::from_str(&get(&format!("{}/api/assets/dlt_two_source_users/materializations", ui.base)).1).unwrap();
    assert_eq!(mats["total"], 1);
    assert_eq!(get(&format!("{}/runs/nope", ui.base)).0, 404);
    assert_eq!(get(&format!("{}/assets/nope", ui.base)).0, 404);

    // Launching from the catalog's form, as a browser does: same origin, with the CSRF token.
    let host = ui.base.trim_start_matches("http://").to_owned();
    let form = [("csrf", csrf_of(&catalog)), ("asset", "dlt_two_source_orders".to_owned())];
    let r = client().post(format!("{}/launch", ui.base)).header("Origin", format!("http://{host}")).form(&form).send().unwrap();
    assert_eq!(r.status().as_u16(), 303, "{:?}", r.text());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let second = wait_for_end(&ui, location.trim_start_matches("/runs/"));
    assert_eq!(second["run"]["assets"], json!(["dlt_two_source_orders"]));
}

#[test]
fn a_browser_post_needs_the_servers_origin_and_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let ui = start(&example_binary("two_resources"), dir.path(), &[]);
    let host = ui.base.trim_start_matches("http://").to_owned();
    let csrf = csrf_of(&get(&format!("{}/", ui.base)).1);
    let post = |origin: &str, token: Option<&str>| {
        let mut form = vec![("select", "*".to_owned())];
        if let Some(t) = token {
            form.push(("csrf", t.to_owned()));
        }
        client().post(format!("{}/launch", ui.base)).header("Origin", origin).form(&form).send().unwrap().status().as_u16()
    };
    assert_eq!(post("http://evil.example", Some(&csrf)), 403, "another origin");
    assert_eq!(post(&format!("http://{host}"), None), 403, "no CSRF token");
    assert_eq!(post(&format!("http://{host}"), Some(&"0".repeat(64))), 403, "a wrong CSRF token");
    let api = client().post(format!("{}/api/launch", ui.base)).header("Origin", "http://evil.example").json(&json!({"select": "*"})).send().unwrap();
    assert_eq!(api.status().as_u16(), 403, "the JSON API follows the same rule for browsers");
    assert!(get(&format!("{}/api/runs", ui.base)).1.contains("\"runs\":[]"), "nothing was launched");
}

#[test]
fn off_loopback_the_ui_needs_a_token_and_every_request_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example_binary("two_resources")).args(["ui", "--host", "0.0.0.0", "--port", "0"]).current_dir(dir.path()).env_remove("ETL_UI_TOKEN").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a token"), "{}", String::from_utf8_lossy(&out.stderr));

    let ui = start(&example_binary("two_resources"), dir.path(), &["--token", "s3cret-t0ken"]);
    assert_eq!(get(&format!("{}/api/assets", ui.base)).0, 401);
    let with_header = client().get(format!("{}/api/assets", ui.base)).bearer_auth("s3cret-t0ken").send().unwrap();
    assert_eq!(with_header.status().as_u16(), 200);
    let wrong = client().get(format!("{}/", ui.base)).bearer_auth("s3cret-t0keN").send().unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let by_query = client().get(format!("{}/?token=s3cret-t0ken", ui.base)).send().unwrap();
    assert_eq!(by_query.status().as_u16(), 200);
    let cookie = by_query.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("etl_ui_token=") && cookie.contains("HttpOnly"), "{cookie}");
    let by_cookie = client().get(format!("{}/runs", ui.base)).header("Cookie", cookie.split(';').next().unwrap()).send().unwrap();
    assert_eq!(by_cookie.status().as_u16(), 200);
    // With the token in its header, a client is not a browser: it may POST from anywhere.
    let launched = client().post(format!("{}/api/launch", ui.base)).bearer_auth("s3cret-t0ken").header("Origin", "http://elsewhere").json(&json!({"select": "*"})).send().unwrap();
    assert_eq!(launched.status().as_u16(), 200);
}

#[test]
fn markup_in_names_log_lines_and_metadata_is_shown_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let ui = start(Path::new(env!("CARGO_BIN_EXE_hostile")), dir.path(), &[]);
    let launched: Value = client().post(format!("{}/api/launch", ui.base)).json(&json!({"select": "*"})).send().unwrap().json().unwrap();
    let run_id = launched["run_id"].as_str().unwrap().to_owned();
    assert_eq!(wait_for_end(&ui, &run_id)["run"]["status"], "success");
    let key = "odd/<img src=x onerror=\"document.title='pwned'\">";
    let encoded: String = key.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'/' { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let pages = [format!("{}/", ui.base), format!("{}/assets/{encoded}", ui.base), format!("{}/runs/{run_id}", ui.base), format!("{}/runs", ui.base)];
    for url in &pages {
        let (code, body) = get(url);
        assert_eq!(code, 200, "{url}: {body}");
        for raw in ["<script>document.title", "<img src=x"] {
            assert!(!body.contains(raw), "{url} has raw markup `{raw}`");
        }
    }
    let run_page = get(&pages[2]).1;
    assert!(run_page.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"), "the log line, escaped");
    assert!(get(&pages[1]).1.contains("&lt;img src=x onerror="), "the key and the metadata, escaped");

    // And a real browser runs none of it.
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists()) else {
        let message = "Chromium is not installed (apt-get install chromium): the browser half of this test is skipped";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("SKIPPED: {message}");
        return;
    };
    for url in &pages {
        let profile = tempfile::tempdir().unwrap();
        let out = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&out.stdout);
        assert!(dom.contains("<title>") && !dom.contains("pwned</title>"), "{url}: the page's script-bearing text ran:\n{dom}");
    }
}

/// The `(id, event, data)` of a server-sent event stream, read to its end.
fn read_stream(url: &str, last_event_id: Option<&str>) -> Vec<(Option<String>, String, Value)> {
    let mut request = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap().get(url);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (mut out, mut id, mut event) = (Vec::new(), None, String::new());
    for line in BufReader::new(response).lines() {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            out.push((id.take(), std::mem::take(&mut event), serde_json::from_str(v).unwrap()));
            if out.last().unwrap().1 == "end" {
                break;
            }
        }
    }
    out
}

#[test]
fn a_run_s_events_stream_live_and_resume_after_a_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    // `marked` takes 800 ms: the stream is read while the run goes.
    let ui = start(Path::new(env!("CARGO_BIN_EXE_marked")), dir.path(), &[]);
    let launched: Value = client().post(format!("{}/api/launch", ui.base)).json(&json!({"select": "*"})).send().unwrap().json().unwrap();
    let run_id = launched["run_id"].as_str().unwrap().to_owned();
    let url = format!("{}/api/runs/{run_id}/events/stream", ui.base);
    let all = read_stream(&url, None);
    let (end, events) = all.split_last().unwrap();
    assert_eq!((end.1.as_str(), &end.2["status"]), ("end", &json!("success")), "{all:?}");
    let ids: Vec<usize> = events.iter().map(|(id, kind, _)| {
        assert_eq!(kind, "run_event");
        id.as_deref().unwrap().parse().unwrap()
    }).collect();
    assert_eq!(ids, (0..ids.len()).collect::<Vec<_>>(), "every event once, in order");
    assert_eq!(events[0].2["label"], "RUN_START");
    assert!(events.iter().any(|(_, _, row)| row["label"] == "MATERIALIZATION"));
    // A reconnect with the last id it saw gets what follows.
    let resumed = read_stream(&url, Some("2"));
    let resumed_ids: Vec<&str> = resumed.iter().filter_map(|(id, _, _)| id.as_deref()).collect();
    assert_eq!(resumed_ids.first(), Some(&"3"), "{resumed:?}");
    assert_eq!(resumed.len(), all.len() - 3);
    let gone = read_stream(&format!("{}/api/runs/nope/events/stream", ui.base), None);
    assert!(gone[0].1 == "end" && gone[0].2["error"].as_str().unwrap().contains("nope"), "{gone:?}");
}

#[test]
fn schedules_can_be_stopped_and_started_and_the_queue_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let exe = example_binary("warehouse");
    let ui = start(&exe, dir.path(), &[]);
    let (code, page) = get(&format!("{}/schedules", ui.base));
    assert_eq!(code, 200);
    assert!(page.contains("refresh") && page.contains("nightly_report") && page.contains("RUNNING"), "{page}");
    assert!(page.contains("30 3 * * *") && page.contains("next ticks"), "the cron and the next ticks: {page}");
    let stop = client().post(format!("{}/schedules/refresh/stop", ui.base)).send().unwrap();
    assert_eq!(stop.status().as_u16(), 303);
    let page = get(&format!("{}/schedules", ui.base)).1;
    assert!(page.contains("STOPPED") && page.contains("/schedules/refresh/start"), "{page}");
    // What the daemon reads: the same storage says it is stopped.
    let store = etl::RunStore::at(dir.path().join(".etl"));
    assert!(store.queue().unwrap().schedule_stopped("refresh").unwrap());
    assert_eq!(client().post(format!("{}/schedules/refresh/start", ui.base)).send().unwrap().status().as_u16(), 303);
    assert!(!store.queue().unwrap().schedule_stopped("refresh").unwrap());
    assert_eq!(client().post(format!("{}/schedules/nope/stop", ui.base)).send().unwrap().status().as_u16(), 404);

    // Two runs submitted for workers wait in the queue.
    for _ in 0..2 {
        let out = Command::new(&exe).args(["submit", "--select", "exchange_rates"]).current_dir(dir.path()).env_remove("ETL_HOME").env_remove("ETL_STORAGE").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (code, queue) = get(&format!("{}/queue", ui.base));
    assert_eq!(code, 200);
    assert!(queue.contains("Queued (2)") && queue.contains("exchange_rates"), "{queue}");
}

#[test]
fn a_partitioned_assets_page_shows_its_partitions_and_checks_and_launches_a_partition() {
    let dir = tempfile::tempdir().unwrap();
    let exe = example_binary("partitioned");
    let generated = Command::new(&exe).args(["generate", "--days", "3"]).current_dir(dir.path()).output().unwrap();
    assert!(generated.status.success());
    let ui = start(&exe, dir.path(), &[]);
    // The JSON API takes a partition; a missing one is refused before anything runs.
    let refused = client().post(format!("{}/api/launch", ui.base)).json(&json!({"select": "dlt_events_source_events"})).send().unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert!(refused.text().unwrap().contains("is partitioned"));
    let launched: Value = client()
        .post(format!("{}/api/launch", ui.base))
        .json(&json!({"select": "dlt_events_source_events", "partition": "2024-01-01...2024-01-02"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let run_id = launched["run_id"].as_str().expect("a run id").to_owned();
    assert_eq!(wait_for_end(&ui, &run_id)["run"]["status"], "success");
    let (code, page) = get(&format!("{}/assets/dlt_events_source_events", ui.base));
    assert_eq!(code, 200);
    assert!(page.contains("31 in all: 2 materialized, 0 failed, 29 missing"), "{page}");
    assert_eq!(page.matches("class=\"p-ok\"").count(), 2, "a green cell per materialized day");
    assert!(page.contains("title=\"2024-01-03: missing\""), "each cell names its key");
    assert!(page.contains("every_day_has_events") && page.contains("PASSED") && page.contains("column_schema_change"), "the checks with their results");
    assert!(page.contains("name=\"partition\""), "the Materialize button asks for a partition");
    // The browser's form with a partition.
    let host = ui.base.trim_start_matches("http://").to_owned();
    let form = [("csrf", csrf_of(&page)), ("asset", "dlt_events_source_events".to_owned()), ("partition", "2024-01-03".to_owned())];
    let r = client().post(format!("{}/launch", ui.base)).header("Origin", format!("http://{host}")).form(&form).send().unwrap();
    assert_eq!(r.status().as_u16(), 303, "{:?}", r.text());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let third = wait_for_end(&ui, location.trim_start_matches("/runs/"));
    assert_eq!(third["run"]["status"], "success", "{third}");
    let page = get(&format!("{}/assets/dlt_events_source_events", ui.base)).1;
    assert!(page.contains("3 materialized"), "{page}");
}
