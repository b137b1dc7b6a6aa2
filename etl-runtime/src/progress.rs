//! Progress reporting of pipeline runs (dlt's `progress=`).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use crate::error::PipelineError;

/// How a pipeline reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Nothing beyond `tracing` events.
    #[default]
    None,
    /// Per-stage counters printed to stderr (dlt's `progress="log"`): rows extracted per resource,
    /// rows normalized per table, the load.
    Log,
}

/// Receives progress events during a run.
pub(crate) struct ProgressSink {
    mode: Progress,
    pipeline: String,
}

impl ProgressSink {
    pub(crate) fn new(mode: Progress, pipeline: &str) -> Self {
        ProgressSink { mode, pipeline: pipeline.to_owned() }
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        if self.mode == Progress::Log {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "[{}] {}", self.pipeline, text);
        }
    }

    /// Called after each item; prints every 100k items, and moves the op's progress bar (if the
    /// run shows bars) every 1,000.
    pub(crate) fn extracted(&mut self, resource: &str, items: u64) {
        if items % 1_000 == 0 {
            OP_BAR.with(|bar| {
                if let Some(bar) = bar.borrow().as_ref() {
                    bar.set_message(format!("{}: {resource}: {items} items extracted", self.pipeline));
                }
            });
        }
        if items % 100_000 == 0 {
            self.line(format_args!("Extract: {resource}: {items} items"));
        }
    }

    pub(crate) fn resource_done(&mut self, resource: &str, root_rows: u64, all_rows: u64, took: Duration) {
        tracing::info!(pipeline = %self.pipeline, resource, root_rows, all_rows, "resource extracted and normalized");
        self.line(format_args!(
            "Extract: {resource}: {root_rows} rows; Normalize: {all_rows} rows in all tables ({:.3}s)",
            took.as_secs_f64()
        ));
    }

    pub(crate) fn finished(&mut self, loaded: bool, rows: &BTreeMap<String, u64>, took: chrono::Duration) {
        tracing::info!(pipeline = %self.pipeline, loaded, "run finished");
        if !loaded {
            self.line(format_args!("Load: nothing to load"));
            return;
        }
        let jobs: Vec<String> = rows.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        self.line(format_args!(
            "Load: {} jobs completed ({}) in {:.3}s",
            rows.len(),
            jobs.join(", "),
            took.num_microseconds().unwrap_or(0) as f64 / 1e6
        ));
    }

    pub(crate) fn pending(&mut self, count: usize, dir: &std::path::Path) {
        tracing::warn!(pipeline = %self.pipeline, count, "pending packages of failed runs are kept in {}", dir.display());
        self.line(format_args!(
            "{count} pending package(s) of failed or killed runs are kept in {}; load them with `load-pending` or discard them with `drop-pending`",
            dir.display()
        ));
    }

    pub(crate) fn failed(&mut self, error: &PipelineError) {
        tracing::error!(pipeline = %self.pipeline, step = %error.step, "run failed: {error}");
        self.line(format_args!("Failed: {error}; the destination is unchanged"));
    }
}

thread_local! {
    /// The progress bar of the op running on this thread, if the run shows bars.
    static OP_BAR: std::cell::RefCell<Option<indicatif::ProgressBar>> = const { std::cell::RefCell::new(None) };
}

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

    /// Runs `f` with `bar` as this thread's op bar.
    pub fn with_bar<T>(bar: &indicatif::ProgressBar, f: impl FnOnce() -> T) -> T {
        OP_BAR.with(|b| *b.borrow_mut() = Some(bar.clone()));
        let out = f();
        OP_BAR.with(|b| *b.borrow_mut() = None);
        out
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
