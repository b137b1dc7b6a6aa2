//! Run config (Dagster's `Config` and run config): an asset takes a typed parameter
//! `etl::Config<T>` (`T: Deserialize`), filled from the run's config at
//! `ops.<op name>.config`, as Dagster lays it out:
//!
//! ```toml
//! [ops.daily_report.config]
//! min_orders = 5
//! ```
//!
//! Every op's config is deserialized before the run starts, so a missing or mistyped field is
//! reported with its path and nothing runs.

use std::any::type_name;

use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::asset::AssetError;
use crate::context::{AssetParam, InvokeContext};

/// A typed run config parameter: `fn my_asset(config: etl::Config<MyConfig>)`; `config.0` or
/// `*config` is the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Config<T>(pub T);

impl<T> std::ops::Deref for Config<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// How to check an op's config before a run (made by [`Config`]'s parameter glue).
#[derive(Clone, Copy)]
pub struct ConfigCheck {
    /// The config type's name, for messages.
    pub type_name: &'static str,
    /// Deserializes the op's config into the type, or names the field at fault.
    pub check: fn(&Json) -> Result<(), String>,
}

impl std::fmt::Debug for ConfigCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.type_name)
    }
}

/// Deserializes `value` into `T`, naming the path of the field at fault.
pub fn deserialize<T: DeserializeOwned>(value: &Json) -> Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("at `{path}`: {}", e.inner())
        }
    })
}

/// The config of op `op` in a run config (`ops.<op>.config`); an empty object when there is
/// none, so a type whose fields all have defaults needs no config.
pub fn op_config(run_config: Option<&Json>, op: &str) -> Json {
    run_config
        .and_then(|c| c.get("ops"))
        .and_then(|ops| ops.get(op))
        .and_then(|o| o.get("config"))
        .cloned()
        .unwrap_or_else(|| Json::Object(Default::default()))
}

/// Checks the shape of a run config: an object whose only key is `ops`, each op an object
/// with only `config`; unknown ops are named (`known` lists the ops of the run).
pub fn check_shape(run_config: &Json, known: &[&str]) -> Result<(), String> {
    let Some(top) = run_config.as_object() else { return Err("the run config is not an object (expected `{\"ops\": {...}}`)".into()) };
    for key in top.keys().filter(|k| *k != "ops") {
        return Err(format!("unknown top-level key `{key}` in the run config (expected `ops`)"));
    }
    let Some(ops) = top.get("ops") else { return Ok(()) };
    let Some(ops) = ops.as_object() else { return Err("`ops` in the run config is not an object".into()) };
    for (op, body) in ops {
        if !known.contains(&op.as_str()) {
            return Err(format!("the run config names op `{op}`, which this run does not execute (its ops: {})", known.join(", ")));
        }
        let Some(body) = body.as_object() else { return Err(format!("`ops.{op}` is not an object (expected `{{\"config\": {{...}}}}`)")) };
        if let Some(key) = body.keys().find(|k| *k != "config") {
            return Err(format!("unknown key `ops.{op}.{key}` (expected `config`)"));
        }
    }
    Ok(())
}

/// Reads a run config file: TOML (`.toml`) or JSON (anything else).
pub fn read_file(path: &std::path::Path) -> Result<Json, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the run config `{}`: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "toml") {
        let value: toml::Value = toml::from_str(&text).map_err(|e| format!("the run config `{}` is not valid TOML: {e}", path.display()))?;
        serde_json::to_value(value).map_err(|e| format!("the run config `{}`: {e}", path.display()))
    } else {
        serde_json::from_str(&text).map_err(|e| format!("the run config `{}` is not valid JSON: {e}", path.display()))
    }
}

impl<'a, T: DeserializeOwned + 'static> AssetParam<'a> for Config<T> {
    fn resolve(cx: &'a InvokeContext<'a>) -> Result<Self, AssetError> {
        let value = op_config(cx.config, &cx.context.op);
        deserialize(&value).map(Config).map_err(|e| AssetError::msg(format!("op `{}`: config {}: {e}", cx.context.op, type_name::<T>())))
    }

    fn config_check() -> Option<ConfigCheck> {
        Some(ConfigCheck { type_name: type_name::<T>(), check: |v| deserialize::<T>(v).map(drop) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Report {
        min_orders: u32,
        region: Region,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Region {
        name: String,
    }

    #[test]
    fn a_missing_or_mistyped_field_is_named_with_its_path() {
        let err = deserialize::<Report>(&json!({"min_orders": 5, "region": {"name": 3}})).unwrap_err();
        assert!(err.contains("at `region.name`") && err.contains("expected a string"), "{err}");
        let err = deserialize::<Report>(&json!({"region": {"name": "eu"}})).unwrap_err();
        assert!(err.contains("missing field `min_orders`"), "{err}");
        assert!(deserialize::<Report>(&json!({"min_orders": 5, "region": {"name": "eu"}})).is_ok());
    }

    #[test]
    fn the_run_config_has_dagsters_shape_and_unknown_ops_are_named() {
        let config = json!({"ops": {"report": {"config": {"min_orders": 5}}}});
        assert_eq!(op_config(Some(&config), "report"), json!({"min_orders": 5}));
        assert_eq!(op_config(Some(&config), "other"), json!({}));
        assert!(check_shape(&config, &["report"]).is_ok());
        assert!(check_shape(&config, &["x"]).unwrap_err().contains("op `report`"));
        assert!(check_shape(&json!({"resources": {}}), &[]).unwrap_err().contains("`resources`"));
        assert!(check_shape(&json!({"ops": {"report": {"cfg": 1}}}), &["report"]).unwrap_err().contains("ops.report.cfg"));
    }
}
