//! PostgreSQL for `sql_database`: reflection from the catalog, and a table's rows streamed in
//! chunks by a thread of its own (a server-side portal read `chunk_size` rows at a time, each
//! chunk a record batch handed over through a channel of one: at most about three chunks are in
//! memory however large the table).

use std::str::FromStr;

use etl_core::hints::DataType;
use etl_core::naming::quote_ident;
use etl_core::resource::ArrowBatches;
use postgres::{Client, Config, NoTls};

use super::{SqlColumn, SqlError, SqlTable};

/// Host, port, database and user of a URL (never the password).
fn describe(config: &Config) -> String {
    let host = config.get_hosts().first().map(|h| match h {
        postgres::config::Host::Tcp(h) => h.clone(),
        #[cfg(unix)]
        postgres::config::Host::Unix(p) => p.display().to_string(),
    });
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{}:{port}/{} as {}", host.unwrap_or_default(), config.get_dbname().unwrap_or(""), config.get_user().unwrap_or(""))
}

/// Connects (15 s timeout unless the URL sets one).
pub fn connect(url: &str) -> Result<Client, SqlError> {
    let mut config = Config::from_str(url).map_err(|e| SqlError::Connect { target: "the URL".into(), message: format!("not a PostgreSQL URL: {e}") })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(15));
    }
    let target = describe(&config);
    config.connect(NoTls).map_err(|e| {
        let mut message = etl_pgarrow::message(&e);
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        SqlError::Connect { target, message }
    })
}

fn query_error(what: &str) -> impl Fn(postgres::Error) -> SqlError + '_ {
    move |e| SqlError::Query { what: what.to_owned(), message: etl_pgarrow::message(&e) }
}

/// dlt's type of a column, from its type's name, category, kind and modifier.
fn dlt_type(typname: &str, typtype: &str, category: &str, typmod: i32) -> Option<(DataType, Option<u32>, Option<u32>, Option<bool>)> {
    if category == "A" {
        return Some((DataType::Json, None, None, None));
    }
    if typtype == "e" {
        return Some((DataType::Text, None, None, None));
    }
    Some(match typname {
        "bool" => (DataType::Bool, None, None, None),
        "int2" | "int4" | "int8" => (DataType::Bigint, None, None, None),
        "float4" | "float8" => (DataType::Double, None, None, None),
        "numeric" if typmod >= 4 => {
            let m = typmod - 4;
            (DataType::Decimal, Some((m >> 16) as u32), Some((m & 0xffff) as u32), None)
        }
        "numeric" => (DataType::Decimal, None, None, None),
        "text" | "varchar" | "bpchar" | "name" | "uuid" | "citext" => (DataType::Text, None, None, None),
        "json" | "jsonb" => (DataType::Json, None, None, None),
        "bytea" => (DataType::Binary, None, None, None),
        "date" => (DataType::Date, None, None, None),
        "time" => (DataType::Time, None, None, None),
        "timestamp" => (DataType::Timestamp, None, None, Some(false)),
        "timestamptz" => (DataType::Timestamp, None, None, Some(true)),
        _ => return None,
    })
}

/// The tables (and views, with `views`) of `schema`, with their columns and primary keys.
pub fn reflect(url: &str, schema: &str, views: bool) -> Result<Vec<SqlTable>, SqlError> {
    let mut client = connect(url)?;
    let kinds: &[&str] = if views { &["r", "p", "f", "v", "m"] } else { &["r", "p", "f"] };
    let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    let rows = client
        .query(
            "SELECT c.relname, c.relkind::text, a.attname, a.attnotnull, format_type(a.atttypid, a.atttypmod), t.typname, t.typtype::text,
                    t.typcategory::text, a.atttypmod
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             JOIN pg_type t ON t.oid = a.atttypid
             WHERE n.nspname = $1 AND c.relkind::text = ANY($2)
             ORDER BY c.relname, a.attnum",
            &[&schema, &kinds],
        )
        .map_err(query_error("reflecting the tables"))?;
    let mut tables: Vec<SqlTable> = Vec::new();
    for row in &rows {
        let (table, kind, name): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let (not_null, type_name, typname, typtype, category, typmod): (bool, String, String, String, String, i32) =
            (row.get(3), row.get(4), row.get(5), row.get(6), row.get(7), row.get(8));
        if tables.last().is_none_or(|t| t.name != table) {
            tables.push(SqlTable { name: table.clone(), view: matches!(kind.as_str(), "v" | "m"), columns: Vec::new(), primary_key: Vec::new() });
        }
        let select = if category == "A" {
            format!("array_to_json({0})::text AS {0}", quote_ident(&name))
        } else if typtype == "e" {
            format!("{0}::text AS {0}", quote_ident(&name))
        } else {
            quote_ident(&name)
        };
        let data_type = dlt_type(&typname, &typtype, &category, typmod);
        tables.last_mut().expect("pushed").columns.push(SqlColumn { name, type_name, data_type, nullable: !not_null, select });
    }
    let keys = client
        .query(
            "SELECT c.relname, a.attname
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
             WHERE i.indisprimary AND n.nspname = $1
             ORDER BY c.relname, array_position(i.indkey, a.attnum)",
            &[&schema],
        )
        .map_err(query_error("reflecting the primary keys"))?;
    for row in &keys {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
            t.primary_key.push(column);
        }
    }
    Ok(tables)
}

/// The reader's kind of each column of the statement: its own type, with the reflected shape of
/// a `numeric` column (its declared precision and scale, else dlt's default 38, 9).
fn kinds(table: &SqlTable, statement: &postgres::Statement) -> Result<Vec<(String, etl_pgarrow::Kind)>, SqlError> {
    statement
        .columns()
        .iter()
        .map(|c| {
            let unsupported = || SqlError::Unsupported { table: table.name.clone(), column: c.name().to_owned(), type_name: c.type_().to_string() };
            let kind = etl_pgarrow::kind(c.type_()).ok_or_else(unsupported)?;
            let kind = match kind {
                etl_pgarrow::Kind::Numeric => {
                    let shape = table.columns.iter().find(|x| x.name == c.name()).and_then(|x| x.data_type).and_then(|(_, p, s, _)| Some((p?, s?)));
                    match shape {
                        Some((p, s)) if p <= 38 => etl_pgarrow::Kind::Decimal(p as u8, s as i8),
                        Some((p, _)) => {
                            return Err(SqlError::Read {
                                table: table.name.clone(),
                                message: format!("column `{}`: numeric of precision {p} does not fit a 38-digit decimal; cast it in a query adapter", c.name()),
                            })
                        }
                        None => etl_pgarrow::Kind::Decimal(38, 9),
                    }
                }
                other => other,
            };
            Ok((c.name().to_owned(), kind))
        })
        .collect()
}

/// The rows of `sql` (with its text parameters) as record batches of `chunk_size` rows, read
/// through a server-side portal by a thread of its own ([`super::reader`]). The connection, the
/// statement and the column types are checked before this returns.
pub fn stream(url: &str, table: SqlTable, sql: String, params: Vec<String>, chunk_size: usize) -> Result<ArrowBatches, SqlError> {
    let mut client = connect(url)?;
    let name = table.name.clone();
    super::reader(&name, move |ready, send| {
        let mut tx_db = client.transaction().map_err(query_error("starting a read"))?;
        let statement = tx_db.prepare(&sql).map_err(|e| SqlError::Query { what: format!("table `{}`: {sql}", table.name), message: etl_pgarrow::message(&e) })?;
        let kinds = kinds(&table, &statement)?;
        let values: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p as &(dyn postgres::types::ToSql + Sync)).collect();
        let portal = tx_db.bind(&statement, &values).map_err(query_error("binding the query"))?;
        ready();
        loop {
            let rows = tx_db.query_portal(&portal, i32::try_from(chunk_size).unwrap_or(i32::MAX)).map_err(query_error("reading rows"))?;
            if rows.is_empty() {
                break;
            }
            let batch = etl_pgarrow::batch(&rows, &kinds).map_err(|message| SqlError::Read { table: table.name.clone(), message })?;
            if !send(batch) {
                return Ok(()); // The pipeline stopped reading (a limit, ordered rows past the window).
            }
        }
        tx_db.commit().map_err(query_error("ending the read"))
    })
}
