//! Destinations, one folder each.

pub mod postgres;
