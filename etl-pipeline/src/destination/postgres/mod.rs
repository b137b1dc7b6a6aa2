//! PostgreSQL as dlt's `postgres` destination writes it (dlt 1.31, `destinations/impl/postgres`):
//! the type mapping ([`types`]), identifiers shortened to 63 characters ([`identifiers`]), the
//! DDL ([`ddl`]) and bookkeeping tables ([`bookkeeping`]) as pure functions; column buffers as
//! binary `COPY` ([`copy`], numerics via [`numeric`]); one transaction per [`PgSession`]; the
//! destination's [`crate::destination::Session`] is [`PgDataset`].

pub mod bookkeeping;
pub mod copy;
pub mod dataset;
pub mod ddl;
pub mod identifiers;
pub mod numeric;
pub mod session;
pub mod types;

pub use copy::{CopyBatch, CopyError};
pub use dataset::{DatasetError, PgDataset};
pub use ddl::DdlError;
pub use identifiers::MAX_IDENTIFIER_LENGTH;
pub use session::{PgSession, SessionError};
pub use types::{PgType, TypeError};
