//! The slots of the instance's pools on PostgreSQL: one session-level advisory lock per slot,
//! `pg_try_advisory_lock(hashtext('etl.pool:' || <pool>), <slot>)`, on a connection of its own
//! to the storage's database. The server releases a dead process's locks with its session.
//!
//! Advisory locks are re-entrant within a session, and every run of a process on one storage
//! shares this session, so the slots it holds are also kept here and refused to a second taker. The connection is owned by a thread of its own
//! (the synchronous client must not run on the executor's runtime); a lock or an unlock is a
//! request over a channel. When the server drops the connection (a restart), the locks go with
//! it: the next try opens a new session. The ops that held slots then keep running unguarded
//! until they end (a known gap: a storage restart while a pool is full may let one more op in).

use std::collections::HashSet;
use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use postgres::{Client, Config, NoTls};

use super::pools::{PoolSlots, SlotGuard};
use crate::history::HistoryError;

enum Request {
    Try(String, u32, SyncSender<Result<bool, HistoryError>>),
    Release(String, u32),
}

/// The advisory-lock slots of one database.
pub struct PgSlots {
    target: String,
    requests: Sender<Request>,
    /// The slots this session holds.
    held: Arc<Mutex<HashSet<(String, u32)>>>,
}

impl PgSlots {
    /// Opens the connection (with `config`) on a thread of its own, which then serves it.
    pub fn connect(config: &Config, target: &str) -> Result<Self, HistoryError> {
        let (requests, receiver) = mpsc::channel();
        let (ready, opened) = mpsc::sync_channel(1);
        let (config, thread_target) = (config.clone(), target.to_owned());
        std::thread::Builder::new()
            .name("etl-pool-slots".into())
            .spawn(move || match config.connect(NoTls) {
                Ok(client) => {
                    let _ = ready.send(Ok(()));
                    serve(client, &config, &thread_target, receiver);
                }
                Err(e) => {
                    let message = e.as_db_error().map(|db| format!("{}: {}", db.code().code(), db.message())).unwrap_or_else(|| e.to_string());
                    let _ = ready.send(Err(HistoryError::Postgres { target: thread_target, action: "connecting for pool slots", message }));
                }
            })
            .map_err(|e| HistoryError::Postgres { target: target.to_owned(), action: "starting the pool slots' thread", message: e.to_string() })?;
        let gone = || HistoryError::Postgres { target: target.to_owned(), action: "connecting for pool slots", message: "its thread ended".into() };
        opened.recv().map_err(|_| gone())??;
        Ok(PgSlots { target: target.to_owned(), requests, held: Arc::default() })
    }
}

fn serve(mut client: Client, config: &Config, target: &str, requests: mpsc::Receiver<Request>) {
    for request in requests {
        match request {
            Request::Try(pool, slot, reply) => {
                let sql = "SELECT pg_try_advisory_lock(hashtext('etl.pool:' || $1), $2)";
                let mut taken = client.query_one(sql, &[&pool, &(slot as i32)]).map(|row| row.get::<_, bool>(0));
                if taken.is_err() && client.is_closed() {
                    // The server dropped the session (a restart): its locks went with it. Take
                    // this one on a new session; see the module's note on the slots held then.
                    tracing::warn!(%target, "pool slots: connection lost; connecting again (slots held until now are no longer locked)");
                    match super::pg_link::reconnect(config, target) {
                        Ok(c) => {
                            client = c;
                            taken = client.query_one(sql, &[&pool, &(slot as i32)]).map(|row| row.get::<_, bool>(0));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            continue;
                        }
                    }
                }
                let _ = reply.send(taken.map_err(|e| super::pg_link::pg_error(target, "taking a pool slot", &e)));
            }
            Request::Release(pool, slot) => {
                // A failure leaves nothing to release: the session, and its locks, are gone.
                let _ = client.execute("SELECT pg_advisory_unlock(hashtext('etl.pool:' || $1), $2)", &[&pool, &(slot as i32)]);
            }
        }
    }
}

/// A held advisory lock: dropping it asks the thread to unlock it.
struct PgSlot {
    requests: Sender<Request>,
    held: Arc<Mutex<HashSet<(String, u32)>>>,
    pool: String,
    slot: u32,
}

impl Drop for PgSlot {
    fn drop(&mut self) {
        // Released before it is forgotten: a later try is queued after the unlock.
        let _ = self.requests.send(Request::Release(self.pool.clone(), self.slot));
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&(std::mem::take(&mut self.pool), self.slot));
    }
}

impl PoolSlots for PgSlots {
    fn try_slot(&self, pool: &str, slot: u32) -> Result<Option<SlotGuard>, HistoryError> {
        let gone = || HistoryError::Postgres { target: self.target.clone(), action: "taking a pool slot", message: "the pool slots' thread ended".into() };
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.contains(&(pool.to_owned(), slot)) {
            return Ok(None);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.requests.send(Request::Try(pool.to_owned(), slot, reply)).map_err(|_| gone())?;
        if answer.recv().map_err(|_| gone())?? {
            held.insert((pool.to_owned(), slot));
            Ok(Some(SlotGuard::new(PgSlot { requests: self.requests.clone(), held: self.held.clone(), pool: pool.to_owned(), slot })))
        } else {
            Ok(None)
        }
    }
}
