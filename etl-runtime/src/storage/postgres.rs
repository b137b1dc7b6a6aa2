//! The instance storage on PostgreSQL: one instance that many processes (and machines) share.
//!
//! Tables live in the schema `etl_instance`, created and migrated by the binary itself:
//! `schema_version` lists the migrations applied; each start runs the missing ones in one
//! transaction under `pg_advisory_xact_lock`, so two processes starting at once are safe and a
//! second start changes nothing.
//!
//! rust-postgres's synchronous client drives a tokio runtime of its own and panics when used
//! inside another one (the executor's), so a dedicated thread owns the connection and serves
//! requests sent over a channel. Appends do not wait: they are queued, written in batches (one
//! `INSERT ... SELECT FROM unnest(...)` per batch: one round trip, one transaction), and a
//! failure is reported by the run's finish, which waits until everything queued before it is
//! stored. A connection the server dropped (a restart, a network cut) is opened again at the
//! next request, which is then run once more.

use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::Duration;

use chrono::{DateTime, Utc};
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, Config, NoTls, Row, Statement};
use serde_json::Value as Json;

use super::InstanceStorage;
use crate::asset::AssetKey;
use crate::history::{Event, EventKind, HistoryError, RunRecord, RunStatus};

/// The schema of the instance's tables.
pub const SCHEMA: &str = "etl_instance";

/// The migrations, in order: (version, statements). Never edit one that has shipped; add one.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE etl_instance.runs (
        run_id text PRIMARY KEY,
        selection text NOT NULL,
        assets text[] NOT NULL,
        status text NOT NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        parent_run_id text,
        schedule text,
        pid bigint NOT NULL
    );
    CREATE TABLE etl_instance.events (
        id bigserial PRIMARY KEY,
        run_id text NOT NULL REFERENCES etl_instance.runs (run_id) ON DELETE CASCADE,
        ts timestamptz NOT NULL,
        kind text NOT NULL,
        op text,
        asset_key text,
        message text NOT NULL DEFAULT '',
        data jsonb
    );
    CREATE INDEX events_run ON etl_instance.events (run_id, id);
    CREATE INDEX events_materializations ON etl_instance.events (asset_key, ts, id) WHERE kind = 'materialization';",
), (
    2,
    "ALTER TABLE etl_instance.runs
        ADD COLUMN tags jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN partition_key text,
        ADD COLUMN worker text,
        ADD COLUMN lease_until timestamptz;
    CREATE INDEX runs_queued ON etl_instance.runs (run_id) WHERE status = 'queued';
    CREATE INDEX runs_leased ON etl_instance.runs (lease_until) WHERE status = 'started' AND lease_until IS NOT NULL;
    CREATE TABLE etl_instance.ticks (
        schedule text NOT NULL,
        tick timestamptz NOT NULL,
        status text NOT NULL,
        run_id text,
        reason text,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (schedule, tick)
    );",
), (
    3,
    "ALTER TABLE etl_instance.events ADD COLUMN batch text;
    CREATE INDEX events_batch ON etl_instance.events (batch) WHERE batch IS NOT NULL;",
), (
    4,
    "CREATE TABLE etl_instance.schedule_states (
        schedule text PRIMARY KEY,
        stopped boolean NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );",
), (
    5,
    "CREATE TABLE etl_instance.state (
        namespace text NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, key)
    );
    ALTER TABLE etl_instance.runs ADD COLUMN run_config text;",
)];

/// The number of the newest migration.
pub const LATEST_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Appends written in one statement (one round trip, one transaction) at most.
const BATCH: usize = 512;

type Reply<T> = SyncSender<Result<T, HistoryError>>;

enum Request {
    Start(Box<RunRecord>, Reply<()>),
    Append(Box<Event>),
    Finish(Box<RunRecord>, Reply<()>),
    Runs(Box<super::RunFilter>, Reply<Vec<RunRecord>>),
    Record(String, Reply<RunRecord>),
    RunIdsWithPrefix(String, usize, Reply<Vec<String>>),
    Events(String, Reply<Vec<Event>>),
    AssetHistory(String, Option<usize>, Reply<super::AssetHistory>),
    Latest(Vec<String>, Reply<Vec<Option<Event>>>),
}

/// The PostgreSQL storage: a handle on the thread that owns the connection.
pub struct PgStorage {
    target: String,
    requests: Sender<Request>,
    config: Config,
    /// The pool slots' connection, opened on first use.
    slots: std::sync::Mutex<Option<std::sync::Arc<super::pg_pools::PgSlots>>>,
    /// The run queue's connection, opened on first use.
    queue: std::sync::Mutex<Option<std::sync::Arc<crate::queue::postgres::PgQueue>>>,
}

impl PgStorage {
    /// Connects (15 s timeout unless the URL sets one), creates or migrates the schema, and
    /// starts the connection's thread.
    pub fn connect(url: &str) -> Result<Self, HistoryError> {
        let mut config = Config::from_str(url).map_err(|e| HistoryError::Postgres {
            target: etl_pipeline::destination::config::redact_url(url),
            action: "reading the URL",
            message: e.to_string(),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(15));
        }
        let target = etl_pipeline::destination::postgres::session::describe(&config);
        let (requests, receiver) = mpsc::channel();
        let (ready, started) = mpsc::sync_channel(1);
        let thread_target = target.clone();
        let thread_config = config.clone();
        let slots_config = config.clone();
        std::thread::Builder::new()
            .name("etl-instance-pg".into())
            .spawn(move || {
                let opened = config
                    .connect(NoTls)
                    .map_err(|e| fail(&thread_target, "connecting", e))
                    .and_then(|mut client| migrate(&mut client, &thread_target).map(|()| client));
                match opened {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        serve(client, thread_config, thread_target, receiver);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            })
            .map_err(|e| HistoryError::Postgres { target: target.clone(), action: "starting its thread", message: e.to_string() })?;
        started.recv().map_err(|_| gone(&target))??;
        Ok(PgStorage { target, requests, config: slots_config, slots: Default::default(), queue: Default::default() })
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, HistoryError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.requests.send(make(reply)).map_err(|_| gone(&self.target))?;
        answer.recv().map_err(|_| gone(&self.target))?
    }
}

fn gone(target: &str) -> HistoryError {
    HistoryError::Postgres { target: target.to_owned(), action: "talking to its thread", message: "the connection's thread ended".into() }
}

fn fail(target: &str, action: &'static str, e: postgres::Error) -> HistoryError {
    // The client's message names what failed (refused, timed out, authentication) and never
    // the password; the server's own message is in `as_db_error`.
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut m = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                m.push_str(&format!(": {s}"));
                source = s.source();
            }
            m
        }
    };
    HistoryError::Postgres { target: target.to_owned(), action, message }
}

/// Creates the schema or brings it to [`LATEST_VERSION`]: one transaction under an advisory
/// lock, so concurrent starts wait for each other and then find nothing to do.
pub fn migrate(client: &mut Client, target: &str) -> Result<(), HistoryError> {
    let err = |action| move |e| fail(target, action, e);
    let mut tx = client.transaction().map_err(err("migrating the schema"))?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtext('etl_instance.migrations'));
         CREATE SCHEMA IF NOT EXISTS etl_instance;
         CREATE TABLE IF NOT EXISTS etl_instance.schema_version (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .map_err(err("migrating the schema"))?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM etl_instance.schema_version", &[])
        .map_err(err("reading the schema version"))?
        .get(0);
    if current > LATEST_VERSION {
        return Err(HistoryError::Postgres {
            target: target.to_owned(),
            action: "checking the schema version",
            message: format!("the schema is at version {current}, written by a newer etl; this binary knows up to {LATEST_VERSION}"),
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).map_err(err("migrating the schema"))?;
        tx.execute("INSERT INTO etl_instance.schema_version (version) VALUES ($1)", &[version]).map_err(err("migrating the schema"))?;
    }
    tx.commit().map_err(err("migrating the schema"))
}

/// The columns [`run_record`] reads, in its order.
pub(crate) const RUN_COLUMNS: &str =
    "run_id, selection, assets, status, started_at, ended_at, parent_run_id, schedule, pid, tags::text, partition_key, worker, lease_until, run_config";
const EVENT_COLUMNS: &str = "ts, run_id, kind, op, asset_key, message, data::text";

/// The connection and its prepared statement.
struct Conn {
    client: Client,
    insert: Statement,
}

/// The connection of the storage's thread, opened again when the server dropped it.
struct Link {
    config: Config,
    target: String,
    conn: Option<Conn>,
}

impl Link {
    fn open(&mut self, client: Client) -> Result<(), HistoryError> {
        let mut client = client;
        let insert = client
            .prepare(
                // The batch's id goes on its first row only (the index stays small); a batch
                // whose id is stored already is not stored again (see `append`).
                "INSERT INTO etl_instance.events (run_id, ts, kind, op, asset_key, message, data, batch)
                 SELECT run_id, ts, kind, op, asset_key, message, CAST(data AS jsonb), CASE WHEN n = 1 THEN $8 END
                 FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                     WITH ORDINALITY AS e (run_id, ts, kind, op, asset_key, message, data, n)
                 WHERE NOT EXISTS (SELECT 1 FROM etl_instance.events WHERE batch = $8)
                 ORDER BY n",
            )
            .map_err(|e| fail(&self.target, "preparing the event insert", e))?;
        self.conn = Some(Conn { client, insert });
        Ok(())
    }

    /// Runs `op`; when the connection turns out closed (a server restart, a network cut), opens
    /// a new one and runs it once more. Every `op` is safe to repeat (appends only after a
    /// transaction that did not commit).
    fn run<T>(&mut self, action: &'static str, mut op: impl FnMut(&mut Conn) -> Result<T, postgres::Error>) -> Result<T, HistoryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if self.conn.is_none() {
                let client = super::pg_link::reconnect(&self.config, &self.target)?;
                self.open(client)?;
            }
            let conn = self.conn.as_mut().expect("connection just opened");
            match op(conn) {
                Ok(v) => return Ok(v),
                Err(e) if conn.client.is_closed() && attempt == 1 => {
                    tracing::warn!(target = %self.target, error = %e, "instance storage: connection lost; connecting again");
                    self.conn = None;
                }
                Err(e) => {
                    if conn.client.is_closed() {
                        self.conn = None;
                    }
                    return Err(fail(&self.target, action, e));
                }
            }
        }
    }
}

fn serve(client: Client, config: Config, target: String, requests: Receiver<Request>) {
    let mut link = Link { config, target, conn: None };
    if let Err(e) = link.open(client) {
        // Answer every request with the failure, so nothing waits for ever.
        for r in requests {
            answer_with(r, &e);
        }
        return;
    }
    // The first failed append since the last finish, reported by that finish.
    let mut failed_append: Option<String> = None;
    // Batch ids: this process, when its storage opened, and a count.
    let (started, mut batches) = (Utc::now(), 0u64);
    let mut next: Option<Request> = None;
    loop {
        let request = match next.take() {
            Some(r) => r,
            None => match requests.recv() {
                Ok(r) => r,
                Err(_) => return,
            },
        };
        match request {
            Request::Append(first) => {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match requests.try_recv() {
                        Ok(Request::Append(e)) => batch.push(e),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                batches += 1;
                let id = format!("{}/{}/{batches}", crate::history::this_worker(), started.timestamp_micros());
                if let Err(e) = link.run("appending events", |c| append(&mut c.client, &c.insert, &id, &batch)) {
                    failed_append.get_or_insert_with(|| format!("{} event(s) not stored: {e}", batch.len()));
                }
            }
            Request::Start(record, reply) => {
                let _ = reply.send(link.run("recording a run", |c| start(&mut c.client, &record)));
            }
            Request::Finish(record, reply) => {
                let result = link.run("finishing a run", |c| finish(&mut c.client, &record));
                let result = match (result, failed_append.take()) {
                    (Ok(()), Some(message)) => Err(HistoryError::Postgres { target: link.target.clone(), action: "appending events", message }),
                    (other, _) => other,
                };
                let _ = reply.send(result);
            }
            Request::Runs(filter, reply) => {
                let _ = reply.send(runs(&mut link, &filter));
            }
            Request::Record(run_id, reply) => {
                let _ = reply.send(record(&mut link, &run_id));
            }
            Request::RunIdsWithPrefix(prefix, limit, reply) => {
                let _ = reply.send(run_ids_with_prefix(&mut link, &prefix, limit));
            }
            Request::Events(run_id, reply) => {
                let result = record(&mut link, &run_id).and_then(|_| {
                    let sql = format!("SELECT {EVENT_COLUMNS} FROM etl_instance.events WHERE run_id = $1 ORDER BY id");
                    let rows = link.run("reading a run's events", |c| c.client.query(&sql, &[&run_id]))?;
                    rows.iter().map(event).collect()
                });
                let _ = reply.send(result);
            }
            Request::AssetHistory(key, newest, reply) => {
                let _ = reply.send(asset_history(&mut link, &key, newest));
            }
            Request::Latest(keys, reply) => {
                let _ = reply.send(latest(&mut link, &keys));
            }
        }
    }
}

fn answer_with(request: Request, e: &HistoryError) {
    let copy = || match e {
        HistoryError::Postgres { target, action, message } => {
            HistoryError::Postgres { target: target.clone(), action, message: message.clone() }
        }
        other => HistoryError::Postgres { target: String::new(), action: "serving", message: other.to_string() },
    };
    match request {
        Request::Append(_) => {}
        Request::Start(_, r) | Request::Finish(_, r) => drop(r.send(Err(copy()))),
        Request::Runs(_, r) => drop(r.send(Err(copy()))),
        Request::Record(_, r) => drop(r.send(Err(copy()))),
        Request::RunIdsWithPrefix(_, _, r) => drop(r.send(Err(copy()))),
        Request::Events(_, r) => drop(r.send(Err(copy()))),
        Request::AssetHistory(_, _, r) => drop(r.send(Err(copy()))),
        Request::Latest(_, r) => drop(r.send(Err(copy()))),
    }
}

/// The snake-case name serde gives a unit variant.
pub(crate) fn name<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Inserts a run's record, or replaces a queued or claimed one (its lease stays: the worker
/// renews it).
pub(crate) fn start(client: &mut impl postgres::GenericClient, r: &RunRecord) -> Result<(), postgres::Error> {
    let pid = i64::from(r.pid);
    let tags = serde_json::to_string(&r.tags).expect("tags serialize");
    let config = r.config.as_ref().map(Json::to_string);
    client.execute(
        "INSERT INTO etl_instance.runs (run_id, selection, assets, status, started_at, ended_at, parent_run_id, schedule, pid,
             tags, partition_key, worker, lease_until, run_config)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CAST($10::text AS jsonb), $11, $12, $13, $14)
         ON CONFLICT (run_id) DO UPDATE SET selection = excluded.selection, assets = excluded.assets, status = excluded.status,
             started_at = excluded.started_at, ended_at = excluded.ended_at, parent_run_id = excluded.parent_run_id,
             schedule = excluded.schedule, pid = excluded.pid, tags = excluded.tags, partition_key = excluded.partition_key,
             worker = excluded.worker, run_config = excluded.run_config",
        &[
            &r.run_id, &r.selection, &r.assets, &name(r.status), &r.started_at, &r.ended_at, &r.parent_run_id, &r.schedule, &pid,
            &tags, &r.partition, &r.worker, &r.lease_until, &config,
        ],
    )?;
    Ok(())
}

/// Ends a run, unless it has ended already (reaped after its lease ran out).
fn finish(client: &mut Client, r: &RunRecord) -> Result<(), postgres::Error> {
    client.execute(
        "UPDATE etl_instance.runs SET status = $2, ended_at = $3, lease_until = NULL WHERE run_id = $1 AND status IN ('started', 'queued')",
        &[&r.run_id, &name(r.status), &r.ended_at],
    )?;
    Ok(())
}

/// Writes a batch in one statement (one round trip, one transaction): each column as an array,
/// `unnest`ed in order, so the events' ids follow the order they were appended in. `id` names
/// the batch: when the connection drops after the server committed it but before the answer
/// came, the batch is sent again on a new connection and the server finds it stored.
fn append(client: &mut Client, insert: &Statement, id: &str, batch: &[Box<Event>]) -> Result<(), postgres::Error> {
    let run_ids: Vec<&str> = batch.iter().map(|e| e.run_id.as_str()).collect();
    let ts: Vec<DateTime<Utc>> = batch.iter().map(|e| e.ts).collect();
    let kinds: Vec<String> = batch.iter().map(|e| name(e.kind)).collect();
    let ops: Vec<Option<&str>> = batch.iter().map(|e| e.op.as_deref()).collect();
    let assets: Vec<Option<&str>> = batch.iter().map(|e| e.asset.as_deref()).collect();
    let messages: Vec<&str> = batch.iter().map(|e| e.message.as_str()).collect();
    let data: Vec<Option<String>> = batch.iter().map(|e| (!e.data.is_null()).then(|| e.data.to_string())).collect();
    client.execute(insert, &[&run_ids, &ts, &kinds, &ops, &assets, &messages, &data, &id])?;
    Ok(())
}

/// An asset's materializations (all, or the newest N), oldest first. Their metadata is most of what the history holds
/// (thousands of events of a kilobyte or more), so the server sorts them first and turns each
/// `jsonb` into text only as it sends it (the conversion above the sorted subquery), while this
/// thread parses the rows already received: the server's work and the parsing overlap instead
/// of adding up.
fn asset_history(link: &mut Link, key: &str, newest: Option<usize>) -> Result<super::AssetHistory, HistoryError> {
    let limit = newest.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM (
             SELECT id, ts, run_id, kind, op, asset_key, message, data FROM etl_instance.events
             WHERE kind = 'materialization' AND asset_key = $1 ORDER BY ts DESC, id DESC LIMIT $2
         ) AS e ORDER BY ts, id"
    );
    let parsed = link.run("reading an asset's history", |c| {
        let mut rows = c.client.query_raw(&sql, [&key as &(dyn postgres::types::ToSql + Sync), &limit])?;
        let mut parsed = Vec::new();
        while let Some(row) = rows.next()? {
            parsed.push(event(&row));
        }
        Ok(parsed)
    })?;
    let events = parsed.into_iter().collect::<Result<Vec<_>, _>>()?;
    let total = match newest {
        Some(n) if events.len() >= n => {
            let count = "SELECT count(*) FROM etl_instance.events WHERE kind = 'materialization' AND asset_key = $1";
            let n: i64 = link.run("counting an asset's materializations", |c| c.client.query_one(count, &[&key]))?.get(0);
            usize::try_from(n).unwrap_or(usize::MAX)
        }
        _ => events.len(),
    };
    Ok(super::AssetHistory { total, events })
}

/// Runs that pass `filter`, newest first. The server selects on what is stored (a status of
/// `started` may show as abandoned: the filter's own rule decides), in pages of the limit.
fn runs(link: &mut Link, filter: &super::RunFilter) -> Result<Vec<RunRecord>, HistoryError> {
    let status: Option<Vec<String>> = filter.status.map(|s| match s {
        RunStatus::Abandoned | RunStatus::Started => vec![name(RunStatus::Started), name(RunStatus::Abandoned)],
        other => vec![name(other)],
    });
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM etl_instance.runs
         WHERE ($1::text[] IS NULL OR status = ANY($1)) AND ($2::text IS NULL OR $2 = ANY(assets))
           AND ($3::timestamptz IS NULL OR started_at >= $3) AND ($4::text IS NULL OR run_id < $4)
         ORDER BY run_id DESC LIMIT $5"
    );
    let mut out = Vec::new();
    let mut before = filter.before.clone();
    let page = i64::try_from(filter.limit.clamp(1, 1000)).unwrap_or(1000);
    while out.len() < filter.limit {
        let rows = link.run("listing runs", |c| c.client.query(&sql, &[&status, &filter.asset, &filter.since, &before, &page]))?;
        let got = rows.len();
        for row in &rows {
            let r = run_record(row)?;
            before = Some(r.run_id.clone());
            if filter.admits(&r) && out.len() < filter.limit {
                out.push(r);
            }
        }
        if (got as i64) < page {
            break;
        }
    }
    Ok(out)
}

/// The latest materialization of each of `keys`: one query, one index probe per key.
fn latest(link: &mut Link, keys: &[String]) -> Result<Vec<Option<Event>>, HistoryError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM unnest($1::text[]) AS k(key)
         CROSS JOIN LATERAL (
             SELECT id, ts, run_id, kind, op, asset_key, message, data FROM etl_instance.events
             WHERE kind = 'materialization' AND asset_key = k.key ORDER BY ts DESC, id DESC LIMIT 1
         ) AS e"
    );
    let rows = link.run("reading the latest materializations", |c| c.client.query(&sql, &[&keys]))?;
    let mut found = std::collections::HashMap::new();
    for row in &rows {
        let e = event(row)?;
        if let Some(k) = e.asset.clone() {
            found.insert(k, e);
        }
    }
    Ok(keys.iter().map(|k| found.remove(k)).collect())
}

fn record(link: &mut Link, run_id: &str) -> Result<RunRecord, HistoryError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM etl_instance.runs WHERE run_id = $1");
    match link.run("reading a run", |c| c.client.query_opt(&sql, &[&run_id]))? {
        Some(row) => run_record(&row),
        None => Err(HistoryError::NoRun(run_id.to_owned())),
    }
}

/// A LIKE pattern for the values that start with `prefix`: its `\`, `%` and `_` escaped.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn run_ids_with_prefix(link: &mut Link, prefix: &str, limit: usize) -> Result<Vec<String>, HistoryError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let pattern = like_prefix(prefix);
    // LIKE's default escape is the backslash (no `ESCAPE '\'` literal, which would depend on
    // `standard_conforming_strings`). Byte order (`COLLATE "C"`), as the files sort: an id
    // equal to the prefix comes first.
    let sql = "SELECT run_id FROM etl_instance.runs WHERE run_id LIKE $1 ORDER BY run_id COLLATE \"C\" LIMIT $2";
    let rows = link.run("looking up a run id", |c| c.client.query(sql, &[&pattern, &limit]))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A unit variant from its name.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(run_id: &str, what: &str, text: &str) -> Result<T, HistoryError> {
    serde_json::from_value(Json::String(text.to_owned()))
        .map_err(|_| HistoryError::DamagedRow { run_id: run_id.to_owned(), message: format!("unknown {what} `{text}`") })
}

/// A run's record from a row of [`RUN_COLUMNS`].
pub(crate) fn run_record(row: &Row) -> Result<RunRecord, HistoryError> {
    let run_id: String = row.get(0);
    let damaged = |message: String| HistoryError::DamagedRow { run_id: run_id.clone(), message };
    let status: RunStatus = parse(&run_id, "status", row.get(3))?;
    let pid: i64 = row.get(8);
    let tags: String = row.get(9);
    Ok(RunRecord {
        selection: row.get(1),
        assets: row.get(2),
        status,
        started_at: row.get(4),
        ended_at: row.get(5),
        parent_run_id: row.get(6),
        schedule: row.get(7),
        pid: u32::try_from(pid).map_err(|_| damaged(format!("pid {pid}")))?,
        tags: serde_json::from_str(&tags).map_err(|e| damaged(format!("tags {tags}: {e}")))?,
        partition: row.get(10),
        worker: row.get(11),
        lease_until: row.get(12),
        config: row.get::<_, Option<String>>(13).map(|t| serde_json::from_str(&t)).transpose().map_err(|e| damaged(format!("run config: {e}")))?,
        run_id,
    })
}

fn event(row: &Row) -> Result<Event, HistoryError> {
    let run_id: String = row.get(1);
    let kind: EventKind = parse(&run_id, "event kind", row.get(2))?;
    let data: Option<String> = row.get(6);
    let data = match data {
        Some(text) => serde_json::from_str(&text).map_err(|e| HistoryError::DamagedRow { run_id: run_id.clone(), message: e.to_string() })?,
        None => Json::Null,
    };
    let ts: DateTime<Utc> = row.get(0);
    Ok(Event { ts, kind, op: row.get(3), asset: row.get(4), message: row.get(5), data, run_id })
}

impl InstanceStorage for PgStorage {
    fn describe(&self) -> String {
        format!("PostgreSQL ({})", self.target)
    }

    fn start_run(&self, record: &RunRecord) -> Result<(), HistoryError> {
        self.ask(|reply| Request::Start(Box::new(record.clone()), reply))
    }

    fn append_event(&self, event: &Event) -> Result<(), HistoryError> {
        self.requests.send(Request::Append(Box::new(event.clone()))).map_err(|_| gone(&self.target))
    }

    fn finish_run(&self, record: &RunRecord) -> Result<(), HistoryError> {
        self.ask(|reply| Request::Finish(Box::new(record.clone()), reply))
    }

    fn runs(&self, filter: &super::RunFilter) -> Result<Vec<RunRecord>, HistoryError> {
        self.ask(|reply| Request::Runs(Box::new(filter.clone()), reply))
    }

    fn record(&self, run_id: &str) -> Result<RunRecord, HistoryError> {
        self.ask(|reply| Request::Record(run_id.to_owned(), reply))
    }

    fn run_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<String>, HistoryError> {
        self.ask(|reply| Request::RunIdsWithPrefix(prefix.to_owned(), limit, reply))
    }

    fn events(&self, run_id: &str) -> Result<Vec<Event>, HistoryError> {
        self.ask(|reply| Request::Events(run_id.to_owned(), reply))
    }

    fn latest_materializations(&self, keys: &[AssetKey]) -> Result<Vec<Option<Event>>, HistoryError> {
        let keys: Vec<String> = keys.iter().map(AssetKey::to_user_string).collect();
        self.ask(|reply| Request::Latest(keys, reply))
    }

    fn asset_history(&self, key: &AssetKey, newest: Option<usize>) -> Result<super::AssetHistory, HistoryError> {
        self.ask(|reply| Request::AssetHistory(key.to_user_string(), newest, reply))
    }

    fn pool_slots(&self) -> Result<std::sync::Arc<dyn super::pools::PoolSlots>, HistoryError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.is_none() {
            *slots = Some(std::sync::Arc::new(super::pg_pools::PgSlots::connect(&self.config, &self.target)?));
        }
        Ok(slots.clone().expect("opened above"))
    }

    fn queue(&self) -> Result<std::sync::Arc<dyn crate::queue::RunQueue>, HistoryError> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.is_none() {
            *queue = Some(std::sync::Arc::new(crate::queue::postgres::PgQueue::connect(&self.config, &self.target)?));
        }
        Ok(queue.clone().expect("opened above"))
    }

    fn has_workers(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_sent_again_after_a_lost_answer_is_stored_once() {
        let pg = etl_testkit::pg_or_skip!();
        let url = pg.create_database().unwrap();
        let config = Config::from_str(&url).unwrap();
        let mut client = config.connect(NoTls).unwrap();
        migrate(&mut client, "test").unwrap();
        start(&mut client, &RunRecord::new("r1", "*", vec![])).unwrap();
        let mut link = Link { config, target: "test".into(), conn: None };
        link.open(client).unwrap();
        let batch: Vec<Box<Event>> = (0..3).map(|i| Box::new(Event::new("r1", EventKind::Log).message(format!("line {i}")))).collect();
        for _ in 0..2 {
            link.run("appending", |c| append(&mut c.client, &c.insert, "w/1/1", &batch)).unwrap();
        }
        link.run("appending", |c| append(&mut c.client, &c.insert, "w/1/2", &batch[..1])).unwrap();
        let rows = link.run("reading", |c| c.client.query("SELECT message FROM etl_instance.events ORDER BY id", &[])).unwrap();
        let messages: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(messages, ["line 0", "line 1", "line 2", "line 0"], "the repeated batch is stored once, another batch again");
    }
}
