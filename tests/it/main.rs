//! End-to-end tests: one binary (one link-time registry) for all of them.

mod failure;
mod incremental;
mod lesson;
mod metadata;
mod arrow;
mod cli;
mod dataset;
mod conformance;
mod examples;
mod nested;
mod options;
mod partitions;
mod pipeline_api;
mod pools;
mod run_limits;
mod postgres;
mod resources;
mod routing;
mod sources;
mod sql;
mod transformers;
mod ui;
mod ui_browser;
mod workers;
