//! [`PgDataset`]: a dataset (a PostgreSQL schema) opened for a run, the [`Session`] of the
//! `postgres` destination.
//!
//! * **One transaction.** DDL, `COPY` batches, merges and dlt's bookkeeping rows run in one
//!   transaction (PostgreSQL's DDL is transactional), so a failed run, a killed process or a
//!   dropped connection leaves nothing. (dlt commits its DDL before the inserts; we do not.)
//! * **Staging of its own.** Merge loads land in temporary tables of this connection
//!   (`pg_temp`, dropped at commit), never in a `<dataset>_staging` schema shared with other
//!   runs: two pipelines merging into one dataset at once cannot see or drop each other's staged
//!   rows (dlt #4297).
//! * **Concurrent writers.** DDL on the dataset and each table's merge take transaction-level
//!   advisory locks, so concurrent runs create and widen tables one after the other (each reads
//!   the columns again once it holds the lock) and merge into one table one after the other (the
//!   second sees the first's rows: no duplicates, nothing lost).
//! * **One run per pipeline, across machines.** [`PgDataset::lock_pipeline`] takes a
//!   session-level advisory lock keyed by dataset and pipeline name; the server releases it when
//!   the connection ends, also when the process was killed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use etl_core::schema::{LOADS_TABLE, STATE_TABLE, VERSION_TABLE};
use etl_core::{Schema, Table};
use postgres::types::ToSql;

use super::bookkeeping;
use super::copy::CopyBatch;
use super::ddl::{self, DdlError};
use super::session::{PgSession, SessionError};
use super::MAX_IDENTIFIER_LENGTH;
use crate::destination::merge_sql::{self, MergeTables};
use crate::destination::{Capabilities, DestinationError, Inserted, Merge, Session, Target};
use crate::jobs::InsertMethod;
use crate::state::PipelineState;

/// The schema temporary tables live in (this connection's own).
const TEMP_SCHEMA: &str = "pg_temp";

/// The first key of every advisory lock etl takes (`'etl!'` as an integer), so that they do not
/// collide with an application's own advisory locks on one-key form.
const LOCK_SPACE: i32 = 0x6574_6c21;

/// How long a run waits for a pipeline lock whose holder may just have ended.
pub const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A failure of the dataset session.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The connection or a statement failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A step of a merge failed.
    #[error("{what}")]
    Merge {
        /// The step ("deleting replaced rows of `orders`").
        what: String,
        /// Why.
        #[source]
        source: SessionError,
    },
    /// A table's DDL cannot be made.
    #[error("cannot create or widen a table")]
    Ddl(#[from] DdlError),
    /// Stored bookkeeping that cannot be read.
    #[error("{0}")]
    Corrupt(String),
    /// Another run of the pipeline holds its lock.
    #[error(
        "pipeline `{pipeline}` is already running on {location} (dataset `{dataset}`; held by {holder}); wait for it to finish or stop it"
    )]
    Locked {
        /// The pipeline.
        pipeline: String,
        /// The dataset.
        dataset: String,
        /// The server, without credentials.
        location: String,
        /// Who holds it: process, machine, since when (as the holder told the server).
        holder: String,
    },
}

/// A dataset of a PostgreSQL database, opened for a run (or for maintenance).
pub struct PgDataset {
    session: PgSession,
    dataset: String,
    /// Columns of each table that exists, in the dataset or among this run's staging tables.
    existing: HashMap<(Target, String), Vec<String>>,
    /// Whether this transaction holds the dataset's DDL lock.
    ddl_locked: bool,
    in_transaction: bool,
    /// The key of the pipeline lock this connection holds, released on drop.
    pipeline_lock: Option<String>,
}

impl std::fmt::Debug for PgDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDataset").field("dataset", &self.dataset).finish_non_exhaustive()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "an unknown host".into())
}

impl PgDataset {
    /// Connects to `url` and reads which tables `dataset` has. The connection tells the server
    /// who it is (`application_name`: `etl pid <pid> on <host>`), which a blocked run reports.
    pub fn open(url: &str, dataset: &str) -> Result<PgDataset, DatasetError> {
        let mut session = PgSession::connect(url)?;
        let name: String = format!("etl pid {} on {}", std::process::id(), hostname()).chars().take(63).collect();
        session.execute_with("SELECT set_config('application_name', $1, false)", &[&name])?;
        let mut db =
            PgDataset { session, dataset: dataset.to_owned(), existing: HashMap::new(), ddl_locked: false, in_transaction: false, pipeline_lock: None };
        db.refresh_existing()?;
        Ok(db)
    }

    /// Whether the dataset (schema) exists.
    pub fn dataset_exists(&mut self) -> Result<bool, DatasetError> {
        let rows = self.session.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&self.dataset])?;
        Ok(!rows.is_empty())
    }

    /// Takes the lock of `pipeline` on this dataset until this value is dropped (or the
    /// connection ends), or fails naming the holder. A holder whose process just ended may keep
    /// the lock for a moment, until its server process notices: the lock is tried for up to
    /// [`LOCK_GRACE`] before the run is refused.
    pub fn lock_pipeline(&mut self, pipeline: &str, location: &str) -> Result<(), DatasetError> {
        let key = format!("pipeline {}/{pipeline}", self.dataset);
        let deadline = std::time::Instant::now() + LOCK_GRACE;
        loop {
            let got: bool = self.session.query("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&LOCK_SPACE, &key])?[0].get(0);
            if got {
                self.pipeline_lock = Some(key);
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let holder = self
            .session
            .query(
                "SELECT a.application_name, coalesce(host(a.client_addr), 'a local socket'), \
                 to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"') \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid AND l.objid = hashtext($2)::oid AND l.objsubid = 2",
                &[&LOCK_SPACE, &key],
            )?
            .first()
            .map(|r| {
                let app: Option<String> = r.get(0);
                let addr: String = r.get(1);
                let since: String = r.get(2);
                format!("{} (connected from {addr} since {since})", app.filter(|a| !a.is_empty()).unwrap_or_else(|| "another client".into()))
            })
            .unwrap_or_else(|| "a session that just ended".into());
        Err(DatasetError::Locked { pipeline: pipeline.to_owned(), dataset: self.dataset.clone(), location: location.to_owned(), holder })
    }

    fn refresh_existing(&mut self) -> Result<(), DatasetError> {
        let rows = self.session.query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
            &[&self.dataset],
        )?;
        self.existing.retain(|(t, _), _| *t == Target::Staging);
        for r in rows {
            self.existing.entry((Target::Main, r.get(0))).or_default().push(r.get(1));
        }
        Ok(())
    }

    /// The columns a table of the dataset has now, read from the catalog.
    fn read_columns(&mut self, table: &str) -> Result<Vec<String>, DatasetError> {
        let rows = self.session.query(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&self.dataset, &table],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn schema_of(&self, target: Target) -> &str {
        match target {
            Target::Main => &self.dataset,
            Target::Staging => TEMP_SCHEMA,
        }
    }

    fn has_table(&self, table: &str) -> bool {
        self.existing.contains_key(&(Target::Main, table.to_owned()))
    }

    /// Serializes DDL on the dataset among concurrent runs until this transaction ends.
    fn lock_ddl(&mut self) -> Result<(), DatasetError> {
        if !self.ddl_locked {
            let key = format!("ddl {}", self.dataset);
            self.session.execute_with("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&LOCK_SPACE, &key])?;
            self.ddl_locked = true;
        }
        Ok(())
    }

    fn sync_main(&mut self, table: &Table) -> Result<bool, DatasetError> {
        let key = (Target::Main, table.name.clone());
        let have = self.existing.get(&key).cloned().unwrap_or_default();
        let names: Vec<&str> = have.iter().map(String::as_str).collect();
        if ddl::table_update_sql(&self.dataset, table, &names)?.is_none() {
            return Ok(false);
        }
        // Another run may have changed the table meanwhile: read it again under the lock.
        self.lock_ddl()?;
        let have = self.read_columns(&table.name)?;
        let names: Vec<&str> = have.iter().map(String::as_str).collect();
        let changed = match ddl::table_update_sql(&self.dataset, table, &names)? {
            Some(sql) => {
                self.session.execute(&sql)?;
                true
            }
            None => false,
        };
        let now = self.read_columns(&table.name)?;
        self.existing.insert(key, now);
        Ok(changed)
    }

    /// A staging table: a temporary table without constraints (it holds a load until the merge).
    fn sync_staging(&mut self, table: &Table) -> Result<bool, DatasetError> {
        let key = (Target::Staging, table.name.clone());
        let have = self.existing.get(&key).cloned();
        let new: Vec<&etl_core::Column> =
            table.complete_columns().filter(|c| !have.as_ref().is_some_and(|h| h.contains(&c.name))).collect();
        if new.is_empty() {
            return Ok(false);
        }
        let defs = new.iter().map(|c| ddl::column_type_def(&table.name, c)).collect::<Result<Vec<_>, _>>()?;
        let name = ddl::qualified_name(TEMP_SCHEMA, &table.name);
        let sql = match have {
            None => format!("CREATE TEMPORARY TABLE {name} ({}) ON COMMIT DROP", defs.join(", ")),
            Some(_) => format!("ALTER TABLE {name} {}", defs.iter().map(|d| format!("ADD COLUMN {d}")).collect::<Vec<_>>().join(", ")),
        };
        self.session.execute(&sql)?;
        self.existing.entry(key).or_default().extend(new.iter().map(|c| c.name.clone()));
        Ok(true)
    }

    fn drop_staging(&mut self, tables: impl IntoIterator<Item = String>) -> Result<(), DatasetError> {
        for t in tables {
            if self.existing.remove(&(Target::Staging, t.clone())).is_some() {
                self.session.execute(&format!("DROP TABLE {}", ddl::qualified_name(TEMP_SCHEMA, &t)))?;
            }
        }
        Ok(())
    }

    fn merge_staged(&mut self, schema: &Schema, root: &str, merge: &Merge) -> Result<(), DatasetError> {
        let Some(table) = schema.table(root) else { return Ok(()) };
        let children = merge_sql::nested(schema, root);
        // One merge into a table at a time: a concurrent run's rows are committed (and seen by
        // this merge's deletes) before this one starts.
        let key = format!("merge {}/{root}", self.dataset);
        self.session.execute_with("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&LOCK_SPACE, &key])?;
        self.sync_main(table)?;
        for child in &children {
            if self.existing.contains_key(&(Target::Staging, child.clone())) {
                if let Some(t) = schema.table(child) {
                    self.sync_main(t)?;
                }
            }
        }
        let (statements, boundary) = match merge {
            Merge::Scd2 { columns, boundary } => (merge_sql::scd2(self, schema, root, columns), Some(parse_timestamp(boundary)?)),
            Merge::DeleteInsert | Merge::Upsert => (merge_sql::delete_insert(self, schema, root), None),
        };
        for s in statements {
            match (s.boundary, &boundary) {
                (true, Some(b)) => self.session.execute_with(&s.sql, &[b]).map(drop),
                _ => self.session.execute(&s.sql),
            }
            .map_err(|source| DatasetError::Merge { what: s.what, source })?;
        }
        self.drop_staging(std::iter::once(root.to_owned()).chain(children))
    }

    fn query_one_text(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<String>, DatasetError> {
        Ok(self.session.query(sql, params)?.first().map(|r| r.get(0)))
    }
}

impl Drop for PgDataset {
    /// Releases the pipeline lock at once, rather than when the server notices the connection
    /// closed (a next run started right after this one must find it free).
    fn drop(&mut self) {
        if let Some(key) = self.pipeline_lock.take() {
            if self.in_transaction {
                let _ = self.session.execute("ROLLBACK");
            }
            let _ = self.session.execute_with("SELECT pg_advisory_unlock($1, hashtext($2))", &[&LOCK_SPACE, &key]);
        }
    }
}

/// A timestamp as the pipeline writes it (`2024-01-02 03:04:05.123456+00`).
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, DatasetError> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| DatasetError::Corrupt(format!("timestamp `{text}`: {e}")))
}

impl MergeTables for PgDataset {
    fn qualified(&self, target: Target, table: &str) -> String {
        ddl::qualified_name(self.schema_of(target), table)
    }
    fn columns(&self, target: Target, table: &str) -> Option<&[String]> {
        self.existing.get(&(target, table.to_owned())).map(Vec::as_slice)
    }
    fn boundary_param(&self) -> &'static str {
        "$1"
    }
}

impl From<DatasetError> for DestinationError {
    fn from(e: DatasetError) -> Self {
        DestinationError::new(e)
    }
}

impl Session for PgDataset {
    fn capabilities(&self) -> Capabilities {
        Capabilities { max_identifier_length: MAX_IDENTIFIER_LENGTH, transactional_ddl: true }
    }

    fn begin(&mut self) -> Result<(), DestinationError> {
        self.session.execute("BEGIN").map_err(DatasetError::from)?;
        self.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), DestinationError> {
        self.session.execute("COMMIT").map_err(DatasetError::from)?;
        self.in_transaction = false;
        self.ddl_locked = false;
        self.existing.retain(|(t, _), _| *t == Target::Main);
        Ok(())
    }

    fn rollback(&mut self) {
        if self.in_transaction {
            let _ = self.session.execute("ROLLBACK");
            self.in_transaction = false;
        }
        self.ddl_locked = false;
        self.existing.clear();
        let _ = self.refresh_existing();
    }

    fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>, DestinationError> {
        if !self.has_table(VERSION_TABLE) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT \"schema\" FROM {} WHERE \"schema_name\" = $1 ORDER BY \"inserted_at\" DESC LIMIT 1",
            ddl::qualified_name(&self.dataset, VERSION_TABLE)
        );
        let Some(text) = self.query_one_text(&sql, &[&schema_name])? else { return Ok(None) };
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| DatasetError::Corrupt(format!("stored schema `{schema_name}` is not JSON: {e}")))?;
        Ok(Some(Schema::from_stored_json(&json).map_err(|e| DatasetError::Corrupt(format!("stored schema `{schema_name}`: {e}")))?))
    }

    fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<PipelineState>, DestinationError> {
        if !self.has_table(STATE_TABLE) || !self.has_table(LOADS_TABLE) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT s.\"state\" FROM {} AS s JOIN {} AS l ON l.\"load_id\" = s.\"_dlt_load_id\" \
             WHERE s.\"pipeline_name\" = $1 AND l.\"status\" = 0 ORDER BY l.\"load_id\" DESC, s.\"version\" DESC LIMIT 1",
            ddl::qualified_name(&self.dataset, STATE_TABLE),
            ddl::qualified_name(&self.dataset, LOADS_TABLE)
        );
        let Some(text) = self.query_one_text(&sql, &[&pipeline_name])? else { return Ok(None) };
        Ok(Some(PipelineState::decode(&text).map_err(|e| DatasetError::Corrupt(format!("stored state of `{pipeline_name}`: {e}")))?))
    }

    fn has_load(&mut self, load_id: &str) -> Result<bool, DestinationError> {
        if !self.has_table(LOADS_TABLE) {
            return Ok(false);
        }
        let sql = format!("SELECT 1 FROM {} WHERE \"load_id\" = $1", ddl::qualified_name(&self.dataset, LOADS_TABLE));
        Ok(!self.session.query(&sql, &[&load_id]).map_err(DatasetError::from)?.is_empty())
    }

    fn ensure_dataset(&mut self) -> Result<(), DestinationError> {
        if self.dataset_exists()? {
            return Ok(());
        }
        self.lock_ddl()?;
        if !self.dataset_exists()? {
            self.session.execute(&ddl::create_dataset_sql(&self.dataset)).map_err(DatasetError::from)?;
        }
        Ok(())
    }

    fn sync_table(&mut self, target: Target, table: &Table) -> Result<bool, DestinationError> {
        if table.complete_columns().next().is_none() {
            return Ok(false);
        }
        Ok(match target {
            Target::Main => self.sync_main(table)?,
            Target::Staging => self.sync_staging(table)?,
        })
    }

    fn truncate(&mut self, table: &str) -> Result<(), DestinationError> {
        if self.has_table(table) {
            let sql = format!("TRUNCATE TABLE {}", ddl::qualified_name(&self.dataset, table));
            self.session.execute(&sql).map_err(DatasetError::from)?;
        }
        Ok(())
    }

    fn insert(&mut self, target: Target, table: &Table, rows: usize, columns: Vec<Option<etl_core::columnar::ColumnBuffer>>) -> Result<Inserted, DestinationError> {
        let mut columns = columns;
        // Nested rows' ids the fast path left to the loader.
        etl_core::columnar::fill_child_ids(table, &mut columns);
        let batch = CopyBatch::new(table, rows, &columns).map_err(|e| {
            DatasetError::Session(SessionError::Encode { table: table.name.clone(), source: Box::new(e) })
        })?;
        let schema = self.schema_of(target).to_owned();
        self.session.copy(&schema, &batch).map_err(DatasetError::from)?;
        drop(batch);
        let buffers = columns.into_iter().enumerate().filter_map(|(i, b)| Some((i, b?))).collect();
        Ok(Inserted { method: InsertMethod::PostgresCopy, buffers: Some(buffers) })
    }

    fn merge(&mut self, schema: &Schema, root: &str, merge: &Merge) -> Result<(), DestinationError> {
        Ok(self.merge_staged(schema, root, merge)?)
    }

    fn ensure_dlt_tables(&mut self, schema: &Schema) -> Result<(), DestinationError> {
        for t in [VERSION_TABLE, LOADS_TABLE, STATE_TABLE] {
            if let Some(table) = schema.table(t) {
                self.sync_main(table)?;
            }
        }
        Ok(())
    }

    fn insert_version(&mut self, schema: &Schema, inserted_at: &str) -> Result<(), DestinationError> {
        let sql = bookkeeping::insert_version_sql(&self.dataset);
        let json = schema.to_stored_json().to_string();
        let at = parse_timestamp(inserted_at)?;
        self.session
            .execute_with(&sql, &[&schema.version, &etl_core::schema::ENGINE_VERSION, &at, &schema.name, &schema.version_hash, &json])
            .map_err(DatasetError::from)?;
        Ok(())
    }

    fn insert_state(&mut self, pipeline_name: &str, state: &PipelineState, created_at: &str, load_id: &str, row_id: &str) -> Result<(), DestinationError> {
        let sql = format!(
            "INSERT INTO {} (\"version\", \"engine_version\", \"pipeline_name\", \"state\", \"created_at\", \"version_hash\", \"_dlt_load_id\", \"_dlt_id\") \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            ddl::qualified_name(&self.dataset, STATE_TABLE)
        );
        let at = parse_timestamp(created_at)?;
        let (version, engine, encoded, hash) = (state.version(), crate::state::STATE_ENGINE_VERSION, state.encode(), state.version_hash());
        self.session
            .execute_with(&sql, &[&version, &engine, &pipeline_name, &encoded, &at, &hash, &load_id, &row_id])
            .map_err(DatasetError::from)?;
        Ok(())
    }

    fn insert_load(&mut self, load_id: &str, schema: &Schema, inserted_at: &str) -> Result<(), DestinationError> {
        let sql = bookkeeping::insert_load_sql(&self.dataset);
        let at = parse_timestamp(inserted_at)?;
        self.session.execute_with(&sql, &[&load_id, &schema.name, &0i64, &at, &schema.version_hash]).map_err(DatasetError::from)?;
        Ok(())
    }

    fn drop_table(&mut self, table: &str) -> Result<bool, DestinationError> {
        if !self.has_table(table) {
            return Ok(false);
        }
        self.lock_ddl()?;
        self.session.execute(&format!("DROP TABLE IF EXISTS {}", ddl::qualified_name(&self.dataset, table))).map_err(DatasetError::from)?;
        self.existing.remove(&(Target::Main, table.to_owned()));
        Ok(true)
    }

    fn tables(&self) -> Vec<String> {
        let mut out: Vec<String> = self.existing.keys().filter(|(t, _)| *t == Target::Main).map(|(_, n)| n.clone()).collect();
        out.sort();
        out
    }

    /// Staging tables are temporary: none outlive their run.
    fn staging_tables(&self) -> Vec<String> {
        Vec::new()
    }

    fn row_count(&mut self, table: &str) -> Result<i64, DestinationError> {
        if !self.has_table(table) {
            return Ok(0);
        }
        let sql = format!("SELECT count(*) FROM {}", ddl::qualified_name(&self.dataset, table));
        Ok(self.session.query(&sql, &[]).map_err(DatasetError::from)?[0].get(0))
    }

    fn loads(&mut self) -> Result<(i64, Option<String>), DestinationError> {
        if !self.has_table(LOADS_TABLE) {
            return Ok((0, None));
        }
        let sql = format!("SELECT count(*), max(\"load_id\")::text FROM {}", ddl::qualified_name(&self.dataset, LOADS_TABLE));
        let rows = self.session.query(&sql, &[]).map_err(DatasetError::from)?;
        Ok((rows[0].get(0), rows[0].get(1)))
    }
    fn query_arrow(&mut self, sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>, DestinationError> {
        let client = self.session.client();
        let path = format!("SET search_path TO {}", etl_core::naming::quote_ident(&self.dataset));
        client.batch_execute(&path).map_err(|e| DestinationError::new(format!("setting the search path: {e}")))?;
        etl_pgarrow::query_arrow(client, sql).map_err(|e| DestinationError::new(format!("{e}\n  in: {sql}")))
    }
}
