//! Test harness of `etl` (dev-only): a throwaway PostgreSQL server per test.
//!
//! [`PgServer::start`] finds PostgreSQL's server binaries, `initdb`s a cluster into a fresh
//! temporary directory (as the `postgres` user when the tests run as root: PostgreSQL refuses to
//! run as root), starts `postgres` on a free port of 127.0.0.1 and stops it (and removes the
//! directory) when dropped. Nothing is shared between servers, tests or test binaries: no fixed
//! port, no fixed directory, no database outside the temporary cluster.
//!
//! Tests take a server with [`pg_or_skip!`]: where the binaries are not installed it prints a
//! loud message and returns (the test is skipped), except under `CI=true`, where it panics, so a
//! CI machine without PostgreSQL fails instead of passing vacuously.

mod binaries;
mod server;

pub use binaries::{find_bindir, Binaries};
pub use server::{PgServer, ServerError};

use std::fmt;
use std::io::Write as _;

/// Why no server was started.
#[derive(Debug)]
pub enum Skip {
    /// PostgreSQL's server binaries are not installed (the test may be skipped, except on CI).
    Missing(String),
    /// The binaries are there but the server did not come up: always a failure.
    Failed(ServerError),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Missing(why) => write!(f, "PostgreSQL server binaries not found: {why}"),
            Skip::Failed(e) => {
                write!(f, "the throwaway PostgreSQL server did not start: {e}")?;
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }
        }
    }
}

/// Whether the tests run under CI (`CI=true`, as CI services set it).
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// What a test does when it gets no server: for missing binaries, a loud message on a
/// developer's machine (the caller then returns) and a panic on CI; for a server that failed to
/// start, always a panic.
pub fn report_skip(test: &str, skip: &Skip) {
    match skip {
        Skip::Missing(_) if !on_ci() => {
            // Written to stderr directly: the test harness captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! SKIPPED {test}: {skip}.\n\
                 !! Install PostgreSQL's server (Debian: apt-get install postgresql) or set\n\
                 !! ETL_PG_BINDIR to the directory holding initdb, pg_ctl and postgres.\n\
                 !! Under CI=true this is a failure.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
            );
        }
        Skip::Missing(_) => panic!("{test}: {skip} (CI=true: PostgreSQL tests must run; .ci/run installs the `postgresql` package)"),
        Skip::Failed(_) => panic!("{test}: {skip}"),
    }
}

/// A fresh [`PgServer`] for this test, or (binaries missing, not on CI) a loud message and an
/// early `return` from the calling test function.
///
/// ```no_run
/// #[test]
/// fn loads_into_postgres() {
///     let pg = etl_testkit::pg_or_skip!();
///     let url = pg.create_database().unwrap();
///     // ... connect to `url`
/// }
/// ```
#[macro_export]
macro_rules! pg_or_skip {
    () => {
        match $crate::PgServer::start() {
            Ok(server) => server,
            Err(skip) => {
                $crate::report_skip(concat!(module_path!(), " (", file!(), ":", line!(), ")"), &skip);
                return;
            }
        }
    };
}
