//! A storage filled the way an asset binary fills it, through the public `RunStore` API
//! (`start` → `RunLog::emit` → `finish`): runs of a handful of dlt assets, each run a run start,
//! per asset a step start, log lines, a materialization with dagster-dlt's metadata and a step
//! success, then a run end.

use chrono::{DateTime, Duration, Utc};
use etl::runtime::{Event, EventKind};
use etl::{AssetKey, Materialization, MetadataValue, RunStatus, RunStore, TableColumn};
use serde_json::{json, Value as Json};

use crate::instance::run_record;

/// The assets of the instance; each run materializes [`ASSETS_PER_RUN`] of them in turn, so
/// each asset has `runs * ASSETS_PER_RUN / ASSETS` materializations.
pub const ASSETS: usize = 20;
/// The assets one run materializes.
pub const ASSETS_PER_RUN: usize = 4;
/// The events of a run besides its log lines: start, end, and per asset step start,
/// materialization and step success.
pub const FIXED_EVENTS: usize = 2 + 3 * ASSETS_PER_RUN;

/// The key of asset `i`.
pub fn asset_key(i: usize) -> AssetKey {
    AssetKey::from_path(&format!("warehouse/table_{i:02}"))
}

/// The shape of a filled storage.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub runs: usize,
    pub events: usize,
    /// When the first run started; run `i` starts `i` minutes later.
    pub base: DateTime<Utc>,
}

impl Shape {
    /// `runs` runs with `events` events in all, the last run starting a minute ago.
    pub fn new(runs: usize, events: usize) -> anyhow::Result<Shape> {
        if runs == 0 {
            anyhow::bail!("--runs must be at least 1");
        }
        if events < runs * FIXED_EVENTS {
            anyhow::bail!("{runs} runs need at least {} events ({FIXED_EVENTS} a run)", runs * FIXED_EVENTS);
        }
        let base = Utc::now() - Duration::minutes(i64::try_from(runs).unwrap_or(i64::MAX) + 1);
        Ok(Shape { runs, events, base })
    }

    /// The events of run `i` (the total spread evenly, the remainder on the first runs).
    pub fn events_of(&self, i: usize) -> usize {
        self.events / self.runs + usize::from(i < self.events % self.runs)
    }

    pub fn started_at(&self, i: usize) -> DateTime<Utc> {
        self.base + Duration::minutes(i64::try_from(i).unwrap_or(i64::MAX))
    }

    /// Run `i`'s id, as `new_run_id` makes them: the start time, then 8 characters.
    pub fn run_id(&self, i: usize) -> String {
        let suffix = (i as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        format!("{}-{suffix:08x}", self.started_at(i).format("%Y%m%dT%H%M%S%.3f"))
    }

    /// The assets run `i` materializes, as indexes.
    pub fn assets_of(&self, i: usize) -> impl Iterator<Item = usize> {
        (0..ASSETS_PER_RUN).map(move |j| (i * ASSETS_PER_RUN + j) % ASSETS)
    }

    /// The materializations of asset `a` in all.
    pub fn materializations_of(&self, a: usize) -> usize {
        (0..self.runs).filter(|&i| self.assets_of(i).any(|x| x == a)).count()
    }

    /// Records run `i` in `store`: its record, its events, its end.
    pub fn fill_run(&self, store: &RunStore, i: usize) -> anyhow::Result<()> {
        let id = self.run_id(i);
        let started = self.started_at(i);
        let assets: Vec<usize> = self.assets_of(i).collect();
        let keys: Vec<AssetKey> = assets.iter().map(|&a| asset_key(a)).collect();
        let names: Vec<String> = keys.iter().map(AssetKey::to_user_string).collect();
        let ops: Vec<String> = names.iter().map(|n| format!("load_{}", n.replace('/', "_"))).collect();
        let log = store.start(run_record(&id, "*", names.clone(), started))?;
        // Events a millisecond apart from the run's start.
        let mut at = 0;
        let mut emit = |mut e: Event| {
            e.ts = started + Duration::milliseconds(at);
            at += 1;
            log.emit(e);
        };
        emit(Event::new(&id, EventKind::RunStart).message("run started").data(json!({"selection": "*", "assets": names, "steps": ops})));
        let lines = self.events_of(i) - FIXED_EVENTS;
        for (j, ((&a, key), op)) in assets.iter().zip(&keys).zip(&ops).enumerate() {
            emit(Event::new(&id, EventKind::StepStart).op(op).data(json!({"attempt": 1, "assets": [names[j]]})));
            for l in 0..lines / ASSETS_PER_RUN + usize::from(j < lines % ASSETS_PER_RUN) {
                let text = format!("extracted {} items of resource table_{a:02} into 1 batch(es) elapsed_ms={}", 1000 + l, 10 + l % 90);
                emit(Event::new(&id, EventKind::Log).op(op).message(text).data(json!({"level": "INFO", "target": "etl_pipeline::progress"})));
            }
            emit(Event::new(&id, EventKind::Materialization).op(op).asset(key).data(self.metadata(i, a, key, started)));
            emit(Event::new(&id, EventKind::StepSuccess).op(op));
        }
        emit(Event::new(&id, EventKind::RunEnd).data(json!({"status": "success", "materialized": ASSETS_PER_RUN, "failed": 0, "skipped": 0})));
        log.finish(RunStatus::Success)?;
        Ok(())
    }

    /// dagster-dlt's metadata of one load (as `materialization_for` reports it): a table whose
    /// columns grow four times over the runs, so `asset <key>` shows schema changes.
    fn metadata(&self, i: usize, a: usize, key: &AssetKey, started: DateTime<Utc>) -> Json {
        let table = format!("table_{a:02}");
        let rows = 1000 + (i * 37 + a * 11) % 5000;
        let mut columns: Vec<TableColumn> = (0..8 + i * 4 / self.runs)
            .map(|c| TableColumn {
                name: format!("col_{c}"),
                data_type: ["bigint", "text", "double", "timestamp", "bool"][c % 5].into(),
                nullable: c != 0,
                unique: false,
                other: if c == 0 { vec!["primary_key".into()] } else { Vec::new() },
            })
            .collect();
        for (name, other) in [("_dlt_load_id", None), ("_dlt_id", Some("row_key"))] {
            columns.push(TableColumn { name: name.into(), data_type: "text".into(), nullable: false, unique: other.is_some(), other: other.into_iter().map(String::from).collect() });
        }
        let ts = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
        let load_id = format!("{}.{:06}", started.timestamp(), i % 1_000_000);
        let job = json!({"table_name": table, "file_format": "insert_values", "state": "completed", "rows": rows,
            "batches": 1, "insert_method": "etl_scan", "elapsed_ms": 12 + rows / 100, "load_id": load_id});
        let m = Materialization::new(key.clone())
            .with("destination_type", MetadataValue::Text("duckdb".into()))
            .with("destination_name", MetadataValue::Text("duckdb".into()))
            .with("dataset_name", MetadataValue::Text("warehouse".into()))
            .with("first_run", MetadataValue::Bool(i < ASSETS / ASSETS_PER_RUN))
            .with("started_at", MetadataValue::Text(ts(started)))
            .with("finished_at", MetadataValue::Text(ts(started + Duration::milliseconds(40))))
            .with("jobs", MetadataValue::Json(json!([job])))
            .with("rows_loaded", MetadataValue::Int(rows as i64))
            .with("dagster/column_schema", MetadataValue::TableSchema(columns))
            .with("dagster/table_name", MetadataValue::Text(format!("duckdb.warehouse.{table}")))
            .with("dagster/storage_kind", MetadataValue::Text("duckdb".into()));
        Json::Object(m.metadata.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
}
