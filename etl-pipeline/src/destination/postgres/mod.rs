//! PostgreSQL as dlt's `postgres` destination writes it.
