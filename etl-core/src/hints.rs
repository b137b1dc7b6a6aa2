//! Hints a resource gives about its table: name, write disposition, keys, nesting, columns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::HintError;

/// dlt's data types. The DuckDB type each maps to is [`DataType::duckdb_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// `VARCHAR`.
    Text,
    /// `DOUBLE`.
    Double,
    /// `BOOLEAN`.
    Bool,
    /// `TIMESTAMP WITH TIME ZONE` (or a precision/zone variant from the column hints).
    Timestamp,
    /// `BIGINT` (or a narrower/wider integer from the precision hint).
    Bigint,
    /// `BLOB`.
    Binary,
    /// `JSON`: nested data below `max_table_nesting`, or hinted.
    Json,
    /// `DECIMAL(p, s)`, by default `DECIMAL(38,9)`.
    Decimal,
    /// dlt's `wei`: a large integer (Ethereum's unit), `DECIMAL(38,0)` in DuckDB and
    /// `numeric(156,78)` in PostgreSQL. Only from a column hint; values up to 38 digits.
    Wei,
    /// `DATE`.
    Date,
    /// `TIME`.
    Time,
}

impl DataType {
    /// All types, in the order dlt lists them.
    pub const ALL: [DataType; 11] = [
        DataType::Text,
        DataType::Double,
        DataType::Bool,
        DataType::Timestamp,
        DataType::Bigint,
        DataType::Binary,
        DataType::Json,
        DataType::Decimal,
        DataType::Wei,
        DataType::Date,
        DataType::Time,
    ];

    /// dlt's name of the type (`bigint`, `text`, ...), also the suffix of variant columns.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Text => "text",
            DataType::Double => "double",
            DataType::Bool => "bool",
            DataType::Timestamp => "timestamp",
            DataType::Bigint => "bigint",
            DataType::Binary => "binary",
            DataType::Json => "json",
            DataType::Decimal => "decimal",
            DataType::Wei => "wei",
            DataType::Date => "date",
            DataType::Time => "time",
        }
    }

    /// The DuckDB column type dlt's DuckDB destination uses for this type and these hints.
    pub fn duckdb_type(self, precision: Option<u32>, scale: Option<u32>, timezone: Option<bool>) -> String {
        match self {
            DataType::Text => "VARCHAR".into(),
            DataType::Double => "DOUBLE".into(),
            DataType::Bool => "BOOLEAN".into(),
            DataType::Timestamp => {
                let tz = timezone.unwrap_or(true);
                match (tz, precision) {
                    (false, Some(0)) => "TIMESTAMP_S".into(),
                    (false, Some(p)) if p <= 3 => "TIMESTAMP_MS".into(),
                    (false, Some(p)) if p > 6 => "TIMESTAMP_NS".into(),
                    (false, _) => "TIMESTAMP".into(),
                    (true, _) => "TIMESTAMP WITH TIME ZONE".into(),
                }
            }
            DataType::Bigint => match precision {
                Some(p) if p <= 8 => "TINYINT".into(),
                Some(p) if p <= 16 => "SMALLINT".into(),
                Some(p) if p <= 32 => "INTEGER".into(),
                Some(p) if p > 64 => "HUGEINT".into(),
                _ => "BIGINT".into(),
            },
            DataType::Binary => "BLOB".into(),
            DataType::Json => "JSON".into(),
            DataType::Decimal => {
                format!("DECIMAL({},{})", precision.unwrap_or(38), scale.unwrap_or(9))
            }
            // dlt's DuckDB `wei_precision`.
            DataType::Wei => format!("DECIMAL({},{})", precision.unwrap_or(38), scale.unwrap_or(0)),
            DataType::Date => "DATE".into(),
            DataType::Time => "TIME".into(),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DataType {
    type Err = HintError;
    fn from_str(s: &str) -> Result<Self, HintError> {
        DataType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .or(match s {
                "complex" => Some(DataType::Json),
                _ => None,
            })
            .ok_or_else(|| HintError::UnknownDataType(s.to_owned()))
    }
}

/// How the rows of a load are written into a table that already has data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteDisposition {
    /// Add the new rows (the default).
    #[default]
    Append,
    /// Replace the table (and its child tables) with this load's rows.
    Replace,
    /// Merge on `primary_key` / `merge_key`; without keys it appends.
    Merge,
    /// dlt's own bookkeeping tables (`_dlt_version`, `_dlt_loads`), as stored schemas spell
    /// them. Not for resources: dlt's loader refuses rows for such a table, and a pipeline run
    /// with a selected `skip` resource fails before pulling anything (deselect a resource,
    /// `selected = false`, to feed its transformers without loading it).
    Skip,
}

impl WriteDisposition {
    /// dlt's spelling.
    pub fn name(self) -> &'static str {
        match self {
            WriteDisposition::Append => "append",
            WriteDisposition::Replace => "replace",
            WriteDisposition::Merge => "merge",
            WriteDisposition::Skip => "skip",
        }
    }
}

impl fmt::Display for WriteDisposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WriteDisposition {
    type Err = HintError;
    fn from_str(s: &str) -> Result<Self, HintError> {
        match s {
            "append" => Ok(WriteDisposition::Append),
            "replace" => Ok(WriteDisposition::Replace),
            "merge" => Ok(WriteDisposition::Merge),
            other => Err(HintError::UnknownWriteDisposition(other.to_owned())),
        }
    }
}

/// How `merge` combines a load with the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MergeStrategy {
    /// Delete rows whose key matches a loaded row (and their nested rows), insert the load (the
    /// default).
    #[default]
    DeleteInsert,
    /// Like delete-insert, with root `_dlt_id` = hash of the primary key (stable ids).
    Upsert,
    /// Slowly changing dimension type 2: root `_dlt_id` = hash of the row; rows that changed or
    /// disappeared are retired (`valid_to` set), new versions are inserted with `valid_from`.
    Scd2,
}

/// Column names of an `scd2` table's validity window (dlt's `validity_column_names`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scd2Columns {
    /// When the record version became valid (default `_dlt_valid_from`).
    pub valid_from: String,
    /// When it stopped being valid; NULL while active (default `_dlt_valid_to`).
    pub valid_to: String,
}

impl Default for Scd2Columns {
    fn default() -> Self {
        Scd2Columns { valid_from: "_dlt_valid_from".into(), valid_to: "_dlt_valid_to".into() }
    }
}

impl FromStr for MergeStrategy {
    type Err = HintError;
    fn from_str(s: &str) -> Result<Self, HintError> {
        match s {
            "delete-insert" => Ok(MergeStrategy::DeleteInsert),
            "upsert" => Ok(MergeStrategy::Upsert),
            "scd2" => Ok(MergeStrategy::Scd2),
            other => Err(HintError::UnknownMergeStrategy(other.to_owned())),
        }
    }
}

/// A column hint (`columns=` in dlt). Unset fields leave the inferred value alone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ColumnHint {
    /// Column name as given (normalized when applied).
    pub name: String,
    /// Declared type; a hinted column with a type is created even without data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataType>,
    /// Nullability; primary-key columns are never nullable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
    /// Precision (bits for bigint, digits for decimal, fractional digits for timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u32>,
    /// Scale of a decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// Whether a timestamp keeps its time zone (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<bool>,
    /// Part of the primary key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<bool>,
    /// Part of the merge key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_key: Option<bool>,
    /// Unique values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<bool>,
    /// Rows with a non-null value here are deleted on merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_delete: Option<bool>,
    /// Sort key for deduplication on merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_sort: Option<String>,
}

impl ColumnHint {
    /// A hint for the column `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ColumnHint { name: name.into(), ..Default::default() }
    }

    /// Sets the data type.
    pub fn data_type(mut self, t: DataType) -> Self {
        self.data_type = Some(t);
        self
    }

    /// Sets nullability.
    pub fn nullable(mut self, nullable: bool) -> Self {
        self.nullable = Some(nullable);
        self
    }

    /// Sets precision.
    pub fn precision(mut self, p: u32) -> Self {
        self.precision = Some(p);
        self
    }

    /// Sets scale.
    pub fn scale(mut self, s: u32) -> Self {
        self.scale = Some(s);
        self
    }

    /// Sets whether a timestamp keeps its zone.
    pub fn timezone(mut self, tz: bool) -> Self {
        self.timezone = Some(tz);
        self
    }

    /// Sets the sort order that picks the one row per key kept on merge (dlt's `dedup_sort`):
    /// `"asc"` or `"desc"`. Any other value is an error when the resource runs (and a compile
    /// error on the literal in `#[etl::resource(columns = [...])]`).
    pub fn dedup_sort(mut self, order: impl Into<String>) -> Self {
        self.dedup_sort = Some(order.into());
        self
    }

    /// Marks the column as a hard-delete flag on merge: a row with a non-null (and not `false`)
    /// value here deletes its record.
    pub fn hard_delete(mut self, yes: bool) -> Self {
        self.hard_delete = Some(yes);
        self
    }

    /// Checks the values a builder or a struct literal may have set freely.
    pub fn validate(&self) -> Result<(), HintError> {
        match self.dedup_sort.as_deref() {
            None | Some("asc" | "desc") => Ok(()),
            Some(other) => Err(HintError::BadDedupSort { column: self.name.clone(), value: other.to_owned() }),
        }
    }

    /// Parses dlt's `{"name": {"data_type": ..., ...}}` form of one column.
    pub fn from_json(name: &str, spec: &serde_json::Value) -> Result<Self, HintError> {
        let mut obj = spec.clone();
        if let Some(map) = obj.as_object_mut() {
            map.insert("name".into(), serde_json::Value::String(name.to_owned()));
        }
        let hint: ColumnHint =
            serde_json::from_value(obj).map_err(|e| HintError::BadColumnHint { column: name.to_owned(), message: e.to_string() })?;
        hint.validate()?;
        Ok(hint)
    }
}

/// Parses a `columns` hint given as a JSON object (dlt's dict form) or a list of column objects.
pub fn columns_from_json(spec: &serde_json::Value) -> Result<Vec<ColumnHint>, HintError> {
    match spec {
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| ColumnHint::from_json(k, v)).collect(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| {
                let name = item.get("name").and_then(|n| n.as_str()).ok_or_else(|| HintError::BadColumnHint {
                    column: "?".into(),
                    message: "a column in a list of columns needs a `name`".into(),
                })?;
                ColumnHint::from_json(name, item)
            })
            .collect(),
        other => Err(HintError::BadColumnHint { column: "?".into(), message: format!("expected an object or a list, got {other}") }),
    }
}

/// What happens when data does not fit the existing schema (dlt's `schema_contract`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContractMode {
    /// Change the schema (the default).
    #[default]
    Evolve,
    /// Fail the run, naming the table, column, value and row.
    Freeze,
    /// Drop the whole row.
    DiscardRow,
    /// Drop the value that does not fit, keep the rest of the row.
    DiscardValue,
}

impl ContractMode {
    /// dlt's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ContractMode::Evolve => "evolve",
            ContractMode::Freeze => "freeze",
            ContractMode::DiscardRow => "discard_row",
            ContractMode::DiscardValue => "discard_value",
        }
    }
}

impl FromStr for ContractMode {
    type Err = HintError;
    fn from_str(s: &str) -> Result<Self, HintError> {
        match s {
            "evolve" => Ok(ContractMode::Evolve),
            "freeze" => Ok(ContractMode::Freeze),
            "discard_row" => Ok(ContractMode::DiscardRow),
            "discard_value" => Ok(ContractMode::DiscardValue),
            other => Err(HintError::BadContract(format!(
                "unknown contract mode `{other}`; expected one of evolve, freeze, discard_row, discard_value"
            ))),
        }
    }
}

/// Contract modes for new tables, new columns and values of another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SchemaContract {
    /// New tables (including nested tables).
    pub tables: ContractMode,
    /// New columns of tables that already have data.
    pub columns: ContractMode,
    /// Values that would need a variant column.
    pub data_type: ContractMode,
}

impl SchemaContract {
    /// The same mode for all three.
    pub fn all(mode: ContractMode) -> Self {
        SchemaContract { tables: mode, columns: mode, data_type: mode }
    }

    /// Parses dlt's forms: `"freeze"` or `{"tables": .., "columns": .., "data_type": ..}`.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, HintError> {
        match v {
            serde_json::Value::String(s) => Ok(SchemaContract::all(s.parse()?)),
            serde_json::Value::Object(m) => {
                let mut c = SchemaContract::default();
                for (k, v) in m {
                    let mode: ContractMode = v.as_str().ok_or_else(|| HintError::BadContract(format!("`{k}` must be a string")))?.parse()?;
                    match k.as_str() {
                        "tables" => c.tables = mode,
                        "columns" => c.columns = mode,
                        "data_type" => c.data_type = mode,
                        other => {
                            return Err(HintError::BadContract(format!("unknown contract entity `{other}`; expected tables, columns, data_type")))
                        }
                    }
                }
                Ok(c)
            }
            other => Err(HintError::BadContract(format!("expected a mode or an object, got {other}"))),
        }
    }
}

/// Everything a resource says about the table it fills.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceHints {
    /// Resource name (also the table name unless `table_name` is set).
    pub name: String,
    /// Table to write to, if not the resource name.
    pub table_name: Option<String>,
    /// Write disposition.
    pub write_disposition: WriteDisposition,
    /// Merge strategy (with `write_disposition` merge).
    pub merge_strategy: MergeStrategy,
    /// Validity column names for `scd2`.
    pub scd2_columns: Scd2Columns,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// Merge key columns.
    pub merge_key: Vec<String>,
    /// Nesting depth below which data is stored as JSON (overrides the source's).
    pub max_table_nesting: Option<u32>,
    /// Column hints, in declaration order.
    pub columns: Vec<ColumnHint>,
    /// Whether the resource is selected when its source runs.
    pub selected: bool,
    /// Description (the resource function's doc comment).
    pub description: Option<String>,
    /// Schema contract (overrides the source's).
    pub schema_contract: Option<SchemaContract>,
    /// Incremental cursor.
    pub incremental: Option<crate::incremental::Incremental>,
    /// For a transformer: the root resource its items come from (through any chain of
    /// transformers); dagster-dlt's default asset dep is `<source>_<root>`.
    pub data_from: Option<String>,
    /// Its producer runs on a thread of its own (`Resource::parallelized`): the pipeline starts
    /// it ahead, with the other parallelized resources of the source.
    pub parallelized: bool,
    /// Whether running the resource again yields its items again (`Resource::replayable`);
    /// `None`: the default of its kind (see [`crate::Resource::is_replayable`]). Decides what a
    /// failed run keeps of its items.
    pub replayable: Option<bool>,
}

impl ResourceHints {
    /// The hints as JSON (kept with the items of a failed load, so they load the same way later).
    pub fn to_json(&self) -> serde_json::Value {
        let mode = |m: ContractMode| m.name();
        serde_json::json!({
            "name": self.name,
            "table_name": self.table_name,
            "write_disposition": self.write_disposition.name(),
            "merge_strategy": match self.merge_strategy {
                MergeStrategy::DeleteInsert => "delete-insert",
                MergeStrategy::Upsert => "upsert",
                MergeStrategy::Scd2 => "scd2",
            },
            "validity_column_names": [self.scd2_columns.valid_from, self.scd2_columns.valid_to],
            "primary_key": self.primary_key,
            "merge_key": self.merge_key,
            "max_table_nesting": self.max_table_nesting,
            "columns": self.columns,
            "selected": self.selected,
            "description": self.description,
            "schema_contract": self.schema_contract.map(|c| serde_json::json!({
                "tables": mode(c.tables), "columns": mode(c.columns), "data_type": mode(c.data_type)
            })),
            "incremental": self.incremental.as_ref().map(crate::incremental::Incremental::to_json),
            "data_from": self.data_from,
        })
    }

    /// Reads [`ResourceHints::to_json`].
    pub fn from_json(v: &serde_json::Value) -> Result<Self, HintError> {
        let strings = |k: &str| -> Vec<String> {
            v.get(k).and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
        };
        let mut hints = ResourceHints::new(v.get("name").and_then(|n| n.as_str()).unwrap_or_default());
        hints.table_name = v.get("table_name").and_then(|n| n.as_str()).map(str::to_owned);
        hints.write_disposition = v.get("write_disposition").and_then(|n| n.as_str()).unwrap_or("append").parse()?;
        hints.merge_strategy = v.get("merge_strategy").and_then(|n| n.as_str()).unwrap_or("delete-insert").parse()?;
        if let [from, to] = strings("validity_column_names").as_slice() {
            hints.scd2_columns = Scd2Columns { valid_from: from.clone(), valid_to: to.clone() };
        }
        hints.primary_key = strings("primary_key");
        hints.merge_key = strings("merge_key");
        hints.max_table_nesting = match v.get("max_table_nesting").filter(|n| !n.is_null()) {
            None => None,
            Some(n) => Some(n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| HintError::OutOfRange {
                resource: hints.name.clone(),
                field: "max_table_nesting",
                value: n.to_string(),
                max: u64::from(u32::MAX),
            })?),
        };
        if let Some(cols) = v.get("columns").filter(|c| !c.is_null()) {
            hints.columns = columns_from_json(cols)?;
        }
        hints.selected = v.get("selected").and_then(|b| b.as_bool()).unwrap_or(true);
        hints.description = v.get("description").and_then(|d| d.as_str()).map(str::to_owned);
        if let Some(c) = v.get("schema_contract").filter(|c| !c.is_null()) {
            hints.schema_contract = Some(SchemaContract::from_json(c)?);
        }
        hints.incremental = v.get("incremental").and_then(crate::incremental::Incremental::from_json);
        hints.data_from = v.get("data_from").and_then(|d| d.as_str()).map(str::to_owned);
        Ok(hints)
    }

    /// Hints for a resource called `name`, selected, appending.
    pub fn new(name: impl Into<String>) -> Self {
        ResourceHints { name: name.into(), selected: true, ..Default::default() }
    }

    /// Checks the values that builders and struct literals may set freely (column hints'
    /// `dedup_sort`).
    pub fn validate(&self) -> Result<(), HintError> {
        self.columns.iter().try_for_each(ColumnHint::validate)
    }

    /// The name of the table this resource writes (not yet normalized).
    pub fn table(&self) -> &str {
        self.table_name.as_deref().unwrap_or(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_max_table_nesting_out_of_range_is_an_error_naming_resource_and_value() {
        let err = ResourceHints::from_json(&json!({"name": "events", "max_table_nesting": 4_294_967_296u64})).unwrap_err();
        assert_eq!(err.to_string(), "resource `events`: stored `max_table_nesting` is 4294967296, out of range (at most 4294967295)");
        let err = ResourceHints::from_json(&json!({"name": "events", "max_table_nesting": -1})).unwrap_err();
        assert!(err.to_string().contains("`max_table_nesting` is -1"), "{err}");
        let err = ResourceHints::from_json(&json!({"name": "events", "max_table_nesting": "2"})).unwrap_err();
        assert!(err.to_string().contains("`max_table_nesting` is \"2\""), "{err}");
        assert_eq!(ResourceHints::from_json(&json!({"name": "events", "max_table_nesting": 2})).unwrap().max_table_nesting, Some(2));
        assert_eq!(ResourceHints::from_json(&json!({"name": "events", "max_table_nesting": null})).unwrap().max_table_nesting, None);
    }

    #[test]
    fn dedup_sort_is_asc_or_desc_in_every_form() {
        assert!(ColumnHint::new("v").dedup_sort("desc").validate().is_ok());
        assert_eq!(
            ColumnHint::new("v").dedup_sort("DESC").validate().unwrap_err(),
            HintError::BadDedupSort { column: "v".into(), value: "DESC".into() }
        );
        let err = columns_from_json(&json!({"v": {"dedup_sort": "latest"}})).unwrap_err();
        assert_eq!(err.to_string(), "column `v`: `dedup_sort` is `latest`; expected `asc` or `desc`");
        let mut hints = ResourceHints::new("r");
        hints.columns = vec![ColumnHint::new("a"), ColumnHint::new("b").dedup_sort("x")];
        assert!(hints.validate().unwrap_err().to_string().contains("column `b`"));
    }
}
