//! Where PostgreSQL's server binaries are: `ETL_PG_BINDIR` (only there, when set), else the newest
//! `/usr/lib/postgresql/<version>/bin` (Debian's layout), else `pg_config --bindir`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The server binaries a throwaway cluster needs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `initdb`.
    pub initdb: PathBuf,
    /// `pg_ctl`.
    pub pg_ctl: PathBuf,
    /// `postgres`.
    pub postgres: PathBuf,
}

impl Binaries {
    /// The three binaries in `dir`, if all are there.
    pub fn in_dir(dir: &Path) -> Option<Binaries> {
        let b = Binaries { initdb: dir.join("initdb"), pg_ctl: dir.join("pg_ctl"), postgres: dir.join("postgres") };
        (b.initdb.is_file() && b.pg_ctl.is_file() && b.postgres.is_file()).then_some(b)
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`, or why none was found.
pub fn find_bindir() -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    // An explicit directory is the only place looked at (so a missing one can be simulated).
    if let Some(dir) = std::env::var_os("ETL_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return match Binaries::in_dir(&dir) {
            Some(_) => Ok(dir),
            None => Err(format!("no initdb, pg_ctl and postgres in ETL_PG_BINDIR={}", dir.display())),
        };
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.split('.').map(|part| part.parse::<u32>().ok()).collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.into_iter().rev().find(|(_, dir)| Binaries::in_dir(dir).is_some()) {
        return Ok(dir);
    }
    tried.push("/usr/lib/postgresql/*/bin".into());
    match Command::new("pg_config").arg("--bindir").output() {
        Ok(out) if out.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if Binaries::in_dir(&dir).is_some() {
                return Ok(dir);
            }
            tried.push(format!("pg_config --bindir ({})", dir.display()));
        }
        _ => tried.push("pg_config (not found)".into()),
    }
    Err(format!("no initdb, pg_ctl and postgres in {}", tried.join(", ")))
}
