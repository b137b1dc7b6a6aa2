//! The versioned schema of a source: tables, columns, hints; evolution as data arrives.
//!
//! The schema is stored in the destination's `_dlt_version` table as dlt's JSON layout whenever
//! its content hash changes, and restored from there on a new machine.

use base64::Engine as _;
use serde_json::{json, Map, Value as Json};
use sha3::Digest;

use crate::error::SchemaError;
use crate::hints::{ColumnHint, ContractMode, DataType, ResourceHints, SchemaContract, WriteDisposition};
use crate::naming::{Naming, PATH_SEPARATOR};
use crate::normalize::{FlatRow, C_ID, C_LIST_IDX, C_LOAD_ID, C_PARENT_ID, C_ROOT_ID};
use crate::types::{canonical, coerce, infer_type, variant_suffix};
use crate::value::Value;

/// dlt's schema engine version, stored in `_dlt_version.engine_version`.
pub const ENGINE_VERSION: i64 = 11;
/// Table of stored schema versions.
pub const VERSION_TABLE: &str = "_dlt_version";
/// Table of completed loads.
pub const LOADS_TABLE: &str = "_dlt_loads";
/// Table of pipeline state snapshots.
pub const STATE_TABLE: &str = "_dlt_pipeline_state";

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Column {
    /// Normalized name.
    pub name: String,
    /// Type; `None` for a hinted column that has seen no data and declares no type.
    pub data_type: Option<DataType>,
    /// Whether NULLs are allowed.
    pub nullable: bool,
    /// Whether the stored schema states `nullable`: dlt writes it for columns made from data, key
    /// columns and hints that give it, and leaves it out of a column a hint made complete
    /// without it (read back: whether the key was there).
    pub nullable_set: bool,
    /// Precision hint.
    pub precision: Option<u32>,
    /// Scale hint.
    pub scale: Option<u32>,
    /// Time zone hint for timestamps.
    pub timezone: Option<bool>,
    /// Part of the primary key.
    pub primary_key: bool,
    /// Part of the merge key.
    pub merge_key: bool,
    /// Unique.
    pub unique: bool,
    /// The row's id column (`_dlt_id`).
    pub row_key: bool,
    /// Points at the parent row (`_dlt_parent_id`).
    pub parent_key: bool,
    /// Points at the root row (`_dlt_root_id`).
    pub root_key: bool,
    /// A variant column made for values that did not fit the column's type.
    pub variant: bool,
    /// Merge: a non-null value deletes the row.
    pub hard_delete: bool,
    /// Merge: sort order for deduplication (`asc`/`desc`).
    pub dedup_sort: Option<String>,
    /// The cursor column of the resource's incremental (dlt's `incremental` hint).
    pub incremental: bool,
}

impl Column {
    pub(crate) fn new(name: impl Into<String>, data_type: DataType, nullable: bool) -> Self {
        Column { name: name.into(), data_type: Some(data_type), nullable, nullable_set: true, ..Default::default() }
    }

    /// The DuckDB type of this column (`None` while incomplete).
    pub fn duckdb_type(&self) -> Option<String> {
        self.data_type.map(|t| t.duckdb_type(self.precision, self.scale, self.timezone))
    }

    fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        if let Some(t) = self.data_type {
            m.insert("data_type".into(), json!(t.name()));
        }
        if self.nullable_set {
            m.insert("nullable".into(), json!(self.nullable));
        }
        let flags = [
            ("incremental", self.incremental),
            ("primary_key", self.primary_key),
            ("merge_key", self.merge_key),
            ("unique", self.unique),
            ("row_key", self.row_key),
            ("parent_key", self.parent_key),
            ("root_key", self.root_key),
            ("variant", self.variant),
            ("hard_delete", self.hard_delete),
        ];
        for (k, on) in flags {
            if on {
                m.insert(k.into(), json!(true));
            }
        }
        if let Some(p) = self.precision {
            m.insert("precision".into(), json!(p));
        }
        if let Some(s) = self.scale {
            m.insert("scale".into(), json!(s));
        }
        if let Some(tz) = self.timezone {
            m.insert("timezone".into(), json!(tz));
        }
        if let Some(d) = &self.dedup_sort {
            m.insert("dedup_sort".into(), json!(d));
        }
        Json::Object(m)
    }

    fn from_json(table: &str, name: &str, v: &Json) -> Result<Self, SchemaError> {
        let flag = |k: &str| v.get(k).and_then(Json::as_bool).unwrap_or(false);
        let num = |k: &str| match v.get(k).filter(|n| !n.is_null()) {
            None => Ok(None),
            Some(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or_else(|| {
                SchemaError::Stored(format!("table `{table}`, column `{name}`: `{k}` is {n}, not a number from 0 to {}", u32::MAX))
            }),
        };
        let dedup_sort = match v.get("dedup_sort").filter(|d| !d.is_null()) {
            None => None,
            Some(Json::String(d)) if d == "asc" || d == "desc" => Some(d.clone()),
            Some(other) => {
                return Err(SchemaError::Stored(format!("table `{table}`, column `{name}`: `dedup_sort` is {other}; expected \"asc\" or \"desc\"")))
            }
        };
        Ok(Column {
            name: name.to_owned(),
            data_type: match v.get("data_type").and_then(Json::as_str) {
                Some(t) => Some(t.parse().map_err(|e| SchemaError::Stored(format!("column {name}: {e}")))?),
                None => None,
            },
            nullable: v.get("nullable").and_then(Json::as_bool).unwrap_or(true),
            nullable_set: v.get("nullable").is_some_and(Json::is_boolean),
            precision: num("precision")?,
            scale: num("scale")?,
            timezone: v.get("timezone").and_then(Json::as_bool),
            primary_key: flag("primary_key"),
            merge_key: flag("merge_key"),
            unique: flag("unique"),
            row_key: flag("row_key"),
            parent_key: flag("parent_key"),
            root_key: flag("root_key"),
            variant: flag("variant"),
            hard_delete: flag("hard_delete"),
            dedup_sort,
            incremental: flag("incremental"),
        })
    }
}

/// One table: a resource's root table, a nested (child) table or a dlt table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Normalized name.
    pub name: String,
    /// Parent table of a nested table.
    pub parent: Option<String>,
    /// Resource that fills the table (root tables).
    pub resource: Option<String>,
    /// Write disposition (root tables; children follow their root).
    pub write_disposition: Option<WriteDisposition>,
    /// Description.
    pub description: Option<String>,
    /// dlt's `file_format` hint (`preferred` on `_dlt_pipeline_state`; kept as stored).
    pub file_format: Option<String>,
    /// Columns in table order.
    pub columns: Vec<Column>,
    /// Whether any row has been normalized into the table.
    pub seen_data: bool,
    /// The resource's own `max_table_nesting` (dlt's `x-normalizer.max_nesting`).
    pub max_nesting: Option<u32>,
    /// The incremental's cursor column while the table does not have it yet: the column made
    /// for it from data gets the `incremental` hint (not stored; set from the hints every run).
    pub pending_cursor: Option<String>,
}

impl Table {
    /// Column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Position of a column by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Columns that have a type (those that exist in the destination).
    pub fn complete_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.data_type.is_some())
    }

    fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        let cols: Map<String, Json> = self.columns.iter().map(|c| (c.name.clone(), c.to_json())).collect();
        m.insert("columns".into(), Json::Object(cols));
        if let Some(p) = &self.parent {
            m.insert("parent".into(), json!(p));
        }
        if let Some(wd) = self.write_disposition {
            m.insert("write_disposition".into(), json!(wd.name()));
        }
        if let Some(f) = &self.file_format {
            m.insert("file_format".into(), json!(f));
        }
        if let Some(r) = &self.resource {
            m.insert("resource".into(), json!(r));
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        let mut normalizer = Map::new();
        if let Some(n) = self.max_nesting {
            normalizer.insert("max_nesting".into(), json!(n));
        }
        if self.seen_data {
            normalizer.insert("seen-data".into(), json!(true));
        }
        if !normalizer.is_empty() {
            m.insert("x-normalizer".into(), Json::Object(normalizer));
        }
        Json::Object(m)
    }

    fn from_json(name: &str, v: &Json) -> Result<Self, SchemaError> {
        let mut columns = Vec::new();
        if let Some(cols) = v.get("columns").and_then(Json::as_object) {
            for (cname, c) in cols {
                columns.push(Column::from_json(name, cname, c)?);
            }
        }
        Ok(Table {
            name: name.to_owned(),
            parent: v.get("parent").and_then(Json::as_str).map(str::to_owned),
            resource: v.get("resource").and_then(Json::as_str).map(str::to_owned),
            write_disposition: match v.get("write_disposition").and_then(Json::as_str) {
                Some("skip") => Some(WriteDisposition::Skip),
                Some(s) => Some(s.parse().map_err(|e| SchemaError::Stored(format!("table {name}: {e}")))?),
                None => None,
            },
            description: v.get("description").and_then(Json::as_str).map(str::to_owned),
            file_format: v.get("file_format").and_then(Json::as_str).map(str::to_owned),
            columns,
            seen_data: v.pointer("/x-normalizer/seen-data").and_then(Json::as_bool).unwrap_or(false),
            max_nesting: match v.pointer("/x-normalizer/max_nesting").filter(|n| !n.is_null()) {
                None => None,
                Some(n) => Some(n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    SchemaError::Stored(format!("table `{name}`: `x-normalizer.max_nesting` is {n}, not a number from 0 to {}", u32::MAX))
                })?),
            },
            pending_cursor: None,
        })
    }
}

/// A change the schema went through while normalizing; the loader turns these into DDL.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaChange {
    /// A new table (its complete columns at the time).
    NewTable(String),
    /// A new column on an existing table.
    NewColumn {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
}

/// The schema of one source.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Schema name (the source name, normalized).
    pub name: String,
    /// Version, incremented when the content hash changes.
    pub version: i64,
    /// Content hash of the stored version.
    pub version_hash: String,
    /// Hashes of earlier versions (newest first, at most 10).
    pub previous_hashes: Vec<String>,
    /// Tables in creation order (as dlt orders them: see [`Schema::bump_version`]).
    pub tables: Vec<Table>,
    /// The relational normalizer's config (`normalizers.json.config`): dlt's `propagation` of
    /// root ids, and whatever else a stored schema had there, kept as it was.
    pub normalizer_config: Map<String, Json>,
    /// How many tables the last stored version had: those after it are new in this run.
    settled: usize,
    /// The naming convention with the destination's identifier limit: not stored (dlt does not
    /// store it either), set by whoever knows the destination ([`Schema::set_max_identifier_length`]).
    naming: Naming,
}

impl Schema {
    /// A new schema with dlt's own tables.
    pub fn new(name: &str) -> Self {
        let mut schema = Schema {
            name: name.to_owned(),
            version: 1,
            version_hash: String::new(),
            previous_hashes: Vec::new(),
            tables: Vec::new(),
            normalizer_config: Map::new(),
            settled: 0,
            naming: Naming::default(),
        };
        schema.tables.push(Table {
            name: VERSION_TABLE.into(),
            resource: Some(VERSION_TABLE.into()),
            write_disposition: Some(WriteDisposition::Skip),
            columns: vec![
                Column::new("version", DataType::Bigint, false),
                Column::new("engine_version", DataType::Bigint, false),
                Column::new("inserted_at", DataType::Timestamp, false),
                Column::new("schema_name", DataType::Text, false),
                Column::new("version_hash", DataType::Text, false),
                Column::new("schema", DataType::Text, false),
            ],
            ..Default::default()
        });
        let mut load_id = Column::new("load_id", DataType::Text, false);
        load_id.precision = Some(64);
        schema.tables.push(Table {
            name: LOADS_TABLE.into(),
            resource: Some(LOADS_TABLE.into()),
            write_disposition: Some(WriteDisposition::Skip),
            columns: vec![
                load_id,
                Column::new("schema_name", DataType::Text, true),
                Column::new("status", DataType::Bigint, false),
                Column::new("inserted_at", DataType::Timestamp, false),
                Column::new("schema_version_hash", DataType::Text, true),
            ],
            ..Default::default()
        });
        schema.version_hash = schema.content_hash();
        schema.settled = schema.tables.len();
        schema
    }

    /// Sets the destination's identifier limit (`max_identifier_length`; `None`: unlimited, as
    /// before): every table and column name made for this schema from now on (by the normalizer,
    /// the fast path, resource hints and variants) is shortened to it as dlt shortens names.
    /// Names already in the schema stay. Not part of the stored schema.
    pub fn set_max_identifier_length(&mut self, max_length: Option<usize>) {
        self.naming = Naming::new(max_length);
    }

    /// The identifier limit set by [`Self::set_max_identifier_length`].
    pub fn max_identifier_length(&self) -> Option<usize> {
        self.naming.max_length()
    }

    /// The naming convention of the schema's names (with its identifier limit).
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// The name of the root table of a resource whose table hint is `raw` (dlt's
    /// `normalize_tables_path`): normalized, and shortened to the identifier limit.
    pub fn table_name(&self, raw: &str) -> String {
        self.naming.normalize_path(raw)
    }

    /// Adds the `_dlt_pipeline_state` table (done on the first load that writes state).
    pub fn ensure_state_table(&mut self) -> Option<SchemaChange> {
        if self.table(STATE_TABLE).is_some() {
            return None;
        }
        let mut load_id = Column::new(C_LOAD_ID, DataType::Text, false);
        load_id.precision = Some(64);
        let mut id = Column::new(C_ID, DataType::Text, false);
        id.unique = true;
        id.row_key = true;
        self.tables.push(Table {
            name: STATE_TABLE.into(),
            resource: Some(STATE_TABLE.into()),
            write_disposition: Some(WriteDisposition::Append),
            file_format: Some("preferred".into()),
            columns: vec![
                Column::new("version", DataType::Bigint, false),
                Column::new("engine_version", DataType::Bigint, false),
                Column::new("pipeline_name", DataType::Text, false),
                Column::new("state", DataType::Text, false),
                Column::new("created_at", DataType::Timestamp, false),
                Column::new("version_hash", DataType::Text, true),
                load_id,
                id,
            ],
            seen_data: true,
            ..Default::default()
        });
        Some(SchemaChange::NewTable(STATE_TABLE.into()))
    }

    /// Table by name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub(crate) fn table_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.name == name)
    }

    /// Type of a column, if the table and column exist and the column is complete.
    pub fn column_type(&self, table: &str, column: &str) -> Option<DataType> {
        self.table(table)?.column(column)?.data_type
    }

    /// The root table of a (possibly nested) table.
    pub fn root_of<'a>(&'a self, table: &'a str) -> &'a str {
        let mut name = table;
        while let Some(parent) = self.table(name).and_then(|t| t.parent.as_deref()) {
            name = parent;
        }
        name
    }

    /// Nested tables of `root`, in creation order (children before grandchildren of later ones).
    pub fn descendants(&self, root: &str) -> Vec<&Table> {
        let mut out: Vec<&Table> = Vec::new();
        let mut frontier = vec![root.to_owned()];
        while let Some(parent) = frontier.pop() {
            for t in self.tables.iter().filter(|t| t.parent.as_deref() == Some(parent.as_str())) {
                out.push(t);
                frontier.push(t.name.clone());
            }
        }
        out
    }

    /// Tables created by user data (not dlt's own), in creation order.
    pub fn data_tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.iter().filter(|t| !t.name.starts_with("_dlt_"))
    }

    /// Makes sure the root table of a resource exists with its hints applied; hinted columns with
    /// a type are created at once, in hint order. Returns the changes made.
    pub fn apply_resource_hints(&mut self, hints: &ResourceHints, table_name: &str) -> Result<Vec<SchemaChange>, SchemaError> {
        hints.validate().map_err(|source| SchemaError::BadHint { resource: hints.name.clone(), source })?;
        let mut changes = Vec::new();
        if self.table(table_name).is_none() {
            self.tables.push(Table {
                name: table_name.to_owned(),
                resource: Some(hints.name.clone()),
                write_disposition: Some(hints.write_disposition),
                description: hints.description.clone(),
                ..Default::default()
            });
            changes.push(SchemaChange::NewTable(table_name.to_owned()));
        }
        let naming = self.naming;
        let table = self.table_mut(table_name).expect("just ensured");
        table.write_disposition = Some(hints.write_disposition);
        if hints.max_table_nesting.is_some() {
            table.max_nesting = hints.max_table_nesting;
        }
        let pk: Vec<String> = hints.primary_key.iter().map(|c| naming.normalize_path(c)).collect();
        let mk: Vec<String> = hints.merge_key.iter().map(|c| naming.normalize_path(c)).collect();
        // Keys given by the hints replace earlier keys as a whole (changing `primary_key` from
        // `id` to `email` must not leave `id` flagged).
        if !pk.is_empty() {
            for c in table.columns.iter_mut().filter(|c| c.primary_key && !pk.contains(&c.name)) {
                c.primary_key = false;
            }
        }
        if !mk.is_empty() {
            for c in table.columns.iter_mut().filter(|c| c.merge_key && !mk.contains(&c.name)) {
                c.merge_key = false;
            }
        }
        let mut hinted: Vec<ColumnHint> = hints.columns.clone();
        let scd2 = hints.write_disposition == WriteDisposition::Merge && hints.merge_strategy == crate::hints::MergeStrategy::Scd2;
        if scd2 {
            for name in [&hints.scd2_columns.valid_from, &hints.scd2_columns.valid_to] {
                if !hinted.iter().any(|h| &h.name == name) {
                    hinted.push(ColumnHint::new(name.clone()).data_type(DataType::Timestamp).nullable(true));
                }
            }
        }
        for key in pk.iter().chain(mk.iter()) {
            if !hinted.iter().any(|h| naming.normalize_path(&h.name) == *key) {
                hinted.push(ColumnHint::new(key.clone()));
            }
        }
        for hint in &hinted {
            let name = naming.normalize_path(&hint.name);
            let is_pk = hint.primary_key.unwrap_or(false) || pk.contains(&name);
            let is_mk = hint.merge_key.unwrap_or(false) || mk.contains(&name);
            let existing = table.column_index(&name);
            let column = match existing {
                Some(i) => &mut table.columns[i],
                None => {
                    table.columns.push(Column { name: name.clone(), nullable: true, ..Default::default() });
                    table.columns.last_mut().expect("pushed")
                }
            };
            let was_complete = column.data_type.is_some();
            if let Some(t) = hint.data_type {
                if was_complete && column.data_type != Some(t) {
                    return Err(SchemaError::HintConflict {
                        table: table_name.to_owned(),
                        column: name,
                        message: format!("the destination has it as {} but the hint says {t}", column.data_type.map_or("?", DataType::name)),
                    });
                }
                column.data_type = Some(t);
            }
            if was_complete {
                // The destination column exists with its type: a different precision, scale or
                // time zone would need a type change the load does not make.
                let changed = [
                    ("precision", hint.precision.is_some() && hint.precision != column.precision),
                    ("scale", hint.scale.is_some() && hint.scale != column.scale),
                    ("timezone", hint.timezone.is_some() && hint.timezone != column.timezone),
                ];
                if let Some((what, _)) = changed.iter().find(|(_, c)| *c) {
                    return Err(SchemaError::HintConflict {
                        table: table_name.to_owned(),
                        column: name,
                        message: format!(
                            "the `{what}` hint differs from the column the destination already has ({}); \
                             changing a column's type is not supported, drop the table or use a new column",
                            column.duckdb_type().unwrap_or_default()
                        ),
                    });
                }
            }
            column.precision = hint.precision.or(column.precision);
            column.scale = hint.scale.or(column.scale);
            column.timezone = hint.timezone.or(column.timezone);
            column.primary_key |= is_pk;
            column.merge_key |= is_mk;
            column.unique |= hint.unique.unwrap_or(false);
            column.hard_delete |= hint.hard_delete.unwrap_or(false);
            if hint.dedup_sort.is_some() {
                column.dedup_sort = hint.dedup_sort.clone();
            }
            column.nullable = if is_pk { false } else { hint.nullable.unwrap_or(column.nullable) };
            column.nullable_set |= is_pk || hint.nullable.is_some();
            if !was_complete && column.data_type.is_some() && existing.is_some() {
                changes.push(SchemaChange::NewColumn { table: table_name.to_owned(), column: name.clone() });
            }
        }
        // dlt's `incremental` hint on the cursor column; a column not made yet gets it when data
        // makes it.
        let cursor = hints.incremental.as_ref().and_then(|i| i.cursor_column()).map(|c| naming.normalize_path(c));
        table.pending_cursor = None;
        if let Some(cursor) = cursor {
            match table.columns.iter_mut().find(|c| c.name == cursor) {
                Some(column) => column.incremental = true,
                None => table.pending_cursor = Some(cursor),
            }
        }
        // Merging by keys (delete-insert, upsert) propagates the root's row id to its nested
        // tables (`_dlt_root_id`), which dlt records in the normalizer's config.
        let keyed = table.columns.iter().any(|c| c.primary_key || c.merge_key);
        if hints.write_disposition == WriteDisposition::Merge && !scd2 && keyed {
            self.propagate_root_key(table_name);
        }
        Ok(changes)
    }

    /// Records that `root`'s row id (`_dlt_id`) is propagated to its nested tables as
    /// `_dlt_root_id` (dlt's `normalizers.json.config.propagation.tables`); once per table.
    pub fn propagate_root_key(&mut self, root: &str) {
        let propagation = self.normalizer_config.entry("propagation").or_insert_with(|| json!({}));
        if !propagation.is_object() {
            *propagation = json!({});
        }
        let tables = propagation.as_object_mut().expect("made an object").entry("tables").or_insert_with(|| json!({}));
        if !tables.is_object() {
            *tables = json!({});
        }
        let tables = tables.as_object_mut().expect("made an object");
        if !tables.contains_key(root) {
            tables.insert(root.to_owned(), json!({ C_ID: C_ROOT_ID }));
        }
    }

    /// Marks whether a table's `_dlt_id` is unique (it is not in `scd2` tables, where a record
    /// that is deleted and re-inserted keeps its row hash).
    pub fn set_row_key_unique(&mut self, table: &str, unique: bool) {
        if let Some(c) = self.table_mut(table).and_then(|t| t.columns.iter_mut().find(|c| c.name == C_ID)) {
            c.unique = unique;
        }
    }

    /// Coerces a normalized row into the schema, evolving it: new tables, new columns, variant
    /// columns for values that do not fit. Returns `(column index, value)` pairs (nulls dropped)
    /// and records every change in `changes`. Uses the default contract (evolve everything).
    pub fn coerce_row(&mut self, row: FlatRow, changes: &mut Vec<SchemaChange>) -> Result<Vec<(usize, Value)>, SchemaError> {
        Ok(self.coerce_row_with(row, &SchemaContract::default(), changes)?.unwrap_or_default())
    }

    /// [`Self::coerce_row`] under a schema contract: `Ok(None)` when the contract discards the
    /// row. Contracts on columns and data types apply to tables that already have data; new tables
    /// follow the `tables` mode.
    pub fn coerce_row_with(
        &mut self,
        row: FlatRow,
        contract: &SchemaContract,
        changes: &mut Vec<SchemaChange>,
    ) -> Result<Option<Vec<(usize, Value)>>, SchemaError> {
        let FlatRow { table: table_name, parent, mut cells } = row;
        let naming = self.naming;
        let existing = self.table(&table_name);
        let is_new = existing.is_none_or(|t| !t.seen_data);
        if is_new && contract.tables != ContractMode::Evolve {
            match contract.tables {
                ContractMode::Freeze => {
                    return Err(SchemaError::ContractViolation {
                        entity: "tables",
                        what: format!("can't add table `{table_name}`"),
                        table: table_name,
                        column: None,
                        value: None,
                    })
                }
                _ => return Ok(None),
            }
        }
        if !is_new && (contract.columns != ContractMode::Evolve || contract.data_type != ContractMode::Evolve) {
            let table = existing.expect("not new");
            let mut keep = Vec::with_capacity(cells.len());
            for (name, value) in cells {
                if value.is_null() {
                    continue;
                }
                let (entity, mode, what) = match table.column(&name) {
                    None => ("columns", contract.columns, format!("can't add column `{name}` to table `{table_name}`")),
                    Some(c) => match c.data_type {
                        Some(t) if coerce(value.clone(), t).is_none() => (
                            "data_type",
                            contract.data_type,
                            format!("can't add variant column `{}` to table `{table_name}`", variant_name(naming, &name, &value)),
                        ),
                        _ => ("", ContractMode::Evolve, String::new()),
                    },
                };
                match mode {
                    ContractMode::Evolve => keep.push((name, value)),
                    ContractMode::Freeze => {
                        return Err(SchemaError::ContractViolation {
                            entity,
                            what,
                            table: table_name.clone(),
                            column: Some(name),
                            value: Some(value.to_json_string()),
                        })
                    }
                    ContractMode::DiscardRow => return Ok(None),
                    ContractMode::DiscardValue => {}
                }
            }
            cells = keep;
        }
        if self.table(&table_name).is_none() {
            // Root tables are created from their resource's hints first; a table first met here is
            // a nested table (its write disposition is its root's) or a table without hints.
            self.tables.push(Table { name: table_name.clone(), parent: parent.clone(), ..Default::default() });
            changes.push(SchemaChange::NewTable(table_name.clone()));
        }
        let table = self.table_mut(&table_name).expect("ensured above");
        table.seen_data = true;
        let mut new_root_key = false;
        let mut out = Vec::with_capacity(cells.len());
        for (name, value) in cells {
            let Some(inferred) = infer_type(&value) else { continue };
            let idx = match table.column_index(&name) {
                Some(i) if table.columns[i].data_type.is_none() => {
                    // dlt merges the hint into the column inferred from data, `nullable` included.
                    table.columns[i].data_type = Some(inferred);
                    table.columns[i].nullable_set = true;
                    changes.push(SchemaChange::NewColumn { table: table_name.clone(), column: name.clone() });
                    out.push((i, canonical(value, inferred)));
                    continue;
                }
                Some(i) => i,
                None => {
                    let mut col = new_data_column(&name, inferred);
                    if matches!(value, Value::BigInt(_)) {
                        // An integer beyond int64 gets a type that holds it: HUGEINT.
                        col.precision = Some(128);
                    }
                    if table.pending_cursor.as_ref() == Some(&name) {
                        col.incremental = true;
                        table.pending_cursor = None;
                    }
                    new_root_key |= name == C_ROOT_ID && table.parent.is_some();
                    table.columns.push(col);
                    changes.push(SchemaChange::NewColumn { table: table_name.clone(), column: name.clone() });
                    out.push((table.columns.len() - 1, canonical(value, inferred)));
                    continue;
                }
            };
            let target = table.columns[idx].data_type.expect("complete column");
            let original = value.clone();
            match coerce(value, target) {
                Some(v) => out.push((idx, v)),
                None => {
                    let variant = variant_name(naming, &name, &original);
                    let vidx = match table.column_index(&variant) {
                        Some(i) => i,
                        None => {
                            let mut col = new_data_column(&variant, inferred);
                            col.variant = true;
                            table.columns.push(col);
                            changes.push(SchemaChange::NewColumn { table: table_name.clone(), column: variant.clone() });
                            table.columns.len() - 1
                        }
                    };
                    let vtype = table.columns[vidx].data_type.expect("complete column");
                    let v = coerce(original.clone(), vtype).ok_or_else(|| SchemaError::Coercion {
                        table: table_name.clone(),
                        column: variant.clone(),
                        value: original.to_json_string(),
                        data_type: vtype,
                    })?;
                    out.push((vidx, v));
                }
            }
        }
        if new_root_key {
            // dlt propagates a root's row id wherever a nested table has a root key.
            let root = self.root_of(&table_name).to_owned();
            self.propagate_root_key(&root);
        }
        Ok(Some(out))
    }

    /// dlt's stored-schema JSON (what goes into `_dlt_version.schema`).
    pub fn to_stored_json(&self) -> Json {
        // dlt's key order: version, version_hash, engine_version, name, tables, settings,
        // normalizers, previous_hashes.
        let content = self.content_json();
        let mut m = Map::new();
        m.insert("version".into(), json!(self.version));
        m.insert("version_hash".into(), json!(self.version_hash));
        for key in ["engine_version", "name", "tables", "settings", "normalizers"] {
            if let Some(v) = content.get(key) {
                m.insert(key.into(), v.clone());
            }
        }
        m.insert("previous_hashes".into(), json!(self.previous_hashes));
        Json::Object(m)
    }

    fn content_json(&self) -> Map<String, Json> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("engine_version".into(), json!(ENGINE_VERSION));
        m.insert(
            "settings".into(),
            json!({
                "detections": ["iso_timestamp"],
                "default_hints": {
                    "not_null": [C_ID, C_ROOT_ID, C_PARENT_ID, C_LIST_IDX, C_LOAD_ID],
                    "parent_key": [C_PARENT_ID],
                    "root_key": [C_ROOT_ID],
                    "unique": [C_ID],
                    "row_key": [C_ID]
                }
            }),
        );
        let mut json_normalizer = json!({"module": "dlt.common.normalizers.json.relational"});
        if !self.normalizer_config.is_empty() {
            json_normalizer["config"] = Json::Object(self.normalizer_config.clone());
        }
        m.insert("normalizers".into(), json!({"names": "snake_case", "json": json_normalizer}));
        let tables: Map<String, Json> = self.tables.iter().map(|t| (t.name.clone(), t.to_json())).collect();
        m.insert("tables".into(), Json::Object(tables));
        m
    }

    /// Hash of the schema's content (not its version): base64 of SHA3-256 of the key-sorted JSON.
    pub fn content_hash(&self) -> String {
        let content = Json::Object(self.content_json());
        let sorted = crate::value::sorted_json(&content).to_string();
        let digest = sha3::Sha3_256::digest(sorted.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(digest)
    }

    /// After a load's changes: if the content changed, bump the version and remember the old
    /// hash. Returns whether a new version must be stored.
    ///
    /// Tables new since the last version are first put in dlt's order: dlt's extract adds the
    /// root tables and then `_dlt_pipeline_state`, its normalizer the nested tables after them;
    /// we make a resource's nested tables before the next resource's root.
    pub fn bump_version(&mut self) -> bool {
        let settled = self.settled.min(self.tables.len());
        let new = self.tables.split_off(settled);
        let (roots, nested): (Vec<Table>, Vec<Table>) = new.into_iter().partition(|t| t.parent.is_none());
        self.tables.extend(roots);
        self.tables.extend(nested);
        self.settled = self.tables.len();
        let hash = self.content_hash();
        if hash == self.version_hash {
            return false;
        }
        if !self.version_hash.is_empty() {
            self.previous_hashes.insert(0, std::mem::take(&mut self.version_hash));
            self.previous_hashes.truncate(10);
        }
        self.version += 1;
        self.version_hash = hash;
        true
    }

    /// Restores a schema from its stored JSON.
    pub fn from_stored_json(v: &Json) -> Result<Self, SchemaError> {
        let name = v.get("name").and_then(Json::as_str).ok_or_else(|| SchemaError::Stored("no `name`".into()))?;
        let mut tables = Vec::new();
        if let Some(ts) = v.get("tables").and_then(Json::as_object) {
            for (tname, t) in ts {
                tables.push(Table::from_json(tname, t)?);
            }
        }
        let normalizer_config = match v.pointer("/normalizers/json/config") {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(config)) => config.clone(),
            Some(other) => return Err(SchemaError::Stored(format!("`normalizers.json.config` is {other}, not an object"))),
        };
        Ok(Schema {
            name: name.to_owned(),
            version: v.get("version").and_then(Json::as_i64).unwrap_or(1),
            version_hash: v.get("version_hash").and_then(Json::as_str).unwrap_or_default().to_owned(),
            previous_hashes: v
                .get("previous_hashes")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(|h| h.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            settled: tables.len(),
            tables,
            normalizer_config,
            naming: Naming::default(),
        })
    }
}

/// The variant column of `column` for `value` (dlt's `shorten_fragments(column, "v_<type>")`).
fn variant_name(naming: Naming, column: &str, value: &Value) -> String {
    naming.shorten_owned(format!("{column}{PATH_SEPARATOR}v_{}", variant_suffix(value)))
}

pub(crate) fn new_data_column(name: &str, data_type: DataType) -> Column {
    let mut col = Column::new(name, data_type, true);
    match name {
        C_ID => {
            col.nullable = false;
            col.unique = true;
            col.row_key = true;
        }
        C_PARENT_ID => {
            col.nullable = false;
            col.parent_key = true;
        }
        C_ROOT_ID => {
            col.nullable = false;
            col.root_key = true;
        }
        C_LOAD_ID | C_LIST_IDX => col.nullable = false,
        _ => {}
    }
    col
}

#[cfg(test)]
mod tests;
