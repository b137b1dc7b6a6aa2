//! Where a pipeline loads, as its code names it ([`Destination`]) and as a run resolves it
//! ([`Resolved`]): a DuckDB file, a PostgreSQL database, or whatever the configuration says.
//!
//! A pipeline that names no destination in code takes it from configuration, the way dlt reads
//! it (section `pipelines.<name>`, then the top level):
//!
//! * `destination_type = "postgres"` (`PIPELINES__<NAME>__DESTINATION_TYPE` or
//!   `DESTINATION_TYPE`, or the same key in `.etl/config.toml`, top level or `[pipelines.<name>]`);
//! * PostgreSQL's credentials from `DESTINATION__POSTGRES__CREDENTIALS` or `[destination.postgres]
//!   credentials` in `.etl/secrets.toml`: a URL (`postgres://user:password@host:5432/db`) or a
//!   table of `database`, `username`, `password`, `host`, `port`, `connect_timeout`.
//!
//! Where no type is configured, PostgreSQL is taken when its credentials are configured (one
//! variable is enough to point a pipeline at a server), otherwise DuckDB.

use std::path::{Path, PathBuf};

use etl_config::{Config, ConfigError, Secret};

use crate::error::PipelineError;

/// The destination type name dlt reports for DuckDB.
pub const DUCKDB_DESTINATION_TYPE: &str = "dlt.destinations.duckdb";
/// The destination type name dlt reports for PostgreSQL.
pub const POSTGRES_DESTINATION_TYPE: &str = "dlt.destinations.postgres";

/// Where a pipeline loads (dlt's `destination=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A DuckDB file: `<pipeline_name>.duckdb` in the working directory unless a path is given.
    DuckDb { path: Option<PathBuf> },
    /// A PostgreSQL database; credentials from configuration when not given.
    Postgres { credentials: Option<Secret> },
    /// Whatever the configuration says.
    Configured,
}

/// The DuckDB destination (dlt's `destination="duckdb"`): the file `<pipeline_name>.duckdb` in
/// the pipeline's working directory unless a path is given.
pub fn duckdb() -> Destination {
    Destination { kind: Kind::DuckDb { path: None } }
}

/// The PostgreSQL destination at `url` (`postgres://user:password@host:5432/database`, or a
/// `key=value` connection string). The dataset is a schema of that database.
pub fn postgres(url: impl Into<String>) -> Destination {
    Destination { kind: Kind::Postgres { credentials: Some(Secret::new(url.into())) } }
}

/// A destination by dlt's name (`"duckdb"`, `"postgres"`), its settings from configuration
/// (dlt's `destination="postgres"`).
pub fn destination(name: &str) -> Result<Destination, PipelineError> {
    match name {
        "duckdb" => Ok(duckdb()),
        "postgres" | "postgresql" => Ok(Destination { kind: Kind::Postgres { credentials: None } }),
        other => Err(unknown_destination(other, "the code")),
    }
}

fn unknown_destination(name: &str, place: &str) -> PipelineError {
    PipelineError::config(format!("unknown destination `{name}` (from {place}); this build knows `duckdb` and `postgres`"))
}

impl Default for Destination {
    /// From configuration (DuckDB when nothing is configured).
    fn default() -> Self {
        Destination { kind: Kind::Configured }
    }
}

/// A destination a run can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A DuckDB file.
    DuckDb {
        /// The database file.
        file: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// Its connection string (with the password: never print it; see [`Resolved::location`]).
        url: Secret,
    },
}

impl Resolved {
    /// dlt's destination name (`duckdb`, `postgres`), also the asset kind.
    pub fn name(&self) -> &'static str {
        match self {
            Resolved::DuckDb { .. } => "duckdb",
            Resolved::Postgres { .. } => "postgres",
        }
    }

    /// dlt's destination type string.
    pub fn destination_type(&self) -> &'static str {
        match self {
            Resolved::DuckDb { .. } => DUCKDB_DESTINATION_TYPE,
            Resolved::Postgres { .. } => POSTGRES_DESTINATION_TYPE,
        }
    }

    /// Where it is, without secrets: the file, or `postgres://user@host:port/database`.
    pub fn location(&self) -> String {
        match self {
            Resolved::DuckDb { file } => file.display().to_string(),
            Resolved::Postgres { url } => redact_url(url.expose()),
        }
    }

    /// The DuckDB file, for a DuckDB destination.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Resolved::DuckDb { file } => Some(file),
            Resolved::Postgres { .. } => None,
        }
    }
}

/// A connection URL without its password (`postgres://user@host:5432/db`); a key=value string
/// without its `password=`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (auth, host) = match rest.rsplit_once('@') {
            Some((auth, host)) => (Some(auth), host),
            None => (None, rest),
        };
        let user = auth.map(|a| a.split(':').next().unwrap_or_default());
        let host = host.split('?').next().unwrap_or_default();
        return match user {
            Some(user) if !user.is_empty() => format!("{scheme}://{user}@{host}"),
            _ => format!("{scheme}://{host}"),
        };
    }
    url.split_whitespace().filter(|kv| !kv.starts_with("password=")).collect::<Vec<_>>().join(" ")
}

/// PostgreSQL credentials as a table (dlt's `ConnectionStringCredentials` fields).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PgCredentials {
    database: String,
    username: String,
    password: Option<Secret>,
    host: String,
    port: Option<u16>,
    connect_timeout: Option<u32>,
}

/// The credentials value: a connection string or a table.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum CredentialsValue {
    Url(Secret),
    Table(PgCredentials),
}

impl CredentialsValue {
    fn into_url(self) -> Secret {
        match self {
            CredentialsValue::Url(url) => url,
            CredentialsValue::Table(c) => {
                let mut url = format!(
                    "host={} port={} dbname={} user={}",
                    quote_kv(&c.host),
                    c.port.unwrap_or(5432),
                    quote_kv(&c.database),
                    quote_kv(&c.username)
                );
                if let Some(p) = &c.password {
                    url.push_str(&format!(" password={}", quote_kv(p.expose())));
                }
                url.push_str(&format!(" connect_timeout={}", c.connect_timeout.unwrap_or(15)));
                Secret::new(url)
            }
        }
    }
}

/// A value of a libpq `key=value` string, quoted.
fn quote_kv(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

const CREDENTIALS: [&str; 2] = ["destination", "postgres"];

fn config_error(e: ConfigError) -> PipelineError {
    PipelineError::config_from("the destination's configuration", Box::new(e))
}

fn pg_credentials(config: &Config) -> Result<Option<Secret>, PipelineError> {
    config.get::<CredentialsValue>(&CREDENTIALS, "credentials").map(|c| c.map(CredentialsValue::into_url)).map_err(config_error)
}

impl Destination {
    /// Loads into this DuckDB file (relative paths are taken from the working directory). Makes
    /// the destination DuckDB.
    pub fn path(self, path: impl Into<PathBuf>) -> Self {
        Destination { kind: Kind::DuckDb { path: Some(path.into()) } }
    }

    /// The destination's name as named in code (`duckdb`, `postgres`), or `None` when it comes
    /// from configuration.
    pub fn named(&self) -> Option<&'static str> {
        match self.kind {
            Kind::DuckDb { .. } => Some("duckdb"),
            Kind::Postgres { .. } => Some("postgres"),
            Kind::Configured => None,
        }
    }

    /// The DuckDB file for a pipeline run in `working_dir` (also for a destination that is not
    /// DuckDB: the file it would use).
    pub fn file_for(&self, pipeline_name: &str, working_dir: &Path) -> PathBuf {
        match &self.kind {
            Kind::DuckDb { path: Some(p) } if p.is_absolute() => p.clone(),
            Kind::DuckDb { path: Some(p) } => working_dir.join(p),
            _ => working_dir.join(format!("{pipeline_name}.duckdb")),
        }
    }

    /// The destination a run of `pipeline_name` in `working_dir` opens, reading configuration
    /// (`<working_dir>/.etl/`, the environment) where the code left something open.
    pub fn resolve(&self, pipeline_name: &str, working_dir: &Path) -> Result<Resolved, PipelineError> {
        let duck = || Resolved::DuckDb { file: self.file_for(pipeline_name, working_dir) };
        match &self.kind {
            Kind::DuckDb { .. } => Ok(duck()),
            Kind::Postgres { credentials: Some(url) } => Ok(Resolved::Postgres { url: url.clone() }),
            Kind::Postgres { credentials: None } => {
                let config = Config::load_from(working_dir).map_err(config_error)?;
                match pg_credentials(&config)? {
                    Some(url) => Ok(Resolved::Postgres { url }),
                    None => Err(PipelineError::config(format!(
                        "the postgres destination has no credentials: set {}",
                        config.places(&CREDENTIALS, "credentials").join(" or ")
                    ))),
                }
            }
            Kind::Configured => {
                let config = Config::load_from(working_dir).map_err(config_error)?;
                let section = ["pipelines", pipeline_name];
                let mut named = None;
                for section in [&section[..], &[]] {
                    if named.is_none() {
                        named = config.get_found::<String>(section, "destination_type").map_err(config_error)?;
                    }
                }
                match named {
                    Some((name, place)) => {
                        let chosen = destination(&name).map_err(|_| unknown_destination(&name, &place))?;
                        chosen.resolve(pipeline_name, working_dir)
                    }
                    None => Ok(pg_credentials(&config)?.map(|url| Resolved::Postgres { url }).unwrap_or_else(duck)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_files(config: &str, secrets: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
        std::fs::write(dir.path().join(".etl/config.toml"), config).unwrap();
        std::fs::write(dir.path().join(".etl/secrets.toml"), secrets).unwrap();
        dir
    }

    #[test]
    fn named_in_code_wins_and_duckdb_is_the_default() {
        let dir = with_files("destination_type = \"postgres\"", "[destination.postgres]\ncredentials = \"postgres://u:p@h/db\"");
        let r = duckdb().resolve("p", dir.path()).unwrap();
        assert_eq!(r, Resolved::DuckDb { file: dir.path().join("p.duckdb") });
        let empty = with_files("", "");
        assert_eq!(Destination::default().resolve("p", empty.path()).unwrap().name(), "duckdb");
        assert_eq!(postgres("postgres://x@y/z").resolve("p", empty.path()).unwrap().location(), "postgres://x@y/z");
    }

    #[test]
    fn configured_type_and_credentials_from_the_secrets_file() {
        let dir = with_files("[pipelines.p]\ndestination_type = \"postgres\"", "[destination.postgres]\ncredentials = \"postgres://u:pw@h:5433/db\"");
        let r = Destination::default().resolve("p", dir.path()).unwrap();
        assert_eq!(r.name(), "postgres");
        assert_eq!(r.location(), "postgres://u@h:5433/db", "no password in the location");
        // Another pipeline's section does not apply, but credentials alone choose PostgreSQL.
        assert_eq!(Destination::default().resolve("other", dir.path()).unwrap().name(), "postgres");
        let table = with_files("destination_type = \"postgres\"", "[destination.postgres.credentials]\ndatabase = \"db\"\nusername = \"u\"\npassword = \"it's\"\nhost = \"h\"");
        match Destination::default().resolve("p", table.path()).unwrap() {
            Resolved::Postgres { url } => {
                assert_eq!(url.expose(), "host='h' port=5432 dbname='db' user='u' password='it\\'s' connect_timeout=15")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_what_is_missing_or_wrong() {
        let dir = with_files("destination_type = \"snowflake\"", "");
        let e = Destination::default().resolve("p", dir.path()).unwrap_err().to_string();
        assert!(e.contains("unknown destination `snowflake`") && e.contains("config.toml"), "{e}");
        let e = destination("postgres").unwrap().resolve("p", with_files("", "").path()).unwrap_err().to_string();
        assert!(e.contains("no credentials") && e.contains("DESTINATION__POSTGRES__CREDENTIALS"), "{e}");
        assert!(destination("bigquery").is_err());
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("postgres://me:secret@db.example:5432/warehouse?sslmode=require"), "postgres://me@db.example:5432/warehouse");
        assert_eq!(redact_url("host=h user=u password=secret dbname=d"), "host=h user=u dbname=d");
    }
}
