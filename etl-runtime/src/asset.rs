//! Assets: keys, specs, materializations and their metadata (Dagster's vocabulary).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

/// An asset key: one or more path parts, shown as `a/b/c`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssetKey(pub Vec<String>);

impl AssetKey {
    /// A one-part key.
    pub fn new(name: impl Into<String>) -> Self {
        AssetKey(vec![name.into()])
    }

    /// A key from `/`-separated parts (`warehouse/simple/load_dict`).
    pub fn from_path(path: &str) -> Self {
        AssetKey(path.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect())
    }

    /// The key as `a/b/c`.
    pub fn to_user_string(&self) -> String {
        self.0.join("/")
    }
}

impl fmt::Display for AssetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_user_string())
    }
}

impl From<&str> for AssetKey {
    fn from(s: &str) -> Self {
        AssetKey::from_path(s)
    }
}

impl From<String> for AssetKey {
    fn from(s: String) -> Self {
        AssetKey::from_path(&s)
    }
}

/// Where an asset was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// `module_path!()`.
    pub module_path: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
    /// `column!()`.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Everything the graph knows about one asset.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetSpec {
    /// Key.
    pub key: AssetKey,
    /// Upstream keys (may name assets no definition provides: external stubs).
    pub deps: Vec<AssetKey>,
    /// Group.
    pub group: String,
    /// Kinds (`dlt`, `duckdb`).
    pub kinds: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Owners (Dagster's `owners`: people or teams, e.g. `alice@example.com`, `team:data`).
    pub owners: Vec<String>,
    /// Name of the op (the decorated function) that materializes it.
    pub op: String,
    /// For dlt assets: the resource it stands for.
    pub dlt_resource: Option<String>,
    /// Where the op was defined.
    pub location: Location,
    /// How it is partitioned, if it is.
    pub partitions: Option<crate::partition::PartitionsDefinition>,
}

/// One column of a table schema in metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct TableColumn {
    /// Column name.
    pub name: String,
    /// dlt data type (`bigint`, `text`, ...).
    pub data_type: String,
    /// Nullable.
    pub nullable: bool,
    /// Unique.
    pub unique: bool,
    /// Other hints (`row_key`, `parent_key`, `primary_key`, ...).
    pub other: Vec<String>,
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// JSON.
    Json(Json),
    /// A table schema.
    TableSchema(Vec<TableColumn>),
}

impl MetadataValue {
    /// As JSON (for machine output and run history).
    pub fn to_json(&self) -> Json {
        match self {
            MetadataValue::Text(s) => Json::String(s.clone()),
            MetadataValue::Int(i) => Json::from(*i),
            MetadataValue::Bool(b) => Json::Bool(*b),
            MetadataValue::Json(j) => j.clone(),
            MetadataValue::TableSchema(cols) => Json::Array(
                cols.iter()
                    .map(|c| {
                        serde_json::json!({"name": c.name, "type": c.data_type, "nullable": c.nullable, "unique": c.unique, "other": c.other})
                    })
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for MetadataValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataValue::Text(s) => f.write_str(s),
            MetadataValue::Int(i) => write!(f, "{i}"),
            MetadataValue::Bool(b) => write!(f, "{b}"),
            MetadataValue::Json(j) => write!(f, "{j}"),
            MetadataValue::TableSchema(cols) => {
                let parts: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        let mut s = format!("{} {}", c.name, c.data_type);
                        if !c.nullable {
                            s.push_str(" not null");
                        }
                        if c.unique {
                            s.push_str(" unique");
                        }
                        s
                    })
                    .collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

/// The record that an asset was materialized, with metadata in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub struct Materialization {
    /// Which asset.
    pub asset_key: AssetKey,
    /// Metadata entries, in order.
    pub metadata: Vec<(String, MetadataValue)>,
}

impl Materialization {
    /// A materialization without metadata.
    pub fn new(asset_key: AssetKey) -> Self {
        Materialization { asset_key, metadata: Vec::new() }
    }

    /// Adds a metadata entry.
    pub fn with(mut self, key: impl Into<String>, value: MetadataValue) -> Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Looks a metadata entry up.
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// An error an asset returns. Any error converts into it with `?`; the chain of causes is kept
/// as text.
#[derive(Debug)]
pub struct AssetError {
    message: String,
    chain: Vec<String>,
}

impl AssetError {
    /// An error with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        AssetError { message: message.into(), chain: Vec::new() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The causes, outermost first.
    pub fn chain(&self) -> &[String] {
        &self.chain
    }
}

impl fmt::Display for AssetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for cause in &self.chain {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for AssetError {
    fn from(e: E) -> Self {
        let mut chain = Vec::new();
        let mut cur = e.source();
        while let Some(c) = cur {
            let text = c.to_string();
            // thiserror messages often embed their source already; skip exact repeats.
            if !e.to_string().ends_with(&text) {
                chain.push(text);
            }
            cur = c.source();
        }
        AssetError { message: e.to_string(), chain }
    }
}

/// What an asset function returns: `Ok(materializations)` or an error. `?` works inside.
pub type Materializations = Result<Vec<Materialization>, AssetError>;
