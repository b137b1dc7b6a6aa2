//! The SQL of dlt's merge strategies over staged tables, for any SQL destination: each session
//! says how it names tables and which columns it has ([`MergeTables`]), and runs the statements
//! in order inside its transaction. The tables touched must be synced first (new columns of the
//! load exist in the dataset's tables).

use etl_core::hints::Scd2Columns;
use etl_core::naming::quote_ident;
use etl_core::normalize::{C_ID, C_ROOT_ID};
use etl_core::{DataType, Schema};

use super::Target;

/// What a merge needs to know of a session's tables.
pub(crate) trait MergeTables {
    /// A table's qualified name in the dataset or its staging area.
    fn qualified(&self, target: Target, table: &str) -> String;
    /// A table's columns, if the table exists there.
    fn columns(&self, target: Target, table: &str) -> Option<&[String]>;
    /// The placeholder of the statement's one parameter (the scd2 boundary), cast to a
    /// timestamp with time zone.
    fn boundary_param(&self) -> &'static str;
}

/// One statement of a merge.
#[derive(Debug)]
pub(crate) struct Statement {
    /// The SQL.
    pub sql: String,
    /// What it does, for errors ("deleting replaced rows of `orders`").
    pub what: String,
    /// Whether it takes the boundary as its one parameter.
    pub boundary: bool,
}

fn statement(sql: String, what: String) -> Statement {
    Statement { sql, what, boundary: false }
}

/// The nested tables of `root` (depth first).
pub(crate) fn nested(schema: &Schema, root: &str) -> Vec<String> {
    schema.descendants(root).into_iter().map(|t| t.name.clone()).collect()
}

/// dlt's `delete-insert` (and, keyed by the primary key, `upsert`) of a staged load of `root`:
/// rows whose primary key or merge key matches a staged row are deleted together with their
/// nested rows (found by `_dlt_root_id`); staged root rows are inserted, one per primary key (the
/// first by `dedup_sort` if a column has it), skipping rows marked by a `hard_delete` column;
/// staged nested rows of inserted roots follow. Nothing when nothing was staged.
pub(crate) fn delete_insert(db: &impl MergeTables, schema: &Schema, root: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let (Some(table), Some(staged_cols)) = (schema.table(root), db.columns(Target::Staging, root)) else { return out };
    let pk: Vec<&str> = table.columns.iter().filter(|c| c.primary_key).map(|c| c.name.as_str()).collect();
    let mk: Vec<&str> = table.columns.iter().filter(|c| c.merge_key).map(|c| c.name.as_str()).collect();
    let dest = db.qualified(Target::Main, root);
    let stage = db.qualified(Target::Staging, root);
    let matches = |keys: &[&str]| -> Option<String> {
        (!keys.is_empty()).then(|| {
            let cond: Vec<String> = keys.iter().map(|k| format!("s.{k} = d.{k}", k = quote_ident(k))).collect();
            format!("EXISTS (SELECT 1 FROM {stage} s WHERE {})", cond.join(" AND "))
        })
    };
    let condition: Vec<String> = [matches(&pk), matches(&mk)].into_iter().flatten().collect();
    let condition = condition.join(" OR ");
    let children = nested(schema, root);
    if !condition.is_empty() {
        for child in &children {
            if db.columns(Target::Main, child).is_some_and(|c| c.iter().any(|n| n == C_ROOT_ID)) {
                let sql = format!(
                    "DELETE FROM {} WHERE {} IN (SELECT d.{} FROM {dest} d WHERE {condition})",
                    db.qualified(Target::Main, child),
                    quote_ident(C_ROOT_ID),
                    quote_ident(C_ID)
                );
                out.push(statement(sql, format!("deleting replaced rows of `{child}`")));
            }
        }
        out.push(statement(format!("DELETE FROM {dest} d WHERE {condition}"), format!("deleting replaced rows of `{root}`")));
    }
    let cols: Vec<String> = staged_cols.iter().map(|c| quote_ident(c)).collect();
    let mut filter: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.hard_delete && staged_cols.contains(&c.name))
        .map(|c| match c.data_type {
            Some(DataType::Bool) => format!("COALESCE({}, false) = false", quote_ident(&c.name)),
            _ => format!("{} IS NULL", quote_ident(&c.name)),
        })
        .collect();
    let source = if pk.is_empty() {
        stage.clone()
    } else {
        let order = table
            .columns
            .iter()
            .find(|c| c.dedup_sort.is_some())
            .map(|c| format!("ORDER BY {} {}", quote_ident(&c.name), if c.dedup_sort.as_deref() == Some("asc") { "ASC" } else { "DESC" }))
            .unwrap_or_default();
        let part: Vec<String> = pk.iter().map(|k| quote_ident(k)).collect();
        filter.push("_etl_rn = 1".into());
        format!("(SELECT *, row_number() OVER (PARTITION BY {} {order}) AS _etl_rn FROM {stage}) s", part.join(", "))
    };
    let where_clause = if filter.is_empty() { String::new() } else { format!("WHERE {}", filter.join(" AND ")) };
    out.push(statement(
        format!("INSERT INTO {dest} ({c}) SELECT {c} FROM {source} {where_clause}", c = cols.join(", ")),
        format!("merging staged rows into `{root}`"),
    ));
    // Nested rows of the inserted root rows.
    let keep = format!("s.{} IN (SELECT {} FROM {dest})", quote_ident(C_ROOT_ID), quote_ident(C_ID));
    out.extend(staged_children(db, &children, |_| keep.clone()));
    out
}

/// dlt's `scd2` merge of a staged full (or, with a merge key, partial) extract: active records
/// whose row hash is not in the load are retired (`valid_to` = the boundary), limited to
/// merge-key values present in the load if the table has a merge key; staged rows whose hash is
/// not an active record are inserted as new versions valid from the boundary (a retired record
/// that comes back is inserted again); nested rows of new versions follow unless they already
/// exist. `staged` says whether the load staged any root row (an empty full extract retires
/// every active record).
pub(crate) fn scd2(db: &impl MergeTables, schema: &Schema, root: &str, cols: &Scd2Columns) -> Vec<Statement> {
    let mut out = Vec::new();
    let Some(table) = schema.table(root) else { return out };
    let staged_cols = db.columns(Target::Staging, root);
    let dest = db.qualified(Target::Main, root);
    let (from, to, id) = (quote_ident(&cols.valid_from), quote_ident(&cols.valid_to), quote_ident(C_ID));
    let stage = db.qualified(Target::Staging, root);
    let param = db.boundary_param();
    let mk: Vec<&str> = table.columns.iter().filter(|c| c.merge_key).map(|c| c.name.as_str()).collect();
    let absent = if staged_cols.is_some() { format!("d.{id} NOT IN (SELECT {id} FROM {stage})") } else { "true".to_owned() };
    let partition = match (mk.is_empty(), staged_cols.is_some()) {
        (false, true) => {
            let cond: Vec<String> = mk.iter().map(|k| format!("s.{k} = d.{k}", k = quote_ident(k))).collect();
            format!(" AND EXISTS (SELECT 1 FROM {stage} s WHERE {})", cond.join(" AND "))
        }
        _ => String::new(),
    };
    if mk.is_empty() || staged_cols.is_some() {
        out.push(Statement {
            sql: format!("UPDATE {dest} AS d SET {to} = {param} WHERE d.{to} IS NULL AND {absent}{partition}"),
            what: format!("retiring records of `{root}`"),
            boundary: true,
        });
    }
    if let Some(staged_cols) = staged_cols {
        let names: Vec<String> =
            staged_cols.iter().filter(|c| **c != cols.valid_from && **c != cols.valid_to).map(|c| quote_ident(c)).collect();
        out.push(Statement {
            sql: format!(
                "INSERT INTO {dest} ({n}, {from}, {to}) SELECT {n}, {param}, NULL FROM \
                 (SELECT *, row_number() OVER (PARTITION BY {id}) AS _etl_rn FROM {stage}) s \
                 WHERE s._etl_rn = 1 AND NOT EXISTS (SELECT 1 FROM {dest} d WHERE d.{id} = s.{id} AND d.{to} IS NULL)",
                n = names.join(", ")
            ),
            what: format!("inserting new versions into `{root}`"),
            boundary: true,
        });
    }
    // Nested rows of new versions; rows of unchanged versions are already there.
    out.extend(staged_children(db, &nested(schema, root), |existing| format!("NOT EXISTS (SELECT 1 FROM {existing} c WHERE c.{id} = s.{id})")));
    out
}

/// Copies staged nested rows into their tables, those matching `filter` (SQL over the staged
/// row `s`; it gets the destination table's qualified name).
fn staged_children(db: &impl MergeTables, children: &[String], filter: impl Fn(&str) -> String) -> Vec<Statement> {
    let mut out = Vec::new();
    for child in children {
        let Some(child_cols) = db.columns(Target::Staging, child) else { continue };
        let names: Vec<String> = child_cols.iter().map(|c| quote_ident(c)).collect();
        let dest = db.qualified(Target::Main, child);
        let sql = format!(
            "INSERT INTO {dest} ({n}) SELECT {n} FROM {} s WHERE {}",
            db.qualified(Target::Staging, child),
            filter(&dest),
            n = names.join(", ")
        );
        out.push(statement(sql, format!("merging staged rows into `{child}`")));
    }
    out
}
