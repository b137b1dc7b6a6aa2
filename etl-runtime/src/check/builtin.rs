//! Built-in checks, as Dagster's check factories make them: column schema change
//! (`build_column_schema_change_checks`), metadata bounds (`build_metadata_bounds_checks`) and
//! last-update freshness (`build_last_update_freshness_checks`). Each is a builder that becomes
//! a [`CheckSpec`]; register it with `etl::Definitions::check`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::{AssetCheckResult, CheckInput, CheckSpec, Severity};
use crate::asset::{AssetError, AssetKey, MetadataValue};

/// Fails when the asset's columns (`dagster/column_schema`) changed since its previous
/// materialization: columns added, removed or retyped. Severity warn unless set.
#[derive(Debug, Clone)]
pub struct ColumnSchemaChange {
    asset: AssetKey,
    severity: Severity,
    blocking: bool,
}

/// A column schema change check of `asset`.
pub fn column_schema_change(asset: impl Into<AssetKey>) -> ColumnSchemaChange {
    ColumnSchemaChange { asset: asset.into(), severity: Severity::Warn, blocking: false }
}

/// `severity` and `blocking`, the options every built-in check that can block has.
macro_rules! severity_and_blocking {
    ($check:ty) => {
        impl $check {
            /// The severity of a failure.
            pub fn severity(mut self, severity: Severity) -> Self {
                self.severity = severity;
                self
            }

            /// Whether a failure (with severity error) skips the downstream.
            pub fn blocking(mut self, blocking: bool) -> Self {
                self.blocking = blocking;
                self
            }
        }
    };
}

severity_and_blocking!(ColumnSchemaChange);
severity_and_blocking!(MetadataBounds);

/// `name -> type` of a `dagster/column_schema` value as stored (JSON).
fn columns(schema: &Json) -> BTreeMap<String, String> {
    schema
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter_map(|c| Some((c.get("name")?.as_str()?.to_owned(), c.get("type").and_then(Json::as_str).unwrap_or("").to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The differences between two column sets: added, removed, retyped (`name: old -> new`).
pub fn schema_diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let added = after.keys().filter(|k| !before.contains_key(*k)).cloned().collect();
    let removed = before.keys().filter(|k| !after.contains_key(*k)).cloned().collect();
    let retyped = after
        .iter()
        .filter_map(|(k, t)| before.get(k).filter(|old| *old != t).map(|old| format!("{k}: {old} -> {t}")))
        .collect();
    (added, removed, retyped)
}

impl From<ColumnSchemaChange> for CheckSpec {
    fn from(c: ColumnSchemaChange) -> CheckSpec {
        let severity = c.severity;
        let check = move |input: &CheckInput<'_>| -> Result<AssetCheckResult, AssetError> {
            let Some(current) = input.materialization.and_then(|m| m.get("dagster/column_schema")) else {
                return Ok(AssetCheckResult::failed("the materialization has no `dagster/column_schema`").severity(severity));
            };
            let current = columns(&current.to_json());
            let Some(store) = input.store else { return Ok(AssetCheckResult::passed().description("no history to compare with")) };
            // The newest materialization of another run (this run's may be stored already).
            let history = store.asset_history_newest(input.asset, 2)?;
            let previous = history.events.iter().rev().find(|e| Some(e.run_id.as_str()) != input.run_id);
            let Some(previous) = previous else {
                return Ok(AssetCheckResult::passed().description("first materialization: nothing to compare with"));
            };
            let before = columns(previous.data.get("dagster/column_schema").unwrap_or(&Json::Null));
            let (added, removed, retyped) = schema_diff(&before, &current);
            let mut parts = Vec::new();
            for (what, list) in [("added", &added), ("removed", &removed), ("retyped", &retyped)] {
                if !list.is_empty() {
                    parts.push(format!("{what}: {}", list.join(", ")));
                }
            }
            let result = if parts.is_empty() {
                AssetCheckResult::passed().description(format!("no column changes since run {}", previous.run_id))
            } else {
                AssetCheckResult::failed(format!("columns changed since run {}: {}", previous.run_id, parts.join("; "))).severity(severity)
            };
            Ok(result
                .with("added", MetadataValue::Json(json!(added)))
                .with("removed", MetadataValue::Json(json!(removed)))
                .with("retyped", MetadataValue::Json(json!(retyped)))
                .with("previous_run_id", MetadataValue::Text(previous.run_id.clone())))
        };
        let description = "columns added, removed or retyped since the previous materialization";
        CheckSpec::builtin("column_schema_change", c.asset, description, check).blocking(c.blocking)
    }
}

/// Fails when a numeric metadata value of the materialization (`rows_loaded`,
/// `dagster/row_count`, any key) is outside bounds. Severity warn unless set.
#[derive(Debug, Clone)]
pub struct MetadataBounds {
    asset: AssetKey,
    key: String,
    min: Option<f64>,
    max: Option<f64>,
    severity: Severity,
    blocking: bool,
}

/// A bounds check of metadata `key` of `asset`.
pub fn metadata_bounds(asset: impl Into<AssetKey>, key: impl Into<String>) -> MetadataBounds {
    MetadataBounds { asset: asset.into(), key: key.into(), min: None, max: None, severity: Severity::Warn, blocking: false }
}

impl MetadataBounds {
    /// Lowest value allowed (inclusive).
    pub fn min(mut self, min: f64) -> Self {
        self.min = Some(min);
        self
    }

    /// Highest value allowed (inclusive).
    pub fn max(mut self, max: f64) -> Self {
        self.max = Some(max);
        self
    }
}

impl From<MetadataBounds> for CheckSpec {
    fn from(b: MetadataBounds) -> CheckSpec {
        let name = format!("{}_bounds", b.key.replace(['/', ' '], "_"));
        let bounds = match (b.min, b.max) {
            (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
            (Some(lo), None) => format!("at least {lo}"),
            (None, Some(hi)) => format!("at most {hi}"),
            (None, None) => "present".to_owned(),
        };
        let description = format!("`{}` is {bounds}", b.key);
        let MetadataBounds { key, min, max, severity, asset, blocking } = b;
        let check = move |input: &CheckInput<'_>| -> Result<AssetCheckResult, AssetError> {
            let value = input.materialization.and_then(|m| m.get(&key)).and_then(|v| match v {
                MetadataValue::Int(i) => Some(*i as f64),
                MetadataValue::Json(j) => j.as_f64(),
                MetadataValue::Text(t) => t.trim().parse().ok(),
                _ => None,
            });
            let Some(value) = value else {
                return Ok(AssetCheckResult::failed(format!("the materialization has no numeric `{key}`")).severity(severity));
            };
            let low = min.is_some_and(|lo| value < lo);
            let high = max.is_some_and(|hi| value > hi);
            let result = if low || high {
                AssetCheckResult::failed(format!("`{key}` is {value}, {}", if low { format!("below {}", min.unwrap_or_default()) } else { format!("above {}", max.unwrap_or_default()) }))
                    .severity(severity)
            } else {
                AssetCheckResult::passed().description(format!("`{key}` is {value}"))
            };
            Ok(result.with(key.clone(), MetadataValue::Json(json!(value))))
        };
        CheckSpec::builtin(name, asset, description, check).blocking(blocking)
    }
}

/// Fails when the asset was last materialized longer than `max_lag` ago. Evaluated after each
/// materialization and by the daemon (every minute), which is how a stale table is noticed.
#[derive(Debug, Clone)]
pub struct LastUpdateFreshness {
    asset: AssetKey,
    max_lag: Duration,
    severity: Severity,
}

/// A freshness check of `asset`: materialized within `max_lag`.
pub fn last_update_freshness(asset: impl Into<AssetKey>, max_lag: Duration) -> LastUpdateFreshness {
    LastUpdateFreshness { asset: asset.into(), max_lag, severity: Severity::Warn }
}

impl LastUpdateFreshness {
    /// The severity of a stale asset.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

fn lag_text(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}m {}s", s / 60, s % 60),
    }
}

impl From<LastUpdateFreshness> for CheckSpec {
    fn from(f: LastUpdateFreshness) -> CheckSpec {
        let LastUpdateFreshness { asset, max_lag, severity } = f;
        let max = chrono::Duration::from_std(max_lag).unwrap_or(chrono::Duration::MAX);
        let check = move |input: &CheckInput<'_>| -> Result<AssetCheckResult, AssetError> {
            let last = if input.materialization.is_some() {
                Some(input.now)
            } else {
                let Some(store) = input.store else { return Err(AssetError::msg("no instance storage to read the last materialization from")) };
                store.latest_materializations(std::slice::from_ref(input.asset))?.pop().flatten().map(|e| e.ts)
            };
            let Some(last) = last else {
                return Ok(AssetCheckResult::failed("never materialized").severity(severity));
            };
            let lag = input.now - last;
            let result = if lag <= max {
                AssetCheckResult::passed().description(format!("materialized {} ago (allowed {})", lag_text(lag), lag_text(max)))
            } else {
                AssetCheckResult::failed(format!("stale: last materialized {} ago, allowed {}", lag_text(lag), lag_text(max))).severity(severity)
            };
            Ok(result
                .with("last_updated", MetadataValue::Text(last.to_rfc3339()))
                .with("lag_seconds", MetadataValue::Int(lag.num_seconds())))
        };
        let description = format!("materialized within the last {}", lag_text(max));
        let mut spec = CheckSpec::builtin("freshness", asset, description, check);
        spec.daemon_interval_secs = Some(60);
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_diff_names_added_removed_and_retyped_columns() {
        let m = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect::<BTreeMap<_, _>>();
        let (added, removed, retyped) = schema_diff(&m(&[("id", "bigint"), ("name", "text"), ("x", "bigint")]), &m(&[("id", "text"), ("name", "text"), ("y", "bool")]));
        assert_eq!(added, ["y"]);
        assert_eq!(removed, ["x"]);
        assert_eq!(retyped, ["id: bigint -> text"]);
    }

    #[test]
    fn metadata_bounds_check_the_value_and_name_a_missing_key() {
        let spec: CheckSpec = metadata_bounds("orders", "rows_loaded").min(10.0).severity(Severity::Error).blocking(true).into();
        assert_eq!(spec.name, "rows_loaded_bounds");
        assert!(spec.blocking);
        let super::super::CheckKind::Builtin(f) = &spec.kind else { panic!("built in") };
        let key = AssetKey::new("orders");
        let m = crate::asset::Materialization::new(key.clone()).with("rows_loaded", MetadataValue::Int(3));
        let input = CheckInput { asset: &key, materialization: Some(&m), run_id: None, store: None, now: chrono::Utc::now() };
        let r = f(&input).unwrap();
        assert!(r.blocks(), "{r:?}");
        assert_eq!(r.description.as_deref(), Some("`rows_loaded` is 3, below 10"));
        let empty = crate::asset::Materialization::new(key.clone());
        let input = CheckInput { materialization: Some(&empty), ..input };
        assert!(f(&input).unwrap().description.unwrap().contains("no numeric `rows_loaded`"));
    }
}
