//! dlt's PostgreSQL type mapping (`PostgresTypeMapper` of dlt 1.31): a dlt data type with its
//! precision, scale and timezone hints → the column type dlt writes in DDL, and the text
//! PostgreSQL's `format_type` shows for it (what the goldens record).
//!
//! | dlt type | hints | DDL | `format_type` |
//! |---|---|---|---|
//! | text | | `varchar` | `character varying` |
//! | text | precision n | `varchar(n)` | `character varying(n)` |
//! | bigint | none / ≤16 / ≤32 / ≤64 bits | `bigint` / `smallint` / `integer` / `bigint` | same |
//! | bigint | > 64 bits | error | |
//! | double | | `double precision` | same |
//! | bool | | `boolean` | same |
//! | timestamp | | `timestamp with time zone` | same |
//! | timestamp | precision p (0..=6), timezone | `timestamp (p) with[out] time zone` | `timestamp(p) with[out] time zone` |
//! | date | | `date` | same |
//! | time | [precision p] | `time [(p)] without time zone` | `time[(p)] without time zone` |
//! | decimal | [p, s] | `numeric(p,s)`, default `(38,9)` | same |
//! | wei | [p, s] | `numeric(p,s)`, default `(156,78)` | same |
//! | binary | | `bytea` | same |
//! | json | | `jsonb` | same |

use etl_core::{Column, DataType};

/// dlt's default decimal precision and scale (`DEFAULT_NUMERIC_PRECISION/SCALE`).
pub const DECIMAL_PRECISION: (u32, u32) = (38, 9);
/// dlt's `EVM_DECIMAL_PRECISION`: the scale of `wei`.
pub const EVM_DECIMAL_PRECISION: u32 = 78;
/// dlt's PostgreSQL `wei_precision`: `(2 × 78, 78)`.
pub const WEI_PRECISION: (u32, u32) = (2 * EVM_DECIMAL_PRECISION, EVM_DECIMAL_PRECISION);
/// dlt's `timestamp_precision` capability for PostgreSQL (microseconds).
pub const TIMESTAMP_PRECISION: u32 = 6;

/// A PostgreSQL column type, as dlt maps its types to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgType {
    /// `smallint` (bigint with precision ≤ 16 bits).
    SmallInt,
    /// `integer` (bigint with precision ≤ 32 bits).
    Integer,
    /// `bigint`.
    BigInt,
    /// `double precision`.
    Double,
    /// `boolean`.
    Boolean,
    /// `varchar`, or `varchar(n)` for text with a precision.
    Varchar(Option<u32>),
    /// `jsonb`.
    Jsonb,
    /// `bytea`.
    Bytea,
    /// `timestamp [(p)] with time zone` or `... without time zone`.
    Timestamp {
        /// Fractional digits of seconds.
        precision: Option<u32>,
        /// `with time zone`.
        tz: bool,
    },
    /// `date`.
    Date,
    /// `time [(p)] without time zone`.
    Time(Option<u32>),
    /// `numeric(p,s)`.
    Numeric(u32, u32),
}

/// A type dlt cannot map to PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// An integer wider than 64 bits (PostgreSQL has none).
    #[error("bigint with precision {precision} can't be mapped to a PostgreSQL integer type (at most 64 bits)")]
    IntegerTooWide {
        /// The precision hint (bits).
        precision: u32,
    },
    /// A timestamp precision outside `0..=6`.
    #[error("PostgreSQL doesn't support precision {precision} for timestamps (0 to 6)")]
    TimestampPrecision {
        /// The precision hint.
        precision: u32,
    },
    /// A dlt type name that is not one of dlt's types.
    #[error("unknown dlt data type `{0}`")]
    UnknownType(String),
    /// A column without a type (a hint that has seen no data): it has no destination column.
    #[error("column `{0}` has no data type yet")]
    Incomplete(String),
}

impl PgType {
    /// The type of a schema column.
    pub fn of_column(column: &Column) -> Result<PgType, TypeError> {
        let data_type = column.data_type.ok_or_else(|| TypeError::Incomplete(column.name.clone()))?;
        PgType::map(data_type, column.precision, column.scale, column.timezone)
    }

    /// The type of a dlt data type with its hints.
    pub fn map(data_type: DataType, precision: Option<u32>, scale: Option<u32>, timezone: Option<bool>) -> Result<PgType, TypeError> {
        Ok(match data_type {
            DataType::Text => PgType::Varchar(precision),
            DataType::Double => PgType::Double,
            DataType::Bool => PgType::Boolean,
            DataType::Date => PgType::Date,
            DataType::Binary => PgType::Bytea,
            DataType::Json => PgType::Jsonb,
            DataType::Bigint => match precision {
                None => PgType::BigInt,
                Some(p) if p <= 16 => PgType::SmallInt,
                Some(p) if p <= 32 => PgType::Integer,
                Some(p) if p <= 64 => PgType::BigInt,
                Some(precision) => return Err(TypeError::IntegerTooWide { precision }),
            },
            DataType::Timestamp => {
                if let Some(p) = precision.filter(|p| *p > TIMESTAMP_PRECISION) {
                    return Err(TypeError::TimestampPrecision { precision: p });
                }
                PgType::Timestamp { precision, tz: timezone.unwrap_or(true) }
            }
            DataType::Time => PgType::Time(precision),
            DataType::Decimal => PgType::Numeric(precision.unwrap_or(DECIMAL_PRECISION.0), scale.unwrap_or(DECIMAL_PRECISION.1)),
            DataType::Wei => PgType::wei(precision, scale),
        })
    }

    /// dlt's `wei` (a 256-bit EVM integer in wei): `numeric(156,78)` unless hinted.
    pub fn wei(precision: Option<u32>, scale: Option<u32>) -> PgType {
        PgType::Numeric(precision.unwrap_or(WEI_PRECISION.0), scale.unwrap_or(WEI_PRECISION.1))
    }

    /// The type of a dlt type name as dlt's stored schema writes it (`text`, `bigint`, ...,
    /// `wei`, and the legacy `complex` for `json`).
    pub fn from_dlt_name(name: &str, precision: Option<u32>, scale: Option<u32>, timezone: Option<bool>) -> Result<PgType, TypeError> {
        let data_type: DataType = name.parse().map_err(|_| TypeError::UnknownType(name.to_owned()))?;
        PgType::map(data_type, precision, scale, timezone)
    }

    /// The type as dlt writes it in `CREATE TABLE` / `ADD COLUMN`.
    pub fn ddl(self) -> String {
        let zone = |tz: bool| if tz { "with time zone" } else { "without time zone" };
        match self {
            PgType::SmallInt => "smallint".into(),
            PgType::Integer => "integer".into(),
            PgType::BigInt => "bigint".into(),
            PgType::Double => "double precision".into(),
            PgType::Boolean => "boolean".into(),
            PgType::Varchar(None) => "varchar".into(),
            PgType::Varchar(Some(n)) => format!("varchar({n})"),
            PgType::Jsonb => "jsonb".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Timestamp { precision: None, tz } => format!("timestamp {}", zone(tz)),
            PgType::Timestamp { precision: Some(p), tz } => format!("timestamp ({p}) {}", zone(tz)),
            PgType::Date => "date".into(),
            PgType::Time(None) => "time without time zone".into(),
            PgType::Time(Some(p)) => format!("time ({p}) without time zone"),
            PgType::Numeric(p, s) => format!("numeric({p},{s})"),
        }
    }

    /// The type as PostgreSQL's `format_type(atttypid, atttypmod)` shows it.
    pub fn format_type(self) -> String {
        let zone = |tz: bool| if tz { "with time zone" } else { "without time zone" };
        match self {
            PgType::Varchar(None) => "character varying".into(),
            PgType::Varchar(Some(n)) => format!("character varying({n})"),
            PgType::Timestamp { precision: None, tz } => format!("timestamp {}", zone(tz)),
            PgType::Timestamp { precision: Some(p), tz } => format!("timestamp({p}) {}", zone(tz)),
            PgType::Time(None) => "time without time zone".into(),
            PgType::Time(Some(p)) => format!("time({p}) without time zone"),
            other => other.ddl(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(t: DataType, p: Option<u32>, s: Option<u32>, tz: Option<bool>) -> String {
        PgType::map(t, p, s, tz).unwrap().format_type()
    }

    /// Every type the PostgreSQL goldens show (README of `tests/data/conformance/postgres`).
    #[test]
    fn format_types_match_the_goldens_table() {
        use DataType::*;
        assert_eq!(pg(Text, None, None, None), "character varying");
        assert_eq!(pg(Text, Some(64), None, None), "character varying(64)");
        assert_eq!(pg(Bigint, None, None, None), "bigint");
        assert_eq!(pg(Bigint, Some(16), None, None), "smallint");
        assert_eq!(pg(Bigint, Some(8), None, None), "smallint");
        assert_eq!(pg(Bigint, Some(32), None, None), "integer");
        assert_eq!(pg(Bigint, Some(64), None, None), "bigint");
        assert_eq!(pg(Double, None, None, None), "double precision");
        assert_eq!(pg(Bool, None, None, None), "boolean");
        assert_eq!(pg(Timestamp, None, None, None), "timestamp with time zone");
        assert_eq!(pg(Timestamp, Some(3), None, Some(false)), "timestamp(3) without time zone");
        assert_eq!(pg(Timestamp, None, None, Some(false)), "timestamp without time zone");
        assert_eq!(pg(Timestamp, Some(0), None, Some(true)), "timestamp(0) with time zone");
        assert_eq!(pg(Date, None, None, None), "date");
        assert_eq!(pg(Time, None, None, None), "time without time zone");
        assert_eq!(pg(Time, Some(3), None, None), "time(3) without time zone");
        assert_eq!(pg(Decimal, None, None, None), "numeric(38,9)");
        assert_eq!(pg(Decimal, Some(10), Some(2), None), "numeric(10,2)");
        assert_eq!(pg(Binary, None, None, None), "bytea");
        assert_eq!(pg(Json, None, None, None), "jsonb");
    }

    #[test]
    fn ddl_text_is_dlts() {
        assert_eq!(PgType::map(DataType::Text, None, None, None).unwrap().ddl(), "varchar");
        assert_eq!(PgType::map(DataType::Timestamp, Some(3), None, Some(false)).unwrap().ddl(), "timestamp (3) without time zone");
        assert_eq!(PgType::map(DataType::Timestamp, Some(6), None, None).unwrap().ddl(), "timestamp (6) with time zone");
        assert_eq!(PgType::map(DataType::Time, Some(2), None, None).unwrap().ddl(), "time (2) without time zone");
    }

    #[test]
    fn wei_is_numeric_of_dlts_evm_precision() {
        assert_eq!(PgType::from_dlt_name("wei", None, None, None).unwrap(), PgType::Numeric(156, 78));
        assert_eq!(PgType::wei(Some(80), Some(0)).format_type(), "numeric(80,0)");
        assert_eq!(PgType::from_dlt_name("complex", None, None, None).unwrap(), PgType::Jsonb);
        assert!(matches!(PgType::from_dlt_name("money", None, None, None), Err(TypeError::UnknownType(_))));
    }

    #[test]
    fn what_dlt_refuses_is_an_error() {
        assert_eq!(PgType::map(DataType::Bigint, Some(128), None, None), Err(TypeError::IntegerTooWide { precision: 128 }));
        assert_eq!(PgType::map(DataType::Timestamp, Some(9), None, None), Err(TypeError::TimestampPrecision { precision: 9 }));
        let incomplete = Column { name: "x".into(), ..Default::default() };
        assert!(matches!(PgType::of_column(&incomplete), Err(TypeError::Incomplete(_))));
    }
}
