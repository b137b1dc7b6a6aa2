//! [`PgSession`]: one connection holding one transaction. DDL, COPY batches and bookkeeping rows
//! all run inside it (PostgreSQL's DDL is transactional), so a run commits as a whole or leaves
//! nothing. Dropping a session that was not committed rolls it back.
//!
//! Uses rust-postgres's synchronous client, which drives its own small tokio runtime: a session
//! must be used from a plain thread (the loader's), not from inside an async task.

use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Row};

use super::copy::{CopyBatch, CopyError};

/// A failure of the session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The URL is not a PostgreSQL connection string.
    #[error("not a PostgreSQL URL or connection string")]
    Url(#[source] postgres::Error),
    /// Connecting failed.
    #[error("connecting to PostgreSQL at {target}")]
    Connect {
        /// Host, port, database and user (never the password).
        target: String,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },
    /// The connection to the server was lost while a statement ran.
    #[error("the connection to PostgreSQL was lost during: {statement}")]
    ConnectionLost {
        /// The statement (cut to 300 characters).
        statement: String,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },
    /// A statement failed.
    #[error("statement failed: {statement}")]
    Statement {
        /// The statement (cut to 300 characters).
        statement: String,
        /// The client's error (the server's message is in it).
        #[source]
        source: postgres::Error,
    },
    /// A batch could not be encoded.
    #[error("COPY into `{table}`")]
    Encode {
        /// Table.
        table: String,
        /// Why.
        #[source]
        source: Box<CopyError>,
    },
}

fn cut(sql: &str) -> String {
    let mut s: String = sql.chars().take(300).collect();
    if s.len() < sql.len() {
        s.push('…');
    }
    s
}

fn statement(sql: &str) -> impl FnOnce(postgres::Error) -> SessionError + '_ {
    move |source| {
        // A closed connection or a failed read/write on it: the server went away (a restart, a
        // dropped network), not a statement the server refused.
        // Also the server's own goodbye: SQLSTATE class 08 (connection exception) and 57P0x
        // (shut down by the administrator, a crash of another backend, starting up).
        let said_goodbye = source.code().is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P0"));
        let lost = said_goodbye || source.is_closed() || std::error::Error::source(&source).is_some_and(|s| s.is::<std::io::Error>());
        if lost {
            SessionError::ConnectionLost { statement: cut(sql), source }
        } else {
            SessionError::Statement { statement: cut(sql), source }
        }
    }
}

/// Where a connection goes, without its password.
pub fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "host={} port={} dbname={} user={}",
        hosts.join(","),
        if ports.is_empty() { "5432".into() } else { ports.join(",") },
        config.get_dbname().unwrap_or("(default)"),
        config.get_user().unwrap_or("(default)")
    )
}

/// One connection in one open transaction.
pub struct PgSession {
    client: Client,
    open: bool,
}

impl std::fmt::Debug for PgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSession").field("open", &self.open).finish_non_exhaustive()
    }
}

impl PgSession {
    /// Connects to `url` (`postgres://user:password@host:port/db` or a key=value string),
    /// outside any transaction (statements run in their own until `BEGIN`). Connecting gives up
    /// after 15 seconds unless the URL sets `connect_timeout`.
    pub fn connect(url: &str) -> Result<PgSession, SessionError> {
        let mut config: Config = url.parse().map_err(SessionError::Url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(15));
        }
        let client = config.connect(NoTls).map_err(|source| SessionError::Connect { target: describe(&config), source })?;
        Ok(PgSession { client, open: false })
    }

    /// Connects to `url` and begins the transaction.
    pub fn begin(url: &str) -> Result<PgSession, SessionError> {
        let mut session = PgSession::connect(url)?;
        session.client.batch_execute("BEGIN").map_err(statement("BEGIN"))?;
        session.open = true;
        Ok(session)
    }

    /// Runs statements without parameters (DDL; several may be separated by `;`).
    pub fn execute(&mut self, sql: &str) -> Result<(), SessionError> {
        self.client.batch_execute(sql).map_err(statement(sql))
    }

    /// Runs one statement with parameters; returns the rows it changed.
    pub fn execute_with(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, SessionError> {
        self.client.execute(sql, params).map_err(statement(sql))
    }

    /// Runs a query with parameters.
    pub fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, SessionError> {
        self.client.query(sql, params).map_err(statement(sql))
    }

    /// COPYs a batch into `dataset`; returns the rows the server took.
    pub fn copy(&mut self, dataset: &str, batch: &CopyBatch<'_>) -> Result<u64, SessionError> {
        let sql = batch.statement(dataset);
        let mut writer = self.client.copy_in(&sql).map_err(statement(&sql))?;
        if let Err(source) = batch.write_to(&mut writer) {
            // Dropping the writer unfinished aborts the COPY; the server's reason, if it refused
            // the data, comes with the next statement.
            drop(writer);
            return Err(SessionError::Encode { table: batch.table_name().to_owned(), source: Box::new(source) });
        }
        writer.finish().map_err(statement(&sql))
    }

    /// Commits the transaction.
    pub fn commit(mut self) -> Result<(), SessionError> {
        self.open = false;
        self.client.batch_execute("COMMIT").map_err(statement("COMMIT"))
    }

    /// Rolls the transaction back.
    pub fn rollback(mut self) -> Result<(), SessionError> {
        self.open = false;
        self.client.batch_execute("ROLLBACK").map_err(statement("ROLLBACK"))
    }

    /// The underlying client (inside the transaction).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Drop for PgSession {
    fn drop(&mut self) {
        if self.open && !self.client.is_closed() {
            // Closing the connection would roll back too; this makes it immediate.
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}
