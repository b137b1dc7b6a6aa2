//! Errors of pipeline runs and asset execution.

use std::fmt;

use etl_core::resource::BoxError;

/// The stage of a run where something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Before any data moved: bad configuration.
    Config,
    /// Pulling items from a resource.
    Extract,
    /// Turning items into rows of tables.
    Normalize,
    /// Writing to the destination.
    Load,
}

impl Step {
    /// Lower-case name (`extract`, `normalize`, `load`, `config`).
    pub fn name(self) -> &'static str {
        match self {
            Step::Config => "config",
            Step::Extract => "extract",
            Step::Normalize => "normalize",
            Step::Load => "load",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed pipeline run. The destination is unchanged: the run's transaction was rolled back.
#[derive(Debug, thiserror::Error)]
#[error("pipeline step `{step}` failed{}{}: {message}", resource.as_ref().map(|r| format!(" in resource `{r}`")).unwrap_or_default(), row.map(|r| format!(" at item {r}")).unwrap_or_default())]
pub struct PipelineError {
    /// The stage.
    pub step: Step,
    /// The resource at fault, if any.
    pub resource: Option<String>,
    /// 0-based item index within the resource where it failed, if known.
    pub row: Option<u64>,
    /// What happened.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<BoxError>,
}

impl PipelineError {
    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        PipelineError { step: Step::Config, resource: None, row: None, message: message.into(), source: None }
    }

    /// A configuration error with its cause (the message is `<message>: <cause>`).
    pub fn config_from(message: impl fmt::Display, error: BoxError) -> Self {
        PipelineError { step: Step::Config, resource: None, row: None, message: format!("{message}: {error}"), source: Some(error) }
    }

    /// A resource failed while producing items.
    pub fn extract(resource: &str, row: Option<u64>, error: BoxError) -> Self {
        PipelineError { step: Step::Extract, resource: Some(resource.to_owned()), row, message: error.to_string(), source: Some(error) }
    }

    /// An item could not be normalized.
    pub fn normalize(resource: &str, row: Option<u64>, message: impl Into<String>) -> Self {
        PipelineError { step: Step::Normalize, resource: Some(resource.to_owned()), row, message: message.into(), source: None }
    }

    /// The destination failed.
    pub fn load(message: impl Into<String>) -> Self {
        PipelineError { step: Step::Load, resource: None, row: None, message: message.into(), source: None }
    }

    /// The destination failed with an error.
    /// The message is the error's whole chain (`statement failed: COPY ...: connection closed`).
    pub fn load_from<E: std::error::Error + Send + Sync + 'static>(error: E) -> Self {
        PipelineError { step: Step::Load, resource: None, row: None, message: chain_text(&error), source: Some(Box::new(error)) }
    }
}

pub use etl_core::error::panic_text;

/// An error and its sources, joined by `: `; a source whose text the message already ends with
/// (an error that prints its cause itself) is not repeated.
pub fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("statement failed: COPY")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("db error: {0}")]
    struct Inner(#[source] Root);

    #[derive(Debug, thiserror::Error)]
    #[error("connection closed")]
    struct Root;

    #[test]
    fn the_chain_is_told_once() {
        assert_eq!(super::chain_text(&Outer(Inner(Root))), "statement failed: COPY: db error: connection closed");
    }
}
