//! The web UI as a person uses it, in headless Chromium driven by ChromeDriver (Debian's
//! `chromium` and `chromium-driver`): open the catalog of `two_resources`, tick both assets,
//! click Materialize, watch the run page reach success (it refreshes itself while the run goes),
//! open the asset page and find the run's point in the `rows_loaded` plot. Screenshots go to
//! `<target>/release/ui-screenshots/`. Without the browser this says so and skips, except under
//! `CI=true`, where it fails.
//!
//! The WebDriver protocol is plain JSON over HTTP; the few commands used are spoken here
//! directly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use etl_tests::example_binary;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session.
struct Browser {
    http: reqwest::blocking::Client,
    base: String,
    _driver: Killed,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Option<Browser> {
        let (chromium, driver) = (Path::new("/usr/bin/chromium"), Path::new("/usr/bin/chromedriver"));
        if !chromium.exists() || !driver.exists() {
            let message = "Chromium or ChromeDriver is not installed (apt-get install chromium chromium-driver): the browser test is skipped";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
            eprintln!("SKIPPED: {message}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let driver = Killed(child);
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().map(|r| !r.status().is_success()).unwrap_or(true) {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}}});
        let session: Value = http.post(format!("{base}/session")).json(&caps).send().unwrap().json().unwrap();
        let id = session["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("a session: {session}")).to_owned();
        Some(Browser { http, base: format!("{base}/session/{id}"), _driver: driver, _profile: profile })
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            request = request.json(&b);
        }
        let v: Value = request.send().unwrap().json().unwrap();
        assert!(v["value"].get("error").is_none(), "{path}: {v}");
        v["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})));
    }

    fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).as_str().unwrap().to_owned()
    }

    fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).as_str().unwrap().to_owned()
    }

    fn click(&self, css: &str) {
        let found = self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})));
        let id = found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element `{css}`: {found}")).to_owned();
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})));
    }

    fn count(&self, css: &str) -> usize {
        self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).as_array().map_or(0, Vec::len)
    }

    fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(screenshots().join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).send();
    }
}

fn screenshots() -> PathBuf {
    let dir = example_binary("two_resources").parent().unwrap().parent().unwrap().join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_person_materializes_both_assets_from_the_catalog_and_finds_the_new_point() {
    let Some(browser) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut ui = Command::new(example_binary("two_resources"))
        .args(["ui", "--port", "0"])
        .current_dir(dir.path())
        .env_remove("ETL_HOME")
        .env_remove("ETL_STORAGE")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(ui.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ui = Killed(ui);
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).expect("the address").trim_end_matches('/').to_owned();

    browser.open(&format!("{base}/"));
    browser.screenshot("catalog");
    browser.click("#pick-dlt_two_source_users");
    browser.click("#pick-dlt_two_source_orders");
    browser.click("#materialize");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !browser.url().contains("/runs/") {
        assert!(Instant::now() < deadline, "Materialize did not open the run's page: {}", browser.url());
        std::thread::sleep(Duration::from_millis(50));
    }
    let run_id = browser.url().rsplit('/').next().unwrap().to_owned();
    // The page refreshes itself until the run has ended.
    while browser.count("main p span.SUCCESS") == 0 {
        assert!(Instant::now() < deadline, "the run page never showed success:\n{}", browser.source());
        std::thread::sleep(Duration::from_millis(200));
    }
    browser.screenshot("run");
    assert!(browser.source().contains("MATERIALIZATION"));

    browser.open(&format!("{base}/assets/dlt_two_source_users"));
    browser.screenshot("asset");
    assert_eq!(browser.count(&format!("svg.plot[aria-label=\"rows_loaded\"] a[href=\"/runs/{run_id}\"] circle")), 1, "the run's point in the rows_loaded plot");
    browser.open(&format!("{base}/lineage"));
    browser.screenshot("lineage");
    assert_eq!(browser.count("svg#lineage a rect"), 4, "two assets and their two external deps");
    // Picking one asset in the graph's page launches it alone.
    browser.click("#pick-dlt_two_source_orders");
    browser.click("#materialize-picked");
    while !browser.url().contains("/runs/") || browser.url().ends_with(&run_id) {
        assert!(Instant::now() < deadline + Duration::from_secs(30), "picking in the graph did not launch: {}", browser.url());
        std::thread::sleep(Duration::from_millis(50));
    }
    while browser.count("main p span.SUCCESS") == 0 {
        assert!(Instant::now() < deadline + Duration::from_secs(60), "the picked run never succeeded:\n{}", browser.source());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(browser.source().contains("dlt_two_source_orders") && !browser.source().contains("MATERIALIZATION</td><td>dlt_two_source_users"), "only the picked asset ran");
}
