//! dlt's bookkeeping tables in PostgreSQL, as dlt 1.31 creates and fills them.
//!
//! They are ordinary tables of the schema ([`etl_core::Schema::new`] has `_dlt_version` and
//! `_dlt_loads`, [`etl_core::Schema::ensure_state_table`] adds `_dlt_pipeline_state`) and go
//! through the same DDL as user tables, `IF NOT EXISTS`. What the goldens show:
//!
//! * `_dlt_version(version bigint NOT NULL, engine_version bigint NOT NULL, inserted_at
//!   timestamp with time zone NOT NULL, schema_name, version_hash, schema: character varying NOT
//!   NULL)`, no constraint;
//! * `_dlt_loads(load_id character varying(64) NOT NULL, schema_name character varying, status
//!   bigint NOT NULL, inserted_at timestamp with time zone NOT NULL, schema_version_hash
//!   character varying)`, no constraint;
//! * `_dlt_pipeline_state(version, engine_version bigint NOT NULL, pipeline_name, state character
//!   varying NOT NULL, created_at timestamp with time zone NOT NULL, version_hash character
//!   varying, _dlt_load_id character varying(64) NOT NULL, _dlt_id character varying NOT NULL)`
//!   with `UNIQUE (_dlt_id)`.
//!
//! dlt writes `_dlt_version` and `_dlt_loads` rows with parameterized `INSERT`s (the statements
//! below, with `$n` for psycopg2's `%s`); `_dlt_pipeline_state` rows are an ordinary load job of
//! the package (here: a COPY batch).

use etl_core::schema::{LOADS_TABLE, STATE_TABLE, VERSION_TABLE};
use etl_core::{Schema, Table};

use super::ddl::{create_table_sql, qualified_name, DdlError};

/// dlt's three bookkeeping tables, in the order dlt creates them: `_dlt_version`, `_dlt_loads`,
/// `_dlt_pipeline_state`.
pub fn bookkeeping_tables() -> Vec<Table> {
    let mut schema = Schema::new("bookkeeping");
    schema.ensure_state_table();
    [VERSION_TABLE, LOADS_TABLE, STATE_TABLE].iter().filter_map(|name| schema.table(name).cloned()).collect()
}

/// `CREATE TABLE IF NOT EXISTS` of the three bookkeeping tables.
pub fn create_bookkeeping_sql(dataset: &str) -> Result<Vec<String>, DdlError> {
    bookkeeping_tables()
        .iter()
        .map(|t| {
            let columns: Vec<_> = t.complete_columns().collect();
            create_table_sql(dataset, t, &columns)
        })
        .collect()
}

/// dlt's `complete_load`: `$1` load id, `$2` schema name, `$3` status (0), `$4` inserted at,
/// `$5` schema version hash.
pub fn insert_load_sql(dataset: &str) -> String {
    format!(
        "INSERT INTO {}(\"load_id\", \"schema_name\", \"status\", \"inserted_at\", \"schema_version_hash\") VALUES($1, $2, $3, $4, $5)",
        qualified_name(dataset, LOADS_TABLE)
    )
}

/// dlt's `_commit_schema_update`: `$1` version, `$2` engine version, `$3` inserted at, `$4`
/// schema name, `$5` version hash, `$6` the schema's JSON.
pub fn insert_version_sql(dataset: &str) -> String {
    format!(
        "INSERT INTO {}(\"version\", \"engine_version\", \"inserted_at\", \"schema_name\", \"version_hash\", \"schema\") VALUES ($1, $2, $3, $4, $5, $6)",
        qualified_name(dataset, VERSION_TABLE)
    )
}

/// dlt's `get_stored_schema`: the newest stored version of schema `$1`.
pub fn stored_schema_sql(dataset: &str) -> String {
    format!(
        "SELECT \"version\", \"engine_version\", \"inserted_at\", \"schema_name\", \"version_hash\", \"schema\" FROM {} WHERE \"schema_name\" = $1 ORDER BY \"inserted_at\" DESC LIMIT 1",
        qualified_name(dataset, VERSION_TABLE)
    )
}

/// dlt's `get_stored_state`: the newest state of pipeline `$1` whose load completed.
pub fn stored_state_sql(dataset: &str) -> String {
    format!(
        "SELECT s.\"version\", s.\"engine_version\", s.\"pipeline_name\", s.\"state\", s.\"created_at\", s.\"_dlt_load_id\" FROM {} AS s JOIN {} AS l ON l.\"load_id\" = s.\"_dlt_load_id\" WHERE \"pipeline_name\" = $1 AND l.\"status\" = 0 ORDER BY \"load_id\" DESC LIMIT 1",
        qualified_name(dataset, STATE_TABLE),
        qualified_name(dataset, LOADS_TABLE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::postgres::types::PgType;

    /// The bookkeeping tables' columns, types, nullability and constraints against the
    /// `types_basic` golden (they are the same in every case).
    #[test]
    fn bookkeeping_tables_are_the_goldens() {
        let path = format!("{}/../tests/data/conformance/postgres/types_basic.golden.json", env!("CARGO_MANIFEST_DIR"));
        let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let tables = &golden["runs"][0]["db"]["types"]["tables"];
        for table in bookkeeping_tables() {
            let expected = &tables[&table.name];
            let columns: Vec<serde_json::Value> = table
                .complete_columns()
                .map(|c| serde_json::json!({"name": c.name, "type": PgType::of_column(c).unwrap().format_type(), "nullable": c.nullable}))
                .collect();
            assert_eq!(serde_json::Value::Array(columns), expected["columns"], "{}", table.name);
            let unique: Vec<String> = table.columns.iter().filter(|c| c.unique).map(|c| format!("UNIQUE ({})", c.name)).collect();
            assert_eq!(serde_json::json!(unique), expected["pg_constraints"], "{}", table.name);
        }
    }

    #[test]
    fn bookkeeping_ddl_is_if_not_exists() {
        let sql = create_bookkeeping_sql("ds").unwrap();
        assert_eq!(sql.len(), 3);
        assert!(sql.iter().all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS \"ds\".\"_dlt_")));
        assert!(sql[1].contains("\"load_id\" varchar(64) NOT NULL"));
        assert!(sql[2].contains("\"_dlt_id\" varchar UNIQUE NOT NULL"));
    }
}
