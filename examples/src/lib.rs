//! Shared helpers of the examples.

/// What the benchmarks measure of a method run in a child process: its time and peak memory.
pub mod measure {
    use std::ffi::OsStr;
    use std::process::Command;
    use std::time::Instant;

    use anyhow::{bail, Context as _};

    /// This process's peak resident memory (`VmHWM`), in MB.
    pub fn peak_rss_mb() -> f64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// Prints the one machine-readable line a driver reads ([`child`]): the time since `started`,
    /// the peak memory, and `extra` (`, "rows": 5` or empty).
    pub fn report(started: Instant, extra: &str) {
        println!("{{\"secs\": {}, \"peak_rss_mb\": {}{extra}}}", started.elapsed().as_secs_f64(), peak_rss_mb());
    }

    /// Runs this binary with `args` and reads the line its [`report`] printed: `(secs, peak MB)`.
    pub fn child<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S]) -> anyhow::Result<(f64, f64)> {
        let out = Command::new(std::env::current_exe()?).args(args).output()?;
        if !out.status.success() {
            bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("{}").to_owned();
        let v: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("reading {line:?}"))?;
        Ok((v["secs"].as_f64().unwrap_or(0.0), v["peak_rss_mb"].as_f64().unwrap_or(0.0)))
    }

    /// The median (the upper one of an even count).
    pub fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}
