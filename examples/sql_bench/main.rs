//! The `sql_database` benchmark: a PostgreSQL table of N rows of mixed types (bigint key,
//! numeric(12,2), text, timestamptz, date, bool, double, jsonb) copied into DuckDB by the
//! `sql_database` source, beside PostgreSQL's own `COPY ... TO STDOUT (FORMAT binary)` of the
//! same table (the floor for reading it), alternating, each in a fresh child process so peak
//! memory is per method. Prints medians, rows/s, peak RSS and the ratio.
//!
//! ```text
//! cargo run --release --example sql_bench -- run --n 1000000 --reps 3            # a throwaway server
//! cargo run --release --example sql_bench -- run --n 1000000 --url postgresql://...
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};
use etl_examples::measure::{child, median, report};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fill the table, then time both methods `reps` times, alternating.
    Run {
        #[arg(long, default_value_t = 1_000_000)]
        n: u64,
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// A server to use (default: a throwaway one from the installed PostgreSQL binaries).
        #[arg(long)]
        url: Option<String>,
        /// Rows per chunk of the source.
        #[arg(long, default_value_t = 50_000)]
        chunk_size: usize,
    },
    /// The source: copy `bench_rows` into `<workdir>/sql_bench.duckdb`.
    Load {
        #[arg(long)]
        url: String,
        #[arg(long)]
        workdir: PathBuf,
        #[arg(long, default_value_t = 50_000)]
        chunk_size: usize,
    },
    /// The floor: PostgreSQL's binary COPY of `bench_rows`, read and discarded.
    Copy {
        #[arg(long)]
        url: String,
    },
}

fn fill(url: &str, n: u64) -> anyhow::Result<()> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS bench_rows;
         CREATE TABLE bench_rows (id bigint PRIMARY KEY, amount numeric(12,2), name text, created_at timestamptz NOT NULL,
             day date, flag boolean, score double precision, doc jsonb);
         INSERT INTO bench_rows
         SELECT i, (i % 100000) / 100.0, 'customer ' || (i % 5000), timestamptz '2024-01-01' + i * interval '1 second',
                date '2024-01-01' + (i % 365)::int, i % 3 = 0, i * 0.5,
                jsonb_build_object('k', i % 10, 'tags', jsonb_build_array('a', 'b'))
         FROM generate_series(1, {n}) i;
         ANALYZE bench_rows;"
    ))?;
    Ok(())
}

fn run(url: &str, n: u64, reps: usize, chunk_size: usize, scratch: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    fill(url, n)?;
    println!("filled bench_rows with {n} rows in {:.1} s", started.elapsed().as_secs_f64());
    let (mut copy, mut load) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        copy.push(child(&["copy", "--url", url])?);
        let workdir = scratch.join(format!("rep{rep}"));
        let _ = std::fs::remove_dir_all(&workdir);
        load.push(child(&["load", "--url", url, "--workdir", &workdir.display().to_string(), "--chunk-size", &chunk_size.to_string()])?);
    }
    let (c, l) = (median(copy.iter().map(|x| x.0).collect()), median(load.iter().map(|x| x.0).collect()));
    let (cm, lm) = (median(copy.iter().map(|x| x.1).collect()), median(load.iter().map(|x| x.1).collect()));
    println!("rows: {n}, reps: {reps}, chunk_size: {chunk_size} (medians)");
    println!("  (r) PostgreSQL COPY bench_rows TO STDOUT (binary), read: {c:.3} s  {:>10.0} rows/s  peak RSS {cm:.0} MB", n as f64 / c);
    println!("  (s) sql_database -> DuckDB (extract, normalize, load):   {l:.3} s  {:>10.0} rows/s  peak RSS {lm:.0} MB", n as f64 / l);
    println!("  (s)/(r) = {:.2}", l / c);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Run { n, reps, url, chunk_size } => {
            let scratch = tempfile::tempdir()?;
            match url {
                Some(url) => run(&url, n, reps, chunk_size, scratch.path())?,
                None => {
                    let server = etl_testkit::PgServer::start().map_err(|e| anyhow::anyhow!("cannot start a throwaway PostgreSQL: {e}"))?;
                    let url = server.create_database().map_err(|e| anyhow::anyhow!("{e}"))?;
                    run(&url, n, reps, chunk_size, scratch.path())?;
                }
            }
        }
        Cmd::Load { url, workdir, chunk_size } => {
            let started = Instant::now();
            std::fs::create_dir_all(&workdir)?;
            let source = etl::sources::sql::sql_database(url).table_names(["bench_rows"]).chunk_size(chunk_size).source();
            let info = etl::pipeline("sql_bench").dataset_name("bench").destination(etl::duckdb()).working_dir(&workdir).run(source)?;
            report(started, &format!(", \"rows\": {}", info.rows("bench_rows")));
        }
        Cmd::Copy { url } => {
            let started = Instant::now();
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            let mut reader = client.copy_out("COPY bench_rows TO STDOUT (FORMAT binary)")?;
            let mut buf = vec![0u8; 1 << 20];
            let mut bytes = 0usize;
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                bytes += n;
            }
            report(started, &format!(", \"bytes\": {bytes}"));
        }
    }
    Ok(())
}
