//! Logs of asset binaries: `tracing` to stderr as text or JSON, and every event inside a run's
//! span copied into that run's history (so `run <id>` shows the log lines of a past run).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::history::{active_log, Event, EventKind};

/// Output format of the logs on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the run and asset of the span it happened in.
    Json,
}

/// Installs the global subscriber: stderr output filtered by `filter` (or `RUST_LOG`), and run
/// history capture at `info` and above whatever the filter. Does nothing if one is installed.
pub fn init(filter: &str, format: LogFormat) {
    let env = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let stderr = match format {
        LogFormat::Text => {
            tracing_subscriber::fmt::layer().with_writer(crate::progress::StderrWriter).with_target(false).with_filter(env).boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(env)
            .boxed(),
    };
    let history = HistoryLayer.with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::registry().with(stderr).with(history).try_init();
}

/// Copies events inside a span that carries `run_id` into that run's history.
pub struct HistoryLayer;

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct SpanFields(BTreeMap<String, String>);

impl<S> Layer<S> for HistoryLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        fields.0.retain(|k, _| matches!(k.as_str(), "run_id" | "op" | "asset"));
        if let (false, Some(span)) = (fields.0.is_empty(), ctx.span(id)) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut context: BTreeMap<String, String> = BTreeMap::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(SpanFields(f)) = span.extensions().get::<SpanFields>() {
                    for (k, v) in f {
                        context.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
        // The executor and the asset context record their own events, structured.
        if matches!(event.metadata().target(), "etl_runtime::execute" | "etl_runtime::context") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(run_id) = fields.0.get("run_id").or(context.get("run_id")).cloned() else { return };
        let Some(log) = active_log(&run_id) else { return };
        let message = fields.0.remove("message").unwrap_or_default();
        let mut text = message;
        for (k, v) in fields.0.iter().filter(|(k, _)| !matches!(k.as_str(), "run_id" | "op" | "asset")) {
            let _ = write!(text, " {k}={v}");
        }
        let mut e = Event::new(&run_id, EventKind::Log).message(text.trim_start().to_owned()).data(serde_json::json!({
            "level": event.metadata().level().as_str(),
            "target": event.metadata().target(),
        }));
        e.op = fields.0.get("op").or(context.get("op")).cloned();
        e.asset = context.get("asset").cloned();
        log.emit(e);
    }
}
