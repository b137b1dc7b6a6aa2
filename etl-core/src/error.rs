//! Errors of the data model. Each names the thing at fault.

use crate::hints::DataType;

/// A hint that cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HintError {
    /// Unknown data type name.
    #[error("unknown data type `{0}`; expected one of text, double, bool, timestamp, bigint, binary, json, decimal, date, time")]
    UnknownDataType(String),
    /// Unknown write disposition.
    #[error("unknown write disposition `{0}`; expected one of append, replace, merge")]
    UnknownWriteDisposition(String),
    /// Unknown merge strategy.
    #[error("merge strategy `{0}` is not supported; expected `delete-insert`, `upsert` or `scd2`")]
    UnknownMergeStrategy(String),
    /// A schema contract that does not parse.
    #[error("bad schema contract: {0}")]
    BadContract(String),
    /// A column hint that does not parse.
    #[error("bad hint for column `{column}`: {message}")]
    BadColumnHint {
        /// Column the hint is for.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A `dedup_sort` that is neither `asc` nor `desc`.
    #[error("column `{column}`: `dedup_sort` is `{value}`; expected `asc` or `desc`")]
    BadDedupSort {
        /// Column the hint is for.
        column: String,
        /// The value given.
        value: String,
    },
    /// A number in stored hints that is out of range.
    #[error("resource `{resource}`: stored `{field}` is {value}, out of range (at most {max})")]
    OutOfRange {
        /// The resource.
        resource: String,
        /// The hint.
        field: &'static str,
        /// The stored value as written.
        value: String,
        /// The largest value allowed.
        max: u64,
    },
}

/// A schema problem found while normalizing or restoring.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    /// A value cannot be stored in the column it was routed to.
    #[error("value {value} cannot be stored in column `{column}` of table `{table}` (type {data_type})")]
    Coercion {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// The value, as JSON.
        value: String,
        /// The column's type.
        data_type: DataType,
    },
    /// A hint contradicts what the destination already has.
    #[error("column `{column}` of table `{table}`: {message}")]
    HintConflict {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// What conflicts.
        message: String,
    },
    /// Data violates a `freeze` schema contract.
    #[error("contract on `{entity}` with `contract_mode=freeze` is violated: {what} (table `{table}`{}{})", column.as_ref().map(|c| format!(", column `{c}`")).unwrap_or_default(), value.as_ref().map(|v| format!(", value {v}")).unwrap_or_default())]
    ContractViolation {
        /// `tables`, `columns` or `data_type`.
        entity: &'static str,
        /// What the data would have changed.
        what: String,
        /// Table.
        table: String,
        /// Column, if the violation is about one.
        column: Option<String>,
        /// The offending value as JSON, if any.
        value: Option<String>,
    },
    /// A stored schema that cannot be read back.
    #[error("stored schema is not readable: {0}")]
    Stored(String),
    /// A resource's hints are invalid.
    #[error("resource `{resource}`: {source}")]
    BadHint {
        /// The resource.
        resource: String,
        /// What is wrong.
        #[source]
        source: HintError,
    },
}

/// Misuse of a source.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SourceError {
    /// `with_resources` named resources the source does not have.
    #[error("source `{source_name}` has no resource named {}; it has: {}", quoted(missing), quoted(available))]
    UnknownResources {
        /// The source.
        source_name: String,
        /// Names asked for that do not exist.
        missing: Vec<String>,
        /// Names that exist.
        available: Vec<String>,
    },
    /// Two resources of one source share a name.
    #[error("source `{source_name}` has two resources named `{name}`; resource names must be unique within a source")]
    DuplicateResource {
        /// The source.
        source_name: String,
        /// The repeated name.
        name: String,
    },
}

fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        return "(none)".into();
    }
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The message of a caught panic (`&str` or `String` payloads).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}
