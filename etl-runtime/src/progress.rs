//! Progress bars of runs on a terminal, and log lines printed above them. (A pipeline's own
//! progress lines are `etl_pipeline::progress`.)

use std::io::Write;
use std::time::Duration;

/// Progress bars of a run on a terminal (indicatif): one spinner per running op, showing its
/// elapsed time and the items its pipeline has extracted, replaced by a result line when done.
#[derive(Clone)]
pub struct RunBars {
    multi: indicatif::MultiProgress,
}

impl RunBars {
    /// Bars on stderr, if stderr is a terminal. Log lines written through [`StderrWriter`]
    /// are printed above the bars.
    pub fn for_stderr() -> Option<Self> {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(|| RunBars { multi: BARS.get_or_init(indicatif::MultiProgress::new).clone() })
    }

    /// Starts the spinner of an op attempt.
    pub fn start(&self, op: &str, attempt: u32) -> indicatif::ProgressBar {
        let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed}] {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_prefix(if attempt > 1 { format!("{op} (attempt {attempt})") } else { op.to_owned() });
        bar.set_message("running");
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Replaces an op's spinner by a line that stays.
    pub fn finish(&self, bar: &indicatif::ProgressBar, op: &str, attempt: u32, error: Option<&crate::asset::AssetError>) {
        let took = bar.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let line = match error {
            None => format!("✔ {op} done in {took:.2}s"),
            Some(e) => format!("✘ {op} failed in {took:.2}s (attempt {attempt}): {e}"),
        };
        let _ = self.multi.println(line);
    }

    /// Ends the bars of a run: leaves the cursor on a new line below them.
    pub fn done(&self) {
        let _ = self.multi.clear();
        eprintln!();
    }
}

static BARS: std::sync::OnceLock<indicatif::MultiProgress> = std::sync::OnceLock::new();

/// stderr for log lines: each line is printed with the progress bars suspended, so logs and bars
/// do not overwrite each other.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StderrWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(Vec::new())
    }
}

/// One log line, written to stderr when dropped.
pub struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let write = || {
            let _ = std::io::stderr().lock().write_all(&self.0);
        };
        match BARS.get() {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}
