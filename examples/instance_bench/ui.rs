//! `ui`: the web UI over a storage with N runs and M events (the `reads` fill), each page and
//! API call timed as the server handles it (the router called in this process: server time, no
//! network), against the bar of 100 ms; and the lineage of 500 generated assets, laid out
//! (against 300 ms) and served as a page (issue 15, item 5).

use std::time::Instant;

use anyhow::{bail, Context as _};
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

use etl::runtime::{Registry, RunOptions};

use crate::fill::{asset_key, Shape, ASSETS};
use crate::instance::{median, Instance, Which};

#[derive(clap::Args)]
pub struct Args {
    /// Runs in the storage.
    #[arg(long, default_value_t = 10_000)]
    runs: usize,
    /// Events in the storage.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Assets of the generated definitions (the lineage's size).
    #[arg(long, default_value_t = 500)]
    assets: usize,
    /// Timed calls per page (after one untimed).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Which storages.
    #[arg(long, value_enum, default_value = "both")]
    storage: Which,
}

/// Generated definitions: the fill's 20 assets, then more, each depending on up to two earlier
/// ones, in 8 groups.
fn registry(n: usize) -> Registry {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut keys: Vec<&'static str> = (0..ASSETS).map(|i| leak(asset_key(i).to_user_string())).collect();
    keys.extend((ASSETS..n.max(ASSETS)).map(|i| leak(format!("generated/asset_{i:04}"))));
    let assets = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let deps: Vec<&'static str> = if i == 0 { Vec::new() } else { vec![keys[(i * 7919) % i], keys[i / 2]] };
            let deps: &'static [&'static str] = Box::leak(deps.into_boxed_slice());
            let def = etl::runtime::AssetDef {
                name: key,
                key,
                deps,
                group_name: Some(leak(format!("group_{}", i % 8))),
                kinds: &["duckdb"],
                tags: &[],
                description: None,
                pool: None,
                retry: None,
                location: etl::runtime::Location { module_path: "instance_bench", file: "examples/instance_bench/ui.rs", line: 1, column: 1 },
                invoke: |_| Ok(Vec::new()),
                requirements: Vec::new,
                partitions: None,
                configs: Vec::new,
            };
            &*Box::leak(Box::new(def))
        })
        .collect();
    Registry { dlt: Vec::new(), assets, ..Registry::default() }
}

/// How long `ui` takes to listen, and to serve its first page, as a process of this binary
/// (`instance_bench etl ui`): median of `reps` starts, in ms.
fn start_up(reps: usize) -> anyhow::Result<(f64, f64)> {
    use std::io::{BufRead, BufReader, Read, Write};
    let exe = std::env::current_exe()?;
    let (mut ready, mut first) = (Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        let dir = tempfile::tempdir()?;
        let started = Instant::now();
        let mut child = std::process::Command::new(&exe)
            .args(["etl", "ui", "--port", "0", "--workdir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        ready.push(started.elapsed().as_secs_f64() * 1000.0);
        let addr = line.split_whitespace().find_map(|w| w.strip_prefix("http://")).context("the UI prints its address")?.trim_end_matches('/').to_owned();
        let mut stream = std::net::TcpStream::connect(&addr)?;
        write!(stream, "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        first.push(started.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
        if !response.starts_with("HTTP/1.1 200") {
            bail!("the first page: {}", response.lines().next().unwrap_or(""));
        }
    }
    Ok((median(ready), median(first)))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let (ready, first) = start_up(args.reps)?;
    println!("ui start-up: listening after {ready:.1} ms, the first page served after {first:.1} ms (median; bar 200 ms)");
    let shape = Shape::new(args.runs, args.events)?;
    let definitions = registry(args.assets);
    // The layout alone, on the generated graph.
    let nodes: Vec<etl_ui::lineage::Node> =
        definitions.assets.iter().map(|a| etl_ui::lineage::Node { key: a.key.to_owned(), group: a.group_name.map(str::to_owned) }).collect();
    let edges: Vec<(String, String)> = definitions.assets.iter().flat_map(|a| a.deps.iter().map(|d| (d.to_string(), a.key.to_owned()))).collect();
    let mut layout_ms = Vec::new();
    for _ in 0..args.reps.max(1) {
        let started = Instant::now();
        let laid = etl_ui::lineage::layout(&nodes, &edges);
        layout_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if laid.nodes.len() != nodes.len() {
            bail!("the layout lost nodes");
        }
    }
    println!("lineage layout of {} assets, {} edges: median {:.2} ms (bar 300 ms)", nodes.len(), edges.len(), median(layout_ms));

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut rows = Vec::new();
    for kind in args.storage.kinds() {
        let instance = Instance::fresh(kind)?;
        crate::reads::fill(&instance, &shape)?;
        let mut options = RunOptions::new(instance.dir.path());
        options.storage = Some(instance.reopen()?);
        let app = etl_ui::App::new(definitions.clone(), options, None, Vec::new()).map_err(anyhow::Error::msg)?;
        let router = etl_ui::router(app);
        let run_id = shape.run_id(shape.runs / 2);
        let key = asset_key(0).to_user_string();
        let paths = [
            "/".to_owned(),
            "/lineage".to_owned(),
            format!("/assets/{key}"),
            "/runs".to_owned(),
            "/runs?status=failure".to_owned(),
            format!("/runs?asset={key}&hours=100000"),
            format!("/runs/{run_id}"),
            "/api/assets".to_owned(),
            "/api/graph".to_owned(),
            format!("/api/assets/{key}/materializations"),
            "/api/runs".to_owned(),
            format!("/api/runs/{run_id}"),
        ];
        for path in paths {
            let mut ms = Vec::new();
            let mut bytes = 0;
            for rep in 0..=args.reps {
                let request = Request::get(&path).body(Body::empty())?;
                let started = Instant::now();
                let (status, body) = runtime.block_on(async {
                    let response = router.clone().oneshot(request).await.expect("the router answers");
                    let status = response.status();
                    (status, axum::body::to_bytes(response.into_body(), usize::MAX).await)
                });
                let elapsed = started.elapsed().as_secs_f64() * 1000.0;
                let body = body.context("reading a body")?;
                if !status.is_success() {
                    bail!("{} {path}: {status}: {}", kind.name(), String::from_utf8_lossy(&body));
                }
                bytes = body.len();
                if rep > 0 {
                    ms.push(elapsed);
                }
            }
            rows.push((kind.name(), path, bytes, median(ms)));
        }
    }
    println!();
    println!("{:<9} {:<48} {:>10} {:>10}  bar 100 ms", "storage", "GET", "bytes", "median ms");
    for (storage, path, bytes, ms) in &rows {
        println!("{storage:<9} {path:<48} {bytes:>10} {ms:>10.2}  {}", if *ms < 100.0 { "pass" } else { "FAIL" });
    }
    println!("({} runs, {} events; server time: the router called in process, body read; median of {})", shape.runs, shape.events, args.reps);
    Ok(())
}
