//! The "events" benchmark (see the README, "Performance"): generates the events file, then runs,
//! alternating and each in a fresh child process so peak memory is measured per method:
//! (a) the full pipeline from the JSONL file, (b) DuckDB's own `read_json` + `unnest` of the same
//! file, (c) the full pipeline from typed Rust structs in memory. Prints medians, events/s, peak
//! RSS and the ratios (a)/(b) and (c)/(b); then the cold start of the lesson binary against a
//! trivial process.
//!
//! With `--destination <postgres URL>` (or `--destination temp`: a throwaway server started from
//! the installed PostgreSQL binaries), (a) and (c) load into PostgreSQL instead, against (f)
//! PostgreSQL's own COPY of the finished tables (see `postgres.rs`).
//!
//! ```text
//! cargo run --release --example bench -- run --n 100000 --reps 3
//! cargo run --release --example bench -- run --n 100000 --reps 3 --destination temp
//! cargo run --release --example bench -- load events.jsonl --workdir /tmp/out   # method (a) alone
//! ```

mod postgres;

use etl_examples::measure::{child, median, report};

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use etl::{Resource, ResourceHints};
use serde::Serialize;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write N events as JSONL.
    Gen {
        /// Output file.
        file: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        n: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Method (a): load a JSONL file as resource `events` of pipeline `bench` into `<workdir>/bench.duckdb`
    /// (or into PostgreSQL with `--destination`).
    Load {
        file: PathBuf,
        #[arg(long)]
        workdir: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Method (b): DuckDB's own read_json + unnest of the file into `<workdir>/native.duckdb`.
    Native {
        file: PathBuf,
        #[arg(long)]
        workdir: PathBuf,
    },
    /// Method (c): the pipeline from N typed structs, made as they are pulled, into `<workdir>/bench.duckdb`
    /// (or into PostgreSQL with `--destination`).
    Typed {
        #[command(flatten)]
        events: Generated,
        #[command(flatten)]
        target: Target,
    },
    /// Method (e): the pipeline from the same N events as Arrow record batches (64k rows each): `events`
    /// with the device flattened, and `events__items` with the event's id, as two resources, with
    /// `_dlt_load_id` and `_dlt_id` (`[normalize.parquet_normalizer]`), into `<workdir>/bench.duckdb`.
    Arrow {
        #[command(flatten)]
        events: Generated,
    },
    /// Reference (f): PostgreSQL's own COPY of `<dir>/events.csv` and `<dir>/events__items.csv` into
    /// fresh tables of `--dataset` made from `<dir>/<table>.ddl`. Only the DDL and the COPY are timed.
    Pgcopy {
        dir: PathBuf,
        /// The database's URL.
        #[arg(long)]
        destination: String,
        #[arg(long)]
        dataset: String,
    },
    /// Reference (d): DuckDB inserting the finished tables of a run of (a) (`<from>/bench.duckdb`)
    /// into a fresh `<workdir>/floor.duckdb` with the loader's settings: what the destination alone
    /// costs for what the pipeline produces. Only the insert is timed.
    Floor {
        from: PathBuf,
        #[arg(long)]
        workdir: PathBuf,
        /// DuckDB's `memory_limit` (the loader's by default), to see what the insert costs under
        /// other settings.
        #[arg(long, default_value = "128MB")]
        memory_limit: String,
        /// DuckDB's `threads` (default: the loader's, cores - 1).
        #[arg(long)]
        threads: Option<usize>,
        /// Extra statements run before the insert (e.g. `SET checkpoint_threshold = '1GB'`).
        #[arg(long, default_value = "")]
        settings: String,
    },
    /// Runs a query on a DuckDB file and prints the rows as JSON (to compare what the methods
    /// loaded).
    Sql { db: PathBuf, query: String },
    /// Generate (or take `--file`), then alternate (a), (b), (c) `--reps` times and report.
    Run {
        #[arg(long, default_value_t = 1_000_000)]
        n: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// A PostgreSQL URL, or `temp` for a throwaway server: alternate (a), (f), (c) against it
        /// instead of the DuckDB methods.
        #[arg(long)]
        destination: Option<String>,
    },
}

/// The events the methods that generate them load ((c) and (e)), and where.
#[derive(clap::Args)]
struct Generated {
    #[arg(long)]
    n: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long)]
    workdir: PathBuf,
}

/// Where (a) and (c) load: DuckDB in the working directory unless a PostgreSQL URL is given.
#[derive(clap::Args)]
struct Target {
    /// A PostgreSQL URL (`postgres://user@host:port/db`).
    #[arg(long)]
    destination: Option<String>,
    /// The dataset (a schema, in PostgreSQL).
    #[arg(long, default_value = "bench")]
    dataset: String,
}

impl Target {
    fn pipeline(&self, workdir: &std::path::Path) -> etl::Pipeline {
        let p = etl::pipeline("bench").dataset_name(self.dataset.as_str()).working_dir(workdir);
        match &self.destination {
            Some(url) => p.destination(etl::postgres(url.as_str())),
            None => p,
        }
    }
}

#[derive(Serialize)]
struct Device {
    os: &'static str,
    version: String,
    mobile: bool,
}

#[derive(Serialize)]
struct Item {
    sku: String,
    qty: i64,
    price: f64,
}

#[derive(Serialize)]
struct Event {
    event_id: u64,
    user_id: u64,
    session_id: String,
    event_type: &'static str,
    amount: f64,
    quantity: i64,
    is_test: bool,
    score: f64,
    country: &'static str,
    created_at: chrono::DateTime<chrono::Utc>,
    device: Device,
    items: Vec<Item>,
}

/// splitmix64: deterministic for a seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `prefix` and `v` in `width` decimal digits, zero-padded (as `format!("{prefix}{v:0width$}")`),
/// without the formatting machinery: the generator stands for data that exists already, so
/// that (c) measures the pipeline rather than `format!` (see docs/performance.md).
fn decimal(prefix: &str, v: u64, width: usize) -> String {
    let mut digits = [b'0'; 20];
    let (mut v, mut at) = (v, digits.len());
    while v > 0 || at == digits.len() {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = at.min(digits.len() - width);
    let mut s = String::with_capacity(prefix.len() + digits.len() - start);
    s.push_str(prefix);
    s.push_str(std::str::from_utf8(&digits[start..]).expect("digits"));
    s
}

/// `s` and the low 48 bits of `v` in 12 lowercase hex digits (as `format!("s{v:012x}")`).
fn session_id(v: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(13);
    s.push('s');
    for shift in (0..12).rev() {
        s.push(HEX[((v >> (shift * 4)) & 0xf) as usize] as char);
    }
    s
}

fn events(n: u64, seed: u64) -> impl Iterator<Item = Event> {
    const TYPES: [&str; 5] = ["view", "click", "add_to_cart", "purchase", "signup"];
    const COUNTRIES: [&str; 6] = ["DE", "US", "FR", "PL", "BR", "JP"];
    const OS: [&str; 3] = ["ios", "android", "web"];
    let mut rng = Rng(seed);
    (0..n).map(move |i| {
        let n_items = [0, 1, 2, 3][rng.below(4) as usize];
        let secs = 1_704_067_200 + i * 7 + rng.below(5);
        Event {
            event_id: i + 1,
            user_id: rng.below(100_000),
            session_id: session_id(rng.next() & 0xffff_ffff_ffff),
            event_type: TYPES[rng.below(5) as usize],
            amount: (rng.unit() * 50_000.0).round() / 100.0,
            quantity: rng.below(10) as i64,
            is_test: rng.below(20) == 0,
            score: rng.unit(),
            country: COUNTRIES[rng.below(6) as usize],
            created_at: chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default(),
            device: Device {
                os: OS[rng.below(3) as usize],
                version: {
                    let mut version = decimal("", 1 + rng.below(17), 1);
                    version.push('.');
                    version.push(char::from(b'0' + rng.below(10) as u8));
                    version
                },
                mobile: rng.below(2) == 0,
            },
            items: (0..n_items)
                .map(|_| Item { sku: decimal("SKU-", rng.below(20_000), 5), qty: 1 + rng.below(4) as i64, price: (rng.unit() * 20_000.0).round() / 100.0 })
                .collect(),
        }
    })
}

/// The events as record batches of 64k events: the `events` table (device flattened), or the
/// `events__items` table (each item with its event's id).
fn arrow_batches(n: u64, seed: u64, items: bool) -> etl::core::resource::ArrowBatches {
    use etl::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;
    const CHUNK: usize = 64 * 1024;
    let mut all = events(n, seed).peekable();
    Box::new(std::iter::from_fn(move || {
        all.peek()?;
        let chunk: Vec<Event> = all.by_ref().take(CHUNK).collect();
        let columns: Vec<(&str, ArrayRef)> = if items {
            let rows: Vec<(u64, &Item)> = chunk.iter().flat_map(|e| e.items.iter().map(move |i| (e.event_id, i))).collect();
            vec![
                ("event_id", Arc::new(Int64Array::from_iter_values(rows.iter().map(|(id, _)| *id as i64)))),
                ("sku", Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, i)| i.sku.as_str())))),
                ("qty", Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, i)| i.qty)))),
                ("price", Arc::new(Float64Array::from_iter_values(rows.iter().map(|(_, i)| i.price)))),
            ]
        } else {
            vec![
                ("event_id", Arc::new(Int64Array::from_iter_values(chunk.iter().map(|e| e.event_id as i64)))),
                ("user_id", Arc::new(Int64Array::from_iter_values(chunk.iter().map(|e| e.user_id as i64)))),
                ("session_id", Arc::new(StringArray::from_iter_values(chunk.iter().map(|e| e.session_id.as_str())))),
                ("event_type", Arc::new(StringArray::from_iter_values(chunk.iter().map(|e| e.event_type)))),
                ("amount", Arc::new(Float64Array::from_iter_values(chunk.iter().map(|e| e.amount)))),
                ("quantity", Arc::new(Int64Array::from_iter_values(chunk.iter().map(|e| e.quantity)))),
                ("is_test", Arc::new(BooleanArray::from(chunk.iter().map(|e| e.is_test).collect::<Vec<_>>()))),
                ("score", Arc::new(Float64Array::from_iter_values(chunk.iter().map(|e| e.score)))),
                ("country", Arc::new(StringArray::from_iter_values(chunk.iter().map(|e| e.country)))),
                (
                    "created_at",
                    Arc::new(TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|e| e.created_at.timestamp_micros())).with_timezone("UTC")),
                ),
                ("device__os", Arc::new(StringArray::from_iter_values(chunk.iter().map(|e| e.device.os)))),
                ("device__version", Arc::new(StringArray::from_iter_values(chunk.iter().map(|e| e.device.version.as_str())))),
                ("device__mobile", Arc::new(BooleanArray::from(chunk.iter().map(|e| e.device.mobile).collect::<Vec<_>>()))),
            ]
        };
        Some(etl::arrow::record_batch::RecordBatch::try_from_iter(columns).map_err(|e| Box::new(e) as etl::BoxError))
    }))
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Gen { file, n, seed } => {
            let mut w = BufWriter::new(std::fs::File::create(&file).with_context(|| format!("creating {}", file.display()))?);
            for e in events(n, seed) {
                serde_json::to_writer(&mut w, &e)?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
        }
        Cmd::Load { file, workdir, target } => {
            let started = Instant::now();
            anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
            let resource = Resource::from_json_lines_file(ResourceHints::new("events"), &file);
            target.pipeline(&workdir).run(resource)?;
            report(started, "");
        }
        Cmd::Native { file, workdir } => {
            let started = Instant::now();
            std::fs::create_dir_all(&workdir)?;
            let db = workdir.join("native.duckdb");
            let f = etl::core::naming::quote_literal(&file.display().to_string());
            let sql = format!(
                "CREATE TABLE events AS SELECT * EXCLUDE (items) FROM read_json({f}, format = 'newline_delimited'); \
                 CREATE TABLE events__items AS SELECT event_id, unnest(items, recursive := true) FROM read_json({f}, format = 'newline_delimited');"
            );
            etl::testing::execute_file(&db, &sql)?;
            report(started, "");
        }
        Cmd::Typed { events: Generated { n, seed, workdir }, target } => {
            let started = Instant::now();
            // Structs made as the pipeline pulls them, as a resource function yields them: the
            // events exist in memory one batch at a time, never all at once.
            target.pipeline(&workdir).run(Resource::from_data("events", events(n, seed)))?;
            report(started, "");
        }
        Cmd::Floor { from, workdir, memory_limit, threads, settings } => {
            std::fs::create_dir_all(&workdir)?;
            let db = workdir.join("floor.duckdb");
            let src = etl::core::naming::quote_literal(&from.join("bench.duckdb").display().to_string());
            // The same tables (row-id columns uncompressed, as the pipeline creates them).
            let ddl = etl::testing::query_file(
                &from.join("bench.duckdb"),
                "SELECT sql FROM duckdb_tables() WHERE schema_name = 'bench' AND table_name IN ('events', 'events__items') ORDER BY table_name",
            )?;
            let ddl: Vec<String> = ddl.iter().filter_map(|r| r[0].as_str().map(str::to_owned)).collect();
            anyhow::ensure!(ddl.len() == 2, "{} has no bench.events and bench.events__items", from.display());
            etl::testing::execute_file(&db, &format!("CREATE SCHEMA bench; {}", ddl.join("\n")))?;
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)));
            let memory_limit = etl::core::naming::quote_literal(&memory_limit);
            let started = Instant::now();
            etl::testing::execute_file(
                &db,
                &format!(
                    "SET threads = {threads}; SET memory_limit = {memory_limit}; {settings}; ATTACH {src} AS src (READ_ONLY); BEGIN; \
                     INSERT INTO bench.events SELECT * FROM src.bench.events; \
                     INSERT INTO bench.events__items SELECT * FROM src.bench.events__items; COMMIT;"
                ),
            )?;
            report(started, "");
        }
        Cmd::Arrow { events: Generated { n, seed, workdir } } => {
            let started = Instant::now();
            std::fs::create_dir_all(workdir.join(".dlt"))?;
            std::fs::write(workdir.join(".dlt/config.toml"), "[normalize.parquet_normalizer]\nadd_dlt_load_id = true\nadd_dlt_id = true\n")?;
            // Each table's batches are made as they are pulled (the events are generated once per
            // table: the same seed gives the same events), 64k events at a time.
            let events = Resource::from_arrow(ResourceHints::new("events"), move |_| Ok(arrow_batches(n, seed, false)));
            let items = Resource::from_arrow(ResourceHints::new("events__items"), move |_| Ok(arrow_batches(n, seed, true)));
            let source = etl::Source::with("bench", vec![events, items])?;
            etl::pipeline("bench").dataset_name("bench").working_dir(&workdir).run(source)?;
            report(started, "");
        }
        Cmd::Pgcopy { dir, destination, dataset } => postgres::copy_reference(&destination, &dataset, &dir)?,
        Cmd::Sql { db, query } => {
            for row in etl::testing::query_file(&db, &query)? {
                println!("{}", serde_json::Value::Array(row));
            }
        }
        Cmd::Run { n, seed, file, reps, destination } => run(n, seed, file, reps, destination.as_deref())?,
    }
    Ok(())
}

fn run(n: u64, seed: u64, file: Option<PathBuf>, reps: usize, destination: Option<&str>) -> anyhow::Result<()> {
    // Started before the file is written, so that its start-up is not timed either.
    let server = destination.map(postgres::Server::open).transpose()?;
    let scratch = tempfile::tempdir()?;
    let file = match file {
        Some(f) => f,
        None => {
            let f = scratch.path().join("events.jsonl");
            let exe = std::env::current_exe()?;
            let ok = Command::new(exe).args(["gen", &f.display().to_string(), "--n", &n.to_string(), "--seed", &seed.to_string()]).status()?;
            if !ok.success() {
                bail!("generating the events file failed");
            }
            f
        }
    };
    let n_events = BufReader::new(std::fs::File::open(&file)?).lines().count() as f64;
    if let Some(server) = &server {
        return postgres::run(server, &file, n_events, seed, reps, scratch.path());
    }
    let mut times: [Vec<f64>; 5] = Default::default();
    let mut rss: [Vec<f64>; 5] = Default::default();
    for rep in 0..reps {
        for (m, method) in ["load", "native", "typed", "", "arrow"].iter().enumerate().filter(|(_, m)| !m.is_empty()) {
            let dir = scratch.path().join(format!("{method}-{rep}"));
            let args: Vec<String> = match *method {
                "typed" | "arrow" => vec![(*method).into(), "--n".into(), (n_events as u64).to_string(), "--seed".into(), seed.to_string(), "--workdir".into(), dir.display().to_string()],
                other => vec![other.into(), file.display().to_string(), "--workdir".into(), dir.display().to_string()],
            };
            let (secs, mb) = child(&args)?;
            times[m].push(secs);
            rss[m].push(mb);
            if *method == "load" {
                let floor_dir = scratch.path().join(format!("floor-{rep}"));
                let (secs, mb) = child(&["floor".into(), dir.display().to_string(), "--workdir".into(), floor_dir.display().to_string()])?;
                times[3].push(secs);
                rss[3].push(mb);
                let _ = std::fs::remove_dir_all(&floor_dir);
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let names = ["(a) pipeline from JSONL", "(b) DuckDB read_json + unnest", "(c) pipeline from typed structs", "(d) DuckDB inserting (a)'s tables", "(e) pipeline from Arrow batches"];
    println!("events: {n_events} from {}; {reps} alternating repetitions; medians", file.display());
    println!("{:<34} {:>9} {:>12} {:>10}", "method", "time s", "events/s", "peak MB");
    let med: Vec<f64> = times.iter().map(|t| median(t.clone())).collect();
    for m in 0..5 {
        println!("{:<34} {:>9.3} {:>12.0} {:>10.1}", names[m], med[m], n_events / med[m], median(rss[m].clone()));
    }
    println!("ratio (a)/(b): {:.2}   ratio (c)/(b): {:.2}   (time; lower is better)", med[0] / med[1], med[2] / med[1]);
    println!("(d)/(b): {:.2}   the destination's own insert of the finished tables: no pipeline can be faster", med[3] / med[1]);
    println!("(e)/(d): {:.2}   Arrow batches of the two tables against that insert", med[4] / med[3]);
    // Cold start of the lesson binary, against a trivial process.
    let lesson = std::env::current_exe()?.with_file_name("simple_pipeline");
    if lesson.exists() {
        let mut lesson_t = Vec::new();
        let mut trivial_t = Vec::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir()?;
            let t = Instant::now();
            let ok = Command::new(&lesson).arg("materialize").current_dir(dir.path()).output()?.status.success();
            lesson_t.push(t.elapsed().as_secs_f64());
            if !ok || !dir.path().join("simple_pipeline.duckdb").exists() {
                bail!("the lesson binary failed");
            }
            let t = Instant::now();
            Command::new("true").status()?;
            trivial_t.push(t.elapsed().as_secs_f64());
        }
        println!(
            "lesson `materialize` cold start: {:.1} ms (trivial process: {:.1} ms)",
            median(lesson_t) * 1000.0,
            median(trivial_t) * 1000.0
        );
    }
    Ok(())
}
