//! The events benchmark against PostgreSQL: (a) the pipeline from the JSONL file and (c) from
//! typed structs into a database, against (f) PostgreSQL's own `COPY` of the finished tables
//! from CSV files, with dlt's DDL (the tables (a) created, `UNIQUE (_dlt_id)` included).
//!
//! The CSV files and the DDL are taken once, before anything is timed, from the tables of the
//! first run of (a) (`COPY ... TO STDOUT (FORMAT csv)` and the catalog). Each repetition runs
//! (a), (f), (c) in fresh child processes, each into a dataset of its own (dropped first and
//! after, untimed). (f) times what `psql -c 'CREATE TABLE ...' -c '\copy ... FROM file CSV'`
//! does once connected: the schema, both tables and the file streamed through `COPY FROM STDIN`.

use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _};
use etl::core::naming::quote_ident;
use postgres::{Client, NoTls};

use etl_examples::measure::{child, median, report};

/// The two tables of the workload, as dlt names them.
const TABLES: [&str; 2] = ["events", "events__items"];

fn connect(url: &str) -> anyhow::Result<Client> {
    Client::connect(url, NoTls).with_context(|| format!("connecting to {}", etl::redact_url(url)))
}

fn drop_dataset(client: &mut Client, dataset: &str) -> anyhow::Result<()> {
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(dataset))).with_context(|| format!("dropping {dataset}"))
}

/// Rows of `dataset.table`.
fn count(client: &mut Client, dataset: &str, table: &str) -> anyhow::Result<i64> {
    let row = client.query_one(&format!("SELECT count(*) FROM {}.{}", quote_ident(dataset), quote_ident(table)), &[])?;
    Ok(row.get(0))
}

/// The body of `CREATE TABLE` of `dataset.table` as it stands: `(column type [NOT NULL], ...,
/// constraints)`, columns in table order (the order of the CSV file).
fn table_body(client: &mut Client, dataset: &str, table: &str) -> anyhow::Result<String> {
    let oid = format!("{}.{}", quote_ident(dataset), quote_ident(table));
    let columns = client.query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a \
         WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        &[&oid],
    )?;
    let mut defs: Vec<String> = columns
        .iter()
        .map(|r| {
            let (name, ty, not_null): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
            format!("{} {ty}{}", quote_ident(&name), if not_null { " NOT NULL" } else { "" })
        })
        .collect();
    let constraints = client.query("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::text::regclass ORDER BY conname", &[&oid])?;
    defs.extend(constraints.iter().map(|r| r.get::<_, String>(0)));
    if columns.is_empty() {
        bail!("{dataset}.{table} has no columns");
    }
    Ok(format!("({})", defs.join(", ")))
}

/// Writes `<dir>/<table>.csv` and `<dir>/<table>.ddl` (the `CREATE TABLE` body) of both tables of
/// `dataset`.
fn export(client: &mut Client, dataset: &str, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for table in TABLES {
        std::fs::write(dir.join(format!("{table}.ddl")), table_body(client, dataset, table)?)?;
        let path = dir.join(format!("{table}.csv"));
        let mut out = BufWriter::new(std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?);
        let mut reader = client.copy_out(&format!("COPY {}.{} TO STDOUT (FORMAT csv)", quote_ident(dataset), quote_ident(table)))?;
        std::io::copy(&mut reader, &mut out)?;
        out.flush()?;
    }
    Ok(())
}

/// Reference (f), in its own process: `CREATE SCHEMA`, then per table `CREATE TABLE` with the
/// stored DDL and `COPY FROM STDIN (FORMAT csv)` of its file, each statement committed on its
/// own as psql does. Connecting is not timed.
pub fn copy_reference(url: &str, dataset: &str, dir: &Path) -> anyhow::Result<()> {
    let mut client = connect(url)?;
    drop_dataset(&mut client, dataset)?;
    let started = Instant::now();
    client.batch_execute(&format!("CREATE SCHEMA {}", quote_ident(dataset)))?;
    for table in TABLES {
        let name = format!("{}.{}", quote_ident(dataset), quote_ident(table));
        let body = std::fs::read_to_string(dir.join(format!("{table}.ddl")))?;
        client.batch_execute(&format!("CREATE TABLE {name} {body}")).with_context(|| format!("creating {name}"))?;
        let file = std::fs::File::open(dir.join(format!("{table}.csv")))?;
        let mut writer = client.copy_in(&format!("COPY {name} FROM STDIN (FORMAT csv)"))?;
        std::io::copy(&mut BufReader::with_capacity(1 << 16, file), &mut writer)?;
        writer.finish().with_context(|| format!("copying into {name}"))?;
    }
    report(started, "");
    Ok(())
}

/// The server's version and the settings that matter for bulk loads, one line.
fn settings(client: &mut Client) -> anyhow::Result<String> {
    let version: String = client.query_one("SHOW server_version", &[])?.get(0);
    let mut parts = vec![format!("PostgreSQL {version}")];
    for name in ["shared_buffers", "wal_level", "fsync", "synchronous_commit", "full_page_writes", "max_wal_size", "maintenance_work_mem"] {
        let value: String = client.query_one(&format!("SHOW {name}"), &[])?.get(0);
        parts.push(format!("{name}={value}"));
    }
    Ok(parts.join(", "))
}

/// Where the server is: a URL given, or a throwaway server started for the run.
pub enum Server {
    /// A database given by URL.
    Url(String),
    /// A server of our own, stopped and removed when this is dropped.
    Temp(etl_testkit::PgServer),
}

impl Server {
    /// `--destination temp` starts a throwaway server (initdb into a temporary directory).
    pub fn open(destination: &str) -> anyhow::Result<Server> {
        if destination != "temp" {
            return Ok(Server::Url(destination.to_owned()));
        }
        let server = etl_testkit::PgServer::start().map_err(|skip| anyhow::anyhow!("starting a throwaway PostgreSQL server: {skip}"))?;
        Ok(Server::Temp(server))
    }

    fn url(&self) -> String {
        match self {
            Server::Url(url) => url.clone(),
            Server::Temp(server) => server.url(),
        }
    }
}

/// Alternates (a), (f), (c) `reps` times against `server` and prints the report.
pub fn run(server: &Server, file: &Path, n_events: f64, seed: u64, reps: usize, scratch: &Path) -> anyhow::Result<()> {
    let url = server.url();
    let mut client = connect(&url)?;
    let floor_dir = scratch.join("floor");
    let mut times: [Vec<f64>; 3] = Default::default();
    let mut rss: [Vec<f64>; 3] = Default::default();
    let mut items: Option<i64> = None;
    for rep in 0..reps {
        for (m, method) in ["load", "pgcopy", "typed"].iter().enumerate() {
            let dataset = format!("bench_{}_{rep}", ["a", "f", "c"][m]);
            let dir: PathBuf = scratch.join(format!("{method}-{rep}"));
            drop_dataset(&mut client, &dataset)?;
            let mut args: Vec<String> = match *method {
                "load" => vec!["load".into(), file.display().to_string(), "--workdir".into(), dir.display().to_string()],
                "typed" => vec!["typed".into(), "--n".into(), (n_events as u64).to_string(), "--seed".into(), seed.to_string(), "--workdir".into(), dir.display().to_string()],
                _ => vec!["pgcopy".into(), floor_dir.display().to_string()],
            };
            args.extend(["--destination".into(), url.clone(), "--dataset".into(), dataset.clone()]);
            let (secs, mb) = child(&args)?;
            times[m].push(secs);
            rss[m].push(mb);
            // Untimed: every method loaded the same rows.
            let (events, n_items) = (count(&mut client, &dataset, "events")?, count(&mut client, &dataset, "events__items")?);
            if events as f64 != n_events || items.is_some_and(|i| i != n_items) {
                bail!("{method} loaded {events} events and {n_items} items; expected {n_events} events and {items:?} items");
            }
            items = Some(n_items);
            if *method == "load" && rep == 0 {
                export(&mut client, &dataset, &floor_dir)?;
            }
            drop_dataset(&mut client, &dataset)?;
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let names = ["(a) pipeline from JSONL", "(f) PostgreSQL COPY of CSV files", "(c) pipeline from typed structs"];
    println!("events: {n_events} (+ {} items) from {}; {reps} alternating repetitions; medians", items.unwrap_or(0), file.display());
    println!("destination: {} ({})", etl::redact_url(&url), settings(&mut client)?);
    println!("{:<34} {:>9} {:>12} {:>10}", "method", "time s", "events/s", "peak MB");
    let med: Vec<f64> = times.iter().map(|t| median(t.clone())).collect();
    for m in 0..3 {
        println!("{:<34} {:>9.3} {:>12.0} {:>10.1}", names[m], med[m], n_events / med[m], median(rss[m].clone()));
    }
    println!("all times: (a) {:.3?}  (f) {:.3?}  (c) {:.3?}", times[0], times[1], times[2]);
    println!("ratio (a)/(f): {:.2}   ratio (c)/(f): {:.2}   (time; lower is better)", med[0] / med[1], med[2] / med[1]);
    Ok(())
}
