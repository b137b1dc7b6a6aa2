//! A PostgreSQL connection owned by a thread of its own, that opens itself again when the
//! server dropped it (a restart, a network cut).
//!
//! rust-postgres's synchronous client drives a tokio runtime of its own and panics when used
//! inside another one, and the callers of the instance storage may well be async (the executor,
//! a web handler). So the connection lives on a dedicated thread ([`PgActor`]) and callers send
//! it closures; each closure gets the [`PgLink`] and runs its statements through
//! [`PgLink::run`], which reconnects once when the connection turns out closed.

use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use crate::history::HistoryError;

/// The error of a failed statement: the server's code and message, or the client's chain (which
/// names what failed: refused, timed out, authentication; never the password).
pub fn pg_error(target: &str, action: &'static str, e: &postgres::Error) -> HistoryError {
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut m = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                m.push_str(&format!(": {s}"));
                source = s.source();
            }
            m
        }
    };
    HistoryError::Postgres { target: target.to_owned(), action, message }
}

/// How long a lost connection is tried again before the request fails: long enough for a
/// server restart or a failover.
pub const RECONNECT_WINDOW: Duration = Duration::from_secs(30);

/// Opens a connection again after one was lost, trying for [`RECONNECT_WINDOW`] with a growing
/// pause (a server that restarts refuses connections for a moment).
pub fn reconnect(config: &Config, target: &str) -> Result<Client, HistoryError> {
    let deadline = std::time::Instant::now() + RECONNECT_WINDOW;
    let mut pause = Duration::from_millis(100);
    loop {
        match config.connect(NoTls) {
            Ok(client) => return Ok(client),
            Err(e) if std::time::Instant::now() + pause < deadline => {
                tracing::debug!(%target, error = %e, "instance storage: connecting again");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(pg_error(target, "connecting again", &e)),
        }
    }
}

/// A connection that is opened again when lost.
pub struct PgLink {
    config: Config,
    target: String,
    client: Option<Client>,
}

impl PgLink {
    /// Where it connects, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `op` on the connection (opening it if needed); when the connection turns out closed,
    /// opens a new one and runs `op` once more. `op` must be safe to repeat: a transaction that
    /// did not commit, or a statement whose effect a repeat does not double.
    pub fn run<T>(&mut self, action: &'static str, mut op: impl FnMut(&mut Client) -> Result<T, postgres::Error>) -> Result<T, HistoryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if self.client.is_none() {
                self.client = Some(reconnect(&self.config, &self.target)?);
            }
            let client = self.client.as_mut().expect("connection just opened");
            match op(client) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let closed = client.is_closed();
                    if closed {
                        self.client = None;
                    }
                    if closed && attempt == 1 {
                        tracing::warn!(target = %self.target, error = %e, "instance storage: connection lost; connecting again");
                        continue;
                    }
                    return Err(pg_error(&self.target, action, &e));
                }
            }
        }
    }
}

type Job = Box<dyn FnOnce(&mut PgLink) + Send>;

/// The thread that owns a [`PgLink`]; dropping the actor ends the thread.
pub struct PgActor {
    target: String,
    jobs: Sender<Job>,
}

impl PgActor {
    /// Connects (reporting a failure now, naming the host) and starts the thread, named `name`.
    /// `setup` runs once on the first connection (migrations).
    pub fn start(
        config: &Config,
        target: &str,
        name: &str,
        setup: impl FnOnce(&mut Client) -> Result<(), HistoryError> + Send + 'static,
    ) -> Result<Self, HistoryError> {
        let mut config = config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(15));
        }
        let (jobs, receiver) = mpsc::channel::<Job>();
        let (ready, opened) = mpsc::sync_channel(1);
        let thread_target = target.to_owned();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let client = match config.connect(NoTls).map_err(|e| pg_error(&thread_target, "connecting", &e)).and_then(|mut c| setup(&mut c).map(|()| c)) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                let mut link = PgLink { config, target: thread_target, client: Some(client) };
                for job in receiver {
                    job(&mut link);
                }
            })
            .map_err(|e| HistoryError::Postgres { target: target.to_owned(), action: "starting its thread", message: e.to_string() })?;
        opened.recv().map_err(|_| gone(target))??;
        Ok(PgActor { target: target.to_owned(), jobs })
    }

    /// Runs `job` on the connection's thread and waits for its answer.
    pub fn call<T: Send + 'static>(&self, job: impl FnOnce(&mut PgLink) -> Result<T, HistoryError> + Send + 'static) -> Result<T, HistoryError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |link: &mut PgLink| {
                let _ = reply.send(job(link));
            }))
            .map_err(|_| gone(&self.target))?;
        answer.recv().map_err(|_| gone(&self.target))?
    }
}

fn gone(target: &str) -> HistoryError {
    HistoryError::Postgres { target: target.to_owned(), action: "talking to its thread", message: "the connection's thread ended".into() }
}
