//! [`PgServer`]: one throwaway PostgreSQL cluster in a temporary directory.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::binaries::{find_bindir, Binaries};
use crate::Skip;

/// How long a fresh server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts with a new port when the one picked was taken meanwhile by someone else.
const PORT_ATTEMPTS: usize = 5;

/// Why a server could not be started (or a database created).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file or process operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error("running as root and no `postgres` user in /etc/passwd (PostgreSQL refuses to run as root)")]
    NoPostgresUser,
    /// `initdb` failed.
    #[error("initdb failed ({status}): {output}")]
    Initdb {
        /// Its exit status.
        status: String,
        /// Its output.
        output: String,
    },
    /// The server exited while starting.
    #[error("postgres exited while starting; its log:\n{log}")]
    Exited {
        /// The server's log.
        log: String,
    },
    /// The server did not accept connections in time.
    #[error("postgres did not accept connections within {seconds} s; its log:\n{log}")]
    Timeout {
        /// The time waited.
        seconds: u64,
        /// The server's log.
        log: String,
    },
    /// A statement on the server failed.
    #[error("{what}")]
    Sql {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// The user a server process runs as: `None` for the current one, or the `postgres` user's
/// `(uid, gid)` when the current user is root.
fn server_user() -> Result<Option<(u32, u32)>, ServerError> {
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).map_err(io("reading the current uid from /proc/self"))?;
    if uid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(io("reading /etc/passwd"))?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == "postgres").then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))?
        })
        .map(Some)
        .ok_or(ServerError::NoPostgresUser)
}

/// A running throwaway PostgreSQL server; stopped (`pg_ctl stop -m immediate`) and its directory
/// removed when dropped.
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    data: PathBuf,
    binaries: Binaries,
    user: Option<(u32, u32)>,
    child: Option<Child>,
    databases: AtomicUsize,
    // Last: removed after the server is stopped.
    dir: tempfile::TempDir,
}

impl PgServer {
    /// Starts a fresh server: `initdb -E UTF8 --locale=C.UTF-8 -U postgres` into a new
    /// temporary directory, `postgres` on a free port of 127.0.0.1 (`fsync=off`, `TimeZone=UTC`,
    /// its socket in the directory), ready when this returns. [`Skip::Missing`] when the
    /// binaries are not installed.
    pub fn start() -> Result<PgServer, Skip> {
        let bindir = find_bindir().map_err(Skip::Missing)?;
        let binaries = Binaries::in_dir(&bindir).ok_or_else(|| Skip::Missing(format!("{} lost its binaries", bindir.display())))?;
        Self::start_with(binaries).map_err(Skip::Failed)
    }

    /// [`PgServer::start`] with the given binaries.
    pub fn start_with(binaries: Binaries) -> Result<PgServer, ServerError> {
        let user = server_user()?;
        let dir = tempfile::Builder::new().prefix("etl-pg-").tempdir().map_err(io("creating a temporary directory"))?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(io(format!("chown {} to the postgres user", dir.path().display())))?;
        }
        let data = dir.path().join("data");
        let mut initdb = Command::new(&binaries.initdb);
        initdb.args(["-E", "UTF8", "--locale=C.UTF-8", "-U", "postgres", "-A", "trust", "--no-sync", "-D"]).arg(&data);
        let out = as_user(&mut initdb, user, dir.path()).output().map_err(io(format!("running {}", binaries.initdb.display())))?;
        if !out.status.success() {
            let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            return Err(ServerError::Initdb { status: out.status.to_string(), output });
        }
        let mut server = PgServer { port: 0, data, binaries, user, child: None, databases: AtomicUsize::new(0), dir };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(ServerError::Exited { log }) if attempt < PORT_ATTEMPTS && log.contains("could not bind") => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts `postgres` on a newly picked free port and waits until it accepts connections.
    fn launch(&mut self) -> Result<(), ServerError> {
        self.port = free_port()?;
        self.launch_on_port()
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: every connection is cut, as in a
    /// crash) and starts it again on the same port, with the same data.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.stop();
        self.launch_on_port()
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let mut stop = Command::new(&self.binaries.pg_ctl);
        stop.arg("stop").arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "-t", "20"]).stdout(Stdio::null()).stderr(Stdio::null());
        let stopped = as_user(&mut stop, self.user, self.dir.path()).status().is_ok_and(|s| s.success());
        if !stopped {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    fn launch_on_port(&mut self) -> Result<(), ServerError> {
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(io(format!("creating {}", log_path.display())))?;
        let log_err = log.try_clone().map_err(io("duplicating the log file"))?;
        let mut cmd = Command::new(&self.binaries.postgres);
        cmd.arg("-D").arg(&self.data).args(["-p", &self.port.to_string()]);
        for setting in ["fsync=off", "synchronous_commit=off", "full_page_writes=off", "listen_addresses=127.0.0.1", "TimeZone=UTC"] {
            cmd.args(["-c", setting]);
        }
        cmd.arg("-c").arg(format!("unix_socket_directories={}", self.dir.path().display()));
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let child = as_user(&mut cmd, self.user, self.dir.path()).spawn().map_err(io(format!("starting {}", self.binaries.postgres.display())))?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().map_err(io("waiting for postgres"))?.is_some() {
                    self.child = None;
                    return Err(ServerError::Exited { log: self.log() });
                }
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() && postgres::Client::connect(&self.url(), postgres::NoTls).is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(ServerError::Timeout { seconds: START_TIMEOUT.as_secs(), log: self.log() });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data directory, socket, log); removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of database `database` on this server.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A connection to the `postgres` database.
    pub fn connect(&self) -> Result<postgres::Client, ServerError> {
        postgres::Client::connect(&self.url(), postgres::NoTls).map_err(|source| ServerError::Sql { what: format!("connecting to {}", self.url()), source })
    }

    /// Creates a fresh, empty database (`etl_test_<n>`) and returns its URL.
    pub fn create_database(&self) -> Result<String, ServerError> {
        let name = format!("etl_test_{}", self.databases.fetch_add(1, Ordering::Relaxed) + 1);
        let mut client = self.connect()?;
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .map_err(|source| ServerError::Sql { what: format!("creating database {name}"), source })?;
        Ok(self.url_of(&name))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `cmd`, run as the server's user (if any), in `dir`.
fn as_user<'a>(cmd: &'a mut Command, user: Option<(u32, u32)>, dir: &Path) -> &'a mut Command {
    cmd.current_dir(dir);
    if let Some((uid, gid)) = user {
        // std drops root's supplementary groups too when it sets the uid.
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// A port of 127.0.0.1 that was free a moment ago (the OS's pick).
fn free_port() -> Result<u16, ServerError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(io("binding 127.0.0.1:0 to pick a free port"))?;
    Ok(listener.local_addr().map_err(io("reading the picked port"))?.port())
}

#[cfg(test)]
mod tests {
    use crate::pg_or_skip;

    #[test]
    fn starts_accepts_connections_and_is_gone_after_drop() {
        let pg = pg_or_skip!();
        let mut client = pg.connect().unwrap();
        let row = client.query_one("SELECT current_setting('TimeZone'), current_setting('server_encoding'), current_setting('fsync')", &[]).unwrap();
        assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2)), ("UTC".into(), "UTF8".into(), "off".into()));
        let url = pg.create_database().unwrap();
        assert!(url.ends_with("/etl_test_1"), "{url}");
        let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        assert_eq!(db.query_one("SELECT current_database()", &[]).unwrap().get::<_, String>(0), "etl_test_1");
        assert!(pg.url().starts_with("postgres://postgres@127.0.0.1:"));
        drop((client, db));
        let (port, dir) = (pg.port(), pg.dir().to_owned());
        drop(pg);
        assert!(!dir.exists(), "the cluster's directory is removed");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server is stopped");
    }

    #[test]
    fn two_servers_at_once_have_ports_and_directories_of_their_own() {
        let a = pg_or_skip!();
        let b = pg_or_skip!();
        assert_ne!(a.port(), b.port());
        assert_ne!(a.dir(), b.dir());
        a.connect().unwrap().batch_execute("CREATE TABLE only_in_a (x int)").unwrap();
        let n: i64 = b.connect().unwrap().query_one("SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'", &[]).unwrap().get(0);
        assert_eq!(n, 0);
    }

    #[test]
    fn missing_binaries_are_reported_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(crate::Binaries::in_dir(dir.path()).is_none());
    }
}
