//! Compile-error tests of the `etl` macros live in `tests/compiletest.rs`.
