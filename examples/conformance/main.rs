//! The conformance runner: executes run `I` of a case (`../shared/conformance/` format) against
//! the pipeline state a previous invocation left in `--workdir`, and prints one JSON line.
//!
//! ```text
//! cargo run --release --example conformance -- <case.json> --workdir <DIR> --run <I> [--destination <postgres-url>]
//! ```
//!
//! The pipeline loads into the DuckDB file `<pipeline_name>.duckdb` in `--workdir`, or, with
//! `--destination postgres://…`, into that PostgreSQL database (the working directory then holds
//! only the pipeline's local files). Run 0 first applies the case's `pre_sql` to the destination;
//! for PostgreSQL a case's `pre_sql_postgres` replaces it when present.
//!
//! Exit code 0 whether the run succeeded or failed as the case intends; non-zero only when the
//! runner itself cannot work (bad case file, unreadable workdir, a case feature not supported).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use etl::{Resource, ResourceHints, Source, Value, WriteDisposition};
use serde_json::{json, Value as Json};

#[derive(Parser)]
struct Args {
    /// The case file.
    case: PathBuf,
    /// Directory holding the pipeline's DuckDB file and working state.
    #[arg(long)]
    workdir: PathBuf,
    /// 0-based run index.
    #[arg(long)]
    run: usize,
    /// Load into this PostgreSQL database (`postgres://user@host:port/database`) instead of the
    /// DuckDB file in `--workdir`.
    #[arg(long)]
    destination: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("conformance runner error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<Json> {
    let text = std::fs::read_to_string(&args.case).with_context(|| format!("reading case {}", args.case.display()))?;
    let case: Json = serde_json::from_str(&text).with_context(|| format!("parsing case {}", args.case.display()))?;
    // A key this runner does not know is an error, never silently ignored.
    known_keys(&case, "case", &["description", "pipeline_name", "dataset_name", "source", "pre_sql", "pre_sql_postgres", "env", "runs"])?;
    let pipeline_name = case["pipeline_name"].as_str().ok_or_else(|| anyhow!("case has no `pipeline_name`"))?;
    let runs = case["runs"].as_array().ok_or_else(|| anyhow!("case has no `runs` list"))?;
    let spec = runs.get(args.run).ok_or_else(|| anyhow!("case has {} runs; there is no run {}", runs.len(), args.run))?;
    std::fs::create_dir_all(&args.workdir).with_context(|| format!("creating workdir {}", args.workdir.display()))?;

    if let Some(env) = case["env"].as_object() {
        for (k, v) in env {
            std::env::set_var(k, v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
        }
    }
    let destination = match &args.destination {
        Some(url) => etl::postgres(url.as_str()),
        None => etl::duckdb(),
    };
    let mut pipeline = etl::pipeline(pipeline_name).destination(destination).working_dir(&args.workdir);
    if let Some(ds) = case["dataset_name"].as_str() {
        pipeline = pipeline.dataset_name(ds);
    }
    if args.run == 0 {
        pre_sql(&case, &pipeline, args.destination.as_deref())?;
    }

    known_keys(spec, "run", &["label", "plain_data", "resources", "run_kwargs"])?;
    let kwargs = spec["run_kwargs"].as_object().cloned().unwrap_or_default();
    let mut resources = Vec::new();
    if let Some(data) = spec.get("plain_data") {
        let rows = data.as_array().ok_or_else(|| anyhow!("`plain_data` must be a list"))?;
        let name = kwargs.get("table_name").and_then(Json::as_str).map(str::to_owned).unwrap_or_else(|| etl::core::naming::default_schema_name(pipeline_name));
        resources.push(Resource::from_values(name, rows.iter().map(Value::from_tagged_json).collect()));
    }
    for r in spec["resources"].as_array().into_iter().flatten() {
        resources.push(build_resource(r)?);
    }
    for r in &mut resources {
        apply_hints(r.hints_mut(), &Json::Object(kwargs.clone()))?;
    }
    let outcome = match case.get("source").filter(|s| s.is_object()) {
        Some(src) => {
            let name = src["name"].as_str().unwrap_or(pipeline_name);
            let mut source = Source::with(name, resources)?;
            for (key, value) in src.as_object().into_iter().flatten() {
                match key.as_str() {
                    "name" => {}
                    "max_table_nesting" => {
                        if let Some(n) = value.as_u64() {
                            source = source.with_max_table_nesting(n as u32);
                        }
                    }
                    "root_key" => source = source.with_root_key(value.as_bool().unwrap_or(false)),
                    "schema_contract" => source = source.with_schema_contract(etl::core::SchemaContract::from_json(value)?),
                    other => bail!("source option `{other}` is not supported by this runner"),
                }
            }
            pipeline.run(source)
        }
        None => pipeline.run(resources),
    };
    Ok(match outcome {
        Ok(_) => json!({"run": args.run, "outcome": "ok"}),
        Err(e) => json!({"run": args.run, "outcome": "error", "step": e.step.name(), "error": e.to_string()}),
    })
}

/// The case's `pre_sql` statements, run on the destination before run 0: on the DuckDB file, or
/// on the PostgreSQL database (where `pre_sql_postgres`, when the case has it, replaces them).
fn pre_sql(case: &Json, pipeline: &etl::Pipeline, postgres_url: Option<&str>) -> anyhow::Result<()> {
    let key = match postgres_url {
        Some(_) if case.get("pre_sql_postgres").is_some() => "pre_sql_postgres",
        _ => "pre_sql",
    };
    let Some(statements) = case[key].as_array() else { return Ok(()) };
    let statements = statements.iter().map(|s| s.as_str().ok_or_else(|| anyhow!("`{key}` entries must be strings"))).collect::<anyhow::Result<Vec<&str>>>()?;
    match postgres_url {
        Some(url) => {
            let mut client = postgres::Client::connect(url, postgres::NoTls).context("connecting to the `--destination` database")?;
            for sql in statements {
                client.batch_execute(sql).with_context(|| format!("{key} `{sql}`"))?;
            }
        }
        None => {
            let db = pipeline.database_path();
            for sql in statements {
                etl::testing::execute_file(&db, sql).with_context(|| format!("{key} `{sql}`"))?;
            }
        }
    }
    Ok(())
}

fn build_resource(spec: &Json) -> anyhow::Result<Resource> {
    known_keys(spec, "resource", &["name", "hints", "incremental", "yield_mode", "raise_after", "raise_message", "rows"])?;
    let name = spec["name"].as_str().ok_or_else(|| anyhow!("a resource needs a `name`"))?.to_owned();
    let rows: Vec<Value> = spec["rows"].as_array().map(|r| r.iter().map(Value::from_tagged_json).collect()).unwrap_or_default();
    let raise_after = spec["raise_after"].as_u64();
    let message = spec["raise_message"].as_str().unwrap_or("raised by the case").to_owned();
    let by_items = spec["yield_mode"].as_str() == Some("items") || raise_after.is_some();
    let mut hints = ResourceHints::new(name);
    apply_hints(&mut hints, &spec["hints"])?;
    if let Some(inc) = spec.get("incremental").filter(|v| v.is_object()) {
        hints.incremental = Some(incremental(inc)?);
    }
    Ok(Resource::new(hints, move || {
        let items: etl::core::Items = if by_items {
            // Row by row; with `raise_after`, the resource fails after that many rows.
            let limit = raise_after.map(|n| n as usize);
            let mut rows = rows.into_iter();
            let mut i = 0usize;
            Box::new(std::iter::from_fn(move || {
                if limit.is_some_and(|n| i > n) {
                    return None;
                }
                let item = if Some(i) == limit { Some(Err(message.clone().into())) } else { rows.next().map(Ok) };
                i += 1;
                item
            }))
        } else {
            Box::new(std::iter::once(Ok(Value::List(rows))))
        };
        Ok(items)
    }))
}

fn apply_hints(hints: &mut ResourceHints, spec: &Json) -> anyhow::Result<()> {
    let Some(map) = spec.as_object() else { return Ok(()) };
    for (key, value) in map {
        match key.as_str() {
            "table_name" => hints.table_name = value.as_str().map(str::to_owned),
            "write_disposition" => {
                let wd = match value {
                    Json::String(s) => s.clone(),
                    Json::Object(o) => {
                        if let Some(strategy) = o.get("strategy").and_then(Json::as_str) {
                            hints.merge_strategy = strategy.parse()?;
                        }
                        if let Some([from, to]) = o.get("validity_column_names").and_then(Json::as_array).map(Vec::as_slice) {
                            hints.scd2_columns.valid_from = from.as_str().unwrap_or("_dlt_valid_from").to_owned();
                            hints.scd2_columns.valid_to = to.as_str().unwrap_or("_dlt_valid_to").to_owned();
                        }
                        o.get("disposition").and_then(Json::as_str).unwrap_or("append").to_owned()
                    }
                    other => bail!("bad write_disposition {other}"),
                };
                hints.write_disposition = wd.parse::<WriteDisposition>()?;
            }
            "primary_key" => hints.primary_key = key_list(value),
            "merge_key" => hints.merge_key = key_list(value),
            "max_table_nesting" => hints.max_table_nesting = value.as_u64().map(|n| n as u32),
            "columns" => hints.columns = etl::core::hints::columns_from_json(value)?,
            "selected" => hints.selected = value.as_bool().unwrap_or(true),
            "schema_contract" => hints.schema_contract = Some(etl::core::SchemaContract::from_json(value)?),
            other => bail!("hint `{other}` is not supported by this build yet"),
        }
    }
    Ok(())
}

fn incremental(spec: &Json) -> anyhow::Result<etl::core::Incremental> {
    use etl::core::incremental::{CursorMissing, LastValueFunc, RowOrder};
    let path = spec["cursor_path"].as_str().ok_or_else(|| anyhow!("`incremental` needs a `cursor_path`"))?;
    let mut inc = etl::core::Incremental::new(path);
    for (k, v) in spec.as_object().into_iter().flatten() {
        match k.as_str() {
            "cursor_path" => {}
            "initial_value" => inc.initial_value = Some(v.clone()),
            "end_value" => inc.end_value = Some(v.clone()),
            "primary_key" => inc.primary_key = Some(key_list(v)),
            "lag" => inc.lag = v.as_f64(),
            "last_value_func" => {
                inc.last_value_func = match v.as_str() {
                    Some("max") => LastValueFunc::Max,
                    Some("min") => LastValueFunc::Min,
                    _ => bail!("last_value_func {v} is not supported; use \"max\" or \"min\""),
                }
            }
            "row_order" => {
                inc.row_order = match v.as_str() {
                    Some("asc") => Some(RowOrder::Asc),
                    Some("desc") => Some(RowOrder::Desc),
                    _ => None,
                }
            }
            "on_cursor_value_missing" => {
                inc.on_cursor_value_missing = match v.as_str() {
                    Some("include") => CursorMissing::Include,
                    Some("exclude") => CursorMissing::Exclude,
                    _ => CursorMissing::Raise,
                }
            }
            other => bail!("incremental option `{other}` is not supported"),
        }
    }
    Ok(inc)
}

fn known_keys(v: &Json, what: &str, known: &[&str]) -> anyhow::Result<()> {
    for key in v.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !known.contains(&key.as_str()) {
            bail!("{what} key `{key}` is not supported by this runner");
        }
    }
    Ok(())
}

fn key_list(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}
