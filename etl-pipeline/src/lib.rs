//! dlt's run of `etl`, stage by stage, and its destinations.
//!
//! So far: the PostgreSQL building blocks ([`destination::postgres`]): dlt's layout (types,
//! identifiers, DDL, bookkeeping tables), binary `COPY` of column buffers and a transactional
//! session.

#![warn(missing_docs)]

pub mod destination;
