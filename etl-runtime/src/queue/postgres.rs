//! The run queue on PostgreSQL: any number of workers and daemons on any number of machines.
//!
//! Queued runs are rows of `etl_instance.runs` with status `queued`. A claim is one statement
//! that takes the oldest queued row nobody else is taking (`FOR UPDATE SKIP LOCKED`), so
//! concurrent workers never wait for each other nor take one run twice. Leases are kept in the
//! server's clock (`now()`), so the clocks of the workers' machines do not matter. A daemon's
//! tick is a row of `etl_instance.ticks` keyed by schedule and time, inserted in the same
//! transaction as its run: two daemons cannot both insert it.

use std::collections::BTreeMap;
use std::time::Duration;

use postgres::Config;
use serde_json::Value as Json;

use super::{Reaped, RetryFn, RunQueue};
use crate::history::{HistoryError, RunRecord};
use crate::schedule::{Tick, TickStatus};
use crate::storage::pg_link::{PgActor, PgLink};
use crate::storage::postgres::{name, parse, run_record, start, RUN_COLUMNS};

/// The queue's own connection (claims and renewals never wait behind a run's event appends).
pub struct PgQueue {
    actor: PgActor,
}

impl PgQueue {
    /// Opens the connection (the schema exists: the storage migrated it).
    pub fn connect(config: &Config, target: &str) -> Result<Self, HistoryError> {
        Ok(PgQueue { actor: PgActor::start(config, target, "etl-run-queue", |_| Ok(()))? })
    }
}

impl PgQueue {
    /// The ticks of a schedule, oldest first unless `tail` (more SQL) orders them.
    fn read_ticks(&self, schedule: &str, tail: &'static str) -> Result<Vec<Tick>, HistoryError> {
        let schedule = schedule.to_owned();
        self.actor.call(move |link| {
            let order = if tail.contains("ORDER BY") { "" } else { "ORDER BY tick" };
            let sql = format!("SELECT schedule, tick, status, run_id, reason FROM etl_instance.ticks WHERE schedule = $1 {tail} {order}");
            let rows = link.run("reading ticks", |c| c.query(&sql, &[&schedule]))?;
            rows.iter()
                .map(|row| {
                    let run_id: Option<String> = row.get(3);
                    let status: TickStatus = parse(run_id.as_deref().unwrap_or("-"), "tick status", row.get(2))?;
                    Ok(Tick { schedule: row.get(0), tick: row.get(1), status, run_id, reason: row.get(4) })
                })
                .collect()
        })
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn records(rows: &[postgres::Row]) -> Result<Vec<RunRecord>, HistoryError> {
    rows.iter().map(run_record).collect()
}

impl RunQueue for PgQueue {
    fn enqueue(&self, run: &RunRecord) -> Result<(), HistoryError> {
        let run = run.clone();
        self.actor.call(move |link| link.run("queueing a run", |c| start(c, &run)))
    }

    fn claim_skipping(&self, worker: &str, lease: Duration, skip: &[String]) -> Result<Option<RunRecord>, HistoryError> {
        let (worker, skip) = (worker.to_owned(), skip.to_vec());
        self.actor.call(move |link| {
            let sql = format!(
                "UPDATE etl_instance.runs SET status = 'started', worker = $1, started_at = now(),
                     lease_until = now() + make_interval(secs => $2)
                 WHERE run_id = (SELECT run_id FROM etl_instance.runs WHERE status = 'queued' AND run_id <> ALL($3)
                                 ORDER BY run_id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING {RUN_COLUMNS}"
            );
            let row = link.run("claiming a queued run", |c| c.query_opt(&sql, &[&worker, &secs(lease), &skip]))?;
            row.as_ref().map(run_record).transpose()
        })
    }

    fn renew(&self, run_id: &str, worker: &str, lease: Duration) -> Result<bool, HistoryError> {
        let (run_id, worker) = (run_id.to_owned(), worker.to_owned());
        self.actor.call(move |link| {
            let n = link.run("renewing a run's lease", |c| {
                c.execute(
                    "UPDATE etl_instance.runs SET lease_until = now() + make_interval(secs => $3)
                     WHERE run_id = $1 AND worker = $2 AND status = 'started'",
                    &[&run_id, &worker, &secs(lease)],
                )
            })?;
            Ok(n == 1)
        })
    }

    fn release(&self, run_id: &str, worker: &str) -> Result<(), HistoryError> {
        let (run_id, worker) = (run_id.to_owned(), worker.to_owned());
        self.actor.call(move |link| {
            link.run("releasing a run", |c| {
                c.execute("UPDATE etl_instance.runs SET lease_until = NULL WHERE run_id = $1 AND worker = $2", &[&run_id, &worker])
            })
            .map(drop)
        })
    }

    fn hand_back(&self, run_id: &str, worker: &str) -> Result<(), HistoryError> {
        let (run_id, worker) = (run_id.to_owned(), worker.to_owned());
        self.actor.call(move |link| {
            link.run("handing a run back to the queue", |c| {
                c.execute(
                    "UPDATE etl_instance.runs SET status = 'queued', worker = NULL, lease_until = NULL, pid = 0
                     WHERE run_id = $1 AND worker = $2 AND status = 'started'",
                    &[&run_id, &worker],
                )
            })
            .map(drop)
        })
    }

    fn reap_expired(&self, retry: RetryFn) -> Result<Vec<Reaped>, HistoryError> {
        let sql = format!(
            "UPDATE etl_instance.runs r SET status = 'failure', ended_at = now(), lease_until = NULL
             FROM (SELECT run_id FROM etl_instance.runs WHERE status = 'started' AND lease_until < now()
                   FOR UPDATE SKIP LOCKED) lost
             WHERE r.run_id = lost.run_id
             RETURNING {}",
            RUN_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ")
        );
        self.actor.call(move |link| reap(link, &sql, retry))
    }

    fn claimed(&self) -> Result<Vec<RunRecord>, HistoryError> {
        self.actor.call(move |link| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM etl_instance.runs WHERE status = 'started' AND lease_until IS NOT NULL ORDER BY run_id"
            );
            records(&link.run("listing the claimed runs", |c| c.query(&sql, &[]))?)
        })
    }

    fn queued(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.actor.call(move |link| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM etl_instance.runs WHERE status = 'queued' ORDER BY run_id LIMIT $1");
            records(&link.run("listing the queue", |c| c.query(&sql, &[&limit]))?)
        })
    }

    fn claim_tick(&self, tick: &Tick, run: Option<&RunRecord>) -> Result<bool, HistoryError> {
        let (tick, run) = (tick.clone(), run.cloned());
        self.actor.call(move |link| {
            link.run("recording a tick", |c| {
                let mut tx = c.transaction()?;
                let inserted = tx.execute(
                    "INSERT INTO etl_instance.ticks (schedule, tick, status, run_id, reason) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (schedule, tick) DO NOTHING",
                    &[&tick.schedule, &tick.tick, &name(tick.status), &tick.run_id, &tick.reason],
                )?;
                if inserted == 1 {
                    if let Some(run) = &run {
                        start(&mut tx, run)?;
                    }
                }
                tx.commit()?;
                Ok(inserted == 1)
            })
        })
    }

    fn set_schedule_stopped(&self, schedule: &str, stopped: bool) -> Result<(), HistoryError> {
        let schedule = schedule.to_owned();
        self.actor.call(move |link| {
            link.run("stopping or starting a schedule", |c| {
                c.execute(
                    "INSERT INTO etl_instance.schedule_states (schedule, stopped) VALUES ($1, $2)
                     ON CONFLICT (schedule) DO UPDATE SET stopped = excluded.stopped, updated_at = now()",
                    &[&schedule, &stopped],
                )
            })
            .map(drop)
        })
    }

    fn put_state(&self, namespace: &str, entries: &[(String, Json)]) -> Result<(), HistoryError> {
        let namespace = namespace.to_owned();
        let (keys, values): (Vec<String>, Vec<String>) = entries.iter().map(|(k, v)| (k.clone(), v.to_string())).unzip();
        self.actor.call(move |link| {
            link.run("writing the instance state", |c| {
                c.execute(
                    "INSERT INTO etl_instance.state (namespace, key, value)
                     SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS e (k, v)
                     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = now()",
                    &[&namespace, &keys, &values],
                )
            })
            .map(drop)
        })
    }

    fn put_state_new(&self, namespace: &str, key: &str, value: &Json) -> Result<bool, HistoryError> {
        let (namespace, key, value) = (namespace.to_owned(), key.to_owned(), value.to_string());
        self.actor.call(move |link| {
            link.run("writing the instance state", |c| {
                c.execute(
                    "INSERT INTO etl_instance.state (namespace, key, value) VALUES ($1, $2, $3) ON CONFLICT (namespace, key) DO NOTHING",
                    &[&namespace, &key, &value],
                )
            })
            .map(|n| n == 1)
        })
    }

    fn remove_state(&self, namespace: &str, key: &str) -> Result<(), HistoryError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.actor.call(move |link| {
            link.run("writing the instance state", |c| c.execute("DELETE FROM etl_instance.state WHERE namespace = $1 AND key = $2", &[&namespace, &key]))
                .map(drop)
        })
    }

    fn state(&self, namespace: &str) -> Result<BTreeMap<String, Json>, HistoryError> {
        let namespace = namespace.to_owned();
        self.actor.call(move |link| {
            let rows = link.run("reading the instance state", |c| c.query("SELECT key, value FROM etl_instance.state WHERE namespace = $1", &[&namespace]))?;
            rows.iter()
                .map(|r| {
                    let key: String = r.get(0);
                    let text: &str = r.get(1);
                    let value: Json = serde_json::from_str(text).map_err(|e| HistoryError::DamagedRow { run_id: format!("state {key}"), message: e.to_string() })?;
                    Ok((key, value))
                })
                .collect()
        })
    }

    fn schedule_stopped(&self, schedule: &str) -> Result<bool, HistoryError> {
        let schedule = schedule.to_owned();
        self.actor.call(move |link| {
            let row = link.run("reading a schedule's state", |c| {
                c.query_opt("SELECT stopped FROM etl_instance.schedule_states WHERE schedule = $1", &[&schedule])
            })?;
            Ok(row.is_some_and(|r| r.get(0)))
        })
    }

    fn update_tick(&self, tick: &Tick) -> Result<(), HistoryError> {
        let tick = tick.clone();
        self.actor.call(move |link| {
            link.run("recording a tick", |c| {
                c.execute(
                    "UPDATE etl_instance.ticks SET status = $3, run_id = $4, reason = $5 WHERE schedule = $1 AND tick = $2",
                    &[&tick.schedule, &tick.tick, &name(tick.status), &tick.run_id, &tick.reason],
                )
            })
            .map(drop)
        })
    }

    fn ticks(&self, schedule: &str) -> Result<Vec<Tick>, HistoryError> {
        self.read_ticks(schedule, "")
    }

    fn last_started_tick(&self, schedule: &str) -> Result<Option<Tick>, HistoryError> {
        Ok(self.read_ticks(schedule, "AND status = 'started' ORDER BY tick DESC LIMIT 1")?.pop())
    }
}

/// One transaction: the lost runs are marked failed and their retries queued, or nothing is.
fn reap(link: &mut PgLink, sql: &str, retry: RetryFn) -> Result<Vec<Reaped>, HistoryError> {
    let mut damaged = None;
    let reaped = link.run("reaping runs whose lease ran out", |c| {
        let mut tx = c.transaction()?;
        let rows = tx.query(sql, &[])?;
        let mut reaped = Vec::with_capacity(rows.len());
        for row in &rows {
            match run_record(row) {
                Ok(run) => {
                    let retry = retry(&run);
                    if let Some(r) = &retry {
                        start(&mut tx, r)?;
                    }
                    reaped.push(Reaped { run, retry });
                }
                Err(e) => damaged = Some(e),
            }
        }
        tx.commit()?;
        Ok(reaped)
    })?;
    if let Some(e) = damaged {
        tracing::warn!("a lost run was marked failed but could not be read back: {e}");
    }
    Ok(reaped)
}
