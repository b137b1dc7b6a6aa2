//! PostgreSQL's identifier limit, to which dlt shortens every table and column name
//! (`max_identifier_length` and `max_column_identifier_length` of dlt's `postgres`
//! capabilities). The shortening itself is the schema's naming ([`etl_core::naming::Naming`],
//! set with [`etl_core::Schema::set_max_identifier_length`]); its functions are re-exported here.

pub use etl_core::naming::{identifier_tag, normalize_path, shorten_fragments, shorten_identifier};

/// PostgreSQL's identifier limit as dlt uses it (NAMEDATALEN − 1).
pub const MAX_IDENTIFIER_LENGTH: usize = 63;
